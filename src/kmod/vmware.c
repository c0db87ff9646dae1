// SPDX-License-Identifier: GPL-2.0
/*
 * memballoon: the VMware balloon transport (x86-64 only).
 *
 * Under VMware the host asks for balloon pages through the backdoor port
 * (vmware.h has the protocol).  At load we negotiate a session (START with
 * the capabilities we can use, then GUEST_ID) and bind as the balloon's
 * transport; a delayed work polls GET_TARGET every vmw_poll_ms (1 s, the
 * stock driver's period) and turns a new target into a TARGET event: the
 * daemon decides, as with virtio.  When the host grants the doorbell
 * (signalled wakeup) and vmw_vmci is loaded, it also rings a VMCI doorbell
 * whenever its target changes, and the work reads the target at once; the
 * poll stays as a fallback, as in the stock driver.  Pages go to the host
 * with BATCHED_LOCK (up to MB_VMW_BATCH_MAX on one page-list page, one
 * status per page) or, when the host does not offer batching, one LOCK per
 * page.  When the host
 * grants 2 MB pages (with batching, as the stock driver has it) the core
 * lends those first (mb_transport_ops.huge_order) and they go with
 * BATCHED_2M_LOCK/UNLOCK, one entry per 2 MB page.  Pages the host
 * refuses are handed back to the core (its refused list on inflate, its
 * kept list on deflate), whatever their size.
 *
 * The doorbell is VMCI's, and memballoon.ko loads on every x86-64 guest,
 * most not VMware: so vmw_vmci's functions are taken with symbol_get()
 * when a session opens, never linked.  Without vmw_vmci (or without the
 * host's grant, or when DOORBELL_SET fails) the target is polled only; the
 * kernel log says which once, and MEMBALLOON_TF_DOORBELL shows it.  A
 * doorbell is destroyed when the host resets (it forgot it) and made again
 * after the new START, and destroyed on unbind.
 *
 * What we do not use: the host's target in the LOCK/UNLOCK answers (the
 * next poll reads the same).
 *
 * A LOCK answered PPN_NOTNEEDED (for one entry or the whole command) means
 * the host needs no more pages: the balloon is at or above its target.  As
 * the stock driver does, the page is not lent and goes straight back (on
 * the core's refused list, so it counts in refused_pages: the host did not
 * take it), the INFLATE stops now (host_full; after 2 MB pages the core
 * goes on with 4 KiB ones, which fill up to the target exactly) and the
 * target is read again at once, its TARGET event telling the daemon the
 * host's real target.  BUSY is transient: a command answered BUSY is sent
 * again up to MB_VMW_BUSY_TRIES times in all, a few ms apart; after that
 * its pages are refused or kept (the daemon tries again later) or the
 * target waits for the next poll.  BUSY never breaks the transport.
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

#include <linux/delay.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/mutex.h>
#include <linux/workqueue.h>
#include <asm/hypervisor.h>

#include "shim.h"
#include "vmware.h"

/* mb_compat.h (through shim.h) says whether the VMCI API is as we use it. */
#ifndef MB_HAVE_VMCI_DOORBELL
#error "memballoon: this kernel's VMCI doorbell API is not the one vmware.c knows (see mb_compat.h.log)"
#endif
#include <linux/vmw_vmci_defs.h>
#include <linux/vmw_vmci_api.h>

/* What we ask for. */
#define MB_VMW_CAPS_WANTED	(MB_VMW_CAP_BASIC | MB_VMW_CAP_BATCHED | \
				 MB_VMW_CAP_BATCHED_2M | MB_VMW_CAP_TARGET_64)

/*
 * First step of each INFLATE/DEFLATE, in pages: the core's virtio value
 * (MB_FIRST_STEP_PFNS) for the same reason, early progress for the host.
 */
#define MB_VMW_FIRST_STEP	64

/*
 * A command answered BUSY is sent this many times in all, MB_VMW_BUSY_US
 * (to twice that) apart: the stock driver has no such wait, so these are
 * ours, small enough to hold mb->lock through (at most ~6 ms a command).
 */
#define MB_VMW_BUSY_TRIES	4
#define MB_VMW_BUSY_US		1000

/* vmw_poll_ms, defined with the polling below. */
static unsigned int mb_vmw_poll_ms = 1000;

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
 * @full:	the last LOCK tell was answered PPN_NOTNEEDED (mb->lock and
 *		@hv_lock to write; either to read)
 * @notneeded:	pages answered PPN_NOTNEEDED since bound (@hv_lock)
 * @notneeded_seen: @notneeded when the poll last announced (@hv_lock)
 * @busy:	BUSY answers since bound, retries included (@hv_lock)
 * @told_pages:	(test builds) pages the host holds as we told it (@hv_lock)
 * @told_sum:	(test builds) mb_vmw_pfn_hash() sum over them (@hv_lock)
 * @told_2m:	(test builds) 2 MB pages among them (@hv_lock)
 * @told_2m_sum: (test builds) mb_vmw_pfn_hash_2m() sum over those
 * @poll_work:	GET_TARGET poll and reset handling
 * @bell_on:	a doorbell exists and the host has its handle (@hv_lock)
 * @bell_retry:	the host granted the doorbell but vmw_vmci is not loaded:
 *		each poll tries again (@hv_lock)
 * @bell_said:	what the kernel log last said of the doorbell (@hv_lock)
 * @bell_context: the doorbell's VMCI handle, while @bell_on
 * @bell_resource: ditto
 *
 * @broken, @gone, @reset, @stop and @bell_on are written under @hv_lock
 * and read with READ_ONCE where @hv_lock is not held.
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
	bool full;
	u64 notneeded;
	u64 notneeded_seen;
	u64 busy;
#ifdef MB_TEST_HOOKS
	u64 told_pages;
	u64 told_sum;
	u64 told_2m;
	u64 told_2m_sum;
#endif
	struct delayed_work poll_work;
	bool bell_on;
	bool bell_retry;
	int bell_said;
	u32 bell_context;
	u32 bell_resource;
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

/*
 * vmw_vmci's doorbell functions, taken with symbol_get() so that the module
 * does not depend on vmw_vmci.  The reference on vmci_doorbell_destroy
 * (so on vmw_vmci) is held from a doorbell's creation to its destruction;
 * there is at most one (@hv_lock).
 */
static typeof(&vmci_doorbell_destroy) mb_vmw_vmci_destroy;

static int mb_vmw_real_bell_create(void (*ring)(void *data), void *data,
				   u32 *ret_context, u32 *ret_resource)
{
	struct vmci_handle handle = VMCI_INVALID_HANDLE;
	typeof(&vmci_doorbell_create) create;
	int r;

	if (WARN_ON_ONCE(mb_vmw_vmci_destroy))
		return -EBUSY;
	create = symbol_get(vmci_doorbell_create);
	if (!create)
		return -ENODEV;
	mb_vmw_vmci_destroy = symbol_get(vmci_doorbell_destroy);
	if (!mb_vmw_vmci_destroy) {
		symbol_put(vmci_doorbell_create);
		return -ENODEV;
	}
	/*
	 * DELAYED_CB: @ring runs from VMCI's work item rather than its
	 * interrupt tasklet, as for the stock driver; it sleeps in neither.
	 */
	r = create(&handle, VMCI_FLAG_DELAYED_CB, VMCI_PRIVILEGE_FLAG_RESTRICTED,
		   ring, data);
	symbol_put(vmci_doorbell_create);
	if (r != VMCI_SUCCESS) {
		pr_debug("vmci_doorbell_create: VMCI error %d\n", r);
		symbol_put(vmci_doorbell_destroy);
		mb_vmw_vmci_destroy = NULL;
		return -EIO;
	}
	*ret_context = handle.context;
	*ret_resource = handle.resource;
	return 0;
}

/* vmci_doorbell_destroy() waits for a callback under way. */
static void mb_vmw_real_bell_destroy(u32 context, u32 resource)
{
	if (WARN_ON_ONCE(!mb_vmw_vmci_destroy))
		return;
	mb_vmw_vmci_destroy(vmci_make_handle(context, resource));
	symbol_put(vmci_doorbell_destroy);
	mb_vmw_vmci_destroy = NULL;
}

static const struct mb_vmw_hv_ops mb_vmw_real_hv = {
	.detect	= mb_vmw_real_detect,
	.cmd	= mb_vmw_real_cmd,
	.bell_create	= mb_vmw_real_bell_create,
	.bell_destroy	= mb_vmw_real_bell_destroy,
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

/* Batched commands: @arg2 entries on the page-list page. */
static bool mb_vmw_cmd_batched(unsigned long cmd)
{
	return cmd == MB_VMW_CMD_BATCHED_LOCK ||
	       cmd == MB_VMW_CMD_BATCHED_UNLOCK ||
	       cmd == MB_VMW_CMD_BATCHED_2M_LOCK ||
	       cmd == MB_VMW_CMD_BATCHED_2M_UNLOCK;
}

/*
 * Issue @cmd and sort the answer: MB_VMW_OK, an MB_VMW_ERR_* code (RESET
 * noted), or -EIO when it is no status at all (the transport is then
 * broken).  START's own success code is START's business.  BUSY is sent
 * again, MB_VMW_BUSY_TRIES times in all (so this may sleep); the last
 * BUSY is returned as any error.
 */
static long mb_vmw_call(struct mb_vmw *vmw, unsigned long cmd,
			unsigned long arg1, unsigned long arg2,
			unsigned long *result)
{
	unsigned long status, res = 0, i;
	unsigned int tries = 0;

	lockdep_assert_held(&vmw->hv_lock);
	for (;;) {
		status = vmw->hv->cmd(cmd, arg1, arg2, &res) & 0xffffffffUL;
		if (status != MB_VMW_ERR_BUSY)
			break;
		vmw->busy++;
		if (++tries == MB_VMW_BUSY_TRIES)
			break;
		/* The entries go again as the guest wrote them. */
		if (mb_vmw_cmd_batched(cmd))
			for (i = 0; i < arg2 && i < MB_VMW_BATCH_MAX; i++)
				vmw->batch[i] &= ~MB_VMW_ENTRY_STATUS_MASK;
		usleep_range(MB_VMW_BUSY_US, 2 * MB_VMW_BUSY_US);
	}
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

/* The doorbell is asked for only where there is a way to make one. */
static unsigned long mb_vmw_caps_wanted(struct mb_vmw *vmw)
{
	return MB_VMW_CAPS_WANTED |
	       (vmw->hv->bell_create ? MB_VMW_CAP_DOORBELL : 0);
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
	status = vmw->hv->cmd(MB_VMW_CMD_START, mb_vmw_caps_wanted(vmw), 0,
			      &caps) & 0xffffffffUL;
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
	caps &= mb_vmw_caps_wanted(vmw);
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

/* ---- the doorbell (@hv_lock held) -------------------------------------- */

/* What the kernel log last said of the doorbell (mb_vmw.bell_said). */
enum {
	MB_VMW_BELL_UNSAID,
	MB_VMW_BELL_RINGS,		/* made and registered */
	MB_VMW_BELL_NOT_GRANTED,	/* the host did not grant it */
	MB_VMW_BELL_NO_VMCI,		/* vmw_vmci is not loaded */
	MB_VMW_BELL_NOT_MADE,		/* creating it failed */
	MB_VMW_BELL_SET_FAILED,		/* the host refused DOORBELL_SET */
};

/*
 * Say how the target reaches us, once per change: each bind starts
 * unsaid, so every session's first state is in the log.
 */
static void mb_vmw_bell_say(struct mb_vmw *vmw, int said, long err)
{
	unsigned int ms = max(READ_ONCE(mb_vmw_poll_ms), 10U);

	lockdep_assert_held(&vmw->hv_lock);
	if (vmw->bell_said == said)
		return;
	vmw->bell_said = said;
	switch (said) {
	case MB_VMW_BELL_RINGS:
		pr_info("target: the host rings a VMCI doorbell when it changes (and it is polled every %u ms)\n",
			ms);
		break;
	case MB_VMW_BELL_NOT_GRANTED:
		pr_info("target: polled every %u ms (the host grants no doorbell)\n",
			ms);
		break;
	case MB_VMW_BELL_NO_VMCI:
		pr_info("target: polled every %u ms (no VMCI doorbell: vmw_vmci is not loaded; used once it is)\n",
			ms);
		break;
	case MB_VMW_BELL_NOT_MADE:
		pr_info("target: polled every %u ms (no VMCI doorbell: error %ld)\n",
			ms, err);
		break;
	case MB_VMW_BELL_SET_FAILED:
		pr_info("target: polled every %u ms (the host answered DOORBELL_SET with status %ld)\n",
			ms, err);
		break;
	}
}

/*
 * The host rang: read the target now.  Called by VMCI (or the test host)
 * in a context that must not sleep, so only the work is kicked; it takes
 * @hv_lock.  Unbinding sets @stop before destroying the doorbell, which
 * waits for this, and cancels the work after.
 */
static void mb_vmw_bell_ring(void *data)
{
	struct mb_vmw *vmw = data;

	if (!READ_ONCE(vmw->stop))
		mod_delayed_work(system_freezable_wq, &vmw->poll_work, 0);
}

/*
 * After a START: if the host granted the doorbell, make one and register
 * its handle with DOORBELL_SET.  Otherwise, or if either step fails, the
 * poll alone reads the target.  Without vmw_vmci, each poll tries again
 * (@bell_retry): udev may load it after us.
 */
static void mb_vmw_bell_setup(struct mb_vmw *vmw)
{
	u32 context, resource;
	long status;
	int err;

	lockdep_assert_held(&vmw->hv_lock);
	vmw->bell_retry = false;
	if (vmw->bell_on)
		return;
	if (!(vmw->caps & MB_VMW_CAP_DOORBELL)) {
		mb_vmw_bell_say(vmw, MB_VMW_BELL_NOT_GRANTED, 0);
		return;
	}
	err = vmw->hv->bell_create(mb_vmw_bell_ring, vmw, &context, &resource);
	if (err) {
		vmw->bell_retry = err == -ENODEV;
		mb_vmw_bell_say(vmw, err == -ENODEV ? MB_VMW_BELL_NO_VMCI :
				MB_VMW_BELL_NOT_MADE, err);
		return;
	}
	status = mb_vmw_call(vmw, MB_VMW_CMD_DOORBELL_SET, context, resource,
			     NULL);
	if (status) {
		vmw->hv->bell_destroy(context, resource);
		/* A broken host is logged as such; a RESET sets up again. */
		if (status > 0)
			mb_vmw_bell_say(vmw, MB_VMW_BELL_SET_FAILED, status);
		return;
	}
	vmw->bell_context = context;
	vmw->bell_resource = resource;
	WRITE_ONCE(vmw->bell_on, true);
	mb_vmw_bell_say(vmw, MB_VMW_BELL_RINGS, 0);
}

/*
 * Destroy the doorbell, first unregistering it (DOORBELL_SET with no
 * handle) if @tell and the host still holds the session; after a reset it
 * has forgotten it.
 */
static void mb_vmw_bell_teardown(struct mb_vmw *vmw, bool tell)
{
	lockdep_assert_held(&vmw->hv_lock);
	vmw->bell_retry = false;
	if (!vmw->bell_on)
		return;
	if (tell && !vmw->broken && !vmw->reset)
		mb_vmw_call(vmw, MB_VMW_CMD_DOORBELL_SET, MB_VMW_BELL_NONE,
			    MB_VMW_BELL_NONE, NULL);
	vmw->hv->bell_destroy(vmw->bell_context, vmw->bell_resource);
	WRITE_ONCE(vmw->bell_on, false);
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
 * A LOCK answered PPN_NOTNEEDED: the host needs no more pages.  Note it
 * for host_full and read the target again now (not while binding or
 * unbinding: @stop).  @hv_lock held.
 */
static void mb_vmw_note_full(struct mb_vmw *vmw)
{
	lockdep_assert_held(&vmw->hv_lock);
	vmw->notneeded++;
	if (vmw->full)
		return;
	WRITE_ONCE(vmw->full, true);
	if (!vmw->stop && !vmw->broken)
		mod_delayed_work(system_freezable_wq, &vmw->poll_work, 0);
}

/*
 * Tell the host about the queued pages, one command per page: LOCK or
 * UNLOCK.  A page the host does not take goes to @back.  After a RESET the
 * rest are not sent (the host has forgotten everything anyway), nor after
 * a PPN_NOTNEEDED (it needs no more).
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

		if (vmw->reset || pfn > U32_MAX ||
		    (vmw->full && cmd == MB_VMW_CMD_LOCK)) {
			list_move(&page->lru, back);
			continue;
		}
		status = mb_vmw_call(vmw, cmd, pfn, 1, NULL);
		if (status < 0)
			return false;
		if (status == MB_VMW_ERR_PPN_NOTNEEDED && cmd == MB_VMW_CMD_LOCK)
			mb_vmw_note_full(vmw);
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
 * not take the page (PPN_PINNED, BUSY, ...); a lock's PPN_NOTNEEDED (for
 * the entry or the command) also says it needs no more (host_full).
 * RESET for the whole command is noted by mb_vmw_call().
 */
static bool mb_vmw_tell_batched(struct mb_vmw *vmw, unsigned long cmd,
				struct list_head *back)
{
	bool lock = cmd == MB_VMW_CMD_BATCHED_LOCK ||
		    cmd == MB_VMW_CMD_BATCHED_2M_LOCK;
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
		u64 st = status ? status :
			 vmw->batch[i] & MB_VMW_ENTRY_STATUS_MASK;

		if (st == MB_VMW_ERR_PPN_NOTNEEDED && lock)
			mb_vmw_note_full(vmw);
		if (st)
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
	/* Each lock tell says afresh whether the host needs more. */
	if (lock)
		WRITE_ONCE(vmw->full, false);
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

/* Right after tell_inflate (mb->lock held): it was told PPN_NOTNEEDED. */
static bool mb_vmw_host_full(struct mb_transport *tp)
{
	return READ_ONCE(to_mb_vmw(tp)->full);
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
	if (READ_ONCE(vmw->bell_on))
		st->transport_flags |= MEMBALLOON_TF_DOORBELL;
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
	.host_full	= mb_vmw_host_full,
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
 * vmw_poll_ms takes effect at once: a period shortened from, say, ten
 * minutes does not wait for the ten minutes to end.
 */
static int mb_vmw_set_poll_ms(const char *val, const struct kernel_param *kp)
{
	struct mb_vmw *vmw = &mb_vmw;
	unsigned int ms;
	int err = param_set_uint(val, kp);

	if (err)
		return err;
	ms = max(READ_ONCE(mb_vmw_poll_ms), 10U);
	mutex_lock(&mb_vmw_bind_lock);
	if (vmw->bound) {
		mutex_lock(&vmw->hv_lock);
		if (!vmw->stop && !vmw->broken)
			mod_delayed_work(system_freezable_wq, &vmw->poll_work,
					 msecs_to_jiffies(ms));
		mutex_unlock(&vmw->hv_lock);
	}
	mutex_unlock(&mb_vmw_bind_lock);
	return 0;
}

static const struct kernel_param_ops mb_vmw_poll_ms_ops = {
	.set	= mb_vmw_set_poll_ms,
	.get	= param_get_uint,
};

module_param_cb(vmw_poll_ms, &mb_vmw_poll_ms_ops, &mb_vmw_poll_ms, 0644);
MODULE_PARM_DESC(vmw_poll_ms,
		 "VMware: ms between two GET_TARGET polls, doorbell or not (default 1000, as the stock vmw_balloon; at least 10)");

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
	/* The host forgot the doorbell too: a new one after START. */
	mb_vmw_bell_teardown(vmw, false);
	err = mb_vmw_start(vmw, &status);
	if (err == -EIO || status == (s32)MB_VMW_NO_ANSWER)
		mb_vmw_mark_broken(vmw, MB_VMW_CMD_START, (u32)status);
	else if (err)
		pr_info("START after a reset: host status %ld; trying again\n",
			status);
	else
		WRITE_ONCE(vmw->reset, false);
	if (!err)
		mb_vmw_bell_setup(vmw);
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
	if (vmw->bell_retry && !vmw->broken && !vmw->reset)
		mb_vmw_bell_setup(vmw);
	status = vmw->broken ? -EIO : mb_vmw_get_target(vmw, &target);
	/*
	 * After a PPN_NOTNEEDED the target goes out even unchanged: whoever
	 * inflated past it hears the host's real one.  BUSY (after its
	 * retries) waits for the next poll, as any error.
	 */
	if (!status && (target != vmw->target || vmw->notneeded_seen !=
			vmw->notneeded)) {
		vmw->target = target;
		vmw->notneeded_seen = vmw->notneeded;
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
	vmw->full = false;
	vmw->notneeded = 0;
	vmw->notneeded_seen = 0;
	vmw->busy = 0;
	vmw->target = 0;
	vmw->raw_target = 0;
	vmw->caps = 0;
	vmw->bell_retry = false;
	vmw->bell_said = MB_VMW_BELL_UNSAID;
#ifdef MB_TEST_HOOKS
	vmw->told_pages = 0;
	vmw->told_sum = 0;
	vmw->told_2m = 0;
	vmw->told_2m_sum = 0;
#endif
	err = mb_vmw_start(vmw, &status);
	if (!err) {
		status = mb_vmw_get_target(vmw, &target);
		/* Still BUSY after its retries: target 0 until the poll. */
		if (status == MB_VMW_ERR_BUSY)
			status = 0;
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
	mb_vmw_bell_setup(vmw);
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
	/* No ring can queue the work once this returns. */
	mb_vmw_bell_teardown(vmw, true);
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
	v->notneeded = vmw->notneeded;
	v->busy = vmw->busy;
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
