/*
 * ustor.h - ustorport's host API: load a Storport miniport, put it on an
 * adapter (with or without a simulated device), and send it SRBs.
 *
 * Everything here has the ustor_ prefix; the miniport side of the house
 * uses the WDK names from <storport.h>.  See docs/host-api.md.
 */
#ifndef USTOR_USTOR_H
#define USTOR_USTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ustor_driver ustor_driver;
typedef struct ustor_adapter ustor_adapter;
struct ustor_bus_device; /* a simulated device, src/hw/bus.h */

/* DriverEntry as a miniport exports it (NTSTATUS DriverEntry(PVOID, PVOID)
 * in the WDK; the arguments are opaque to the miniport, which hands them to
 * StorPortInitialize). */
typedef int32_t (*ustor_driver_entry_fn)(void *driver_object, void *registry_path);

/* ---- drivers --------------------------------------------------------- */

/* dlopen()s a shared object, looks up DriverEntry and runs it.  On failure
 * returns a negative errno and writes a sentence saying what went wrong and
 * what was expected into err. */
int ustor_driver_load(const char *path, ustor_driver **out, char *err, size_t errlen);
/* Same for a miniport linked into the program. */
int ustor_driver_from_entry(ustor_driver_entry_fn entry, const char *name,
                            ustor_driver **out, char *err, size_t errlen);
void ustor_driver_unload(ustor_driver *drv);
const char *ustor_driver_name(const ustor_driver *drv);
/* TRUE if DriverEntry registered VIRTUAL_HW_INITIALIZATION_DATA. */
bool ustor_driver_is_virtual(const ustor_driver *drv);

/* ---- adapters -------------------------------------------------------- */

enum ustor_verifier_mode {
    USTOR_VERIFIER_OFF = 0,
    USTOR_VERIFIER_LOG,   /* report, count, continue */
    USTOR_VERIFIER_FATAL, /* report and stop the adapter at the first error */
};

struct ustor_adapter_config {
    /* Passed to HwStorFindAdapter as ArgumentString (the registry's
     * DriverParameter on Windows), e.g. "luns=2;size=64M;complete=dpc". */
    const char *argument_string;
    /* Simulated CPUs (DPC + interrupt threads); 0: online CPUs. */
    unsigned nr_cpus;
    /* Requests the port can hold at once (across LUNs); 0: 1024. */
    unsigned max_requests;
    /* Device for a physical miniport; NULL gives it an interrupt line and
     * nothing else (ustor_adapter_raise_interrupt drives it). */
    struct ustor_bus_device *device;
    enum ustor_verifier_mode verifier;
    /* Count verifier warnings as failures (ustor_adapter_violations). */
    bool warnings_are_errors;
    /* Where verifier reports go; NULL: stderr. */
    void (*report_sink)(void *ctx, const char *text);
    void *report_ctx;
    /* Lock-order graph (potential deadlocks); costs a little per lock. */
    bool lock_graph;
    /* Collect per-routine and per-lock timings (ustor_adapter_stats). */
    bool collect_stats;
};

/* Builds the adapter and runs its life cycle up to "ready for I/O":
 * HwStorFindAdapter, HwStorInitialize, passive initialization,
 * ScsiQuerySupportedControlTypes.  On failure says which routine returned
 * what. */
int ustor_adapter_create(ustor_driver *drv, const struct ustor_adapter_config *cfg,
                         ustor_adapter **out, char *err, size_t errlen);
/* Stops accepting I/O, fails what is queued and not started with
 * SRB_STATUS_ABORTED, waits (bounded) for what the miniport holds, stops
 * the adapter (ScsiStopAdapter), reports leaks, frees everything.  Every
 * submitted SRB's callback has run when it returns.  Never hangs: requests
 * the miniport never completes are completed by the port after
 * USTOR_SHUTDOWN_GRACE_MS with SRB_STATUS_TIMEOUT and reported. */
#define USTOR_SHUTDOWN_GRACE_MS 5000
void ustor_adapter_destroy(ustor_adapter *ad);

/* PnP stop / restart through HwStorAdapterControl with I/O in flight:
 * new I/O is held, the miniport's outstanding I/O drains, ScsiStopAdapter,
 * then ScsiRestartAdapter and the held I/O goes on. */
int ustor_adapter_stop_restart(ustor_adapter *ad);

/* Asks the port to call HwStorResetBus as after a timeout. */
void ustor_adapter_reset_bus(ustor_adapter *ad);

/* Raises interrupt message_id (0 for a line-based interrupt) of a physical
 * adapter, delivered asynchronously on an interrupt thread. */
int ustor_adapter_raise_interrupt(ustor_adapter *ad, uint32_t message_id);

/* ---- requests -------------------------------------------------------- */

/* Called once per submitted SRB, on a port thread, with no port lock held.
 * srb_status is SrbStatus with the flag bits masked off. */
typedef void (*ustor_srb_done)(void *ctx, void *srb, uint8_t srb_status);

/* Sends an SRB (a SCSI_REQUEST_BLOCK, or a STORAGE_REQUEST_BLOCK if the
 * adapter uses them) through the Storport path.  The caller owns the SRB
 * and its buffers until cb runs.  Returns 0, or -EINVAL (malformed SRB,
 * the reason goes to the verifier log and err), -ENODEV (no such LUN or
 * adapter stopping), -EBUSY (request pool exhausted). */
int ustor_submit_srb(ustor_adapter *ad, void *srb, ustor_srb_done cb, void *ctx);

/* The calling thread's last error sentence from ustor_submit_srb or
 * ustor_adapter_* (what was wrong and what would be right). */
const char *ustor_last_error(void);

/* TRUE when the miniport declared STORAGE_REQUEST_BLOCK support, so that
 * hosts build that kind (SCSI_REQUEST_BLOCK otherwise). */
bool ustor_adapter_uses_srbex(const ustor_adapter *ad);
/* SrbExtension size the miniport asked for. */
uint32_t ustor_adapter_srb_extension_size(const ustor_adapter *ad);

/* ---- what the adapter is --------------------------------------------- */

enum ustor_sync_mode {
    USTOR_SYNC_HALF_DUPLEX = 0,   /* physical, StorSynchronizeHalfDuplex */
    USTOR_SYNC_FULL_DUPLEX,       /* physical, full duplex, one channel */
    USTOR_SYNC_CONCURRENT,        /* physical, concurrent channels > 1 */
    USTOR_SYNC_VIRTUAL,           /* virtual miniport */
    USTOR_SYNC_MODE_COUNT
};
const char *ustor_sync_mode_name(enum ustor_sync_mode m);

struct ustor_adapter_info {
    char miniport[64];
    enum ustor_sync_mode mode;
    bool virtual_miniport;
    bool per_message_interrupts;  /* InterruptSynchronizePerMessage */
    bool msi;                     /* message-signaled interrupts */
    uint32_t interrupt_messages;
    uint32_t concurrent_channels;
    uint32_t max_transfer_length;
    uint32_t number_of_physical_breaks;
    uint32_t srb_extension_size;
    uint32_t device_extension_size;
    uint8_t max_path, max_target, max_lun; /* NumberOfBuses, MaximumNumberOfTargets, MaximumNumberOfLogicalUnits */
    bool srbex;
    uint32_t supported_control_types; /* bitmask of SCSI_ADAPTER_CONTROL_TYPE < 32 */
};
void ustor_adapter_get_info(const ustor_adapter *ad, struct ustor_adapter_info *info);

/* ---- statistics ------------------------------------------------------ */

struct ustor_routine_stats {
    const char *name;    /* HwStorStartIo, ... */
    uint64_t calls;
    uint64_t total_ns;
    uint64_t max_ns;
};
struct ustor_lock_stats {
    const char *name;    /* StartIoLock, InterruptLock(msg 0), DpcLock, ... */
    uint64_t acquisitions;
    uint64_t contended;
    uint64_t hold_total_ns;
    uint64_t hold_max_ns;
};
#define USTOR_MAX_STATS_ROUTINES 32
#define USTOR_MAX_STATS_LOCKS 80
struct ustor_stats {
    /* completed: requests whose completion callback has been called */
    uint64_t submitted, completed, busy_reissues, timeouts, bus_resets;
    uint64_t errors; /* completed with a status other than SUCCESS */
    unsigned nr_routines, nr_locks;
    struct ustor_routine_stats routines[USTOR_MAX_STATS_ROUTINES];
    struct ustor_lock_stats locks[USTOR_MAX_STATS_LOCKS];
};
void ustor_adapter_get_stats(const ustor_adapter *ad, struct ustor_stats *st);

/* ---- verifier -------------------------------------------------------- */

struct ustor_violation_count {
    const char *rule;
    bool warning;
    uint64_t count;
    const char *first_report; /* the first report's summary line */
};
/* Errors (plus warnings when warnings_are_errors) reported so far. */
uint64_t ustor_adapter_violations(const ustor_adapter *ad);
uint64_t ustor_adapter_warnings(const ustor_adapter *ad);
/* Fills up to max entries, one per rule that fired; returns how many
 * rules fired. */
unsigned ustor_adapter_violation_counts(const ustor_adapter *ad,
                                        struct ustor_violation_count *out, unsigned max);

#ifdef __cplusplus
}
#endif

#endif /* USTOR_USTOR_H */
