/* SPDX-License-Identifier: GPL-2.0 */
/*
 * memballoon: the pSeries cooperative memory overcommit (CMO) transport's
 * view of the hypervisor, shared by cmm.c and the test suite's fake host
 * (tests/vm/fakehost/fake_cmm.c).  Only built where CONFIG_PPC_PSERIES.
 */
#ifndef _MEMBALLOON_CMM_H
#define _MEMBALLOON_CMM_H

#include <linux/types.h>
#include <asm/hvcall.h>

/*
 * The CMO page size in bytes: the unit of H_PAGE_INIT.  Exported by the
 * pSeries platform (arch/powerpc/platforms/pseries/setup.c, read from the
 * device tree at boot) but declared only in its private pseries.h.
 */
extern unsigned long CMO_PageSize;

/**
 * struct mb_cmm_hv_ops - the hypervisor calls the cmm transport makes
 * @has_cmo:	whether the platform offers CMO (FW_FEATURE_CMO)
 * @get_mpp:	H_GET_MPP: fill @mpp; returns the hcall's status (H_SUCCESS,
 *		H_BUSY or H_LONG_BUSY_*: call again later, else an error)
 * @page_init:	H_PAGE_INIT with @flags (H_PAGE_SET_LOANED or
 *		H_PAGE_SET_ACTIVE) on the CMO page at real address @addr;
 *		returns the hcall's status like @get_mpp
 * @cmo_page_size: bytes per CMO page, the unit of @page_init
 *
 * The real instance makes the hcalls; the test suite registers a fake
 * one with mb_cmm_use_fake_hv().  Every call may be made with the
 * balloon's lock held: none may sleep for long or allocate memory.
 */
struct mb_cmm_hv_ops {
	bool (*has_cmo)(void);
	long (*get_mpp)(struct hvcall_mpp_data *mpp);
	long (*page_init)(unsigned long flags, unsigned long addr);
	unsigned long (*cmo_page_size)(void);
};

#ifdef MB_TEST_HOOKS
/**
 * mb_cmm_use_fake_hv() - bind the cmm transport to a fake hypervisor
 * @ops: the fake's calls; must stay valid until mb_cmm_drop_fake_hv()
 *
 * Detaches the current cmm binding, if any (its pages go back through the
 * old ops), and probes again with @ops, exactly as at module load.
 *
 * Return: 0 when the transport bound; otherwise the probe declined, the
 * decline is recorded for GET_STATE and this returns why: -ENODEV (no
 * CMO), -EPROTO (unusable CMO page size), -EIO (H_GET_MPP failed), -EBUSY
 * (another transport is bound), or -EINVAL for incomplete @ops.
 */
int mb_cmm_use_fake_hv(const struct mb_cmm_hv_ops *ops);

/**
 * mb_cmm_drop_fake_hv() - forget the fake hypervisor
 *
 * Detaches the cmm binding, if any (pages go back through the fake), and
 * probes the real hypervisor again.  No fake call is made afterwards.
 */
void mb_cmm_drop_fake_hv(void);
#endif

#endif /* _MEMBALLOON_CMM_H */
