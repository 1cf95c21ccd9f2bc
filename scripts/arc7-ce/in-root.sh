# Sourced by scripts/arc7-ce/start, also by the shells it launches A-REX
# and the fork scanner with: runs a command inside the ARC 7 root tree.
# The caller sets `root` (the tree).
# shellcheck shell=bash

# in_root [STATE_DIR] -- COMMAND...: run COMMAND inside the root tree, in a
# mount namespace of its own with proc, dev/pts and dev/shm mounted, and
# STATE_DIR (if given) at the same path inside, its certificates/ also at
# /etc/grid-security/certificates: A-REX checks a token issuer's TLS
# certificate against that directory only. With in_root_exec=exec the
# calling shell becomes COMMAND: the PID stays the same through unshare, the
# mounting sh, chroot and env, so a shell that wrote `$$` to a PID file
# before has recorded COMMAND's PID.
in_root() {
    local bind=
    if [ "$1" != -- ]; then bind=$1; shift; fi
    shift
    # shellcheck disable=SC2016  # the inner sh expands these itself
    ${in_root_exec:-} unshare --mount --propagation private /bin/sh -c '
        root=$1 bind=$2
        shift 2
        mount -t proc proc "$root/proc" &&
            mount -t devpts -o newinstance,ptmxmode=0666 devpts "$root/dev/pts" &&
            mount -t tmpfs -o mode=1777 shm "$root/dev/shm" || exit 111
        if [ -n "$bind" ]; then
            mkdir -p "$root$bind" && mount --bind "$bind" "$root$bind" &&
                mount --bind "$bind/certificates" "$root/etc/grid-security/certificates" || exit 111
        fi
        exec chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
            DEBIAN_FRONTEND=noninteractive "$@"' sh "$root" "$bind" "$@"
}
