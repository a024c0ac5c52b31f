/*
 * ramdisk_args.c - parsing of the ramdisk miniport's ArgumentString (see
 * ramdisk_args.h).  Defensive: every item is checked, and the first bad
 * one is reported with what would have been accepted.
 */
#include <stdio.h>
#include <string.h>

#include "ramdisk_args.h"

#define MINIPORT_NAME(physical) ((physical) ? "ramdisk-phys" : "ramdisk")

static BOOLEAN RamdiskParseUnsigned(PCSTR Text, size_t Length, ULONGLONG *Value)
{
    ULONGLONG v = 0;
    size_t i;

    if (Length == 0 || Length > 20)
        return FALSE;
    for (i = 0; i < Length; i++) {
        if (Text[i] < '0' || Text[i] > '9')
            return FALSE;
        if (v > (~0ull - 9) / 10)
            return FALSE;
        v = v * 10 + (ULONGLONG)(Text[i] - '0');
    }
    *Value = v;
    return TRUE;
}

/* "64M", "512", "1g": decimal with an optional K/M/G (binary) suffix. */
static BOOLEAN RamdiskParseSize(PCSTR Text, size_t Length, ULONGLONG *Value)
{
    unsigned shift = 0;

    if (Length > 0) {
        switch (Text[Length - 1]) {
        case 'k': case 'K': shift = 10; break;
        case 'm': case 'M': shift = 20; break;
        case 'g': case 'G': shift = 30; break;
        default: break;
        }
        if (shift != 0)
            Length--;
    }
    if (!RamdiskParseUnsigned(Text, Length, Value))
        return FALSE;
    if (shift != 0 && *Value > (~0ull >> shift))
        return FALSE;
    *Value <<= shift;
    return TRUE;
}

static BOOLEAN RamdiskValueIs(PCSTR Value, size_t Length, PCSTR Word)
{
    return strlen(Word) == Length && memcmp(Value, Word, Length) == 0;
}

static BOOLEAN RamdiskBadValue(BOOLEAN Physical, PCHAR Message, ULONG MessageLength, PCSTR Key,
                               PCSTR Value, size_t ValueLength, PCSTR Allowed)
{
    snprintf(Message, MessageLength, "%s: bad value \"%.*s\" for %s=; allowed: %s",
             MINIPORT_NAME(Physical), (int)ValueLength, Value, Key, Allowed);
    return FALSE;
}

BOOLEAN RamdiskParseArguments(PCSTR ArgumentString, BOOLEAN Physical, PRAMDISK_CONFIG Config,
                              PCHAR Message, ULONG MessageLength)
{
    PCSTR p = ArgumentString;

    memset(Config, 0, sizeof(*Config));
    Config->LunCount = 1;
    Config->LunSize = RAMDISK_DEFAULT_SIZE;
    Config->BlockSize = 512;
    Config->Completion = RamdiskCompleteMixed;
    Config->Sync = RamdiskSyncFullDuplex;
    Message[0] = '\0';

    while (p != NULL && *p != '\0') {
        PCSTR end = strchr(p, ';');
        PCSTR next;
        PCSTR eq;
        PCSTR key, value;
        size_t keyLength, valueLength, itemLength;
        ULONGLONG number;

        itemLength = end != NULL ? (size_t)(end - p) : strlen(p);
        next = p + itemLength + (end != NULL ? 1 : 0);
        /* Trim blanks around the item. */
        while (itemLength > 0 && (*p == ' ' || *p == '\t')) {
            p++;
            itemLength--;
        }
        while (itemLength > 0 && (p[itemLength - 1] == ' ' || p[itemLength - 1] == '\t'))
            itemLength--;
        if (itemLength == 0) { /* empty item, e.g. a trailing ';' */
            p = next;
            continue;
        }
        eq = memchr(p, '=', itemLength);
        if (eq == NULL) {
            snprintf(Message, MessageLength,
                     "%s: \"%.*s\" is not key=value; expected items like luns=2;size=64M separated by ';'",
                     MINIPORT_NAME(Physical), (int)itemLength, p);
            return FALSE;
        }
        key = p;
        keyLength = (size_t)(eq - p);
        value = eq + 1;
        valueLength = itemLength - keyLength - 1;
        /* Blanks around '=' are tolerated: "luns = 2". */
        while (keyLength > 0 && (key[keyLength - 1] == ' ' || key[keyLength - 1] == '\t'))
            keyLength--;
        while (valueLength > 0 && (*value == ' ' || *value == '\t')) {
            value++;
            valueLength--;
        }

#define KEY_IS(k) (keyLength == sizeof(k) - 1 && memcmp(key, k, keyLength) == 0)
        if (KEY_IS("luns")) {
            if (!RamdiskParseUnsigned(value, valueLength, &number) || number < 1 ||
                number > RAMDISK_MAX_LUNS)
                return RamdiskBadValue(Physical, Message, MessageLength, "luns", value, valueLength,
                                       "a number of LUNs from 1 to 255");
            Config->LunCount = (ULONG)number;
        } else if (KEY_IS("size")) {
            if (!RamdiskParseSize(value, valueLength, &number) || number == 0 ||
                number % 512 != 0 || number > RAMDISK_MAX_SIZE)
                return RamdiskBadValue(Physical, Message, MessageLength, "size", value, valueLength,
                                       "bytes per LUN with an optional K, M or G suffix, a multiple of 512, at most 2G");
            Config->LunSize = number;
        } else if (KEY_IS("bs")) {
            if (RamdiskValueIs(value, valueLength, "512"))
                Config->BlockSize = 512;
            else if (RamdiskValueIs(value, valueLength, "4096"))
                Config->BlockSize = 4096;
            else
                return RamdiskBadValue(Physical, Message, MessageLength, "bs", value, valueLength,
                                       "512 or 4096");
        } else if (KEY_IS("complete")) {
            if (RamdiskValueIs(value, valueLength, "inline"))
                Config->Completion = RamdiskCompleteInline;
            else if (RamdiskValueIs(value, valueLength, "dpc"))
                Config->Completion = RamdiskCompleteDpc;
            else if (RamdiskValueIs(value, valueLength, "mixed"))
                Config->Completion = RamdiskCompleteMixed;
            else
                return RamdiskBadValue(Physical, Message, MessageLength, "complete", value, valueLength,
                                       "inline, dpc or mixed");
        } else if (KEY_IS("srb")) {
            if (RamdiskValueIs(value, valueLength, "ex"))
                Config->UseScsiRequestBlock = FALSE;
            else if (RamdiskValueIs(value, valueLength, "scsi"))
                Config->UseScsiRequestBlock = TRUE;
            else
                return RamdiskBadValue(Physical, Message, MessageLength, "srb", value, valueLength,
                                       "ex (STORAGE_REQUEST_BLOCK) or scsi (SCSI_REQUEST_BLOCK)");
        } else if (KEY_IS("sync")) {
            if (!Physical) {
                snprintf(Message, MessageLength,
                         "%s: sync= is only accepted by ramdisk-phys (a virtual miniport has no "
                         "synchronization model); allowed keys: luns, size, bs, complete, srb, busy, ro",
                         MINIPORT_NAME(Physical));
                return FALSE;
            }
            if (RamdiskValueIs(value, valueLength, "half"))
                Config->Sync = RamdiskSyncHalfDuplex;
            else if (RamdiskValueIs(value, valueLength, "full"))
                Config->Sync = RamdiskSyncFullDuplex;
            else if (RamdiskValueIs(value, valueLength, "concurrent"))
                Config->Sync = RamdiskSyncConcurrent;
            else
                return RamdiskBadValue(Physical, Message, MessageLength, "sync", value, valueLength,
                                       "half, full or concurrent");
        } else if (KEY_IS("busy")) {
            if (!RamdiskParseUnsigned(value, valueLength, &number) || number > RAMDISK_MAX_BUSY_EVERY)
                return RamdiskBadValue(Physical, Message, MessageLength, "busy", value, valueLength,
                                       "N from 0 (off) to 1000000: every Nth request is bounced once with SRB_STATUS_BUSY");
            Config->BusyEvery = (ULONG)number;
        } else if (KEY_IS("ro")) {
            if (RamdiskValueIs(value, valueLength, "1"))
                Config->ReadOnly = TRUE;
            else if (RamdiskValueIs(value, valueLength, "0"))
                Config->ReadOnly = FALSE;
            else
                return RamdiskBadValue(Physical, Message, MessageLength, "ro", value, valueLength,
                                       "1 (write protected) or 0");
        } else {
            snprintf(Message, MessageLength,
                     "%s: unknown key \"%.*s\"; allowed keys: luns, size, bs, complete, srb, busy, ro%s",
                     MINIPORT_NAME(Physical), (int)keyLength, key, Physical ? ", sync" : "");
            return FALSE;
        }
#undef KEY_IS
        p = next;
    }

    if (Config->LunSize % Config->BlockSize != 0) {
        snprintf(Message, MessageLength,
                 "%s: size=%llu is not a multiple of bs=%lu; choose a size that is",
                 MINIPORT_NAME(Physical), (unsigned long long)Config->LunSize,
                 (unsigned long)Config->BlockSize);
        return FALSE;
    }
    if (Physical && (ULONGLONG)Config->LunCount * Config->LunSize > RAMDISK_MAX_SIZE) {
        snprintf(Message, MessageLength,
                 "%s: luns=%lu x size=%llu exceeds the 2G an adapter's uncached extension can hold; "
                 "lower luns or size",
                 MINIPORT_NAME(Physical), (unsigned long)Config->LunCount,
                 (unsigned long long)Config->LunSize);
        return FALSE;
    }
    return TRUE;
}

