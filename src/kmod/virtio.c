// SPDX-License-Identifier: GPL-2.0
/*
 * memballoon: the virtio-balloon transport (virtio spec 1.2, 5.5).
 *
 * We bind the standard balloon device in place of the stock virtio_balloon
 * driver.  The host writes its target to config num_pages; we turn each
 * config change into a TARGET event and leave the decision to the daemon.
 * PFNs go to the host on the inflate and deflate queues in buffers of up to
 * MB_PFNS_PER_KICK entries, and config actual follows every step.  A
 * stats request from the host becomes a STATS event and is answered with
 * the daemon's next SET_STATS (or, after MEMBALLOON_STATS_HOLD_MS, with
 * the last one).
 *
 * Every wait for the host is bounded: a device that breaks (surprise
 * removal calls virtio_break_device(), which wakes nobody) or does not
 * take a buffer within MEMBALLOON_HOST_TIMEOUT_MS is marked broken, and
 * no more PFNs go to it.  Its pages stay loaned until remove() has reset
 * it; only then are they released without telling it.
 *
 * Only one device is driven; a second one is refused with -EBUSY.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/mm.h>
#include <linux/module.h>
#include <linux/scatterlist.h>
#include <linux/slab.h>
#include <linux/virtio.h>
#include <linux/virtio_balloon.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ring.h>
#include <linux/workqueue.h>

#include "shim.h"

enum {
	MB_VQ_INFLATE,
	MB_VQ_DEFLATE,
	MB_VQ_STATS,
	MB_VQ_MAX
};

/**
 * struct mb_virtio - one bound virtio-balloon device
 * @tp:		the balloon's handle on it (mb_virtio_ops)
 * @vdev:	the device
 * @inflate_vq:	PFN queue for inflating; used under mb->lock only
 * @deflate_vq:	PFN queue for deflating; used under mb->lock only
 * @stats_vq:	stats queue, NULL without VIRTIO_BALLOON_F_STATS_VQ; used
 *		by @stats_work only
 * @acked:	waits for the host to return a PFN buffer
 * @acks:	PFN queue interrupts so far, what @acked waits for
 * @broken:	the device stopped answering; no more PFNs (set under
 *		mb->lock, read with READ_ONCE)
 * @gone:	the device has been reset for removal: pages may be released
 *		without telling it (mb->lock)
 * @pfns:	PFN buffer, MB_PFNS_PER_KICK entries (mb->lock)
 * @nr_pfns:	entries of @pfns filled (mb->lock)
 * @stats_buf:	stats in the device's format (@stats_work only)
 * @stats_held:	the stats buffer is ours, not the host's (@stats_work only)
 * @stats_waiting: a request is held for the writer's SET_STATS
 *		(@stats_work only)
 * @stats_req_gen: mb->stats_gen when the held request came
 * @stats_deadline: jiffies when a held request is answered anyway
 * @config_work: reads the new target after a config change
 * @stats_work:	answers the host's stats request
 * @stop_lock:	protects @stop
 * @stop:	no new work may be queued (detached)
 */
struct mb_virtio {
	struct mb_transport tp;
	struct virtio_device *vdev;
	struct virtqueue *inflate_vq;
	struct virtqueue *deflate_vq;
	struct virtqueue *stats_vq;
	wait_queue_head_t acked;
	atomic_t acks;
	bool broken;
	bool gone;
	__virtio32 *pfns;
	unsigned int nr_pfns;
	struct virtio_balloon_stat *stats_buf;
	bool stats_held;
	bool stats_waiting;
	u64 stats_req_gen;
	unsigned long stats_deadline;
	struct work_struct config_work;
	struct delayed_work stats_work;
	spinlock_t stop_lock;	/* protects @stop */
	bool stop;
};

/* Set while a device is bound, so a second one is refused. */
static unsigned long mb_virtio_claimed;

static struct mb_virtio *to_mb_virtio(struct mb_transport *tp)
{
	return container_of(tp, struct mb_virtio, tp);
}

/* ---- PFN traffic (called with mb->lock held) --------------------------- */

/**
 * mb_virtio_queue_page() - add one page's PFNs to the next message
 * @tp:   the device
 * @page: the page
 *
 * The balloon core never queues more than MB_VIRTIO_STEP_PAGES pages
 * between two mb_virtio_tell_*() calls, so the buffer cannot overflow.
 */
static void mb_virtio_queue_page(struct mb_transport *tp, struct page *page)
{
	/*
	 * virtio PFNs are 32-bit and count 4 KiB: a larger kernel page is
	 * several consecutive virtio PFNs, first one at its start.  Pages at
	 * or above 16 TiB never get here (mb_virtio_nameable()).
	 */
	u32 pfn = page_to_pfn(page) * MB_VIRTIO_PFNS_PER_PAGE;
	struct mb_virtio *vb = to_mb_virtio(tp);
	unsigned int i;

	if (WARN_ON_ONCE(vb->nr_pfns + MB_VIRTIO_PFNS_PER_PAGE >
			 MB_PFNS_PER_KICK))
		return;
	for (i = 0; i < MB_VIRTIO_PFNS_PER_PAGE; i++)
		vb->pfns[vb->nr_pfns++] = cpu_to_virtio32(vb->vdev, pfn + i);
}

static void mb_virtio_ack(struct virtqueue *vq)
{
	struct mb_virtio *vb = vq->vdev->priv;

	atomic_inc(&vb->acks);
	wake_up(&vb->acked);
}

/* Whether the device stopped answering; with mb->lock or READ_ONCE. */
static bool mb_virtio_broken(struct mb_virtio *vb)
{
	return READ_ONCE(vb->broken) || READ_ONCE(vb->gone);
}

static bool mb_virtio_tp_broken(struct mb_transport *tp)
{
	return mb_virtio_broken(to_mb_virtio(tp));
}

/* Look again for a broken queue this often: breaking wakes nobody. */
#define MB_ACK_POLL_MS		100

static void mb_virtio_mark_broken(struct mb_virtio *vb, const char *why,
				  unsigned int n)
{
	WRITE_ONCE(vb->broken, true);
	dev_err(&vb->vdev->dev,
		"%s (%u PFNs in flight); no more pages go to it until it is removed\n",
		why, n);
	mb_queue_event(&mb_balloon, MEMBALLOON_EVENT_HOST, 0);
}

/*
 * Send the queued PFNs on @vq and wait until the host has taken them,
 * at most MEMBALLOON_HOST_TIMEOUT_MS.
 *
 * Return: true when the host has them.  false when the device is broken
 * or did not answer in time; it is then marked broken, and the buffer may
 * still be the host's, so it is never reused.
 */
static bool mb_virtio_tell(struct mb_virtio *vb, struct virtqueue *vq)
{
	unsigned int n = vb->nr_pfns, len;
	unsigned long deadline;
	struct scatterlist sg;
	int seen, err;

	if (!n)
		return true;
	vb->nr_pfns = 0;
	if (mb_virtio_broken(vb))
		return false;
	sg_init_one(&sg, vb->pfns, n * sizeof(vb->pfns[0]));
	/*
	 * One buffer on an otherwise empty queue, and no indirect
	 * descriptors (see mb_virtio_validate()): this cannot fail for
	 * lack of room and never allocates, which mb_oom_notify() relies
	 * on.  GFP_NOWAIT only makes that explicit.
	 */
	seen = atomic_read(&vb->acks);
	err = virtqueue_add_outbuf(vq, &sg, 1, vb, GFP_NOWAIT | __GFP_NOWARN);
	if (err) {
		/* -EIO: broken; nothing else is possible on an empty queue. */
		mb_virtio_mark_broken(vb, "cannot send PFNs to the host", n);
		return false;
	}
	virtqueue_kick(vq);
	deadline = jiffies + msecs_to_jiffies(MEMBALLOON_HOST_TIMEOUT_MS);
	for (;;) {
		if (virtqueue_get_buf(vq, &len))
			return true;
		if (virtqueue_is_broken(vq)) {
			mb_virtio_mark_broken(vb, "the device broke (removed?)", n);
			return false;
		}
		if (time_after_eq(jiffies, deadline)) {
			mb_virtio_mark_broken(vb, "the host did not take PFNs within "
					      __stringify(MEMBALLOON_HOST_TIMEOUT_MS) " ms", n);
			return false;
		}
		wait_event_timeout(vb->acked, atomic_read(&vb->acks) != seen,
				   msecs_to_jiffies(MB_ACK_POLL_MS));
		seen = atomic_read(&vb->acks);
	}
}

/*
 * virtio PFNs are 32 bits of 4 KiB units: a page at or above 16 TiB cannot
 * be named to the host.
 */
static bool mb_virtio_nameable(struct mb_transport *tp, struct page *page)
{
	return page_to_pfn(page) <
	       (unsigned long)(U32_MAX / MB_VIRTIO_PFNS_PER_PAGE);
}

/* The device takes every page or none: nothing is ever refused. */
static bool mb_virtio_tell_inflate(struct mb_transport *tp,
				   struct list_head *refused)
{
	struct mb_virtio *vb = to_mb_virtio(tp);

	return mb_virtio_tell(vb, vb->inflate_vq);
}

/*
 * A device that is gone has been reset for removal (@gone, mb->lock): it
 * forgot every page, so there is nobody to tell.
 */
static bool mb_virtio_tell_deflate(struct mb_transport *tp,
				   struct list_head *kept)
{
	struct mb_virtio *vb = to_mb_virtio(tp);

	if (vb->gone) {
		vb->nr_pfns = 0;
		return true;
	}
	return mb_virtio_tell(vb, vb->deflate_vq);
}

/*
 * QEMU's query-balloon "actual" is RAM size minus this field; sending
 * PFNs alone does not move it.  The field counts 4 KiB pages, le32.
 * Called with mb->cfg_lock, never mb->lock (mb_sync_actual()).
 */
static void mb_virtio_set_actual(struct mb_virtio *vb, unsigned long nr_pages)
{
	u32 actual = nr_pages * MB_VIRTIO_PFNS_PER_PAGE;

	virtio_cwrite_le(vb->vdev, struct virtio_balloon_config, actual,
			 &actual);
}

static void mb_virtio_tp_set_actual(struct mb_transport *tp,
				    unsigned long nr_pages)
{
	mb_virtio_set_actual(to_mb_virtio(tp), nr_pages);
}

static bool mb_virtio_deflate_on_oom(struct mb_virtio *vb)
{
	return virtio_has_feature(vb->vdev, VIRTIO_BALLOON_F_DEFLATE_ON_OOM);
}

static bool mb_virtio_tp_deflate_on_oom(struct mb_transport *tp)
{
	return mb_virtio_deflate_on_oom(to_mb_virtio(tp));
}

static u64 mb_virtio_features(struct mb_transport *tp)
{
	return to_mb_virtio(tp)->vdev->features;
}

/* ---- target ------------------------------------------------------------ */

/* The host's target in kernel pages, rounded up like the stock driver. */
static u64 mb_virtio_read_target(struct mb_virtio *vb)
{
	u32 num_pages;

	virtio_cread_le(vb->vdev, struct virtio_balloon_config, num_pages,
			&num_pages);
	return DIV_ROUND_UP(num_pages, MB_VIRTIO_PFNS_PER_PAGE);
}

static void mb_virtio_config_work(struct work_struct *work)
{
	struct mb_virtio *vb = container_of(work, struct mb_virtio,
					    config_work);
	u64 target;

	/* Config I/O outside mb->lock (see struct memballoon). */
	target = mb_virtio_read_target(vb);
	mb_transport_set_target(&vb->tp, target);
}

/* Interrupt context: defer the config read to process context. */
static void mb_virtio_config_changed(struct virtio_device *vdev)
{
	struct mb_virtio *vb = vdev->priv;
	unsigned long flags;

	spin_lock_irqsave(&vb->stop_lock, flags);
	if (!vb->stop)
		queue_work(system_freezable_wq, &vb->config_work);
	spin_unlock_irqrestore(&vb->stop_lock, flags);
}

/* ---- stats ------------------------------------------------------------- */

/*
 * The stats queue runs backwards: we keep one buffer with the host, the
 * host hands it back when it wants fresh numbers, and we answer by making
 * the buffer available again.  A request becomes a STATS event; while a
 * writer has /dev/memballoon open we hold the buffer until it answers with
 * SET_STATS, so the host gets figures read after it asked, or at most
 * MEMBALLOON_STATS_HOLD_MS, then the last figures set go back (counted in
 * stats_late).  Without a writer nobody would refresh them: they go back
 * at once.  QEMU refuses zero-sized buffers (and then marks the device
 * broken), so while no stats are set at all we keep the buffer and answer
 * on the first SET_STATS.
 */
static void mb_virtio_stats_work(struct work_struct *work)
{
	struct mb_virtio *vb = container_of(to_delayed_work(work),
					    struct mb_virtio, stats_work);
	struct memballoon *mb = &mb_balloon;
	struct scatterlist sg;
	unsigned int i, n, len;
	bool late = false;
	int err;

	if (!vb->stats_held) {
		if (!virtqueue_get_buf(vb->stats_vq, &len))
			return;		/* the host still has it */
		vb->stats_held = true;
		spin_lock_irq(&mb->stats_lock);
		mb->stats_requests++;
		vb->stats_req_gen = mb->stats_gen;
		spin_unlock_irq(&mb->stats_lock);
		vb->stats_waiting = test_bit(0, &mb->writer_busy);
		vb->stats_deadline = jiffies +
				     msecs_to_jiffies(MEMBALLOON_STATS_HOLD_MS);
		/* One event per request, however many interrupts it took. */
		mb_queue_event(mb, MEMBALLOON_EVENT_STATS, 0);
	}

	spin_lock_irq(&mb->stats_lock);
	if (vb->stats_waiting && mb->stats_gen == vb->stats_req_gen) {
		if (time_before(jiffies, vb->stats_deadline) &&
		    test_bit(0, &mb->writer_busy)) {
			spin_unlock_irq(&mb->stats_lock);
			/* Look again at the deadline; SET_STATS comes sooner. */
			mod_delayed_work(system_freezable_wq, &vb->stats_work,
					 vb->stats_deadline - jiffies);
			return;
		}
		late = mb->nr_stats != 0;
	}
	n = mb->nr_stats;
	for (i = 0; i < n; i++) {
		vb->stats_buf[i].tag = cpu_to_virtio16(vb->vdev,
						       mb->stats[i].tag);
		vb->stats_buf[i].val = cpu_to_virtio64(vb->vdev,
						       mb->stats[i].val);
	}
	if (late)
		mb->stats_late++;
	spin_unlock_irq(&mb->stats_lock);
	if (!n)
		return;

	sg_init_one(&sg, vb->stats_buf, n * sizeof(vb->stats_buf[0]));
	err = virtqueue_add_outbuf(vb->stats_vq, &sg, 1, vb, GFP_KERNEL);
	if (err) {
		dev_warn_ratelimited(&vb->vdev->dev,
				     "cannot send stats: %d\n", err);
		return;
	}
	vb->stats_held = false;
	vb->stats_waiting = false;
	virtqueue_kick(vb->stats_vq);
}

static void mb_virtio_stats_queue_work(struct mb_virtio *vb)
{
	unsigned long flags;

	spin_lock_irqsave(&vb->stop_lock, flags);
	if (!vb->stop)
		mod_delayed_work(system_freezable_wq, &vb->stats_work, 0);
	spin_unlock_irqrestore(&vb->stop_lock, flags);
}

/*
 * Interrupt context: the host may have handed the stats buffer back.  The
 * event is queued by the work, once per buffer it gets back: without
 * MSI-X (QEMU's default for this device) all queues share one interrupt,
 * and this callback runs again on every inflate or deflate ack for as long
 * as the returned buffer has not been collected.
 */
static void mb_virtio_stats_request(struct virtqueue *vq)
{
	mb_virtio_stats_queue_work(vq->vdev->priv);
}

/* SET_STATS happened: a held buffer can now be answered. */
static void mb_virtio_stats_changed(struct mb_transport *tp)
{
	struct mb_virtio *vb = to_mb_virtio(tp);

	if (vb->stats_vq)
		mb_virtio_stats_queue_work(vb);
}

static const struct mb_transport_ops mb_virtio_ops = {
	.transport	= MEMBALLOON_TRANSPORT_VIRTIO,
	.name		= "virtio",
	.host_target	= true,
	.max_step_pages	= MB_VIRTIO_STEP_PAGES,
	.first_step_pages = MB_VIRTIO_FIRST_STEP_PAGES,
	.nameable	= mb_virtio_nameable,
	.broken		= mb_virtio_tp_broken,
	.queue_page	= mb_virtio_queue_page,
	.tell_inflate	= mb_virtio_tell_inflate,
	.tell_deflate	= mb_virtio_tell_deflate,
	.set_actual	= mb_virtio_tp_set_actual,
	.deflate_on_oom	= mb_virtio_tp_deflate_on_oom,
	.features	= mb_virtio_features,
	.stats_changed	= mb_virtio_stats_changed,
};

/* ---- binding ----------------------------------------------------------- */

/* A NULL name means the queue does not exist (no STATS_VQ). */
static int mb_virtio_init_vqs(struct mb_virtio *vb)
{
	bool stats = virtio_has_feature(vb->vdev, VIRTIO_BALLOON_F_STATS_VQ);
	struct virtqueue *vqs[MB_VQ_MAX];
	int err;
#ifdef MB_HAVE_VIRTQUEUE_INFO
	/* 6.11 and later: one array of struct virtqueue_info. */
	struct virtqueue_info info[MB_VQ_MAX] = {
		[MB_VQ_INFLATE] = { .name = "inflate",
				    .callback = mb_virtio_ack },
		[MB_VQ_DEFLATE] = { .name = "deflate",
				    .callback = mb_virtio_ack },
		[MB_VQ_STATS] = { .name = stats ? "stats" : NULL,
				  .callback = mb_virtio_stats_request },
	};

	err = virtio_find_vqs(vb->vdev, MB_VQ_MAX, vqs, info, NULL);
#else
	vq_callback_t *callbacks[MB_VQ_MAX] = {
		[MB_VQ_INFLATE] = mb_virtio_ack,
		[MB_VQ_DEFLATE] = mb_virtio_ack,
		[MB_VQ_STATS] = mb_virtio_stats_request,
	};
	const char *names[MB_VQ_MAX] = {
		[MB_VQ_INFLATE] = "inflate",
		[MB_VQ_DEFLATE] = "deflate",
		[MB_VQ_STATS] = stats ? "stats" : NULL,
	};

	err = virtio_find_vqs(vb->vdev, MB_VQ_MAX, vqs, callbacks, names,
			      NULL);
#endif
	if (err)
		return err;
	vb->inflate_vq = vqs[MB_VQ_INFLATE];
	vb->deflate_vq = vqs[MB_VQ_DEFLATE];
	vb->stats_vq = stats ? vqs[MB_VQ_STATS] : NULL;
	return 0;
}

/*
 * Make the device the balloon's transport (mb_transport_attach()).  With
 * DEFLATE_ON_OOM, loaned pages stay in MemTotal from now on, as with the
 * stock driver: the guest may take them back when it runs out of memory,
 * so the overcommit heuristic counts them.
 */
static int mb_virtio_attach(struct mb_virtio *vb)
{
	u64 target;
	int err;

	/* Config I/O before the device is visible, outside mb->lock. */
	mb_virtio_set_actual(vb, 0);
	target = mb_virtio_read_target(vb);

	WRITE_ONCE(vb->broken, false);
	WRITE_ONCE(vb->gone, false);
	err = mb_transport_attach(&vb->tp, target,
				  mb_virtio_deflate_on_oom(vb));
	if (err)
		return err;

	/* A fresh stats queue is empty: the buffer is ours. */
	vb->stats_held = true;
	vb->stats_waiting = false;
	spin_lock_irq(&vb->stop_lock);
	vb->stop = false;
	spin_unlock_irq(&vb->stop_lock);
	if (vb->stats_vq)
		mb_virtio_stats_queue_work(vb);
	return 0;
}

/*
 * Stop all work, give every page back telling the host (unless it has
 * been reset for removal), and fall back to simulate mode with a zero
 * target.  The queues still work afterwards; the caller resets the device.
 */
static void mb_virtio_detach(struct mb_virtio *vb)
{
	bool tell;

	spin_lock_irq(&vb->stop_lock);
	vb->stop = true;
	spin_unlock_irq(&vb->stop_lock);
	cancel_work_sync(&vb->config_work);
	cancel_delayed_work_sync(&vb->stats_work);

	tell = mb_transport_detach(&vb->tp);
	/* After mb->tp left @vb: no mb_sync_actual() can use @vb now. */
	if (tell)
		mb_virtio_set_actual(vb, 0);
}

static int mb_virtio_probe(struct virtio_device *vdev)
{
	struct mb_virtio *vb;
	int err;

	if (!vdev->config->get) {
		dev_err(&vdev->dev, "config access disabled\n");
		return -EINVAL;
	}
	if (test_and_set_bit(0, &mb_virtio_claimed)) {
		dev_err(&vdev->dev, "another balloon device is bound\n");
		return -EBUSY;
	}

	err = -ENOMEM;
	vb = kzalloc(sizeof(*vb), GFP_KERNEL);
	if (!vb)
		goto out_unclaim;
	/* kmalloc memory: physically contiguous, one descriptor each. */
	vb->pfns = kmalloc_array(MB_PFNS_PER_KICK, sizeof(vb->pfns[0]),
				 GFP_KERNEL);
	if (!vb->pfns)
		goto out_free_vb;
	vb->stats_buf = kcalloc(MEMBALLOON_MAX_STATS, sizeof(vb->stats_buf[0]),
				GFP_KERNEL);
	if (!vb->stats_buf)
		goto out_free_pfns;

	vb->tp.ops = &mb_virtio_ops;
	vb->vdev = vdev;
	init_waitqueue_head(&vb->acked);
	atomic_set(&vb->acks, 0);
	INIT_WORK(&vb->config_work, mb_virtio_config_work);
	INIT_DELAYED_WORK(&vb->stats_work, mb_virtio_stats_work);
	spin_lock_init(&vb->stop_lock);
	vb->stop = true;	/* until attached */
	vdev->priv = vb;

	err = mb_virtio_init_vqs(vb);
	if (err)
		goto out_free_stats;

	virtio_device_ready(vdev);
	err = mb_virtio_attach(vb);
	if (err) {
		dev_err(&vdev->dev, "another transport is bound (%d)\n", err);
		mb_transport_declined(MEMBALLOON_TRANSPORT_VIRTIO,
				      MEMBALLOON_DECLINED_BUSY, err);
		goto out_reset;
	}
	dev_info(&vdev->dev, "bound, features %#llx\n", vdev->features);
	return 0;

out_reset:
	virtio_reset_device(vdev);
	vdev->config->del_vqs(vdev);
out_free_stats:
	kfree(vb->stats_buf);
out_free_pfns:
	kfree(vb->pfns);
out_free_vb:
	kfree(vb);
	vdev->priv = NULL;
out_unclaim:
	clear_bit(0, &mb_virtio_claimed);
	return err;
}

/*
 * Quiesce a device that stopped answering before its pages are released:
 * after the reset it forgets every buffer, so no late processing can
 * discard a page the guest uses again.  A step still waiting for it gives
 * up within MB_ACK_POLL_MS once the queue is broken, or at its timeout.
 */
static void mb_virtio_quiesce_broken(struct mb_virtio *vb)
{
	struct memballoon *mb = &mb_balloon;
	bool broken;

	mutex_lock(&mb->lock);
	broken = mb_virtio_broken(vb) || virtqueue_is_broken(vb->inflate_vq);
	mutex_unlock(&mb->lock);
	if (!broken)
		return;
	/* Config I/O: outside mb->lock.  Broken: nothing is sent anymore. */
	virtio_reset_device(vb->vdev);
	mutex_lock(&mb->lock);
	WRITE_ONCE(vb->broken, true);
	WRITE_ONCE(vb->gone, true);
	mutex_unlock(&mb->lock);
}

static void mb_virtio_remove(struct virtio_device *vdev)
{
	struct mb_virtio *vb = vdev->priv;

	mb_virtio_quiesce_broken(vb);
	mb_virtio_detach(vb);
	if (!vb->gone)
		virtio_reset_device(vdev);
	vdev->config->del_vqs(vdev);
	kfree(vb->stats_buf);
	kfree(vb->pfns);
	kfree(vb);
	clear_bit(0, &mb_virtio_claimed);
}

#ifdef CONFIG_PM_SLEEP
/* Like the stock driver, suspend returns the balloon. */
static int mb_virtio_freeze(struct virtio_device *vdev)
{
	struct mb_virtio *vb = vdev->priv;

	mb_virtio_quiesce_broken(vb);
	mb_virtio_detach(vb);
	if (!vb->gone)
		virtio_reset_device(vdev);
	vdev->config->del_vqs(vdev);
	return 0;
}

static int mb_virtio_restore(struct virtio_device *vdev)
{
	struct mb_virtio *vb = vdev->priv;
	int err;

	err = mb_virtio_init_vqs(vb);
	if (err)
		return err;
	virtio_device_ready(vdev);
	return mb_virtio_attach(vb);
}
#endif

static int mb_virtio_validate(struct virtio_device *vdev)
{
	/*
	 * As the stock driver: without indirect descriptors adding a
	 * buffer never allocates (see mb_virtio_tell()), and PFNs are
	 * guest-physical, never translated by an IOMMU.
	 */
	__virtio_clear_bit(vdev, VIRTIO_RING_F_INDIRECT_DESC);
	__virtio_clear_bit(vdev, VIRTIO_F_ACCESS_PLATFORM);
	return 0;
}

/*
 * Every bit we ever pass to virtio_has_feature() must be listed here:
 * on 6.1 testing an unlisted bit is a BUG().  FREE_PAGE_HINT, PAGE_POISON
 * and REPORTING are not used, so they are not negotiated.
 */
static unsigned int mb_virtio_features_table[] = {
	VIRTIO_BALLOON_F_MUST_TELL_HOST,
	VIRTIO_BALLOON_F_STATS_VQ,
	VIRTIO_BALLOON_F_DEFLATE_ON_OOM,
};

static const struct virtio_device_id mb_virtio_ids[] = {
	{ VIRTIO_ID_BALLOON, VIRTIO_DEV_ANY_ID },
	{ 0 },
};
MODULE_DEVICE_TABLE(virtio, mb_virtio_ids);

static struct virtio_driver mb_virtio_driver = {
	.feature_table		= mb_virtio_features_table,
	.feature_table_size	= ARRAY_SIZE(mb_virtio_features_table),
	.driver.name		= KBUILD_MODNAME,
	.driver.owner		= THIS_MODULE,
	.id_table		= mb_virtio_ids,
	.validate		= mb_virtio_validate,
	.probe			= mb_virtio_probe,
	.remove			= mb_virtio_remove,
	.config_changed		= mb_virtio_config_changed,
#ifdef CONFIG_PM_SLEEP
	.freeze			= mb_virtio_freeze,
	.restore		= mb_virtio_restore,
#endif
};

int mb_virtio_register(void)
{
	return register_virtio_driver(&mb_virtio_driver);
}

void mb_virtio_unregister(void)
{
	unregister_virtio_driver(&mb_virtio_driver);
}
