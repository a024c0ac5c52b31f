/* test_nbd_errno.c - the errno an NBD client sees for each block-layer failure. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "nbd_errno.h"

static void test_nbd_codes_pass_through(void **state)
{
    (void)state;
    const int kept[] = { EIO, ENOSPC, EINVAL, EROFS, EPERM, ENOMEM, EOVERFLOW, ESHUTDOWN, EOPNOTSUPP };
    for (size_t i = 0; i < sizeof(kept) / sizeof(kept[0]); i++) {
        assert_int_equal(nbd_errno_for_client(-kept[i]), kept[i]);
        assert_int_equal(nbd_errno_for_client(kept[i]), kept[i]);
    }
}

static void test_other_codes_fold(void **state)
{
    (void)state;
    assert_int_equal(nbd_errno_for_client(-ENODEV), ESHUTDOWN);
    assert_int_equal(nbd_errno_for_client(-EFBIG), ENOSPC);
    assert_int_equal(nbd_errno_for_client(-ERANGE), EINVAL);
    assert_int_equal(nbd_errno_for_client(-ETIMEDOUT), EIO);
    assert_int_equal(nbd_errno_for_client(-EBUSY), EIO);
    assert_int_equal(nbd_errno_for_client(-ECONNRESET), EIO);
    assert_int_equal(nbd_errno_for_client(0), EIO);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nbd_codes_pass_through),
        cmocka_unit_test(test_other_codes_fold),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
