# SPDX-License-Identifier: GPL-2.0-or-later
"""VM scenarios for the shim's pSeries CMO transport, src/kmod/cmm.c
(imported by harness.py; ppc64el only, see arches.unavailable()).

QEMU's pseries machine has no cooperative memory overcommit: no H_GET_MPP,
H_PAGE_INIT refuses loans, FW_FEATURE_CMO is never set.  So cmm-refused
checks that the transport declines there (and that virtio keeps working),
and cmm-fakehost puts tests/vm/fakehost/fake_cmm.c, a fake hypervisor,
behind the transport through the shim's test hooks (memballoon-hooks.ko,
the MB_TEST_HOOKS=1 build) and compares the fake host's lent pages with
the shim's balloon after every step.  Both guests load the modules
themselves (load='none'), to choose when each one comes.
"""

from harness import BAL, boot, expect_actual, log, scenario


@scenario('cmm-refused', 'pSeries without CMO: cmm declines (GET_STATE v3 NO_CMO), virtio '
          'round trips work; the fake host then shows REFUSED (H_GET_MPP error), BUSY '
          '(virtio bound) and BAD_ANSWER (CMO page size)', fakehost=True)
def sc_cmm_refused(env):
    boot(env, 'cmm-refused', load='none', devices=[BAL], timeout=300,
         body=lambda g: g.serve({
             'virtio': lambda g, args: expect_actual(g, int(args[0]), 'virtio fallback')}))


@scenario('cmm-fakehost', 'fake CMO host: loan/reclaim by its loan request, odd and '
          'negative requests, refused loans and returns, a request above RAM clamped, '
          'H_GET_MPP errors, compaction and OOM while lent, detach with pages lent, a '
          'host that stops answering; its lent set equals the balloon after every step',
          fakehost=True)
def sc_cmm_fakehost(env):
    g = boot(env, 'cmm-fakehost', load='none', timeout=900)
    log('#   %s: migrations=%s oom_freed=%s MiB' % (
        env.current, g.kv.get('migrations', '?'), g.kv.get('oom_freed_mib', '?')))
