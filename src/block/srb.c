/*
 * srb.c - the project's one SRB builder (ustor_srb_init, include/ustor/block.h):
 * a SCSI_REQUEST_BLOCK, or a STORAGE_REQUEST_BLOCK followed by its BTL8
 * address and one SRBEX_DATA_SCSI_CDB16 or CDB32 block.
 */
#include <stddef.h>
#include <string.h>

#include <storport.h>
#include <ustor/block.h>

struct srbex_layout {
    STORAGE_REQUEST_BLOCK srb; /* SrbExDataOffset[1] included */
    STOR_ADDR_BTL8 addr;
    union {
        SRBEX_DATA_SCSI_CDB16 cdb16;
        SRBEX_DATA_SCSI_CDB32 cdb32;
    } ex;
};
_Static_assert(sizeof(struct srbex_layout) <= USTOR_SRB_STORAGE_SIZE, "USTOR_SRB_STORAGE_SIZE too small");
_Static_assert(sizeof(SCSI_REQUEST_BLOCK) <= USTOR_SRB_STORAGE_SIZE, "USTOR_SRB_STORAGE_SIZE too small");

static void *build_scsi(void *storage, const struct ustor_srb_params *p)
{
    SCSI_REQUEST_BLOCK *srb = storage;
    memset(srb, 0, sizeof(*srb));
    srb->Length = sizeof(SCSI_REQUEST_BLOCK);
    srb->Function = SRB_FUNCTION_EXECUTE_SCSI;
    srb->SrbStatus = SRB_STATUS_PENDING;
    srb->PathId = p->path;
    srb->TargetId = p->target;
    srb->Lun = p->lun;
    srb->QueueAction = SRB_SIMPLE_TAG_REQUEST;
    srb->CdbLength = (UCHAR)p->cdb_len;
    memcpy(srb->Cdb, p->cdb, p->cdb_len);
    srb->SenseInfoBuffer = p->sense;
    srb->SenseInfoBufferLength = p->sense_len;
    srb->SrbFlags = p->srb_flags;
    srb->DataTransferLength = p->data_len;
    srb->DataBuffer = p->data_len ? p->data : NULL;
    srb->TimeOutValue = p->timeout_s;
    return srb;
}

static void *build_ex(void *storage, const struct ustor_srb_params *p)
{
    struct srbex_layout *x = storage;
    STORAGE_REQUEST_BLOCK *srb = &x->srb;
    bool big = p->cdb_len > 16;
    memset(x, 0, sizeof(*x));
    /* Per the WDK: Length is the SCSI_REQUEST_BLOCK-compatible header,
     * i.e. the offset of Signature; SrbLength covers everything. */
    srb->Length = (USHORT)offsetof(STORAGE_REQUEST_BLOCK, Signature);
    srb->Function = SRB_FUNCTION_STORAGE_REQUEST_BLOCK;
    srb->SrbStatus = SRB_STATUS_PENDING;
    srb->Signature = SRB_SIGNATURE;
    srb->Version = STORAGE_REQUEST_BLOCK_VERSION_1;
    srb->SrbLength = (ULONG)(offsetof(struct srbex_layout, ex) +
                             (big ? sizeof(SRBEX_DATA_SCSI_CDB32) : sizeof(SRBEX_DATA_SCSI_CDB16)));
    srb->SrbFunction = SRB_FUNCTION_EXECUTE_SCSI;
    srb->SrbFlags = p->srb_flags;
    srb->RequestAttribute = SRB_SIMPLE_TAG_REQUEST;
    srb->TimeOutValue = p->timeout_s;
    srb->AddressOffset = (ULONG)offsetof(struct srbex_layout, addr);
    srb->NumSrbExData = 1;
    srb->SrbExDataOffset[0] = (ULONG)offsetof(struct srbex_layout, ex);
    srb->DataTransferLength = p->data_len;
    srb->DataBuffer = p->data_len ? p->data : NULL;

    x->addr.Type = STOR_ADDRESS_TYPE_BTL8;
    x->addr.AddressLength = STOR_ADDR_BTL8_ADDRESS_LENGTH;
    x->addr.Path = p->path;
    x->addr.Target = p->target;
    x->addr.Lun = p->lun;

    if (big) {
        SRBEX_DATA_SCSI_CDB32 *d = &x->ex.cdb32;
        d->Type = SrbExDataTypeScsiCdb32;
        d->Length = SRBEX_DATA_SCSI_CDB32_LENGTH;
        d->CdbLength = (UCHAR)p->cdb_len;
        d->SenseInfoBufferLength = p->sense_len;
        d->SenseInfoBuffer = p->sense;
        memcpy(d->Cdb, p->cdb, p->cdb_len);
    } else {
        SRBEX_DATA_SCSI_CDB16 *d = &x->ex.cdb16;
        d->Type = SrbExDataTypeScsiCdb16;
        d->Length = SRBEX_DATA_SCSI_CDB16_LENGTH;
        d->CdbLength = (UCHAR)p->cdb_len;
        d->SenseInfoBufferLength = p->sense_len;
        d->SenseInfoBuffer = p->sense;
        memcpy(d->Cdb, p->cdb, p->cdb_len);
    }
    return srb;
}

void *ustor_srb_init(void *storage, size_t size, const struct ustor_srb_params *p)
{
    if (!storage || !p || size < USTOR_SRB_STORAGE_SIZE || p->cdb_len == 0 ||
        p->cdb_len > (p->srbex ? 32u : 16u) || !p->cdb)
        return NULL;
    return p->srbex ? build_ex(storage, p) : build_scsi(storage, p);
}
