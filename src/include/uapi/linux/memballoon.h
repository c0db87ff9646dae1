/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * memballoon: userspace ABI of the memballoon.ko kernel shim.
 *
 * The shim owns balloon pages and talks to the hypervisor; all policy lives
 * in the memballoond daemon, which drives the shim through /dev/memballoon.
 *
 * Rules (Documentation/driver-api/ioctl.rst, botching-up-ioctls.rst):
 *  - Only fixed-size __u32/__u64 fields, explicit padding, no pointers,
 *    enums, longs or bitfields.
 *  - Every argument struct starts with argsz and flags.  argsz is the size
 *    of the struct userspace passes.  It must be at least the size of the
 *    version-1 struct below and at most MEMBALLOON_ARGSZ_MAX, else -EINVAL.
 *    A larger argsz is accepted if the bytes beyond the known struct are
 *    zero (else -E2BIG), so structs can grow at the end compatibly.
 *  - flags (and every field named reserved*) must be zero unless a flag is
 *    defined below, else -EINVAL.
 *  - An unknown command gets -ENOTTY.
 *  - An argument that cannot be read, or written where the command
 *    returns results in it, gets -EFAULT.  INFLATE and DEFLATE check that
 *    they can write their result before they take a step, so a -EFAULT
 *    from them means nothing moved (unless the caller made the argument
 *    unwritable while the call ran; GET_STATE then tells).
 *  - The ioctl numbers below encode the size of the version-1 structs and
 *    never change.  A struct that grows at the end keeps its number (its
 *    definition then uses the version-1 size), and argsz says how much was
 *    passed.  An incompatible change gets a new ioctl number.
 *
 * Units: all page counts are in units of page_size as reported by
 * MEMBALLOON_GET_API (the kernel's PAGE_SIZE), not virtio's 4 KiB units.
 *
 * Access: opening /dev/memballoon requires CAP_SYS_ADMIN (-EPERM).  Any
 * number of O_RDONLY opens may call GET_API and GET_STATE.  Only one open
 * with write access may exist at a time (a second gets -EBUSY); only that
 * writer may call the other ioctls and read() events (else -EBADF).
 *
 * Lifetime: the balloon stays inflated when the writer closes or dies.  A
 * new writer resynchronises from GET_STATE.  Unloading the module or
 * removing the virtio device returns every page and tells the host.
 */
#ifndef _UAPI_LINUX_MEMBALLOON_H
#define _UAPI_LINUX_MEMBALLOON_H

#include <linux/types.h>
#include <linux/ioctl.h>

#define MEMBALLOON_DEVICE_NAME		"memballoon"
#define MEMBALLOON_API_VERSION		1
#define MEMBALLOON_ARGSZ_MAX		4096

/*
 * 0xBA: no other user of this ioctl type in
 * Documentation/userspace-api/ioctl/ioctl-number.rst as of 6.1.
 */
#define MEMBALLOON_IOC_MAGIC		0xBA

/* Transports (memballoon_state.transport). */
#define MEMBALLOON_TRANSPORT_SIMULATE	1	/* no device, no host */
#define MEMBALLOON_TRANSPORT_VIRTIO	2	/* virtio-balloon device */
#define MEMBALLOON_TRANSPORT_CMM	3	/* pSeries cooperative memory overcommit */
#define MEMBALLOON_TRANSPORT_VMWARE	4	/* VMware balloon protocol */

/* Shim features (memballoon_api.features). */
#define MEMBALLOON_FEAT_SIMULATE	(1ULL << 0)
#define MEMBALLOON_FEAT_VIRTIO		(1ULL << 1)
#define MEMBALLOON_FEAT_COMPACTION	(1ULL << 2)	/* pages migratable */
#define MEMBALLOON_FEAT_OOM_NOTIFIER	(1ULL << 3)
#define MEMBALLOON_FEAT_MEMORY_NOTIFIER	(1ULL << 4)
/* GET_STATE fills the fields after oom_events (struct memballoon_state v2). */
#define MEMBALLOON_FEAT_STATE_V2	(1ULL << 5)
/*
 * SET_STATS takes all MEMBALLOON_S_NR (16) tags; without this bit only the
 * first 10 (up to MEMBALLOON_S_HTLB_PGFAIL) are accepted.
 */
#define MEMBALLOON_FEAT_STATS_16	(1ULL << 6)
/*
 * A host stats request is held until the next SET_STATS, or at most
 * MEMBALLOON_STATS_HOLD_MS, so the host gets figures read after it asked.
 */
#define MEMBALLOON_FEAT_STATS_HOLD	(1ULL << 7)
/* GET_STATE fills the version 3 fields (after oom_busy) too. */
#define MEMBALLOON_FEAT_STATE_V3	(1ULL << 8)
/* This build has the pSeries CMM transport (ppc64 pSeries kernels). */
#define MEMBALLOON_FEAT_CMM		(1ULL << 9)
/* This build has the VMware balloon transport (x86-64 kernels). */
#define MEMBALLOON_FEAT_VMWARE		(1ULL << 10)

/*
 * Host features (memballoon_state.host_features): bit N is set when virtio
 * feature bit N was negotiated with the device.  Bits defined by the virtio
 * spec for the balloon device, repeated here so userspace needs no virtio
 * headers.
 */
#define MEMBALLOON_HOST_F_MUST_TELL_HOST	0
#define MEMBALLOON_HOST_F_STATS_VQ		1
#define MEMBALLOON_HOST_F_DEFLATE_ON_OOM	2
#define MEMBALLOON_HOST_F_FREE_PAGE_HINT	3
#define MEMBALLOON_HOST_F_PAGE_POISON		4
#define MEMBALLOON_HOST_F_REPORTING		5

/**
 * struct memballoon_api - MEMBALLOON_GET_API: version handshake
 * @argsz:	  in: sizeof(struct memballoon_api)
 * @flags:	  in: must be 0
 * @api_version:  out: MEMBALLOON_API_VERSION
 * @page_size:	  out: bytes per page in every page count of this ABI
 * @features:	  out: MEMBALLOON_FEAT_* this build supports
 * @ioctls:	  out: bit N set if the ioctl with _IOC_NR N is supported
 * @max_batch_pages: out: largest nr_pages one INFLATE or DEFLATE accepts
 * @event_size:	  out: sizeof(struct memballoon_event)
 */
struct memballoon_api {
	__u32 argsz;
	__u32 flags;
	__u32 api_version;
	__u32 page_size;
	__u64 features;
	__u64 ioctls;
	__u32 max_batch_pages;
	__u32 event_size;
};

/**
 * struct memballoon_state - MEMBALLOON_GET_STATE: everything to resync
 * @argsz:	    in: sizeof(struct memballoon_state)
 * @flags:	    in: must be 0
 * @transport:	    out: MEMBALLOON_TRANSPORT_*
 * @reserved0:	    in: must be 0; out: 0
 * @host_features:  out: negotiated virtio feature bits (0 in simulate)
 * @target_pages:   out: the host's requested balloon size (virtio config
 *		    num_pages, converted) or the SIM_SET_TARGET value
 * @actual_pages:   out: pages currently held in the balloon
 * @total_ram_pages: out: totalram_pages() now (loaned pages excluded)
 * @oom_freed_pages: out: pages released by the OOM notifier since load
 * @oom_nr_pages:   out: pages the OOM notifier releases per call (SET_OOM)
 * @migrations:	    out: balloon pages moved by compaction since load
 * @inflate_failures: out: INFLATE calls stopped by allocation failure
 * @events_dropped: out: events lost because the queue was full
 * @oom_events:	    out: OOM notifier calls that released pages
 *
 * Version 2 (MEMBALLOON_FEAT_STATE_V2), filled only when argsz covers them;
 * an argsz of MEMBALLOON_STATE_SIZE_V1 gets version 1 and nothing beyond it
 * is written:
 * @state_flags:    out: MEMBALLOON_STATE_F_*
 * @reserved1:	    in: must be 0; out: 0
 * @stats_requests: out: stats requests from the host since load
 * @stats_late:	    out: requests answered with the previous figures because
 *		    no SET_STATS came within MEMBALLOON_STATS_HOLD_MS
 * @oom_busy:	    out: OOM notifier calls that released nothing because the
 *		    balloon lock was held for longer than it waits (a step
 *		    waiting for a host that does not answer, or the device
 *		    being removed or added)
 *
 * Version 3 (MEMBALLOON_FEAT_STATE_V3), filled only when argsz covers them:
 * @declined_transport: out: the last transport that looked for its host and
 *		    did not bind (MEMBALLOON_TRANSPORT_*), 0 if none did
 * @declined_reason: out: why (MEMBALLOON_DECLINED_*), 0 if none
 * @declined_error: out: the hypervisor's own answer (an hcall return code,
 *		    a VMware status) or a negative errno, 0 if none
 * @host_page_size: out: bytes per unit the host is told of (4096 for
 *		    virtio, the CMO page size for cmm, 4096 for vmware,
 *		    which lends 2 MiB pages too with MEMBALLOON_TF_2M_PAGES);
 *		    the ABI's page counts stay in page_size units
 * @transport_flags: out: MEMBALLOON_TF_*
 * @host_resets:    out: times the host reset the balloon and forgot its
 *		    pages since the transport bound (each one emptied the
 *		    balloon: MEMBALLOON_EVENT_RESET)
 * @refused_pages:  out: pages the host refused to take since load
 */
struct memballoon_state {
	__u32 argsz;
	__u32 flags;
	__u32 transport;
	__u32 reserved0;
	__u64 host_features;
	__u64 target_pages;
	__u64 actual_pages;
	__u64 total_ram_pages;
	__u64 oom_freed_pages;
	__u64 oom_nr_pages;
	__u64 migrations;
	__u64 inflate_failures;
	__u64 events_dropped;
	__u64 oom_events;
	/* version 2 */
	__u32 state_flags;
	__u32 reserved1;
	__u64 stats_requests;
	__u64 stats_late;
	__u64 oom_busy;
	/* version 3 */
	__u32 declined_transport;
	__u32 declined_reason;
	__s32 declined_error;
	__u32 host_page_size;
	__u64 transport_flags;
	__u64 host_resets;
	__u64 refused_pages;
};

/* Size of struct memballoon_state version 2 (up to and with oom_busy). */
#define MEMBALLOON_STATE_SIZE_V2	128

/* Why a transport did not bind (memballoon_state.declined_reason). */
#define MEMBALLOON_DECLINED_ABSENT	1	/* its hypervisor is not there */
/* pSeries firmware without FW_FEATURE_CMO: no cooperative memory overcommit */
#define MEMBALLOON_DECLINED_NO_CMO	2
#define MEMBALLOON_DECLINED_REFUSED	3	/* the hypervisor refused a call */
#define MEMBALLOON_DECLINED_BUSY	4	/* another transport is bound */
#define MEMBALLOON_DECLINED_BAD_ANSWER	5	/* the hypervisor answered garbage */

/* memballoon_state.transport_flags */
#define MEMBALLOON_TF_2M_PAGES	(1ULL << 0)	/* loans 2 MiB pages */
#define MEMBALLOON_TF_DOORBELL	(1ULL << 1)	/* host rings on target change */
#define MEMBALLOON_TF_BATCHED	(1ULL << 2)	/* many pages per host call */
#define MEMBALLOON_TF_HOST_2M	(1ULL << 3)	/* host offers 2 MiB pages */

/* Size of struct memballoon_state version 1 (up to and with oom_events). */
#define MEMBALLOON_STATE_SIZE_V1	96

/*
 * Loaned pages stay in the managed page count (total_ram_pages, MemTotal).
 * Set while the host negotiated VIRTIO_BALLOON_F_DEFLATE_ON_OOM, as the
 * stock virtio_balloon driver does: the balloon is then memory the guest
 * may take back under pressure, so the overcommit heuristic counts it.
 * Clear: loaned pages leave the count and MemTotal drops by the balloon.
 * The guest's RAM is total_ram_pages with this flag, and total_ram_pages
 * plus actual_pages without it.
 */
#define MEMBALLOON_STATE_F_BALLOON_IN_TOTALRAM	(1U << 0)
/*
 * The device stopped answering (broken, surprise-removed, or no answer
 * within MEMBALLOON_HOST_TIMEOUT_MS): no more PFNs are sent to it, INFLATE
 * and DEFLATE stop with MEMBALLOON_STOP_HOST until it is removed.
 */
#define MEMBALLOON_STATE_F_HOST_BROKEN		(1U << 1)
/*
 * The shim may give pages back below the host's target (on OOM, or by
 * DEFLATE): virtio with DEFLATE_ON_OOM, cmm, vmware and simulate.  Set by
 * shims with MEMBALLOON_FEAT_STATE_V3; older ones: see host_features.
 */
#define MEMBALLOON_STATE_F_DEFLATE_BELOW_TARGET	(1U << 2)

/* How long the shim waits for the host to take one PFN buffer. */
#define MEMBALLOON_HOST_TIMEOUT_MS	10000

/* Why an INFLATE or DEFLATE stopped (memballoon_batch.stop_reason). */
#define MEMBALLOON_STOP_DONE		0	/* all nr_pages handled */
#define MEMBALLOON_STOP_NOMEM		1	/* page allocation failed */
#define MEMBALLOON_STOP_SIGNAL		2	/* fatal signal pending */
#define MEMBALLOON_STOP_OFFLINE		3	/* a memory block is going offline */
#define MEMBALLOON_STOP_EMPTY		4	/* DEFLATE: balloon is empty */
/*
 * DEFLATE: the balloon is at the host's target and the host did not
 * negotiate DEFLATE_ON_OOM, so no page below the target may be taken
 * back (virtio spec 5.5.6.1).  done_pages says how many were released
 * down to the target.
 */
#define MEMBALLOON_STOP_HOST_TARGET	5
/* The device stopped answering (MEMBALLOON_STATE_F_HOST_BROKEN). */
#define MEMBALLOON_STOP_HOST		6
/*
 * INFLATE: the host refused more pages in this call than one step holds
 * (memballoon_state.refused_pages counts them), or said it needs no more
 * (VMware's PPN_NOTNEEDED: the shim then reads its target again at once);
 * it takes no more now.
 */
#define MEMBALLOON_STOP_REFUSED		7

/**
 * struct memballoon_batch - MEMBALLOON_INFLATE / MEMBALLOON_DEFLATE
 * @argsz:	  in: sizeof(struct memballoon_batch)
 * @flags:	  in: must be 0
 * @nr_pages:	  in: pages to add or remove, 1..max_batch_pages (else -EINVAL)
 * @done_pages:	  out: pages actually added or removed (may be < nr_pages)
 * @actual_pages: out: balloon size afterwards
 * @stop_reason:  out: MEMBALLOON_STOP_*
 * @reserved0:	  in: must be 0; out: 0
 *
 * The call returns 0 whenever the arguments were valid, even if it stopped
 * early; done_pages and stop_reason tell what happened.  The host hears of
 * every page in large batches and config "actual" is updated before return.
 *
 * With a virtio device that did not negotiate DEFLATE_ON_OOM, DEFLATE never
 * takes the balloon below the host's target (virtio spec 5.5.6.1), whatever
 * nr_pages asks: it stops there with MEMBALLOON_STOP_HOST_TARGET.  Unloading
 * the module or removing the device still returns every page.
 */
struct memballoon_batch {
	__u32 argsz;
	__u32 flags;
	__u64 nr_pages;
	__u64 done_pages;
	__u64 actual_pages;
	__u32 stop_reason;
	__u32 reserved0;
};

/* Stat tags: identical to the virtio spec's VIRTIO_BALLOON_S_* values. */
#define MEMBALLOON_S_SWAP_IN		0	/* bytes swapped in */
#define MEMBALLOON_S_SWAP_OUT		1	/* bytes swapped out */
#define MEMBALLOON_S_MAJFLT		2	/* major faults */
#define MEMBALLOON_S_MINFLT		3	/* minor faults */
#define MEMBALLOON_S_MEMFREE		4	/* free memory, bytes */
#define MEMBALLOON_S_MEMTOT		5	/* total memory, bytes */
#define MEMBALLOON_S_AVAIL		6	/* available memory, bytes */
#define MEMBALLOON_S_CACHES		7	/* disk caches, bytes */
#define MEMBALLOON_S_HTLB_PGALLOC	8	/* hugetlb page allocations */
#define MEMBALLOON_S_HTLB_PGFAIL	9	/* hugetlb allocation failures */
/* Tags 10..15 need MEMBALLOON_FEAT_STATS_16 (Linux 6.12's set). */
#define MEMBALLOON_S_OOM_KILLS		10	/* OOM kills */
#define MEMBALLOON_S_ALLOC_STALLS	11	/* allocation stalls */
#define MEMBALLOON_S_ASYNC_SCANS	12	/* pages scanned by kswapd */
#define MEMBALLOON_S_DIRECT_SCANS	13	/* pages scanned directly */
#define MEMBALLOON_S_ASYNC_RECLAIMS	14	/* pages reclaimed by kswapd */
#define MEMBALLOON_S_DIRECT_RECLAIMS	15	/* pages reclaimed directly */
#define MEMBALLOON_S_NR			16
/* The tags of MEMBALLOON_API_VERSION 1 without MEMBALLOON_FEAT_STATS_16. */
#define MEMBALLOON_S_NR_V1		10
#define MEMBALLOON_MAX_STATS		16

struct memballoon_stat {
	__u32 tag;		/* MEMBALLOON_S_*, < MEMBALLOON_S_NR */
	__u32 reserved;		/* must be 0 */
	__u64 val;
};

/**
 * struct memballoon_stats - MEMBALLOON_SET_STATS: what the host is told
 * @argsz:	in: sizeof(struct memballoon_stats)
 * @flags:	in: must be 0
 * @nr_stats:	in: valid entries in @stats, 0..MEMBALLOON_MAX_STATS
 * @reserved0:	in: must be 0
 * @stats:	in: entries; each tag at most once, unused entries all zero
 *
 * The shim answers the host's stats requests with these values.  When the
 * host asks, the shim queues a MEMBALLOON_EVENT_STATS and, while a writer
 * has the device open, holds the request until the next SET_STATS or at
 * most MEMBALLOON_STATS_HOLD_MS (then it answers with the last values set,
 * counted in memballoon_state.stats_late).  So the writer should answer a
 * STATS event with a SET_STATS of figures read at that moment.
 */
struct memballoon_stats {
	__u32 argsz;
	__u32 flags;
	__u32 nr_stats;
	__u32 reserved0;
	struct memballoon_stat stats[MEMBALLOON_MAX_STATS];
};

#define MEMBALLOON_STATS_HOLD_MS	500

/**
 * struct memballoon_oom - MEMBALLOON_SET_OOM
 * @argsz:	in: sizeof(struct memballoon_oom)
 * @flags:	in: must be 0
 * @nr_pages:	in: pages released per OOM notifier call, 0 disables,
 *		at most MEMBALLOON_OOM_MAX_BYTES / page_size (else -EINVAL)
 *
 * In virtio mode the notifier releases pages only when the host negotiated
 * VIRTIO_BALLOON_F_DEFLATE_ON_OOM (virtio spec 5.5.6.1).
 */
struct memballoon_oom {
	__u32 argsz;
	__u32 flags;
	__u64 nr_pages;
};

/* Default: 64 MiB of 4 KiB pages; the stock virtio driver frees 1 MiB. */
#define MEMBALLOON_OOM_DEFAULT_BYTES	(64ULL << 20)
#define MEMBALLOON_OOM_MAX_BYTES	(1ULL << 30)

/**
 * struct memballoon_sim_target - MEMBALLOON_SIM_SET_TARGET
 * @argsz:	  in: sizeof(struct memballoon_sim_target)
 * @flags:	  in: must be 0
 * @target_pages: in: new target; at most the guest's RAM (total_ram_pages +
 *		  actual_pages), else -EINVAL
 *
 * Only in simulate mode; with a virtio device the host owns the target and
 * the call fails with -EOPNOTSUPP.  Queues a TARGET event.
 */
struct memballoon_sim_target {
	__u32 argsz;
	__u32 flags;
	__u64 target_pages;
};

/* Event types (memballoon_event.type). */
#define MEMBALLOON_EVENT_TARGET		1	/* value: new target_pages */
#define MEMBALLOON_EVENT_OOM		2	/* value: pages released */
#define MEMBALLOON_EVENT_STATS		3	/* host asked for stats; value 0 */
#define MEMBALLOON_EVENT_MIGRATED	4	/* value: migrations so far */
#define MEMBALLOON_EVENT_HOST		5	/* the device stopped answering; 0 */
/* The host was reset and forgot its pages: the balloon was emptied. */
#define MEMBALLOON_EVENT_RESET		6	/* value: pages freed */

/**
 * struct memballoon_event - one record returned by read()
 * @type:	MEMBALLOON_EVENT_*
 * @reserved:	0
 * @seq:	increases by one per event queued since load; a gap means
 *		events were dropped
 * @value:	type specific, see above
 * @time_ns:	CLOCK_MONOTONIC time the event was queued
 *
 * read() returns whole records only; a buffer smaller than one record gets
 * -EINVAL.  poll() reports EPOLLIN while events are queued.  Consecutive
 * TARGET and MIGRATED events are coalesced into the latest.
 */
struct memballoon_event {
	__u32 type;
	__u32 reserved;
	__u64 seq;
	__u64 value;
	__u64 time_ns;
};

#define MEMBALLOON_GET_API	 _IOWR(MEMBALLOON_IOC_MAGIC, 0x00, struct memballoon_api)
/*
 * GET_STATE's number encodes the version-1 size, as the rule above says.
 * Shims of API version 1 before MEMBALLOON_FEAT_STATE_V3 defined it with
 * the whole struct instead (size 128 with version 2), and knew only that
 * number; this shim takes GET_STATE with any size field from
 * MEMBALLOON_STATE_SIZE_V1 up (argsz decides), so callers built against
 * any version of this header reach it.  A caller that must also reach the
 * older shims sends _IOC(_IOC_READ | _IOC_WRITE, MEMBALLOON_IOC_MAGIC,
 * 0x01, MEMBALLOON_STATE_SIZE_V2) to a shim without MEMBALLOON_FEAT_STATE_V3.
 */
#define MEMBALLOON_GET_STATE	 _IOC(_IOC_READ | _IOC_WRITE, MEMBALLOON_IOC_MAGIC, 0x01, \
				      MEMBALLOON_STATE_SIZE_V1)
#define MEMBALLOON_INFLATE	 _IOWR(MEMBALLOON_IOC_MAGIC, 0x02, struct memballoon_batch)
#define MEMBALLOON_DEFLATE	 _IOWR(MEMBALLOON_IOC_MAGIC, 0x03, struct memballoon_batch)
#define MEMBALLOON_SET_STATS	 _IOW(MEMBALLOON_IOC_MAGIC, 0x04, struct memballoon_stats)
#define MEMBALLOON_SET_OOM	 _IOW(MEMBALLOON_IOC_MAGIC, 0x05, struct memballoon_oom)
#define MEMBALLOON_SIM_SET_TARGET _IOW(MEMBALLOON_IOC_MAGIC, 0x06, struct memballoon_sim_target)

#endif /* _UAPI_LINUX_MEMBALLOON_H */
