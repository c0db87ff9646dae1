#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Write mb_compat.h for the kernel being built against.
#
# Called by Kbuild with the kernel's compiler and flags in MB_CC and
# MB_CFLAGS and its autoconf.h in MB_AUTOCONF.  Each feature is found by
# compiling a small probe against that kernel's own headers, the way DKMS
# drivers do it, never by version number: Debian and others backport.
# The header only records what the kernel has.  shim.h decides what is
# required and stops the build with #error when something required is
# missing; nothing is left out silently.
#
# Output goes to stdout; each probe and its compiler messages go to
# $MB_CONFTEST_LOG (default /dev/null), to see why a probe said no.

set -u
log=${MB_CONFTEST_LOG:-/dev/null}
: > "$log"

# Every CONFIG_BALLOON_* option the shim knows the meaning of.  Another
# one appearing means the balloon core changed in a way nobody has looked
# at yet; the generated header then refuses to build (see the end).
known_balloon_configs="CONFIG_BALLOON_COMPACTION CONFIG_BALLOON_MIGRATION"

# Compile stdin as kbuild would compile one of our files.  The flags are
# shell words quoted the way kbuild quotes them (arm64 passes
# -DARM64_ASM_ARCH='"armv8.5-a"'), hence eval.
kcc() {
	eval "$MB_CC $MB_CFLAGS -fsyntax-only -x c - $*"
}

probe() { # probe NAME WHAT C-BODY
	printf '==== %s\n%s\n' "$1" "$3" >> "$log"
	if printf '%s\n' "$3" | kcc -Werror >> "$log" 2>&1; then
		printf '/* %s */\n#define %s 1\n\n' "$2" "$1"
	else
		printf '/* %s: no */\n#undef %s\n\n' "$2" "$1"
	fi
}

cat <<EOF
/* Generated from this kernel's headers at build time: do not edit. */
#ifndef _MEMBALLOON_COMPAT_H
#define _MEMBALLOON_COMPAT_H

EOF

probe MB_HAVE_LINUX_BALLOON_H \
	'<linux/balloon.h> (7.x; was <linux/balloon_compaction.h>)' '
#include <linux/balloon.h>
'

probe MB_HAVE_BALLOON_COMPACTION_H '<linux/balloon_compaction.h> (up to 6.x)' '
#include <linux/balloon_compaction.h>
'

# Which of the two headers to use for the remaining balloon probes.
if printf '#include <linux/balloon.h>\n' | kcc >/dev/null 2>&1; then
	bh='#include <linux/balloon.h>'
else
	bh='#include <linux/balloon_compaction.h>'
fi

probe MB_HAVE_BALLOON_MIGRATEPAGE \
	'struct balloon_dev_info has the migratepage callback' "
$bh
static int cb(struct balloon_dev_info *b, struct page *n, struct page *o,
	      enum migrate_mode m)
{
	return 0;
}
void mb_probe(struct balloon_dev_info *b);
void mb_probe(struct balloon_dev_info *b)
{
	b->migratepage = cb;
}
"

# Up to 6.x the driver's migratepage does all the work: it takes the
# reference on the new page, inserts it under b_dev_info->pages_lock,
# drops isolated_pages and releases the old page.
probe MB_HAVE_BALLOON_PAGES_LOCK \
	'balloon_dev_info.pages_lock: migratepage inserts and releases (6.x)' "
$bh
void mb_probe(struct balloon_dev_info *b);
void mb_probe(struct balloon_dev_info *b)
{
	spin_lock(&b->pages_lock);
	spin_unlock(&b->pages_lock);
}
"

# From 7.x the core does all of that itself after migratepage returns 0,
# and adjusts the managed page count when this flag is set.
probe MB_HAVE_BALLOON_ADJUST_MANAGED \
	'balloon_dev_info.adjust_managed_page_count: the core migrates (7.x)' "
$bh
void mb_probe(struct balloon_dev_info *b);
void mb_probe(struct balloon_dev_info *b)
{
	b->adjust_managed_page_count = true;
}
"

# 6.11 replaced the callbacks[] and names[] arrays of virtio_find_vqs().
probe MB_HAVE_VIRTQUEUE_INFO 'virtio_find_vqs() takes struct virtqueue_info[] (6.11)' '
#include <linux/virtio_config.h>
int mb_probe(struct virtio_device *vdev, struct virtqueue **vqs);
int mb_probe(struct virtio_device *vdev, struct virtqueue **vqs)
{
	struct virtqueue_info info[] = { { .name = "x", .callback = NULL } };

	return virtio_find_vqs(vdev, 1, vqs, info, NULL);
}
'

# The VMCI doorbell (vmware.c), reached with symbol_get() so that
# memballoon.ko does not depend on vmw_vmci: the prototypes, flags and
# handle as vmware.c uses them.  Whether vmw_vmci is built does not
# matter here (symbol_get() finds out at run time).
probe MB_HAVE_VMCI_DOORBELL 'VMCI doorbell API (vmci_doorbell_create/destroy)' '
#include <linux/module.h>
#include <linux/vmw_vmci_defs.h>
#include <linux/vmw_vmci_api.h>
static void cb(void *data)
{
}
int mb_probe(void);
int mb_probe(void)
{
	int (*create)(struct vmci_handle *h, u32 flags, u32 priv_flags,
		      vmci_callback notify_cb, void *client_data);
	int (*destroy)(struct vmci_handle h);
	struct vmci_handle h = VMCI_INVALID_HANDLE;
	u32 ids[2] = { VMCI_INVALID_ID, VMCI_INVALID_ID };
	int r;

	create = symbol_get(vmci_doorbell_create);
	destroy = symbol_get(vmci_doorbell_destroy);
	r = create(&h, VMCI_FLAG_DELAYED_CB, VMCI_PRIVILEGE_FLAG_RESTRICTED,
		   cb, NULL);
	ids[0] = h.context;
	ids[1] = h.resource;
	destroy(h);
	symbol_put(vmci_doorbell_create);
	symbol_put(vmci_doorbell_destroy);
	return r == VMCI_SUCCESS && ids[0] != ids[1];
}
'

# The balloon options this kernel was configured with.
unknown=
if [ -r "$MB_AUTOCONF" ]; then
	for c in $(sed -n 's/^#define \(CONFIG_BALLOON_[A-Z0-9_]*\) .*/\1/p' \
		   "$MB_AUTOCONF"); do
		case " $known_balloon_configs " in
		*" $c "*) ;;
		*) unknown="$unknown $c" ;;
		esac
	done
else
	echo "#error \"memballoon: cannot read $MB_AUTOCONF\""
fi
if [ -n "$unknown" ]; then
	echo "#error \"memballoon: unknown balloon options:$unknown; teach the probes\""
	echo
fi

echo '#endif /* _MEMBALLOON_COMPAT_H */'
