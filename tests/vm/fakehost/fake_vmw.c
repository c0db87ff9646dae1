// SPDX-License-Identifier: GPL-2.0
/*
 * memballoon_fakehost: a VMware balloon host, for tests only.
 *
 * It answers memballoon.ko's vmware transport through
 * mb_vmw_use_fake_hv() (memballoon.ko built with MB_TEST_HOOKS) the way
 * the backdoor protocol of src/kmod/vmware.h says a host does: START
 * grants what it offers of what the guest asks, GET_TARGET returns the
 * target, LOCK and UNLOCK (single or batched, with a status per page)
 * maintain the set of locked PFNs, BATCHED_2M_LOCK and _UNLOCK a set of
 * locked 2 MB pages apart from it (a 2 MB page must be aligned, and none of
 * its frames locked alone).  A host reset forgets both sets and closes the
 * session: every command but START then answers RESET.
 *
 * The doorbell: the fake makes it (mb_vmw_hv_ops.bell_create, as VMCI
 * would), DOORBELL_SET registers its handle, and each change of vmw_target
 * rings it while registered, from atomic context as VMCI's interrupt path
 * would: the guest's callback must not sleep.  A reset forgets the
 * registration, as the pages.
 *
 * Knobs, in /sys/module/memballoon_fakehost/parameters/ (or at insmod):
 *   vmw_target        target in pages (no clamp: may be above RAM); a
 *                     change rings the doorbell
 *   vmw_caps          capabilities offered at the next START (default:
 *                     all but the doorbell; add 0x10 to grant it)
 *   vmw_refuse_every  refuse every Nth page locked (PPN_PINNED), 0: none
 *   vmw_keep_every    refuse every Nth page unlocked (PPN_PINNED)
 *   vmw_refuse_2m_every  refuse every Nth 2 MB page locked (PPN_PINNED);
 *                     2 MB pages are granted when vmw_caps offers
 *                     MB_VMW_CAP_BATCHED_2M
 *   vmw_notneeded     1: a page (4 KiB or 2 MB) whose lock would take the
 *                     pages locked above vmw_target is answered
 *                     PPN_NOTNEEDED, per entry, as VMware's host does
 *                     once the balloon is at its target
 *   vmw_busy_locks    answer BUSY to the next N lock commands (LOCK,
 *                     BATCHED_LOCK, BATCHED_2M_LOCK; reads what is left)
 *   vmw_reset_after   after N more pages locked, reset at the next LOCK
 *                     (once; reads 0 again afterwards)
 *   vmw_reset_now     write 1: reset now
 *   vmw_start_status  non-zero: START answers this instead
 *   vmw_garbage       non-zero: every command answers this status
 *   vmw_silent        1: every command answers all ones, as a port that
 *                     nobody decodes
 *   vmw_bell_status   non-zero: DOORBELL_SET with a handle answers this
 *   vmw_bell_nodev    1: making a doorbell fails with -ENODEV, as when
 *                     vmw_vmci is not loaded
 *   vmw_state         read: the host's view and the guest's, one line of
 *                     key=value, both taken under the balloon's lock
 *   vmw_bell          read: the doorbell's state and counters, and the
 *                     guest's GET_TARGET calls, one line of key=value
 *
 * In vmw_state host_locked and host_sum count both sets (a 2 MB page as
 * its 512 frames and one mb_vmw_pfn_hash_2m() term), host_2m and
 * host_2m_sum the 2 MB set alone.
 */
#define pr_fmt(fmt) "fake_vmw: " fmt

#include <linux/bitmap.h>
#include <linux/io.h>
#include <linux/mm.h>
#include <linux/mmzone.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/nodemask.h>
#include <linux/spinlock.h>
#include <linux/vmalloc.h>

#include "vmware.h"

/* vmw_target: with the doorbell, below. */
static unsigned long fv_target;

/* The doorbell only on request: the other scenarios poll. */
static unsigned long fv_caps = MB_VMW_CAP_BASIC | MB_VMW_CAP_BATCHED |
			       MB_VMW_CAP_BATCHED_2M | MB_VMW_CAP_TARGET_64;
module_param_named(vmw_caps, fv_caps, ulong, 0644);
MODULE_PARM_DESC(vmw_caps, "VMware fake: capabilities offered at START");

static unsigned int fv_refuse_every;
module_param_named(vmw_refuse_every, fv_refuse_every, uint, 0644);
MODULE_PARM_DESC(vmw_refuse_every, "VMware fake: refuse every Nth page locked");

static unsigned int fv_keep_every;
module_param_named(vmw_keep_every, fv_keep_every, uint, 0644);
MODULE_PARM_DESC(vmw_keep_every, "VMware fake: refuse every Nth page unlocked");


static unsigned int fv_refuse_2m_every;
module_param_named(vmw_refuse_2m_every, fv_refuse_2m_every, uint, 0644);
MODULE_PARM_DESC(vmw_refuse_2m_every, "VMware fake: refuse every Nth 2 MB page locked");

static bool fv_notneeded;
module_param_named(vmw_notneeded, fv_notneeded, bool, 0644);
MODULE_PARM_DESC(vmw_notneeded, "VMware fake: answer PPN_NOTNEEDED to locks above the target");

static unsigned int fv_busy_locks;
module_param_named(vmw_busy_locks, fv_busy_locks, uint, 0644);
MODULE_PARM_DESC(vmw_busy_locks, "VMware fake: answer BUSY to the next N lock commands");

static unsigned int fv_start_status;
module_param_named(vmw_start_status, fv_start_status, uint, 0644);
MODULE_PARM_DESC(vmw_start_status, "VMware fake: START answers this status");

static unsigned int fv_garbage;
module_param_named(vmw_garbage, fv_garbage, uint, 0644);
MODULE_PARM_DESC(vmw_garbage, "VMware fake: every command answers this status");

static bool fv_silent;
module_param_named(vmw_silent, fv_silent, bool, 0644);
MODULE_PARM_DESC(vmw_silent, "VMware fake: every command answers all ones");

static unsigned int fv_bell_status;
module_param_named(vmw_bell_status, fv_bell_status, uint, 0644);
MODULE_PARM_DESC(vmw_bell_status, "VMware fake: DOORBELL_SET answers this status");

static bool fv_bell_nodev;
module_param_named(vmw_bell_nodev, fv_bell_nodev, bool, 0644);
MODULE_PARM_DESC(vmw_bell_nodev, "VMware fake: no doorbell can be made (as without vmw_vmci)");

/**
 * struct fake_vmw - the host's state, under @lock
 * @lock:	protects everything here
 * @locked:	bitmap of locked PFNs, @max_pfn bits
 * @locked_2m:	bitmap of locked 2 MB pages, by PFN >> MB_VMW_2M_ORDER
 * @max_pfn:	end of RAM
 * @nr_locked:	frames locked: bits set in @locked, and MB_VMW_2M_FRAMES
 *		for each bit set in @locked_2m
 * @sum:	sum of mb_vmw_pfn_hash() over @locked and mb_vmw_pfn_hash_2m()
 *		over @locked_2m
 * @nr_2m:	bits set in @locked_2m
 * @sum_2m:	sum of mb_vmw_pfn_hash_2m() over them
 * @session:	START succeeded and no reset since
 * @granted:	capabilities granted at that START
 * @guest_id:	GUEST_ID's argument
 * @limit:	GET_TARGET's argument (guest RAM, in the guest's words)
 * @resets:	resets so far
 * @starts:	successful STARTs
 * @closes:	STARTs with no capabilities (the guest left)
 * @refused:	pages refused on LOCK
 * @refused_2m:	2 MB pages refused on BATCHED_2M_LOCK
 * @notneeded:	pages (4 KiB or 2 MB) answered PPN_NOTNEEDED (vmw_notneeded)
 * @busy:	lock commands answered BUSY (vmw_busy_locks)
 * @kept:	pages refused on UNLOCK
 * @proto_errors: guest mistakes: locking a locked page, unlocking an
 *		unlocked one, an invalid PFN, a status not cleared, a
 *		command not granted
 * @since_arm:	pages locked since vmw_reset_after was last seen at 0
 * @nr_refuse:	pages considered for vmw_refuse_every
 * @nr_keep:	pages considered for vmw_keep_every
 * @nr_refuse_2m: 2 MB pages considered for vmw_refuse_2m_every
 * @cmds:	commands received, by number (the last slot: unknown)
 * @bell_ring:	the guest's doorbell callback, NULL when none exists
 * @bell_data:	its argument
 * @bell_id:	the doorbell's resource id (its context is FV_BELL_CONTEXT)
 * @bell_set:	DOORBELL_SET registered it and no reset since
 * @bell_made:	doorbells made
 * @bell_destroyed: doorbells destroyed
 * @bell_unset:	DOORBELL_SETs with no handle (the guest unregistering)
 * @bell_rings:	rings
 * @bell_errors: doorbell mistakes: a second doorbell, destroying one that
 *		does not exist, DOORBELL_SET of an unknown handle
 */
struct fake_vmw {
	spinlock_t lock;	/* everything here */
	unsigned long *locked;
	unsigned long *locked_2m;
	unsigned long max_pfn;
	u64 nr_locked;
	u64 sum;
	u64 nr_2m;
	u64 sum_2m;
	bool session;
	unsigned long granted;
	unsigned long guest_id;
	unsigned long limit;
	u64 resets;
	u64 starts;
	u64 closes;
	u64 refused;
	u64 refused_2m;
	u64 notneeded;
	u64 busy;
	u64 kept;
	u64 proto_errors;
	u64 since_arm;
	u64 nr_refuse;
	u64 nr_keep;
	u64 nr_refuse_2m;
	u64 cmds[MB_VMW_CMD_NR + 1];
	void (*bell_ring)(void *data);
	void *bell_data;
	u32 bell_id;
	bool bell_set;
	u64 bell_made;
	u64 bell_destroyed;
	u64 bell_unset;
	u64 bell_rings;
	u64 bell_errors;
};

/* Initialised here: vmw_target's setter may run before module init. */
static struct fake_vmw fv = { .lock = __SPIN_LOCK_UNLOCKED(fv.lock) };

/* The VMCI context id of the doorbells the fake makes (any id will do). */
#define FV_BELL_CONTEXT	7

/* The host forgets every page and closes the session. */
static void fv_reset_locked(void)
{
	lockdep_assert_held(&fv.lock);
	bitmap_zero(fv.locked, fv.max_pfn);
	bitmap_zero(fv.locked_2m, fv.max_pfn >> MB_VMW_2M_ORDER);
	fv.nr_locked = 0;
	fv.sum = 0;
	fv.nr_2m = 0;
	fv.sum_2m = 0;
	fv.session = false;
	fv.bell_set = false;
	fv.resets++;
}

static int fv_set_reset_now(const char *val, const struct kernel_param *kp)
{
	bool now;
	int err = kstrtobool(val, &now);

	if (err)
		return err;
	if (now) {
		spin_lock(&fv.lock);
		fv_reset_locked();
		spin_unlock(&fv.lock);
		pr_info("reset by request\n");
	}
	return 0;
}

/* Counting starts when the knob is written. */
static unsigned int fv_reset_after;

static int fv_set_reset_after(const char *val, const struct kernel_param *kp)
{
	unsigned int n;
	int err = kstrtouint(val, 0, &n);

	if (err)
		return err;
	spin_lock(&fv.lock);
	fv_reset_after = n;
	fv.since_arm = 0;
	spin_unlock(&fv.lock);
	return 0;
}

static const struct kernel_param_ops fv_reset_after_ops = {
	.set = fv_set_reset_after,
	.get = param_get_uint,
};

module_param_cb(vmw_reset_after, &fv_reset_after_ops, &fv_reset_after, 0644);
MODULE_PARM_DESC(vmw_reset_after, "VMware fake: reset at the first LOCK after N more pages locked");

static const struct kernel_param_ops fv_reset_now_ops = {
	.set = fv_set_reset_now,
	.get = param_get_bool,
};

static bool fv_reset_now_dummy;
module_param_cb(vmw_reset_now, &fv_reset_now_ops, &fv_reset_now_dummy, 0644);
MODULE_PARM_DESC(vmw_reset_now, "VMware fake: write 1 to reset the host now");

/* vmw_notneeded: would locking @frames more take the host above target? */
static bool fv_above_target(u64 frames)
{
	return READ_ONCE(fv_notneeded) &&
	       fv.nr_locked + frames > READ_ONCE(fv_target);
}

static unsigned long fv_lock_one(u64 pfn)
{
	if (pfn >= fv.max_pfn || !pfn_valid(pfn)) {
		fv.proto_errors++;
		return MB_VMW_ERR_PPN_INVALID;
	}
	if (test_bit(pfn, fv.locked) ||
	    test_bit(pfn >> MB_VMW_2M_ORDER, fv.locked_2m)) {
		fv.proto_errors++;
		return MB_VMW_ERR_PPN_LOCKED;
	}
	if (fv_above_target(1)) {
		fv.notneeded++;
		return MB_VMW_ERR_PPN_NOTNEEDED;
	}
	if (fv_refuse_every && ++fv.nr_refuse % fv_refuse_every == 0) {
		fv.refused++;
		return MB_VMW_ERR_PPN_PINNED;
	}
	__set_bit(pfn, fv.locked);
	fv.nr_locked++;
	fv.sum += mb_vmw_pfn_hash(pfn);
	fv.since_arm++;
	return MB_VMW_OK;
}

static unsigned long fv_unlock_one(u64 pfn)
{
	if (pfn >= fv.max_pfn || !test_bit(pfn, fv.locked)) {
		fv.proto_errors++;
		return MB_VMW_ERR_PPN_UNLOCKED;
	}
	if (fv_keep_every && ++fv.nr_keep % fv_keep_every == 0) {
		fv.kept++;
		return MB_VMW_ERR_PPN_PINNED;
	}
	__clear_bit(pfn, fv.locked);
	fv.nr_locked--;
	fv.sum -= mb_vmw_pfn_hash(pfn);
	return MB_VMW_OK;
}

/* A 2 MB page: aligned, inside RAM, and no frame of it locked alone. */
static unsigned long fv_lock_2m(u64 pfn)
{
	u64 idx = pfn >> MB_VMW_2M_ORDER;

	if (pfn & (MB_VMW_2M_FRAMES - 1) ||
	    pfn + MB_VMW_2M_FRAMES > fv.max_pfn || !pfn_valid(pfn)) {
		fv.proto_errors++;
		return MB_VMW_ERR_PPN_INVALID;
	}
	if (test_bit(idx, fv.locked_2m) ||
	    find_next_bit(fv.locked, pfn + MB_VMW_2M_FRAMES, pfn) <
	    pfn + MB_VMW_2M_FRAMES) {
		fv.proto_errors++;
		return MB_VMW_ERR_PPN_LOCKED;
	}
	if (fv_above_target(MB_VMW_2M_FRAMES)) {
		fv.notneeded++;
		return MB_VMW_ERR_PPN_NOTNEEDED;
	}
	if (fv_refuse_2m_every && ++fv.nr_refuse_2m % fv_refuse_2m_every == 0) {
		fv.refused_2m++;
		return MB_VMW_ERR_PPN_PINNED;
	}
	__set_bit(idx, fv.locked_2m);
	fv.nr_2m++;
	fv.sum_2m += mb_vmw_pfn_hash_2m(pfn);
	fv.nr_locked += MB_VMW_2M_FRAMES;
	fv.sum += mb_vmw_pfn_hash_2m(pfn);
	fv.since_arm += MB_VMW_2M_FRAMES;
	return MB_VMW_OK;
}

static unsigned long fv_unlock_2m(u64 pfn)
{
	u64 idx = pfn >> MB_VMW_2M_ORDER;

	if (pfn & (MB_VMW_2M_FRAMES - 1) || pfn >= fv.max_pfn ||
	    !test_bit(idx, fv.locked_2m)) {
		fv.proto_errors++;
		return MB_VMW_ERR_PPN_UNLOCKED;
	}
	__clear_bit(idx, fv.locked_2m);
	fv.nr_2m--;
	fv.sum_2m -= mb_vmw_pfn_hash_2m(pfn);
	fv.nr_locked -= MB_VMW_2M_FRAMES;
	fv.sum -= mb_vmw_pfn_hash_2m(pfn);
	return MB_VMW_OK;
}

/*
 * BATCHED_LOCK / BATCHED_UNLOCK (@huge: the 2M ones): @list_pfn holds @n
 * entries.
 */
static unsigned long fv_batch(bool lock, bool huge, unsigned long list_pfn,
			      unsigned long n)
{
	unsigned long i;
	u64 *e;

	if (list_pfn >= fv.max_pfn || !pfn_valid(list_pfn) ||
	    n > MB_VMW_BATCH_MAX) {
		fv.proto_errors++;
		return MB_VMW_ERR_PPN_INVALID;
	}
	e = phys_to_virt(PFN_PHYS(list_pfn));
	for (i = 0; i < n; i++) {
		u64 pfn = e[i] >> MB_VMW_ENTRY_PFN_SHIFT;

		if (e[i] & MB_VMW_ENTRY_STATUS_MASK)
			fv.proto_errors++;
		if (huge)
			e[i] = (pfn << MB_VMW_ENTRY_PFN_SHIFT) |
			       (lock ? fv_lock_2m(pfn) : fv_unlock_2m(pfn));
		else
			e[i] = (pfn << MB_VMW_ENTRY_PFN_SHIFT) |
			       (lock ? fv_lock_one(pfn) : fv_unlock_one(pfn));
	}
	return MB_VMW_OK;
}

/*
 * DOORBELL_SET: register the doorbell (@context, @resource) or, with no
 * handle, unregister it.
 */
static unsigned long fv_doorbell_set(unsigned long context,
				     unsigned long resource)
{
	lockdep_assert_held(&fv.lock);
	if (!(fv.granted & MB_VMW_CAP_DOORBELL)) {
		fv.proto_errors++;
		return MB_VMW_ERR_CMD_INVALID;
	}
	if (context == MB_VMW_BELL_NONE && resource == MB_VMW_BELL_NONE) {
		fv.bell_set = false;
		fv.bell_unset++;
		return MB_VMW_OK;
	}
	if (READ_ONCE(fv_bell_status))
		return READ_ONCE(fv_bell_status);
	if (!fv.bell_ring || context != FV_BELL_CONTEXT ||
	    resource != fv.bell_id) {
		fv.bell_errors++;
		return MB_VMW_ERR_CMD_INVALID;
	}
	fv.bell_set = true;
	return MB_VMW_OK;
}

static unsigned long fv_target_answer(void)
{
	if (!(fv.granted & MB_VMW_CAP_TARGET_64))
		return (u32)READ_ONCE(fv_target);
	return READ_ONCE(fv_target);
}

static unsigned long fv_cmd(unsigned long cmd, unsigned long arg1,
			    unsigned long arg2, unsigned long *result)
{
	unsigned long status = MB_VMW_OK;

	*result = 0;
	spin_lock(&fv.lock);
	fv.cmds[min_t(unsigned long, cmd, MB_VMW_CMD_NR)]++;
	if (READ_ONCE(fv_silent)) {
		status = MB_VMW_NO_ANSWER;
		goto out;
	}
	if (READ_ONCE(fv_garbage)) {
		status = READ_ONCE(fv_garbage);
		goto out;
	}
	if (cmd == MB_VMW_CMD_START) {
		if (fv_start_status) {
			status = fv_start_status;
		} else if (!arg1) {
			/* The guest closes its session and drops its pages. */
			fv.closes++;
			fv_reset_locked();
			fv.resets--;	/* not a host reset */
		} else {
			if (fv.nr_locked)
				fv_reset_locked();	/* a new session starts empty */
			fv.granted = arg1 & READ_ONCE(fv_caps);
			fv.session = true;
			fv.starts++;
			*result = fv.granted;
			status = MB_VMW_OK_WITH_CAPS;
		}
		goto out;
	}
	if (!fv.session) {
		status = MB_VMW_ERR_RESET;
		goto out;
	}
	switch (cmd) {
	case MB_VMW_CMD_GUEST_ID:
		fv.guest_id = arg1;
		break;
	case MB_VMW_CMD_GET_TARGET:
		fv.limit = arg1;
		*result = fv_target_answer();
		break;
	case MB_VMW_CMD_LOCK:
	case MB_VMW_CMD_BATCHED_LOCK:
	case MB_VMW_CMD_BATCHED_2M_LOCK:
		if (fv_reset_after && fv.since_arm >= fv_reset_after) {
			fv_reset_after = 0;
			fv_reset_locked();
			pr_info("reset after %llu pages locked\n", fv.since_arm);
			status = MB_VMW_ERR_RESET;
			goto out;
		}
		if (fv_busy_locks) {
			fv_busy_locks--;
			fv.busy++;
			status = MB_VMW_ERR_BUSY;
			goto out;
		}
		fallthrough;
	case MB_VMW_CMD_UNLOCK:
	case MB_VMW_CMD_BATCHED_UNLOCK:
	case MB_VMW_CMD_BATCHED_2M_UNLOCK: {
		bool huge = cmd == MB_VMW_CMD_BATCHED_2M_LOCK ||
			    cmd == MB_VMW_CMD_BATCHED_2M_UNLOCK;
		bool lock = cmd == MB_VMW_CMD_LOCK ||
			    cmd == MB_VMW_CMD_BATCHED_LOCK ||
			    cmd == MB_VMW_CMD_BATCHED_2M_LOCK;
		bool batched = huge || cmd == MB_VMW_CMD_BATCHED_LOCK ||
			       cmd == MB_VMW_CMD_BATCHED_UNLOCK;
		unsigned long need = huge ? MB_VMW_CAP_BATCHED |
					    MB_VMW_CAP_BATCHED_2M :
				     batched ? MB_VMW_CAP_BATCHED :
					       MB_VMW_CAP_BASIC;

		if ((fv.granted & need) != need) {
			fv.proto_errors++;
			status = MB_VMW_ERR_CMD_INVALID;
		} else if (batched) {
			status = fv_batch(lock, huge, arg1, arg2);
		} else if (arg2 != 1) {
			fv.proto_errors++;
			status = MB_VMW_ERR_CMD_INVALID;
		} else {
			status = lock ? fv_lock_one(arg1) : fv_unlock_one(arg1);
		}
		if (status == MB_VMW_OK)
			*result = fv_target_answer();
		break;
	}
	case MB_VMW_CMD_DOORBELL_SET:
		status = fv_doorbell_set(arg1, arg2);
		break;
	default:
		/* Unknown commands. */
		status = MB_VMW_ERR_CMD_INVALID;
		break;
	}
out:
	spin_unlock(&fv.lock);
	return status;
}

static bool fv_detect(void)
{
	return true;
}

/* ---- the doorbell -------------------------------------------------------- */

/* As vmci_doorbell_create(): one doorbell at a time is all the guest needs. */
static int fv_bell_create(void (*ring)(void *data), void *data,
			  u32 *ret_context, u32 *ret_resource)
{
	int err = 0;

	if (READ_ONCE(fv_bell_nodev))
		return -ENODEV;
	spin_lock(&fv.lock);
	if (fv.bell_ring) {
		fv.bell_errors++;
		err = -EBUSY;
	} else {
		fv.bell_ring = ring;
		fv.bell_data = data;
		fv.bell_id++;
		fv.bell_made++;
		*ret_context = FV_BELL_CONTEXT;
		*ret_resource = fv.bell_id;
	}
	spin_unlock(&fv.lock);
	return err;
}

/*
 * As vmci_doorbell_destroy(): once this returns the callback is neither
 * running nor called again (rings happen under fv.lock).  A doorbell still
 * registered with the host is dropped from it, as VMCI would.
 */
static void fv_bell_destroy(u32 context, u32 resource)
{
	spin_lock(&fv.lock);
	if (!fv.bell_ring || context != FV_BELL_CONTEXT ||
	    resource != fv.bell_id) {
		fv.bell_errors++;
	} else {
		fv.bell_ring = NULL;
		fv.bell_data = NULL;
		fv.bell_set = false;
		fv.bell_destroyed++;
	}
	spin_unlock(&fv.lock);
}

/*
 * vmw_target: a change rings the doorbell if the guest registered one in
 * this session.  The ring is made with fv.lock held and bottom halves off:
 * the atomic context of VMCI's interrupt path.
 */
static int fv_set_target(const char *val, const struct kernel_param *kp)
{
	unsigned long target;
	int err = kstrtoul(val, 0, &target);

	if (err)
		return err;
	spin_lock_bh(&fv.lock);
	if (target != fv_target && fv.session && fv.bell_set &&
	    (fv.granted & MB_VMW_CAP_DOORBELL)) {
		WRITE_ONCE(fv_target, target);
		fv.bell_rings++;
		fv.bell_ring(fv.bell_data);
	} else {
		WRITE_ONCE(fv_target, target);
	}
	spin_unlock_bh(&fv.lock);
	return 0;
}

static const struct kernel_param_ops fv_target_ops = {
	.set = fv_set_target,
	.get = param_get_ulong,
};

module_param_cb(vmw_target, &fv_target_ops, &fv_target, 0644);
MODULE_PARM_DESC(vmw_target, "VMware fake: target in pages (a change rings the doorbell)");

static int fv_get_bell(char *buf, const struct kernel_param *kp)
{
	int len;

	spin_lock_bh(&fv.lock);
	len = scnprintf(buf, PAGE_SIZE,
			"bell_exists=%d bell_set=%d bell_made=%llu bell_destroyed=%llu bell_unset=%llu bell_rings=%llu bell_errors=%llu cmd_doorbell_set=%llu cmd_get_target=%llu cmd_start=%llu\n",
			fv.bell_ring != NULL, fv.bell_set, fv.bell_made,
			fv.bell_destroyed, fv.bell_unset, fv.bell_rings,
			fv.bell_errors, fv.cmds[MB_VMW_CMD_DOORBELL_SET],
			fv.cmds[MB_VMW_CMD_GET_TARGET],
			fv.cmds[MB_VMW_CMD_START]);
	spin_unlock_bh(&fv.lock);
	return len;
}

static const struct kernel_param_ops fv_bell_ops = {
	.get = fv_get_bell,
};

module_param_cb(vmw_bell, &fv_bell_ops, NULL, 0444);
MODULE_PARM_DESC(vmw_bell, "VMware fake: the doorbell's state and counters (read)");

static const struct mb_vmw_hv_ops fv_ops = {
	.detect	= fv_detect,
	.cmd	= fv_cmd,
	.bell_create	= fv_bell_create,
	.bell_destroy	= fv_bell_destroy,
};

/* ---- vmw_state: both views --------------------------------------------- */

struct fv_snap {
	char *buf;
	int len;
};

/* Called by mb_vmw_test_view() with the balloon's lock held. */
static void fv_host_view(void *arg)
{
	struct fv_snap *s = arg;

	spin_lock(&fv.lock);
	s->len += scnprintf(s->buf + s->len, PAGE_SIZE - s->len,
			    "host_session=%d host_caps=%#lx host_locked=%llu host_sum=%#llx host_resets=%llu host_starts=%llu host_closes=%llu guest_id=%lu limit=%lu host_refused=%llu host_kept=%llu proto_errors=%llu cmd_lock=%llu cmd_unlock=%llu cmd_batched_lock=%llu cmd_batched_unlock=%llu cmd_get_target=%llu host_2m=%llu host_2m_sum=%#llx host_refused_2m=%llu cmd_2m_lock=%llu cmd_2m_unlock=%llu host_notneeded=%llu host_busy=%llu",
			    fv.session, fv.granted, fv.nr_locked, fv.sum,
			    fv.resets, fv.starts, fv.closes, fv.guest_id,
			    fv.limit, fv.refused, fv.kept, fv.proto_errors,
			    fv.cmds[MB_VMW_CMD_LOCK], fv.cmds[MB_VMW_CMD_UNLOCK],
			    fv.cmds[MB_VMW_CMD_BATCHED_LOCK],
			    fv.cmds[MB_VMW_CMD_BATCHED_UNLOCK],
			    fv.cmds[MB_VMW_CMD_GET_TARGET], fv.nr_2m, fv.sum_2m,
			    fv.refused_2m, fv.cmds[MB_VMW_CMD_BATCHED_2M_LOCK],
			    fv.cmds[MB_VMW_CMD_BATCHED_2M_UNLOCK],
			    fv.notneeded, fv.busy);
	spin_unlock(&fv.lock);
}

static int fv_get_state(char *buf, const struct kernel_param *kp)
{
	struct fv_snap s = { .buf = buf };
	struct mb_vmw_test_view v;

	mb_vmw_test_view(&v, fv_host_view, &s);
	s.len += scnprintf(buf + s.len, PAGE_SIZE - s.len,
			   " guest_bound=%d guest_broken=%d guest_reset=%d guest_caps=%#lx guest_pages=%llu guest_walked=%d guest_listed=%llu guest_sum=%#llx guest_told=%llu guest_told_sum=%#llx guest_host_resets=%llu guest_target=%llu guest_raw_target=%llu guest_clamped=%llu guest_huge=%llu guest_huge_sum=%#llx guest_told_2m=%llu guest_told_2m_sum=%#llx guest_notneeded=%llu guest_busy=%llu\n",
			   v.bound, v.broken, v.reset, v.caps, v.nr_pages,
			   v.walked, v.listed, v.pfn_sum, v.told_pages,
			   v.told_sum, v.host_resets, v.target, v.raw_target,
			   v.clamped, v.huge, v.huge_sum, v.told_2m,
			   v.told_2m_sum, v.notneeded, v.busy);
	return s.len;
}

static const struct kernel_param_ops fv_state_ops = {
	.get = fv_get_state,
};

module_param_cb(vmw_state, &fv_state_ops, NULL, 0444);
MODULE_PARM_DESC(vmw_state, "VMware fake: host and guest views (read)");

/* ---- life --------------------------------------------------------------- */

/* One bit per PFN up to the end of the last node's memory. */
static unsigned long fv_end_pfn(void)
{
	unsigned long end = 0;
	int nid;

	for_each_online_node(nid)
		end = max(end, node_end_pfn(nid));
	return end;
}

static int __init fake_vmw_init(void)
{
	int err;

	spin_lock_init(&fv.lock);
	fv.max_pfn = fv_end_pfn();
	fv.locked = vzalloc(BITS_TO_LONGS(fv.max_pfn) * sizeof(long));
	fv.locked_2m = vzalloc(BITS_TO_LONGS(fv.max_pfn >> MB_VMW_2M_ORDER) *
			       sizeof(long) + sizeof(long));
	if (!fv.locked || !fv.locked_2m) {
		vfree(fv.locked);
		vfree(fv.locked_2m);
		return -ENOMEM;
	}
	err = mb_vmw_use_fake_hv(&fv_ops);
	if (err) {
		pr_info("memballoon.ko refused the fake host (%d): real VMware?\n",
			err);
		vfree(fv.locked);
		vfree(fv.locked_2m);
		fv.locked = NULL;
		return err;
	}
	pr_info("answering for VMware, %lu PFNs\n", fv.max_pfn);
	return 0;
}

static void __exit fake_vmw_exit(void)
{
	if (!fv.locked)
		return;
	/* memballoon.ko unlocks every page through us while we answer. */
	mb_vmw_drop_fake_hv();
	pr_info("exit: %llu pages still locked, %llu protocol errors, %llu resets, %llu closes (%llu of 2 MB)\n",
		fv.nr_locked, fv.proto_errors, fv.resets, fv.closes, fv.nr_2m);
	pr_info("exit: doorbells %llu made, %llu destroyed, %llu unregistered, %llu rings, %llu errors, one left %d\n",
		fv.bell_made, fv.bell_destroyed, fv.bell_unset, fv.bell_rings,
		fv.bell_errors, fv.bell_ring != NULL);
	vfree(fv.locked);
	vfree(fv.locked_2m);
	fv.locked = NULL;
}

module_init(fake_vmw_init);
module_exit(fake_vmw_exit);

MODULE_DESCRIPTION("memballoon tests: a fake VMware balloon host");
MODULE_LICENSE("GPL");
