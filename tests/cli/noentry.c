/* noentry.c - a shared object that is not a miniport: it exports no
 * DriverEntry, so loading it must fail with exit status 4. */
int testmp_not_a_driver(int x);
int testmp_not_a_driver(int x)
{
    return x + 1;
}
