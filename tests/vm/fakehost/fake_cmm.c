// SPDX-License-Identifier: GPL-2.0
/*
 * memballoon_fakehost: a pSeries hypervisor with cooperative memory
 * overcommit, for the shim's cmm transport (src/kmod/cmm.c) in tests/vm.
 * QEMU's pseries machine has no CMO (no H_GET_MPP, H_PAGE_INIT refuses
 * loans, FW_FEATURE_CMO never set), so the tests put this behind the
 * transport through mb_cmm_use_fake_hv() of a MB_TEST_HOOKS build.
 *
 * The host's side: which CMO pages are lent (one bit per 4 KiB of guest
 * physical address space), and how many bytes it wants lent
 * (cmm_target_bytes).  H_GET_MPP answers, like PAPR's, with what it wants
 * in addition to what it holds.  Every H_PAGE_INIT is checked: a call on
 * an unaligned or out-of-range address, a loan of a page already lent or
 * a return of one that is not counts as an anomaly (the tests require
 * none).
 *
 * Controls, /sys/module/memballoon_fakehost/parameters/cmm_*:
 *   has_cmo		the platform offers CMO (default 1)
 *   page_size		CMO page size reported (default 4096)
 *   target_bytes	bytes the host wants lent (any value: negative and
 *			unaligned ones are the tests' garbage)
 *   mpp_error		non-zero: H_GET_MPP fails with this status
 *   stall		the host stops answering: every call says long busy
 *   refuse_every	N: every Nth H_PAGE_SET_LOANED call is refused
 *   refuse_active_every N: every Nth H_PAGE_SET_ACTIVE call is refused
 *   max_ram_mib	address space tracked (read-only, set at load)
 *   reprobe		write 1: (re)bind the transport to this host, 0: drop
 *			it (the real hypervisor is probed again); reads the
 *			last bind result (0 bound, else -errno)
 * Views, /sys/kernel/debug/memballoon_fakehost/:
 *   cmm_stats		one line of key=value counters
 *   cmm_loaned		"units U unit B pages P partial Q", then one line
 *			"PFN UNITS" per kernel page with any CMO page lent
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": cmm: " fmt

#include <linux/debugfs.h>
#include <linux/bitmap.h>
#include <linux/kernel.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/overflow.h>
#include <linux/seq_file.h>
#include <linux/spinlock.h>
#include <linux/vmalloc.h>

#include "cmm.h"

/* The bitmap's granule: PAPR's smallest CMO page. */
#define FAKE_GRANULE_SHIFT	12

static bool cmm_has_cmo = true;
module_param(cmm_has_cmo, bool, 0644);
MODULE_PARM_DESC(cmm_has_cmo, "the platform offers CMO");

static ulong cmm_page_size = 4096;
module_param(cmm_page_size, ulong, 0644);
MODULE_PARM_DESC(cmm_page_size, "CMO page size reported, bytes");

static long cmm_target_bytes;
module_param(cmm_target_bytes, long, 0644);
MODULE_PARM_DESC(cmm_target_bytes, "bytes the host wants lent");

static long cmm_mpp_error;
module_param(cmm_mpp_error, long, 0644);
MODULE_PARM_DESC(cmm_mpp_error, "non-zero: H_GET_MPP returns this");

static bool cmm_stall;
module_param(cmm_stall, bool, 0644);
MODULE_PARM_DESC(cmm_stall, "every call answers long busy");

static uint cmm_refuse_every;
module_param(cmm_refuse_every, uint, 0644);
MODULE_PARM_DESC(cmm_refuse_every, "refuse every Nth H_PAGE_SET_LOANED");

static uint cmm_refuse_active_every;
module_param(cmm_refuse_active_every, uint, 0644);
MODULE_PARM_DESC(cmm_refuse_active_every, "refuse every Nth H_PAGE_SET_ACTIVE");

static uint cmm_max_ram_mib = 4096;
module_param(cmm_max_ram_mib, uint, 0444);
MODULE_PARM_DESC(cmm_max_ram_mib, "guest physical address space tracked, MiB");

/**
 * struct fake_cmm - the host's side
 * @lock:	protects everything below
 * @lent:	one bit per 4 KiB granule: a CMO page starting there is lent
 * @nbits:	bits in @lent
 * @unit:	the CMO page size last reported (the transport's unit)
 * @units:	CMO pages lent
 * @get_mpp, @loans, @actives: calls so far
 * @refused_loans, @refused_actives: calls refused by fault injection
 * @busy:	calls answered long busy (@cmm_stall)
 * @anomalies:	calls the protocol does not allow (see the top)
 * @bind_result: what the last mb_cmm_use_fake_hv() returned
 * @ready:	@lent exists: the reprobe control may bind
 */
static struct fake_cmm {
	spinlock_t lock;	/* see above */
	unsigned long *lent;
	unsigned long nbits;
	unsigned long unit;
	unsigned long units;
	u64 get_mpp, loans, actives;
	u64 refused_loans, refused_actives, busy, anomalies;
	int bind_result;
	bool ready;
} fc = {
	.lock = __SPIN_LOCK_UNLOCKED(fc.lock),
	.unit = 4096,
	.bind_result = -ENODEV,
};

static struct dentry *fake_dir;

static void fake_anomaly(const char *what, unsigned long flags,
			 unsigned long addr)
{
	fc.anomalies++;
	pr_err_ratelimited("protocol anomaly: %s (flags %#lx, addr %#lx)\n",
			   what, flags, addr);
}

static bool fake_has_cmo(void)
{
	return READ_ONCE(cmm_has_cmo);
}

static unsigned long fake_cmo_page_size(void)
{
	unsigned long unit = READ_ONCE(cmm_page_size);
	unsigned long flags;

	spin_lock_irqsave(&fc.lock, flags);
	fc.unit = unit;
	spin_unlock_irqrestore(&fc.lock, flags);
	return unit;
}

static long fake_get_mpp(struct hvcall_mpp_data *mpp)
{
	long err = READ_ONCE(cmm_mpp_error);
	unsigned long flags;
	long lent, want;

	spin_lock_irqsave(&fc.lock, flags);
	fc.get_mpp++;
	if (READ_ONCE(cmm_stall)) {
		fc.busy++;
		spin_unlock_irqrestore(&fc.lock, flags);
		return H_LONG_BUSY_ORDER_10_MSEC;
	}
	lent = fc.units * fc.unit;
	spin_unlock_irqrestore(&fc.lock, flags);
	if (err)
		return err;

	memset(mpp, 0, sizeof(*mpp));
	mpp->entitled_mem = (unsigned long)cmm_max_ram_mib << 20;
	mpp->mapped_mem = mpp->entitled_mem - lent;
	/* PAPR: the request is on top of what is lent already. */
	if (check_sub_overflow(READ_ONCE(cmm_target_bytes), lent, &want))
		want = LONG_MIN;
	mpp->loan_request = want;
	mpp->backing_mem = mpp->mapped_mem;
	return H_SUCCESS;
}

static long fake_page_init(unsigned long flags, unsigned long addr)
{
	unsigned int every;
	unsigned long irq, bit;
	long rc = H_SUCCESS;

	spin_lock_irqsave(&fc.lock, irq);
	if (READ_ONCE(cmm_stall)) {
		fc.busy++;
		rc = H_LONG_BUSY_ORDER_10_MSEC;
		goto out;
	}
	bit = addr >> FAKE_GRANULE_SHIFT;
	if (flags != H_PAGE_SET_LOANED && flags != H_PAGE_SET_ACTIVE) {
		fake_anomaly("unknown H_PAGE_INIT flags", flags, addr);
		rc = H_PARAMETER;
		goto out;
	}
	if (addr & (fc.unit - 1) || bit >= fc.nbits) {
		fake_anomaly("unaligned or out-of-range address", flags, addr);
		rc = H_PARAMETER;
		goto out;
	}
	if (flags == H_PAGE_SET_LOANED) {
		every = READ_ONCE(cmm_refuse_every);
		if (every && ++fc.loans % every == 0) {
			fc.refused_loans++;
			rc = H_NOT_ENOUGH_RESOURCES;
			goto out;
		}
		if (!every)
			fc.loans++;
		if (__test_and_set_bit(bit, fc.lent))
			fake_anomaly("page lent twice", flags, addr);
		else
			fc.units++;
	} else {
		every = READ_ONCE(cmm_refuse_active_every);
		if (every && ++fc.actives % every == 0) {
			fc.refused_actives++;
			rc = H_NOT_ENOUGH_RESOURCES;
			goto out;
		}
		if (!every)
			fc.actives++;
		if (!__test_and_clear_bit(bit, fc.lent))
			fake_anomaly("page returned that was not lent", flags,
				     addr);
		else
			fc.units--;
	}
out:
	spin_unlock_irqrestore(&fc.lock, irq);
	return rc;
}

static const struct mb_cmm_hv_ops fake_hv = {
	.has_cmo	= fake_has_cmo,
	.get_mpp	= fake_get_mpp,
	.page_init	= fake_page_init,
	.cmo_page_size	= fake_cmo_page_size,
};

/* ---- controls and views ------------------------------------------------ */

static int fake_reprobe_set(const char *val, const struct kernel_param *kp)
{
	bool bind;
	int err;

	err = kstrtobool(val, &bind);
	if (err)
		return err;
	if (!READ_ONCE(fc.ready))
		return -EAGAIN;
	if (bind) {
		fc.bind_result = mb_cmm_use_fake_hv(&fake_hv);
	} else {
		mb_cmm_drop_fake_hv();
		fc.bind_result = -ENODEV;
	}
	pr_info("reprobe %d: bind result %d\n", bind, fc.bind_result);
	return 0;
}

static int fake_reprobe_get(char *buf, const struct kernel_param *kp)
{
	return sysfs_emit(buf, "%d\n", fc.bind_result);
}

static const struct kernel_param_ops fake_reprobe_ops = {
	.set = fake_reprobe_set,
	.get = fake_reprobe_get,
};
module_param_cb(cmm_reprobe, &fake_reprobe_ops, NULL, 0644);
MODULE_PARM_DESC(cmm_reprobe, "1: bind the transport to this host, 0: drop it");

static int fake_stats_show(struct seq_file *m, void *v)
{
	unsigned long flags;

	spin_lock_irqsave(&fc.lock, flags);
	seq_printf(m, "units=%lu unit=%lu lent_bytes=%lu get_mpp=%llu loans=%llu actives=%llu refused_loans=%llu refused_actives=%llu busy=%llu anomalies=%llu bind=%d\n",
		   fc.units, fc.unit, fc.units * fc.unit, fc.get_mpp, fc.loans,
		   fc.actives, fc.refused_loans, fc.refused_actives, fc.busy,
		   fc.anomalies, fc.bind_result);
	spin_unlock_irqrestore(&fc.lock, flags);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(fake_stats);

/*
 * The lent set by kernel page, for comparison with the guest's balloon
 * pages (/proc/kpageflags KPF_OFFLINE): a page the transport lent whole
 * has PAGE_SIZE / unit CMO pages lent; anything less is "partial".
 */
static int fake_loaned_show(struct seq_file *m, void *v)
{
	const unsigned long per = PAGE_SIZE >> FAKE_GRANULE_SHIFT;
	unsigned long flags, bit, pfn = 0, i, n, pages = 0, partial = 0;

	spin_lock_irqsave(&fc.lock, flags);
	for (bit = find_first_bit(fc.lent, fc.nbits); bit < fc.nbits;
	     bit = find_next_bit(fc.lent, fc.nbits, (pfn + 1) * per)) {
		pfn = bit / per;
		for (i = 0, n = 0; i < per; i++)
			n += test_bit(pfn * per + i, fc.lent);
		pages++;
		partial += n != PAGE_SIZE / fc.unit;
	}
	seq_printf(m, "units %lu unit %lu pages %lu partial %lu\n", fc.units,
		   fc.unit, pages, partial);
	for (bit = find_first_bit(fc.lent, fc.nbits); bit < fc.nbits;
	     bit = find_next_bit(fc.lent, fc.nbits, (pfn + 1) * per)) {
		pfn = bit / per;
		for (i = 0, n = 0; i < per; i++)
			n += test_bit(pfn * per + i, fc.lent);
		seq_printf(m, "%lu %lu\n", pfn, n);
	}
	spin_unlock_irqrestore(&fc.lock, flags);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(fake_loaned);

static int __init fake_cmm_init(void)
{
	fc.nbits = (unsigned long)cmm_max_ram_mib << (20 - FAKE_GRANULE_SHIFT);
	fc.lent = vzalloc(BITS_TO_LONGS(fc.nbits) * sizeof(long));
	if (!fc.lent)
		return -ENOMEM;
	fake_dir = debugfs_create_dir(KBUILD_MODNAME, NULL);
	debugfs_create_file("cmm_stats", 0444, fake_dir, NULL, &fake_stats_fops);
	debugfs_create_file("cmm_loaned", 0444, fake_dir, NULL,
			    &fake_loaned_fops);
	WRITE_ONCE(fc.ready, true);
	fc.bind_result = mb_cmm_use_fake_hv(&fake_hv);
	pr_info("fake CMO hypervisor loaded: bind result %d\n", fc.bind_result);
	return 0;
}

static void __exit fake_cmm_exit(void)
{
	/* Pages go back through us; no call comes after this. */
	mb_cmm_drop_fake_hv();
	pr_info("fake CMO hypervisor unloaded: %lu CMO pages still lent, %llu anomalies\n",
		fc.units, fc.anomalies);
	debugfs_remove_recursive(fake_dir);
	vfree(fc.lent);
}

module_init(fake_cmm_init);
module_exit(fake_cmm_exit);

MODULE_DESCRIPTION("memballoon tests: a fake pSeries CMO hypervisor");
MODULE_LICENSE("GPL");
