/*
 * nbd_errno.h - which errno an NBD client should see for a block-layer
 * failure.  NBD carries only a few error codes (EPERM, EIO, ENOMEM,
 * EINVAL, ENOSPC, EOVERFLOW, ENOTSUP, ESHUTDOWN); the block layer's
 * errnos (docs/block.md) are folded onto them here.
 */
#ifndef USTOR_NBD_ERRNO_H
#define USTOR_NBD_ERRNO_H

/* rc: a negative errno from the block layer (a positive one is accepted
 * too).  Returns the positive errno to hand to nbdkit_set_error. */
int nbd_errno_for_client(int rc);

#endif
