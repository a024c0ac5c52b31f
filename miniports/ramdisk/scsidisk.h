/*
 * scsidisk.h - the SCSI block-device command set of a simple disk (SPC-4 /
 * SBC-3 subset), as pure functions: CDB decoding, range checks, sense data,
 * INQUIRY / VPD / MODE SENSE / READ CAPACITY / REPORT LUNS builders and
 * UNMAP parameter list validation.
 *
 * Nothing here knows about SRBs, locks or Storport, so it can be unit
 * tested alone and shared by any miniport that emulates a disk.
 *
 * Conventions:
 *  - Every builder writes at most BufferLength bytes and returns (through
 *    *BytesWritten) how many it wrote: allocation-length semantics, the
 *    response is truncated to min(allocation length, buffer length).
 *  - Routines that can reject a command return FALSE and fill *Sense with
 *    the sense key / ASC / ASCQ to report (CHECK CONDITION); TRUE otherwise.
 */
#ifndef USTOR_MINIPORTS_SCSIDISK_H
#define USTOR_MINIPORTS_SCSIDISK_H

#include <ntdef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Sense key / additional sense code / qualifier of a CHECK CONDITION. */
typedef struct _SCSIDISK_SENSE {
    UCHAR SenseKey;
    UCHAR AdditionalSenseCode;
    UCHAR AdditionalSenseCodeQualifier;
} SCSIDISK_SENSE, *PSCSIDISK_SENSE;

/* Size of the fixed-format sense data ScsiDiskBuildSenseData writes. */
#define SCSIDISK_FIXED_SENSE_LENGTH 18

/* What the disk looks like; shared by every builder. */
typedef struct _SCSIDISK_GEOMETRY {
    ULONGLONG BlockCount;          /* logical blocks of the LUN */
    ULONG BlockSize;               /* bytes per logical block: 512 or 4096 */
    ULONG MaxTransferBlocks;       /* largest READ/WRITE, in blocks */
    ULONG MaxUnmapBlocks;          /* MAXIMUM UNMAP LBA COUNT */
    ULONG MaxUnmapDescriptors;     /* MAXIMUM UNMAP BLOCK DESCRIPTOR COUNT */
    ULONGLONG MaxWriteSameBlocks;  /* MAXIMUM WRITE SAME LENGTH */
    BOOLEAN WriteProtected;        /* WP bit; writes fail with DATA PROTECT */
    BOOLEAN WriteCacheEnabled;     /* WCE bit of the caching mode page */
} SCSIDISK_GEOMETRY, *PSCSIDISK_GEOMETRY;

/* Who the disk says it is (INQUIRY and VPD pages 0x80 / 0x83). */
typedef struct _SCSIDISK_IDENTITY {
    PCSTR VendorId;     /* up to 8 ASCII characters, space padded */
    PCSTR ProductId;    /* up to 16 */
    PCSTR ProductRevision; /* up to 4 */
    PCSTR SerialNumber; /* unique per LUN, up to SCSIDISK_MAX_SERIAL */
    ULONGLONG NaaVendorSpecific; /* low 36 bits go into the NAA 5 designator */
} SCSIDISK_IDENTITY, *PSCSIDISK_IDENTITY;

#define SCSIDISK_MAX_SERIAL 32
/* IEEE company id used in the NAA designator (a locally administered
 * placeholder: the disk is simulated). */
#define SCSIDISK_NAA_OUI 0x00A0B0u

/* ---- block commands --------------------------------------------------- */

typedef enum _SCSIDISK_COMMAND_KIND {
    ScsiDiskRead,
    ScsiDiskWrite,
    ScsiDiskVerify,       /* BYTCHK = 0: only the range is checked */
    ScsiDiskSyncCache,
    ScsiDiskWriteSame,
} SCSIDISK_COMMAND_KIND;

/* A decoded READ/WRITE/VERIFY/SYNCHRONIZE CACHE/WRITE SAME CDB. */
typedef struct _SCSIDISK_BLOCK_COMMAND {
    SCSIDISK_COMMAND_KIND Kind;
    ULONGLONG Lba;
    ULONG Blocks;         /* transfer length in blocks (0: nothing to move) */
    BOOLEAN ForceUnitAccess;
    BOOLEAN Unmap;        /* WRITE SAME with the UNMAP bit */
    BOOLEAN NoDataOutBuffer; /* WRITE SAME with NDOB: write zeroes, no data */
    BOOLEAN ToEndOfMedium;   /* SYNCHRONIZE CACHE with NUMBER OF BLOCKS 0 */
} SCSIDISK_BLOCK_COMMAND, *PSCSIDISK_BLOCK_COMMAND;

/* TRUE if Opcode is one ScsiDiskDecodeBlockCommand handles. */
BOOLEAN ScsiDiskIsBlockCommand(UCHAR Opcode);

/* Decodes READ 6/10/12/16, WRITE 6/10/12/16, VERIFY 10/16, SYNCHRONIZE
 * CACHE 10/16 and WRITE SAME 10/16 and checks the range against Geometry
 * (LBA OUT OF RANGE), the transfer against MaxTransferBlocks / the WRITE
 * SAME limit (INVALID FIELD IN CDB) and unsupported bits (protection
 * information, BYTCHK) (INVALID FIELD IN CDB).  Write protection is not
 * checked here (ScsiDiskCheckWritable) so callers can order their checks. */
_Success_(return != FALSE)
BOOLEAN ScsiDiskDecodeBlockCommand(_In_reads_bytes_(CdbLength) const UCHAR *Cdb,
                                   _In_ ULONG CdbLength,
                                   _In_ const SCSIDISK_GEOMETRY *Geometry,
                                   _Out_ PSCSIDISK_BLOCK_COMMAND Command,
                                   _Out_ PSCSIDISK_SENSE Sense);

/* Bytes of data the command moves between host and disk. */
ULONGLONG ScsiDiskBlockCommandDataLength(_In_ const SCSIDISK_BLOCK_COMMAND *Command,
                                         _In_ const SCSIDISK_GEOMETRY *Geometry);

/* TRUE if the command modifies the medium (WRITE, WRITE SAME, UNMAP). */
BOOLEAN ScsiDiskOpcodeWrites(UCHAR Opcode);

/* FALSE with DATA PROTECT / WRITE PROTECTED when the disk is read-only. */
_Success_(return != FALSE)
BOOLEAN ScsiDiskCheckWritable(_In_ const SCSIDISK_GEOMETRY *Geometry,
                              _Out_ PSCSIDISK_SENSE Sense);

/* FALSE with LOGICAL BLOCK ADDRESS OUT OF RANGE if [Lba, Lba+Blocks)
 * leaves the medium (overflow-safe). */
_Success_(return != FALSE)
BOOLEAN ScsiDiskCheckRange(_In_ const SCSIDISK_GEOMETRY *Geometry, ULONGLONG Lba,
                           ULONGLONG Blocks, _Out_ PSCSIDISK_SENSE Sense);

/* ---- sense data -------------------------------------------------------- */

VOID ScsiDiskSetSense(_Out_ PSCSIDISK_SENSE Sense, UCHAR SenseKey, UCHAR Asc, UCHAR Ascq);

/* Writes fixed-format (response code 0x70) sense data, truncated to
 * BufferLength; returns the bytes written. */
ULONG ScsiDiskBuildSenseData(_Out_writes_bytes_(BufferLength) PVOID Buffer, ULONG BufferLength,
                             _In_ const SCSIDISK_SENSE *Sense);

/* ---- data-in commands -------------------------------------------------- */

/* INQUIRY: standard data (EVPD = 0) or VPD pages 0x00, 0x80, 0x83, 0xB0,
 * 0xB2.  An unknown page, CMDDT or a page code with EVPD = 0 gives
 * ILLEGAL REQUEST / INVALID FIELD IN CDB. */
_Success_(return != FALSE)
BOOLEAN ScsiDiskInquiry(_In_reads_bytes_(CdbLength) const UCHAR *Cdb, ULONG CdbLength,
                        _In_ const SCSIDISK_GEOMETRY *Geometry,
                        _In_ const SCSIDISK_IDENTITY *Identity,
                        _Out_writes_bytes_(BufferLength) PVOID Buffer, ULONG BufferLength,
                        _Out_ PULONG BytesWritten, _Out_ PSCSIDISK_SENSE Sense);

/* READ CAPACITY (10): RETURNED LOGICAL BLOCK ADDRESS is 0xFFFFFFFF when
 * the last LBA does not fit in 32 bits. */
_Success_(return != FALSE)
BOOLEAN ScsiDiskReadCapacity10(_In_reads_bytes_(CdbLength) const UCHAR *Cdb, ULONG CdbLength,
                               _In_ const SCSIDISK_GEOMETRY *Geometry,
                               _Out_writes_bytes_(BufferLength) PVOID Buffer, ULONG BufferLength,
                               _Out_ PULONG BytesWritten, _Out_ PSCSIDISK_SENSE Sense);

/* SERVICE ACTION IN (16) / READ CAPACITY (16), with LBPME = LBPRZ = 1. */
_Success_(return != FALSE)
BOOLEAN ScsiDiskReadCapacity16(_In_reads_bytes_(CdbLength) const UCHAR *Cdb, ULONG CdbLength,
                               _In_ const SCSIDISK_GEOMETRY *Geometry,
                               _Out_writes_bytes_(BufferLength) PVOID Buffer, ULONG BufferLength,
                               _Out_ PULONG BytesWritten, _Out_ PSCSIDISK_SENSE Sense);

/* MODE SENSE (6) and (10): pages 0x08 (caching) and 0x3F (all), current,
 * changeable (all zero: nothing can be changed) and default values; saved
 * values give SAVING PARAMETERS NOT SUPPORTED.  WP set when read-only. */
_Success_(return != FALSE)
BOOLEAN ScsiDiskModeSense(_In_reads_bytes_(CdbLength) const UCHAR *Cdb, ULONG CdbLength,
                          _In_ const SCSIDISK_GEOMETRY *Geometry,
                          _Out_writes_bytes_(BufferLength) PVOID Buffer, ULONG BufferLength,
                          _Out_ PULONG BytesWritten, _Out_ PSCSIDISK_SENSE Sense);

/* REPORT LUNS for LUNs 0..LunCount-1 (peripheral device addressing). */
_Success_(return != FALSE)
BOOLEAN ScsiDiskReportLuns(_In_reads_bytes_(CdbLength) const UCHAR *Cdb, ULONG CdbLength,
                           ULONG LunCount,
                           _Out_writes_bytes_(BufferLength) PVOID Buffer, ULONG BufferLength,
                           _Out_ PULONG BytesWritten, _Out_ PSCSIDISK_SENSE Sense);

/* REQUEST SENSE: the disk keeps no deferred errors (sense is returned by
 * autosense), so this reports NO SENSE; DESC = 1 is refused. */
_Success_(return != FALSE)
BOOLEAN ScsiDiskRequestSense(_In_reads_bytes_(CdbLength) const UCHAR *Cdb, ULONG CdbLength,
                             _Out_writes_bytes_(BufferLength) PVOID Buffer, ULONG BufferLength,
                             _Out_ PULONG BytesWritten, _Out_ PSCSIDISK_SENSE Sense);

/* ---- UNMAP -------------------------------------------------------------- */

/* Checks an UNMAP CDB (PARAMETER LIST LENGTH, ANCHOR) and returns the
 * number of parameter bytes the host must supply. */
_Success_(return != FALSE)
BOOLEAN ScsiDiskDecodeUnmap(_In_reads_bytes_(CdbLength) const UCHAR *Cdb, ULONG CdbLength,
                            _Out_ PULONG ParameterListLength, _Out_ PSCSIDISK_SENSE Sense);

/* Validates a whole UNMAP parameter list before anything is unmapped:
 * list length (PARAMETER LIST LENGTH ERROR), data lengths and descriptor
 * count (INVALID FIELD IN PARAMETER LIST), total blocks against
 * MaxUnmapBlocks, every range against the capacity (LBA OUT OF RANGE).
 * *DescriptorCount receives the number of block descriptors. */
_Success_(return != FALSE)
BOOLEAN ScsiDiskValidateUnmapList(_In_reads_bytes_(ListLength) const UCHAR *List, ULONG ListLength,
                                  _In_ const SCSIDISK_GEOMETRY *Geometry,
                                  _Out_ PULONG DescriptorCount, _Out_ PSCSIDISK_SENSE Sense);

/* Descriptor Index of a list ScsiDiskValidateUnmapList accepted. */
VOID ScsiDiskUnmapDescriptor(_In_ const UCHAR *List, ULONG Index,
                             _Out_ PULONGLONG Lba, _Out_ PULONG Blocks);

/* ---- helpers ------------------------------------------------------------ */

/* Length of the CDB for Opcode by its group code (6, 10, 12 or 16), or 0
 * for the vendor-specific / variable-length groups. */
ULONG ScsiDiskCdbLengthForOpcode(UCHAR Opcode);

ULONG ScsiDiskGetBe16(const UCHAR *p);
ULONG ScsiDiskGetBe24(const UCHAR *p);
ULONG ScsiDiskGetBe32(const UCHAR *p);
ULONGLONG ScsiDiskGetBe64(const UCHAR *p);
VOID ScsiDiskPutBe16(UCHAR *p, ULONG v);
VOID ScsiDiskPutBe32(UCHAR *p, ULONG v);
VOID ScsiDiskPutBe64(UCHAR *p, ULONGLONG v);

#ifdef __cplusplus
}
#endif

/* Completes the SCSI side of a failed command on either SRB kind:
 * CHECK CONDITION, nothing transferred, and fixed-format sense when the
 * SRB has room for it and autosense is on.  Returns the SrbStatus to set
 * (SRB_STATUS_ERROR, with SRB_STATUS_AUTOSENSE_VALID when sense was
 * written). */
UCHAR ScsiDiskSrbCheckCondition(PVOID Srb, const SCSIDISK_SENSE *Sense);
UCHAR ScsiDiskSrbCheckConditionCodes(PVOID Srb, UCHAR Key, UCHAR Asc, UCHAR Ascq);

/* GOOD status with BytesTransferred moved; returns SRB_STATUS_SUCCESS. */
UCHAR ScsiDiskSrbGood(PVOID Srb, ULONG BytesTransferred);
/* Whether the SRB's direction flags allow the transfer the CDB implies
 * (no direction flag, or "either", leaves it to the CDB). */
BOOLEAN ScsiDiskSrbDirectionOk(PVOID Srb, BOOLEAN DataIn);

#endif /* USTOR_MINIPORTS_SCSIDISK_H */
