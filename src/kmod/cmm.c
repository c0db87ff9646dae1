// SPDX-License-Identifier: GPL-2.0
/*
 * memballoon: the pSeries cooperative memory overcommit transport ("cmm").
 *
 * A pSeries partition with CMO (FW_FEATURE_CMO) lends memory back to the
 * hypervisor page by page.  The protocol, as PAPR defines it and as the
 * kernel's own cmm driver (arch/powerpc/platforms/pseries/cmm.c) uses it:
 *
 *  - H_GET_MPP returns the partition's memory performance parameters;
 *    loan_request is the number of bytes the hypervisor wants lent to it
 *    *in addition to* what the partition has lent already (negative: it
 *    wants that many back).  Nothing tells the partition when it changes,
 *    so it is polled (cmm.c: every second; here cmm_poll_ms).
 *  - H_PAGE_INIT(H_PAGE_SET_LOANED, addr) lends one CMO page (CMO_PageSize
 *    bytes, 4 KiB in practice) at real address addr;
 *    H_PAGE_INIT(H_PAGE_SET_ACTIVE, addr) takes it back.  A kernel page
 *    (64 KiB on Debian's ppc64el) is one call per CMO page inside it.
 *  - H_BUSY and H_LONG_BUSY_* mean "call again later"; any other non-zero
 *    status is a refusal of that call.
 *
 * The balloon core owns the pages; this file turns its steps into hcalls
 * and the hypervisor's loan request into a target in kernel pages:
 * target = pages lent now + loan_request, rounded up to whole pages.
 * Loaned pages leave MemTotal (cmm.c takes them out of the managed count)
 * and the guest may take them back when it runs out of memory (cmm.c's OOM
 * notifier does), so deflate_on_oom is true.
 *
 * All hypervisor calls go through struct mb_cmm_hv_ops, so the test suite
 * can put a fake hypervisor behind the transport (MB_TEST_HOOKS).
 *
 * Binding is decided once at load: no CMO, a failing H_GET_MPP, an
 * unusable CMO page size or another transport already bound make the
 * transport decline (recorded for GET_STATE v3) and stay unused.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": cmm: " fmt

#include <linux/delay.h>
#include <linux/jiffies.h>
#include <linux/log2.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/mutex.h>
#include <linux/overflow.h>
#include <linux/sizes.h>
#include <linux/workqueue.h>
#include <asm/firmware.h>
#include <asm/hvcall.h>

#include "shim.h"
#include "cmm.h"

/*
 * How often the loan request is read.  cmm.c waits one second between
 * reads (its "delay" parameter); the hypervisor never signals a change.
 * Bounded so a typo cannot spin the work item or park it for hours.
 */
#define MB_CMM_POLL_MS_DEFAULT	1000
#define MB_CMM_POLL_MS_MIN	10
#define MB_CMM_POLL_MS_MAX	60000

/*
 * Longest sleep between two calls the hypervisor answered busy.  Its
 * H_LONG_BUSY hint may ask for up to 100 s; the whole wait is bounded by
 * MEMBALLOON_HOST_TIMEOUT_MS anyway, so no single sleep needs to be
 * longer than a tenth of that.
 */
#define MB_CMM_BUSY_SLEEP_MAX_MS	(MEMBALLOON_HOST_TIMEOUT_MS / 10)

/*
 * Most pages per step, i.e. per hold of mb->lock: 1 MiB, which is 256
 * hcalls with 4 KiB CMO pages.  Unlike a virtio step (one host round trip
 * whatever its size) a CMO step costs one hcall per CMO page, and the OOM
 * notifier waits at most MB_OOM_LOCK_WAIT_MS for the lock: with 16 MiB
 * steps (4096 hcalls) a TCG guest under memory pressure held the lock
 * longer than that and an OOM kill went ahead (pressure-oom-rescue-cmm,
 * 1 run in 4).  The first step of each call is smaller still, 256 KiB as
 * virtio's MB_FIRST_STEP_PFNS, so the hypervisor sees progress early.
 */
#define MB_CMM_STEP_PAGES	(SZ_1M >> PAGE_SHIFT)
#define MB_CMM_FIRST_STEP_PAGES	DIV_ROUND_UP(SZ_256K, PAGE_SIZE)

static unsigned int mb_cmm_poll_ms = MB_CMM_POLL_MS_DEFAULT;
module_param_named(cmm_poll_ms, mb_cmm_poll_ms, uint, 0644);
MODULE_PARM_DESC(cmm_poll_ms,
		 "pSeries CMO: ms between two reads of the loan request (10-60000, default 1000)");

/* Counters for the curious and the tests; read-only. */
static unsigned long mb_cmm_target_clamps;
module_param_named(cmm_target_clamps, mb_cmm_target_clamps, ulong, 0444);
MODULE_PARM_DESC(cmm_target_clamps,
		 "pSeries CMO: loan requests above the guest's RAM, clamped to it");

static unsigned long mb_cmm_bad_answers;
module_param_named(cmm_bad_answers, mb_cmm_bad_answers, ulong, 0444);
MODULE_PARM_DESC(cmm_bad_answers,
		 "pSeries CMO: loan requests not in whole CMO pages, or asking back more than is lent");

static unsigned long mb_cmm_mpp_failures;
module_param_named(cmm_mpp_failures, mb_cmm_mpp_failures, ulong, 0444);
MODULE_PARM_DESC(cmm_mpp_failures,
		 "pSeries CMO: H_GET_MPP calls that failed while bound (target kept)");

static unsigned long mb_cmm_overruled;
module_param_named(cmm_overruled, mb_cmm_overruled, ulong, 0444);
MODULE_PARM_DESC(cmm_overruled,
		 "pSeries CMO: pages taken back on detach although the hypervisor refused or did not answer");

/**
 * struct mb_cmm - the cmm transport; one instance, bound or not
 * @tp:		the balloon's handle on it (mb_cmm_ops)
 * @hv:		the hypervisor's calls (mb_cmm_real_hv, or a fake)
 * @unit:	CMO page size in bytes, a power of two up to PAGE_SIZE
 * @bound:	@tp is the balloon's transport (mb_cmm_bind_lock)
 * @broken:	the hypervisor stopped answering: nothing goes to it any
 *		more (set under mb->lock, read with it or READ_ONCE)
 * @releasing:	the binding is going away: pages come back even if the
 *		hypervisor refuses or is silent (mb->lock)
 * @loaned:	kernel pages the hypervisor holds as lent (mb->lock); the
 *		base of its loan request
 * @target:	last target given to the core, in kernel pages (@poll only)
 * @want:	bytes the hypervisor wanted lent at the last read (mb->lock)
 * @want_valid:	@want has been read since binding (mb->lock)
 * @busy_since:	jiffies of the first of a run of busy H_GET_MPP answers
 * @busy:	@busy_since is valid (@poll only)
 * @poll:	reads the loan request every cmm_poll_ms
 * @nr_queued:	pages in @queue (mb->lock)
 * @queue:	pages the core queued for the next tell (mb->lock)
 */
struct mb_cmm {
	struct mb_transport tp;
	const struct mb_cmm_hv_ops *hv;
	unsigned long unit;
	bool bound;
	bool broken;
	bool releasing;
	unsigned long loaned;
	u64 target;
	s64 want;
	bool want_valid;
	unsigned long busy_since;
	bool busy;
	struct delayed_work poll;
	unsigned int nr_queued;
	struct page *queue[MB_CMM_STEP_PAGES];
};

static struct mb_cmm mb_cmm;

/* Serialises binding and unbinding (load, unload, the test hooks). */
static DEFINE_MUTEX(mb_cmm_bind_lock);

static struct mb_cmm *to_mb_cmm(struct mb_transport *tp)
{
	return container_of(tp, struct mb_cmm, tp);
}

/* ---- the real hypervisor ----------------------------------------------- */

static bool mb_cmm_real_has_cmo(void)
{
	return firmware_has_feature(FW_FEATURE_CMO);
}

static long mb_cmm_real_get_mpp(struct hvcall_mpp_data *mpp)
{
	return h_get_mpp(mpp);
}

static long mb_cmm_real_page_init(unsigned long flags, unsigned long addr)
{
	return plpar_hcall_norets(H_PAGE_INIT, flags, addr, 0);
}

static unsigned long mb_cmm_real_cmo_page_size(void)
{
	return CMO_PageSize;
}

static const struct mb_cmm_hv_ops mb_cmm_real_hv = {
	.has_cmo	= mb_cmm_real_has_cmo,
	.get_mpp	= mb_cmm_real_get_mpp,
	.page_init	= mb_cmm_real_page_init,
	.cmo_page_size	= mb_cmm_real_cmo_page_size,
};

/* ---- talking to it ----------------------------------------------------- */

/* PAPR: H_BUSY and the H_LONG_BUSY_* range ask to call again later. */
static bool mb_cmm_busy(long rc)
{
	return rc == H_BUSY || H_IS_LONG_BUSY(rc);
}

/* Sleep as long as a busy answer @rc hints, within bounds. */
static void mb_cmm_busy_sleep(long rc)
{
	unsigned int ms = 1;

	if (H_IS_LONG_BUSY(rc))
		ms = clamp_t(unsigned int, get_longbusy_msecs(rc), 1,
			     MB_CMM_BUSY_SLEEP_MAX_MS);
	usleep_range(ms * USEC_PER_MSEC, ms * USEC_PER_MSEC + 500);
}

/*
 * One H_PAGE_INIT, called again while the hypervisor answers busy, until
 * @deadline.  Return: its last status; a busy one means it never
 * answered in time.
 */
static long mb_cmm_page_init(struct mb_cmm *cmm, unsigned long flags,
			     unsigned long addr, unsigned long deadline)
{
	long rc;

	for (;;) {
		rc = cmm->hv->page_init(flags, addr);
		if (!mb_cmm_busy(rc) || time_after_eq(jiffies, deadline))
			return rc;
		mb_cmm_busy_sleep(rc);
	}
}

/*
 * Give CMO pages [@from, @to) of @page the state @flags, best effort: a
 * rollback after a refusal.  A call that fails here leaves the two sides
 * disagreeing about that CMO page, so it is logged.
 */
static void mb_cmm_undo(struct mb_cmm *cmm, struct page *page,
			unsigned long flags, unsigned long from,
			unsigned long to, unsigned long deadline)
{
	phys_addr_t pa = page_to_phys(page);
	unsigned long off;
	long rc;

	for (off = from; off < to; off += cmm->unit) {
		rc = mb_cmm_page_init(cmm, flags, pa + off, deadline);
		if (rc != H_SUCCESS)
			pr_warn_ratelimited("H_PAGE_INIT %#lx on %pa+%#lx failed while undoing: %ld\n",
					    flags, &pa, off, rc);
	}
}

/*
 * Set every CMO page inside kernel page @page to @flags.  A refusal of
 * one undoes the ones before it (@undo), so the page is all or nothing on
 * the hypervisor's side, as cmm.c does for loans.  With @force (the
 * binding goes away) nothing is undone and a refusal does not stop the
 * others: as much as possible of the page goes back.
 *
 * Return: H_SUCCESS, the (first) refusing call's status, or a busy status
 * when the hypervisor did not answer by @deadline (then nothing is undone:
 * it is not listening).
 */
static long mb_cmm_set_page(struct mb_cmm *cmm, struct page *page,
			    unsigned long flags, unsigned long undo,
			    bool force, unsigned long deadline)
{
	phys_addr_t pa = page_to_phys(page);
	unsigned long off;
	long rc, ret = H_SUCCESS;

	for (off = 0; off < PAGE_SIZE; off += cmm->unit) {
		rc = mb_cmm_page_init(cmm, flags, pa + off, deadline);
		if (rc == H_SUCCESS)
			continue;
		if (mb_cmm_busy(rc))
			return rc;
		if (!force) {
			mb_cmm_undo(cmm, page, undo, 0, off, deadline);
			return rc;
		}
		if (ret == H_SUCCESS)
			ret = rc;
	}
	return ret;
}

/* mb->lock held: no more calls to the hypervisor; the daemon hears of it. */
static void mb_cmm_mark_broken_locked(struct mb_cmm *cmm, const char *why,
				      long rc)
{
	lockdep_assert_held(&mb_balloon.lock);
	if (cmm->broken)
		return;
	WRITE_ONCE(cmm->broken, true);
	pr_err("the hypervisor %s (last status %ld) within %d ms; no more pages go to it, %lu stay lent\n",
	       why, rc, MEMBALLOON_HOST_TIMEOUT_MS, cmm->loaned);
	mb_queue_event(&mb_balloon, MEMBALLOON_EVENT_HOST, 0);
}

/* ---- struct mb_transport_ops (mb->lock held) --------------------------- */

static bool mb_cmm_broken(struct mb_transport *tp)
{
	return READ_ONCE(to_mb_cmm(tp)->broken);
}

static void mb_cmm_queue_page(struct mb_transport *tp, struct page *page)
{
	struct mb_cmm *cmm = to_mb_cmm(tp);

	/* The core queues at most max_step_pages between two tells. */
	if (WARN_ON_ONCE(cmm->nr_queued >= ARRAY_SIZE(cmm->queue)))
		return;
	cmm->queue[cmm->nr_queued++] = page;
}

/*
 * Lend the queued pages.  A page the hypervisor refuses (any part of it)
 * is not lent: it moves to @refused and the core frees it.
 */
static bool mb_cmm_tell_inflate(struct mb_transport *tp,
				struct list_head *refused)
{
	unsigned long deadline = jiffies +
				 msecs_to_jiffies(MEMBALLOON_HOST_TIMEOUT_MS);
	struct mb_cmm *cmm = to_mb_cmm(tp);
	unsigned int i, n = cmm->nr_queued;
	long rc;

	lockdep_assert_held(&mb_balloon.lock);
	cmm->nr_queued = 0;
	if (cmm->broken)
		return false;
	for (i = 0; i < n; i++) {
		struct page *page = cmm->queue[i];

		rc = mb_cmm_set_page(cmm, page, H_PAGE_SET_LOANED,
				     H_PAGE_SET_ACTIVE, false, deadline);
		if (rc == H_SUCCESS) {
			cmm->loaned++;
			continue;
		}
		if (mb_cmm_busy(rc)) {
			mb_cmm_mark_broken_locked(cmm, "did not take a page",
						  rc);
			return false;
		}
		pr_debug("H_PAGE_SET_LOANED refused for pfn %#lx: %ld\n",
			 page_to_pfn(page), rc);
		list_move(&page->lru, refused);
	}
	return true;
}

/*
 * Take the queued pages back.  A page the hypervisor refuses to return
 * stays lent: it moves to @kept and stays in the balloon.  While the
 * binding goes away (@releasing) every page comes back, refused or not:
 * a CMO loan is the partition's promise not to use the page, and the
 * partition is withdrawing it; the guest must not lose the memory for
 * good because the hypervisor will not answer.
 */
static bool mb_cmm_tell_deflate(struct mb_transport *tp,
				struct list_head *kept)
{
	unsigned long deadline = jiffies +
				 msecs_to_jiffies(MEMBALLOON_HOST_TIMEOUT_MS);
	struct mb_cmm *cmm = to_mb_cmm(tp);
	unsigned int i, n = cmm->nr_queued;
	long rc;

	lockdep_assert_held(&mb_balloon.lock);
	cmm->nr_queued = 0;
	if (cmm->broken && !cmm->releasing)
		return false;
	for (i = 0; i < n; i++) {
		struct page *page = cmm->queue[i];

		rc = cmm->broken ? H_BUSY :
		     mb_cmm_set_page(cmm, page, H_PAGE_SET_ACTIVE,
				     H_PAGE_SET_LOANED, cmm->releasing,
				     deadline);
		if (rc == H_SUCCESS) {
			cmm->loaned--;
			continue;
		}
		if (mb_cmm_busy(rc))
			mb_cmm_mark_broken_locked(cmm, "did not give a page back",
						  rc);
		if (cmm->releasing) {
			/* Pages of a broken step may never have been lent. */
			if (cmm->loaned)
				cmm->loaned--;
			mb_cmm_overruled++;
			continue;
		}
		if (mb_cmm_busy(rc))
			return false;
		pr_debug("H_PAGE_SET_ACTIVE refused for pfn %#lx: %ld\n",
			 page_to_pfn(page), rc);
		list_move(&page->lru, kept);
	}
	return true;
}

/* The hypervisor learns the balloon's size from the hcalls themselves. */
static void mb_cmm_set_actual(struct mb_transport *tp, unsigned long nr_pages)
{
}

/* cmm.c gives pages back on OOM without asking, and so may we. */
static bool mb_cmm_deflate_on_oom(struct mb_transport *tp)
{
	return true;
}

/* Host feature bits are virtio's; CMO has none of them. */
static u64 mb_cmm_features(struct mb_transport *tp)
{
	return 0;
}

/* The hypervisor does not ask for statistics. */
static void mb_cmm_stats_changed(struct mb_transport *tp)
{
}

static void mb_cmm_facts(struct mb_transport *tp, struct memballoon_state *st)
{
	st->host_page_size = to_mb_cmm(tp)->unit;
	st->transport_flags = 0;
	st->host_resets = 0;
}

static const struct mb_transport_ops mb_cmm_ops = {
	.name		= "cmm",
	.transport	= MEMBALLOON_TRANSPORT_CMM,
	.host_target	= true,
	.max_step_pages	= MB_CMM_STEP_PAGES,
	.first_step_pages = MB_CMM_FIRST_STEP_PAGES,
	.nameable	= NULL,		/* a real address names any page */
	.broken		= mb_cmm_broken,
	.queue_page	= mb_cmm_queue_page,
	.tell_inflate	= mb_cmm_tell_inflate,
	.tell_deflate	= mb_cmm_tell_deflate,
	.set_actual	= mb_cmm_set_actual,
	.deflate_on_oom	= mb_cmm_deflate_on_oom,
	.features	= mb_cmm_features,
	.stats_changed	= mb_cmm_stats_changed,
	.facts		= mb_cmm_facts,
};

/* ---- the loan request -------------------------------------------------- */

/*
 * The hypervisor's loan request @mpp as an absolute target in kernel
 * pages.  mb->lock held, so that @cmm->loaned is what the hypervisor
 * based the request on.  Odd answers are counted and logged once per
 * change of what the hypervisor wants (@cmm->want), not once per poll.
 */
static u64 mb_cmm_target_locked(struct mb_cmm *cmm,
				const struct hvcall_mpp_data *mpp)
{
	struct memballoon *mb = &mb_balloon;
	s64 lent = (s64)cmm->loaned << PAGE_SHIFT, want;
	u64 ram = mb_guest_ram_pages(mb), target;
	bool news;

	lockdep_assert_held(&mb->lock);
	if (check_add_overflow(lent, (s64)mpp->loan_request, &want))
		want = S64_MAX;		/* only a huge positive request overflows */
	news = !cmm->want_valid || want != cmm->want;
	cmm->want = want;
	cmm->want_valid = true;
	/* PAPR loans are in CMO pages; anything else is rounded up below. */
	if (news && (mpp->loan_request & (cmm->unit - 1))) {
		mb_cmm_bad_answers++;
		pr_info("loan request %ld is not a multiple of the CMO page size %lu\n",
			mpp->loan_request, cmm->unit);
	}
	if (want < 0) {
		/* It wants back more than it has: give it all back. */
		if (news) {
			mb_cmm_bad_answers++;
			pr_info("loan request %ld asks back more than the %lld bytes lent\n",
				mpp->loan_request, lent);
		}
		want = 0;
	}
	/*
	 * Whole kernel pages, rounded up like the virtio transport: the
	 * hypervisor then sees a request of less than a page outstanding,
	 * which gives the same target, so the balloon settles.
	 */
	target = DIV_ROUND_UP_ULL((u64)want, PAGE_SIZE);
	if (target > ram) {
		if (news) {
			mb_cmm_target_clamps++;
			pr_info("loan request for %lld bytes is more than the guest's %llu pages; clamped\n",
				want, ram);
		}
		target = ram;
	}
	return target;
}

static unsigned long mb_cmm_poll_delay(void)
{
	return msecs_to_jiffies(clamp_t(unsigned int, READ_ONCE(mb_cmm_poll_ms),
					MB_CMM_POLL_MS_MIN,
					MB_CMM_POLL_MS_MAX));
}

/*
 * Read the loan request and pass a changed target on.  A hypervisor that
 * answers busy for longer than MEMBALLOON_HOST_TIMEOUT_MS has stopped
 * answering: the transport breaks and polling ends.  A failing call only
 * keeps the old target.
 */
static void mb_cmm_poll(struct work_struct *work)
{
	struct mb_cmm *cmm = container_of(to_delayed_work(work), struct mb_cmm,
					  poll);
	struct memballoon *mb = &mb_balloon;
	struct hvcall_mpp_data mpp = {};
	unsigned long delay = mb_cmm_poll_delay();
	u64 target = 0;
	long rc;

	/* Under the lock, so no step moves pages between the two reads. */
	mutex_lock(&mb->lock);
	if (cmm->broken) {
		mutex_unlock(&mb->lock);
		return;
	}
	rc = cmm->hv->get_mpp(&mpp);
	if (rc == H_SUCCESS)
		target = mb_cmm_target_locked(cmm, &mpp);
	if (mb_cmm_busy(rc)) {
		if (!cmm->busy) {
			cmm->busy = true;
			cmm->busy_since = jiffies;
		} else if (time_after_eq(jiffies, cmm->busy_since +
				msecs_to_jiffies(MEMBALLOON_HOST_TIMEOUT_MS))) {
			mb_cmm_mark_broken_locked(cmm, "answered H_GET_MPP busy",
						  rc);
			mutex_unlock(&mb->lock);
			return;
		}
	} else {
		cmm->busy = false;
	}
	mutex_unlock(&mb->lock);

	if (mb_cmm_busy(rc)) {
		delay = min_t(unsigned long, delay,
			      msecs_to_jiffies(H_IS_LONG_BUSY(rc) ?
					       get_longbusy_msecs(rc) : 1));
	} else if (rc != H_SUCCESS) {
		mb_cmm_mpp_failures++;
		pr_warn_ratelimited("H_GET_MPP failed: %ld; target stays %llu pages\n",
				    rc, cmm->target);
	} else if (target != cmm->target) {
		cmm->target = target;
		mb_transport_set_target(&cmm->tp, target);
	}
	queue_delayed_work(system_freezable_wq, &cmm->poll, delay);
}

/* ---- binding ----------------------------------------------------------- */

/* H_GET_MPP, called again while busy, at most MEMBALLOON_HOST_TIMEOUT_MS. */
static long mb_cmm_get_mpp_wait(const struct mb_cmm_hv_ops *hv,
				struct hvcall_mpp_data *mpp)
{
	unsigned long deadline = jiffies +
				 msecs_to_jiffies(MEMBALLOON_HOST_TIMEOUT_MS);
	long rc;

	for (;;) {
		rc = hv->get_mpp(mpp);
		if (!mb_cmm_busy(rc) || time_after_eq(jiffies, deadline))
			return rc;
		mb_cmm_busy_sleep(rc);
	}
}

/*
 * Look at hypervisor @hv and bind to it if it offers CMO and answers.
 * mb_cmm_bind_lock held, not bound.  Return: 0 when bound, else why not
 * (see mb_cmm_use_fake_hv()); every decline is recorded.
 */
static int mb_cmm_probe_locked(const struct mb_cmm_hv_ops *hv)
{
	struct mb_cmm *cmm = &mb_cmm;
	struct memballoon *mb = &mb_balloon;
	struct hvcall_mpp_data mpp = {};
	unsigned long unit;
	long rc;
	int err;

	lockdep_assert_held(&mb_cmm_bind_lock);
	if (!hv->has_cmo()) {
		mb_transport_declined(MEMBALLOON_TRANSPORT_CMM,
				      MEMBALLOON_DECLINED_NO_CMO, 0);
		pr_info("hypervisor does not offer cooperative memory overcommit\n");
		return -ENODEV;
	}
	unit = hv->cmo_page_size();
	/* 4 KiB: PAPR's smallest CMO page, and cmm.c's default. */
	if (!is_power_of_2(unit) || unit < SZ_4K || unit > PAGE_SIZE) {
		mb_transport_declined(MEMBALLOON_TRANSPORT_CMM,
				      MEMBALLOON_DECLINED_BAD_ANSWER, -EINVAL);
		pr_info("CMO page size %lu is not a power of two from 4096 to %lu bytes; not lending memory\n",
			unit, PAGE_SIZE);
		return -EPROTO;
	}
	rc = mb_cmm_get_mpp_wait(hv, &mpp);
	if (rc != H_SUCCESS) {
		mb_transport_declined(MEMBALLOON_TRANSPORT_CMM,
				      MEMBALLOON_DECLINED_REFUSED,
				      clamp_t(long, rc, S32_MIN, S32_MAX));
		pr_info("H_GET_MPP failed: %ld; not lending memory\n", rc);
		return -EIO;
	}

	cmm->hv = hv;
	cmm->unit = unit;
	cmm->nr_queued = 0;
	cmm->busy = false;
	mutex_lock(&mb->lock);
	/* A fresh binding: this hypervisor holds nothing of ours. */
	cmm->loaned = 0;
	WRITE_ONCE(cmm->broken, false);
	cmm->releasing = false;
	cmm->want_valid = false;
	cmm->target = mb_cmm_target_locked(cmm, &mpp);
	mutex_unlock(&mb->lock);

	err = mb_transport_attach(&cmm->tp, cmm->target, false);
	if (err == -EBUSY) {
		mb_transport_declined(MEMBALLOON_TRANSPORT_CMM,
				      MEMBALLOON_DECLINED_BUSY, -EBUSY);
		pr_info("another balloon transport is bound; not lending memory\n");
		return -EBUSY;
	}
	if (err) {
		pr_warn("cannot attach: %d\n", err);
		return err;
	}
	cmm->bound = true;
	queue_delayed_work(system_freezable_wq, &cmm->poll, mb_cmm_poll_delay());
	pr_info("bound: CMO page size %lu, loan request %ld bytes, target %llu pages\n",
		unit, mpp.loan_request, cmm->target);
	return 0;
}

/*
 * Stop polling and give every page back through the core, telling the
 * hypervisor if it still answers.  mb_cmm_bind_lock held.
 */
static void mb_cmm_unbind_locked(void)
{
	struct mb_cmm *cmm = &mb_cmm;
	struct memballoon *mb = &mb_balloon;

	lockdep_assert_held(&mb_cmm_bind_lock);
	if (!cmm->bound)
		return;
	cancel_delayed_work_sync(&cmm->poll);
	mutex_lock(&mb->lock);
	cmm->releasing = true;
	mutex_unlock(&mb->lock);
	if (!mb_transport_detach(&cmm->tp))
		pr_warn("detached from a hypervisor that stopped answering; its pages were taken back untold\n");
	cmm->bound = false;
}

int mb_cmm_register(void)
{
	mb_cmm.tp.ops = &mb_cmm_ops;
	INIT_DELAYED_WORK(&mb_cmm.poll, mb_cmm_poll);
	mutex_lock(&mb_cmm_bind_lock);
	/* A decline is recorded, not an error: the module loads anyway. */
	mb_cmm_probe_locked(&mb_cmm_real_hv);
	mutex_unlock(&mb_cmm_bind_lock);
	return 0;
}

void mb_cmm_unregister(void)
{
	mutex_lock(&mb_cmm_bind_lock);
	mb_cmm_unbind_locked();
	mutex_unlock(&mb_cmm_bind_lock);
}

#ifdef MB_TEST_HOOKS
int mb_cmm_use_fake_hv(const struct mb_cmm_hv_ops *ops)
{
	int err;

	if (!ops || !ops->has_cmo || !ops->get_mpp || !ops->page_init ||
	    !ops->cmo_page_size)
		return -EINVAL;
	mutex_lock(&mb_cmm_bind_lock);
	mb_cmm_unbind_locked();
	err = mb_cmm_probe_locked(ops);
	mutex_unlock(&mb_cmm_bind_lock);
	return err;
}
EXPORT_SYMBOL_GPL(mb_cmm_use_fake_hv);

void mb_cmm_drop_fake_hv(void)
{
	mutex_lock(&mb_cmm_bind_lock);
	mb_cmm_unbind_locked();
	mb_cmm_probe_locked(&mb_cmm_real_hv);
	mutex_unlock(&mb_cmm_bind_lock);
}
EXPORT_SYMBOL_GPL(mb_cmm_drop_fake_hv);
#endif
