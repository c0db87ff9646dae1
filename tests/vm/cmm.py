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
import time

import daemon
import pressure
from daemon import KIB, brief, conf, daemon_boot, idle_at, print_changes
from harness import BAL, MIB, Fail, boot, expect_actual, log, scenario


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


@cmm_daemon_scenario('daemon-roundtrip-cmm',
                     'memballoond on the fake CMO host: its loan request of 512 MiB is met '
                     'exactly and back to 0; lent set equals the balloon')
def sc_daemon_roundtrip_cmm(env):
    def body(g, sh):
        check_cmm_state(sh)
        sh.start_daemon(conf(stats=dict(interval_s=1)))
        st = sh.wait_status(idle_at(0), 'daemon idle at start')
        transport = st['balloon'].get('transport')
        if transport != 'cmm':
            raise Fail('memballoonctl status says transport "%s", expected "cmm"' % transport)
        m0 = sh.meminfo()['MemTotal']
        t0 = time.monotonic()
        fake_wants(sh, 512 * MIB)
        st = sh.wait_status(idle_at(512 * KIB), 'status idle at 512 MiB', timeout=120)
        t_in = time.monotonic() - t0
        b = st['balloon']
        if (b['host_target_kib'], b['target_kib'], b['reason']) != (512 * KIB, 512 * KIB, ''):
            raise Fail('status after inflate: %s' % brief(st))
        m1 = sh.meminfo()['MemTotal']
        if m0 - m1 != 512 * KIB:
            raise Fail('MemTotal %d -> %d kB, expected a drop of exactly 512 MiB' % (m0, m1))
        v1 = compare(sh, 'daemon at 512 MiB')
        t0 = time.monotonic()
        fake_wants(sh, 0)
        sh.wait_status(idle_at(0), 'status idle at 0', timeout=120)
        t_out = time.monotonic() - t0
        if sh.meminfo()['MemTotal'] != m0:
            raise Fail('MemTotal after deflate %d kB, expected %d' % (
                sh.meminfo()['MemTotal'], m0))
        compare(sh, 'daemon at 0')
        log('#   %s: 512 MiB met in %.1f s, back in %.1f s; %s' % (
            env.current, t_in, t_out, v1[2:]))
        print_changes(sh.daemon_log())
        sh.finish()
    daemon_boot(env, body, timeout=300, **FAKE_BOOT)


@cmm_daemon_scenario('daemon-floor-cmm',
                     'min_mem_mb=640, the fake CMO host asks 600 MiB: the balloon stops at the '
                     'floor, says why; lent set equals the balloon')
def sc_daemon_floor_cmm(env):
    floor = 640

    def body(g, sh):
        check_cmm_state(sh)
        sh.start_daemon(conf(balloon=dict(min_mem_mb=floor)))
        st = sh.wait_status(idle_at(0), 'daemon idle at start')
        want = st['balloon']['total_kib'] - floor * KIB
        if want <= 0 or want >= 600 * KIB:
            raise Fail('guest RAM %d KiB does not exercise the floor' % st['balloon']['total_kib'])
        fake_wants(sh, 600 * MIB)
        st = sh.wait_status(idle_at(want), 'balloon at RAM - floor (%d KiB)' % want, timeout=120)
        b = st['balloon']
        if b['host_target_kib'] != 600 * KIB or b['target_kib'] != want:
            raise Fail('status: %s' % brief(st))
        if 'floor' not in b['reason']:
            raise Fail('reason does not mention the floor: "%s"' % b['reason'])
        v = compare(sh, 'daemon at the floor')
        if not re.search(r'would leave less than the floor', sh.daemon_log()):
            raise Fail('no clamp warning in the log')
        log('#   %s: host asked 600 MiB, guest gave %d MiB (RAM %d MiB - floor %d MiB); '
            'reason "%s"; %s' % (env.current, want // KIB, b['total_kib'] // KIB, floor,
                                 b['reason'], v[2:]))
        sh.finish()
    daemon_boot(env, body, timeout=300, **FAKE_BOOT)


FAKE_STATS = '/sys/kernel/debug/memballoon_fakehost/cmm_stats'


class FakeCmmHost(pressure.VirtioHost):
    """pressure.oom_rescue_leg()'s host side on the fake CMO host: its loan
    request plays QMP's balloon target, its lent bytes query-balloon's
    view.  CMO lets the guest take pages back under pressure (the shim's
    cmm transport says deflate_on_oom), as deflate-on-oom=on does."""
    name = 'cmm'

    def boot_kw(self, load):
        if load != 'shim':
            raise Fail('the fake CMO host runs the shim only (leg load %s)' % load)
        return dict(FAKE_BOOT)

    def set_target(self, g, sh, nbytes):
        check_cmm_state(sh)
        # The fake host's views are in debugfs (memballoon_test mounts it
        # itself; this reads it from the shell).
        sh.run('[ -e %s ] || mount -t debugfs debugfs /sys/kernel/debug' % FAKE_STATS)
        fake_wants(sh, nbytes)

    def loaned(self, g, sh):
        m = re.search(r'\blent_bytes=(\d+)', sh.out('cat %s' % FAKE_STATS))
        if not m:
            raise Fail('no lent_bytes in %s' % FAKE_STATS)
        return int(m.group(1))

    def wait_loaned(self, g, sh, nbytes, timeout):
        end = time.monotonic() + timeout
        while True:
            have = self.loaned(g, sh)
            if have == nbytes:
                return
            if time.monotonic() > end:
                raise Fail('the fake CMO host has %d bytes lent, expected %d' % (have, nbytes))
            time.sleep(0.25)

    def final_check(self, g, sh):
        """The lent set equals the balloon; the daemon is stopped (SIGSTOP)
        meanwhile, so that no step of its runs between the two reads."""
        sh.run('kill -STOP $(cat /tmp/memballoond.pid)')
        try:
            return compare(sh, 'after the pressure rescue')[2:]
        finally:
            sh.run('kill -CONT $(cat /tmp/memballoond.pid)')


@cmm_daemon_scenario('pressure-oom-rescue-cmm',
                     'pressure-oom-rescue on the fake CMO host (its loan request as the host\'s '
                     'target): no OOM kill, the balloon shrinks; lent set equals the balloon')
def sc_pressure_oom_rescue_cmm(env):
    pressure.oom_rescue_leg(env, 'memballoond', check=pressure.oom_rescue_check(env.current),
                            host=FakeCmmHost())
