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

import re

import daemon
import hosts
import pressure
from harness import BAL, Fail, boot, expect_actual, log, scenario


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


# --------------------------------------------------------------------------
# memballoond on the fake CMO host (guest/daemon-test, as tests/vm/daemon.py)
# --------------------------------------------------------------------------

FAKE_TARGET = '/sys/module/memballoon_fakehost/parameters/cmm_target_bytes'
# The hooks build reads the loan request every 100 ms (default 1 s).
FAKE_BOOT = dict(load='fakehost', modargs='cmm_poll_ms=100', append='mbt.fakeargs=cmm_target_bytes=0')


def cmm_daemon_scenario(name, doc):
    """A daemon scenario on the fake host: the userspace is built for it
    (daemon.NAMES) and so are the fake host modules."""
    daemon.NAMES.append(name)
    return scenario(name, doc, fakehost=True)


def fake_wants(sh, nbytes):
    sh.run('echo %d > %s' % (nbytes, FAKE_TARGET))


def compare(sh, what):
    """The fake host's lent set equals the balloon (guest: memballoon_test
    cmm-compare, a read-only open next to the daemon's writer)."""
    rc, out = sh.run('memballoon_test cmm-compare %s' % what.replace(' ', '-'), check=False)
    views = [l for l in out.splitlines() if l.startswith('# views')]
    if rc != 0:
        errs = [l for l in out.splitlines() if l.startswith('@@ ERROR')] or out.splitlines()[-1:]
        raise Fail('%s: the fake host and the balloon disagree: %s' % (
            what, (errs or ['?'])[0][:300]))
    return views[0] if views else ''


def check_cmm_state(sh):
    """The fake host bound the cmm transport at load (its last bind result
    is 0)."""
    out = sh.out('cat /sys/module/memballoon_fakehost/parameters/cmm_reprobe').strip()
    if out != '0':
        raise Fail('the fake CMO host did not bind the shim: bind result %s' % out)


FAKE_STATS = '/sys/kernel/debug/memballoon_fakehost/cmm_stats'


class FakeCmmHost(hosts.Host):
    """The host side of daemon.roundtrip(), daemon.floor() and
    pressure.oom_rescue_leg() on the fake CMO host: its loan request plays
    QMP's balloon target, its lent bytes query-balloon's view, and
    memballoon_test cmm-compare checks that the lent set is the balloon.
    CMO lets the guest take pages back under pressure (the shim's cmm
    transport says deflate_on_oom), as deflate-on-oom=on does; lent pages
    leave MemTotal."""
    name = 'cmm'
    boot_timeout = 300

    def boot_kw(self, load='shim'):
        if load != 'shim':
            raise Fail('the fake CMO host runs the shim only (leg load %s)' % load)
        return dict(FAKE_BOOT)

    def bound(self, g, sh):
        check_cmm_state(sh)
        # The fake host's views are in debugfs (memballoon_test mounts it
        # itself; this reads it from the shell).
        sh.run('[ -e %s ] || mount -t debugfs debugfs /sys/kernel/debug' % FAKE_STATS)

    def set_target(self, g, sh, nbytes):
        fake_wants(sh, nbytes)

    def loaned(self, g, sh):
        m = re.search(r'\blent_bytes=(\d+)', sh.out('cat %s' % FAKE_STATS))
        if not m:
            raise Fail('no lent_bytes in %s' % FAKE_STATS)
        return int(m.group(1))

    def agree(self, g, sh, what, nbytes=None):
        views = compare(sh, what)[2:]
        if nbytes is not None and self.loaned(g, sh) != nbytes:
            raise Fail('%s: the fake CMO host has %d bytes lent, expected %d' % (
                what, self.loaned(g, sh), nbytes))
        return views


@cmm_daemon_scenario('daemon-roundtrip-cmm',
                     'memballoond on the fake CMO host: its loan request of 512 MiB is met '
                     'exactly and back to 0; lent set equals the balloon')
def sc_daemon_roundtrip_cmm(env):
    daemon.roundtrip(env, FakeCmmHost())


@cmm_daemon_scenario('daemon-floor-cmm',
                     'min_mem_mb=640, the fake CMO host asks 600 MiB: the balloon stops at the '
                     'floor, says why; lent set equals the balloon')
def sc_daemon_floor_cmm(env):
    daemon.floor(env, FakeCmmHost())


@cmm_daemon_scenario('pressure-oom-rescue-cmm',
                     'pressure-oom-rescue on the fake CMO host (its loan request as the host\'s '
                     'target): no OOM kill, the balloon shrinks; lent set equals the balloon')
def sc_pressure_oom_rescue_cmm(env):
    pressure.oom_rescue_leg(env, 'memballoond', check=pressure.oom_rescue_check(env.current),
                            host=FakeCmmHost())
