/* SPDX-License-Identifier: GPL-2.0 */
/*
 * memballoon: internal interfaces between the parts of the shim.
 *
 * balloon.c  page handling, OOM and memory notifiers, events, module init
 * chardev.c  /dev/memballoon: ioctls, read() and poll()
 * sim.c      the simulate transport
 * virtio.c   the virtio-balloon transport
 * cmm.c      the pSeries CMM transport (CONFIG_PPC_PSERIES)
 * vmware.c   the VMware balloon transport (CONFIG_X86_64)
 *
 * The balloon always has a transport (struct mb_transport).  With no
 * device bound it is the simulate one: pages still leave the page
 * allocator, but nobody is told about them.
 */
#ifndef _MEMBALLOON_SHIM_H
#define _MEMBALLOON_SHIM_H

#include "mb_compat.h"

/*
 * The balloon core: <linux/balloon.h> from 7.x, <linux/balloon_compaction.h>
 * before.  mb_compat.h is generated from the target kernel's headers by
 * mb-conftest.sh; what it cannot find that we need stops the build here.
 */
#if defined(MB_HAVE_LINUX_BALLOON_H)
#include <linux/balloon.h>
#elif defined(MB_HAVE_BALLOON_COMPACTION_H)
#include <linux/balloon_compaction.h>
#else
#error "memballoon: no <linux/balloon.h> nor <linux/balloon_compaction.h>"
#endif

/*
 * Balloon pages are movable whenever the kernel can migrate them, and then
 * the core calls b_dev_info->migratepage without a NULL check.  So the
 * callback is always installed, whatever the option is called, and the
 * two known contracts for it must be told apart:
 *  - MB_HAVE_BALLOON_PAGES_LOCK (6.x): the callback inserts the new page,
 *    takes its reference, drops isolated_pages and releases the old page.
 *  - MB_HAVE_BALLOON_ADJUST_MANAGED (7.x): the core does all of that, and
 *    the managed page counts too when told to; the callback only tells
 *    the host.
 */
#ifndef MB_HAVE_BALLOON_MIGRATEPAGE
#error "memballoon: struct balloon_dev_info has no migratepage; unknown balloon API"
#endif
#if defined(MB_HAVE_BALLOON_PAGES_LOCK) == defined(MB_HAVE_BALLOON_ADJUST_MANAGED)
#error "memballoon: cannot tell which balloon migration contract this kernel has"
#endif
#ifdef MB_HAVE_BALLOON_ADJUST_MANAGED
#define MB_CORE_MIGRATES	1
#else
#define MB_CORE_MIGRATES	0
#endif

/* Whether balloon pages can move: BALLOON_COMPACTION became BALLOON_MIGRATION. */
#define MB_PAGES_MOVABLE	(IS_ENABLED(CONFIG_BALLOON_COMPACTION) || \
				 IS_ENABLED(CONFIG_BALLOON_MIGRATION))

#include <linux/atomic.h>
#include <linux/mutex.h>
#include <linux/workqueue.h>
#include <linux/spinlock.h>
#include <linux/types.h>
#include <linux/wait.h>
#include <linux/memballoon.h>

/*
 * Largest INFLATE/DEFLATE request.  65536 pages is 256 MiB with 4 KiB
 * pages: about 0.4 s of page zeroing for an inflate under TCG
 * (VM-TESTING.md), short enough to keep the daemon's loop responsive.
 */
#define MB_MAX_BATCH_PAGES	65536

/*
 * 32-bit PFNs (4 KiB units) sent to the host per virtqueue kick.  The
 * stock driver sends 256.  Each kick costs a guest exit and a wait for
 * the host (0.1-0.2 ms under TCG, VM-TESTING.md), so fewer, larger kicks
 * are cheaper; 4096 PFNs are a 16 KiB buffer, still an easy kmalloc.
 * Measured with QEMU 7.2 TCG, 512 MiB in a 1 GiB guest, 5 interleaved
 * runs: 256, 1024, 4096 and 16384 were all within noise of each other
 * (inflate medians 1.31-1.61 s with init_on_alloc=1, 0.19-0.25 s with 0).
 */
#define MB_PFNS_PER_KICK	4096

/* virtio counts in 4 KiB pages; the kernel's pages may be larger. */
#define MB_VIRTIO_PFNS_PER_PAGE	\
	((unsigned int)(PAGE_SIZE >> VIRTIO_BALLOON_PFN_SHIFT))

/*
 * virtio's largest step in kernel pages: at most this many move per lock
 * hold and per host kick.  Other transports have their own
 * (mb_transport_ops.max_step_pages).
 */
#define MB_VIRTIO_STEP_PAGES	(MB_PFNS_PER_KICK / MB_VIRTIO_PFNS_PER_PAGE)

/*
 * virtio's first step of every INFLATE and DEFLATE call, in virtio PFNs;
 * the call's further steps are full MB_VIRTIO_STEP_PAGES ones.  The host sees no
 * progress until config actual is written at the end of a step.  With full
 * steps only, an inflate first allocated and zeroed 16 MiB, and the host
 * saw the first change ~10x later than with the stock driver, which
 * reports every 256 PFNs (VIRTIO_BALLOON_ARRAY_PFNS_MAX).  We start below
 * 256 to make up for the trip through the daemon, and then go straight to
 * full steps: each extra kick is a host round trip plus a guest wake-up.
 * bench/daemon-bench, QEMU 7.2 TCG, 1 GiB guest, 64 MiB changes, medians
 * of 12, first BALLOON_CHANGE on the host, stock driver in brackets:
 *   first step 256, doubling:	inflate 7.8 ms (6.6), deflate 3.2 ms (1.8)
 *   first step 64, doubling:	inflate 4.3 ms (6.6), deflate 2.7 ms (2.0)
 *   first step 64, then full:	inflate 3.3 ms (6.3), deflate 2.6 ms (1.7)
 * Doubling (6 more kicks per call) made the whole 64 MiB deflate take
 * 44 ms instead of 26 ms; 64-then-full keeps 26 ms.
 */
#define MB_FIRST_STEP_PFNS	64

/* The same in kernel pages; at least one page with large pages. */
#define MB_VIRTIO_FIRST_STEP_PAGES	\
	DIV_ROUND_UP(MB_FIRST_STEP_PFNS, MB_VIRTIO_PFNS_PER_PAGE)

/*
 * How long the OOM notifier waits for @lock before it gives up for this
 * call.  Holders only do bookkeeping and one host round trip (about a
 * millisecond); a longer wait means the host is not answering, and the
 * OOM path must not wait for it.
 */
#define MB_OOM_LOCK_WAIT_MS	100

/* Events kept for the reader; the oldest is dropped when full. */
#define MB_EVENT_QUEUE_LEN	64

struct mb_transport;

/**
 * struct mb_transport_ops - what the balloon core asks of a transport
 * @transport:	MEMBALLOON_TRANSPORT_*, for GET_STATE
 * @name:	for the log
 * @host_target: the host sets the target (mb->host_target); without it
 *		the daemon does, with SIM_SET_TARGET (mb->sim_target)
 * @max_step_pages: most pages queued between two tells (>= 1); of huge
 *		pages, max(1, @max_step_pages >> order)
 * @first_step_pages: the first step of each INFLATE and DEFLATE call,
 *		1..@max_step_pages, so that the host sees progress early
 * @nameable:	whether the host can be told of @page (its PFN fits the
 *		protocol); NULL if every page can be.  Pages that cannot are
 *		never queued: the core gives them back and takes others.
 * @broken:	whether the host stopped answering: no page may go to it or
 *		come back from it, except after @tell_deflate says the host
 *		has forgotten them.  With mb->lock, or READ_ONCE semantics
 *		under mb->cfg_lock.
 * @queue_page:	add one kernel page to the next message to the host; the
 *		transport names it in its own units.  The core queues at
 *		most @max_step_pages pages between two tells, all of them
 *		@nameable.
 * @tell_inflate: send the queued pages as loaned and wait, bounded by
 *		MEMBALLOON_HOST_TIMEOUT_MS, until the host has them.  Pages
 *		the host refused are moved to @refused with list_move() on
 *		page->lru: they are not loaned, and the core frees them once
 *		the INFLATE call ends.  Return false if the host did not
 *		answer (the transport is broken from then on).
 * @tell_deflate: the same for pages given back; pages the host would not
 *		give back are moved to @kept and stay in the balloon.  True
 *		without telling anyone once the host has been reset and
 *		forgot its pages.
 * @set_actual:	tell the host the balloon's size in kernel pages.  Called
 *		with mb->cfg_lock held and never mb->lock: it may allocate.
 * @deflate_on_oom: whether pages may come back without the host's consent,
 *		on OOM or below its target (virtio spec 5.5.6.1).  mb->lock.
 * @features:	host feature bits for GET_STATE (MEMBALLOON_HOST_F_*, the
 *		virtio ones; 0 for other transports).
 * @stats_changed: SET_STATS stored new statistics (mb->lock held).
 * @facts:	fill the transport's own fields of GET_STATE version 3
 *		(host_page_size, transport_flags, host_resets); NULL: 4 KiB,
 *		no flags, no resets.  mb->lock held.
 * @huge_order:	the order of the huge pages the host takes now (VMware's
 *		2 MB pages: 9 with 4 KiB pages), 0 while it takes none; NULL
 *		for a transport that never does.  The answer may change when
 *		the host's session does (after a reset); it is read without
 *		mb->lock and checked again under it.
 * @queue_huge:	like @queue_page for one huge page of the order @huge_order
 *		gave (NULL with @huge_order).  The core never queues huge and
 *		order-0 pages between the same two tells; the tells report
 *		refused or kept huge pages on the same lists, by page->lru.
 * @host_full:	right after @tell_inflate: whether the host answered that
 *		it needs no more pages (VMware's PPN_NOTNEEDED), so that the
 *		core stops lending now rather than after a step's worth of
 *		refusals: an INFLATE stops with MEMBALLOON_STOP_REFUSED (after
 *		huge pages, it goes on with order-0 ones, which fill up to
 *		the host's target exactly).  The pages it did not take are on
 *		@refused as any other.  NULL: the host never says so.
 *
 * Every call is made with mb->lock held (see struct memballoon for what
 * that forbids), except @set_actual and the @broken before it, which
 * mb_sync_actual() makes under mb->cfg_lock, and @huge_order.  Only
 * @nameable, @facts, @huge_order, @queue_huge and @host_full may be NULL.
 */
struct mb_transport_ops {
	u32 transport;
	const char *name;
	bool host_target;
	unsigned int max_step_pages;
	unsigned int first_step_pages;
	bool (*nameable)(struct mb_transport *tp, struct page *page);
	bool (*broken)(struct mb_transport *tp);
	void (*queue_page)(struct mb_transport *tp, struct page *page);
	bool (*tell_inflate)(struct mb_transport *tp, struct list_head *refused);
	bool (*tell_deflate)(struct mb_transport *tp, struct list_head *kept);
	void (*set_actual)(struct mb_transport *tp, unsigned long nr_pages);
	bool (*deflate_on_oom)(struct mb_transport *tp);
	u64 (*features)(struct mb_transport *tp);
	void (*stats_changed)(struct mb_transport *tp);
	void (*facts)(struct mb_transport *tp, struct memballoon_state *st);
	unsigned int (*huge_order)(struct mb_transport *tp);
	void (*queue_huge)(struct mb_transport *tp, struct page *page);
	bool (*host_full)(struct mb_transport *tp);
};

/**
 * struct mb_transport - a transport the balloon can use
 * @ops:	its operations
 *
 * Embedded in the transport's own state, which the operations reach with
 * container_of(), so one pointer (memballoon.tp) names both the operations
 * and the state they work on, and switching transports is a single store.
 */
struct mb_transport {
	const struct mb_transport_ops *ops;
};

/**
 * struct memballoon - the one balloon this module manages
 * @lock:	serialises balloon size changes, @nr_pages, @tp and the
 *		PFN traffic with the host.  Rule: code holding @lock never
 *		allocates memory, never touches user memory and never does
 *		config space I/O (which allocates on some transports, e.g.
 *		virtio-ccw), so it can never wait for the OOM killer (see
 *		mb_oom_notify()).  Waits for the host are bounded by
 *		MEMBALLOON_HOST_TIMEOUT_MS.
 * @cfg_lock:	serialises writes of the host's config "actual", which
 *		happen after @lock is dropped (mb_sync_actual()); never
 *		taken by the OOM notifier, which defers to @actual_work
 * @actual_work: writes config "actual" for the OOM notifier
 * @b_dev_info:	the pages, in the form balloon compaction knows
 * @nr_pages:	pages held, our own count (@lock); includes pages that
 *		compaction has isolated from @b_dev_info.pages right now,
 *		and 1 << @huge_order for each huge page
 * @huge_pages:	huge pages held (@lock): not movable, so never on
 *		@b_dev_info's list, which compaction walks for order-0 pages
 * @nr_huge:	entries of @huge_pages (@lock)
 * @huge_order:	their order, set while @nr_huge is 0 (@lock)
 * @tp:		the transport, never NULL: &mb_sim_transport while no
 *		device is bound (written under @lock, read with it held or
 *		with READ_ONCE under @cfg_lock, see mb_sync_actual())
 * @sim_target:	target set by SIM_SET_TARGET (@lock)
 * @host_target: the host's target in kernel pages (@lock)
 * @oom_freed_pages: pages released by the OOM notifier since load (@lock)
 * @oom_events:	OOM notifier calls that released pages (@lock)
 * @inflate_failures: INFLATE calls stopped by allocation failure (@lock)
 * @migrations:	pages moved by compaction since load (@lock)
 * @refused_pages: pages the host refused to take since load (@lock)
 * @declined_transport: the last transport that looked for its host and
 *		did not bind (MEMBALLOON_TRANSPORT_*, 0 none) (@lock)
 * @declined_reason: why (MEMBALLOON_DECLINED_*) (@lock)
 * @declined_error: the hypervisor's answer or -errno (@lock)
 * @oom_nr_pages: pages the OOM notifier releases per call (READ_ONCE)
 * @in_totalram: loaned pages stay in the managed page count (deflate on
 *		OOM, as the stock driver); changes only while the balloon is
 *		empty (@lock)
 * @oom_lock_missed: OOM notifier calls that found @lock busy for longer
 *		than MB_OOM_LOCK_WAIT_MS and released nothing
 * @offlining:	a memory block is going offline (READ_ONCE)
 * @writer_busy: bit 0 is set while a writer has the device open
 * @ev_lock:	protects the event ring and the @ev_* fields below
 * @ev_wait:	readers and pollers wait here
 * @ev_ring:	queued events, oldest at @ev_head
 * @ev_head:	index of the oldest event
 * @ev_count:	events queued
 * @ev_seq:	seq of the last event queued
 * @ev_dropped:	events dropped because the ring was full
 * @stats_lock:	protects @stats, @nr_stats, @stats_gen and the counters
 * @stats:	the last SET_STATS entries, handed to the host on request
 * @nr_stats:	valid entries in @stats
 * @stats_gen:	SET_STATS calls since load
 * @stats_requests: host stats requests since load
 * @stats_late:	requests answered without a SET_STATS after them
 */
struct memballoon {
	struct mutex lock;		/* see above */
	struct mutex cfg_lock;		/* config "actual" writes */
	struct work_struct actual_work;
	struct balloon_dev_info b_dev_info;
	unsigned long nr_pages;
	struct list_head huge_pages;
	unsigned long nr_huge;
	unsigned int huge_order;
	struct mb_transport *tp;
	u64 sim_target;
	u64 host_target;
	u64 oom_freed_pages;
	u64 oom_events;
	u64 inflate_failures;
	u64 migrations;
	u64 refused_pages;
	u32 declined_transport;
	u32 declined_reason;
	s32 declined_error;
	unsigned long oom_nr_pages;
	bool in_totalram;
	atomic64_t oom_lock_missed;
	bool offlining;
	unsigned long writer_busy;

	spinlock_t ev_lock;		/* event ring */
	wait_queue_head_t ev_wait;
	struct memballoon_event ev_ring[MB_EVENT_QUEUE_LEN];
	unsigned int ev_head;
	unsigned int ev_count;
	u64 ev_seq;
	u64 ev_dropped;

	spinlock_t stats_lock;		/* @stats, @nr_stats */
	struct memballoon_stat stats[MEMBALLOON_MAX_STATS];
	u32 nr_stats;
	u64 stats_gen;
	u64 stats_requests;
	u64 stats_late;
};

extern struct memballoon mb_balloon;

/* balloon.c */
void mb_queue_event(struct memballoon *mb, u32 type, u64 value);
unsigned int mb_pop_events(struct memballoon *mb,
			   struct memballoon_event *evs, unsigned int max);
bool mb_events_pending(struct memballoon *mb);
u64 mb_events_dropped(struct memballoon *mb);
int mb_inflate(struct memballoon *mb, struct memballoon_batch *b);
int mb_deflate(struct memballoon *mb, struct memballoon_batch *b);
void mb_release_all_locked(struct memballoon *mb);
void mb_sync_actual(struct memballoon *mb);
void mb_set_accounting_locked(struct memballoon *mb, bool in_totalram);
unsigned long mb_guest_ram_pages(struct memballoon *mb);

/* balloon.c: what a transport calls (none with mb->lock held) */
int mb_transport_attach(struct mb_transport *tp, u64 target, bool in_totalram);
bool mb_transport_detach(struct mb_transport *tp);
void mb_transport_set_target(struct mb_transport *tp, u64 target);
void mb_transport_forget_all(struct mb_transport *tp);
void mb_transport_declined(u32 transport, u32 reason, s32 error);

/* sim.c: no device bound */
extern struct mb_transport mb_sim_transport;

/* chardev.c */
int mb_chardev_register(void);
void mb_chardev_unregister(void);

/* virtio.c: binding a device makes it the transport, until it goes */
int mb_virtio_register(void);
void mb_virtio_unregister(void);

/* cmm.c: pSeries cooperative memory overcommit, where the firmware has it */
#ifdef CONFIG_PPC_PSERIES
int mb_cmm_register(void);
void mb_cmm_unregister(void);
#else
static inline int mb_cmm_register(void) { return 0; }
static inline void mb_cmm_unregister(void) { }
#endif

/*
 * vmware.c: the VMware balloon protocol, on VMware's hypervisor (x86-64
 * only).  Register never fails the module: a host that is absent or
 * refuses is recorded as a decline.
 */
#ifdef CONFIG_X86_64
int mb_vmw_register(void);
void mb_vmw_unregister(void);
#else
static inline int mb_vmw_register(void) { return 0; }
static inline void mb_vmw_unregister(void) { }
#endif

#endif /* _MEMBALLOON_SHIM_H */
