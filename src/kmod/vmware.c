// SPDX-License-Identifier: GPL-2.0
/*
 * memballoon: the VMware balloon transport (x86-64 only).
 *
 * Under VMware the host asks for balloon pages through the backdoor port
 * (vmware.h has the protocol).  At load we negotiate a session (START with
 * the capabilities we can use, then GUEST_ID) and bind as the balloon's
 * transport; a delayed work polls GET_TARGET every vmw_poll_ms (1 s, the
 * stock driver's period) and turns a new target into a TARGET event: the
 * daemon decides, as with virtio.  Pages go to the host with BATCHED_LOCK
 * (up to MB_VMW_BATCH_MAX on one page-list page, one status per page) or,
 * when the host does not offer batching, one LOCK per page.  When the host
 * grants 2 MB pages (with batching, as the stock driver has it) the core
 * lends those first (mb_transport_ops.huge_order) and they go with
 * BATCHED_2M_LOCK/UNLOCK, one entry per 2 MB page.  Pages the host
 * refuses are handed back to the core (its refused list on inflate, its
 * kept list on deflate), whatever their size.
 *
 * What we do not use: the VMCI doorbell (it needs
 * vmw_vmci, and the test host cannot ring it, so we poll and do not ask for
 * it), and the host's target in the LOCK/UNLOCK answers (the next poll
 * reads the same).
 *
 * The host may answer any command with RESET: it forgot every page.  Then
 * nothing more goes to it, the work forgets the balloon's pages without
 * telling it (mb_transport_forget_all()), negotiates again and hands the
 * target out again so the balloon refills.  An answer that is no status at
 * all (garbage, or the all-ones of a port nobody answers) breaks the
 * transport: no page goes to the host or comes back from it, until unload
 * frees them without telling it, as the stock driver does on exit.
 *
 * Loaned pages stay in MemTotal (mb_transport_attach(..., true)): the stock
 * vmw_balloon never takes them out of the managed page count, and it tells
 * the host totalram_pages() as the guest's size in GET_TARGET.  Nothing in
 * the protocol forbids giving pages back before the host asks (the stock
 * driver's optional shrinker does), so the OOM notifier may deflate.  The
 * protocol carries no guest statistics: the host counts the pages locked.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": vmware: " fmt

#include <linux/mm.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/mutex.h>
#include <linux/workqueue.h>
#include <asm/hypervisor.h>

#include "shim.h"
#include "vmware.h"

/* What we ask for. */
#define MB_VMW_CAPS_WANTED	(MB_VMW_CAP_BASIC | MB_VMW_CAP_BATCHED | \
				 MB_VMW_CAP_BATCHED_2M | MB_VMW_CAP_TARGET_64)

/*
 * First step of each INFLATE/DEFLATE, in pages: the core's virtio value
 * (MB_FIRST_STEP_PFNS) for the same reason, early progress for the host.
 */
#define MB_VMW_FIRST_STEP	64

static unsigned int mb_vmw_poll_ms = 1000;
module_param_named(vmw_poll_ms, mb_vmw_poll_ms, uint, 0644);
MODULE_PARM_DESC(vmw_poll_ms,
		 "VMware: ms between two GET_TARGET polls (default 1000, as the stock vmw_balloon; at least 10)");

/**
 * struct mb_vmw - the VMware transport
 * @tp:		the balloon's handle on it
 * @hv:		the hypervisor: the real backdoor, or a test host
 * @hv_lock:	serialises backdoor calls and the session fields below;
 *		taken inside mb->lock (tell_*), never the other way round
 * @caps:	capabilities the host granted at the last START (@hv_lock)
 * @batch:	the page-list page, NULL until bound (@hv_lock)
 * @queue:	pages queued for the next tell (mb->lock)
 * @nr_queued:	entries of @queue used (mb->lock)
 * @queued_2m:	@queue holds 2 MB pages (mb->lock)
 * @bound:	@tp is the balloon's transport (mb_vmw_bind_lock)
 * @broken:	the host gave no valid answer: nothing more is sent
 * @gone:	unbinding from a broken host: pages go without telling it
 * @reset:	the host answered RESET; the work has yet to forget the pages
 *		and negotiate again.  Nothing is sent meanwhile.
 * @stop:	no more polls (unbinding)
 * @host_resets: resets seen since bound
 * @target:	the target the balloon was last given
 * @raw_target:	the host's last GET_TARGET answer
 * @clamped:	GET_TARGET answers above guest RAM since bound
 * @told_pages:	(test builds) pages the host holds as we told it (@hv_lock)
 * @told_sum:	(test builds) mb_vmw_pfn_hash() sum over them (@hv_lock)
 * @told_2m:	(test builds) 2 MB pages among them (@hv_lock)
 * @told_2m_sum: (test builds) mb_vmw_pfn_hash_2m() sum over those
 * @poll_work:	GET_TARGET poll and reset handling
 *
 * @broken, @gone, @reset and @stop are written under @hv_lock and read with
 * READ_ONCE where @hv_lock is not held.
 */
struct mb_vmw {
	struct mb_transport tp;
	const struct mb_vmw_hv_ops *hv;
	struct mutex hv_lock;		/* backdoor calls, session */
	unsigned long caps;
	u64 *batch;
	struct page *queue[MB_VMW_BATCH_MAX];
	unsigned int nr_queued;
	bool queued_2m;
	bool bound;
	bool broken;
	bool gone;
	bool reset;
	bool stop;
	u64 host_resets;
	u64 target;
	u64 raw_target;
	u64 clamped;
#ifdef MB_TEST_HOOKS
	u64 told_pages;
	u64 told_sum;
	u64 told_2m;
	u64 told_2m_sum;
#endif
	struct delayed_work poll_work;
};

static struct mb_vmw mb_vmw;
/* Serialises binding and unbinding (module init/exit, test hooks). */
static DEFINE_MUTEX(mb_vmw_bind_lock);

static struct mb_vmw *to_mb_vmw(struct mb_transport *tp)
{
	return container_of(tp, struct mb_vmw, tp);
}

/* 2 MB pages are granted: their commands only exist batched (vmware.h). */
static bool mb_vmw_2m(unsigned long caps)
{
	return (caps & MB_VMW_CAP_BATCHED_2M) && (caps & MB_VMW_CAP_BATCHED);
}

/* ---- the real hypervisor ----------------------------------------------- */

static bool mb_vmw_real_detect(void)
{
	return x86_hyper_type == X86_HYPER_VMWARE;
}

/* One backdoor call; the register use is the protocol's (vmware.h). */
static unsigned long mb_vmw_real_cmd(unsigned long cmd, unsigned long arg1,
				     unsigned long arg2, unsigned long *result)
{
	unsigned long status, cx, dx, bx, si;

	asm volatile("inl %%dx"
		     : "=a" (status), "=c" (cx), "=d" (dx), "=b" (bx), "=S" (si)
		     : "0" (MB_VMW_MAGIC), "1" (cmd), "2" (MB_VMW_PORT),
		       "3" (arg1), "4" (arg2)
		     : "memory");
	*result = cmd == MB_VMW_CMD_START ? cx : bx;
	return status;
}

static const struct mb_vmw_hv_ops mb_vmw_real_hv = {
	.detect	= mb_vmw_real_detect,
	.cmd	= mb_vmw_real_cmd,
};

/* ---- talking to the host (@hv_lock held) -------------------------------- */

/* Whether @status is one the protocol defines for any command. */
static bool mb_vmw_status_known(unsigned long status)
{
	return status <= MB_VMW_ERR_MAX;
}

/*
 * The host stopped giving valid answers: nothing more goes to it.  The
 * HOST event tells the daemon, as for a virtio device that stops.
 */
static void mb_vmw_mark_broken(struct mb_vmw *vmw, unsigned long cmd,
			       unsigned long status)
{
	lockdep_assert_held(&vmw->hv_lock);
	if (vmw->broken)
		return;
	WRITE_ONCE(vmw->broken, true);
	/* While binding (@stop), the decline says it. */
	if (vmw->stop)
		return;
	pr_err("the host answered command %lu with %s %#lx; no more pages go to it\n",
	       cmd, status == MB_VMW_NO_ANSWER ? "nothing," : "status", status);
	mb_queue_event(&mb_balloon, MEMBALLOON_EVENT_HOST, 0);
}

/*
 * The host forgot every page.  Count it once per reset and let the work
 * forget the balloon's pages and negotiate again.
 */
static void mb_vmw_note_reset(struct mb_vmw *vmw)
{
	lockdep_assert_held(&vmw->hv_lock);
	if (vmw->reset)
		return;
	WRITE_ONCE(vmw->reset, true);
	vmw->host_resets++;
#ifdef MB_TEST_HOOKS
	vmw->told_pages = 0;
	vmw->told_sum = 0;
	vmw->told_2m = 0;
	vmw->told_2m_sum = 0;
#endif
	pr_info("the host was reset and forgot its pages; negotiating again\n");
	if (!vmw->stop)
		mod_delayed_work(system_freezable_wq, &vmw->poll_work, 0);
}

/*
 * Issue @cmd and sort the answer: MB_VMW_OK, an MB_VMW_ERR_* code (RESET
 * noted), or -EIO when it is no status at all (the transport is then
 * broken).  START's own success code is START's business.
 */
static long mb_vmw_call(struct mb_vmw *vmw, unsigned long cmd,
			unsigned long arg1, unsigned long arg2,
			unsigned long *result)
{
	unsigned long status, res = 0;

	lockdep_assert_held(&vmw->hv_lock);
	status = vmw->hv->cmd(cmd, arg1, arg2, &res) & 0xffffffffUL;
	if (result)
		*result = res;
	if (!mb_vmw_status_known(status)) {
		mb_vmw_mark_broken(vmw, cmd, status);
		return -EIO;
	}
	if (status == MB_VMW_ERR_RESET)
		mb_vmw_note_reset(vmw);
	return status;
}

/**
 * mb_vmw_start() - open a session: START, then GUEST_ID
 * @vmw:	the transport, @hv_lock held
 * @ret_status:	START's status when it was refused
 *
 * Return: 0 and @vmw->caps set; -EPERM when START was refused (status in
 * @ret_status); -EIO when START's answer is no status (garbage or the
 * all-ones of nobody), or granted neither LOCK nor BATCHED_LOCK.
 */
static int mb_vmw_start(struct mb_vmw *vmw, long *ret_status)
{
	unsigned long status, caps = 0;

	lockdep_assert_held(&vmw->hv_lock);
	status = vmw->hv->cmd(MB_VMW_CMD_START, MB_VMW_CAPS_WANTED, 0, &caps) &
		 0xffffffffUL;
	*ret_status = (s32)status;
	if (status == MB_VMW_OK) {
		/* An old host: one page per command. */
		caps = MB_VMW_CAP_BASIC;
	} else if (status != MB_VMW_OK_WITH_CAPS) {
		/* A known error, or -1: nobody answers (QEMU, see vmware.h). */
		if (mb_vmw_status_known(status) || status == MB_VMW_NO_ANSWER)
			return -EPERM;
		return -EIO;
	}
	caps &= MB_VMW_CAPS_WANTED;
	if (!(caps & (MB_VMW_CAP_BASIC | MB_VMW_CAP_BATCHED)))
		return -EIO;
	vmw->caps = caps;
	pr_info("session open, host grants %#lx: %s%s%s\n", caps,
		caps & MB_VMW_CAP_BATCHED ? "batched" : "one page per command",
		mb_vmw_2m(caps) ? ", 2 MB pages" : "",
		caps & MB_VMW_CAP_TARGET_64 ? ", 64-bit target" : "");

	/* Only a hint for the host's policy: go on without it, as stock. */
	status = mb_vmw_call(vmw, MB_VMW_CMD_GUEST_ID, MB_VMW_GUEST_LINUX, 0,
			     NULL);
	if (status)
		pr_info("GUEST_ID: host status %ld, ignoring\n", status);
	return vmw->broken ? -EIO : 0;
}

/**
 * mb_vmw_get_target() - ask the host for its target
 * @vmw:	the transport, @hv_lock held
 * @ret_target:	the target in pages, clamped to guest RAM
 *
 * Return: 0, an MB_VMW_ERR_* code, or -EIO (broken).
 */
static long mb_vmw_get_target(struct mb_vmw *vmw, u64 *ret_target)
{
	/*
	 * The guest's size in frames, as the stock driver tells it.  Loaned
	 * pages stay in it (in_totalram): the host's target is out of this.
	 */
	u64 ram = totalram_pages();
	unsigned long res;
	long status;

	if (!(vmw->caps & MB_VMW_CAP_TARGET_64))
		ram = min_t(u64, ram, U32_MAX);
	status = mb_vmw_call(vmw, MB_VMW_CMD_GET_TARGET, ram, 0, &res);
	if (status)
		return status;
	if (!(vmw->caps & MB_VMW_CAP_TARGET_64))
		res &= U32_MAX;
	vmw->raw_target = res;
	if (res > ram) {
		/* Nobody can loan more than all of it: say so once. */
		if (!vmw->clamped++)
			pr_notice("host target %lu pages is above guest RAM (%llu pages); using guest RAM\n",
				  res, ram);
		res = ram;
	}
	*ret_target = res;
	return 0;
}

/* ---- the transport's operations (mb->lock held) ------------------------- */

static bool mb_vmw_broken(struct mb_transport *tp)
{
	struct mb_vmw *vmw = to_mb_vmw(tp);

	return READ_ONCE(vmw->broken) || READ_ONCE(vmw->gone);
}

/* Without batching a PFN travels in 32 bits of ebx. */
static bool mb_vmw_nameable(struct mb_transport *tp, struct page *page)
{
	struct mb_vmw *vmw = to_mb_vmw(tp);

	return (READ_ONCE(vmw->caps) & MB_VMW_CAP_BATCHED) ||
	       page_to_pfn(page) <= U32_MAX;
}

static void mb_vmw_queue_page(struct mb_transport *tp, struct page *page)
{
	struct mb_vmw *vmw = to_mb_vmw(tp);

	/* The core queues at most max_step_pages between two tells. */
	if (WARN_ON_ONCE(vmw->nr_queued >= MB_VMW_BATCH_MAX ||
			 (vmw->nr_queued && vmw->queued_2m)))
		return;
	vmw->queued_2m = false;
	vmw->queue[vmw->nr_queued++] = page;
}

/* The 2 MB pages the host takes now: only while it grants them. */
static unsigned int mb_vmw_huge_order(struct mb_transport *tp)
{
	struct mb_vmw *vmw = to_mb_vmw(tp);

	if (!mb_vmw_2m(READ_ONCE(vmw->caps)) || READ_ONCE(vmw->reset))
		return 0;
	return MB_VMW_2M_ORDER;
}

/* One 2 MB page; never in the same message as 4 KiB ones. */
static void mb_vmw_queue_huge(struct mb_transport *tp, struct page *page)
{
	struct mb_vmw *vmw = to_mb_vmw(tp);

	if (WARN_ON_ONCE(vmw->nr_queued >= MB_VMW_BATCH_MAX ||
			 (vmw->nr_queued && !vmw->queued_2m)))
		return;
	vmw->queued_2m = true;
	vmw->queue[vmw->nr_queued++] = page;
}

/*
 * Test builds keep the host's side as this transport told it, so that the
 * test host can compare where the balloon's list cannot be walked safely
 * (7.x keeps the list lock to itself).
 */
static void mb_vmw_told(struct mb_vmw *vmw, unsigned long cmd,
			struct page *page)
{
#ifdef MB_TEST_HOOKS
	bool huge = cmd == MB_VMW_CMD_BATCHED_2M_LOCK ||
		    cmd == MB_VMW_CMD_BATCHED_2M_UNLOCK;
	u64 h = huge ? mb_vmw_pfn_hash_2m(page_to_pfn(page)) :
		       mb_vmw_pfn_hash(page_to_pfn(page));
	bool lock = cmd == MB_VMW_CMD_LOCK || cmd == MB_VMW_CMD_BATCHED_LOCK ||
		    cmd == MB_VMW_CMD_BATCHED_2M_LOCK;
	u64 nr = huge ? MB_VMW_2M_FRAMES : 1;

	vmw->told_pages += lock ? nr : -nr;
	vmw->told_sum += lock ? h : -h;
	if (huge) {
		vmw->told_2m += lock ? 1 : -1;
		vmw->told_2m_sum += lock ? h : -h;
	}
#endif
}

/*
 * Tell the host about the queued pages, one command per page: LOCK or
 * UNLOCK.  A page the host does not take goes to @back.  After a RESET the
 * rest are not sent (the host has forgotten everything anyway).
 *
 * Return: false if the host stopped answering.
 */
static bool mb_vmw_tell_single(struct mb_vmw *vmw, unsigned long cmd,
			       struct list_head *back)
{
	unsigned int i;
	long status;

	for (i = 0; i < vmw->nr_queued; i++) {
		struct page *page = vmw->queue[i];
		unsigned long pfn = page_to_pfn(page);

		if (vmw->reset || pfn > U32_MAX) {
			list_move(&page->lru, back);
			continue;
		}
		status = mb_vmw_call(vmw, cmd, pfn, 1, NULL);
		if (status < 0)
			return false;
		if (status)
			list_move(&page->lru, back);
		else
			mb_vmw_told(vmw, cmd, page);
	}
	return true;
}

/*
 * The same with one BATCHED_LOCK or BATCHED_UNLOCK for all of them (the
 * 2M ones for 2 MB pages, whose entries carry the PFN of their first
 * frame): a page whose entry does not come back MB_VMW_OK goes to @back,
 * and so do all of them when the command as a whole failed.  Every error
 * status counts alike, per entry, for 4 KiB and 2 MB pages: the host did
 * not take the page (PPN_PINNED, PPN_NOTNEEDED: it needs no more, ...).
 * RESET for the whole command is noted by mb_vmw_call().
 */
static bool mb_vmw_tell_batched(struct mb_vmw *vmw, unsigned long cmd,
				struct list_head *back)
{
	unsigned int i, n = vmw->nr_queued;
	long status;

	for (i = 0; i < n; i++)
		vmw->batch[i] = (u64)page_to_pfn(vmw->queue[i]) <<
				MB_VMW_ENTRY_PFN_SHIFT;
	status = mb_vmw_call(vmw, cmd, page_to_pfn(virt_to_page(vmw->batch)), n,
			     NULL);
	if (status < 0)
		return false;
	for (i = 0; i < n; i++) {
		if (status || (vmw->batch[i] & MB_VMW_ENTRY_STATUS_MASK))
			list_move(&vmw->queue[i]->lru, back);
		else
			mb_vmw_told(vmw, cmd, vmw->queue[i]);
	}
	return true;
}

/*
 * Send the queued pages: LOCK (@lock) or UNLOCK.  Pages the host did not
 * take go to @back.  With the host reset nothing is sent: an inflate's
 * pages all go to @back (the host would not have them), a deflate's all
 * come back (the host forgot them); the same when unbinding from a broken
 * host (@gone).  Return: false if the host stopped answering.
 */
static bool mb_vmw_tell(struct mb_vmw *vmw, bool lock, struct list_head *back)
{
	bool told = true;
	unsigned int i;

	mutex_lock(&vmw->hv_lock);
	if (!lock && (vmw->reset || vmw->gone)) {
		/* Nobody to tell. */
	} else if (vmw->broken || vmw->gone) {
		told = false;
	} else if (vmw->reset || (vmw->queued_2m && !mb_vmw_2m(vmw->caps))) {
		/* Or 2 MB pages the session does not grant: not for it. */
		for (i = 0; i < vmw->nr_queued; i++)
			list_move(&vmw->queue[i]->lru, back);
	} else if (vmw->nr_queued && vmw->queued_2m) {
		told = mb_vmw_tell_batched(vmw, lock ?
					   MB_VMW_CMD_BATCHED_2M_LOCK :
					   MB_VMW_CMD_BATCHED_2M_UNLOCK, back);
	} else if (vmw->nr_queued && (vmw->caps & MB_VMW_CAP_BATCHED)) {
		told = mb_vmw_tell_batched(vmw, lock ? MB_VMW_CMD_BATCHED_LOCK :
					   MB_VMW_CMD_BATCHED_UNLOCK, back);
	} else if (vmw->nr_queued) {
		told = mb_vmw_tell_single(vmw, lock ? MB_VMW_CMD_LOCK :
					  MB_VMW_CMD_UNLOCK, back);
	}
	vmw->nr_queued = 0;
	vmw->queued_2m = false;
	mutex_unlock(&vmw->hv_lock);
	return told;
}

static bool mb_vmw_tell_inflate(struct mb_transport *tp,
				struct list_head *refused)
{
	return mb_vmw_tell(to_mb_vmw(tp), true, refused);
}

/*
 * Pages the host keeps stay in the balloon.  If it answers RESET right
 * now they stay too, and mb_transport_forget_all() frees them soon.
 */
static bool mb_vmw_tell_deflate(struct mb_transport *tp,
				struct list_head *kept)
{
	return mb_vmw_tell(to_mb_vmw(tp), false, kept);
}

/* The host counts the pages it locked: no size to write. */
static void mb_vmw_set_actual(struct mb_transport *tp, unsigned long nr_pages)
{
}

static bool mb_vmw_deflate_on_oom(struct mb_transport *tp)
{
	return true;
}

static u64 mb_vmw_features(struct mb_transport *tp)
{
	return 0;
}

/* The protocol has no statistics to hand the host. */
static void mb_vmw_stats_changed(struct mb_transport *tp)
{
}

static void mb_vmw_facts(struct mb_transport *tp, struct memballoon_state *st)
{
	struct mb_vmw *vmw = to_mb_vmw(tp);

	unsigned long caps = READ_ONCE(vmw->caps);

	/*
	 * The smallest unit the host is told of: 4 KiB pages come with 2 MB
	 * ones (for what is not a multiple of 2 MB, or when no 2 MB block is
	 * free), so TF_2M_PAGES says the rest.
	 */
	st->host_page_size = PAGE_SIZE;
	st->transport_flags = 0;
	if (caps & MB_VMW_CAP_BATCHED)
		st->transport_flags |= MEMBALLOON_TF_BATCHED;
	/* 2 MB commands only come with batching (as the stock driver has it). */
	if (mb_vmw_2m(caps))
		st->transport_flags |= MEMBALLOON_TF_HOST_2M |
				       MEMBALLOON_TF_2M_PAGES;
	st->host_resets = READ_ONCE(vmw->host_resets);
}

static const struct mb_transport_ops mb_vmw_ops = {
	.transport	= MEMBALLOON_TRANSPORT_VMWARE,
	.name		= "vmware",
	.host_target	= true,
	.max_step_pages	= MB_VMW_BATCH_MAX,
	.first_step_pages = MB_VMW_FIRST_STEP,
	.nameable	= mb_vmw_nameable,
	.broken		= mb_vmw_broken,
	.queue_page	= mb_vmw_queue_page,
	.tell_inflate	= mb_vmw_tell_inflate,
	.tell_deflate	= mb_vmw_tell_deflate,
	.set_actual	= mb_vmw_set_actual,
	.deflate_on_oom	= mb_vmw_deflate_on_oom,
	.features	= mb_vmw_features,
	.stats_changed	= mb_vmw_stats_changed,
	.facts		= mb_vmw_facts,
	.huge_order	= mb_vmw_huge_order,
	.queue_huge	= mb_vmw_queue_huge,
};

/* ---- polling and resets ------------------------------------------------- */

static void mb_vmw_requeue(struct mb_vmw *vmw)
{
	unsigned int ms = max(READ_ONCE(mb_vmw_poll_ms), 10U);

	mutex_lock(&vmw->hv_lock);
	if (!vmw->stop && !vmw->broken)
		queue_delayed_work(system_freezable_wq, &vmw->poll_work,
				   msecs_to_jiffies(ms));
	mutex_unlock(&vmw->hv_lock);
}

/*
 * After a RESET: the host forgot every page, so the balloon frees them
 * without telling it (tell_deflate returns true while @reset is set), then
 * a new session starts.  Return: whether it did (else try at the next poll,
 * unless the host is broken).
 */
static bool mb_vmw_recover(struct mb_vmw *vmw)
{
	long status;
	int err;

	mb_transport_forget_all(&vmw->tp);
	mutex_lock(&vmw->hv_lock);
	err = mb_vmw_start(vmw, &status);
	if (err == -EIO || status == (s32)MB_VMW_NO_ANSWER)
		mb_vmw_mark_broken(vmw, MB_VMW_CMD_START, (u32)status);
	else if (err)
		pr_info("START after a reset: host status %ld; trying again\n",
			status);
	else
		WRITE_ONCE(vmw->reset, false);
	mutex_unlock(&vmw->hv_lock);
	return !err;
}

static void mb_vmw_poll(struct work_struct *work)
{
	struct mb_vmw *vmw = container_of(to_delayed_work(work), struct mb_vmw,
					  poll_work);
	bool announce = false;
	u64 target = 0;
	long status;

	if (READ_ONCE(vmw->reset)) {
		if (!mb_vmw_recover(vmw))
			goto out;
		/* The balloon is empty now: hand the target out again. */
		announce = true;
	}
	mutex_lock(&vmw->hv_lock);
	status = vmw->broken ? -EIO : mb_vmw_get_target(vmw, &target);
	if (!status && target != vmw->target) {
		vmw->target = target;
		announce = true;
	}
	mutex_unlock(&vmw->hv_lock);
	if (!status && announce)
		mb_transport_set_target(&vmw->tp, target);
	if (status == MB_VMW_ERR_RESET)
		return;		/* requeued at once by mb_vmw_note_reset() */
out:
	mb_vmw_requeue(vmw);
}

/* ---- binding ------------------------------------------------------------ */

/*
 * Open a session with vmw->hv and make it the balloon's transport, or
 * record why not.  mb_vmw_bind_lock held.
 */
static void mb_vmw_bind(struct mb_vmw *vmw)
{
	u64 target = 0;
	long status;
	int err;

	if (!vmw->hv->detect()) {
		/* Not VMware: the usual case, only recorded. */
		mb_transport_declined(MEMBALLOON_TRANSPORT_VMWARE,
				      MEMBALLOON_DECLINED_ABSENT, 0);
		return;
	}
	if (!vmw->batch) {
		vmw->batch = (u64 *)get_zeroed_page(GFP_KERNEL);
		if (!vmw->batch) {
			pr_info("no memory for the page-list page; not binding\n");
			mb_transport_declined(MEMBALLOON_TRANSPORT_VMWARE,
					      MEMBALLOON_DECLINED_REFUSED,
					      -ENOMEM);
			return;
		}
	}

	mutex_lock(&vmw->hv_lock);
	vmw->broken = false;
	vmw->gone = false;
	vmw->reset = false;
	vmw->stop = true;	/* until attached */
	vmw->nr_queued = 0;
	vmw->queued_2m = false;
	vmw->host_resets = 0;
	vmw->clamped = 0;
	vmw->target = 0;
	vmw->raw_target = 0;
	vmw->caps = 0;
#ifdef MB_TEST_HOOKS
	vmw->told_pages = 0;
	vmw->told_sum = 0;
	vmw->told_2m = 0;
	vmw->told_2m_sum = 0;
#endif
	err = mb_vmw_start(vmw, &status);
	if (!err) {
		status = mb_vmw_get_target(vmw, &target);
		if (status)
			err = status < 0 ? -EIO : -EPERM;
		vmw->target = target;
	}
	mutex_unlock(&vmw->hv_lock);
	if (err) {
		pr_info("the host %s (status %ld); not binding\n",
			err == -EPERM ? "refused the session" :
			"gave no valid answer", status);
		mb_transport_declined(MEMBALLOON_TRANSPORT_VMWARE,
				      err == -EPERM ?
				      MEMBALLOON_DECLINED_REFUSED :
				      MEMBALLOON_DECLINED_BAD_ANSWER,
				      (s32)status);
		return;
	}

	err = mb_transport_attach(&vmw->tp, target, true);
	if (err) {
		pr_info("another transport is bound (%d); not binding\n", err);
		mb_transport_declined(MEMBALLOON_TRANSPORT_VMWARE,
				      err == -EBUSY ? MEMBALLOON_DECLINED_BUSY :
				      MEMBALLOON_DECLINED_REFUSED, err);
		/* Close the session we opened: nothing of ours is there. */
		mutex_lock(&vmw->hv_lock);
		mb_vmw_call(vmw, MB_VMW_CMD_START, 0, 0, NULL);
		mutex_unlock(&vmw->hv_lock);
		return;
	}
	vmw->bound = true;
	mutex_lock(&vmw->hv_lock);
	vmw->stop = false;
	mutex_unlock(&vmw->hv_lock);
	pr_info("bound, host target %llu pages\n", target);
	mb_vmw_requeue(vmw);
}

/*
 * Give every page back and fall back to simulate mode.  A host that still
 * answers is told of each page, then START with no capabilities closes the
 * session (as the stock driver does on exit).  A broken one is not told:
 * the pages are freed anyway, as the stock driver frees them on exit,
 * because this module's text and the balloon list are about to go.
 * mb_vmw_bind_lock held.
 */
static void mb_vmw_unbind(struct mb_vmw *vmw)
{
	bool answered;

	if (!vmw->bound)
		return;
	mutex_lock(&vmw->hv_lock);
	vmw->stop = true;
	mutex_unlock(&vmw->hv_lock);
	cancel_delayed_work_sync(&vmw->poll_work);

	mutex_lock(&vmw->hv_lock);
	if (vmw->broken)
		WRITE_ONCE(vmw->gone, true);
	mutex_unlock(&vmw->hv_lock);
	answered = mb_transport_detach(&vmw->tp);

	mutex_lock(&vmw->hv_lock);
	if (answered && !vmw->broken && !vmw->gone)
		mb_vmw_call(vmw, MB_VMW_CMD_START, 0, 0, NULL);
	vmw->gone = true;
	mutex_unlock(&vmw->hv_lock);
	vmw->bound = false;
	pr_info("unbound\n");
}

int mb_vmw_register(void)
{
	struct mb_vmw *vmw = &mb_vmw;

	vmw->tp.ops = &mb_vmw_ops;
	mutex_init(&vmw->hv_lock);
	INIT_DELAYED_WORK(&vmw->poll_work, mb_vmw_poll);
	mutex_lock(&mb_vmw_bind_lock);
	vmw->hv = &mb_vmw_real_hv;
	mb_vmw_bind(vmw);
	mutex_unlock(&mb_vmw_bind_lock);
	/* Nothing here stops the module: virtio or simulate still work. */
	return 0;
}

void mb_vmw_unregister(void)
{
	struct mb_vmw *vmw = &mb_vmw;

	mutex_lock(&mb_vmw_bind_lock);
	mb_vmw_unbind(vmw);
	vmw->hv = &mb_vmw_real_hv;
	free_page((unsigned long)vmw->batch);
	vmw->batch = NULL;
	mutex_unlock(&mb_vmw_bind_lock);
}

#ifdef MB_TEST_HOOKS
/**
 * mb_vmw_use_fake_hv() - bind to a test host instead of the backdoor
 * @ops: the test host
 *
 * Never on VMware itself: the real host is the only one there.
 * Return: 0 when the test host was asked (whether or not the transport
 * bound: GET_STATE's declined_* says), -EBUSY on VMware or with a test
 * host already in place.
 */
int mb_vmw_use_fake_hv(const struct mb_vmw_hv_ops *ops)
{
	struct mb_vmw *vmw = &mb_vmw;
	int err = 0;

	if (mb_vmw_real_hv.detect())
		return -EBUSY;
	mutex_lock(&mb_vmw_bind_lock);
	if (vmw->hv != &mb_vmw_real_hv || vmw->bound) {
		err = -EBUSY;
		goto out;
	}
	vmw->hv = ops;
	mb_vmw_bind(vmw);
out:
	mutex_unlock(&mb_vmw_bind_lock);
	return err;
}
EXPORT_SYMBOL_GPL(mb_vmw_use_fake_hv);

/* Unbind from the test host (telling it of every page while it answers). */
void mb_vmw_drop_fake_hv(void)
{
	struct mb_vmw *vmw = &mb_vmw;

	mutex_lock(&mb_vmw_bind_lock);
	if (vmw->hv != &mb_vmw_real_hv) {
		mb_vmw_unbind(vmw);
		vmw->hv = &mb_vmw_real_hv;
	}
	mutex_unlock(&mb_vmw_bind_lock);
}
EXPORT_SYMBOL_GPL(mb_vmw_drop_fake_hv);

/*
 * Count and checksum the balloon's list.  Compaction isolates pages off it
 * under b_dev_info's pages_lock up to 6.x; 7.x keeps that lock private, so
 * there the list is not walked (v->walked stays false).  The 2 MB pages'
 * list is the balloon's own, under mb->lock: always walked.
 */
static void mb_vmw_walk_balloon(struct memballoon *mb,
				struct mb_vmw_test_view *v)
{
	struct page *page;
#ifdef MB_HAVE_BALLOON_PAGES_LOCK
	unsigned long flags;

	v->walked = true;
	spin_lock_irqsave(&mb->b_dev_info.pages_lock, flags);
	list_for_each_entry(page, &mb->b_dev_info.pages, lru) {
		v->listed++;
		v->pfn_sum += mb_vmw_pfn_hash(page_to_pfn(page));
	}
	spin_unlock_irqrestore(&mb->b_dev_info.pages_lock, flags);
#endif
	/* 2 MB pages: our own list, under mb->lock on every kernel. */
	list_for_each_entry(page, &mb->huge_pages, lru) {
		v->huge++;
		v->huge_sum += mb_vmw_pfn_hash_2m(page_to_pfn(page));
	}
	if (v->walked) {
		v->listed += v->huge << mb->huge_order;
		v->pfn_sum += v->huge_sum;
	}
}

/**
 * mb_vmw_test_view() - the guest's view, next to the test host's
 * @v:		filled in
 * @host_view:	called with mb->lock held, so that no step changes either
 *		view in between; may be NULL
 * @arg:	its argument
 *
 * Return: 0.
 */
int mb_vmw_test_view(struct mb_vmw_test_view *v,
		     void (*host_view)(void *arg), void *arg)
{
	struct memballoon *mb = &mb_balloon;
	struct mb_vmw *vmw = &mb_vmw;

	memset(v, 0, sizeof(*v));
	mutex_lock(&mb->lock);
	v->nr_pages = mb->nr_pages;
	mb_vmw_walk_balloon(mb, v);
	v->bound = mb->tp == &vmw->tp;
	mutex_lock(&vmw->hv_lock);
	v->broken = vmw->broken;
	v->reset = vmw->reset;
	v->caps = vmw->caps;
	v->host_resets = vmw->host_resets;
	v->target = vmw->target;
	v->raw_target = vmw->raw_target;
	v->clamped = vmw->clamped;
	v->told_pages = vmw->told_pages;
	v->told_sum = vmw->told_sum;
	v->told_2m = vmw->told_2m;
	v->told_2m_sum = vmw->told_2m_sum;
	mutex_unlock(&vmw->hv_lock);
	if (host_view)
		host_view(arg);
	mutex_unlock(&mb->lock);
	return 0;
}
EXPORT_SYMBOL_GPL(mb_vmw_test_view);
#endif
