# Sourced by the NBD test scripts: ustor_nbdkit_wrap DIR
#
# Sanitizer builds: nbdkit (not instrumented) gets the sanitizer runtime
# named by USTOR_NBD_PRELOAD preloaded, through a wrapper put first in
# PATH under DIR; leak checking is off in it because nbdkit's own
# allocations at exit are not ours to judge.  Without USTOR_NBD_PRELOAD
# it does nothing.
ustor_nbdkit_wrap() {
    [ -n "${USTOR_NBD_PRELOAD:-}" ] || return 0
    local dir=$1 real_nbdkit
    mkdir -p "$dir/bin"
    real_nbdkit=$(command -v nbdkit)
    cat >"$dir/bin/nbdkit" <<WRAP
#!/bin/sh
LD_PRELOAD="$USTOR_NBD_PRELOAD\${LD_PRELOAD:+:\$LD_PRELOAD}" \\
ASAN_OPTIONS="\${ASAN_OPTIONS:+\$ASAN_OPTIONS:}detect_leaks=0:verify_asan_link_order=0" \\
exec "$real_nbdkit" "\$@"
WRAP
    chmod +x "$dir/bin/nbdkit"
    PATH=$dir/bin:$PATH
}
