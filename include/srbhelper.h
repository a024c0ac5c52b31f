/*
 * srbhelper.h - accessors that read and write a request block without the
 * caller caring whether it is a SCSI_REQUEST_BLOCK or a Windows 8
 * STORAGE_REQUEST_BLOCK, as described by Microsoft's srbhelper.h reference.
 *
 * An SRB is a STORAGE_REQUEST_BLOCK when its Function byte (offset 2 in
 * both layouts) is SRB_FUNCTION_STORAGE_REQUEST_BLOCK (SPEC S5.9). Its
 * unit address is the STOR_ADDR_BTL8 at AddressOffset and its CDB, SCSI
 * status and sense buffer live in an SRBEX_DATA_SCSI_CDB16/32/VAR block.
 *
 * Every offset read from an extended SRB is checked against SrbLength
 * before use, so a malformed SRB yields NULL/0 instead of a wild access.
 *
 * The accessors take the SRB as a pointer of either kind. Passing the
 * address of a local SCSI_REQUEST_BLOCK whose Function the compiler cannot
 * see may make gcc -O2 -Warray-bounds flag the extended-SRB branch (which
 * never runs for it); SRBs handed out by the port carry no such object size.
 */
#ifndef _SRBHELPER_H_
#define _SRBHELPER_H_

#include <srb.h>
#include <scsi.h>

#ifdef __cplusplus
extern "C" {
#endif

/* sizeof rounded up to pointer alignment, for laying out extended SRBs. */
#define SRB_ALIGN_SIZEOF(x) \
    (((ULONG_PTR)(sizeof(x) + sizeof(PVOID) - 1)) & ~(sizeof(PVOID) - 1))

FORCEINLINE BOOLEAN SrbHelperIsStorageRequestBlock(PVOID Srb)
{
    return ((PSTORAGE_REQUEST_BLOCK)Srb)->Function == SRB_FUNCTION_STORAGE_REQUEST_BLOCK;
}

/* The block at Offset if it lies wholly inside the SRB, else NULL. */
FORCEINLINE PVOID SrbHelperBlockAt(PSTORAGE_REQUEST_BLOCK Srb, ULONG Offset, SIZE_T Size)
{
    if (Offset < sizeof(STORAGE_REQUEST_BLOCK) || Offset >= Srb->SrbLength ||
        Size > (SIZE_T)(Srb->SrbLength - Offset)) {
        return NULL;
    }
    return (PUCHAR)Srb + Offset;
}

/* ---- extended data ------------------------------------------------- */

FORCEINLINE PSRBEX_DATA SrbGetSrbExDataByIndex(_In_ PSTORAGE_REQUEST_BLOCK Srb,
                                               _In_ ULONG SrbExDataIndex)
{
    if (Srb->Function != SRB_FUNCTION_STORAGE_REQUEST_BLOCK ||
        SrbExDataIndex >= Srb->NumSrbExData) {
        return NULL;
    }
    /* The offsets array itself must fit inside the SRB. */
    if ((SIZE_T)offsetof(STORAGE_REQUEST_BLOCK, SrbExDataOffset) +
            ((SIZE_T)SrbExDataIndex + 1) * sizeof(ULONG) > Srb->SrbLength) {
        return NULL;
    }
    return (PSRBEX_DATA)SrbHelperBlockAt(Srb, Srb->SrbExDataOffset[SrbExDataIndex],
                                         offsetof(SRBEX_DATA, Data));
}

FORCEINLINE PSRBEX_DATA SrbGetSrbExDataByType(_In_ PSTORAGE_REQUEST_BLOCK Srb,
                                              _In_ SRBEXDATATYPE Type)
{
    for (ULONG i = 0; Srb->Function == SRB_FUNCTION_STORAGE_REQUEST_BLOCK &&
                      i < Srb->NumSrbExData; i++) {
        PSRBEX_DATA data = SrbGetSrbExDataByIndex(Srb, i);
        if (data != NULL && data->Type == Type) {
            return data;
        }
    }
    return NULL;
}

/* The SRBEX_DATA_SCSI_CDB16/32/VAR block of an extended SRB, if any. */
FORCEINLINE PSRBEX_DATA SrbHelperGetScsiCdbData(PSTORAGE_REQUEST_BLOCK Srb)
{
    for (ULONG i = 0; i < Srb->NumSrbExData; i++) {
        PSRBEX_DATA data = SrbGetSrbExDataByIndex(Srb, i);
        SIZE_T need;
        if (data == NULL) {
            continue;
        }
        switch (data->Type) {
        case SrbExDataTypeScsiCdb16:
            need = sizeof(SRBEX_DATA_SCSI_CDB16);
            break;
        case SrbExDataTypeScsiCdb32:
            need = sizeof(SRBEX_DATA_SCSI_CDB32);
            break;
        case SrbExDataTypeScsiCdbVar:
            need = offsetof(SRBEX_DATA_SCSI_CDB_VAR, Cdb) +
                   ((PSRBEX_DATA_SCSI_CDB_VAR)data)->CdbLength;
            break;
        default:
            continue;
        }
        if (SrbHelperBlockAt(Srb, Srb->SrbExDataOffset[i], need) != NULL) {
            return data;
        }
    }
    return NULL;
}

FORCEINLINE PSRBEX_DATA SrbGetPrimarySrbExData(_In_ PSTORAGE_REQUEST_BLOCK Srb)
{
    if (Srb->Function != SRB_FUNCTION_STORAGE_REQUEST_BLOCK) {
        return NULL;
    }
    switch (Srb->SrbFunction) {
    case SRB_FUNCTION_POWER:
        return SrbGetSrbExDataByType(Srb, SrbExDataTypePower);
    case SRB_FUNCTION_PNP:
        return SrbGetSrbExDataByType(Srb, SrbExDataTypePnP);
    case SRB_FUNCTION_WMI:
        return SrbGetSrbExDataByType(Srb, SrbExDataTypeWmi);
    case SRB_FUNCTION_EXECUTE_SCSI:
        return SrbHelperGetScsiCdbData(Srb);
    default:
        return NULL;
    }
}

FORCEINLINE PSTOR_ADDRESS SrbGetAddress(_In_ PSTORAGE_REQUEST_BLOCK Srb)
{
    if (Srb->Function != SRB_FUNCTION_STORAGE_REQUEST_BLOCK || Srb->AddressOffset == 0) {
        return NULL;
    }
    return (PSTOR_ADDRESS)SrbHelperBlockAt(Srb, Srb->AddressOffset,
                                           offsetof(STOR_ADDRESS, AddressData));
}

/*
 * Read (any non-NULL out pointer) the SCSI fields of an extended
 * EXECUTE_SCSI SRB and return its CDB; outputs are zeroed and NULL is
 * returned when the SRB carries no CDB block.
 */
FORCEINLINE PCDB SrbGetScsiData(_In_ PSTORAGE_REQUEST_BLOCK SrbEx,
                                _Out_opt_ PUCHAR CdbLength8,
                                _Out_opt_ PULONG CdbLength32,
                                _Out_opt_ PUCHAR ScsiStatus,
                                _Out_opt_ PVOID *SenseInfoBuffer,
                                _Out_opt_ PUCHAR SenseInfoBufferLength)
{
    PSRBEX_DATA data = NULL;
    UCHAR len8 = 0, status = SCSISTAT_GOOD, senseLength = 0;
    ULONG len32 = 0;
    PVOID sense = NULL;
    PCDB cdb = NULL;

    if (SrbEx->Function == SRB_FUNCTION_STORAGE_REQUEST_BLOCK &&
        SrbEx->SrbFunction == SRB_FUNCTION_EXECUTE_SCSI) {
        data = SrbHelperGetScsiCdbData(SrbEx);
    }
    if (data != NULL && data->Type == SrbExDataTypeScsiCdb16) {
        PSRBEX_DATA_SCSI_CDB16 d = (PSRBEX_DATA_SCSI_CDB16)data;
        len8 = d->CdbLength;
        len32 = d->CdbLength;
        status = d->ScsiStatus;
        sense = d->SenseInfoBuffer;
        senseLength = d->SenseInfoBufferLength;
        cdb = d->CdbLength > 0 ? (PCDB)d->Cdb : NULL;
    } else if (data != NULL && data->Type == SrbExDataTypeScsiCdb32) {
        PSRBEX_DATA_SCSI_CDB32 d = (PSRBEX_DATA_SCSI_CDB32)data;
        len8 = d->CdbLength;
        len32 = d->CdbLength;
        status = d->ScsiStatus;
        sense = d->SenseInfoBuffer;
        senseLength = d->SenseInfoBufferLength;
        cdb = d->CdbLength > 0 ? (PCDB)d->Cdb : NULL;
    } else if (data != NULL) {
        PSRBEX_DATA_SCSI_CDB_VAR d = (PSRBEX_DATA_SCSI_CDB_VAR)data;
        len8 = d->CdbLength > 0xFF ? 0xFF : (UCHAR)d->CdbLength;
        len32 = d->CdbLength;
        status = d->ScsiStatus;
        sense = d->SenseInfoBuffer;
        senseLength = d->SenseInfoBufferLength;
        cdb = d->CdbLength > 0 ? (PCDB)d->Cdb : NULL;
    }
    if (CdbLength8 != NULL) {
        *CdbLength8 = len8;
    }
    if (CdbLength32 != NULL) {
        *CdbLength32 = len32;
    }
    if (ScsiStatus != NULL) {
        *ScsiStatus = status;
    }
    if (SenseInfoBuffer != NULL) {
        *SenseInfoBuffer = sense;
    }
    if (SenseInfoBufferLength != NULL) {
        *SenseInfoBufferLength = senseLength;
    }
    return cdb;
}

/* Write the fields whose pointers are non-NULL into the CDB block. */
FORCEINLINE VOID SrbSetScsiData(_In_ PSTORAGE_REQUEST_BLOCK SrbEx,
                                _In_opt_ PUCHAR CdbLength8,
                                _In_opt_ PULONG CdbLength32,
                                _In_opt_ PUCHAR ScsiStatus,
                                _In_opt_ PVOID *SenseInfoBuffer,
                                _In_opt_ PUCHAR SenseInfoBufferLength)
{
    PSRBEX_DATA data;

    if (SrbEx->Function != SRB_FUNCTION_STORAGE_REQUEST_BLOCK ||
        SrbEx->SrbFunction != SRB_FUNCTION_EXECUTE_SCSI) {
        return;
    }
    data = SrbHelperGetScsiCdbData(SrbEx);
    if (data == NULL) {
        return;
    }
    if (data->Type == SrbExDataTypeScsiCdb16 || data->Type == SrbExDataTypeScsiCdb32) {
        /* CDB16 and CDB32 share the layout up to the CDB bytes. */
        PSRBEX_DATA_SCSI_CDB16 d = (PSRBEX_DATA_SCSI_CDB16)data;
        UCHAR limit = data->Type == SrbExDataTypeScsiCdb16 ? 16 : 32;
        if (CdbLength8 != NULL && *CdbLength8 <= limit) {
            d->CdbLength = *CdbLength8;
        }
        if (ScsiStatus != NULL) {
            d->ScsiStatus = *ScsiStatus;
        }
        if (SenseInfoBuffer != NULL) {
            d->SenseInfoBuffer = *SenseInfoBuffer;
        }
        if (SenseInfoBufferLength != NULL) {
            d->SenseInfoBufferLength = *SenseInfoBufferLength;
        }
    } else {
        PSRBEX_DATA_SCSI_CDB_VAR d = (PSRBEX_DATA_SCSI_CDB_VAR)data;
        /* Only shrinking is safe: the CDB bytes were sized by the builder. */
        if (CdbLength32 != NULL && *CdbLength32 <= d->CdbLength) {
            d->CdbLength = *CdbLength32;
        }
        if (ScsiStatus != NULL) {
            d->ScsiStatus = *ScsiStatus;
        }
        if (SenseInfoBuffer != NULL) {
            d->SenseInfoBuffer = *SenseInfoBuffer;
        }
        if (SenseInfoBufferLength != NULL) {
            d->SenseInfoBufferLength = *SenseInfoBufferLength;
        }
    }
}

/* ---- whole-SRB helpers --------------------------------------------- */

FORCEINLINE ULONG SrbGetSrbLength(_In_ PVOID Srb)
{
    PSTORAGE_REQUEST_BLOCK srb = (PSTORAGE_REQUEST_BLOCK)Srb;
    return srb->Function == SRB_FUNCTION_STORAGE_REQUEST_BLOCK ? srb->SrbLength
                                                               : (ULONG)sizeof(SCSI_REQUEST_BLOCK);
}

FORCEINLINE VOID SrbSetSrbLength(_In_ PVOID Srb, _In_ ULONG Length)
{
    PSTORAGE_REQUEST_BLOCK srb = (PSTORAGE_REQUEST_BLOCK)Srb;
    if (srb->Function == SRB_FUNCTION_STORAGE_REQUEST_BLOCK) {
        srb->SrbLength = Length;
    }
}

/* Bytes an extended SRB of this function needs: header, BTL8 address
 * and the function's primary extended data block. */
FORCEINLINE ULONG SrbGetDefaultSrbLengthFromFunction(_In_ ULONG SrbFunction)
{
    ULONG base = (ULONG)(SRB_ALIGN_SIZEOF(STORAGE_REQUEST_BLOCK) + SRB_ALIGN_SIZEOF(STOR_ADDR_BTL8));
    switch (SrbFunction) {
    case SRB_FUNCTION_PNP:
        return base + (ULONG)SRB_ALIGN_SIZEOF(SRBEX_DATA_PNP);
    case SRB_FUNCTION_POWER:
        return base + (ULONG)SRB_ALIGN_SIZEOF(SRBEX_DATA_POWER);
    case SRB_FUNCTION_WMI:
        return base + (ULONG)SRB_ALIGN_SIZEOF(SRBEX_DATA_WMI);
    case SRB_FUNCTION_EXECUTE_SCSI:
        return base + (ULONG)SRB_ALIGN_SIZEOF(SRBEX_DATA_SCSI_CDB16);
    default:
        return base;
    }
}

/* Copy a whole SRB; FALSE (nothing copied) when the destination is too small. */
FORCEINLINE BOOLEAN SrbCopySrb(_Out_writes_bytes_(DestinationSrbLength) PVOID DestinationSrb,
                               _In_ ULONG DestinationSrbLength, _In_ PVOID SourceSrb)
{
    ULONG length = SrbGetSrbLength(SourceSrb);
    if (DestinationSrbLength < length) {
        return FALSE;
    }
    memcpy(DestinationSrb, SourceSrb, length);
    return TRUE;
}

/* Zero an SRB, keeping what identifies its kind and size. */
FORCEINLINE VOID SrbZeroSrb(_Inout_ PVOID Srb)
{
    PSTORAGE_REQUEST_BLOCK srb = (PSTORAGE_REQUEST_BLOCK)Srb;
    UCHAR function = srb->Function;
    USHORT length = srb->Length;

    if (function == SRB_FUNCTION_STORAGE_REQUEST_BLOCK) {
        ULONG srbLength = srb->SrbLength;
        memset(Srb, 0, srbLength);
        srb->SrbLength = srbLength;
    } else {
        memset(Srb, 0, sizeof(SCSI_REQUEST_BLOCK));
    }
    srb->Function = function;
    srb->Length = length;
}

/* ---- per-field accessors ------------------------------------------- */

#define SRBHELPER_IS_EX(Srb) (((PSTORAGE_REQUEST_BLOCK)(Srb))->Function == SRB_FUNCTION_STORAGE_REQUEST_BLOCK)
#define SRBHELPER_EX(Srb) ((PSTORAGE_REQUEST_BLOCK)(Srb))
#define SRBHELPER_SCSI(Srb) ((PSCSI_REQUEST_BLOCK)(Srb))

FORCEINLINE PCDB SrbGetCdb(_In_ PVOID Srb)
{
    if (SRBHELPER_IS_EX(Srb)) {
        return SrbGetScsiData(SRBHELPER_EX(Srb), NULL, NULL, NULL, NULL, NULL);
    }
    return (PCDB)SRBHELPER_SCSI(Srb)->Cdb;
}

FORCEINLINE UCHAR SrbGetCdbLength(_In_ PVOID Srb)
{
    UCHAR length = 0;
    if (SRBHELPER_IS_EX(Srb)) {
        SrbGetScsiData(SRBHELPER_EX(Srb), &length, NULL, NULL, NULL, NULL);
        return length;
    }
    return SRBHELPER_SCSI(Srb)->CdbLength;
}

FORCEINLINE VOID SrbSetCdbLength(_In_ PVOID Srb, _In_ UCHAR CdbLength)
{
    if (SRBHELPER_IS_EX(Srb)) {
        ULONG length32 = CdbLength;
        SrbSetScsiData(SRBHELPER_EX(Srb), &CdbLength, &length32, NULL, NULL, NULL);
    } else {
        SRBHELPER_SCSI(Srb)->CdbLength = CdbLength;
    }
}

FORCEINLINE ULONG SrbGetSrbFunction(_In_ PVOID Srb)
{
    return SRBHELPER_IS_EX(Srb) ? SRBHELPER_EX(Srb)->SrbFunction
                                : (ULONG)SRBHELPER_SCSI(Srb)->Function;
}

/* SrbStatus sits at the same offset in both layouts. */
FORCEINLINE UCHAR SrbGetSrbStatus(_In_ PVOID Srb)
{
    return SRBHELPER_EX(Srb)->SrbStatus;
}

FORCEINLINE VOID SrbSetSrbStatus(_In_ PVOID Srb, _In_ UCHAR SrbStatus)
{
    SRBHELPER_EX(Srb)->SrbStatus = SrbStatus;
}

FORCEINLINE UCHAR SrbGetScsiStatus(_In_ PVOID Srb)
{
    UCHAR status = SCSISTAT_GOOD;
    if (SRBHELPER_IS_EX(Srb)) {
        SrbGetScsiData(SRBHELPER_EX(Srb), NULL, NULL, &status, NULL, NULL);
        return status;
    }
    return SRBHELPER_SCSI(Srb)->ScsiStatus;
}

FORCEINLINE VOID SrbSetScsiStatus(_In_ PVOID Srb, _In_ UCHAR ScsiStatus)
{
    if (SRBHELPER_IS_EX(Srb)) {
        SrbSetScsiData(SRBHELPER_EX(Srb), NULL, NULL, &ScsiStatus, NULL, NULL);
    } else {
        SRBHELPER_SCSI(Srb)->ScsiStatus = ScsiStatus;
    }
}

FORCEINLINE PVOID SrbGetSenseInfoBuffer(_In_ PVOID Srb)
{
    PVOID sense = NULL;
    if (SRBHELPER_IS_EX(Srb)) {
        SrbGetScsiData(SRBHELPER_EX(Srb), NULL, NULL, NULL, &sense, NULL);
        return sense;
    }
    return SRBHELPER_SCSI(Srb)->SenseInfoBuffer;
}

FORCEINLINE VOID SrbSetSenseInfoBuffer(_In_ PVOID Srb, _In_opt_ PVOID SenseInfoBuffer)
{
    if (SRBHELPER_IS_EX(Srb)) {
        SrbSetScsiData(SRBHELPER_EX(Srb), NULL, NULL, NULL, &SenseInfoBuffer, NULL);
    } else {
        SRBHELPER_SCSI(Srb)->SenseInfoBuffer = SenseInfoBuffer;
    }
}

FORCEINLINE UCHAR SrbGetSenseInfoBufferLength(_In_ PVOID Srb)
{
    UCHAR length = 0;
    if (SRBHELPER_IS_EX(Srb)) {
        SrbGetScsiData(SRBHELPER_EX(Srb), NULL, NULL, NULL, NULL, &length);
        return length;
    }
    return SRBHELPER_SCSI(Srb)->SenseInfoBufferLength;
}

FORCEINLINE VOID SrbSetSenseInfoBufferLength(_In_ PVOID Srb, _In_ UCHAR SenseInfoBufferLength)
{
    if (SRBHELPER_IS_EX(Srb)) {
        SrbSetScsiData(SRBHELPER_EX(Srb), NULL, NULL, NULL, NULL, &SenseInfoBufferLength);
    } else {
        SRBHELPER_SCSI(Srb)->SenseInfoBufferLength = SenseInfoBufferLength;
    }
}

FORCEINLINE PVOID SrbGetDataBuffer(_In_ PVOID Srb)
{
    return SRBHELPER_IS_EX(Srb) ? SRBHELPER_EX(Srb)->DataBuffer : SRBHELPER_SCSI(Srb)->DataBuffer;
}

FORCEINLINE VOID SrbSetDataBuffer(_In_ PVOID Srb, _In_opt_ PVOID DataBuffer)
{
    if (SRBHELPER_IS_EX(Srb)) {
        SRBHELPER_EX(Srb)->DataBuffer = DataBuffer;
    } else {
        SRBHELPER_SCSI(Srb)->DataBuffer = DataBuffer;
    }
}

FORCEINLINE ULONG SrbGetDataTransferLength(_In_ PVOID Srb)
{
    return SRBHELPER_IS_EX(Srb) ? SRBHELPER_EX(Srb)->DataTransferLength
                                : SRBHELPER_SCSI(Srb)->DataTransferLength;
}

FORCEINLINE VOID SrbSetDataTransferLength(_In_ PVOID Srb, _In_ ULONG DataTransferLength)
{
    if (SRBHELPER_IS_EX(Srb)) {
        SRBHELPER_EX(Srb)->DataTransferLength = DataTransferLength;
    } else {
        SRBHELPER_SCSI(Srb)->DataTransferLength = DataTransferLength;
    }
}

FORCEINLINE ULONG SrbGetTimeOutValue(_In_ PVOID Srb)
{
    return SRBHELPER_IS_EX(Srb) ? SRBHELPER_EX(Srb)->TimeOutValue : SRBHELPER_SCSI(Srb)->TimeOutValue;
}

FORCEINLINE VOID SrbSetTimeOutValue(_In_ PVOID Srb, _In_ ULONG TimeOutValue)
{
    if (SRBHELPER_IS_EX(Srb)) {
        SRBHELPER_EX(Srb)->TimeOutValue = TimeOutValue;
    } else {
        SRBHELPER_SCSI(Srb)->TimeOutValue = TimeOutValue;
    }
}

FORCEINLINE ULONG SrbGetSrbFlags(_In_ PVOID Srb)
{
    return SRBHELPER_IS_EX(Srb) ? SRBHELPER_EX(Srb)->SrbFlags : SRBHELPER_SCSI(Srb)->SrbFlags;
}

/* Sets the given bits (ORs them in). */
FORCEINLINE VOID SrbSetSrbFlags(_In_ PVOID Srb, _In_ ULONG Flags)
{
    if (SRBHELPER_IS_EX(Srb)) {
        SRBHELPER_EX(Srb)->SrbFlags |= Flags;
    } else {
        SRBHELPER_SCSI(Srb)->SrbFlags |= Flags;
    }
}

/* Replaces all flags. */
FORCEINLINE VOID SrbAssignSrbFlags(_In_ PVOID Srb, _In_ ULONG Flags)
{
    if (SRBHELPER_IS_EX(Srb)) {
        SRBHELPER_EX(Srb)->SrbFlags = Flags;
    } else {
        SRBHELPER_SCSI(Srb)->SrbFlags = Flags;
    }
}

/* Clears the given bits. */
FORCEINLINE VOID SrbClearSrbFlags(_In_ PVOID Srb, _In_ ULONG Flags)
{
    if (SRBHELPER_IS_EX(Srb)) {
        SRBHELPER_EX(Srb)->SrbFlags &= ~Flags;
    } else {
        SRBHELPER_SCSI(Srb)->SrbFlags &= ~Flags;
    }
}

FORCEINLINE ULONG SrbGetSystemStatus(_In_ PVOID Srb)
{
    return SRBHELPER_IS_EX(Srb) ? SRBHELPER_EX(Srb)->SystemStatus
                                : SRBHELPER_SCSI(Srb)->InternalStatus;
}

FORCEINLINE VOID SrbSetSystemStatus(_In_ PVOID Srb, _In_ ULONG Status)
{
    if (SRBHELPER_IS_EX(Srb)) {
        SRBHELPER_EX(Srb)->SystemStatus = Status;
    } else {
        SRBHELPER_SCSI(Srb)->InternalStatus = Status;
    }
}

FORCEINLINE PVOID SrbGetOriginalRequest(_In_ PVOID Srb)
{
    return SRBHELPER_IS_EX(Srb) ? SRBHELPER_EX(Srb)->OriginalRequest
                                : SRBHELPER_SCSI(Srb)->OriginalRequest;
}

FORCEINLINE VOID SrbSetOriginalRequest(_In_ PVOID Srb, _In_opt_ PVOID OriginalRequest)
{
    if (SRBHELPER_IS_EX(Srb)) {
        SRBHELPER_EX(Srb)->OriginalRequest = OriginalRequest;
    } else {
        SRBHELPER_SCSI(Srb)->OriginalRequest = OriginalRequest;
    }
}

FORCEINLINE PVOID SrbGetNextSrb(_In_ PVOID Srb)
{
    return SRBHELPER_IS_EX(Srb) ? (PVOID)SRBHELPER_EX(Srb)->NextSrb
                                : (PVOID)SRBHELPER_SCSI(Srb)->NextSrb;
}

FORCEINLINE VOID SrbSetNextSrb(_In_ PVOID Srb, _In_opt_ PVOID NextSrb)
{
    if (SRBHELPER_IS_EX(Srb)) {
        SRBHELPER_EX(Srb)->NextSrb = (PSTORAGE_REQUEST_BLOCK)NextSrb;
    } else {
        SRBHELPER_SCSI(Srb)->NextSrb = (PSCSI_REQUEST_BLOCK)NextSrb;
    }
}

/* The miniport's per-request storage: SrbExtension of a SCSI_REQUEST_BLOCK,
 * MiniportContext of a STORAGE_REQUEST_BLOCK. */
FORCEINLINE PVOID SrbGetMiniportContext(_In_ PVOID Srb)
{
    return SRBHELPER_IS_EX(Srb) ? SRBHELPER_EX(Srb)->MiniportContext
                                : SRBHELPER_SCSI(Srb)->SrbExtension;
}

FORCEINLINE PVOID SrbGetPortContext(_In_ PVOID Srb)
{
    return SRBHELPER_IS_EX(Srb) ? SRBHELPER_EX(Srb)->PortContext : NULL;
}

FORCEINLINE VOID SrbSetPortContext(_In_ PVOID Srb, _In_opt_ PVOID PortContext)
{
    if (SRBHELPER_IS_EX(Srb)) {
        SRBHELPER_EX(Srb)->PortContext = PortContext;
    }
}

/* Queue tag: QueueTag of a SCSI_REQUEST_BLOCK, RequestTag of an extended SRB. */
FORCEINLINE ULONG SrbGetQueueTag(_In_ PVOID Srb)
{
    return SRBHELPER_IS_EX(Srb) ? SRBHELPER_EX(Srb)->RequestTag
                                : (ULONG)SRBHELPER_SCSI(Srb)->QueueTag;
}

FORCEINLINE VOID SrbSetQueueTag(_In_ PVOID Srb, _In_ ULONG QueueTag)
{
    if (SRBHELPER_IS_EX(Srb)) {
        SRBHELPER_EX(Srb)->RequestTag = QueueTag;
    } else {
        SRBHELPER_SCSI(Srb)->QueueTag = (UCHAR)QueueTag;
    }
}

#define SrbGetRequestTag SrbGetQueueTag
#define SrbSetRequestTag SrbSetQueueTag

/* Queue action: QueueAction of a SCSI_REQUEST_BLOCK, RequestAttribute of
 * an extended SRB. */
FORCEINLINE UCHAR SrbGetRequestAttribute(_In_ PVOID Srb)
{
    return SRBHELPER_IS_EX(Srb) ? (UCHAR)SRBHELPER_EX(Srb)->RequestAttribute
                                : SRBHELPER_SCSI(Srb)->QueueAction;
}

FORCEINLINE VOID SrbSetRequestAttribute(_In_ PVOID Srb, _In_ UCHAR RequestAttribute)
{
    if (SRBHELPER_IS_EX(Srb)) {
        SRBHELPER_EX(Srb)->RequestAttribute = RequestAttribute;
    } else {
        SRBHELPER_SCSI(Srb)->QueueAction = RequestAttribute;
    }
}

#define SrbGetQueueAction SrbGetRequestAttribute
#define SrbSetQueueAction SrbSetRequestAttribute

/* ---- unit address -------------------------------------------------- */

FORCEINLINE PSTOR_ADDR_BTL8 SrbHelperGetBtl8(PVOID Srb)
{
    PSTOR_ADDRESS address = SrbGetAddress(SRBHELPER_EX(Srb));
    if (address == NULL || address->Type != STOR_ADDRESS_TYPE_BTL8 ||
        SrbHelperBlockAt(SRBHELPER_EX(Srb), SRBHELPER_EX(Srb)->AddressOffset,
                         sizeof(STOR_ADDR_BTL8)) == NULL) {
        return NULL;
    }
    return (PSTOR_ADDR_BTL8)address;
}

/* Path, target and LUN (outputs may be NULL); zero when the extended SRB
 * carries no BTL8 address. */
FORCEINLINE VOID SrbGetPathTargetLun(_In_ PVOID Srb, _Out_opt_ PUCHAR PathId,
                                     _Out_opt_ PUCHAR TargetId, _Out_opt_ PUCHAR Lun)
{
    UCHAR path = 0, target = 0, lun = 0;
    if (SRBHELPER_IS_EX(Srb)) {
        PSTOR_ADDR_BTL8 btl = SrbHelperGetBtl8(Srb);
        if (btl != NULL) {
            path = btl->Path;
            target = btl->Target;
            lun = btl->Lun;
        }
    } else {
        path = SRBHELPER_SCSI(Srb)->PathId;
        target = SRBHELPER_SCSI(Srb)->TargetId;
        lun = SRBHELPER_SCSI(Srb)->Lun;
    }
    if (PathId != NULL) {
        *PathId = path;
    }
    if (TargetId != NULL) {
        *TargetId = target;
    }
    if (Lun != NULL) {
        *Lun = lun;
    }
}

FORCEINLINE UCHAR SrbGetPathId(_In_ PVOID Srb)
{
    UCHAR path;
    SrbGetPathTargetLun(Srb, &path, NULL, NULL);
    return path;
}

FORCEINLINE UCHAR SrbGetTargetId(_In_ PVOID Srb)
{
    UCHAR target;
    SrbGetPathTargetLun(Srb, NULL, &target, NULL);
    return target;
}

FORCEINLINE UCHAR SrbGetLun(_In_ PVOID Srb)
{
    UCHAR lun;
    SrbGetPathTargetLun(Srb, NULL, NULL, &lun);
    return lun;
}

#ifdef __cplusplus
}
#endif

#endif /* _SRBHELPER_H_ */
