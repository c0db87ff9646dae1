#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# memballoon-device and the stock VMware balloon driver, on a fake /sys
# tree (--root) with a fake modprobe (--modprobe) that loads and unloads
# modules by making and removing /sys/module/NAME in the tree and logs
# every call.  On VMware (DMI sys_vendor "VMware, Inc."): "take" unloads
# vmw_balloon before it loads memballoon.ko, refuses to load the shim if
# vmw_balloon cannot go, and "release --force" loads vmw_balloon again once
# the shim is gone; elsewhere it never touches vmw_balloon.  Prints TAP.
set -u
top_builddir=${top_builddir:-$(cd "$(dirname "$0")/../.." && pwd)}
H=$top_builddir/memballoon-device
n=0
failed=0

ok() { n=$((n + 1)); echo "ok $n - $1"; }
notok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; shift; for l in "$@"; do echo "# $l"; done; }
check() { local what=$1; shift; if "$@"; then ok "$what"; else notok "$what" "$(cat "$T/out" 2>/dev/null)" "calls: $(tr '\n' ';' < "$T/calls" 2>/dev/null)"; fi; }

T=$(mktemp -d /tmp/memballoon-device.XXXXXX)
trap 'rm -rf "$T"' EXIT
R=$T/root

# The fake modprobe: "modprobe [-r] NAME".  Modules listed in $T/stuck
# cannot be unloaded (built in).
cat > "$T/modprobe" <<EOS
#!/bin/sh
echo "\$*" >> "$T/calls"
if [ "\$1" = -r ]; then
	grep -qx "\$2" "$T/stuck" 2>/dev/null && exit 1
	rmdir "$R/sys/module/\$2" 2>/dev/null
	[ "\$2" = memballoon ] && rmdir "$R/sys/bus/virtio/drivers/memballoon" 2>/dev/null
	exit 0
fi
mkdir -p "$R/sys/module/\$1"
[ "\$1" = memballoon ] && mkdir -p "$R/sys/bus/virtio/drivers/memballoon"
exit 0
EOS
chmod +x "$T/modprobe"

fresh() {       # fresh VENDOR [loaded modules...]
        rm -rf "$R" "$T/calls" "$T/stuck"
        mkdir -p "$R/sys/bus/virtio/devices" "$R/sys/bus/virtio/drivers" "$R/sys/module" \
                "$R/sys/class/dmi/id"
        printf '%s\n' "$1" > "$R/sys/class/dmi/id/sys_vendor"
        shift
        for m in "$@"; do mkdir -p "$R/sys/module/$m"; done
        : > "$T/calls"
}
helper() { "$H" --root "$R" --modprobe "$T/modprobe" "$@" > "$T/out" 2>&1; }

echo "1..10"

fresh "VMware, Inc." vmw_balloon
helper take; rc=$?
check "VMware: take succeeds" [ $rc = 0 ]
check "VMware: vmw_balloon unloaded before memballoon.ko loads" \
        [ "$(tr '\n' ';' < "$T/calls")" = "-r vmw_balloon;memballoon;" ]
check "VMware: take says why" grep -q "vmw_balloon unloaded" "$T/out"

helper release --force; rc=$?
check "VMware: release succeeds" [ $rc = 0 ]
check "VMware: memballoon.ko unloaded, then vmw_balloon loaded again" \
        [ "$(tr '\n' ';' < "$T/calls")" = "-r vmw_balloon;memballoon;-r memballoon;vmw_balloon;" ]

fresh "VMware, Inc." vmw_balloon
echo vmw_balloon > "$T/stuck"
helper take; rc=$?
check "VMware, vmw_balloon cannot go: take fails" [ $rc = 1 ]
check "VMware, vmw_balloon cannot go: memballoon.ko is not loaded, and the log says why" \
        eval '! grep -qx memballoon "$T/calls" && grep -q "reset each other" "$T/out"'

fresh "QEMU"
helper take && helper release --force; rc=$?
check "not VMware: take and release succeed" [ $rc = 0 ]
check "not VMware: vmw_balloon never touched" eval '! grep -q vmw_balloon "$T/calls"'

# A hostile vendor file (binary, oversized) reads as "not VMware".
fresh "QEMU"
head -c 100000 /dev/urandom > "$R/sys/class/dmi/id/sys_vendor"
helper release --force; rc=$?
check "unreadable sys_vendor: not VMware, vmw_balloon not loaded" \
        eval '[ $rc = 0 ] && ! grep -q vmw_balloon "$T/calls"'

[ "$failed" = 0 ]
