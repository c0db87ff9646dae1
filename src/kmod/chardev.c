// SPDX-License-Identifier: GPL-2.0
/*
 * memballoon: /dev/memballoon, the daemon's handle on the shim.
 *
 * See include/uapi/linux/memballoon.h for the contract.  Every ioctl copies
 * and validates its whole argument before it acts, and no ioctl touches
 * user memory while holding mb->lock.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/capability.h>
#include <linux/compat.h>
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/poll.h>
#include <linux/uaccess.h>

#include "shim.h"

#define MB_IOCTLS	(BIT_ULL(_IOC_NR(MEMBALLOON_GET_API)) |		\
			 BIT_ULL(_IOC_NR(MEMBALLOON_GET_STATE)) |	\
			 BIT_ULL(_IOC_NR(MEMBALLOON_INFLATE)) |		\
			 BIT_ULL(_IOC_NR(MEMBALLOON_DEFLATE)) |		\
			 BIT_ULL(_IOC_NR(MEMBALLOON_SET_STATS)) |	\
			 BIT_ULL(_IOC_NR(MEMBALLOON_SET_OOM)) |		\
			 BIT_ULL(_IOC_NR(MEMBALLOON_SIM_SET_TARGET)))

/* Every argument struct begins like this. */
struct mb_arg_head {
	__u32 argsz;
	__u32 flags;
};

/*
 * Copy an argument struct in.  @ksize is what this module knows, @minsz
 * the size of the struct's first version.  argsz must lie between @minsz
 * and MEMBALLOON_ARGSZ_MAX (-EINVAL); bytes beyond @ksize must be zero
 * (-E2BIG), and bytes of ours beyond argsz read as zero.  flags must be 0
 * (-EINVAL): no flags are defined yet.
 *
 * Return: argsz (> 0), or a negative errno.
 */
static int mb_copy_arg_sized(void *karg, size_t ksize, size_t minsz,
			     void __user *uarg)
{
	const struct mb_arg_head *head = karg;
	u32 argsz;
	int err;

	if (get_user(argsz, (u32 __user *)uarg))
		return -EFAULT;
	if (argsz < minsz || argsz > MEMBALLOON_ARGSZ_MAX)
		return -EINVAL;
	err = copy_struct_from_user(karg, ksize, uarg, argsz);
	if (err)
		return err;
	if (head->flags)
		return -EINVAL;
	return argsz;
}

/* For structs that have only one version so far. */
static int mb_copy_arg(void *karg, size_t ksize, void __user *uarg)
{
	int ret = mb_copy_arg_sized(karg, ksize, ksize, uarg);

	return ret < 0 ? ret : 0;
}

static long mb_get_api(void __user *uarg)
{
	struct memballoon_api api;
	int err;

	err = mb_copy_arg(&api, sizeof(api), uarg);
	if (err)
		return err;

	api.api_version = MEMBALLOON_API_VERSION;
	api.page_size = PAGE_SIZE;
	api.features = MEMBALLOON_FEAT_SIMULATE | MEMBALLOON_FEAT_VIRTIO |
		       MEMBALLOON_FEAT_OOM_NOTIFIER | MEMBALLOON_FEAT_STATE_V2 |
		       MEMBALLOON_FEAT_STATS_16 | MEMBALLOON_FEAT_STATS_HOLD |
		       MEMBALLOON_FEAT_STATE_V3;
	if (IS_ENABLED(CONFIG_PPC_PSERIES))
		api.features |= MEMBALLOON_FEAT_CMM;
	if (IS_ENABLED(CONFIG_X86_64))
		api.features |= MEMBALLOON_FEAT_VMWARE;
	if (MB_PAGES_MOVABLE)
		api.features |= MEMBALLOON_FEAT_COMPACTION;
	if (IS_ENABLED(CONFIG_MEMORY_HOTPLUG))
		api.features |= MEMBALLOON_FEAT_MEMORY_NOTIFIER;
	api.ioctls = MB_IOCTLS;
	api.max_batch_pages = MB_MAX_BATCH_PAGES;
	api.event_size = sizeof(struct memballoon_event);

	return copy_to_user(uarg, &api, sizeof(api)) ? -EFAULT : 0;
}

/*
 * Version 1 callers pass argsz MEMBALLOON_STATE_SIZE_V1 and get exactly
 * that many bytes back; larger ones get what both sides know.
 */
static long mb_get_state(struct memballoon *mb, void __user *uarg)
{
	struct memballoon_state st;
	struct mb_transport *tp;
	int argsz;

	argsz = mb_copy_arg_sized(&st, sizeof(st), MEMBALLOON_STATE_SIZE_V1,
				  uarg);
	if (argsz < 0)
		return argsz;
	if (st.reserved0 || st.reserved1)
		return -EINVAL;

	mutex_lock(&mb->lock);
	tp = mb->tp;
	st.state_flags = 0;
	if (mb->in_totalram)
		st.state_flags |= MEMBALLOON_STATE_F_BALLOON_IN_TOTALRAM;
	if (tp->ops->broken(tp))
		st.state_flags |= MEMBALLOON_STATE_F_HOST_BROKEN;
	if (tp->ops->deflate_on_oom(tp))
		st.state_flags |= MEMBALLOON_STATE_F_DEFLATE_BELOW_TARGET;
	st.transport = tp->ops->transport;
	st.host_features = tp->ops->features(tp);
	st.target_pages = tp->ops->host_target ? mb->host_target :
						 mb->sim_target;
	st.actual_pages = mb->nr_pages;
	st.total_ram_pages = totalram_pages();
	st.oom_freed_pages = mb->oom_freed_pages;
	st.oom_events = mb->oom_events;
	st.migrations = mb->migrations;
	st.inflate_failures = mb->inflate_failures;
	st.declined_transport = mb->declined_transport;
	st.declined_reason = mb->declined_reason;
	st.declined_error = mb->declined_error;
	st.refused_pages = mb->refused_pages;
	st.host_page_size = PAGE_SIZE;
	st.transport_flags = 0;
	st.host_resets = 0;
	if (tp->ops->facts)
		tp->ops->facts(tp, &st);
	mutex_unlock(&mb->lock);
	st.oom_nr_pages = READ_ONCE(mb->oom_nr_pages);
	st.events_dropped = mb_events_dropped(mb);
	st.oom_busy = atomic64_read(&mb->oom_lock_missed);
	spin_lock_irq(&mb->stats_lock);
	st.stats_requests = mb->stats_requests;
	st.stats_late = mb->stats_late;
	spin_unlock_irq(&mb->stats_lock);

	return copy_to_user(uarg, &st, min_t(size_t, argsz, sizeof(st))) ?
	       -EFAULT : 0;
}

static long mb_batch(struct memballoon *mb, void __user *uarg, bool inflate)
{
	struct memballoon_batch b;
	int err;

	err = mb_copy_arg(&b, sizeof(b), uarg);
	if (err)
		return err;
	if (b.reserved0)
		return -EINVAL;
	if (b.nr_pages < 1 || b.nr_pages > MB_MAX_BATCH_PAGES)
		return -EINVAL;
	/*
	 * The result goes back through @uarg: make sure it can be written
	 * before anything moves (writing back the bytes just read changes
	 * nothing), so that a -EFAULT never hides a step that was taken.
	 */
	if (copy_to_user(uarg, &b, sizeof(b)))
		return -EFAULT;

	err = inflate ? mb_inflate(mb, &b) : mb_deflate(mb, &b);
	if (err)
		return err;

	return copy_to_user(uarg, &b, sizeof(b)) ? -EFAULT : 0;
}

static long mb_set_stats(struct memballoon *mb, void __user *uarg)
{
	struct memballoon_stats s;	/* 272 bytes */
	unsigned long seen = 0;
	int err;
	u32 i;

	err = mb_copy_arg(&s, sizeof(s), uarg);
	if (err)
		return err;
	if (s.reserved0 || s.nr_stats > MEMBALLOON_MAX_STATS)
		return -EINVAL;
	for (i = 0; i < MEMBALLOON_MAX_STATS; i++) {
		const struct memballoon_stat *st = &s.stats[i];

		if (st->reserved)
			return -EINVAL;
		if (i >= s.nr_stats) {
			/* Unused entries must be all zero. */
			if (st->tag || st->val)
				return -EINVAL;
			continue;
		}
		/* Known tags only, each at most once. */
		if (st->tag >= MEMBALLOON_S_NR || (seen & BIT(st->tag)))
			return -EINVAL;
		seen |= BIT(st->tag);
	}

	spin_lock_irq(&mb->stats_lock);
	memcpy(mb->stats, s.stats, sizeof(mb->stats));
	mb->nr_stats = s.nr_stats;
	mb->stats_gen++;
	spin_unlock_irq(&mb->stats_lock);

	mutex_lock(&mb->lock);
	mb->tp->ops->stats_changed(mb->tp);
	mutex_unlock(&mb->lock);
	return 0;
}

static long mb_set_oom(struct memballoon *mb, void __user *uarg)
{
	struct memballoon_oom o;
	int err;

	err = mb_copy_arg(&o, sizeof(o), uarg);
	if (err)
		return err;
	if (o.nr_pages > (MEMBALLOON_OOM_MAX_BYTES >> PAGE_SHIFT))
		return -EINVAL;

	WRITE_ONCE(mb->oom_nr_pages, o.nr_pages);
	return 0;
}

static long mb_sim_set_target(struct memballoon *mb, void __user *uarg)
{
	struct memballoon_sim_target t;
	long err = 0;
	int ret;

	ret = mb_copy_arg(&t, sizeof(t), uarg);
	if (ret)
		return ret;

	mutex_lock(&mb->lock);
	if (mb->tp->ops->host_target)
		err = -EOPNOTSUPP;	/* the host owns the target */
	else if (t.target_pages > mb_guest_ram_pages(mb))
		err = -EINVAL;
	else
		mb->sim_target = t.target_pages;
	/*
	 * Under the lock: a device attaching right after must not have its
	 * TARGET event overwritten by this stale one (events coalesce).
	 */
	if (!err)
		mb_queue_event(mb, MEMBALLOON_EVENT_TARGET, t.target_pages);
	mutex_unlock(&mb->lock);
	return err;
}

static long mb_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct memballoon *mb = &mb_balloon;
	void __user *uarg = (void __user *)arg;
	bool writer = file->f_mode & FMODE_WRITE;

	/*
	 * GET_STATE grew twice, and builds of the uapi header before
	 * MEMBALLOON_FEAT_STATE_V3 encoded the whole struct's size in its
	 * number: take any size from version 1's up, argsz decides.
	 */
	if (_IOC_TYPE(cmd) == MEMBALLOON_IOC_MAGIC &&
	    _IOC_NR(cmd) == _IOC_NR(MEMBALLOON_GET_STATE) &&
	    _IOC_DIR(cmd) == (_IOC_READ | _IOC_WRITE) &&
	    _IOC_SIZE(cmd) >= MEMBALLOON_STATE_SIZE_V1)
		cmd = MEMBALLOON_GET_STATE;

	switch (cmd) {
	case MEMBALLOON_GET_API:
		return mb_get_api(uarg);
	case MEMBALLOON_GET_STATE:
		return mb_get_state(mb, uarg);
	case MEMBALLOON_INFLATE:
		return writer ? mb_batch(mb, uarg, true) : -EBADF;
	case MEMBALLOON_DEFLATE:
		return writer ? mb_batch(mb, uarg, false) : -EBADF;
	case MEMBALLOON_SET_STATS:
		return writer ? mb_set_stats(mb, uarg) : -EBADF;
	case MEMBALLOON_SET_OOM:
		return writer ? mb_set_oom(mb, uarg) : -EBADF;
	case MEMBALLOON_SIM_SET_TARGET:
		return writer ? mb_sim_set_target(mb, uarg) : -EBADF;
	default:
		return -ENOTTY;
	}
}

/*
 * read(): whole event records only, oldest first.  Blocks (interruptibly)
 * until at least one event is queued unless O_NONBLOCK.
 */
static ssize_t mb_read(struct file *file, char __user *buf, size_t count,
		       loff_t *ppos)
{
	struct memballoon *mb = &mb_balloon;
	struct memballoon_event evs[8];
	const size_t sz = sizeof(evs[0]);
	size_t max = count / sz, done = 0;
	unsigned int n;
	int err;

	if (!(file->f_mode & FMODE_WRITE))
		return -EBADF;
	if (!max)
		return -EINVAL;

	while (done < max) {
		n = mb_pop_events(mb, evs, min_t(size_t, max - done,
						 ARRAY_SIZE(evs)));
		if (!n) {
			if (done)
				break;
			if (file->f_flags & O_NONBLOCK)
				return -EAGAIN;
			err = wait_event_interruptible(mb->ev_wait,
						       mb_events_pending(mb));
			if (err)
				return err;
			continue;
		}
		/* Events popped but not delivered are lost, like a pipe's. */
		if (copy_to_user(buf + done * sz, evs, n * sz))
			return done ? done * sz : -EFAULT;
		done += n;
	}
	return done * sz;
}

/* Only the writer reads events; anyone else gets EPOLLERR. */
static __poll_t mb_poll(struct file *file, poll_table *wait)
{
	struct memballoon *mb = &mb_balloon;

	if (!(file->f_mode & FMODE_WRITE))
		return EPOLLERR;
	poll_wait(file, &mb->ev_wait, wait);
	return mb_events_pending(mb) ? EPOLLIN | EPOLLRDNORM : 0;
}

static int mb_open(struct inode *inode, struct file *file)
{
	struct memballoon *mb = &mb_balloon;
	int err;

	if (!capable(CAP_SYS_ADMIN))
		return -EPERM;
	err = stream_open(inode, file);
	if (err)
		return err;
	if ((file->f_mode & FMODE_WRITE) && test_and_set_bit(0, &mb->writer_busy))
		return -EBUSY;
	return 0;
}

/* The balloon stays as it is: the next writer resyncs from GET_STATE. */
static int mb_release(struct inode *inode, struct file *file)
{
	if (file->f_mode & FMODE_WRITE)
		clear_bit(0, &mb_balloon.writer_busy);
	return 0;
}

static const struct file_operations mb_fops = {
	.owner		= THIS_MODULE,
	.open		= mb_open,
	.release	= mb_release,
	.read		= mb_read,
	.poll		= mb_poll,
	.unlocked_ioctl	= mb_ioctl,
	.compat_ioctl	= compat_ptr_ioctl,
};

static struct miscdevice mb_miscdev = {
	.minor	= MISC_DYNAMIC_MINOR,
	.name	= MEMBALLOON_DEVICE_NAME,
	.fops	= &mb_fops,
	.mode	= 0600,
};

int mb_chardev_register(void)
{
	return misc_register(&mb_miscdev);
}

void mb_chardev_unregister(void)
{
	misc_deregister(&mb_miscdev);
}
