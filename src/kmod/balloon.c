// SPDX-License-Identifier: GPL-2.0
/*
 * memballoon: the balloon itself.
 *
 * Pages come from balloon_page_alloc() and live in a balloon_dev_info so
 * that compaction can move them (mb_migratepage()).  Loaned pages are taken
 * out of the managed page count, so MemTotal drops while they are in the
 * balloon, except while the host negotiated DEFLATE_ON_OOM: then they stay
 * counted, as with the stock virtio_balloon driver, because the guest may
 * take them back when it runs out of memory (mb->in_totalram).  Pages move
 * in steps of up to the transport's max_step_pages: one step is one hold of
 * mb->lock and one message to the host, followed by one write of config
 * actual after the lock is dropped (mb_sync_actual()).
 * Each INFLATE or DEFLATE call starts with a small step (first_step_pages)
 * so that the host sees progress early.
 *
 * A transport whose host takes huge pages (VMware's 2 MB ones, see
 * mb_transport_ops.huge_order) gets them first when an INFLATE asks for
 * at least one, and order-0 pages for the rest or when no huge page can be
 * had.  Huge pages cannot be migrated, so they live on their own list
 * (mb->huge_pages), outside balloon compaction.
 *
 * Transports (virtio.c, cmm.c, vmware.c; sim.c while none is bound) bind
 * and go through mb_transport_attach() and mb_transport_detach(): one
 * transport at a time, the first to find its host wins, and the others
 * record why they did not bind (mb_transport_declined()).
 *
 * The OOM notifier gives pages back without waiting for the daemon, and the
 * memory notifier stops an inflate while a memory block goes offline, both
 * as arch/powerpc/platforms/pseries/cmm.c does.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/delay.h>
#include <linux/memory.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/oom.h>
#include <linux/sched/signal.h>
#include <linux/timekeeping.h>
#include <linux/vmstat.h>
#include <linux/virtio_balloon.h>

#include "shim.h"

/*
 * Same priority as the stock virtio_balloon driver's OOM notifier; the
 * stock driver must not be loaded together with this one anyway.
 */
#define MB_OOM_NOTIFY_PRIORITY	80

struct memballoon mb_balloon;

/* ---- events ------------------------------------------------------------ */

/**
 * mb_queue_event() - queue one event record for the reader
 * @mb:		the balloon
 * @type:	MEMBALLOON_EVENT_*
 * @value:	type specific value
 *
 * A TARGET or MIGRATED event that follows a queued event of the same type
 * replaces that event's value and time and keeps its seq, so no gap shows.
 * When the queue is full the oldest event is dropped; its seq is then
 * missing for the reader and events_dropped counts it.  Any context.
 */
void mb_queue_event(struct memballoon *mb, u32 type, u64 value)
{
	struct memballoon_event *ev;
	unsigned long flags;
	u64 now = ktime_get_ns();

	spin_lock_irqsave(&mb->ev_lock, flags);
	if (mb->ev_count && (type == MEMBALLOON_EVENT_TARGET ||
			     type == MEMBALLOON_EVENT_MIGRATED)) {
		ev = &mb->ev_ring[(mb->ev_head + mb->ev_count - 1) %
				  MB_EVENT_QUEUE_LEN];
		if (ev->type == type) {
			ev->value = value;
			ev->time_ns = now;
			goto out;
		}
	}
	if (mb->ev_count == MB_EVENT_QUEUE_LEN) {
		mb->ev_head = (mb->ev_head + 1) % MB_EVENT_QUEUE_LEN;
		mb->ev_count--;
		mb->ev_dropped++;
	}
	ev = &mb->ev_ring[(mb->ev_head + mb->ev_count) % MB_EVENT_QUEUE_LEN];
	ev->type = type;
	ev->reserved = 0;
	ev->seq = ++mb->ev_seq;
	ev->value = value;
	ev->time_ns = now;
	mb->ev_count++;
out:
	spin_unlock_irqrestore(&mb->ev_lock, flags);
	wake_up_interruptible(&mb->ev_wait);
}

/**
 * mb_pop_events() - take up to @max of the oldest queued events
 * @mb:		the balloon
 * @evs:	where to copy them
 * @max:	room in @evs
 *
 * Return: the number of records copied to @evs.
 */
unsigned int mb_pop_events(struct memballoon *mb,
			   struct memballoon_event *evs, unsigned int max)
{
	unsigned int n;

	spin_lock_irq(&mb->ev_lock);
	for (n = 0; n < max && mb->ev_count; n++) {
		evs[n] = mb->ev_ring[mb->ev_head];
		mb->ev_head = (mb->ev_head + 1) % MB_EVENT_QUEUE_LEN;
		mb->ev_count--;
	}
	spin_unlock_irq(&mb->ev_lock);
	return n;
}

bool mb_events_pending(struct memballoon *mb)
{
	return READ_ONCE(mb->ev_count) != 0;
}

u64 mb_events_dropped(struct memballoon *mb)
{
	u64 dropped;

	spin_lock_irq(&mb->ev_lock);
	dropped = mb->ev_dropped;
	spin_unlock_irq(&mb->ev_lock);
	return dropped;
}

/* ---- moving pages ------------------------------------------------------ */

/*
 * Loaned pages leave the managed page count, so MemTotal drops, unless
 * mb->in_totalram.  With MB_CORE_MIGRATES the balloon core does this itself
 * on enqueue, dequeue and migration when b_dev_info.adjust_managed_page_count
 * is set; before 7.x it is ours to do.
 */
static void mb_adjust_managed(struct memballoon *mb, struct page *page,
			      long delta)
{
	if (!MB_CORE_MIGRATES && !mb->in_totalram)
		adjust_managed_page_count(page, delta);
}

/**
 * mb_set_accounting_locked() - choose how loaned pages are counted
 * @mb:		 the balloon, mb->lock held and empty
 * @in_totalram: keep loaned pages in the managed page count
 */
void mb_set_accounting_locked(struct memballoon *mb, bool in_totalram)
{
	lockdep_assert_held(&mb->lock);
	if (WARN_ON_ONCE(mb->nr_pages))
		return;
	mb->in_totalram = in_totalram;
#ifdef MB_HAVE_BALLOON_ADJUST_MANAGED
	mb->b_dev_info.adjust_managed_page_count = !in_totalram;
#endif
}

/* The guest's RAM, whether or not loaned pages are counted in it. */
unsigned long mb_guest_ram_pages(struct memballoon *mb)
{
	lockdep_assert_held(&mb->lock);
	return totalram_pages() + (mb->in_totalram ? 0 : mb->nr_pages);
}

/**
 * mb_sync_actual() - write the balloon size to the host's config "actual"
 * @mb: the balloon, mb->lock NOT held
 *
 * Config space I/O may allocate (virtio-ccw), so it never happens under
 * mb->lock, which the OOM notifier takes.  Writers serialise on
 * mb->cfg_lock and always write the newest size, so the last write wins
 * with the right value.  mb_virtio_detach() points mb->tp away from the
 * device and then takes mb->cfg_lock, so the device cannot go away under a
 * writer.
 */
void mb_sync_actual(struct memballoon *mb)
{
	struct mb_transport *tp;

	mutex_lock(&mb->cfg_lock);
	tp = READ_ONCE(mb->tp);
	if (!tp->ops->broken(tp))
		tp->ops->set_actual(tp, READ_ONCE(mb->nr_pages));
	mutex_unlock(&mb->cfg_lock);
}

static void mb_actual_work(struct work_struct *work)
{
	mb_sync_actual(container_of(work, struct memballoon, actual_work));
}

/*
 * Whether the host of @tp can be told of @page: a transport's PFNs may be
 * narrower than the guest's (virtio's are 32 bits of 4 KiB units, so 16 TiB
 * and up cannot be named; the stock driver truncates, which makes the host
 * discard an unrelated page).  Such pages are given back and others taken.
 */
static bool mb_page_nameable(struct mb_transport *tp, struct page *page)
{
	return !tp->ops->nameable || tp->ops->nameable(tp, page);
}

static void mb_free_page_list(struct list_head *pages)
{
	struct page *page, *next;

	list_for_each_entry_safe(page, next, pages, lru) {
		list_del(&page->lru);
		put_page(page);
	}
}

/* ---- huge pages -------------------------------------------------------- */

/*
 * Huge pages one INFLATE call lets the host refuse before it goes on with
 * order-0 pages only: VMW_BALLOON_MAX_REFUSED in drivers/misc/vmw_balloon.c,
 * which gives up on 2 MB pages for the rest of an inflation the same way.
 * The refused ones are kept until the call ends, so the allocator does not
 * hand them out again at once.
 */
#define MB_HUGE_MAX_REFUSED	16

#ifdef MB_TEST_HOOKS
/* Tests only: every huge page allocation fails, as in a fragmented guest. */
static bool mb_test_huge_alloc_fail;
module_param_named(test_huge_alloc_fail, mb_test_huge_alloc_fail, bool, 0644);
MODULE_PARM_DESC(test_huge_alloc_fail,
		 "tests only: huge page allocations fail (order-0 fallback)");
#endif

/* The order of the huge pages @tp's host takes now; 0: none. */
static unsigned int mb_huge_order_now(struct mb_transport *tp)
{
	return tp->ops->huge_order ? tp->ops->huge_order(tp) : 0;
}

/*
 * One huge page, not compound (split_page() can cut it up later).  Not
 * movable: compaction cannot move it, so it must not come from
 * ZONE_MOVABLE or a movable pageblock.  No reclaim and no compaction at
 * all, as vmw_balloon allocates its 2 MB pages: a guest without a free
 * block of that size gets order-0 pages instead, at once, rather than a
 * reclaim storm for one large page.  Never enters the OOM killer.
 */
static struct page *mb_huge_alloc(unsigned int order)
{
#ifdef MB_TEST_HOOKS
	if (READ_ONCE(mb_test_huge_alloc_fail))
		return NULL;
#endif
	return alloc_pages(__GFP_HIGHMEM | __GFP_NOWARN | __GFP_NORETRY |
			   __GFP_NOMEMALLOC, order);
}

/*
 * A huge page joins or leaves the balloon: its pages are marked offline
 * as balloon_page_insert() marks order-0 ones (dump tools skip them), and
 * leave the managed page count unless mb->in_totalram.  The balloon core
 * only accounts for its own list, so this is ours on every kernel.
 */
static void mb_huge_loaned(struct memballoon *mb, struct page *page, bool on)
{
	unsigned long i, nr = 1UL << mb->huge_order;

	for (i = 0; i < nr; i++) {
		if (on)
			__SetPageOffline(page + i);
		else
			__ClearPageOffline(page + i);
	}
	if (!mb->in_totalram)
		adjust_managed_page_count(page, on ? -(long)nr : (long)nr);
}

static void mb_free_huge_list(struct list_head *pages, unsigned int order)
{
	struct page *page, *next;

	list_for_each_entry_safe(page, next, pages, lru) {
		list_del(&page->lru);
		__free_pages(page, order);
	}
}

/* After tell_inflate, mb->lock held: the host needs no more pages. */
static bool mb_host_full(struct mb_transport *tp)
{
	return tp->ops->host_full && tp->ops->host_full(tp);
}

/*
 * One inflate step of huge pages: allocate up to @count pages of @order
 * and lend them to the host, as mb_inflate_step() does order-0 ones.
 * Refused ones go to @refused (pages of @order, freed by the caller) and
 * are counted in @nr_refused.  *@reason is set if a memory block going
 * offline or a fatal signal stopped the allocation.  *@ret_full says
 * whether the host needs no more pages (mb_transport_ops.host_full).
 *
 * Return: kernel pages added; 0 with *@nr_refused 0 when no huge page
 * could be allocated or the host no longer takes this order (the caller
 * goes on with order-0 pages); -EIO if the host has stopped answering.
 */
static long mb_inflate_huge_step(struct memballoon *mb, unsigned int order,
				 unsigned long count, struct list_head *refused,
				 unsigned long *nr_refused, u32 *reason,
				 bool *ret_full)
{
	struct mb_transport *tp;
	struct page *page;
	unsigned long n = 0, k = 0;
	LIST_HEAD(pages);
	LIST_HEAD(step_refused);
	bool told;

	*nr_refused = 0;
	*ret_full = false;
	while (n < count) {
		if (READ_ONCE(mb->offlining)) {
			*reason = MEMBALLOON_STOP_OFFLINE;
			break;
		}
		if (fatal_signal_pending(current)) {
			*reason = MEMBALLOON_STOP_SIGNAL;
			break;
		}
		page = mb_huge_alloc(order);
		if (!page)
			break;
		list_add(&page->lru, &pages);
		n++;
		cond_resched();
	}
	if (!n)
		return 0;

	mutex_lock(&mb->lock);
	tp = mb->tp;
	if (tp->ops->broken(tp)) {
		mutex_unlock(&mb->lock);
		mb_free_huge_list(&pages, order);
		return -EIO;
	}
	/* Another transport, or a new session without huge pages. */
	if (mb_huge_order_now(tp) != order ||
	    (mb->nr_huge && mb->huge_order != order)) {
		mutex_unlock(&mb->lock);
		mb_free_huge_list(&pages, order);
		return 0;
	}
	list_for_each_entry(page, &pages, lru) {
		/* The transport cannot name it: no huge pages for this call. */
		if (!mb_page_nameable(tp, page))
			break;
		tp->ops->queue_huge(tp, page);
		k++;
	}
	if (!k) {
		mutex_unlock(&mb->lock);
		mb_free_huge_list(&pages, order);
		return 0;
	}
	told = tp->ops->tell_inflate(tp, &step_refused);
	*ret_full = mb_host_full(tp);
	list_for_each_entry(page, &step_refused, lru)
		(*nr_refused)++;
	mb->refused_pages += *nr_refused << order;
	mb->huge_order = order;
	n = 0;
	while (!list_empty(&pages) && n < k - *nr_refused) {
		page = list_first_entry(&pages, struct page, lru);
		list_move(&page->lru, &mb->huge_pages);
		mb_huge_loaned(mb, page, true);
		n++;
	}
	mb->nr_huge += n;
	mb->nr_pages += n << order;
	mutex_unlock(&mb->lock);
	/* Queued pages came first; what is left was never queued. */
	mb_free_huge_list(&pages, order);
	list_splice(&step_refused, refused);
	mb_sync_actual(mb);
	return told ? n << order : -EIO;
}

/*
 * Put @n freshly allocated pages from @pages into the balloon and tell
 * the host.  The allocation happened without mb->lock, so the lock is
 * only held for bookkeeping and one host round trip.  The transport may
 * have changed since the pages were taken: what it cannot name or what
 * does not fit its step goes back to the allocator.  Pages the host
 * refuses go to @refused, for the caller to free at the end of the call,
 * and are counted in @nr_refused; *@ret_full says whether the host needs
 * no more pages (mb_transport_ops.host_full).
 *
 * Return: pages added, or -EIO if the host has stopped answering.  The
 * pages were then freed again if the host never saw them, or stay loaned
 * if it may have: a host that takes a buffer late would still discard
 * those pages.
 */
static long mb_inflate_step(struct memballoon *mb, struct list_head *pages,
			    struct list_head *refused,
			    unsigned long *nr_refused, bool *ret_full)
{
	struct mb_transport *tp;
	struct page *page, *next;
	unsigned long n = 0;
	LIST_HEAD(spare);
	LIST_HEAD(step_refused);
	bool told;

	mutex_lock(&mb->lock);
	tp = mb->tp;
	if (tp->ops->broken(tp)) {
		mutex_unlock(&mb->lock);
		mb_free_page_list(pages);
		return -EIO;
	}
	list_for_each_entry_safe(page, next, pages, lru) {
		if (n == tp->ops->max_step_pages ||
		    !mb_page_nameable(tp, page)) {
			list_move(&page->lru, &spare);
			continue;
		}
		tp->ops->queue_page(tp, page);
		n++;
	}
	told = tp->ops->tell_inflate(tp, &step_refused);
	*ret_full = mb_host_full(tp);
	*nr_refused = 0;
	list_for_each_entry(page, &step_refused, lru)
		(*nr_refused)++;
	mb->refused_pages += *nr_refused;
	n -= *nr_refused;
	list_for_each_entry(page, pages, lru)
		mb_adjust_managed(mb, page, -1);
	balloon_page_list_enqueue(&mb->b_dev_info, pages);
	mb->nr_pages += n;
	mutex_unlock(&mb->lock);
	list_splice(&step_refused, refused);
	mb_free_page_list(&spare);
	mb_sync_actual(mb);
	return told ? n : -EIO;
}

/*
 * Give up to @count huge pages back (at most one step's worth of pages,
 * but one at least), as mb_deflate_step_locked() does order-0 ones.
 * Return: kernel pages released, -EIO or -EACCES as there.
 */
static long mb_deflate_huge_locked(struct memballoon *mb, unsigned long count)
{
	struct mb_transport *tp = mb->tp;
	unsigned int order = mb->huge_order;
	struct page *page, *next;
	unsigned long n = 0;
	LIST_HEAD(pages);
	LIST_HEAD(kept);

	count = min3(count, mb->nr_huge,
		     max(1UL, tp->ops->max_step_pages >> order));
	while (n < count) {
		page = list_first_entry(&mb->huge_pages, struct page, lru);
		list_move(&page->lru, &pages);
		tp->ops->queue_huge(tp, page);
		n++;
	}
	if (!tp->ops->tell_deflate(tp, &kept)) {
		list_splice(&kept, &mb->huge_pages);
		list_splice(&pages, &mb->huge_pages);
		return -EIO;
	}
	list_for_each_entry(page, &kept, lru)
		n--;
	list_splice(&kept, &mb->huge_pages);
	if (!n)
		return -EACCES;
	mb->nr_huge -= n;
	mb->nr_pages -= n << order;
	list_for_each_entry_safe(page, next, &pages, lru) {
		list_del(&page->lru);
		mb_huge_loaned(mb, page, false);
		__free_pages(page, order);
	}
	return n << order;
}

/*
 * Less than a huge page is wanted back and only huge pages are left: the
 * host gets one back, and its order-0 pages are lent again, one step's
 * worth per tell, onto the balloon's list (where compaction may move
 * them); split_page() cuts it up, as vmw_balloon cuts up the 2 MB pages
 * its host refuses.  Parts
 * the host will not take now are freed: the balloon then shrinks by more
 * than the caller asked, which its count shows.
 *
 * Return: 0 (the caller takes its order-0 pages next), or -EIO or -EACCES
 * as mb_deflate_step_locked().
 */
static long mb_split_huge_locked(struct memballoon *mb)
{
	struct mb_transport *tp = mb->tp;
	unsigned int order = mb->huge_order;
	unsigned long i, j, nr = 1UL << order, refused = 0, lost = 0;
	struct page *page, *part, *next;
	LIST_HEAD(pages);
	LIST_HEAD(kept);
	bool told;

	page = list_first_entry(&mb->huge_pages, struct page, lru);
	list_move(&page->lru, &pages);
	tp->ops->queue_huge(tp, page);
	told = tp->ops->tell_deflate(tp, &kept);
	if (!told || !list_empty(&kept)) {
		list_splice(&kept, &mb->huge_pages);
		list_splice(&pages, &mb->huge_pages);
		return told ? -EACCES : -EIO;
	}
	list_del(&page->lru);
	mb_huge_loaned(mb, page, false);
	mb->nr_huge--;
	mb->nr_pages -= nr;
	split_page(page, order);

	for (i = 0; i < nr; i += j) {
		LIST_HEAD(parts);
		LIST_HEAD(step_refused);

		for (j = 0; j < tp->ops->max_step_pages && i + j < nr; j++) {
			part = page + i + j;
			list_add_tail(&part->lru, &parts);
			if (told)
				tp->ops->queue_page(tp, part);
		}
		/* After a host that stopped answering, the rest go back. */
		if (!told) {
			list_for_each_entry(part, &parts, lru)
				lost++;
			list_splice_init(&parts, &step_refused);
		} else {
			told = tp->ops->tell_inflate(tp, &step_refused);
			list_for_each_entry(part, &step_refused, lru)
				refused++;
		}
		list_for_each_entry_safe(part, next, &step_refused, lru) {
			list_del(&part->lru);
			put_page(part);
		}
		list_for_each_entry(part, &parts, lru) {
			mb_adjust_managed(mb, part, -1);
			mb->nr_pages++;
		}
		balloon_page_list_enqueue(&mb->b_dev_info, &parts);
	}
	mb->refused_pages += refused;
	if (refused || lost)
		pr_info_ratelimited("split a huge page: the host took %lu of its %lu pages back\n",
				    nr - refused - lost, nr);
	return told ? 0 : -EIO;
}

/*
 * Take up to @want pages (at most one step) out of the balloon, tell the
 * host and give them back to the page allocator.  The host hears of the
 * pages before they are freed, as VIRTIO_BALLOON_F_MUST_TELL_HOST asks;
 * we keep that order whether or not it was negotiated.
 *
 * The caller writes config actual (mb_sync_actual()) after dropping the
 * lock.
 *
 * Return: pages released.  0 while pages are held means that all of them
 * are isolated or locked by compaction right now; they come back soon.
 * -EIO: the host stopped answering, so the pages went back into the
 * balloon: it has not heard of them, and a device that is not yet reset
 * may still be using them.  -EACCES: the host would give none of them
 * back (they stay in the balloon).
 */
static long mb_deflate_step_locked(struct memballoon *mb, unsigned long want)
{
	struct mb_transport *tp = mb->tp;
	struct page *page, *next;
	unsigned long n, small;
	LIST_HEAD(pages);
	LIST_HEAD(kept);

	lockdep_assert_held(&mb->lock);
	want = min(want, mb->nr_pages);
	if (!want)
		return 0;
	/*
	 * Huge pages first when at least one is wanted, order-0 pages first
	 * otherwise; a huge page is cut up when less than one is wanted and
	 * nothing else is left, so a step never gives back more than asked.
	 */
	if (mb->nr_huge) {
		small = mb->nr_pages - (mb->nr_huge << mb->huge_order);
		if (want >= 1UL << mb->huge_order)
			return mb_deflate_huge_locked(mb, want >> mb->huge_order);
		if (!small) {
			long err = mb_split_huge_locked(mb);

			if (err)
				return err;
		}
		small = mb->nr_pages - (mb->nr_huge << mb->huge_order);
		want = min(want, small);
	}
	want = min(want, (unsigned long)tp->ops->max_step_pages);
	if (!want)
		return 0;
	/*
	 * Never ask for more than we hold: balloon_page_dequeue() would
	 * BUG() on an empty list, and the list variant skips isolated
	 * pages, so our own count is the bound.
	 */
	n = balloon_page_list_dequeue(&mb->b_dev_info, &pages, want);
	if (!n)
		return 0;

	/* A host that has been reset forgot its pages: nobody to tell. */
	list_for_each_entry(page, &pages, lru)
		tp->ops->queue_page(tp, page);
	if (!tp->ops->tell_deflate(tp, &kept)) {
		list_splice(&kept, &pages);
		balloon_page_list_enqueue(&mb->b_dev_info, &pages);
		return -EIO;
	}
	/* What the host would not give back stays loaned. */
	list_for_each_entry(page, &kept, lru)
		n--;
	balloon_page_list_enqueue(&mb->b_dev_info, &kept);
	if (!n)
		return -EACCES;
	mb->nr_pages -= n;

	list_for_each_entry_safe(page, next, &pages, lru) {
		list_del(&page->lru);
		mb_adjust_managed(mb, page, 1);
		put_page(page);		/* the balloon's reference */
	}
	return n;
}

/*
 * Pages DEFLATE may take back now.  virtio spec 5.5.6.1: without
 * DEFLATE_ON_OOM the driver must not use pages below the host's target.
 */
static unsigned long mb_deflate_room_locked(struct memballoon *mb)
{
	lockdep_assert_held(&mb->lock);
	if (mb->tp->ops->deflate_on_oom(mb->tp))
		return mb->nr_pages;
	return mb->nr_pages > mb->host_target ?
	       mb->nr_pages - mb->host_target : 0;
}

/**
 * mb_release_all_locked() - give every page back and tell the host
 * @mb: the balloon, mb->lock held
 *
 * Used when a transport goes away and on unload; the caller writes config
 * actual if the device stays.  Pages isolated by compaction cannot migrate
 * while we hold mb->lock (mb_migratepage() only trylocks), so compaction
 * puts them back and we wait for that.  A device that stopped answering is
 * reset before this is called (mb_virtio_remove()), so then nothing is
 * sent and every page comes back (see mb_transport_ops.tell_deflate).
 */
void mb_release_all_locked(struct memballoon *mb)
{
	long n;

	lockdep_assert_held(&mb->lock);
	while (mb->nr_pages) {
		n = mb_deflate_step_locked(mb, mb->nr_pages);
		if (n < 0) {
			pr_err("%lu pages stay loaned: the host %s\n",
			       mb->nr_pages, n == -EACCES ?
			       "would not give them back" :
			       "stopped answering");
			return;
		}
		if (!n)
			usleep_range(1000, 2000);
	}
}

/* ---- transports -------------------------------------------------------- */

/**
 * mb_transport_attach() - make @tp the balloon's transport
 * @tp:		the transport, with its host found and answering
 * @target:	the host's target now, in kernel pages
 * @in_totalram: loaned pages stay in the managed page count
 *
 * Pages loaned in simulate mode were never offered to this host, so they
 * go back first; the daemon inflates again towards the host's target,
 * which comes as an event.  No lock held.
 *
 * Return: 0, or -EBUSY if another host's transport is bound: one balloon
 * has one host, and the first to bind keeps it.
 */
int mb_transport_attach(struct mb_transport *tp, u64 target, bool in_totalram)
{
	struct memballoon *mb = &mb_balloon;

	if (WARN_ON_ONCE(!tp->ops->max_step_pages ||
			 !tp->ops->first_step_pages ||
			 tp->ops->first_step_pages > tp->ops->max_step_pages))
		return -EINVAL;
	mutex_lock(&mb->lock);
	if (mb->tp != &mb_sim_transport) {
		mutex_unlock(&mb->lock);
		return -EBUSY;
	}
	mb_release_all_locked(mb);
	mb_set_accounting_locked(mb, in_totalram);
	mb->sim_target = 0;
	/* One store: mb_sync_actual() reads it without mb->lock. */
	WRITE_ONCE(mb->tp, tp);
	mb->host_target = target;
	/* Under the lock, as SIM_SET_TARGET's: the newest target wins. */
	mb_queue_event(mb, MEMBALLOON_EVENT_TARGET, target);
	mutex_unlock(&mb->lock);
	pr_info("transport %s bound, target %llu pages\n", tp->ops->name,
		target);
	return 0;
}

/**
 * mb_transport_detach() - stop using @tp
 * @tp:	the transport
 *
 * Gives every page back, telling the host unless it stopped answering,
 * and falls back to simulate mode with a zero target.  The caller stops
 * its own work (target polling, interrupts) first.  No lock held.
 *
 * Return: true if @tp was bound and its host still answers (the caller
 * may then tell it the balloon is empty), false otherwise.
 */
bool mb_transport_detach(struct mb_transport *tp)
{
	struct memballoon *mb = &mb_balloon;
	bool answers;

	mutex_lock(&mb->lock);
	if (mb->tp != tp) {
		mutex_unlock(&mb->lock);
		return false;
	}
	mb_release_all_locked(mb);
	answers = !tp->ops->broken(tp);
	WRITE_ONCE(mb->tp, &mb_sim_transport);
	mb->host_target = 0;
	mb->sim_target = 0;
	if (!mb->nr_pages)
		mb_set_accounting_locked(mb, false);
	/* Under the lock: a SIM_SET_TARGET right after is the newest. */
	mb_queue_event(mb, MEMBALLOON_EVENT_TARGET, 0);
	mutex_unlock(&mb->lock);

	/* After mb->tp left @tp: wait out a mb_sync_actual() using it. */
	mutex_lock(&mb->cfg_lock);
	mutex_unlock(&mb->cfg_lock);
	return answers;
}

/**
 * mb_transport_set_target() - the host of @tp asks for @target pages
 * @tp:		the transport
 * @target:	kernel pages; the transport clamps what the guest cannot give
 *
 * Ignored unless @tp is bound.  Queues a TARGET event.  No lock held.
 */
void mb_transport_set_target(struct mb_transport *tp, u64 target)
{
	struct memballoon *mb = &mb_balloon;

	mutex_lock(&mb->lock);
	if (mb->tp == tp) {
		mb->host_target = target;
		mb_queue_event(mb, MEMBALLOON_EVENT_TARGET, target);
	}
	mutex_unlock(&mb->lock);
}

/**
 * mb_transport_forget_all() - the host of @tp forgot every loaned page
 * @tp:	the transport; its tell_deflate must already return true without
 *	telling anyone
 *
 * After a host reset (VMware's RESET) the pages are the guest's again:
 * they all go back to the page allocator and a RESET event tells the
 * daemon, which inflates again towards the target the host sets next.
 * No lock held.
 */
void mb_transport_forget_all(struct mb_transport *tp)
{
	struct memballoon *mb = &mb_balloon;
	unsigned long before;

	mutex_lock(&mb->lock);
	if (mb->tp != tp) {
		mutex_unlock(&mb->lock);
		return;
	}
	before = mb->nr_pages;
	mb_release_all_locked(mb);
	mb_queue_event(mb, MEMBALLOON_EVENT_RESET, before - mb->nr_pages);
	mutex_unlock(&mb->lock);
	mb_sync_actual(mb);
	pr_info("%s host reset: %lu pages back to the guest\n", tp->ops->name,
		before);
}

/**
 * mb_transport_declined() - a transport looked for its host and did not bind
 * @transport:	MEMBALLOON_TRANSPORT_*
 * @reason:	MEMBALLOON_DECLINED_*
 * @error:	the hypervisor's answer, or a negative errno, or 0
 *
 * Kept for GET_STATE, so that the daemon can say why (the caller logs it
 * too).  The last one wins.  No lock held.
 */
void mb_transport_declined(u32 transport, u32 reason, s32 error)
{
	struct memballoon *mb = &mb_balloon;

	mutex_lock(&mb->lock);
	mb->declined_transport = transport;
	mb->declined_reason = reason;
	mb->declined_error = error;
	mutex_unlock(&mb->lock);
}

/**
 * mb_inflate() - MEMBALLOON_INFLATE on validated arguments
 * @mb: the balloon
 * @b:  in: nr_pages; out: done_pages, actual_pages, stop_reason
 *
 * Stops early when an allocation fails, on a fatal signal, while a
 * memory block is going offline, when the host stopped answering, refused
 * a step's worth of pages or said it needs no more (STOP_REFUSED).
 * Return: 0.
 */
int mb_inflate(struct memballoon *mb, struct memballoon_batch *b)
{
	struct mb_transport *tp = READ_ONCE(mb->tp);
	unsigned long step_max = tp->ops->first_step_pages;
	u32 reason = MEMBALLOON_STOP_DONE;
	unsigned long refused = 0, huge_refused = 0;
	unsigned int order, refused_order = 0;
	LIST_HEAD(refused_pages);
	LIST_HEAD(refused_huge);
	bool try_huge = true, full;
	u64 done = 0;

	while (done < b->nr_pages && reason == MEMBALLOON_STOP_DONE) {
		unsigned long step = min_t(u64, b->nr_pages - done, step_max);
		unsigned long n = 0, unnamed = 0, step_refused;
		struct page *page;
		LIST_HEAD(unnameable);
		LIST_HEAD(pages);
		long added;

		/* Checked again under mb->lock: this only avoids waste. */
		tp = READ_ONCE(mb->tp);
		/*
		 * Huge pages while at least one is wanted, as many as fit in
		 * the step (one at least), until one cannot be had or the host
		 * refused too many; order-0 pages for the rest of the call.
		 */
		order = try_huge ? mb_huge_order_now(tp) : 0;
		if (order && (refused_order == order || !refused_order) &&
		    b->nr_pages - done >= 1UL << order) {
			added = mb_inflate_huge_step(mb, order,
						     min_t(u64, (b->nr_pages - done) >> order,
							   max(1UL, step_max >> order)),
						     &refused_huge, &step_refused,
						     &reason, &full);
			if (added < 0) {
				reason = MEMBALLOON_STOP_HOST;
				break;
			}
			if (step_refused)
				refused_order = order;
			huge_refused += step_refused;
			/*
			 * A host that needs no more huge pages may still need
			 * less than one: order-0 pages fill up to its target.
			 */
			if ((!added && !step_refused) || full ||
			    huge_refused >= MB_HUGE_MAX_REFUSED)
				try_huge = false;
			done += added;
			step_max = READ_ONCE(mb->tp)->ops->max_step_pages;
			continue;
		}
		while (n < step) {
			if (READ_ONCE(mb->offlining)) {
				reason = MEMBALLOON_STOP_OFFLINE;
				break;
			}
			if (fatal_signal_pending(current)) {
				reason = MEMBALLOON_STOP_SIGNAL;
				break;
			}
			/*
			 * Movable, __GFP_NORETRY | __GFP_NOWARN |
			 * __GFP_NOMEMALLOC: fails instead of reclaiming hard,
			 * and never enters the OOM killer.
			 */
			page = balloon_page_alloc();
			if (!page) {
				reason = MEMBALLOON_STOP_NOMEM;
				break;
			}
			if (!mb_page_nameable(tp, page)) {
				/* Kept aside so the allocator hands out another. */
				list_add(&page->lru, &unnameable);
				if (++unnamed > tp->ops->max_step_pages) {
					reason = MEMBALLOON_STOP_NOMEM;
					break;
				}
				continue;
			}
			list_add(&page->lru, &pages);
			n++;
			cond_resched();
		}
		mb_free_page_list(&unnameable);
		if (!n)
			break;
		added = mb_inflate_step(mb, &pages, &refused_pages,
					&step_refused, &full);
		if (added < 0) {
			reason = MEMBALLOON_STOP_HOST;
			break;
		}
		done += added;
		refused += step_refused;
		/*
		 * Refused pages are kept until the call ends, so the allocator
		 * does not offer them again at once; a host that refuses a
		 * step's worth takes no more now, nor one that said it needs
		 * no more (host_full).
		 */
		if ((full || refused >= READ_ONCE(mb->tp)->ops->max_step_pages) &&
		    reason == MEMBALLOON_STOP_DONE)
			reason = MEMBALLOON_STOP_REFUSED;
		step_max = READ_ONCE(mb->tp)->ops->max_step_pages;
	}
	mb_free_page_list(&refused_pages);
	mb_free_huge_list(&refused_huge, refused_order);

	mutex_lock(&mb->lock);
	if (reason == MEMBALLOON_STOP_NOMEM)
		mb->inflate_failures++;
	b->actual_pages = mb->nr_pages;
	mutex_unlock(&mb->lock);
	b->done_pages = done;
	b->stop_reason = reason;
	return 0;
}

/**
 * mb_deflate() - MEMBALLOON_DEFLATE on validated arguments
 * @mb: the balloon
 * @b:  in: nr_pages; out: done_pages, actual_pages, stop_reason
 *
 * Releasing more than is held releases what is held (STOP_EMPTY).  Never
 * goes below the host's target unless it allows that (STOP_HOST_TARGET,
 * see mb_deflate_room_locked()).  Return: 0.
 */
int mb_deflate(struct memballoon *mb, struct memballoon_batch *b)
{
	unsigned long step_max = READ_ONCE(mb->tp)->ops->first_step_pages;
	u32 reason = MEMBALLOON_STOP_DONE;
	u64 done = 0;

	while (done < b->nr_pages) {
		unsigned long room, want;
		long n;

		mutex_lock(&mb->lock);
		if (!mb->nr_pages) {
			mutex_unlock(&mb->lock);
			reason = MEMBALLOON_STOP_EMPTY;
			break;
		}
		room = mb_deflate_room_locked(mb);
		if (!room) {
			mutex_unlock(&mb->lock);
			reason = MEMBALLOON_STOP_HOST_TARGET;
			break;
		}
		want = min_t(u64, b->nr_pages - done, room);
		/*
		 * A whole huge page is a step of its own, even the first: one
		 * entry for the host, as quick as the first step's few
		 * order-0 pages, and it need not be cut up.
		 */
		if (!mb->nr_huge || want < 1UL << mb->huge_order)
			want = min(want, step_max);
		n = mb_deflate_step_locked(mb, want);
		mutex_unlock(&mb->lock);
		if (n < 0) {
			reason = n == -EACCES ? MEMBALLOON_STOP_REFUSED :
						MEMBALLOON_STOP_HOST;
			break;
		}
		if (n)
			mb_sync_actual(mb);
		done += n;
		if (n) {
			step_max = READ_ONCE(mb->tp)->ops->max_step_pages;
			cond_resched();
			continue;
		}
		/* Everything left is isolated by compaction: wait for it. */
		if (fatal_signal_pending(current)) {
			reason = MEMBALLOON_STOP_SIGNAL;
			break;
		}
		usleep_range(1000, 2000);
	}

	mutex_lock(&mb->lock);
	b->actual_pages = mb->nr_pages;
	mutex_unlock(&mb->lock);
	b->done_pages = done;
	b->stop_reason = reason;
	return 0;
}

/* ---- compaction -------------------------------------------------------- */

#ifdef MB_HAVE_BALLOON_PAGES_LOCK
/*
 * Turn an isolated balloon page back into a plain page, page locked.  This
 * is what balloon_page_finalize() does, but that helper only exists in
 * recent 6.1 stable headers and DKMS may build against older ones.
 */
static void mb_page_finalize(struct page *page)
{
	__ClearPageMovable(page);
	set_page_private(page, 0);
	__ClearPageOffline(page);
}

/*
 * Up to 6.x the callback does the core's part of a migration too: @newpage
 * joins the balloon with a reference of its own, and @page leaves it.
 */
static void mb_migrate_swap(struct memballoon *mb,
			    struct balloon_dev_info *b_dev_info,
			    struct page *newpage, struct page *page)
{
	unsigned long flags;

	get_page(newpage);	/* the balloon's reference */

	/* Loaned pages are not managed: keep the per-zone counts right. */
	if (page_zone(page) != page_zone(newpage)) {
		mb_adjust_managed(mb, page, 1);
		mb_adjust_managed(mb, newpage, -1);
	}

	spin_lock_irqsave(&b_dev_info->pages_lock, flags);
	balloon_page_insert(b_dev_info, newpage);
	b_dev_info->isolated_pages--;
#ifdef CONFIG_BALLOON_COMPACTION
	__count_vm_event(BALLOON_MIGRATE);
#endif
	spin_unlock_irqrestore(&b_dev_info->pages_lock, flags);
}

static void mb_migrate_release(struct page *page)
{
	mb_page_finalize(page);
	put_page(page);		/* the balloon's reference */
}
#else
/*
 * From 7.x the core inserts @newpage, takes its reference, fixes the
 * managed counts, drops isolated_pages and releases @page once the
 * callback returns 0 (balloon_page_migrate() in the core).  Doing any of
 * it here too would count twice and corrupt the list.
 */
static void mb_migrate_swap(struct memballoon *mb,
			    struct balloon_dev_info *b_dev_info,
			    struct page *newpage, struct page *page)
{
}

static void mb_migrate_release(struct page *page)
{
}
#endif

/*
 * Tell the host that @newpage replaces @page.  A host that refuses
 * @newpage, or will not give @page back, leaves everything as it was:
 * false, and the migration is retried later.  If it then will not take
 * @newpage back either, the host still holds it: the page is leaked (one
 * extra reference) rather than handed to the allocator while the host
 * may reclaim it.
 *
 * The transport reports refusals by moving a page's lru.  @newpage's is
 * free (the migration core unlinked it), but @page is still linked on the
 * migration core's own list, so a placeholder takes its place meanwhile.
 */
static bool mb_migrate_tell(struct memballoon *mb, struct mb_transport *tp,
			    struct page *newpage, struct page *page)
{
	struct list_head placeholder;
	LIST_HEAD(pages);
	LIST_HEAD(refused);
	bool ok;

	list_add(&newpage->lru, &pages);
	tp->ops->queue_page(tp, newpage);
	ok = !tp->ops->tell_inflate(tp, &refused) || list_empty(&refused);
	list_del(&newpage->lru);
	if (!ok) {
		mb->refused_pages++;
		return false;
	}
	if (tp->ops->broken(tp))
		return true;	/* nothing more reaches it (see above) */

	list_replace(&page->lru, &placeholder);
	list_add(&page->lru, &pages);
	tp->ops->queue_page(tp, page);
	ok = !tp->ops->tell_deflate(tp, &refused) || list_empty(&refused);
	list_del(&page->lru);
	list_replace(&placeholder, &page->lru);
	if (ok)
		return true;

	/* @page stays loaned: take @newpage back from the host. */
	list_add(&newpage->lru, &pages);
	tp->ops->queue_page(tp, newpage);
	ok = tp->ops->tell_deflate(tp, &refused) && list_empty(&refused);
	list_del(&newpage->lru);
	if (!ok) {
		get_page(newpage);
		pr_err("the host keeps page %#lx after refusing a migration; leaked\n",
		       page_to_pfn(newpage));
	}
	return false;
}

/*
 * Called by compaction (and memory offlining) with @page isolated from
 * the balloon list, and both pages locked.  The core calls this without a
 * NULL check whenever balloon pages are movable, so it is always
 * installed.  @newpage joins the balloon and the host learns of it, then
 * the host gets @page back.  The balloon size does not change.
 *
 * Return: 0 (MIGRATEPAGE_SUCCESS up to 6.x), or -EAGAIN to have the core
 * put @page back and try again later.
 */
static int mb_migratepage(struct balloon_dev_info *b_dev_info,
			  struct page *newpage, struct page *page,
			  enum migrate_mode mode)
{
	struct memballoon *mb = container_of(b_dev_info, struct memballoon,
					     b_dev_info);
	struct mb_transport *tp;

	/*
	 * Do not wait for an inflate or deflate step: failing with -EAGAIN
	 * makes compaction put the page back and try again later.  It also
	 * keeps an allocation made while holding mb->lock from recursing
	 * into it (none is made today).
	 */
	if (!mutex_trylock(&mb->lock))
		return -EAGAIN;
	tp = mb->tp;
	/*
	 * A host that stopped answering could not be told of the swap, and
	 * may still use @page: leave the page where it is.
	 */
	if (tp->ops->broken(tp)) {
		mutex_unlock(&mb->lock);
		return -EAGAIN;
	}
	/* The host could not be told where the page went: try another. */
	if (!mb_page_nameable(tp, newpage)) {
		mutex_unlock(&mb->lock);
		return -EAGAIN;
	}

	/*
	 * The host hears of @newpage first, so the guest's memory never
	 * shrinks by a page the host does not know; if it stops answering
	 * in between, @page simply stays with it (the device is reset
	 * before anything is released, see mb_virtio_remove()).  Both
	 * pages are ours to link while isolated and locked.
	 */
	if (!mb_migrate_tell(mb, tp, newpage, page)) {
		mutex_unlock(&mb->lock);
		return -EAGAIN;
	}

	mb_migrate_swap(mb, b_dev_info, newpage, page);
	mb_migrate_release(page);

	mb->migrations++;
	/* Queued under the lock so unload cannot overtake us. */
	mb_queue_event(mb, MEMBALLOON_EVENT_MIGRATED, mb->migrations);
	mutex_unlock(&mb->lock);

	return 0;
}

/* ---- notifiers --------------------------------------------------------- */

/*
 * Called by out_of_memory() under oom_lock, after the OOM killer has been
 * chosen as the last resort.  Like cmm.c we only release pages and report
 * how many; the OOM core then retries the allocation instead of killing.
 *
 * Locking: no holder of mb->lock allocates memory (inflate allocates
 * before taking the lock, with __GFP_NORETRY, which never reaches the OOM
 * killer), faults on user memory (ioctls copy arguments outside the lock),
 * or does config space I/O (which allocates on virtio-ccw; it happens after
 * the lock is dropped, and this notifier defers its own to a work item).
 * virtqueue_add never allocates because indirect descriptors are switched
 * off.  So a holder never waits for oom_lock, and a holder's longest wait
 * is one host round trip.  Still, the OOM path must not depend on the
 * host: the lock is tried for at most MB_OOM_LOCK_WAIT_MS (an inflate
 * step holds it for about a millisecond), then this call frees nothing
 * and the OOM killer goes on as if there were no balloon.
 */
static bool mb_oom_lock(struct memballoon *mb)
{
	unsigned long end = jiffies + msecs_to_jiffies(MB_OOM_LOCK_WAIT_MS);

	do {
		if (mutex_trylock(&mb->lock))
			return true;
		usleep_range(200, 500);
	} while (time_before(jiffies, end));
	return false;
}

static int mb_oom_notify(struct notifier_block *nb, unsigned long unused,
			 void *parm)
{
	struct memballoon *mb = &mb_balloon;
	unsigned long *freed = parm;
	unsigned long want = READ_ONCE(mb->oom_nr_pages);
	unsigned long done = 0;
	long n;

	if (!want)
		return NOTIFY_OK;

	if (!mb_oom_lock(mb)) {
		atomic64_inc(&mb->oom_lock_missed);
		pr_warn_ratelimited("OOM: the balloon stayed busy for %d ms (a step waiting for the host, or the device being removed or added); released nothing\n",
				    MB_OOM_LOCK_WAIT_MS);
		return NOTIFY_OK;
	}
	/* virtio spec 5.5.6.1: only with DEFLATE_ON_OOM negotiated. */
	if (!mb->tp->ops->deflate_on_oom(mb->tp)) {
		mutex_unlock(&mb->lock);
		return NOTIFY_OK;
	}
	while (done < want) {
		n = mb_deflate_step_locked(mb, want - done);
		if (n <= 0)
			break;	/* empty, the rest is isolated, or no host */
		done += n;
	}
	if (done) {
		mb->oom_freed_pages += done;
		mb->oom_events++;
		mb_queue_event(mb, MEMBALLOON_EVENT_OOM, done);
	}
	mutex_unlock(&mb->lock);

	if (done) {
		schedule_work(&mb->actual_work);
		pr_info_ratelimited("released %lu pages on OOM\n", done);
	}
	*freed += done;
	return NOTIFY_OK;
}

static struct notifier_block mb_oom_nb = {
	.notifier_call = mb_oom_notify,
	.priority = MB_OOM_NOTIFY_PRIORITY,
};

/*
 * Offlining migrates balloon pages out of the block through
 * mb_migratepage(); an inflate running meanwhile would compete for the
 * same memory, so it stops until the operation ends, as in cmm.c.
 * Hotplug operations are serialised by the memory hotplug lock, and
 * MEM_CANCEL_OFFLINE may also come without our MEM_GOING_OFFLINE when an
 * earlier notifier refused; a flag handles both.
 */
static int mb_memory_notify(struct notifier_block *nb, unsigned long action,
			    void *arg)
{
	switch (action) {
	case MEM_GOING_OFFLINE:
		WRITE_ONCE(mb_balloon.offlining, true);
		break;
	case MEM_OFFLINE:
	case MEM_CANCEL_OFFLINE:
		WRITE_ONCE(mb_balloon.offlining, false);
		break;
	default:
		break;
	}
	return NOTIFY_OK;
}

static struct notifier_block mb_memory_nb = {
	.notifier_call = mb_memory_notify,
};

/* ---- module ------------------------------------------------------------ */

static void mb_init_balloon(struct memballoon *mb)
{
	/*
	 * Our stat tags and host feature bits are the virtio spec's.  The
	 * kernel's headers may know more tags than we do (16 from 6.12);
	 * tags go to the host as numbers, so only the shared ones must agree.
	 */
	BUILD_BUG_ON(MEMBALLOON_S_NR > MEMBALLOON_MAX_STATS);
	BUILD_BUG_ON(MEMBALLOON_S_HTLB_PGFAIL != VIRTIO_BALLOON_S_HTLB_PGFAIL);
#ifdef VIRTIO_BALLOON_S_DIRECT_RECLAIM
	BUILD_BUG_ON(MEMBALLOON_S_DIRECT_RECLAIMS != VIRTIO_BALLOON_S_DIRECT_RECLAIM);
	BUILD_BUG_ON(MEMBALLOON_S_OOM_KILLS != VIRTIO_BALLOON_S_OOM_KILL);
#endif
	BUILD_BUG_ON(sizeof(struct memballoon_state) <= MEMBALLOON_STATE_SIZE_V1);
	BUILD_BUG_ON(offsetof(struct memballoon_state, state_flags) !=
		     MEMBALLOON_STATE_SIZE_V1);
	BUILD_BUG_ON(MEMBALLOON_HOST_F_DEFLATE_ON_OOM !=
		     VIRTIO_BALLOON_F_DEFLATE_ON_OOM);
	BUILD_BUG_ON(MEMBALLOON_HOST_F_REPORTING != VIRTIO_BALLOON_F_REPORTING);
	BUILD_BUG_ON(sizeof(struct memballoon_event) != 32);
	BUILD_BUG_ON(offsetof(struct memballoon_state, declined_transport) !=
		     MEMBALLOON_STATE_SIZE_V2);

	mutex_init(&mb->lock);
	mutex_init(&mb->cfg_lock);
	INIT_WORK(&mb->actual_work, mb_actual_work);
	mb->tp = &mb_sim_transport;
	INIT_LIST_HEAD(&mb->huge_pages);
	balloon_devinfo_init(&mb->b_dev_info);
	mb->b_dev_info.migratepage = mb_migratepage;
	mutex_lock(&mb->lock);
	mb_set_accounting_locked(mb, false);
	mutex_unlock(&mb->lock);
	mb->oom_nr_pages = MEMBALLOON_OOM_DEFAULT_BYTES >> PAGE_SHIFT;
	spin_lock_init(&mb->ev_lock);
	init_waitqueue_head(&mb->ev_wait);
	spin_lock_init(&mb->stats_lock);
}

static int __init mb_init(void)
{
	int err;

	mb_init_balloon(&mb_balloon);

	err = register_oom_notifier(&mb_oom_nb);
	if (err)
		goto out;
	err = register_memory_notifier(&mb_memory_nb);
	if (err)
		goto out_oom;
	/* A device may bind and start talking at once: its events wait. */
	err = mb_virtio_register();
	if (err)
		goto out_memory;
	/*
	 * After virtio: a virtio device bound by now keeps the balloon, and
	 * cmm records that it declined (pSeries only; a no-op elsewhere).
	 */
	err = mb_cmm_register();
	if (err)
		goto out_virtio;
	/* Under VMware, the backdoor balloon (x86-64; never fails). */
	err = mb_vmw_register();
	if (err)
		goto out_cmm;
	/*
	 * Last: nobody can inflate before everything else is up, so a failed
	 * registration above never leaves pages behind, nor a migratepage
	 * callback pointing into module text that is about to go away.
	 */
	err = mb_chardev_register();
	if (err)
		goto out_vmw;
	return 0;

out_vmw:
	mb_vmw_unregister();
out_cmm:
	mb_cmm_unregister();
out_virtio:
	/* Returns the device's pages and tells the host. */
	mb_virtio_unregister();
out_memory:
	unregister_memory_notifier(&mb_memory_nb);
out_oom:
	unregister_oom_notifier(&mb_oom_nb);
out:
	return err;
}

static void __exit mb_exit(void)
{
	struct memballoon *mb = &mb_balloon;

	/* No file can be open: each one holds a module reference. */
	mb_chardev_unregister();
	/* Each returns its host's pages and tells it. */
	mb_vmw_unregister();
	mb_cmm_unregister();
	mb_virtio_unregister();
	unregister_memory_notifier(&mb_memory_nb);
	unregister_oom_notifier(&mb_oom_nb);
	cancel_work_sync(&mb->actual_work);

	/* What is left was loaned in simulate mode. */
	mutex_lock(&mb->lock);
	mb_release_all_locked(mb);
	mutex_unlock(&mb->lock);
}

module_init(mb_init);
module_exit(mb_exit);

MODULE_DESCRIPTION("Memory balloon shim for the memballoond daemon");
MODULE_LICENSE("GPL");
