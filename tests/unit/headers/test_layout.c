/*
 * test_layout.c - the miniport-facing headers have the Win64 layouts and
 * constant values Microsoft's srb.h / scsi.h / storport.h reference pages
 * document, so miniport source and data built against them interoperate.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <storport.h>
#include <srbhelper.h>
#include <ntddscsi.h>
#include <miniport.h>

/* Checks that each listed member of TYPE lies after the previous one. */
#define ASSERT_ORDER(TYPE, ...)                                              \
    do {                                                                     \
        const size_t offs_[] = {__VA_ARGS__};                                \
        for (size_t i_ = 1; i_ < sizeof(offs_) / sizeof(offs_[0]); i_++) {   \
            if (offs_[i_] <= offs_[i_ - 1])                                  \
                fail_msg(#TYPE ": member %zu (offset %zu) is not after "     \
                         "member %zu (offset %zu)",                          \
                         i_, offs_[i_], i_ - 1, offs_[i_ - 1]);              \
        }                                                                    \
    } while (0)
#define O(TYPE, M) offsetof(TYPE, M)

static void test_scsi_request_block_is_win64_layout(void **state)
{
    (void)state;
    assert_int_equal(sizeof(SCSI_REQUEST_BLOCK), 0x58);
    assert_int_equal(SCSI_REQUEST_BLOCK_SIZE, 0x58);
    assert_int_equal(O(SCSI_REQUEST_BLOCK, Length), 0x00);
    assert_int_equal(O(SCSI_REQUEST_BLOCK, Function), 0x02);
    assert_int_equal(O(SCSI_REQUEST_BLOCK, SrbStatus), 0x03);
    assert_int_equal(O(SCSI_REQUEST_BLOCK, ScsiStatus), 0x04);
    assert_int_equal(O(SCSI_REQUEST_BLOCK, PathId), 0x05);
    assert_int_equal(O(SCSI_REQUEST_BLOCK, TargetId), 0x06);
    assert_int_equal(O(SCSI_REQUEST_BLOCK, Lun), 0x07);
    assert_int_equal(O(SCSI_REQUEST_BLOCK, QueueTag), 0x08);
    assert_int_equal(O(SCSI_REQUEST_BLOCK, QueueAction), 0x09);
    assert_int_equal(O(SCSI_REQUEST_BLOCK, CdbLength), 0x0A);
    assert_int_equal(O(SCSI_REQUEST_BLOCK, SenseInfoBufferLength), 0x0B);
    assert_int_equal(O(SCSI_REQUEST_BLOCK, SrbFlags), 0x0C);
    assert_int_equal(O(SCSI_REQUEST_BLOCK, DataTransferLength), 0x10);
    assert_int_equal(O(SCSI_REQUEST_BLOCK, TimeOutValue), 0x14);
    assert_int_equal(O(SCSI_REQUEST_BLOCK, DataBuffer), 0x18);
    assert_int_equal(O(SCSI_REQUEST_BLOCK, SenseInfoBuffer), 0x20);
    assert_int_equal(O(SCSI_REQUEST_BLOCK, NextSrb), 0x28);
    assert_int_equal(O(SCSI_REQUEST_BLOCK, OriginalRequest), 0x30);
    assert_int_equal(O(SCSI_REQUEST_BLOCK, SrbExtension), 0x38);
    assert_int_equal(O(SCSI_REQUEST_BLOCK, InternalStatus), 0x40);
    assert_int_equal(O(SCSI_REQUEST_BLOCK, QueueSortKey), 0x40);
    assert_int_equal(O(SCSI_REQUEST_BLOCK, LinkTimeoutValue), 0x40);
    assert_int_equal(O(SCSI_REQUEST_BLOCK, Reserved), 0x44);
    assert_int_equal(O(SCSI_REQUEST_BLOCK, Cdb), 0x48);
    assert_int_equal(sizeof(((SCSI_REQUEST_BLOCK *)0)->Cdb), 16);
    /* The other SRB shapes share its size and header. */
    assert_int_equal(sizeof(SCSI_WMI_REQUEST_BLOCK), sizeof(SCSI_REQUEST_BLOCK));
    assert_int_equal(sizeof(SCSI_POWER_REQUEST_BLOCK), sizeof(SCSI_REQUEST_BLOCK));
    assert_int_equal(sizeof(SCSI_PNP_REQUEST_BLOCK), sizeof(SCSI_REQUEST_BLOCK));
    assert_int_equal(O(SCSI_PNP_REQUEST_BLOCK, SrbExtension), O(SCSI_REQUEST_BLOCK, SrbExtension));
}

static void test_storage_request_block_is_win64_layout(void **state)
{
    (void)state;
    assert_int_equal(O(STORAGE_REQUEST_BLOCK, Length), 0x00);
    assert_int_equal(O(STORAGE_REQUEST_BLOCK, Function), 0x02);
    assert_int_equal(O(STORAGE_REQUEST_BLOCK, SrbStatus), 0x03);
    assert_int_equal(O(STORAGE_REQUEST_BLOCK, ReservedUlong1), 0x04);
    assert_int_equal(O(STORAGE_REQUEST_BLOCK, Signature), 0x08);
    assert_int_equal(O(STORAGE_REQUEST_BLOCK, Version), 0x0C);
    assert_int_equal(O(STORAGE_REQUEST_BLOCK, SrbLength), 0x10);
    assert_int_equal(O(STORAGE_REQUEST_BLOCK, SrbFunction), 0x14);
    assert_int_equal(O(STORAGE_REQUEST_BLOCK, SrbFlags), 0x18);
    assert_int_equal(O(STORAGE_REQUEST_BLOCK, ReservedUlong2), 0x1C);
    assert_int_equal(O(STORAGE_REQUEST_BLOCK, RequestTag), 0x20);
    assert_int_equal(O(STORAGE_REQUEST_BLOCK, RequestPriority), 0x24);
    assert_int_equal(O(STORAGE_REQUEST_BLOCK, RequestAttribute), 0x26);
    assert_int_equal(O(STORAGE_REQUEST_BLOCK, TimeOutValue), 0x28);
    assert_int_equal(O(STORAGE_REQUEST_BLOCK, SystemStatus), 0x2C);
    assert_int_equal(O(STORAGE_REQUEST_BLOCK, RequestTagHigh4Bytes), 0x2C);
    assert_int_equal(O(STORAGE_REQUEST_BLOCK, ZeroGuard1), 0x30);
    assert_int_equal(O(STORAGE_REQUEST_BLOCK, AddressOffset), 0x34);
    assert_int_equal(O(STORAGE_REQUEST_BLOCK, NumSrbExData), 0x38);
    assert_int_equal(O(STORAGE_REQUEST_BLOCK, DataTransferLength), 0x3C);
    assert_int_equal(O(STORAGE_REQUEST_BLOCK, DataBuffer), 0x40);
    assert_int_equal(O(STORAGE_REQUEST_BLOCK, ZeroGuard2), 0x48);
    assert_int_equal(O(STORAGE_REQUEST_BLOCK, OriginalRequest), 0x50);
    assert_int_equal(O(STORAGE_REQUEST_BLOCK, ClassContext), 0x58);
    assert_int_equal(O(STORAGE_REQUEST_BLOCK, PortContext), 0x60);
    assert_int_equal(O(STORAGE_REQUEST_BLOCK, MiniportContext), 0x68);
    assert_int_equal(O(STORAGE_REQUEST_BLOCK, NextSrb), 0x70);
    assert_int_equal(O(STORAGE_REQUEST_BLOCK, SrbExDataOffset), 0x78);
    assert_int_equal(sizeof(STORAGE_REQUEST_BLOCK), 0x80);
    assert_int_equal(_Alignof(STORAGE_REQUEST_BLOCK), 8);
    /* SPEC S5.9: Function tells the two kinds apart, so it (and the
     * status byte) must sit where a SCSI_REQUEST_BLOCK has them. */
    assert_int_equal(O(STORAGE_REQUEST_BLOCK_HEADER, Function), O(SCSI_REQUEST_BLOCK, Function));
    assert_int_equal(O(STORAGE_REQUEST_BLOCK_HEADER, SrbStatus), O(SCSI_REQUEST_BLOCK, SrbStatus));
    assert_int_equal(O(STORAGE_REQUEST_BLOCK, Function), O(SCSI_REQUEST_BLOCK, Function));
    assert_int_equal(SRB_SIGNATURE, 0x53524258);
    assert_int_equal(STORAGE_REQUEST_BLOCK_VERSION_1, 0x1);
}

static void test_srbex_data_blocks_and_lengths(void **state)
{
    (void)state;
    /* Every block starts with Type then Length. */
    assert_int_equal(O(SRBEX_DATA, Type), 0);
    assert_int_equal(O(SRBEX_DATA, Length), 4);
    assert_int_equal(O(SRBEX_DATA, Data), 8);

    assert_int_equal(O(SRBEX_DATA_SCSI_CDB16, ScsiStatus), 8);
    assert_int_equal(O(SRBEX_DATA_SCSI_CDB16, SenseInfoBufferLength), 9);
    assert_int_equal(O(SRBEX_DATA_SCSI_CDB16, CdbLength), 10);
    assert_int_equal(O(SRBEX_DATA_SCSI_CDB16, SenseInfoBuffer), 0x10);
    assert_int_equal(O(SRBEX_DATA_SCSI_CDB16, Cdb), 0x18);
    assert_int_equal(sizeof(SRBEX_DATA_SCSI_CDB16), 0x28);
    assert_int_equal(SRBEX_DATA_SCSI_CDB16_LENGTH, sizeof(SRBEX_DATA_SCSI_CDB16) - 8);

    assert_int_equal(O(SRBEX_DATA_SCSI_CDB32, Cdb), 0x18);
    assert_int_equal(sizeof(SRBEX_DATA_SCSI_CDB32), 0x38);
    assert_int_equal(SRBEX_DATA_SCSI_CDB32_LENGTH, sizeof(SRBEX_DATA_SCSI_CDB32) - 8);

    assert_int_equal(O(SRBEX_DATA_SCSI_CDB_VAR, CdbLength), 12);
    assert_int_equal(O(SRBEX_DATA_SCSI_CDB_VAR, SenseInfoBuffer), 0x18);
    assert_int_equal(O(SRBEX_DATA_SCSI_CDB_VAR, Cdb), 0x20);
    assert_int_equal(SRBEX_DATA_SCSI_CDB_VAR_LENGTH_MIN, O(SRBEX_DATA_SCSI_CDB_VAR, Cdb) - 8);

    assert_int_equal(SRBEX_DATA_PNP_LENGTH, sizeof(SRBEX_DATA_PNP) - 8);
    assert_int_equal(O(SRBEX_DATA_PNP, PnPAction), 12);
    assert_int_equal(SRBEX_DATA_WMI_LENGTH, sizeof(SRBEX_DATA_WMI) - 8);
    assert_int_equal(O(SRBEX_DATA_WMI, DataPath), 16);
    assert_int_equal(SRBEX_DATA_POWER_LENGTH, 12);
    assert_int_equal(O(SRBEX_DATA_POWER, DevicePowerState), 12);
    assert_int_equal(O(SRBEX_DATA_POWER, PowerAction), 16);
    assert_int_equal(SRBEX_DATA_IO_INFO_LENGTH, sizeof(SRBEX_DATA_IO_INFO) - 8);
    assert_int_equal(SRBEX_DATA_BIDIRECTIONAL_LENGTH, sizeof(SRBEX_DATA_BIDIRECTIONAL) - 8);

    assert_int_equal(SrbExDataTypeUnknown, 0);
    assert_int_equal(SrbExDataTypeBidirectional, 1);
    assert_int_equal(SrbExDataTypeScsiCdb16, 0x40);
    assert_int_equal(SrbExDataTypeScsiCdb32, 0x41);
    assert_int_equal(SrbExDataTypeScsiCdbVar, 0x42);
    assert_int_equal(SrbExDataTypeWmi, 0x60);
    assert_int_equal(SrbExDataTypePower, 0x61);
    assert_int_equal(SrbExDataTypePnP, 0x62);
    assert_int_equal(SrbExDataTypeIoInfo, 0x80);
    assert_int_equal(sizeof(SRBEXDATATYPE), 4);

    assert_int_equal(O(STOR_ADDR_BTL8, Path), 8);
    assert_int_equal(O(STOR_ADDR_BTL8, Target), 9);
    assert_int_equal(O(STOR_ADDR_BTL8, Lun), 10);
    assert_int_equal(sizeof(STOR_ADDR_BTL8), 16); /* STOR_ADDRESS_ALIGN is 8 on Win64 */
    assert_int_equal(STOR_ADDRESS_TYPE_BTL8, 1);
    assert_int_equal(STOR_ADDR_BTL8_ADDRESS_LENGTH, 4);
    assert_int_equal(StorStartDevice, 0);
    assert_int_equal(StorRemoveDevice, 2);
    assert_int_equal(StorSurpriseRemoval, 0x17);
}

static void test_srb_functions_statuses_and_flags(void **state)
{
    (void)state;
    assert_int_equal(SRB_FUNCTION_EXECUTE_SCSI, 0x00);
    assert_int_equal(SRB_FUNCTION_IO_CONTROL, 0x02);
    assert_int_equal(SRB_FUNCTION_SHUTDOWN, 0x07);
    assert_int_equal(SRB_FUNCTION_FLUSH, 0x08);
    assert_int_equal(SRB_FUNCTION_ABORT_COMMAND, 0x10);
    assert_int_equal(SRB_FUNCTION_RESET_BUS, 0x12);
    assert_int_equal(SRB_FUNCTION_RESET_DEVICE, 0x13);
    assert_int_equal(SRB_FUNCTION_WMI, 0x17);
    assert_int_equal(SRB_FUNCTION_RESET_LOGICAL_UNIT, 0x20);
    assert_int_equal(SRB_FUNCTION_POWER, 0x24);
    assert_int_equal(SRB_FUNCTION_PNP, 0x25);
    assert_int_equal(SRB_FUNCTION_STORAGE_REQUEST_BLOCK, 0x28);

    assert_int_equal(SRB_STATUS_PENDING, 0x00);
    assert_int_equal(SRB_STATUS_SUCCESS, 0x01);
    assert_int_equal(SRB_STATUS_ABORTED, 0x02);
    assert_int_equal(SRB_STATUS_ERROR, 0x04);
    assert_int_equal(SRB_STATUS_BUSY, 0x05);
    assert_int_equal(SRB_STATUS_INVALID_REQUEST, 0x06);
    assert_int_equal(SRB_STATUS_INVALID_PATH_ID, 0x07);
    assert_int_equal(SRB_STATUS_NO_DEVICE, 0x08);
    assert_int_equal(SRB_STATUS_TIMEOUT, 0x09);
    assert_int_equal(SRB_STATUS_SELECTION_TIMEOUT, 0x0A);
    assert_int_equal(SRB_STATUS_BUS_RESET, 0x0E);
    assert_int_equal(SRB_STATUS_DATA_OVERRUN, 0x12);
    assert_int_equal(SRB_STATUS_INVALID_LUN, 0x20);
    assert_int_equal(SRB_STATUS_INVALID_TARGET_ID, 0x21);
    assert_int_equal(SRB_STATUS_BAD_FUNCTION, 0x22);
    assert_int_equal(SRB_STATUS_INTERNAL_ERROR, 0x30);
    assert_int_equal(SRB_STATUS_QUEUE_FROZEN, 0x40);
    assert_int_equal(SRB_STATUS_AUTOSENSE_VALID, 0x80);
    /* SRB_STATUS() strips exactly the two modifier bits. */
    for (unsigned s = 0; s < 0x40; s++) {
        assert_int_equal(SRB_STATUS(s | SRB_STATUS_QUEUE_FROZEN | SRB_STATUS_AUTOSENSE_VALID), s);
        assert_int_equal(SRB_STATUS(s), s);
    }

    assert_int_equal(SRB_FLAGS_DISABLE_AUTOSENSE, 0x20);
    assert_int_equal(SRB_FLAGS_DATA_IN, 0x40);
    assert_int_equal(SRB_FLAGS_DATA_OUT, 0x80);
    assert_int_equal(SRB_FLAGS_NO_DATA_TRANSFER, 0);
    assert_int_equal(SRB_FLAGS_UNSPECIFIED_DIRECTION, 0xC0);
    assert_int_equal(SRB_FLAGS_BYPASS_FROZEN_QUEUE, 0x10);
    assert_int_equal(SRB_FLAGS_NO_QUEUE_FREEZE, 0x100);

    assert_int_equal(SRB_SIMPLE_TAG_REQUEST, 0x20);
    assert_int_equal(SRB_TYPE_SCSI_REQUEST_BLOCK, 0);
    assert_int_equal(SRB_TYPE_STORAGE_REQUEST_BLOCK, 1);
    assert_int_equal(SRB_TYPE_FLAG_SCSI_REQUEST_BLOCK, 1);
    assert_int_equal(SRB_TYPE_FLAG_STORAGE_REQUEST_BLOCK, 2);
    assert_int_equal(STORAGE_ADDRESS_TYPE_BTL8, 0);
    assert_int_equal(SP_RETURN_NOT_FOUND, 0);
    assert_int_equal(SP_RETURN_FOUND, 1);
    assert_int_equal(SP_RETURN_ERROR, 2);
    assert_int_equal(SP_RETURN_BAD_CONFIG, 3);
    assert_int_equal(SP_UNINITIALIZED_VALUE, 0xFFFFFFFFu);
    assert_int_equal(SP_UNTAGGED, 0xFF);
}

static void test_scsi_constants(void **state)
{
    (void)state;
    assert_int_equal(SCSIOP_TEST_UNIT_READY, 0x00);
    assert_int_equal(SCSIOP_REQUEST_SENSE, 0x03);
    assert_int_equal(SCSIOP_READ6, 0x08);
    assert_int_equal(SCSIOP_WRITE6, 0x0A);
    assert_int_equal(SCSIOP_INQUIRY, 0x12);
    assert_int_equal(SCSIOP_MODE_SENSE, 0x1A);
    assert_int_equal(SCSIOP_START_STOP_UNIT, 0x1B);
    assert_int_equal(SCSIOP_READ_CAPACITY, 0x25);
    assert_int_equal(SCSIOP_READ, 0x28);
    assert_int_equal(SCSIOP_WRITE, 0x2A);
    assert_int_equal(SCSIOP_VERIFY, 0x2F);
    assert_int_equal(SCSIOP_SYNCHRONIZE_CACHE, 0x35);
    assert_int_equal(SCSIOP_UNMAP, 0x42);
    assert_int_equal(SCSIOP_MODE_SENSE10, 0x5A);
    assert_int_equal(SCSIOP_READ16, 0x88);
    assert_int_equal(SCSIOP_WRITE16, 0x8A);
    assert_int_equal(SCSIOP_SYNCHRONIZE_CACHE16, 0x91);
    assert_int_equal(SCSIOP_WRITE_SAME16, 0x93);
    assert_int_equal(SCSIOP_SERVICE_ACTION_IN16, 0x9E);
    assert_int_equal(SCSIOP_READ_CAPACITY16, SCSIOP_SERVICE_ACTION_IN16);
    assert_int_equal(SERVICE_ACTION_READ_CAPACITY16, 0x10);
    assert_int_equal(SCSIOP_REPORT_LUNS, 0xA0);

    assert_int_equal(SCSISTAT_GOOD, 0x00);
    assert_int_equal(SCSISTAT_CHECK_CONDITION, 0x02);
    assert_int_equal(SCSISTAT_BUSY, 0x08);
    assert_int_equal(SCSISTAT_RESERVATION_CONFLICT, 0x18);
    assert_int_equal(SCSISTAT_QUEUE_FULL, 0x28);

    assert_int_equal(SCSI_SENSE_NOT_READY, 0x02);
    assert_int_equal(SCSI_SENSE_MEDIUM_ERROR, 0x03);
    assert_int_equal(SCSI_SENSE_ILLEGAL_REQUEST, 0x05);
    assert_int_equal(SCSI_SENSE_UNIT_ATTENTION, 0x06);
    assert_int_equal(SCSI_SENSE_ABORTED_COMMAND, 0x0B);
    assert_int_equal(SCSI_ADSENSE_LUN_NOT_READY, 0x04);
    assert_int_equal(SCSI_ADSENSE_ILLEGAL_COMMAND, 0x20);
    assert_int_equal(SCSI_ADSENSE_ILLEGAL_BLOCK, 0x21);
    assert_int_equal(SCSI_ADSENSE_INVALID_CDB, 0x24);
    assert_int_equal(SCSI_ADSENSE_INVALID_LUN, 0x25);
    assert_int_equal(SCSI_ADSENSE_BUS_RESET, 0x29);
    assert_int_equal(SCSI_SENSEQ_BECOMING_READY, 0x01);
    assert_int_equal(SCSI_SENSE_ERRORCODE_FIXED_CURRENT, 0x70);
    assert_int_equal(SCSI_SENSE_ERRORCODE_DESCRIPTOR_CURRENT, 0x72);

    assert_int_equal(DIRECT_ACCESS_DEVICE, 0x00);
    assert_int_equal(VPD_SUPPORTED_PAGES, 0x00);
    assert_int_equal(VPD_SERIAL_NUMBER, 0x80);
    assert_int_equal(VPD_DEVICE_IDENTIFIERS, 0x83);
    assert_int_equal(VPD_BLOCK_LIMITS, 0xB0);
    assert_int_equal(VPD_LOGICAL_BLOCK_PROVISIONING, 0xB2);
    assert_int_equal(MODE_PAGE_CACHING, 0x08);
    assert_int_equal(MODE_SENSE_RETURN_ALL, 0x3f);
}

static void test_scsi_structures_are_packed_wire_layouts(void **state)
{
    (void)state;
    assert_int_equal(sizeof(CDB), 16);
    assert_int_equal(sizeof(CDB32), 32);
    assert_int_equal(O(CDB, CDB10.LogicalBlockByte0), 2);
    assert_int_equal(O(CDB, CDB10.TransferBlocksMsb), 7);
    assert_int_equal(O(CDB, CDB16.LogicalBlock), 2);
    assert_int_equal(O(CDB, CDB16.TransferLength), 10);
    assert_int_equal(O(CDB, CDB12.TransferLength), 6);
    assert_int_equal(O(CDB, READ_CAPACITY16.AllocationLength), 10);
    assert_int_equal(O(CDB, UNMAP.AllocationLength), 7);
    assert_int_equal(O(CDB, REPORT_LUNS.AllocationLength), 6);
    assert_int_equal(O(CDB, MODE_SENSE10.AllocationLength), 7);
    assert_int_equal(O(CDB, SYNCHRONIZE_CACHE16.BlockCount), 10);

    assert_int_equal(sizeof(SENSE_DATA), 18);
    assert_int_equal(SENSE_BUFFER_SIZE, 18);
    assert_int_equal(O(SENSE_DATA, Information), 3);
    assert_int_equal(O(SENSE_DATA, AdditionalSenseLength), 7);
    assert_int_equal(O(SENSE_DATA, AdditionalSenseCode), 12);
    assert_int_equal(O(SENSE_DATA, AdditionalSenseCodeQualifier), 13);
    assert_int_equal(O(DESCRIPTOR_SENSE_DATA, AdditionalSenseLength), 7);
    assert_int_equal(O(DESCRIPTOR_SENSE_DATA, DescriptorBuffer), 8);

    assert_int_equal(O(INQUIRYDATA, AdditionalLength), 4);
    assert_int_equal(O(INQUIRYDATA, VendorId), 8);
    assert_int_equal(O(INQUIRYDATA, ProductId), 16);
    assert_int_equal(O(INQUIRYDATA, ProductRevisionLevel), 32);
    assert_int_equal(O(INQUIRYDATA, VendorSpecific), 36);
    assert_int_equal(O(INQUIRYDATA, VersionDescriptors), 58);
    assert_true(sizeof(INQUIRYDATA) >= 96);

    assert_int_equal(sizeof(READ_CAPACITY_DATA), 8);
    assert_int_equal(sizeof(READ_CAPACITY_DATA_EX), 12);
    assert_int_equal(sizeof(READ_CAPACITY16_DATA), 32);
    assert_int_equal(O(READ_CAPACITY16_DATA, LowestAlignedBlock_LSB), 15);

    assert_int_equal(sizeof(VPD_SUPPORTED_PAGES_PAGE), 4);
    assert_int_equal(sizeof(VPD_SERIAL_NUMBER_PAGE), 4);
    assert_int_equal(sizeof(VPD_IDENTIFICATION_PAGE), 4);
    assert_int_equal(sizeof(VPD_IDENTIFICATION_DESCRIPTOR), 4);
    assert_int_equal(sizeof(VPD_BLOCK_LIMITS_PAGE), 64);
    assert_int_equal(O(VPD_BLOCK_LIMITS_PAGE, MaximumTransferLength), 8);
    assert_int_equal(O(VPD_BLOCK_LIMITS_PAGE, OptimalTransferLength), 12);
    assert_int_equal(O(VPD_BLOCK_LIMITS_PAGE, MaximumUnmapLBACount), 20);
    assert_int_equal(O(VPD_BLOCK_LIMITS_PAGE, MaximumUnmapBlockDescriptorCount), 24);
    assert_int_equal(O(VPD_BLOCK_LIMITS_PAGE, OptimalUnmapGranularity), 28);
    assert_int_equal(O(VPD_BLOCK_LIMITS_PAGE, UnmapGranularityAlignment), 32);
    assert_int_equal(sizeof(VPD_LOGICAL_BLOCK_PROVISIONING_PAGE), 8);

    assert_int_equal(sizeof(MODE_PARAMETER_HEADER), 4);
    assert_int_equal(sizeof(MODE_PARAMETER_HEADER10), 8);
    assert_int_equal(sizeof(MODE_PARAMETER_BLOCK), 8);
    assert_int_equal(sizeof(MODE_CACHING_PAGE), 12);
    assert_int_equal(sizeof(MODE_CONTROL_PAGE), 12);
    assert_int_equal(sizeof(LUN_LIST), 8);
    assert_int_equal(sizeof(UNMAP_BLOCK_DESCRIPTOR), 16);
    assert_int_equal(sizeof(UNMAP_LIST_HEADER), 8);
}

/* Bit-fields are allocated from the least significant bit, as the WDK's
 * compiler does, so the named fields decode real device bytes. */
static void test_bitfields_decode_wire_bytes(void **state)
{
    (void)state;
    INQUIRYDATA inq;
    memset(&inq, 0, sizeof(inq));
    ((PUCHAR)&inq)[0] = 0x7F; /* qualifier 3, type 0x1F */
    ((PUCHAR)&inq)[1] = 0x80; /* removable */
    ((PUCHAR)&inq)[3] = 0x02; /* response format 2 */
    ((PUCHAR)&inq)[7] = 0x02; /* CmdQue */
    assert_int_equal(inq.DeviceType, 0x1F);
    assert_int_equal(inq.DeviceTypeQualifier, 3);
    assert_int_equal(inq.RemovableMedia, 1);
    assert_int_equal(inq.ResponseDataFormat, 2);
    assert_int_equal(inq.CommandQueue, 1);
    assert_int_equal(inq.SoftReset, 0);

    SENSE_DATA sense;
    memset(&sense, 0, sizeof(sense));
    sense.ErrorCode = SCSI_SENSE_ERRORCODE_FIXED_CURRENT;
    sense.Valid = 1;
    sense.SenseKey = SCSI_SENSE_ILLEGAL_REQUEST;
    assert_int_equal(((PUCHAR)&sense)[0], 0xF0);
    assert_int_equal(((PUCHAR)&sense)[2], 0x05);

    CDB cdb;
    memset(&cdb, 0, sizeof(cdb));
    cdb.CDB6INQUIRY3.EnableVitalProductData = 1;
    cdb.CDB10.ForceUnitAccess = 0;
    assert_int_equal(cdb.AsByte[1], 0x01);
    memset(&cdb, 0, sizeof(cdb));
    cdb.CDB10.ForceUnitAccess = 1;
    assert_int_equal(cdb.AsByte[1], 0x08);
    memset(&cdb, 0, sizeof(cdb));
    cdb.MODE_SENSE.PageCode = MODE_SENSE_RETURN_ALL;
    cdb.MODE_SENSE.Pc = 1;
    assert_int_equal(cdb.AsByte[2], 0x7F);
    memset(&cdb, 0, sizeof(cdb));
    cdb.READ_CAPACITY16.ServiceAction = SERVICE_ACTION_READ_CAPACITY16;
    assert_int_equal(cdb.AsByte[1], 0x10);

    VPD_IDENTIFICATION_DESCRIPTOR id;
    memset(&id, 0, sizeof(id));
    id.CodeSet = VpdCodeSetBinary;
    id.IdentifierType = VpdIdentifierTypeFCPHName;
    id.Association = VpdAssocDevice;
    assert_int_equal(((PUCHAR)&id)[0], 0x01);
    assert_int_equal(((PUCHAR)&id)[1], 0x03);
}

static void test_reverse_bytes_macros(void **state)
{
    (void)state;
    ULONG64 q = 0x0102030405060708ull, qr = 0;
    ULONG l = 0x11223344u, lr = 0;
    USHORT s = 0xA1B2, sr = 0;
    REVERSE_BYTES_QUAD(&qr, &q);
    REVERSE_BYTES(&lr, &l);
    REVERSE_BYTES_SHORT(&sr, &s);
    assert_true(qr == 0x0807060504030201ull);
    assert_int_equal(lr, 0x44332211u);
    assert_int_equal(sr, 0xB2A1);
    REVERSE_LONG(&lr);
    REVERSE_SHORT(&sr);
    assert_int_equal(lr, l);
    assert_int_equal(sr, s);
}

static void test_storport_constants_and_enums(void **state)
{
    (void)state;
    assert_true(STOR_STATUS_SUCCESS == 0);
    assert_true(STOR_STATUS_UNSUCCESSFUL == 0xC1000001L);
    assert_true(STOR_STATUS_NOT_IMPLEMENTED == 0xC1000002L);
    assert_true(STOR_STATUS_INSUFFICIENT_RESOURCES == 0xC1000003L);
    assert_true(STOR_STATUS_BUFFER_TOO_SMALL == 0xC1000004L);
    assert_true(STOR_STATUS_ACCESS_DENIED == 0xC1000005L);
    assert_true(STOR_STATUS_INVALID_PARAMETER == 0xC1000006L);
    assert_true(STOR_STATUS_INVALID_DEVICE_REQUEST == 0xC1000007L);
    assert_true(STOR_STATUS_INVALID_IRQL == 0xC1000008L);
    assert_true(STOR_STATUS_INVALID_DEVICE_STATE == 0xC1000009L);
    assert_true(STOR_STATUS_INVALID_BUFFER_SIZE == 0xC100000AL);
    assert_true(STOR_STATUS_UNSUPPORTED_VERSION == 0xC100000BL);
    assert_true(STOR_STATUS_BUSY == 0xC100000CL);
    /* Stored in a ULONG return value without loss. */
    ULONG st = STOR_STATUS_INVALID_IRQL;
    assert_true(st == STOR_STATUS_INVALID_IRQL);

    assert_int_equal(InvalidLock, 0);
    assert_int_equal(DpcLock, 1);
    assert_int_equal(StartIoLock, 2);
    assert_int_equal(InterruptLock, 3);
    assert_int_equal(ThreadedDpcLock, 4);
    assert_int_equal(DpcLevelLock, 5);

    assert_int_equal(RequestComplete, 0);
    assert_int_equal(NextRequest, 1);
    assert_int_equal(NextLuRequest, 2);
    assert_int_equal(ResetDetected, 3);
    assert_int_equal(RequestTimerCall, 6);
    assert_int_equal(BusChangeDetected, 7);
    assert_int_equal(WMIEvent, 8);
    assert_int_equal(GetExtendedFunctionTable, 15);
    assert_int_equal(EnablePassiveInitialization, 0x1000);
    assert_int_equal(InitializeDpc, 0x1001);
    assert_int_equal(IssueDpc, 0x1002);
    assert_int_equal(AcquireSpinLock, 0x1003);
    assert_int_equal(ReleaseSpinLock, 0x1004);
    assert_int_equal(StateChangeDetectedCall, 0x1005);

    assert_int_equal(ScsiQuerySupportedControlTypes, 0);
    assert_int_equal(ScsiStopAdapter, 1);
    assert_int_equal(ScsiRestartAdapter, 2);
    assert_int_equal(ScsiSetBootConfig, 3);
    assert_int_equal(ScsiSetRunningConfig, 4);
    assert_int_equal(ScsiAdapterPower, 6);
    assert_int_equal(ScsiAdapterSurpriseRemoval, 16);
    assert_int_equal(ScsiAdapterControlSuccess, 0);
    assert_int_equal(ScsiAdapterControlUnsuccessful, 1);
    assert_int_equal(ScsiQuerySupportedUnitControlTypes, 0);
    assert_int_equal(ScsiUnitStart, 2);
    assert_int_equal(ScsiUnitPower, 3);
    assert_int_equal(sizeof(SCSI_ADAPTER_CONTROL_TYPE), 4);

    assert_int_equal(StorSynchronizeHalfDuplex, 0);
    assert_int_equal(StorSynchronizeFullDuplex, 1);
    assert_int_equal(InterruptSupportNone, 0);
    assert_int_equal(InterruptSynchronizeAll, 1);
    assert_int_equal(InterruptSynchronizePerMessage, 2);

    assert_int_equal(STOR_PERF_DPC_REDIRECTION, 0x1);
    assert_int_equal(STOR_PERF_CONCURRENT_CHANNELS, 0x2);
    assert_int_equal(STOR_PERF_INTERRUPT_MESSAGE_RANGES, 0x4);
    assert_int_equal(STOR_PERF_ADV_CONFIG_LOCALITY, 0x8);
    assert_int_equal(STOR_PERF_OPTIMIZE_FOR_COMPLETION_DURING_STARTIO, 0x10);
    assert_int_equal(STOR_PERF_VERSION_2, 2);
    assert_int_equal(STOR_PERF_VERSION_3, 3);
    assert_int_equal(STOR_FEATURE_VIRTUAL_MINIPORT, 0x1);
    assert_int_equal(STOR_FEATURE_FULL_PNP_DEVICE_CAPABILITIES, 0x4);
    assert_int_equal(STOR_MAP_NO_BUFFERS, 0);
    assert_int_equal(STOR_MAP_NON_READ_WRITE_BUFFERS, 2);
}

static void test_storport_structures_follow_documented_order(void **state)
{
    (void)state;
    ASSERT_ORDER(PORT_CONFIGURATION_INFORMATION,
        O(PORT_CONFIGURATION_INFORMATION, Length),
        O(PORT_CONFIGURATION_INFORMATION, SystemIoBusNumber),
        O(PORT_CONFIGURATION_INFORMATION, AdapterInterfaceType),
        O(PORT_CONFIGURATION_INFORMATION, BusInterruptLevel),
        O(PORT_CONFIGURATION_INFORMATION, BusInterruptVector),
        O(PORT_CONFIGURATION_INFORMATION, InterruptMode),
        O(PORT_CONFIGURATION_INFORMATION, MaximumTransferLength),
        O(PORT_CONFIGURATION_INFORMATION, NumberOfPhysicalBreaks),
        O(PORT_CONFIGURATION_INFORMATION, DmaChannel),
        O(PORT_CONFIGURATION_INFORMATION, DmaPort),
        O(PORT_CONFIGURATION_INFORMATION, DmaWidth),
        O(PORT_CONFIGURATION_INFORMATION, DmaSpeed),
        O(PORT_CONFIGURATION_INFORMATION, AlignmentMask),
        O(PORT_CONFIGURATION_INFORMATION, NumberOfAccessRanges),
        O(PORT_CONFIGURATION_INFORMATION, AccessRanges),
        O(PORT_CONFIGURATION_INFORMATION, MiniportDumpData),
        O(PORT_CONFIGURATION_INFORMATION, NumberOfBuses),
        O(PORT_CONFIGURATION_INFORMATION, InitiatorBusId),
        O(PORT_CONFIGURATION_INFORMATION, ScatterGather),
        O(PORT_CONFIGURATION_INFORMATION, Master),
        O(PORT_CONFIGURATION_INFORMATION, CachesData),
        O(PORT_CONFIGURATION_INFORMATION, AdapterScansDown),
        O(PORT_CONFIGURATION_INFORMATION, AtdiskPrimaryClaimed),
        O(PORT_CONFIGURATION_INFORMATION, AtdiskSecondaryClaimed),
        O(PORT_CONFIGURATION_INFORMATION, Dma32BitAddresses),
        O(PORT_CONFIGURATION_INFORMATION, DemandMode),
        O(PORT_CONFIGURATION_INFORMATION, MapBuffers),
        O(PORT_CONFIGURATION_INFORMATION, NeedPhysicalAddresses),
        O(PORT_CONFIGURATION_INFORMATION, TaggedQueuing),
        O(PORT_CONFIGURATION_INFORMATION, AutoRequestSense),
        O(PORT_CONFIGURATION_INFORMATION, MultipleRequestPerLu),
        O(PORT_CONFIGURATION_INFORMATION, ReceiveEvent),
        O(PORT_CONFIGURATION_INFORMATION, RealModeInitialized),
        O(PORT_CONFIGURATION_INFORMATION, BufferAccessScsiPortControlled),
        O(PORT_CONFIGURATION_INFORMATION, MaximumNumberOfTargets),
        O(PORT_CONFIGURATION_INFORMATION, SrbType),
        O(PORT_CONFIGURATION_INFORMATION, AddressType),
        O(PORT_CONFIGURATION_INFORMATION, ReservedUchars),
        O(PORT_CONFIGURATION_INFORMATION, SlotNumber),
        O(PORT_CONFIGURATION_INFORMATION, BusInterruptLevel2),
        O(PORT_CONFIGURATION_INFORMATION, BusInterruptVector2),
        O(PORT_CONFIGURATION_INFORMATION, InterruptMode2),
        O(PORT_CONFIGURATION_INFORMATION, DmaChannel2),
        O(PORT_CONFIGURATION_INFORMATION, DmaPort2),
        O(PORT_CONFIGURATION_INFORMATION, DmaWidth2),
        O(PORT_CONFIGURATION_INFORMATION, DmaSpeed2),
        O(PORT_CONFIGURATION_INFORMATION, DeviceExtensionSize),
        O(PORT_CONFIGURATION_INFORMATION, SpecificLuExtensionSize),
        O(PORT_CONFIGURATION_INFORMATION, SrbExtensionSize),
        O(PORT_CONFIGURATION_INFORMATION, Dma64BitAddresses),
        O(PORT_CONFIGURATION_INFORMATION, ResetTargetSupported),
        O(PORT_CONFIGURATION_INFORMATION, MaximumNumberOfLogicalUnits),
        O(PORT_CONFIGURATION_INFORMATION, WmiDataProvider),
        O(PORT_CONFIGURATION_INFORMATION, SynchronizationModel),
        O(PORT_CONFIGURATION_INFORMATION, HwMSInterruptRoutine),
        O(PORT_CONFIGURATION_INFORMATION, InterruptSynchronizationMode),
        O(PORT_CONFIGURATION_INFORMATION, DumpRegion),
        O(PORT_CONFIGURATION_INFORMATION, RequestedDumpBufferSize),
        O(PORT_CONFIGURATION_INFORMATION, VirtualDevice),
        O(PORT_CONFIGURATION_INFORMATION, DumpMode),
        O(PORT_CONFIGURATION_INFORMATION, ExtendedFlags1),
        O(PORT_CONFIGURATION_INFORMATION, MaxNumberOfIO),
        O(PORT_CONFIGURATION_INFORMATION, MaxIOsPerLun),
        O(PORT_CONFIGURATION_INFORMATION, InitialLunQueueDepth),
        O(PORT_CONFIGURATION_INFORMATION, BusResetHoldTime),
        O(PORT_CONFIGURATION_INFORMATION, FeatureSupport));

    ASSERT_ORDER(HW_INITIALIZATION_DATA,
        O(HW_INITIALIZATION_DATA, HwInitializationDataSize),
        O(HW_INITIALIZATION_DATA, AdapterInterfaceType),
        O(HW_INITIALIZATION_DATA, HwInitialize),
        O(HW_INITIALIZATION_DATA, HwStartIo),
        O(HW_INITIALIZATION_DATA, HwInterrupt),
        O(HW_INITIALIZATION_DATA, HwFindAdapter),
        O(HW_INITIALIZATION_DATA, HwResetBus),
        O(HW_INITIALIZATION_DATA, HwDmaStarted),
        O(HW_INITIALIZATION_DATA, HwAdapterState),
        O(HW_INITIALIZATION_DATA, DeviceExtensionSize),
        O(HW_INITIALIZATION_DATA, SpecificLuExtensionSize),
        O(HW_INITIALIZATION_DATA, SrbExtensionSize),
        O(HW_INITIALIZATION_DATA, NumberOfAccessRanges),
        O(HW_INITIALIZATION_DATA, Reserved),
        O(HW_INITIALIZATION_DATA, MapBuffers),
        O(HW_INITIALIZATION_DATA, NeedPhysicalAddresses),
        O(HW_INITIALIZATION_DATA, TaggedQueuing),
        O(HW_INITIALIZATION_DATA, AutoRequestSense),
        O(HW_INITIALIZATION_DATA, MultipleRequestPerLu),
        O(HW_INITIALIZATION_DATA, ReceiveEvent),
        O(HW_INITIALIZATION_DATA, VendorIdLength),
        O(HW_INITIALIZATION_DATA, VendorId),
        O(HW_INITIALIZATION_DATA, PortVersionFlags),
        O(HW_INITIALIZATION_DATA, DeviceIdLength),
        O(HW_INITIALIZATION_DATA, DeviceId),
        O(HW_INITIALIZATION_DATA, HwAdapterControl),
        O(HW_INITIALIZATION_DATA, HwBuildIo),
        O(HW_INITIALIZATION_DATA, HwFreeAdapterResources),
        O(HW_INITIALIZATION_DATA, HwProcessServiceRequest),
        O(HW_INITIALIZATION_DATA, HwCompleteServiceIrp),
        O(HW_INITIALIZATION_DATA, HwInitializeTracing),
        O(HW_INITIALIZATION_DATA, HwCleanupTracing),
        O(HW_INITIALIZATION_DATA, HwTracingEnabled),
        O(HW_INITIALIZATION_DATA, FeatureSupport),
        O(HW_INITIALIZATION_DATA, SrbTypeFlags),
        O(HW_INITIALIZATION_DATA, AddressTypeFlags),
        O(HW_INITIALIZATION_DATA, Reserved1),
        O(HW_INITIALIZATION_DATA, HwUnitControl));
    assert_int_equal(O(HW_INITIALIZATION_DATA, ReservedUshort),
                     O(HW_INITIALIZATION_DATA, PortVersionFlags));

    /* The virtual variant is the same layout up to HwCleanupTracing. */
    assert_int_equal(O(VIRTUAL_HW_INITIALIZATION_DATA, HwFindAdapter),
                     O(HW_INITIALIZATION_DATA, HwFindAdapter));
    assert_int_equal(O(VIRTUAL_HW_INITIALIZATION_DATA, HwCleanupTracing),
                     O(HW_INITIALIZATION_DATA, HwCleanupTracing));
    assert_int_equal(sizeof(VIRTUAL_HW_INITIALIZATION_DATA),
                     O(HW_INITIALIZATION_DATA, HwTracingEnabled));

    ASSERT_ORDER(PERF_CONFIGURATION_DATA,
        O(PERF_CONFIGURATION_DATA, Version),
        O(PERF_CONFIGURATION_DATA, Size),
        O(PERF_CONFIGURATION_DATA, Flags),
        O(PERF_CONFIGURATION_DATA, ConcurrentChannels),
        O(PERF_CONFIGURATION_DATA, FirstRedirectionMessageNumber),
        O(PERF_CONFIGURATION_DATA, LastRedirectionMessageNumber),
        O(PERF_CONFIGURATION_DATA, DeviceNode),
        O(PERF_CONFIGURATION_DATA, Reserved),
        O(PERF_CONFIGURATION_DATA, MessageTargets));
    assert_int_equal(sizeof(PERF_CONFIGURATION_DATA), 40);

    /* STOR_LOCK_HANDLE can hold an in-stack queued lock handle. */
    assert_true(sizeof(((STOR_LOCK_HANDLE *)0)->Context) >= sizeof(KLOCK_QUEUE_HANDLE));
    assert_int_equal(O(STOR_DPC, Dpc), 0);
    assert_true(O(STOR_DPC, Lock) >= sizeof(KDPC));
    assert_int_equal(O(STOR_SCATTER_GATHER_LIST, List), 16);
    assert_int_equal(sizeof(STOR_SCATTER_GATHER_ELEMENT), 24);
    assert_int_equal(sizeof(ACCESS_RANGE), 16);
    assert_int_equal(O(SCSI_SUPPORTED_CONTROL_TYPE_LIST, SupportedTypeList), 4);
}

static void test_ntddscsi_io_control(void **state)
{
    (void)state;
    assert_int_equal(IOCTL_SCSI_PASS_THROUGH, 0x4D004);
    assert_int_equal(IOCTL_SCSI_MINIPORT, 0x4D008);
    assert_int_equal(IOCTL_SCSI_GET_ADDRESS, 0x41018);
    assert_int_equal(sizeof(SRB_IO_CONTROL), 28);
    assert_int_equal(O(SRB_IO_CONTROL, Signature), 4);
    assert_int_equal(O(SRB_IO_CONTROL, Length), 24);
    assert_int_equal(O(SCSI_PASS_THROUGH, DataBufferOffset), 0x18);
    assert_int_equal(O(SCSI_PASS_THROUGH, Cdb), 0x24);
    assert_int_equal(sizeof(SCSI_PASS_THROUGH), 0x38);
    assert_int_equal(sizeof(SCSI_ADDRESS), 8);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scsi_request_block_is_win64_layout),
        cmocka_unit_test(test_storage_request_block_is_win64_layout),
        cmocka_unit_test(test_srbex_data_blocks_and_lengths),
        cmocka_unit_test(test_srb_functions_statuses_and_flags),
        cmocka_unit_test(test_scsi_constants),
        cmocka_unit_test(test_scsi_structures_are_packed_wire_layouts),
        cmocka_unit_test(test_bitfields_decode_wire_bytes),
        cmocka_unit_test(test_reverse_bytes_macros),
        cmocka_unit_test(test_storport_constants_and_enums),
        cmocka_unit_test(test_storport_structures_follow_documented_order),
        cmocka_unit_test(test_ntddscsi_io_control),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
