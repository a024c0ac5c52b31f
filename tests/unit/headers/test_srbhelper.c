/*
 * test_srbhelper.c - every srbhelper.h accessor reads and writes the same
 * logical field of a SCSI_REQUEST_BLOCK and of a STORAGE_REQUEST_BLOCK
 * (SPEC S5.9: the latter is recognized by Function ==
 * SRB_FUNCTION_STORAGE_REQUEST_BLOCK and keeps its CDB in an
 * SRBEX_DATA_SCSI_CDB16/32/VAR block), and refuses malformed offsets.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <storport.h>
#include <srbhelper.h>

/* An extended EXECUTE_SCSI SRB laid out as Storport builds one: header,
 * one ex-data offset, BTL8 address, then the CDB block. */
#define EX_ADDRESS_OFFSET ((ULONG)SRB_ALIGN_SIZEOF(STORAGE_REQUEST_BLOCK))
#define EX_DATA_OFFSET (EX_ADDRESS_OFFSET + (ULONG)SRB_ALIGN_SIZEOF(STOR_ADDR_BTL8))

typedef union {
    STORAGE_REQUEST_BLOCK srb;
    UCHAR bytes[512];
} EX_SRB_BUFFER;

/*
 * Storport hands miniports SRB pointers, not objects of a known type; a
 * SCSI_REQUEST_BLOCK here lives at the start of a buffer big enough for
 * either kind, the rest filled with a canary. That keeps gcc's
 * -Warray-bounds from flagging the (never taken) extended-SRB paths, and
 * lets the tests prove no accessor writes past the 0x58 bytes.
 */
#define CANARY 0xA5
typedef union {
    SCSI_REQUEST_BLOCK scsi;
    UCHAR bytes[sizeof(STORAGE_REQUEST_BLOCK) + 64];
} SCSI_SRB_BUFFER;

static void assert_canary_intact(const SCSI_SRB_BUFFER *buf)
{
    for (size_t i = sizeof(SCSI_REQUEST_BLOCK); i < sizeof(buf->bytes); i++) {
        if (buf->bytes[i] != CANARY)
            fail_msg("byte %zu past the SCSI_REQUEST_BLOCK was written", i);
    }
}

static UCHAR sense_a[32], sense_b[32];
static UCHAR data_a[64], data_b[64];

static PSTORAGE_REQUEST_BLOCK build_ex_srb(EX_SRB_BUFFER *buf, SRBEXDATATYPE cdbType,
                                           ULONG varCdbLength)
{
    PSTORAGE_REQUEST_BLOCK srb = &buf->srb;
    ULONG blockSize;

    memset(buf, 0, sizeof(*buf));
    srb->Length = (USHORT)offsetof(STORAGE_REQUEST_BLOCK, Signature);
    srb->Function = SRB_FUNCTION_STORAGE_REQUEST_BLOCK;
    srb->Signature = SRB_SIGNATURE;
    srb->Version = STORAGE_REQUEST_BLOCK_VERSION_1;
    srb->SrbFunction = SRB_FUNCTION_EXECUTE_SCSI;
    srb->AddressOffset = EX_ADDRESS_OFFSET;
    srb->NumSrbExData = 1;
    srb->SrbExDataOffset[0] = EX_DATA_OFFSET;

    PSTOR_ADDR_BTL8 btl = (PSTOR_ADDR_BTL8)(buf->bytes + EX_ADDRESS_OFFSET);
    btl->Type = STOR_ADDRESS_TYPE_BTL8;
    btl->AddressLength = STOR_ADDR_BTL8_ADDRESS_LENGTH;
    btl->Path = 1;
    btl->Target = 2;
    btl->Lun = 3;

    PSRBEX_DATA data = (PSRBEX_DATA)(buf->bytes + EX_DATA_OFFSET);
    data->Type = cdbType;
    switch (cdbType) {
    case SrbExDataTypeScsiCdb16: {
        PSRBEX_DATA_SCSI_CDB16 d = (PSRBEX_DATA_SCSI_CDB16)data;
        d->Length = SRBEX_DATA_SCSI_CDB16_LENGTH;
        d->CdbLength = 10;
        d->Cdb[0] = SCSIOP_READ;
        blockSize = sizeof(*d);
        break;
    }
    case SrbExDataTypeScsiCdb32: {
        PSRBEX_DATA_SCSI_CDB32 d = (PSRBEX_DATA_SCSI_CDB32)data;
        d->Length = SRBEX_DATA_SCSI_CDB32_LENGTH;
        d->CdbLength = 32;
        d->Cdb[0] = 0x7F; /* variable-length CDB opcode */
        blockSize = sizeof(*d);
        break;
    }
    default: {
        PSRBEX_DATA_SCSI_CDB_VAR d = (PSRBEX_DATA_SCSI_CDB_VAR)data;
        d->Length = (ULONG)SRBEX_DATA_SCSI_CDB_VAR_LENGTH(varCdbLength);
        d->CdbLength = varCdbLength;
        d->Cdb[0] = 0x7F;
        blockSize = (ULONG)offsetof(SRBEX_DATA_SCSI_CDB_VAR, Cdb) + varCdbLength;
        break;
    }
    }
    srb->SrbLength = EX_DATA_OFFSET + blockSize;
    return srb;
}

static void build_scsi_srb(PSCSI_REQUEST_BLOCK srb)
{
    memset(srb, 0, sizeof(*srb));
    srb->Length = sizeof(*srb);
    srb->Function = SRB_FUNCTION_EXECUTE_SCSI;
    srb->PathId = 1;
    srb->TargetId = 2;
    srb->Lun = 3;
    srb->CdbLength = 10;
    srb->Cdb[0] = SCSIOP_READ;
}

/* The same Get/Set round trips, whatever the SRB kind. */
static void check_common_accessors(PVOID srb, PVOID miniportStorage)
{
    assert_int_equal(SrbGetSrbFunction(srb), SRB_FUNCTION_EXECUTE_SCSI);

    PCDB cdb = SrbGetCdb(srb);
    assert_non_null(cdb);
    assert_int_equal(cdb->AsByte[0], SCSIOP_READ);
    assert_int_equal(SrbGetCdbLength(srb), 10);
    SrbSetCdbLength(srb, 16);
    assert_int_equal(SrbGetCdbLength(srb), 16);
    cdb->CDB16.OperationCode = SCSIOP_READ16;
    assert_int_equal(SrbGetCdb(srb)->AsByte[0], SCSIOP_READ16);

    SrbSetSrbStatus(srb, SRB_STATUS_SUCCESS | SRB_STATUS_AUTOSENSE_VALID);
    assert_int_equal(SRB_STATUS(SrbGetSrbStatus(srb)), SRB_STATUS_SUCCESS);
    assert_int_equal(((PUCHAR)srb)[3], SRB_STATUS_SUCCESS | SRB_STATUS_AUTOSENSE_VALID);

    assert_int_equal(SrbGetScsiStatus(srb), SCSISTAT_GOOD);
    SrbSetScsiStatus(srb, SCSISTAT_CHECK_CONDITION);
    assert_int_equal(SrbGetScsiStatus(srb), SCSISTAT_CHECK_CONDITION);

    assert_null(SrbGetSenseInfoBuffer(srb));
    SrbSetSenseInfoBuffer(srb, sense_a);
    SrbSetSenseInfoBufferLength(srb, sizeof(sense_a));
    assert_ptr_equal(SrbGetSenseInfoBuffer(srb), sense_a);
    assert_int_equal(SrbGetSenseInfoBufferLength(srb), sizeof(sense_a));
    SrbSetSenseInfoBuffer(srb, sense_b);
    assert_ptr_equal(SrbGetSenseInfoBuffer(srb), sense_b);

    SrbSetDataBuffer(srb, data_a);
    SrbSetDataTransferLength(srb, sizeof(data_a));
    assert_ptr_equal(SrbGetDataBuffer(srb), data_a);
    assert_int_equal(SrbGetDataTransferLength(srb), sizeof(data_a));
    SrbSetDataBuffer(srb, data_b);
    SrbSetDataTransferLength(srb, 7);
    assert_ptr_equal(SrbGetDataBuffer(srb), data_b);
    assert_int_equal(SrbGetDataTransferLength(srb), 7);

    SrbSetTimeOutValue(srb, 30);
    assert_int_equal(SrbGetTimeOutValue(srb), 30);

    SrbAssignSrbFlags(srb, SRB_FLAGS_DATA_IN);
    assert_int_equal(SrbGetSrbFlags(srb), SRB_FLAGS_DATA_IN);
    SrbSetSrbFlags(srb, SRB_FLAGS_DISABLE_AUTOSENSE);
    assert_int_equal(SrbGetSrbFlags(srb), SRB_FLAGS_DATA_IN | SRB_FLAGS_DISABLE_AUTOSENSE);
    SrbClearSrbFlags(srb, SRB_FLAGS_DATA_IN);
    assert_int_equal(SrbGetSrbFlags(srb), SRB_FLAGS_DISABLE_AUTOSENSE);
    SrbAssignSrbFlags(srb, SRB_FLAGS_DATA_OUT);
    assert_int_equal(SrbGetSrbFlags(srb), SRB_FLAGS_DATA_OUT);

    SrbSetSystemStatus(srb, 0xC0000001u);
    assert_int_equal(SrbGetSystemStatus(srb), 0xC0000001u);

    int request;
    SrbSetOriginalRequest(srb, &request);
    assert_ptr_equal(SrbGetOriginalRequest(srb), &request);
    SrbSetOriginalRequest(srb, NULL);
    assert_null(SrbGetOriginalRequest(srb));

    UCHAR other[sizeof(SCSI_REQUEST_BLOCK)];
    SrbSetNextSrb(srb, other);
    assert_ptr_equal(SrbGetNextSrb(srb), other);
    SrbSetNextSrb(srb, NULL);
    assert_null(SrbGetNextSrb(srb));

    SrbSetQueueTag(srb, 0x42);
    assert_int_equal(SrbGetQueueTag(srb), 0x42);
    assert_int_equal(SrbGetRequestTag(srb), 0x42);
    SrbSetRequestAttribute(srb, SRB_ORDERED_QUEUE_TAG_REQUEST);
    assert_int_equal(SrbGetRequestAttribute(srb), SRB_ORDERED_QUEUE_TAG_REQUEST);
    assert_int_equal(SrbGetQueueAction(srb), SRB_ORDERED_QUEUE_TAG_REQUEST);

    assert_ptr_equal(SrbGetMiniportContext(srb), miniportStorage);

    assert_int_equal(SrbGetPathId(srb), 1);
    assert_int_equal(SrbGetTargetId(srb), 2);
    assert_int_equal(SrbGetLun(srb), 3);
    UCHAR p = 0xEE, t = 0xEE, l = 0xEE;
    SrbGetPathTargetLun(srb, &p, &t, &l);
    assert_int_equal(p, 1);
    assert_int_equal(t, 2);
    assert_int_equal(l, 3);
    SrbGetPathTargetLun(srb, NULL, NULL, &l); /* optional outputs */
    assert_int_equal(l, 3);
}

static void test_accessors_on_scsi_request_block(void **state)
{
    (void)state;
    SCSI_SRB_BUFFER buf;
    PSCSI_REQUEST_BLOCK srbp = &buf.scsi;
    UCHAR extension[16];
    memset(&buf, CANARY, sizeof(buf));
    build_scsi_srb(srbp);
    srbp->SrbExtension = extension;

    check_common_accessors(srbp, extension);
    assert_canary_intact(&buf);
    /* The accessors wrote the documented members. */
    assert_int_equal(srbp->CdbLength, 16);
    assert_int_equal(srbp->ScsiStatus, SCSISTAT_CHECK_CONDITION);
    assert_ptr_equal(srbp->SenseInfoBuffer, sense_b);
    assert_int_equal(srbp->InternalStatus, 0xC0000001u);
    assert_int_equal(srbp->QueueTag, 0x42);
    assert_int_equal(srbp->QueueAction, SRB_ORDERED_QUEUE_TAG_REQUEST);
    assert_int_equal(SrbGetSrbLength(srbp), sizeof(SCSI_REQUEST_BLOCK));
    /* A SCSI_REQUEST_BLOCK has no port context or extended data. */
    assert_null(SrbGetPortContext(srbp));
    assert_null(SrbGetAddress((PSTORAGE_REQUEST_BLOCK)srbp));
    assert_null(SrbGetPrimarySrbExData((PSTORAGE_REQUEST_BLOCK)srbp));
    assert_null(SrbGetSrbExDataByIndex((PSTORAGE_REQUEST_BLOCK)srbp, 0));
}

static void test_accessors_on_storage_request_block_cdb16(void **state)
{
    (void)state;
    EX_SRB_BUFFER buf;
    UCHAR context[16];
    PSTORAGE_REQUEST_BLOCK srb = build_ex_srb(&buf, SrbExDataTypeScsiCdb16, 0);
    srb->MiniportContext = context;

    check_common_accessors(srb, context);

    PSRBEX_DATA_SCSI_CDB16 cdb16 = (PSRBEX_DATA_SCSI_CDB16)(buf.bytes + EX_DATA_OFFSET);
    assert_int_equal(cdb16->CdbLength, 16);
    assert_int_equal(cdb16->ScsiStatus, SCSISTAT_CHECK_CONDITION);
    assert_ptr_equal(cdb16->SenseInfoBuffer, sense_b);
    assert_int_equal(cdb16->SenseInfoBufferLength, sizeof(sense_a));
    assert_ptr_equal(SrbGetCdb(srb), (PCDB)cdb16->Cdb);
    assert_int_equal(srb->RequestTag, 0x42);
    assert_int_equal(srb->SystemStatus, 0xC0000001u);
    assert_int_equal(srb->RequestAttribute, SRB_ORDERED_QUEUE_TAG_REQUEST);

    /* A CDB16 block cannot claim a CDB longer than 16 bytes. */
    SrbSetCdbLength(srb, 17);
    assert_int_equal(SrbGetCdbLength(srb), 16);

    assert_ptr_equal(SrbGetPrimarySrbExData(srb), (PSRBEX_DATA)cdb16);
    assert_ptr_equal(SrbGetSrbExDataByIndex(srb, 0), (PSRBEX_DATA)cdb16);
    assert_null(SrbGetSrbExDataByIndex(srb, 1));
    assert_ptr_equal(SrbGetSrbExDataByType(srb, SrbExDataTypeScsiCdb16), (PSRBEX_DATA)cdb16);
    assert_null(SrbGetSrbExDataByType(srb, SrbExDataTypePnP));
    assert_ptr_equal(SrbGetAddress(srb), (PSTOR_ADDRESS)(buf.bytes + EX_ADDRESS_OFFSET));

    int port;
    SrbSetPortContext(srb, &port);
    assert_ptr_equal(SrbGetPortContext(srb), &port);
    assert_ptr_equal(srb->PortContext, &port);

    assert_int_equal(SrbGetSrbLength(srb), EX_DATA_OFFSET + sizeof(SRBEX_DATA_SCSI_CDB16));
    assert_int_equal(SrbGetDefaultSrbLengthFromFunction(SRB_FUNCTION_EXECUTE_SCSI),
                     EX_DATA_OFFSET + SRB_ALIGN_SIZEOF(SRBEX_DATA_SCSI_CDB16));
}

static void test_scsi_data_on_cdb32_and_cdb_var(void **state)
{
    (void)state;
    EX_SRB_BUFFER buf;
    UCHAR len8 = 0, status = 0xFF, senseLength = 0xFF;
    ULONG len32 = 0;
    PVOID sense = (PVOID)1;

    PSTORAGE_REQUEST_BLOCK srb = build_ex_srb(&buf, SrbExDataTypeScsiCdb32, 0);
    PCDB cdb = SrbGetScsiData(srb, &len8, &len32, &status, &sense, &senseLength);
    assert_ptr_equal(cdb, ((PSRBEX_DATA_SCSI_CDB32)(buf.bytes + EX_DATA_OFFSET))->Cdb);
    assert_int_equal(len8, 32);
    assert_int_equal(len32, 32);
    assert_int_equal(status, SCSISTAT_GOOD);
    assert_null(sense);
    assert_int_equal(senseLength, 0);
    assert_int_equal(SrbGetCdbLength(srb), 32);
    SrbSetCdbLength(srb, 12);
    assert_int_equal(SrbGetCdbLength(srb), 12);

    srb = build_ex_srb(&buf, SrbExDataTypeScsiCdbVar, 40);
    assert_int_equal(SrbGetCdb(srb)->AsByte[0], 0x7F);
    assert_int_equal(SrbGetCdbLength(srb), 40);
    ULONG shorter = 24, longer = 80;
    SrbSetScsiData(srb, NULL, &shorter, NULL, NULL, NULL);
    assert_int_equal(SrbGetCdbLength(srb), 24);
    /* Growing past the CDB bytes the block was built with is refused. */
    SrbSetScsiData(srb, NULL, &longer, NULL, NULL, NULL);
    assert_int_equal(SrbGetCdbLength(srb), 24);
    SrbSetScsiStatus(srb, SCSISTAT_BUSY);
    assert_int_equal(SrbGetScsiStatus(srb), SCSISTAT_BUSY);
}

static void test_primary_ex_data_follows_srb_function(void **state)
{
    (void)state;
    EX_SRB_BUFFER buf;
    PSTORAGE_REQUEST_BLOCK srb = build_ex_srb(&buf, SrbExDataTypeScsiCdb16, 0);
    PSRBEX_DATA_PNP pnp = (PSRBEX_DATA_PNP)(buf.bytes + EX_DATA_OFFSET);

    memset(pnp, 0, sizeof(*pnp));
    pnp->Type = SrbExDataTypePnP;
    pnp->Length = SRBEX_DATA_PNP_LENGTH;
    pnp->PnPAction = StorRemoveDevice;
    srb->SrbFunction = SRB_FUNCTION_PNP;
    srb->SrbLength = EX_DATA_OFFSET + sizeof(*pnp);

    assert_int_equal(SrbGetSrbFunction(srb), SRB_FUNCTION_PNP);
    assert_ptr_equal(SrbGetPrimarySrbExData(srb), (PSRBEX_DATA)pnp);
    /* Not an EXECUTE_SCSI request: no CDB, neutral SCSI fields. */
    assert_null(SrbGetCdb(srb));
    assert_int_equal(SrbGetCdbLength(srb), 0);
    assert_int_equal(SrbGetScsiStatus(srb), SCSISTAT_GOOD);
    srb->SrbFunction = SRB_FUNCTION_POWER;
    assert_null(SrbGetPrimarySrbExData(srb));
}

static void test_malformed_extended_srb_yields_null(void **state)
{
    (void)state;
    EX_SRB_BUFFER buf;
    PSTORAGE_REQUEST_BLOCK srb = build_ex_srb(&buf, SrbExDataTypeScsiCdb16, 0);

    /* Ex-data offset inside the header. */
    srb->SrbExDataOffset[0] = 8;
    assert_null(SrbGetSrbExDataByIndex(srb, 0));
    assert_null(SrbGetCdb(srb));
    assert_int_equal(SrbGetCdbLength(srb), 0);

    /* Ex-data block running past SrbLength. */
    srb = build_ex_srb(&buf, SrbExDataTypeScsiCdb16, 0);
    srb->SrbLength = EX_DATA_OFFSET + 12;
    assert_null(SrbGetCdb(srb));
    SrbSetScsiStatus(srb, SCSISTAT_BUSY); /* ignored, not written */
    assert_int_equal(((PSRBEX_DATA_SCSI_CDB16)(buf.bytes + EX_DATA_OFFSET))->ScsiStatus,
                     SCSISTAT_GOOD);

    /* Count of ex-data entries larger than the SRB can hold. */
    srb = build_ex_srb(&buf, SrbExDataTypeScsiCdb16, 0);
    srb->NumSrbExData = 1000;
    assert_null(SrbGetSrbExDataByIndex(srb, 999));

    /* Address outside the SRB or of an unknown type. */
    srb = build_ex_srb(&buf, SrbExDataTypeScsiCdb16, 0);
    srb->AddressOffset = srb->SrbLength + 8;
    assert_null(SrbGetAddress(srb));
    assert_int_equal(SrbGetLun(srb), 0);
    srb = build_ex_srb(&buf, SrbExDataTypeScsiCdb16, 0);
    ((PSTOR_ADDRESS)(buf.bytes + EX_ADDRESS_OFFSET))->Type = STOR_ADDRESS_TYPE_UNKNOWN;
    assert_int_equal(SrbGetTargetId(srb), 0);
    srb->AddressOffset = 0;
    assert_null(SrbGetAddress(srb));
}

static void test_copy_and_zero(void **state)
{
    (void)state;
    EX_SRB_BUFFER src, dst;
    PSTORAGE_REQUEST_BLOCK srb = build_ex_srb(&src, SrbExDataTypeScsiCdb16, 0);
    ULONG length = srb->SrbLength;

    memset(&dst, 0xAB, sizeof(dst));
    assert_false(SrbCopySrb(&dst, length - 1, srb));
    assert_int_equal(dst.bytes[0], 0xAB); /* nothing copied */
    assert_true(SrbCopySrb(&dst, sizeof(dst), srb));
    assert_memory_equal(dst.bytes, src.bytes, length);
    assert_int_equal(dst.bytes[length], 0xAB); /* nothing past SrbLength */
    assert_int_equal(SrbGetLun(&dst.srb), 3);

    SrbZeroSrb(&dst.srb);
    assert_int_equal(dst.srb.Function, SRB_FUNCTION_STORAGE_REQUEST_BLOCK);
    assert_int_equal(dst.srb.Length, srb->Length);
    assert_int_equal(dst.srb.SrbLength, length);
    assert_int_equal(dst.srb.Signature, 0);
    assert_int_equal(dst.bytes[length - 1], 0);
    assert_int_equal(dst.bytes[length], 0xAB);

    SrbSetSrbLength(&dst.srb, 0x100);
    assert_int_equal(SrbGetSrbLength(&dst.srb), 0x100);

    SCSI_SRB_BUFFER abuf, bbuf;
    PSCSI_REQUEST_BLOCK a = &abuf.scsi, b = &bbuf.scsi;
    memset(&abuf, CANARY, sizeof(abuf));
    memset(&bbuf, CANARY, sizeof(bbuf));
    build_scsi_srb(a);
    assert_false(SrbCopySrb(b, sizeof(*b) - 1, a));
    assert_int_equal(bbuf.bytes[0], CANARY);
    assert_true(SrbCopySrb(b, sizeof(bbuf), a));
    assert_memory_equal(a, b, sizeof(*a));
    assert_canary_intact(&bbuf);
    SrbSetSrbLength(b, 0x100); /* no SrbLength in a SCSI_REQUEST_BLOCK */
    assert_int_equal(SrbGetSrbLength(b), sizeof(SCSI_REQUEST_BLOCK));
    SrbZeroSrb(b);
    assert_int_equal(b->Function, SRB_FUNCTION_EXECUTE_SCSI);
    assert_int_equal(b->Length, sizeof(*b));
    assert_int_equal(b->Lun, 0);
    assert_int_equal(b->Cdb[0], 0);
    assert_canary_intact(&bbuf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accessors_on_scsi_request_block),
        cmocka_unit_test(test_accessors_on_storage_request_block_cdb16),
        cmocka_unit_test(test_scsi_data_on_cdb32_and_cdb_var),
        cmocka_unit_test(test_primary_ex_data_follows_srb_function),
        cmocka_unit_test(test_malformed_extended_srb_yields_null),
        cmocka_unit_test(test_copy_and_zero),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
