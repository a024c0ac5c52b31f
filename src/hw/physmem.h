/*
 * physmem.h - the simulated physical address space.
 *
 * Process memory that a simulated device may reach by DMA is registered
 * here and given a "physical" address distinct from its pointer value.
 * Devices reach driver memory only through these translations, so a
 * driver that hands a device a raw pointer, or an address it has already
 * unmapped, is caught (reported through the fault hook) instead of
 * silently working.
 */
#ifndef USTOR_HW_PHYSMEM_H
#define USTOR_HW_PHYSMEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define USTOR_PHYS_PAGE_SIZE 4096u
/* Simulated physical addresses live in [BASE, BASE + WINDOW). */
#define USTOR_PHYS_WINDOW_BASE 0x100000000ull
#define USTOR_PHYS_WINDOW_SIZE (1ull << 40)

/* Registers [va, va+len) and returns the physical address of va (0 when
 * len is 0, va is NULL or no free stretch of the window is large enough).
 * The physical range keeps va's offset inside its page.  Freed space is
 * reused only after the rest of the window has been handed out (the
 * allocation cursor goes round it), so a stale physical address faults
 * instead of hitting new data for as long as possible. */
uint64_t ustor_phys_map(void *va, size_t len);
/* Removes the mapping whose ustor_phys_map() result was phys.  Returns 0,
 * or -ENOENT if no live mapping started there. */
int ustor_phys_unmap(uint64_t phys);
/* Reserves address space that is not memory (device BARs): later
 * ustor_phys_map() ranges never overlap it.  Returns its base, or 0. */
uint64_t ustor_phys_reserve(uint64_t len);
/* Tests: new ranges come from the first size bytes of the window only
 * (0: the whole window), so the cursor's wrap-around can be reached in
 * a few thousand mappings.  Ranges already made stay valid.  Returns
 * the previous size. */
uint64_t ustor_phys_limit_window(uint64_t size);

/* Process address of phys when [phys, phys+len) lies inside one live
 * mapping, else NULL.  The pointer stays valid only while the driver keeps
 * the mapping; devices use ustor_phys_dma_begin() instead. */
void *ustor_phys_to_virt(uint64_t phys, size_t len);
/* Physical address of va (0 if va is in no mapping); *contig_len (may be
 * NULL) gets the bytes from va to the end of that mapping. */
uint64_t ustor_virt_to_phys(const void *va, size_t *contig_len);

/* Device side: translates [phys, phys+len) and keeps the address space
 * from changing until ustor_phys_dma_end(), so an unmap cannot free the
 * memory under a transfer.  On a miss it reports the fault through the
 * hook (naming the device) and returns NULL; no end call is needed then.
 * Do not nest begin calls on one thread. */
void *ustor_phys_dma_begin(const char *device, uint64_t phys, size_t len, bool write);
void ustor_phys_dma_end(void);
/* Copies through ustor_phys_dma_begin/end; return false on a fault. */
bool ustor_phys_read(const char *device, uint64_t phys, void *buf, size_t len);
bool ustor_phys_write(const char *device, uint64_t phys, const void *buf, size_t len);

/* A device DMA that missed every mapping.  NULL means the default, which
 * prints one line to stderr.  Called from device threads.  The hook is an
 * atomic variable: `ustor_phys_fault_hook = fn;` and the setter below are
 * equivalent. */
typedef void (*ustor_phys_fault_fn)(const char *device, uint64_t phys, size_t len, bool write);
extern _Atomic(ustor_phys_fault_fn) ustor_phys_fault_hook;
/* Installs a hook and returns the previous one (NULL: the default). */
ustor_phys_fault_fn ustor_phys_set_fault_hook(ustor_phys_fault_fn hook);
/* Reports a fault through the current hook. */
void ustor_phys_report_fault(const char *device, uint64_t phys, size_t len, bool write);

/* Live mappings and reported faults since start (diagnostics, tests). */
size_t ustor_phys_mapping_count(void);
uint64_t ustor_phys_fault_count(void);

#ifdef __cplusplus
}
#endif

#endif /* USTOR_HW_PHYSMEM_H */
