/*
 * pci.c - PCI function model (see pci.h).
 *
 * Config space is a byte array plus a per-byte write mask; BAR size probing
 * falls out of the mask (the low bits of a BAR are read-only zeros, so
 * writing all-ones reads back the size mask), as on real hardware.
 */
#include "pci.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "physmem.h"

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

int ustor_pci_init(struct ustor_pci_dev *pci, const char *name, const struct ustor_pci_ids *ids)
{
    memset(pci, 0, sizeof(*pci));
    pci->name = name;
    if (pthread_mutex_init(&pci->cfg_lock, NULL))
        return -ENOMEM;
    if (pthread_mutex_init(&pci->irq_lock, NULL)) {
        pthread_mutex_destroy(&pci->cfg_lock);
        return -ENOMEM;
    }
    uint8_t *c = pci->cfg;
    put16(c + PCI_CFG_VENDOR_ID, ids->vendor);
    put16(c + PCI_CFG_DEVICE_ID, ids->device);
    c[PCI_CFG_REVISION] = ids->revision;
    c[PCI_CFG_CLASS_PROG] = ids->class_prog;
    c[PCI_CFG_CLASS_SUB] = ids->class_sub;
    c[PCI_CFG_CLASS_BASE] = ids->class_base;
    c[PCI_CFG_HEADER_TYPE] = 0;
    put16(c + PCI_CFG_SUBSYS_VENDOR, ids->subsys_vendor);
    put16(c + PCI_CFG_SUBSYS_ID, ids->subsys_id);
    c[PCI_CFG_INT_PIN] = 1; /* INTA# */
    /* Command: I/O, memory, bus master, INTx disable are writable. */
    put16(pci->wmask + PCI_CFG_COMMAND, 0x0407);
    pci->wmask[PCI_CFG_INT_LINE] = 0xFF;
    /* Firmware has enabled decoding and bus mastering before any driver. */
    put16(c + PCI_CFG_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
    pci->cap_end = 0x40;
    return 0;
}

void ustor_pci_fini(struct ustor_pci_dev *pci)
{
    free(pci->msix_table);
    free(pci->msix_pba);
    pci->msix_table = NULL;
    pci->msix_pba = NULL;
    pthread_mutex_destroy(&pci->irq_lock);
    pthread_mutex_destroy(&pci->cfg_lock);
}

static uint64_t pow2_at_least(uint64_t v, uint64_t min)
{
    uint64_t p = min;
    while (p < v)
        p <<= 1;
    return p;
}

static int declare_bar(struct ustor_pci_dev *pci, unsigned bar, uint64_t size, bool is64)
{
    if (bar >= USTOR_PCI_NUM_BARS || (is64 && bar + 1 >= USTOR_PCI_NUM_BARS) || size == 0 ||
        size > (1ull << 31))
        return -EINVAL;
    if (pci->bars[bar].size || (is64 && pci->bars[bar + 1].size))
        return -EEXIST;
    size = pow2_at_least(size, 128);
    /* BARs are naturally aligned: reserve twice the size and align. */
    uint64_t raw = ustor_phys_reserve(size * 2);
    if (!raw)
        return -ENOSPC;
    uint64_t addr = (raw + size - 1) & ~(size - 1);
    uint8_t *reg = pci->cfg + PCI_CFG_BAR0 + 4 * bar;
    uint8_t *mask = pci->wmask + PCI_CFG_BAR0 + 4 * bar;
    uint32_t flags = is64 ? PCI_BAR_MEM_64 : 0;
    put32(reg, (uint32_t)addr | flags);
    put32(mask, (uint32_t)~(size - 1) & 0xFFFFFFF0u);
    if (is64) {
        put32(reg + 4, (uint32_t)(addr >> 32));
        put32(mask + 4, 0xFFFFFFFFu);
    } else if (addr >> 32) {
        return -ERANGE; /* simulated space is above 4 GiB: use 64-bit BARs */
    }
    pci->bars[bar].size = size;
    pci->bars[bar].is64 = is64;
    return 0;
}

int ustor_pci_add_bar(struct ustor_pci_dev *pci, unsigned bar, uint64_t size, bool is64,
                      ustor_pci_bar_read_fn read, ustor_pci_bar_write_fn write, void *ctx)
{
    int rc = declare_bar(pci, bar, size, is64);
    if (rc)
        return rc;
    pci->bars[bar].read = read;
    pci->bars[bar].write = write;
    pci->bars[bar].ctx = ctx;
    return 0;
}

uint16_t ustor_pci_add_cap(struct ustor_pci_dev *pci, uint8_t cap_id, const void *body, uint8_t len)
{
    if (len < 2)
        return 0;
    uint16_t off = (uint16_t)((pci->cap_end + 3) & ~3u);
    if (off + len > 0x100) /* the classic list lives in the first 256 bytes */
        return 0;
    pci->cfg[off] = cap_id;
    pci->cfg[off + 1] = 0;
    memcpy(pci->cfg + off + 2, body, (size_t)len - 2);
    if (pci->last_cap)
        pci->cfg[pci->last_cap + 1] = (uint8_t)off;
    else
        pci->cfg[PCI_CFG_CAP_PTR] = (uint8_t)off;
    pci->last_cap = (uint8_t)off;
    pci->cap_end = (uint16_t)(off + len);
    put16(pci->cfg + PCI_CFG_STATUS, get16(pci->cfg + PCI_CFG_STATUS) | PCI_STATUS_CAP_LIST);
    return off;
}

int ustor_pci_add_msix(struct ustor_pci_dev *pci, unsigned count, unsigned bar,
                       uint32_t table_off, uint32_t pba_off, uint64_t bar_size, bool enabled)
{
    if (count == 0 || count > USTOR_PCI_MAX_MSIX || (table_off & 7) || (pba_off & 7) ||
        pci->msix_cap)
        return -EINVAL;
    uint64_t table_end = table_off + (uint64_t)count * PCI_MSIX_ENTRY_SIZE;
    uint64_t pba_end = pba_off + ((count + 63) / 64) * 8ull;
    if (table_end > bar_size || pba_end > bar_size ||
        (pba_off < table_end && table_off < pba_end))
        return -EINVAL;
    int rc = declare_bar(pci, bar, bar_size, true);
    if (rc)
        return rc;
    pci->bars[bar].msix = true;
    pci->msix_table = calloc(count, sizeof(*pci->msix_table));
    pci->msix_pba = calloc((count + 63) / 64, sizeof(uint64_t));
    if (!pci->msix_table || !pci->msix_pba)
        return -ENOMEM;
    for (unsigned i = 0; i < count; i++)
        pci->msix_table[i].ctrl = PCI_MSIX_ENTRY_CTRL_MASKED; /* reset state */
    uint8_t body[10];
    uint16_t ctrl = (uint16_t)(count - 1);
    put16(body, ctrl);
    put32(body + 2, table_off | bar);
    put32(body + 6, pba_off | bar);
    uint16_t off = ustor_pci_add_cap(pci, PCI_CAP_ID_MSIX, body, 12);
    if (!off)
        return -ENOSPC;
    put16(pci->wmask + off + 2, PCI_MSIX_CTRL_ENABLE | PCI_MSIX_CTRL_FUNC_MASK);
    pci->msix_cap = (uint8_t)off;
    pci->msix_count = count;
    pci->msix_bar = bar;
    pci->msix_table_off = table_off;
    pci->msix_pba_off = pba_off;
    if (enabled) {
        /* What the OS leaves behind: enabled, all vectors unmasked. */
        put16(pci->cfg + off + 2, ctrl | PCI_MSIX_CTRL_ENABLE);
        for (unsigned i = 0; i < count; i++)
            pci->msix_table[i].ctrl = 0;
    }
    return 0;
}

/* The MSI-X control word; caller holds irq_lock (the word itself is only
 * written under cfg_lock + irq_lock). */
static uint16_t msix_ctrl_locked(struct ustor_pci_dev *pci)
{
    return pci->msix_cap ? get16(pci->cfg + pci->msix_cap + 2) : 0;
}

bool ustor_pci_msix_enabled(struct ustor_pci_dev *pci)
{
    pthread_mutex_lock(&pci->irq_lock);
    bool on = (msix_ctrl_locked(pci) & PCI_MSIX_CTRL_ENABLE) != 0;
    pthread_mutex_unlock(&pci->irq_lock);
    return on;
}

static void send_locked(struct ustor_pci_dev *pci, uint32_t message)
{
    if (pci->sink) {
        atomic_fetch_add(&pci->irqs_raised, 1);
        pci->sink->raise(pci->sink, message);
    }
}

static bool vector_masked_locked(struct ustor_pci_dev *pci, unsigned v)
{
    return (msix_ctrl_locked(pci) & PCI_MSIX_CTRL_FUNC_MASK) ||
           (pci->msix_table[v].ctrl & PCI_MSIX_ENTRY_CTRL_MASKED);
}

/* Sends whatever the PBA holds for vectors that are now unmasked. */
static void deliver_pending_locked(struct ustor_pci_dev *pci)
{
    uint16_t ctrl = msix_ctrl_locked(pci);
    if (!(ctrl & PCI_MSIX_CTRL_ENABLE) || (ctrl & PCI_MSIX_CTRL_FUNC_MASK))
        return;
    for (unsigned v = 0; v < pci->msix_count; v++) {
        uint64_t bit = 1ull << (v % 64);
        if ((pci->msix_pba[v / 64] & bit) && !vector_masked_locked(pci, v)) {
            pci->msix_pba[v / 64] &= ~bit;
            send_locked(pci, v);
        }
    }
}

bool ustor_pci_signal(struct ustor_pci_dev *pci, unsigned vector)
{
    bool sent = false;
    pthread_mutex_lock(&pci->irq_lock);
    if (msix_ctrl_locked(pci) & PCI_MSIX_CTRL_ENABLE) {
        if (vector < pci->msix_count) {
            if (vector_masked_locked(pci, vector)) {
                pci->msix_pba[vector / 64] |= 1ull << (vector % 64);
                atomic_fetch_add(&pci->irqs_pending, 1);
            } else {
                send_locked(pci, vector);
                sent = pci->sink != NULL;
            }
        }
    } else {
        pci->intx_asserted = true;
        /* INTx disable (command register) gates the pin, not the status
         * bit. */
        if (!pci->intx_disabled) {
            send_locked(pci, 0);
            sent = pci->sink != NULL;
        }
    }
    pthread_mutex_unlock(&pci->irq_lock);
    return sent;
}

void ustor_pci_intx_deassert(struct ustor_pci_dev *pci)
{
    pthread_mutex_lock(&pci->irq_lock);
    pci->intx_asserted = false;
    pthread_mutex_unlock(&pci->irq_lock);
}

uint32_t ustor_pci_config_read(struct ustor_pci_dev *pci, uint32_t offset, void *buf, uint32_t len)
{
    if (offset >= USTOR_PCI_CFG_SIZE)
        return 0;
    if (len > USTOR_PCI_CFG_SIZE - offset)
        len = USTOR_PCI_CFG_SIZE - offset;
    pthread_mutex_lock(&pci->cfg_lock);
    memcpy(buf, pci->cfg + offset, len);
    pthread_mutex_lock(&pci->irq_lock);
    bool asserted = pci->intx_asserted;
    pthread_mutex_unlock(&pci->irq_lock);
    pthread_mutex_unlock(&pci->cfg_lock);
    /* The status register's interrupt bit reflects the INTx line. */
    if (asserted && offset <= PCI_CFG_STATUS && offset + len > PCI_CFG_STATUS)
        ((uint8_t *)buf)[PCI_CFG_STATUS - offset] |= PCI_STATUS_INTERRUPT;
    return len;
}

uint32_t ustor_pci_config_write(struct ustor_pci_dev *pci, uint32_t offset, const void *buf, uint32_t len)
{
    if (offset >= USTOR_PCI_CFG_SIZE)
        return 0;
    if (len > USTOR_PCI_CFG_SIZE - offset)
        len = USTOR_PCI_CFG_SIZE - offset;
    const uint8_t *src = buf;
    pthread_mutex_lock(&pci->cfg_lock);
    pthread_mutex_lock(&pci->irq_lock);
    for (uint32_t i = 0; i < len; i++) {
        uint8_t m = pci->wmask[offset + i];
        pci->cfg[offset + i] = (uint8_t)((pci->cfg[offset + i] & ~m) | (src[i] & m));
    }
    pci->intx_disabled = (get16(pci->cfg + PCI_CFG_COMMAND) & PCI_COMMAND_INTX_DISABLE) != 0;
    /* Enabling MSI-X or clearing the function mask releases what the PBA
     * held for unmasked vectors. */
    deliver_pending_locked(pci);
    pthread_mutex_unlock(&pci->irq_lock);
    pthread_mutex_unlock(&pci->cfg_lock);
    return len;
}

void ustor_pci_bar_info(struct ustor_pci_dev *pci, unsigned bar, struct ustor_bar_info *info)
{
    memset(info, 0, sizeof(*info));
    if (bar >= USTOR_PCI_NUM_BARS || !pci->bars[bar].size)
        return;
    pthread_mutex_lock(&pci->cfg_lock);
    const uint8_t *reg = pci->cfg + PCI_CFG_BAR0 + 4 * bar;
    uint64_t addr = get32(reg) & ~0xFull;
    if (pci->bars[bar].is64)
        addr |= (uint64_t)get32(reg + 4) << 32;
    pthread_mutex_unlock(&pci->cfg_lock);
    info->phys = addr;
    info->length = pci->bars[bar].size;
    info->io_space = false;
}

/* MSI-X table / PBA, one dword at a time. */
static uint32_t msix_read32(struct ustor_pci_dev *pci, uint64_t off)
{
    uint32_t v = 0xFFFFFFFFu;
    pthread_mutex_lock(&pci->irq_lock);
    uint64_t tsize = (uint64_t)pci->msix_count * PCI_MSIX_ENTRY_SIZE;
    uint64_t psize = ((pci->msix_count + 63) / 64) * 8ull;
    if (off >= pci->msix_table_off && off - pci->msix_table_off < tsize) {
        uint64_t rel = off - pci->msix_table_off;
        const struct ustor_pci_msix_entry *e = &pci->msix_table[rel / PCI_MSIX_ENTRY_SIZE];
        switch ((rel % PCI_MSIX_ENTRY_SIZE) / 4) {
        case 0: v = e->addr_lo; break;
        case 1: v = e->addr_hi; break;
        case 2: v = e->data; break;
        default: v = e->ctrl; break;
        }
    } else if (off >= pci->msix_pba_off && off - pci->msix_pba_off < psize) {
        uint64_t rel = off - pci->msix_pba_off;
        v = (uint32_t)(pci->msix_pba[rel / 8] >> (8 * (rel % 8)));
    }
    pthread_mutex_unlock(&pci->irq_lock);
    return v;
}

static void msix_write32(struct ustor_pci_dev *pci, uint64_t off, uint32_t v)
{
    pthread_mutex_lock(&pci->irq_lock);
    uint64_t tsize = (uint64_t)pci->msix_count * PCI_MSIX_ENTRY_SIZE;
    if (off >= pci->msix_table_off && off - pci->msix_table_off < tsize) {
        uint64_t rel = off - pci->msix_table_off;
        struct ustor_pci_msix_entry *e = &pci->msix_table[rel / PCI_MSIX_ENTRY_SIZE];
        switch ((rel % PCI_MSIX_ENTRY_SIZE) / 4) {
        case 0: e->addr_lo = v & ~3u; break;
        case 1: e->addr_hi = v; break;
        case 2: e->data = v; break;
        default:
            e->ctrl = v & PCI_MSIX_ENTRY_CTRL_MASKED;
            deliver_pending_locked(pci);
            break;
        }
    }
    /* The PBA is read-only. */
    pthread_mutex_unlock(&pci->irq_lock);
}

uint64_t ustor_pci_reg_read(struct ustor_pci_dev *pci, unsigned bar, uint64_t offset, unsigned size)
{
    if (bar >= USTOR_PCI_NUM_BARS || !pci->bars[bar].size || offset >= pci->bars[bar].size ||
        size > pci->bars[bar].size - offset || (size != 1 && size != 2 && size != 4 && size != 8))
        return ~0ull; /* nobody claims the cycle: reads float high */
    if (pci->bars[bar].msix) {
        if (size == 8)
            return msix_read32(pci, offset) | (uint64_t)msix_read32(pci, offset + 4) << 32;
        uint32_t v = msix_read32(pci, offset & ~3ull);
        v >>= 8 * (offset & 3);
        return size == 4 ? v : v & ((1u << (8 * size)) - 1);
    }
    return pci->bars[bar].read ? pci->bars[bar].read(pci->bars[bar].ctx, offset, size) : ~0ull;
}

void ustor_pci_reg_write(struct ustor_pci_dev *pci, unsigned bar, uint64_t offset, unsigned size, uint64_t value)
{
    if (bar >= USTOR_PCI_NUM_BARS || !pci->bars[bar].size || offset >= pci->bars[bar].size ||
        size > pci->bars[bar].size - offset || (size != 1 && size != 2 && size != 4 && size != 8))
        return;
    if (pci->bars[bar].msix) {
        /* MSI-X structures take dword or qword writes only (PCI spec). */
        if (size == 8 && !(offset & 7)) {
            msix_write32(pci, offset, (uint32_t)value);
            msix_write32(pci, offset + 4, (uint32_t)(value >> 32));
        } else if (size == 4 && !(offset & 3)) {
            msix_write32(pci, offset, (uint32_t)value);
        }
        return;
    }
    if (pci->bars[bar].write)
        pci->bars[bar].write(pci->bars[bar].ctx, offset, size, value);
}

uint32_t ustor_pci_msi_count(struct ustor_pci_dev *pci)
{
    return ustor_pci_msix_enabled(pci) ? pci->msix_count : 0;
}

void ustor_pci_attach(struct ustor_pci_dev *pci, struct ustor_irq_sink *sink)
{
    pthread_mutex_lock(&pci->irq_lock);
    pci->sink = sink;
    pthread_mutex_unlock(&pci->irq_lock);
}
