/*
 * builtin.h - the miniports linked into ustorport's programs (the CLI,
 * tests, benchmarks), by name.  Each is also built as a loadable module
 * lib<name>.so exporting DriverEntry (see miniports/CMakeLists.txt).
 *
 * Link with the static library ustor_miniports.
 */
#ifndef USTOR_BUILTIN_H
#define USTOR_BUILTIN_H

#include <stdbool.h>
#include <stddef.h>

#include <ustor/ustor.h>

#ifdef __cplusplus
extern "C" {
#endif

struct ustor_builtin_miniport {
    const char *name;          /* "ramdisk", "ramdisk-phys", ... */
    const char *description;   /* one line, for listings */
    ustor_driver_entry_fn entry; /* the miniport's DriverEntry */
    bool virtual_miniport;     /* registers VIRTUAL_HW_INITIALIZATION_DATA */
    const char *default_args;  /* ArgumentString used when none is given */
};

/* Every built-in miniport; *count receives how many (count may be NULL). */
const struct ustor_builtin_miniport *ustor_builtin_miniports(size_t *count);

/* The built-in miniport called name, or NULL if there is none. */
const struct ustor_builtin_miniport *ustor_builtin_find(const char *name);

#ifdef __cplusplus
}
#endif

#endif /* USTOR_BUILTIN_H */
