/* SPDX-License-Identifier: GPL-2.0 */
/*
 * memballoon: the VMware balloon protocol, as vmware.c speaks it and as
 * the test host (tests/vm/fakehost/fake_vmw.c) answers it.
 *
 * The guest talks to the host through the "backdoor": an inl from I/O port
 * MB_VMW_PORT with MB_VMW_MAGIC in eax, the command in ecx, the port in dx,
 * the first argument in ebx and the second in esi.  The host answers with a
 * status in eax and a result in ebx (START: in ecx).  These numbers are the
 * protocol's, as Linux's own driver (drivers/misc/vmw_balloon.c) uses them.
 *
 * Page numbers are 4 KiB frames.  vmware.c is built on x86-64 only, where
 * that is also the kernel's page size.  A 2 MB page is MB_VMW_2M_FRAMES
 * frames, named by the first one's PFN.
 */
#ifndef _MEMBALLOON_VMWARE_H
#define _MEMBALLOON_VMWARE_H

#include <linux/types.h>

#define MB_VMW_PORT		0x5670
#define MB_VMW_MAGIC		0x456c6d6f
/* GUEST_ID's argument for a Linux guest. */
#define MB_VMW_GUEST_LINUX	1

/* Commands (ecx). */
#define MB_VMW_CMD_START		0	/* arg1: capabilities wanted */
#define MB_VMW_CMD_GET_TARGET		1	/* arg1: guest RAM in frames */
#define MB_VMW_CMD_LOCK			2	/* arg1: PFN (32 bits), arg2: 1 */
#define MB_VMW_CMD_UNLOCK		3	/* the same, page given back */
#define MB_VMW_CMD_GUEST_ID		4	/* arg1: MB_VMW_GUEST_LINUX */
#define MB_VMW_CMD_BATCHED_LOCK		6	/* arg1: PFN of the list page, arg2: entries */
#define MB_VMW_CMD_BATCHED_UNLOCK	7
#define MB_VMW_CMD_BATCHED_2M_LOCK	8	/* the same, 2 MB pages */
#define MB_VMW_CMD_BATCHED_2M_UNLOCK	9
#define MB_VMW_CMD_DOORBELL_SET		10	/* arg1, arg2: VMCI handle */
#define MB_VMW_CMD_NR			11

/* Capabilities (START's arg1 and answer).  Bit 0 means nothing. */
#define MB_VMW_CAP_BASIC		(1UL << 1)	/* LOCK, UNLOCK */
#define MB_VMW_CAP_BATCHED		(1UL << 2)	/* BATCHED_LOCK/UNLOCK */
#define MB_VMW_CAP_BATCHED_2M		(1UL << 3)	/* BATCHED_2M_* */
#define MB_VMW_CAP_DOORBELL		(1UL << 4)	/* DOORBELL_SET */
#define MB_VMW_CAP_TARGET_64		(1UL << 5)	/* 64-bit GET_TARGET */

/* Status (eax).  The host may use any of these for any command. */
#define MB_VMW_OK			0
#define MB_VMW_ERR_CMD_INVALID		1
#define MB_VMW_ERR_PPN_INVALID		2
#define MB_VMW_ERR_PPN_LOCKED		3
#define MB_VMW_ERR_PPN_UNLOCKED		4
#define MB_VMW_ERR_PPN_PINNED		5
#define MB_VMW_ERR_PPN_NOTNEEDED	6
#define MB_VMW_ERR_RESET		7	/* the host forgot every page */
#define MB_VMW_ERR_BUSY			8
#define MB_VMW_ERR_MAX			MB_VMW_ERR_BUSY
/* START: success, and ecx holds the capabilities granted. */
#define MB_VMW_OK_WITH_CAPS		0x03000000
/*
 * What an inl from a port nobody decodes reads (the protocol's own
 * "failure", -1 in 32 bits).  QEMU's vmport answers only port 0x5658, so
 * this is START's answer under QEMU.
 */
#define MB_VMW_NO_ANSWER		0xffffffffUL

/*
 * DOORBELL_SET's arguments are the two halves of a VMCI handle (context,
 * resource); both this value (VMCI_INVALID_ID) unregister the doorbell.
 */
#define MB_VMW_BELL_NONE		0xffffffffU

/*
 * Page-list page of the batched commands: one u64 per page, the PFN in
 * bits 12..63 and the host's per-page status (MB_VMW_OK or MB_VMW_ERR_*) in
 * bits 0..4, which the guest clears.  One 4 KiB page holds 512 entries.
 */
#define MB_VMW_ENTRY_PFN_SHIFT		12
#define MB_VMW_ENTRY_STATUS_MASK	0x1fULL
#define MB_VMW_BATCH_MAX		512

/* A 2 MB page: its order in 4 KiB frames, and how many frames it is. */
#define MB_VMW_2M_ORDER			9
#define MB_VMW_2M_FRAMES		(1UL << MB_VMW_2M_ORDER)

/**
 * struct mb_vmw_hv_ops - the hypervisor behind the transport
 * @detect:	whether this hypervisor is there at all
 * @cmd:	issue backdoor command @cmd with @arg1 and @arg2; store the
 *		result (ebx, or ecx for START) in @result and return the
 *		status (eax, 32 bits).  May sleep only if it is a fake:
 *		vmware.c calls it under mutexes, never under a spinlock.
 * @bell_create: make a doorbell the host can ring (VMCI's, on VMware):
 *		from then on @ring(@data) is called, in any context (it must
 *		not sleep), each time it rings.  Its handle, for
 *		DOORBELL_SET, goes to @ret_context and @ret_resource.
 *		Return 0, or -ENODEV when there is no doorbell to be had
 *		(vmw_vmci not loaded), or another -errno.  May sleep.  NULL:
 *		this hypervisor has none, and the capability is not asked.
 * @bell_destroy: destroy that doorbell; when it returns, @ring is neither
 *		running nor called again.  May sleep.
 */
struct mb_vmw_hv_ops {
	bool (*detect)(void);
	unsigned long (*cmd)(unsigned long cmd, unsigned long arg1,
			     unsigned long arg2, unsigned long *result);
	int (*bell_create)(void (*ring)(void *data), void *data,
			   u32 *ret_context, u32 *ret_resource);
	void (*bell_destroy)(u32 context, u32 resource);
};

#ifdef MB_TEST_HOOKS
/**
 * struct mb_vmw_test_view - the guest's side, for the test host
 * @bound:	the vmware transport is the balloon's transport
 * @broken:	it stopped trusting the host
 * @reset:	a host reset is being handled (pages not yet forgotten or
 *		session not yet renegotiated)
 * @caps:	capabilities the host granted at the last START
 * @nr_pages:	pages in the balloon (the core's count)
 * @walked:	the balloon's list could be walked (6.x: its lock is
 *		b_dev_info's; 7.x keeps it private): @listed and @pfn_sum
 *		are set
 * @listed:	pages on the balloon's lists (a 2 MB page counts its
 *		frames); less than @nr_pages while compaction has some
 *		isolated
 * @pfn_sum:	sum of mb_vmw_pfn_hash() over the listed 4 KiB pages and
 *		mb_vmw_pfn_hash_2m() over the 2 MB ones
 * @huge:	2 MB pages on the balloon's own list of them (always walked)
 * @huge_sum:	sum of mb_vmw_pfn_hash_2m() over those
 * @told_pages:	pages the host holds as the transport told it (frames)
 * @told_sum:	the same sum over those
 * @told_2m:	2 MB pages among them
 * @told_2m_sum: sum of mb_vmw_pfn_hash_2m() over those
 * @host_resets: resets seen since the transport bound
 * @target:	the target the balloon was given (clamped)
 * @raw_target:	the host's last answer to GET_TARGET
 * @clamped:	GET_TARGET answers above guest RAM since bound
 * @notneeded:	pages the host answered PPN_NOTNEEDED since bound
 * @busy:	BUSY answers since bound, the transport's retries included
 */
struct mb_vmw_test_view {
	bool bound;
	bool broken;
	bool reset;
	bool walked;
	unsigned long caps;
	u64 nr_pages;
	u64 listed;
	u64 pfn_sum;
	u64 huge;
	u64 huge_sum;
	u64 told_pages;
	u64 told_sum;
	u64 told_2m;
	u64 told_2m_sum;
	u64 host_resets;
	u64 target;
	u64 raw_target;
	u64 clamped;
	u64 notneeded;
	u64 busy;
};

/* Order-independent checksum term for one PFN (host and guest agree). */
static inline u64 mb_vmw_pfn_hash(u64 pfn)
{
	pfn ^= pfn >> 31;
	pfn *= 0x9e3779b97f4a7c15ULL;	/* 2^64 / golden ratio */
	return pfn ^ (pfn >> 29);
}

/* The same for a 2 MB page, by its first PFN: a term of its own. */
static inline u64 mb_vmw_pfn_hash_2m(u64 pfn)
{
	return mb_vmw_pfn_hash(pfn | (1ULL << 63));
}

int mb_vmw_use_fake_hv(const struct mb_vmw_hv_ops *ops);
void mb_vmw_drop_fake_hv(void);
int mb_vmw_test_view(struct mb_vmw_test_view *v,
		     void (*host_view)(void *arg), void *arg);
#endif

#endif /* _MEMBALLOON_VMWARE_H */
