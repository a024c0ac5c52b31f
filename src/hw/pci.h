/*
 * pci.h - a PCI function model that device models build on: 4 KiB
 * configuration space with a type-0 header, BARs served by callbacks, a
 * capability list, MSI-X (table and PBA in a BAR) and INTx.  It provides
 * the config/BAR/interrupt half of ustor_bus_ops (bus.h).
 */
#ifndef USTOR_HW_PCI_H
#define USTOR_HW_PCI_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "hw/bus.h"

#ifdef __cplusplus
extern "C" {
#endif

#define USTOR_PCI_CFG_SIZE 4096u
#define USTOR_PCI_NUM_BARS 6u

/* Type-0 header offsets. */
#define PCI_CFG_VENDOR_ID 0x00
#define PCI_CFG_DEVICE_ID 0x02
#define PCI_CFG_COMMAND 0x04
#define PCI_CFG_STATUS 0x06
#define PCI_CFG_REVISION 0x08
#define PCI_CFG_CLASS_PROG 0x09
#define PCI_CFG_CLASS_SUB 0x0A
#define PCI_CFG_CLASS_BASE 0x0B
#define PCI_CFG_HEADER_TYPE 0x0E
#define PCI_CFG_BAR0 0x10
#define PCI_CFG_SUBSYS_VENDOR 0x2C
#define PCI_CFG_SUBSYS_ID 0x2E
#define PCI_CFG_CAP_PTR 0x34
#define PCI_CFG_INT_LINE 0x3C
#define PCI_CFG_INT_PIN 0x3D

#define PCI_COMMAND_MEMORY 0x0002
#define PCI_COMMAND_MASTER 0x0004
#define PCI_COMMAND_INTX_DISABLE 0x0400
#define PCI_STATUS_INTERRUPT 0x0008
#define PCI_STATUS_CAP_LIST 0x0010

#define PCI_BAR_MEM_64 0x4
#define PCI_BAR_PREFETCH 0x8

#define PCI_CAP_ID_MSIX 0x11
#define PCI_CAP_ID_VNDR 0x09
/* MSI-X capability: message control at +2, table at +4, PBA at +8. */
#define PCI_MSIX_CTRL_ENABLE 0x8000
#define PCI_MSIX_CTRL_FUNC_MASK 0x4000
#define PCI_MSIX_ENTRY_SIZE 16u
#define PCI_MSIX_ENTRY_CTRL_MASKED 0x1u
#define USTOR_PCI_MAX_MSIX 2048u

struct ustor_pci_ids {
    uint16_t vendor, device, subsys_vendor, subsys_id;
    uint8_t revision;
    uint8_t class_base, class_sub, class_prog;
};

typedef uint64_t (*ustor_pci_bar_read_fn)(void *ctx, uint64_t offset, unsigned size);
typedef void (*ustor_pci_bar_write_fn)(void *ctx, uint64_t offset, unsigned size, uint64_t value);

struct ustor_pci_bar {
    uint64_t size; /* power of two >= 16; 0: not implemented */
    bool is64;
    bool msix;     /* the MSI-X table/PBA live here (handled by pci.c) */
    ustor_pci_bar_read_fn read;
    ustor_pci_bar_write_fn write;
    void *ctx;
};

struct ustor_pci_msix_entry {
    uint32_t addr_lo, addr_hi, data, ctrl;
};

struct ustor_pci_dev {
    const char *name;
    /* Config space and the bits of each byte the driver may change. */
    uint8_t cfg[USTOR_PCI_CFG_SIZE];
    uint8_t wmask[USTOR_PCI_CFG_SIZE];
    pthread_mutex_t cfg_lock;
    uint16_t cap_end; /* next free config offset for capabilities */
    uint8_t last_cap; /* offset of the last capability (0: none) */
    struct ustor_pci_bar bars[USTOR_PCI_NUM_BARS];

    /* MSI-X state, under irq_lock (which is also held while the sink is
     * called, so attach(NULL) returning means no raise is in progress). */
    pthread_mutex_t irq_lock;
    uint8_t msix_cap;  /* config offset, 0: none */
    unsigned msix_count;
    unsigned msix_bar;
    uint32_t msix_table_off, msix_pba_off;
    struct ustor_pci_msix_entry *msix_table;
    uint64_t *msix_pba;
    struct ustor_irq_sink *sink;
    bool intx_asserted;
    bool intx_disabled; /* command register mirror */

    atomic_uint_least64_t irqs_raised;  /* messages handed to the sink */
    atomic_uint_least64_t irqs_pending; /* held in the PBA while masked */
};

/* Sets up the header.  Returns 0 or -errno. */
int ustor_pci_init(struct ustor_pci_dev *pci, const char *name, const struct ustor_pci_ids *ids);
void ustor_pci_fini(struct ustor_pci_dev *pci);
/* Declares BAR n (a 64-bit BAR also takes n+1) and gives it a bus
 * address.  size is rounded up to a power of two (minimum 128 bytes). */
int ustor_pci_add_bar(struct ustor_pci_dev *pci, unsigned bar, uint64_t size, bool is64,
                      ustor_pci_bar_read_fn read, ustor_pci_bar_write_fn write, void *ctx);
/* Appends a capability: body is everything after the id/next bytes, len
 * the whole capability length.  Returns its config offset, 0 if full. */
uint16_t ustor_pci_add_cap(struct ustor_pci_dev *pci, uint8_t cap_id, const void *body, uint8_t len);
/* MSI-X with count vectors; the table at table_off and the PBA at
 * pba_off in BAR bar, which must not have been declared (pci.c serves
 * it).  enabled: come up with MSI-X already enabled, as system firmware /
 * the OS's PCI driver leaves it before the storage driver starts. */
int ustor_pci_add_msix(struct ustor_pci_dev *pci, unsigned count, unsigned bar,
                       uint32_t table_off, uint32_t pba_off, uint64_t bar_size, bool enabled);

bool ustor_pci_msix_enabled(struct ustor_pci_dev *pci);
/* Signals MSI-X vector `vector` (ignored when MSI-X is enabled and the
 * vector does not exist), or asserts INTx (message 0) when MSI-X is off.
 * Returns true if a message went to the sink now. */
bool ustor_pci_signal(struct ustor_pci_dev *pci, unsigned vector);
/* Level-triggered INTx, approximated: assert raises message 0 and sets the
 * status register's interrupt bit; the device deasserts when the driver
 * acknowledges (e.g. reads its ISR register). */
void ustor_pci_intx_deassert(struct ustor_pci_dev *pci);

/* ustor_bus_ops pieces (dev is the struct ustor_pci_dev *). */
uint32_t ustor_pci_config_read(struct ustor_pci_dev *pci, uint32_t offset, void *buf, uint32_t len);
uint32_t ustor_pci_config_write(struct ustor_pci_dev *pci, uint32_t offset, const void *buf, uint32_t len);
void ustor_pci_bar_info(struct ustor_pci_dev *pci, unsigned bar, struct ustor_bar_info *info);
uint64_t ustor_pci_reg_read(struct ustor_pci_dev *pci, unsigned bar, uint64_t offset, unsigned size);
void ustor_pci_reg_write(struct ustor_pci_dev *pci, unsigned bar, uint64_t offset, unsigned size, uint64_t value);
uint32_t ustor_pci_msi_count(struct ustor_pci_dev *pci);
void ustor_pci_attach(struct ustor_pci_dev *pci, struct ustor_irq_sink *sink);

#ifdef __cplusplus
}
#endif

#endif /* USTOR_HW_PCI_H */
