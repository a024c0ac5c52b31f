/*
 * bus.h - what the port engine needs from a simulated device, and what a
 * device gets from the port.  Device models (src/hw/) implement
 * ustor_bus_ops; the port calls them from the Storport bus routines
 * (StorPortGetBusData, StorPortGetDeviceBase, StorPortRead/WriteRegister*,
 * StorPortGetMSIInfo) and hands the device an interrupt sink.
 */
#ifndef USTOR_HW_BUS_H
#define USTOR_HW_BUS_H

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The port's side: how a device raises an interrupt.  Safe to call from any
 * thread (device threads do); delivery is asynchronous on an interrupt
 * thread.  message_id is the MSI-X vector, or 0 for INTx. */
struct ustor_irq_sink {
    void (*raise)(struct ustor_irq_sink *sink, uint32_t message_id);
    void *port_ctx;
};

struct ustor_bar_info {
    uint64_t phys;   /* bus address the BAR is programmed with */
    uint64_t length; /* 0: BAR not implemented */
    bool io_space;   /* I/O port BAR (else memory) */
};

struct ustor_bus_ops {
    /* PCI configuration space (StorPortGetBusData / SetBusDataByOffset).
     * Return the number of bytes transferred. */
    uint32_t (*config_read)(void *dev, uint32_t offset, void *buf, uint32_t len);
    uint32_t (*config_write)(void *dev, uint32_t offset, const void *buf, uint32_t len);
    /* BARs 0..5 */
    void (*bar_info)(void *dev, unsigned bar, struct ustor_bar_info *info);
    /* Register access inside a BAR; size is 1, 2, 4 or 8 bytes. */
    uint64_t (*reg_read)(void *dev, unsigned bar, uint64_t offset, unsigned size);
    void (*reg_write)(void *dev, unsigned bar, uint64_t offset, unsigned size, uint64_t value);
    /* Interrupts: number of MSI-X messages enabled (0: INTx only). */
    uint32_t (*msi_count)(void *dev);
    /* Connects the device to the port's interrupt sink (NULL disconnects). */
    void (*attach)(void *dev, struct ustor_irq_sink *sink);
    /* Adapter stop / restart / removal. */
    void (*quiesce)(void *dev);
    void (*destroy)(void *dev);
};

struct ustor_bus_device {
    const struct ustor_bus_ops *ops;
    void *dev;
    const char *name; /* "virtio-blk", ... */
};

#ifdef __cplusplus
}
#endif

#endif /* USTOR_HW_BUS_H */
