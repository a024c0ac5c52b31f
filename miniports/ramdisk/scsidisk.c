/*
 * scsidisk.c - SPC-4 / SBC-3 subset of a direct-access block device as
 * pure functions (see scsidisk.h).  Field offsets follow the T10 standards.
 */
#include "scsidisk.h"

#include <scsi.h>
#include <storport.h>
#include <srbhelper.h>

/* Names some scsi.h revisions lack; values from SPC-4 / SBC-3. */
#ifndef SCSIOP_WRITE_SAME
#define SCSIOP_WRITE_SAME 0x41
#endif
#ifndef SCSIOP_UNMAP
#define SCSIOP_UNMAP 0x42
#endif
#ifndef SCSIOP_WRITE_SAME16
#define SCSIOP_WRITE_SAME16 0x93
#endif
#ifndef SCSIOP_VERIFY16
#define SCSIOP_VERIFY16 0x8F
#endif
#ifndef SCSIOP_SYNCHRONIZE_CACHE16
#define SCSIOP_SYNCHRONIZE_CACHE16 0x91
#endif
#ifndef SCSIOP_READ_CAPACITY16
#define SCSIOP_READ_CAPACITY16 0x9E
#endif
#ifndef SERVICE_ACTION_READ_CAPACITY16
#define SERVICE_ACTION_READ_CAPACITY16 0x10
#endif
#ifndef SCSI_ADSENSE_PARAMETER_LIST_LENGTH
#define SCSI_ADSENSE_PARAMETER_LIST_LENGTH 0x1A
#endif
#ifndef SCSI_ADSENSE_INVALID_FIELD_PARAMETER_LIST
#define SCSI_ADSENSE_INVALID_FIELD_PARAMETER_LIST 0x26
#endif
#ifndef SCSI_ADSENSE_WRITE_PROTECT
#define SCSI_ADSENSE_WRITE_PROTECT 0x27
#endif
#ifndef SCSI_ADSENSE_SAVING_PARAMETERS_NOT_SUPPORTED
#define SCSI_ADSENSE_SAVING_PARAMETERS_NOT_SUPPORTED 0x39
#endif
#ifndef VPD_BLOCK_LIMITS
#define VPD_BLOCK_LIMITS 0xB0
#endif
#ifndef VPD_LOGICAL_BLOCK_PROVISIONING
#define VPD_LOGICAL_BLOCK_PROVISIONING 0xB2
#endif

/* Largest response any builder produces: REPORT LUNS for 256 LUNs. */
#define SCSIDISK_MAX_RESPONSE (8 + 256 * 8)

/* ---- byte order -------------------------------------------------------- */

ULONG ScsiDiskGetBe16(const UCHAR *p) { return ((ULONG)p[0] << 8) | p[1]; }
ULONG ScsiDiskGetBe24(const UCHAR *p) { return ((ULONG)p[0] << 16) | ((ULONG)p[1] << 8) | p[2]; }
ULONG ScsiDiskGetBe32(const UCHAR *p)
{
    return ((ULONG)p[0] << 24) | ((ULONG)p[1] << 16) | ((ULONG)p[2] << 8) | p[3];
}
ULONGLONG ScsiDiskGetBe64(const UCHAR *p)
{
    return ((ULONGLONG)ScsiDiskGetBe32(p) << 32) | ScsiDiskGetBe32(p + 4);
}
VOID ScsiDiskPutBe16(UCHAR *p, ULONG v)
{
    p[0] = (UCHAR)(v >> 8);
    p[1] = (UCHAR)v;
}
VOID ScsiDiskPutBe32(UCHAR *p, ULONG v)
{
    p[0] = (UCHAR)(v >> 24);
    p[1] = (UCHAR)(v >> 16);
    p[2] = (UCHAR)(v >> 8);
    p[3] = (UCHAR)v;
}
VOID ScsiDiskPutBe64(UCHAR *p, ULONGLONG v)
{
    ScsiDiskPutBe32(p, (ULONG)(v >> 32));
    ScsiDiskPutBe32(p + 4, (ULONG)v);
}

ULONG ScsiDiskCdbLengthForOpcode(UCHAR Opcode)
{
    switch (Opcode >> 5) { /* the group code */
    case 0: return 6;
    case 1: case 2: return 10;
    case 4: return 16;
    case 5: return 12;
    default: return 0;
    }
}

/* ---- sense ------------------------------------------------------------- */

VOID ScsiDiskSetSense(PSCSIDISK_SENSE Sense, UCHAR SenseKey, UCHAR Asc, UCHAR Ascq)
{
    Sense->SenseKey = SenseKey;
    Sense->AdditionalSenseCode = Asc;
    Sense->AdditionalSenseCodeQualifier = Ascq;
}

static BOOLEAN InvalidFieldInCdb(PSCSIDISK_SENSE Sense)
{
    ScsiDiskSetSense(Sense, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ADSENSE_INVALID_CDB, 0);
    return FALSE;
}

static BOOLEAN InvalidFieldInParameterList(PSCSIDISK_SENSE Sense)
{
    ScsiDiskSetSense(Sense, SCSI_SENSE_ILLEGAL_REQUEST,
                     SCSI_ADSENSE_INVALID_FIELD_PARAMETER_LIST, 0);
    return FALSE;
}

ULONG ScsiDiskBuildSenseData(PVOID Buffer, ULONG BufferLength, const SCSIDISK_SENSE *Sense)
{
    UCHAR sense[SCSIDISK_FIXED_SENSE_LENGTH] = {0};
    ULONG n = BufferLength < sizeof(sense) ? BufferLength : (ULONG)sizeof(sense);

    sense[0] = 0x70;                               /* current error, fixed format */
    sense[2] = Sense->SenseKey & 0x0F;
    sense[7] = SCSIDISK_FIXED_SENSE_LENGTH - 8;   /* ADDITIONAL SENSE LENGTH */
    sense[12] = Sense->AdditionalSenseCode;
    sense[13] = Sense->AdditionalSenseCodeQualifier;
    if (Buffer != NULL && n > 0)
        memcpy(Buffer, sense, n);
    return Buffer != NULL ? n : 0;
}

/* Copies a built response, honouring both the CDB's allocation length and
 * the host buffer. */
static VOID CopyResponse(const UCHAR *Response, ULONG ResponseLength, ULONG AllocationLength,
                         PVOID Buffer, ULONG BufferLength, PULONG BytesWritten)
{
    ULONG n = ResponseLength;

    if (n > AllocationLength)
        n = AllocationLength;
    if (n > BufferLength)
        n = BufferLength;
    if (Buffer == NULL)
        n = 0;
    if (n > 0)
        memcpy(Buffer, Response, n);
    *BytesWritten = n;
}

/* ---- block commands ---------------------------------------------------- */

BOOLEAN ScsiDiskIsBlockCommand(UCHAR Opcode)
{
    switch (Opcode) {
    case SCSIOP_READ6: case SCSIOP_READ: case SCSIOP_READ12: case SCSIOP_READ16:
    case SCSIOP_WRITE6: case SCSIOP_WRITE: case SCSIOP_WRITE12: case SCSIOP_WRITE16:
    case SCSIOP_VERIFY: case SCSIOP_VERIFY16:
    case SCSIOP_SYNCHRONIZE_CACHE: case SCSIOP_SYNCHRONIZE_CACHE16:
    case SCSIOP_WRITE_SAME: case SCSIOP_WRITE_SAME16:
        return TRUE;
    default:
        return FALSE;
    }
}

BOOLEAN ScsiDiskOpcodeWrites(UCHAR Opcode)
{
    switch (Opcode) {
    case SCSIOP_WRITE6: case SCSIOP_WRITE: case SCSIOP_WRITE12: case SCSIOP_WRITE16:
    case SCSIOP_WRITE_SAME: case SCSIOP_WRITE_SAME16: case SCSIOP_UNMAP:
        return TRUE;
    default:
        return FALSE;
    }
}

BOOLEAN ScsiDiskCheckWritable(const SCSIDISK_GEOMETRY *Geometry, PSCSIDISK_SENSE Sense)
{
    if (Geometry->WriteProtected) {
        ScsiDiskSetSense(Sense, SCSI_SENSE_DATA_PROTECT, SCSI_ADSENSE_WRITE_PROTECT, 0);
        return FALSE;
    }
    ScsiDiskSetSense(Sense, SCSI_SENSE_NO_SENSE, 0, 0);
    return TRUE;
}

BOOLEAN ScsiDiskCheckRange(const SCSIDISK_GEOMETRY *Geometry, ULONGLONG Lba, ULONGLONG Blocks,
                           PSCSIDISK_SENSE Sense)
{
    /* Written as two comparisons so Lba + Blocks cannot wrap. */
    if (Lba > Geometry->BlockCount || Blocks > Geometry->BlockCount - Lba) {
        ScsiDiskSetSense(Sense, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ADSENSE_ILLEGAL_BLOCK, 0);
        return FALSE;
    }
    ScsiDiskSetSense(Sense, SCSI_SENSE_NO_SENSE, 0, 0);
    return TRUE;
}

BOOLEAN ScsiDiskDecodeBlockCommand(const UCHAR *Cdb, ULONG CdbLength,
                                   const SCSIDISK_GEOMETRY *Geometry,
                                   PSCSIDISK_BLOCK_COMMAND Command, PSCSIDISK_SENSE Sense)
{
    UCHAR opcode;
    UCHAR protect = 0; /* RDPROTECT / WRPROTECT / VRPROTECT */
    ULONG needed;

    memset(Command, 0, sizeof(*Command));
    ScsiDiskSetSense(Sense, SCSI_SENSE_NO_SENSE, 0, 0);
    if (Cdb == NULL || CdbLength == 0)
        return InvalidFieldInCdb(Sense);
    opcode = Cdb[0];
    needed = ScsiDiskCdbLengthForOpcode(opcode);
    if (!ScsiDiskIsBlockCommand(opcode)) {
        ScsiDiskSetSense(Sense, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ADSENSE_ILLEGAL_COMMAND, 0);
        return FALSE;
    }
    if (CdbLength < needed)
        return InvalidFieldInCdb(Sense);

    switch (opcode) {
    case SCSIOP_READ6:
    case SCSIOP_WRITE6:
        Command->Kind = opcode == SCSIOP_READ6 ? ScsiDiskRead : ScsiDiskWrite;
        Command->Lba = ScsiDiskGetBe24(&Cdb[1]) & 0x1FFFFF;
        /* TRANSFER LENGTH 0 means 256 blocks for the 6-byte commands. */
        Command->Blocks = Cdb[4] == 0 ? 256 : Cdb[4];
        break;
    case SCSIOP_READ:
    case SCSIOP_WRITE:
    case SCSIOP_VERIFY:
        Command->Kind = opcode == SCSIOP_READ ? ScsiDiskRead
                      : opcode == SCSIOP_WRITE ? ScsiDiskWrite : ScsiDiskVerify;
        protect = Cdb[1] >> 5;
        Command->ForceUnitAccess = (Cdb[1] & 0x08) != 0;
        Command->Lba = ScsiDiskGetBe32(&Cdb[2]);
        Command->Blocks = ScsiDiskGetBe16(&Cdb[7]);
        break;
    case SCSIOP_READ12:
    case SCSIOP_WRITE12:
        Command->Kind = opcode == SCSIOP_READ12 ? ScsiDiskRead : ScsiDiskWrite;
        protect = Cdb[1] >> 5;
        Command->ForceUnitAccess = (Cdb[1] & 0x08) != 0;
        Command->Lba = ScsiDiskGetBe32(&Cdb[2]);
        Command->Blocks = ScsiDiskGetBe32(&Cdb[6]);
        break;
    case SCSIOP_READ16:
    case SCSIOP_WRITE16:
    case SCSIOP_VERIFY16:
        Command->Kind = opcode == SCSIOP_READ16 ? ScsiDiskRead
                      : opcode == SCSIOP_WRITE16 ? ScsiDiskWrite : ScsiDiskVerify;
        protect = Cdb[1] >> 5;
        Command->ForceUnitAccess = (Cdb[1] & 0x08) != 0;
        Command->Lba = ScsiDiskGetBe64(&Cdb[2]);
        Command->Blocks = ScsiDiskGetBe32(&Cdb[10]);
        break;
    case SCSIOP_SYNCHRONIZE_CACHE:
        Command->Kind = ScsiDiskSyncCache;
        Command->Lba = ScsiDiskGetBe32(&Cdb[2]);
        Command->Blocks = ScsiDiskGetBe16(&Cdb[7]);
        break;
    case SCSIOP_SYNCHRONIZE_CACHE16:
        Command->Kind = ScsiDiskSyncCache;
        Command->Lba = ScsiDiskGetBe64(&Cdb[2]);
        Command->Blocks = ScsiDiskGetBe32(&Cdb[10]);
        break;
    case SCSIOP_WRITE_SAME:
    case SCSIOP_WRITE_SAME16:
        Command->Kind = ScsiDiskWriteSame;
        protect = Cdb[1] >> 5;
        Command->Unmap = (Cdb[1] & 0x08) != 0;
        if (Cdb[1] & 0x10) /* ANCHOR: no anchored state on this disk */
            return InvalidFieldInCdb(Sense);
        if (opcode == SCSIOP_WRITE_SAME16) {
            Command->NoDataOutBuffer = (Cdb[1] & 0x01) != 0;
            Command->Lba = ScsiDiskGetBe64(&Cdb[2]);
            Command->Blocks = ScsiDiskGetBe32(&Cdb[10]);
        } else {
            Command->Lba = ScsiDiskGetBe32(&Cdb[2]);
            Command->Blocks = ScsiDiskGetBe16(&Cdb[7]);
        }
        /* WSNZ = 1 in the Block Limits page: zero blocks is not allowed,
         * nor is more than MAXIMUM WRITE SAME LENGTH. */
        if (Command->Blocks == 0 || Command->Blocks > Geometry->MaxWriteSameBlocks)
            return InvalidFieldInCdb(Sense);
        break;
    default:
        return InvalidFieldInCdb(Sense);
    }

    /* No protection information on this disk. */
    if (protect != 0)
        return InvalidFieldInCdb(Sense);
    /* VERIFY with BYTCHK != 0 would compare data: not supported. */
    if (Command->Kind == ScsiDiskVerify && (Cdb[1] & 0x06) != 0)
        return InvalidFieldInCdb(Sense);

    if (Command->Kind == ScsiDiskSyncCache && Command->Blocks == 0) {
        /* NUMBER OF LOGICAL BLOCKS 0: from LBA to the end of the medium. */
        Command->ToEndOfMedium = TRUE;
        if (!ScsiDiskCheckRange(Geometry, Command->Lba, 0, Sense))
            return FALSE;
        if (Command->Lba == Geometry->BlockCount) {
            ScsiDiskSetSense(Sense, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ADSENSE_ILLEGAL_BLOCK, 0);
            return FALSE;
        }
        return TRUE;
    }
    if (!ScsiDiskCheckRange(Geometry, Command->Lba, Command->Blocks, Sense))
        return FALSE;
    if ((Command->Kind == ScsiDiskRead || Command->Kind == ScsiDiskWrite) &&
        Command->Blocks > Geometry->MaxTransferBlocks)
        return InvalidFieldInCdb(Sense);
    return TRUE;
}

ULONGLONG ScsiDiskBlockCommandDataLength(const SCSIDISK_BLOCK_COMMAND *Command,
                                         const SCSIDISK_GEOMETRY *Geometry)
{
    switch (Command->Kind) {
    case ScsiDiskRead:
    case ScsiDiskWrite:
        return (ULONGLONG)Command->Blocks * Geometry->BlockSize;
    case ScsiDiskWriteSame:
        return Command->NoDataOutBuffer ? 0 : Geometry->BlockSize;
    default:
        return 0;
    }
}

/* ---- INQUIRY ----------------------------------------------------------- */

static VOID PutPadded(UCHAR *Dest, ULONG Width, PCSTR Text)
{
    ULONG i = 0;

    memset(Dest, ' ', Width);
    if (Text == NULL)
        return;
    for (; i < Width && Text[i] != '\0'; i++)
        Dest[i] = (UCHAR)Text[i];
}

static ULONG SerialLength(PCSTR Serial)
{
    ULONG n = 0;

    while (Serial != NULL && n < SCSIDISK_MAX_SERIAL && Serial[n] != '\0')
        n++;
    return n;
}

static ULONG BuildStandardInquiry(const SCSIDISK_IDENTITY *Identity, UCHAR *r)
{
    r[0] = DIRECT_ACCESS_DEVICE;     /* qualifier 0: connected */
    r[1] = 0;                        /* not removable */
    r[2] = 0x06;                     /* VERSION: SPC-4 */
    r[3] = 0x10 | 0x02;              /* HISUP, RESPONSE DATA FORMAT 2 */
    r[4] = 36 - 5;                   /* ADDITIONAL LENGTH */
    r[5] = 0;                        /* no ACC, TPGS, 3PC, PROTECT */
    r[6] = 0;
    r[7] = 0x02;                     /* CMDQUE: tagged queuing */
    PutPadded(&r[8], 8, Identity->VendorId);
    PutPadded(&r[16], 16, Identity->ProductId);
    PutPadded(&r[32], 4, Identity->ProductRevision);
    return 36;
}

static const UCHAR SupportedVpdPages[] = {
    VPD_SUPPORTED_PAGES, VPD_SERIAL_NUMBER, VPD_DEVICE_IDENTIFIERS,
    VPD_BLOCK_LIMITS, VPD_LOGICAL_BLOCK_PROVISIONING,
};

static ULONG BuildVpdPage(UCHAR Page, const SCSIDISK_GEOMETRY *Geometry,
                          const SCSIDISK_IDENTITY *Identity, UCHAR *r)
{
    ULONG len = 0; /* bytes after the 4-byte header */
    ULONG serial = SerialLength(Identity->SerialNumber);
    UCHAR *d;

    r[0] = DIRECT_ACCESS_DEVICE;
    r[1] = Page;
    switch (Page) {
    case VPD_SUPPORTED_PAGES:
        len = sizeof(SupportedVpdPages);
        memcpy(&r[4], SupportedVpdPages, len);
        break;
    case VPD_SERIAL_NUMBER:
        len = serial;
        if (serial > 0)
            memcpy(&r[4], Identity->SerialNumber, serial);
        break;
    case VPD_DEVICE_IDENTIFIERS:
        /* Designator 1: NAA IEEE Registered (NAA 5), binary, LU association. */
        d = &r[4];
        d[0] = 0x01;            /* PROTOCOL IDENTIFIER 0, CODE SET binary */
        d[1] = 0x03;            /* PIV 0, ASSOCIATION LU, TYPE NAA */
        d[3] = 8;
        ScsiDiskPutBe64(&d[4], (0x5ull << 60) | ((ULONGLONG)SCSIDISK_NAA_OUI << 36) |
                                   (Identity->NaaVendorSpecific & 0xFFFFFFFFFull));
        len = 12;
        /* Designator 2: T10 vendor ID based, ASCII: vendor + product + serial. */
        d = &r[4 + len];
        d[0] = 0x02;            /* CODE SET ASCII */
        d[1] = 0x01;            /* ASSOCIATION LU, TYPE T10 VENDOR ID */
        PutPadded(&d[4], 8, Identity->VendorId);
        PutPadded(&d[12], 16, Identity->ProductId);
        if (serial > 0)
            memcpy(&d[28], Identity->SerialNumber, serial);
        d[3] = (UCHAR)(24 + serial);
        len += 4 + 24 + serial;
        break;
    case VPD_BLOCK_LIMITS:
        len = 0x3C;
        r[4] = 0x01;                                   /* WSNZ */
        ScsiDiskPutBe16(&r[6], 1);                     /* OPTIMAL TRANSFER LENGTH GRANULARITY */
        ScsiDiskPutBe32(&r[8], Geometry->MaxTransferBlocks);   /* MAXIMUM TRANSFER LENGTH */
        ScsiDiskPutBe32(&r[12], Geometry->MaxTransferBlocks);  /* OPTIMAL TRANSFER LENGTH */
        ScsiDiskPutBe32(&r[20], Geometry->MaxUnmapBlocks);     /* MAXIMUM UNMAP LBA COUNT */
        ScsiDiskPutBe32(&r[24], Geometry->MaxUnmapDescriptors);/* MAXIMUM UNMAP BLOCK DESCRIPTOR COUNT */
        ScsiDiskPutBe32(&r[28], 1);                    /* OPTIMAL UNMAP GRANULARITY */
        ScsiDiskPutBe32(&r[32], 0x80000000u);          /* UGAVALID, alignment 0 */
        ScsiDiskPutBe64(&r[36], Geometry->MaxWriteSameBlocks); /* MAXIMUM WRITE SAME LENGTH */
        break;
    case VPD_LOGICAL_BLOCK_PROVISIONING:
        len = 4;
        r[4] = 0;                                      /* THRESHOLD EXPONENT */
        r[5] = 0x80 | 0x40 | 0x20 | 0x04;              /* LBPU, LBPWS, LBPWS10, LBPRZ = 1 */
        r[6] = 0x02;                                   /* PROVISIONING TYPE: thin */
        break;
    default:
        return 0;
    }
    ScsiDiskPutBe16(&r[2], len);
    return 4 + len;
}

BOOLEAN ScsiDiskInquiry(const UCHAR *Cdb, ULONG CdbLength, const SCSIDISK_GEOMETRY *Geometry,
                        const SCSIDISK_IDENTITY *Identity, PVOID Buffer, ULONG BufferLength,
                        PULONG BytesWritten, PSCSIDISK_SENSE Sense)
{
    UCHAR response[256] = {0};
    ULONG length;
    UCHAR page;

    *BytesWritten = 0;
    ScsiDiskSetSense(Sense, SCSI_SENSE_NO_SENSE, 0, 0);
    if (CdbLength < 6)
        return InvalidFieldInCdb(Sense);
    page = Cdb[2];
    if (Cdb[1] & 0x02) /* CMDDT (obsolete) */
        return InvalidFieldInCdb(Sense);
    if (!(Cdb[1] & 0x01)) {
        if (page != 0)
            return InvalidFieldInCdb(Sense);
        length = BuildStandardInquiry(Identity, response);
    } else {
        length = BuildVpdPage(page, Geometry, Identity, response);
        if (length == 0)
            return InvalidFieldInCdb(Sense);
    }
    CopyResponse(response, length, ScsiDiskGetBe16(&Cdb[3]), Buffer, BufferLength, BytesWritten);
    return TRUE;
}

/* ---- READ CAPACITY ----------------------------------------------------- */

BOOLEAN ScsiDiskReadCapacity10(const UCHAR *Cdb, ULONG CdbLength, const SCSIDISK_GEOMETRY *Geometry,
                               PVOID Buffer, ULONG BufferLength, PULONG BytesWritten,
                               PSCSIDISK_SENSE Sense)
{
    UCHAR response[8];
    ULONGLONG last = Geometry->BlockCount - 1;

    *BytesWritten = 0;
    ScsiDiskSetSense(Sense, SCSI_SENSE_NO_SENSE, 0, 0);
    if (CdbLength < 10)
        return InvalidFieldInCdb(Sense);
    /* PMI = 0 requires LOGICAL BLOCK ADDRESS = 0 (SBC-3). */
    if (!(Cdb[8] & 0x01) && ScsiDiskGetBe32(&Cdb[2]) != 0)
        return InvalidFieldInCdb(Sense);
    /* 0xFFFFFFFF tells the host to use READ CAPACITY (16). */
    ScsiDiskPutBe32(&response[0], last > 0xFFFFFFFEull ? 0xFFFFFFFFu : (ULONG)last);
    ScsiDiskPutBe32(&response[4], Geometry->BlockSize);
    CopyResponse(response, sizeof(response), sizeof(response), Buffer, BufferLength, BytesWritten);
    return TRUE;
}

BOOLEAN ScsiDiskReadCapacity16(const UCHAR *Cdb, ULONG CdbLength, const SCSIDISK_GEOMETRY *Geometry,
                               PVOID Buffer, ULONG BufferLength, PULONG BytesWritten,
                               PSCSIDISK_SENSE Sense)
{
    UCHAR response[32] = {0};

    *BytesWritten = 0;
    ScsiDiskSetSense(Sense, SCSI_SENSE_NO_SENSE, 0, 0);
    if (CdbLength < 16 || (Cdb[1] & 0x1F) != SERVICE_ACTION_READ_CAPACITY16)
        return InvalidFieldInCdb(Sense);
    ScsiDiskPutBe64(&response[0], Geometry->BlockCount - 1);
    ScsiDiskPutBe32(&response[8], Geometry->BlockSize);
    response[14] = 0x80 | 0x40; /* LBPME, LBPRZ; lowest aligned LBA 0 */
    CopyResponse(response, sizeof(response), ScsiDiskGetBe32(&Cdb[10]), Buffer, BufferLength,
                 BytesWritten);
    return TRUE;
}

/* ---- MODE SENSE -------------------------------------------------------- */

#define CACHING_PAGE_LENGTH 20

static ULONG BuildCachingPage(const SCSIDISK_GEOMETRY *Geometry, UCHAR PageControl, UCHAR *p)
{
    memset(p, 0, CACHING_PAGE_LENGTH);
    p[0] = MODE_PAGE_CACHING;       /* PS = 0: not savable */
    p[1] = CACHING_PAGE_LENGTH - 2;
    /* Changeable values (PC = 1) are a mask: nothing can be changed. */
    if (PageControl != 1 && Geometry->WriteCacheEnabled)
        p[2] = 0x04;                /* WCE */
    return CACHING_PAGE_LENGTH;
}

BOOLEAN ScsiDiskModeSense(const UCHAR *Cdb, ULONG CdbLength, const SCSIDISK_GEOMETRY *Geometry,
                          PVOID Buffer, ULONG BufferLength, PULONG BytesWritten,
                          PSCSIDISK_SENSE Sense)
{
    UCHAR response[64] = {0};
    BOOLEAN ten = Cdb != NULL && CdbLength > 0 && Cdb[0] == SCSIOP_MODE_SENSE10;
    ULONG header = ten ? 8 : 4;
    ULONG descriptorLength = 0;
    ULONG length, allocation;
    BOOLEAN disableBlockDescriptors, longLba;
    UCHAR pageControl, page, subpage;

    *BytesWritten = 0;
    ScsiDiskSetSense(Sense, SCSI_SENSE_NO_SENSE, 0, 0);
    if (Cdb == NULL || CdbLength < (ten ? 10u : 6u))
        return InvalidFieldInCdb(Sense);
    disableBlockDescriptors = (Cdb[1] & 0x08) != 0;
    longLba = ten && (Cdb[1] & 0x10) != 0;
    pageControl = Cdb[2] >> 6;
    page = Cdb[2] & 0x3F;
    subpage = Cdb[3];
    allocation = ten ? ScsiDiskGetBe16(&Cdb[7]) : Cdb[4];

    if (pageControl == 3) {
        ScsiDiskSetSense(Sense, SCSI_SENSE_ILLEGAL_REQUEST,
                         SCSI_ADSENSE_SAVING_PARAMETERS_NOT_SUPPORTED, 0);
        return FALSE;
    }
    if (page != MODE_PAGE_CACHING && page != MODE_SENSE_RETURN_ALL)
        return InvalidFieldInCdb(Sense);
    /* Subpages: none, except "all subpages" (0xFF) with page 0x3F. */
    if (subpage != 0 && !(page == MODE_SENSE_RETURN_ALL && subpage == 0xFF))
        return InvalidFieldInCdb(Sense);

    /* Device-specific parameter: WP and DPOFUA (FUA is honoured). */
    response[ten ? 3 : 2] = (UCHAR)((Geometry->WriteProtected ? 0x80 : 0) | 0x10);

    if (!disableBlockDescriptors) {
        UCHAR *bd = &response[header];
        if (longLba) {
            descriptorLength = 16;
            response[4] = 0x01; /* LONGLBA */
            ScsiDiskPutBe64(&bd[0], Geometry->BlockCount);
            ScsiDiskPutBe32(&bd[12], Geometry->BlockSize);
        } else {
            ULONGLONG blocks = Geometry->BlockCount;
            descriptorLength = 8;
            /* Short LBA descriptor: NUMBER OF LOGICAL BLOCKS saturates at
             * 0xFFFFFFFF; then a reserved byte and a 24-bit block length. */
            ScsiDiskPutBe32(&bd[0], blocks > 0xFFFFFFFFull ? 0xFFFFFFFFu : (ULONG)blocks);
            ScsiDiskPutBe32(&bd[4], Geometry->BlockSize & 0xFFFFFF); /* density 0 */
        }
    }
    if (ten)
        ScsiDiskPutBe16(&response[6], descriptorLength);
    else
        response[3] = (UCHAR)descriptorLength;

    length = header + descriptorLength;
    length += BuildCachingPage(Geometry, pageControl, &response[length]);

    /* MODE DATA LENGTH excludes itself. */
    if (ten)
        ScsiDiskPutBe16(&response[0], length - 2);
    else
        response[0] = (UCHAR)(length - 1);
    CopyResponse(response, length, allocation, Buffer, BufferLength, BytesWritten);
    return TRUE;
}

/* ---- REPORT LUNS / REQUEST SENSE ---------------------------------------- */

BOOLEAN ScsiDiskReportLuns(const UCHAR *Cdb, ULONG CdbLength, ULONG LunCount, PVOID Buffer,
                           ULONG BufferLength, PULONG BytesWritten, PSCSIDISK_SENSE Sense)
{
    UCHAR response[SCSIDISK_MAX_RESPONSE] = {0};
    ULONG allocation, i;
    UCHAR select;

    *BytesWritten = 0;
    ScsiDiskSetSense(Sense, SCSI_SENSE_NO_SENSE, 0, 0);
    if (CdbLength < 12 || LunCount > 256)
        return InvalidFieldInCdb(Sense);
    select = Cdb[2];
    allocation = ScsiDiskGetBe32(&Cdb[6]);
    /* SELECT REPORT 0 (all), 1 (well known: none here), 2 (all). */
    if (select > 2 || allocation < 16)
        return InvalidFieldInCdb(Sense);
    if (select == 1)
        LunCount = 0;
    ScsiDiskPutBe32(&response[0], LunCount * 8);
    for (i = 0; i < LunCount; i++) {
        /* Peripheral device addressing (bus 0) for LUN < 256. */
        response[8 + i * 8 + 1] = (UCHAR)i;
    }
    CopyResponse(response, 8 + LunCount * 8, allocation, Buffer, BufferLength, BytesWritten);
    return TRUE;
}

BOOLEAN ScsiDiskRequestSense(const UCHAR *Cdb, ULONG CdbLength, PVOID Buffer, ULONG BufferLength,
                             PULONG BytesWritten, PSCSIDISK_SENSE Sense)
{
    UCHAR response[SCSIDISK_FIXED_SENSE_LENGTH];
    SCSIDISK_SENSE none;

    *BytesWritten = 0;
    ScsiDiskSetSense(Sense, SCSI_SENSE_NO_SENSE, 0, 0);
    if (CdbLength < 6 || (Cdb[1] & 0x01)) /* DESC: descriptor format not supported */
        return InvalidFieldInCdb(Sense);
    ScsiDiskSetSense(&none, SCSI_SENSE_NO_SENSE, 0, 0);
    ScsiDiskBuildSenseData(response, sizeof(response), &none);
    CopyResponse(response, sizeof(response), Cdb[4], Buffer, BufferLength, BytesWritten);
    return TRUE;
}

/* ---- UNMAP ---------------------------------------------------------------- */

#define UNMAP_HEADER_LENGTH 8
#define UNMAP_DESCRIPTOR_LENGTH 16

BOOLEAN ScsiDiskDecodeUnmap(const UCHAR *Cdb, ULONG CdbLength, PULONG ParameterListLength,
                            PSCSIDISK_SENSE Sense)
{
    *ParameterListLength = 0;
    ScsiDiskSetSense(Sense, SCSI_SENSE_NO_SENSE, 0, 0);
    if (CdbLength < 10 || (Cdb[1] & 0x01)) /* ANCHOR */
        return InvalidFieldInCdb(Sense);
    *ParameterListLength = ScsiDiskGetBe16(&Cdb[7]);
    /* Zero is legal (nothing to do); 1..7 cannot hold the header. */
    if (*ParameterListLength > 0 && *ParameterListLength < UNMAP_HEADER_LENGTH) {
        ScsiDiskSetSense(Sense, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ADSENSE_PARAMETER_LIST_LENGTH, 0);
        return FALSE;
    }
    return TRUE;
}

BOOLEAN ScsiDiskValidateUnmapList(const UCHAR *List, ULONG ListLength,
                                  const SCSIDISK_GEOMETRY *Geometry, PULONG DescriptorCount,
                                  PSCSIDISK_SENSE Sense)
{
    ULONG dataLength, descriptorBytes, count, i;
    ULONGLONG total = 0;

    *DescriptorCount = 0;
    ScsiDiskSetSense(Sense, SCSI_SENSE_NO_SENSE, 0, 0);
    if (ListLength == 0)
        return TRUE;
    if (List == NULL || ListLength < UNMAP_HEADER_LENGTH) {
        ScsiDiskSetSense(Sense, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ADSENSE_PARAMETER_LIST_LENGTH, 0);
        return FALSE;
    }
    dataLength = ScsiDiskGetBe16(&List[0]);       /* UNMAP DATA LENGTH (n - 1 - 1) */
    descriptorBytes = ScsiDiskGetBe16(&List[2]);  /* UNMAP BLOCK DESCRIPTOR DATA LENGTH */
    /* Both lengths must describe bytes that were actually sent and agree
     * with each other; a partial trailing descriptor is ignored (SBC-3). */
    if (dataLength + 2 > ListLength || descriptorBytes + UNMAP_HEADER_LENGTH > ListLength ||
        descriptorBytes + UNMAP_HEADER_LENGTH - 2 > dataLength)
        return InvalidFieldInParameterList(Sense);
    count = descriptorBytes / UNMAP_DESCRIPTOR_LENGTH;
    if (count > Geometry->MaxUnmapDescriptors)
        return InvalidFieldInParameterList(Sense);
    for (i = 0; i < count; i++) {
        ULONGLONG lba;
        ULONG blocks;

        ScsiDiskUnmapDescriptor(List, i, &lba, &blocks);
        if (!ScsiDiskCheckRange(Geometry, lba, blocks, Sense))
            return FALSE;
        total += blocks;
    }
    if (total > Geometry->MaxUnmapBlocks)
        return InvalidFieldInParameterList(Sense);
    *DescriptorCount = count;
    return TRUE;
}

VOID ScsiDiskUnmapDescriptor(const UCHAR *List, ULONG Index, PULONGLONG Lba, PULONG Blocks)
{
    const UCHAR *d = &List[UNMAP_HEADER_LENGTH + Index * UNMAP_DESCRIPTOR_LENGTH];

    *Lba = ScsiDiskGetBe64(&d[0]);
    *Blocks = ScsiDiskGetBe32(&d[8]);
}

UCHAR ScsiDiskSrbCheckCondition(PVOID Srb, const SCSIDISK_SENSE *Sense)
{
    PVOID senseBuffer = SrbGetSenseInfoBuffer(Srb);
    UCHAR senseLength = SrbGetSenseInfoBufferLength(Srb);
    UCHAR status = SRB_STATUS_ERROR;

    SrbSetScsiStatus(Srb, SCSISTAT_CHECK_CONDITION);
    SrbSetDataTransferLength(Srb, 0);
    if (!(SrbGetSrbFlags(Srb) & SRB_FLAGS_DISABLE_AUTOSENSE) && senseBuffer != NULL &&
        senseLength >= SCSIDISK_FIXED_SENSE_LENGTH) {
        ScsiDiskBuildSenseData(senseBuffer, senseLength, Sense);
        status |= SRB_STATUS_AUTOSENSE_VALID;
    }
    return status;
}

UCHAR ScsiDiskSrbCheckConditionCodes(PVOID Srb, UCHAR Key, UCHAR Asc, UCHAR Ascq)
{
    SCSIDISK_SENSE sense;

    ScsiDiskSetSense(&sense, Key, Asc, Ascq);
    return ScsiDiskSrbCheckCondition(Srb, &sense);
}

UCHAR ScsiDiskSrbGood(PVOID Srb, ULONG BytesTransferred)
{
    SrbSetScsiStatus(Srb, SCSISTAT_GOOD);
    SrbSetDataTransferLength(Srb, BytesTransferred);
    return SRB_STATUS_SUCCESS;
}

BOOLEAN ScsiDiskSrbDirectionOk(PVOID Srb, BOOLEAN DataIn)
{
    ULONG flags = SrbGetSrbFlags(Srb) & SRB_FLAGS_UNSPECIFIED_DIRECTION;

    if (flags == 0 || flags == SRB_FLAGS_UNSPECIFIED_DIRECTION)
        return TRUE;
    return DataIn ? (flags & SRB_FLAGS_DATA_IN) != 0 : (flags & SRB_FLAGS_DATA_OUT) != 0;
}
