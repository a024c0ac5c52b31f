/* nbd_errno.c - see nbd_errno.h. */
#include "nbd_errno.h"

#include <errno.h>

int nbd_errno_for_client(int rc)
{
    int e = rc < 0 ? -rc : rc;
    switch (e) {
    case EIO:
    case ENOSPC:
    case EINVAL:
    case EROFS: /* nbdkit sends it as EPERM, what a client expects of a read-only disk */
    case EPERM:
    case ENOMEM:
    case EOVERFLOW:
    case ESHUTDOWN:
        return e;
    case EOPNOTSUPP:
        return EOPNOTSUPP;
    case ENODEV: /* the LUN is closing: the server is going away */
        return ESHUTDOWN;
    case EFBIG:
        return ENOSPC;
    case ERANGE:
    case E2BIG:
        return EINVAL;
    default:
        /* timeouts, resets, busy, anything a device can do: an I/O error */
        return EIO;
    }
}
