# SPDX-License-Identifier: GPL-2.0-or-later
"""VM scenarios for the VMware transport (imported by harness.py; amd64 only).

vmware-fakehost: memballoon.ko built with MB_TEST_HOOKS and
tests/vm/fakehost/memballoon_fakehost.ko playing the VMware host
(fake_vmw.c).  The guest runs guest/daemon-test, so each step is a shell
script sent from here; vmw_helper (guest/vmw_helper.c) moves the balloon
to the host's target the way the daemon would, and the fake's vmw_state
parameter shows the host's locked set next to the guest's balloon, both
read under the balloon's lock.  After every step they must agree: same
page count, same PFN checksum, no protocol error, and the same set of 2 MB
pages (the host's BATCHED_2M_LOCKed set against the balloon's huge pages).

vmware-detect: QEMU made to look like VMware (vmport, no CPUID hypervisor
bit, a VMware SMBIOS serial): Linux detects VMware, our transport sends
START through the real backdoor, QEMU has no balloon there (port 0x5670),
so it declines and the virtio device serves; the stock vmw_balloon is not
loaded, and the test host is refused on a real VMware.

daemon-roundtrip-vmware, daemon-floor-vmware, pressure-oom-rescue-vmware:
daemon.roundtrip(), daemon.floor() and pressure.oom_rescue_leg() with the
fake host (FakeVmwHost) setting the target instead of QMP.

vmware-doorbell: the fake host grants the doorbell and rings it on each
target change, with polls ten minutes apart; denied, refused, no VMCI and
re-registered at resets; destroyed on unload.
"""

import os
import re
import time

import harness
import daemon
import hosts
import pressure
from harness import BAL, MIB, Fail, log, run_cmd, scenario

HELPER_SRC = os.path.join(harness.GUEST_SRC, 'vmw_helper.c')
FAKE = '/sys/module/memballoon_fakehost/parameters'
SHIM = '/sys/module/memballoon/parameters'
HOOKS_KO = '/lib/modules/memballoon-hooks.ko'
FAKE_KO = '/lib/modules/memballoon_fakehost.ko'
# GET_STATE values (src/include/uapi/linux/memballoon.h)
T_SIMULATE, T_VIRTIO, T_VMWARE = 1, 2, 4
D_ABSENT, D_REFUSED, D_BUSY, D_BAD_ANSWER = 1, 3, 4, 5
F_IN_TOTALRAM, F_HOST_BROKEN, F_DEFLATE_BELOW = 1 << 0, 1 << 1, 1 << 2
TF_BATCHED, TF_HOST_2M, TF_2M = 1 << 2, 1 << 3, 1 << 0
EV_TARGET, EV_HOST, EV_RESET = 1, 5, 6
STOP_HOST, STOP_REFUSED = 6, 7
MB_VMW_BUSY_TRIES = 4     # src/kmod/vmware.c: a BUSY command is sent this often
# vmware.h capabilities
CAP_BASIC, CAP_BATCHED, CAP_2M, CAP_TARGET64 = 1 << 1, 1 << 2, 1 << 3, 1 << 5
POLL_MS = 100           # memballoon's vmw_poll_ms in these guests

NAMES = []


def vmw_scenario(name, doc, **kw):
    NAMES.append(name)
    return scenario(name, doc, fakehost=True, **kw)


def _prepare_hook(env):
    """Build vmw_helper and put it, and the command server, in the guest."""
    if not any(n in NAMES for n in env.selected):
        return
    out = os.path.join(harness.BUILD, 'vmw_helper')
    r = run_cmd([env.arch.cc, '-std=gnu11', '-O2', '-static', '-Wall', '-Wextra', '-Werror',
                 '-I', harness.UAPI_DIR, '-o', out, HELPER_SRC])
    if r.returncode != 0:
        env.vmw_err = 'vmw_helper failed to build: %s' % r.stdout.strip()[:200]
        log('# ' + env.vmw_err)
        return
    env.vmw_err = None
    for b in (out, daemon.GUEST_SCRIPT):
        if b not in harness.EXTRA_BINS:
            harness.EXTRA_BINS.append(b)


harness.PREPARE_HOOKS.append(_prepare_hook)


def kv(text):
    out = {}
    for tok in text.split():
        if '=' in tok:
            k, v = tok.split('=', 1)
            try:
                out[k] = int(v, 0)
            except ValueError:
                out[k] = v
    return out


class Vmw:
    """The guest's side of a VMware scenario: shell, shim state, fake host."""

    def __init__(self, g):
        self.g = g
        self.sh = daemon.Shell(g)

    def run(self, script, **kw):
        return self.sh.out(script, **kw)

    def state(self):
        return kv(self.run('vmw_helper state'))

    def views(self):
        return kv(self.run('cat %s/vmw_state' % FAKE))

    def fake(self, **params):
        self.run('\n'.join('echo %s > %s/vmw_%s' % (v, FAKE, k) for k, v in params.items()))

    def wait(self, pred, what, timeout=20, source=None):
        source = source or self.state
        end = time.monotonic() + timeout
        while True:
            st = source()
            if pred(st):
                return st
            if time.monotonic() > end:
                raise Fail('%s: not within %d s: %s' % (what, timeout, st))
            time.sleep(0.1)

    def follow(self, what, timeout=60):
        rc, out = self.sh.run('vmw_helper follow %d' % (timeout * 1000), timeout=timeout + 30,
                              check=False)
        if rc != 0:
            raise Fail('%s: the balloon did not reach the target: %s' % (
                what, ' | '.join(out.strip().splitlines()[-3:])))
        return out

    def agree(self, what, pages=None, huge=None):
        """Host and guest views are the same set of pages; @huge: expected
        (2 MB pages, 4 KiB pages) locked."""
        v = self.views()
        bad = []
        if v['host_session'] != 1 or v['guest_bound'] != 1:
            bad.append('session %s, bound %s' % (v['host_session'], v['guest_bound']))
        # 7.x keeps the balloon list's lock private: then the transport's
        # own account of what it told the host stands in for the list.
        listed, gsum = (v['guest_listed'], v['guest_sum']) if v['guest_walked'] else \
            (v['guest_told'], v['guest_told_sum'])
        if not v['host_locked'] == listed == v['guest_pages'] == v['guest_told']:
            bad.append('host locks %d pages, the balloon lists %d and counts %d, the transport '
                       'told %d' % (v['host_locked'], listed, v['guest_pages'], v['guest_told']))
        if not v['host_sum'] == gsum == v['guest_told_sum']:
            bad.append('PFN checksums differ: host %#x, guest %#x, told %#x' % (
                v['host_sum'], gsum, v['guest_told_sum']))
        if v['proto_errors']:
            bad.append('%d protocol errors' % v['proto_errors'])
        if v['guest_broken'] or v['guest_reset']:
            bad.append('guest broken %d, reset %d' % (v['guest_broken'], v['guest_reset']))
        if pages is not None and v['host_locked'] != pages:
            bad.append('%d pages locked, expected %d' % (v['host_locked'], pages))
        # The 2 MB pages among them (host_locked counts their frames too).
        if not v['host_2m'] == v['guest_huge'] == v['guest_told_2m'] or \
                not v['host_2m_sum'] == v['guest_huge_sum'] == v['guest_told_2m_sum']:
            bad.append('2 MB pages: host locks %d (sum %#x), the balloon holds %d (%#x), the '
                       'transport told %d (%#x)' % (v['host_2m'], v['host_2m_sum'], v['guest_huge'],
                                                    v['guest_huge_sum'], v['guest_told_2m'],
                                                    v['guest_told_2m_sum']))
        if huge is not None and (v['host_2m'], v['host_locked'] - 512 * v['host_2m']) != huge:
            bad.append('%d pages of 2 MB and %d of 4 KiB locked, expected %d and %d' % (
                v['host_2m'], v['host_locked'] - 512 * v['host_2m'], huge[0], huge[1]))
        if bad:
            raise Fail('%s: host and guest disagree: %s' % (what, '; '.join(bad)))
        log('#   %s: host and guest agree on %d pages (sum %#x), %d of them in 2 MB pages' % (
            what, v['host_locked'], v['host_sum'], v['host_2m']))
        return v

    def target(self, pages, what, huge=None):
        """Host target @pages; wait until the guest has it, then follow."""
        self.fake(target=pages)
        self.wait(lambda st: st['target'] == pages, '%s: guest sees target %d' % (what, pages))
        out = self.follow(what)
        return self.agree(what, pages, huge), out

    def events(self):
        return [tuple(int(x) for x in l.split()[1:3])
                for l in self.run('vmw_helper events').splitlines() if l.startswith('event ')]

    def dmesg_count(self, pattern):
        return int(self.run("dmesg | grep -c -- '%s' || true" % pattern).strip() or 0)

    def memtotal(self):
        return self.sh.meminfo()['MemTotal']


def insmod_hooks(v, modargs='vmw_poll_ms=%d' % POLL_MS):
    v.run('insmod %s %s' % (HOOKS_KO, modargs))


def vmw_boot(env, body, **kw):
    if getattr(env, 'vmw_err', 'not built') is not None:
        raise Fail(getattr(env, 'vmw_err', None) or 'vmw_helper was not built')

    def wrapped(g):
        v = Vmw(g)
        try:
            body(g, v)
        except Fail:
            try:
                g.deadline = min(g.deadline, time.monotonic() + 15)
                v.sh.run('dmesg | tail -n 40; cat %s/vmw_state' % FAKE, timeout=10, check=False)
            except Exception:   # noqa: BLE001 - best effort only
                pass
            raise
    kw.setdefault('timeout', 300)
    kw.setdefault('load', 'none')
    return harness.boot(env, env.current, body=wrapped, run=daemon.RUN, **kw)


# --------------------------------------------------------------------------
# vmware-fakehost
# --------------------------------------------------------------------------

def _declines(v, fakeargs, reason, error, what):
    """Load the fake host with @fakeargs: the transport must decline with
    @reason and @error and leave simulate mode in place."""
    v.run('insmod %s %s' % (FAKE_KO, fakeargs))
    st = v.state()
    got = (st['transport'], st['declined_transport'], st['declined_reason'], st['declined_error'])
    if got != (T_SIMULATE, T_VMWARE, reason, error):
        raise Fail('%s: transport %d, declined %d/%d/%d; expected simulate, vmware/%d/%d' % (
            what, got[0], got[1], got[2], got[3], reason, error))
    v.run('rmmod memballoon_fakehost')
    log('#   %s: declined (reason %d, error %d), simulate stays' % (what, reason, error))


def _broken(v, knob, value, pattern, what):
    """Break the host with one knob: the next poll finds it, a HOST event,
    INFLATE stops with STOP_HOST; unloading the fake frees the pages without
    telling it."""
    v.fake(**{knob: value})
    st = v.wait(lambda st: st['state_flags'] & F_HOST_BROKEN, '%s: HOST_BROKEN' % what)
    evs = v.events()
    if (EV_HOST, 0) not in evs:
        raise Fail('%s: no HOST event (%s)' % (what, evs))
    r = kv(v.run('vmw_helper inflate 16'))
    if r['stop'] != STOP_HOST:
        raise Fail('%s: INFLATE after the break: %s' % (what, r))
    if not v.dmesg_count(pattern):
        raise Fail('%s: no "%s" in the log' % (what, pattern))
    before = st['actual']
    v.run('rmmod memballoon_fakehost')
    st = v.state()
    if (st['transport'], st['actual']) != (T_SIMULATE, 0):
        raise Fail('%s: after unbinding: %s' % (what, st))
    m = re.findall(r'exit: (\d+) pages still locked', v.run('dmesg'))
    log('#   %s: broken, %d pages freed without telling the host (it still held %s)' % (
        what, before, m[-1] if m else '?'))


def _two_mb(v):
    """2 MB pages granted, from 8 of them and none of 4 KiB: a target that
    is not a multiple of 2 MB, less than 2 MB back, a 2 MB page cut up, no
    2 MB block to be had, refused 2 MB pages; back to 16 MiB at the end."""
    shim_refused = lambda: v.state()['refused_pages']     # noqa: E731
    vw0 = v.views()
    vw, _ = v.target(16384, '2 MB inflate to 64 MiB', huge=(32, 0))
    if vw['cmd_batched_lock'] != vw0['cmd_batched_lock'] or vw['cmd_2m_lock'] == vw0['cmd_2m_lock']:
        raise Fail('2 MB inflate: %d BATCHED_2M_LOCKs, %d BATCHED_LOCKs' % (
            vw['cmd_2m_lock'] - vw0['cmd_2m_lock'], vw['cmd_batched_lock'] - vw0['cmd_batched_lock']))
    v.target(16384 + 300, 'not a multiple of 2 MB: 4 KiB pages for the rest', huge=(32, 300))
    v.target(16384 + 100, 'less than 2 MB back: 4 KiB pages first', huge=(32, 100))
    vw0 = v.views()
    vw, _ = v.target(16384 - 100, 'more 4 KiB pages back than held: a 2 MB page cut up', huge=(31, 412))
    if vw['cmd_2m_unlock'] == vw0['cmd_2m_unlock']:
        raise Fail('cut up: no BATCHED_2M_UNLOCK')
    v.run('echo 1 > %s/test_huge_alloc_fail' % SHIM)
    v.target(16384 - 100 + 1024, 'no 2 MB block to be had: 4 KiB pages', huge=(31, 1436))
    v.run('echo 0 > %s/test_huge_alloc_fail' % SHIM)
    # Every 3rd 2 MB page refused: the others make up for them.
    vw0, r0 = v.views(), shim_refused()
    v.fake(refuse_2m_every=3)
    vw, _ = v.target(16384 - 100 + 1024 + 20 * 512, 'every 3rd 2 MB page refused', huge=(51, 1436))
    n = vw['host_refused_2m'] - vw0['host_refused_2m']
    if not n or shim_refused() - r0 != 512 * n:
        raise Fail('2 MB refusals: the host refused %d, the shim counts %d pages' % (n, shim_refused() - r0))
    # Every one refused: after 16 (vmw_balloon's limit) the call goes on in 4 KiB pages.
    vw0 = vw
    v.fake(refuse_2m_every=1)
    vw, _ = v.target(16384 - 100 + 1024 + 24 * 512, 'every 2 MB page refused: 4 KiB pages',
                     huge=(51, 1436 + 4 * 512))
    if vw['host_refused_2m'] - vw0['host_refused_2m'] < 16:
        raise Fail('only %d 2 MB pages refused' % (vw['host_refused_2m'] - vw0['host_refused_2m']))
    v.fake(refuse_2m_every=0)
    vw, _ = v.target(4096, 'deflate to 16 MiB: 2 MB pages first')
    if vw['host_2m'] * 512 > 4096 or not vw['host_2m']:
        raise Fail('deflate to 16 MiB left %d pages of 2 MB' % vw['host_2m'])


def _oom_2m(v):
    """OOM with 2 MB pages in the balloon: the notifier gives them back
    (SET_OOM's default, 64 MiB a call: whole 2 MB pages first), telling
    the host; then back to 160 MiB."""
    # About 150 MiB left to the guest, then 250 MiB written to tmpfs.
    free = v.sh.meminfo()['MemAvailable'] // 4 - 150 * 256
    if free < 512:
        raise Fail('OOM: only %d KiB available with 160 MiB loaned' % v.sh.meminfo()['MemAvailable'])
    pages = 40960 + free // 512 * 512
    vw0, _ = v.target(pages, 'OOM: inflate to %d MiB' % (pages // 256))
    freed0 = v.state()['oom_freed']
    v.run('dd if=/dev/zero of=/tmp/oom-fill bs=1M count=250 2>&1 | tail -n 1', timeout=120)
    st, vw = v.state(), v.agree('OOM: 250 MiB written to tmpfs')
    freed = st['oom_freed'] - freed0
    if not freed or vw['host_locked'] != pages - freed or \
            vw['host_2m'] != max(0, vw0['host_2m'] - freed // 512):
        raise Fail('OOM: the notifier freed %d pages; the host locks %d, %d in 2 MB pages '
                   '(had %d, %d)' % (freed, vw['host_locked'], vw['host_2m'], pages, vw0['host_2m']))
    log('#   OOM: the notifier gave back %d pages (%d of 2 MB), the host was told' % (
        freed, vw0['host_2m'] - vw['host_2m']))
    v.run('rm -f /tmp/oom-fill')
    v.events()
    v.target(40960, 'after the OOM, back to 160 MiB')


def _compaction(v):
    """Compaction with pages locked: 64 MiB of 4 KiB balloon pages taken
    in 1 MiB steps between 1 MiB tmpfs files, the files removed, memory
    compacted until balloon pages migrate.  Each migration locks the new
    page and unlocks the old one: the host's locked set (its PFN sum
    changes) must still be the balloon's.  Then back to 160 MiB."""
    base = v.state()['actual']
    v.run('echo 1 > %s/test_huge_alloc_fail' % SHIM)
    v.fake(target=base + 64 * 256)
    v.wait(lambda st: st['target'] == base + 64 * 256, 'compaction: guest sees the target')
    v.run('i=0; while [ $i -lt 64 ]; do i=$((i + 1)); '
          'dd if=/dev/zero of=/tmp/frag.$i bs=1M count=1 2>/dev/null || exit 1; '
          'vmw_helper inflate 256 > /dev/null || exit 1; done; rm -f /tmp/frag.*', timeout=120)
    vw0 = v.agree('compaction: 64 MiB more in 4 KiB pages between freed files', base + 64 * 256)
    st0 = v.state()
    for rnd in range(1, 7):
        v.run('echo 1 > /proc/sys/vm/compact_memory', timeout=120)
        st = v.state()
        if st['migrations'] > st0['migrations']:
            break
    n = st['migrations'] - st0['migrations']
    vw = v.agree('compaction: %d balloon pages migrated in %d round(s)' % (n, rnd), base + 64 * 256)
    if not n:
        raise Fail('compaction: no balloon page migrated in 6 rounds')
    if vw['host_sum'] == vw0['host_sum'] or vw['cmd_batched_unlock'] == vw0['cmd_batched_unlock']:
        raise Fail('compaction: %d pages migrated, but the host locked the same PFNs (sum %#x) '
                   'and saw %d unlocks' % (n, vw['host_sum'],
                                           vw['cmd_batched_unlock'] - vw0['cmd_batched_unlock']))
    v.run('echo 0 > %s/test_huge_alloc_fail' % SHIM)
    v.target(base, 'after the compaction, back to %d MiB' % (base // 256))


def _notneeded_busy(v):
    """From 160 MiB: the guest inflates past the host's target and the host
    answers PPN_NOTNEEDED for the pages beyond it: the INFLATE stops at once
    (STOP_REFUSED) with the balloon at the target, and the target is read
    and handed out again.  Then BUSY for a few LOCKs: retried, the target
    is reached, nothing breaks.  Ends at 160 MiB."""
    base = 40960
    over, extra = 1000, 4096     # not a multiple of 2 MB: 4 KiB pages finish it
    v.fake(notneeded=1, target=base + over)
    v.wait(lambda st: st['target'] == base + over, 'NOTNEEDED: guest sees target %d' % (base + over))
    v.events()
    st0, vw0 = v.state(), v.views()
    r = kv(v.run('vmw_helper inflate %d' % (over + extra)))
    st, vw = v.state(), v.agree('NOTNEEDED: inflate %d past the target' % extra, base + over)
    notneeded = vw['host_notneeded'] - vw0['host_notneeded']
    refused = st['refused_pages'] - st0['refused_pages']
    # At most one 2 MB page and one step of 4 KiB ones answered NOTNEEDED:
    # without the stop, refusals would run to 16 2 MB pages or 512 4 KiB.
    if (r['done'], r['actual'], r['stop']) != (over, base + over, STOP_REFUSED) or \
            not notneeded or vw['guest_notneeded'] != vw['host_notneeded'] or \
            not notneeded <= refused <= 2 * 512:
        raise Fail('NOTNEEDED: INFLATE %d at target-%d: %s; host answered NOTNEEDED %d times, '
                   'guest saw %d, refused_pages +%d (expected done %d, STOP_REFUSED, at most '
                   '1024 refused)' % (over + extra, over, r, notneeded, vw['guest_notneeded'],
                                      refused, over))
    # The target is read again at once and handed out even though unchanged.
    v.wait(lambda evs: (EV_TARGET, base + over) in evs, 'NOTNEEDED: TARGET event again',
           source=v.events)
    r = kv(v.run('vmw_helper inflate 64'))
    vw = v.agree('NOTNEEDED: inflate at the target', base + over)
    if (r['done'], r['stop']) != (0, STOP_REFUSED) or vw['guest_broken']:
        raise Fail('NOTNEEDED: INFLATE at the target: %s' % r)
    log('#   NOTNEEDED: inflate %d past the target stopped at it (%d NOTNEEDED answers, %d pages '
        'refused), TARGET event again' % (extra, notneeded, refused))
    v.fake(notneeded=0)

    # BUSY: fewer than the transport's tries, then more (a command fails
    # whole, its pages are refused, the next INFLATE goes on).
    for busy in (MB_VMW_BUSY_TRIES - 1, 2 * MB_VMW_BUSY_TRIES + 2):
        vw0 = v.views()
        v.fake(busy_locks=busy)
        vw, out = v.target(vw0['host_locked'] + 4096, 'BUSY %d: inflate 16 MiB more' % busy)
        got = (vw['host_busy'] - vw0['host_busy'], vw['guest_busy'] - vw0['guest_busy'])
        if got != (busy, busy) or v.state()['state_flags'] & F_HOST_BROKEN:
            raise Fail('BUSY %d: host answered BUSY %d times, guest saw %d; state %s' % (
                busy, got[0], got[1], v.state()))
        log('#   BUSY to %d lock commands: target reached (%s)' % (busy, out.strip().splitlines()[0]))
    v.target(base, 'after BUSY, back to 160 MiB')


@vmw_scenario('vmware-fakehost',
              'fake VMware host: declined BUSY next to virtio, batched and single-page locks, refusals, 2 MB pages '
              '(4 KiB fallback, cut up, refused), RESET mid-inflate, target above RAM, garbage and silent hosts, '
              'declines, unload; host and guest views agree')
def sc_vmware_fakehost(env):
    def body(g, v):
        insmod_hooks(v)
        st = v.state()
        if (st['transport'], st['declined_transport'], st['declined_reason']) != \
                (T_VIRTIO, T_VMWARE, D_ABSENT):
            raise Fail('plain QEMU: %s (expected virtio, vmware declined ABSENT)' % st)
        # With the virtio device bound, the VMware host finds the balloon busy.
        v.run('insmod %s' % FAKE_KO)
        st, vw = v.state(), v.views()
        if (st['transport'], st['declined_reason'], st['declined_error'], vw['host_closes']) != \
                (T_VIRTIO, D_BUSY, -16, 1):
            raise Fail('virtio bound, then the VMware host: %s %s (expected declined BUSY -16, '
                       'the session closed again)' % (st, vw))
        v.run('rmmod memballoon_fakehost')
        log('#   virtio bound: the VMware host is declined BUSY, its session closed')
        g.qmp.cmd('device_del', id='bal0')
        g.qmp.wait_event('DEVICE_DELETED', timeout=30)
        v.wait(lambda st: st['transport'] == T_SIMULATE, 'simulate after the device left')
        mem0 = v.memtotal()
        ram = st['total_ram']

        # Declines at START: refused (a status, or nobody: -1), garbage.
        _declines(v, 'vmw_start_status=8', D_REFUSED, 8, 'START answers BUSY')
        _declines(v, 'vmw_silent=1', D_REFUSED, -1, 'START unanswered')
        _declines(v, 'vmw_garbage=0x1234', D_BAD_ANSWER, 0x1234, 'START answers garbage')

        # The host grants 2 MB pages, but until the 2 MB steps below no
        # 2 MB block can be allocated: every inflate falls back to 4 KiB.
        v.run('echo 1 > %s/test_huge_alloc_fail' % SHIM)
        v.run('insmod %s' % FAKE_KO)
        st = v.state()
        if st['transport'] != T_VMWARE or st['host_page_size'] != 4096 or \
                st['transport_flags'] != TF_BATCHED | TF_HOST_2M | TF_2M:
            raise Fail('bound: %s (expected vmware, 4096, BATCHED|HOST_2M|2M_PAGES)' % st)
        vw = v.views()
        if vw['host_caps'] != CAP_BASIC | CAP_BATCHED | CAP_2M | CAP_TARGET64 or \
                vw['guest_id'] != 1 or vw['limit'] != ram:
            raise Fail('session: %s (expected caps 0x2e granted: the fake offers no doorbell unless told, guest id 1, '
                       'limit = RAM %d)' % (vw, ram))
        v.agree('bound', 0)

        # Batched: in and out.
        vw, _ = v.target(16384, 'batched inflate 64 MiB, no 2 MB block to be had', huge=(0, 16384))
        if not vw['cmd_batched_lock'] or vw['cmd_lock']:
            raise Fail('batched inflate used %d batched and %d single locks' % (
                vw['cmd_batched_lock'], vw['cmd_lock']))
        st = v.state()
        if v.memtotal() != mem0 or not st['state_flags'] & F_IN_TOTALRAM or \
                not st['state_flags'] & F_DEFLATE_BELOW:
            raise Fail('accounting: MemTotal %d -> %d kB, flags %#x (expected unchanged, '
                       'IN_TOTALRAM|DEFLATE_BELOW_TARGET)' % (mem0, v.memtotal(), st['state_flags']))
        vw, _ = v.target(8192, 'batched deflate to 32 MiB')
        if not vw['cmd_batched_unlock']:
            raise Fail('no BATCHED_UNLOCK')

        # Refusals: every 10th page locked, then every 10th unlocked.
        v.fake(refuse_every=10)
        vw, _ = v.target(16384, 'inflate, every 10th page refused')
        st = v.state()
        if not vw['host_refused'] or st['refused_pages'] != vw['host_refused']:
            raise Fail('refused: host %d, shim counts %d' % (vw['host_refused'], st['refused_pages']))
        v.fake(refuse_every=0, keep_every=10)
        vw, _ = v.target(8192, 'deflate, every 10th page kept')
        if not vw['host_kept']:
            raise Fail('the host kept no page')
        v.fake(keep_every=0)

        # Single-page fallback: the host stops offering batching (and the
        # 64-bit target) and resets.
        v.fake(caps=CAP_BASIC, reset_now=1)
        st = v.wait(lambda st: st['host_resets'] == 1 and st['transport_flags'] == 0,
                    'renegotiated without batching')
        vw = v.views()
        if vw['guest_pages'] or vw['host_locked']:
            raise Fail('after the reset: %d pages in the balloon, %d locked' % (
                vw['guest_pages'], vw['host_locked']))
        evs = v.events()
        if not any(t == EV_RESET for t, _ in evs):
            raise Fail('no RESET event: %s' % evs)
        locks0 = vw['cmd_lock']
        vw, _ = v.target(8192, 'single-page refill to 32 MiB')   # refill: same target
        if vw['cmd_lock'] - locks0 < 8192 or vw['host_caps'] & CAP_BATCHED:
            raise Fail('single-page mode: %d LOCKs' % (vw['cmd_lock'] - locks0))
        # Without TARGET_64 GET_TARGET answers 32 bits: the guest reads
        # 2^32 + 8192 as 8192, and nothing above RAM is logged.
        clamped0, reads0 = vw['guest_clamped'], vw['cmd_get_target']
        v.fake(target=(1 << 32) + 8192)
        vw = v.wait(lambda vw: vw['cmd_get_target'] >= reads0 + 2, 'GET_TARGET read twice',
                    source=v.views)
        if (vw['guest_raw_target'], vw['guest_clamped'], v.state()['target']) != (8192, clamped0, 8192):
            raise Fail('32-bit target 2^32 + 8192: the guest read %d (clamped %d times, %d before), '
                       'target %d' % (vw['guest_raw_target'], vw['guest_clamped'], clamped0,
                                      v.state()['target']))
        log('#   no TARGET_64: GET_TARGET 2^32 + 8192 read as 8192 pages')
        vw, _ = v.target(4096, 'single-page deflate to 16 MiB')
        if vw['cmd_unlock'] < 4096:
            raise Fail('single-page mode: %d UNLOCKs' % vw['cmd_unlock'])
        v.fake(caps=CAP_BASIC | CAP_BATCHED | CAP_2M | CAP_TARGET64 | (1 << 4), reset_now=1)
        v.wait(lambda st: st['host_resets'] == 2 and st['transport_flags'] & TF_BATCHED,
               'batched again')
        v.events()
        # 2 MB pages from here on: the host's 2M set must be the balloon's.
        v.run('echo 0 > %s/test_huge_alloc_fail' % SHIM)
        if not v.state()['transport_flags'] & TF_2M:
            raise Fail('renegotiated with 2 MB pages granted, but no TF_2M_PAGES')
        v.target(4096, 'batched refill to 16 MiB in 2 MB pages', huge=(8, 0))
        _two_mb(v)

        # RESET mid-inflate, after 3000 more pages, 2 MB ones among them.
        if not v.views()['host_2m']:
            raise Fail('no 2 MB page locked before the reset')
        v.fake(reset_after=3000)
        vw, out = v.target(40960, 'RESET mid-inflate, refilled to 160 MiB')
        st = v.state()
        if st['host_resets'] != 3 or vw['host_resets'] != 3:
            raise Fail('resets: guest %d, host %d (expected 3)' % (st['host_resets'], vw['host_resets']))
        evs = [val for t, val in v.events() if t == EV_RESET]
        if not evs or not 3000 <= evs[-1] <= 4096 + 3000 + 512:
            raise Fail('RESET event values %s (expected the ~%d pages forgotten)' % (evs, 4096 + 3000))
        if not vw['host_2m']:
            raise Fail('refill after the reset: no 2 MB page (renegotiated: %#x)' % vw['host_caps'])
        log('#   reset mid-inflate: %d pages forgotten; %s' % (evs[-1], out.strip().splitlines()[0]))

        # A target above guest RAM: clamped to it, logged once.
        v.fake(target=100000000)
        v.wait(lambda st: st['target'] == ram, 'clamped target')
        time.sleep(10 * POLL_MS / 1000)
        vw = v.views()
        n = v.dmesg_count('above guest RAM')
        if vw['guest_raw_target'] != 100000000 or vw['guest_clamped'] < 5 or n != 1:
            raise Fail('clamp: raw %d, clamped %d times, logged %d times (expected once)' % (
                vw['guest_raw_target'], vw['guest_clamped'], n))
        v.target(40960, 'back below RAM')
        _oom_2m(v)
        _compaction(v)
        _notneeded_busy(v)

        # Unload with pages loaned, 2 MB ones among them: all unlocked, the
        # session closed.
        if not v.views()['host_2m']:
            raise Fail('no 2 MB page locked before the unload')
        v.run('rmmod memballoon_fakehost')
        st = v.state()
        text = v.run('dmesg')
        m = re.findall(r'exit: (\d+) pages still locked, (\d+) protocol errors, \d+ resets, (\d+) closes '
                       r'\((\d+) of 2 MB\)', text)
        if not m or m[-1] != ('0', '0', '1', '0') or (st['transport'], st['actual']) != (T_SIMULATE, 0):
            raise Fail('unload with 160 MiB loaned: fake says %s, state %s' % (m[-1:] or '?', st))
        if v.memtotal() != mem0:
            raise Fail('MemTotal %d kB after unload, %d before' % (v.memtotal(), mem0))
        log('#   unload with 160 MiB loaned: every page unlocked, session closed')

        # Garbage, then silence, each on a fresh host.
        v.run('insmod %s' % FAKE_KO)
        v.target(4096, 'fresh host')
        _broken(v, 'garbage', 0x1234, 'with status 0x1234', 'host answers garbage')
        v.run('insmod %s' % FAKE_KO)
        v.target(2048, 'fresh host')
        _broken(v, 'silent', 1, 'with nothing', 'host stops answering')
        if v.memtotal() != mem0:
            raise Fail('MemTotal %d kB at the end, %d before' % (v.memtotal(), mem0))
        v.run('rmmod memballoon')
        v.sh.quit()
    vmw_boot(env, body, devices=[BAL])


# --------------------------------------------------------------------------
# vmware-detect
# --------------------------------------------------------------------------

# Debian's kernel takes this QEMU for VMware (VM-TESTING.md): no CPUID
# hypervisor bit, so it asks DMI (a "VMware-" serial) and the backdoor's
# GETVERSION on port 0x5658, which QEMU's vmport answers.
VMWARE_LOOK = ['-cpu', 'qemu64,-hypervisor',
               '-smbios', 'type=1,manufacturer=VMware,product=VMware Virtual Platform,'
               'serial=VMware-56 4d 00 00 00 00 00 00-00 00 00 00 00 00 00 00']


@vmw_scenario('vmware-detect',
              'QEMU that looks like VMware: START through the real backdoor fails, the transport '
              'declines, virtio serves; vmw_balloon not loaded; the fake host refused')
def sc_vmware_detect(env):
    def body(g, v):
        text = v.run('dmesg')
        vmware = 'Hypervisor detected: VMware' in text
        v.run('insmod /lib/modules/memballoon.ko')
        st = v.state()
        want = (T_VMWARE, D_REFUSED, -1) if vmware else (T_VMWARE, D_ABSENT, 0)
        got = (st['declined_transport'], st['declined_reason'], st['declined_error'])
        if got != want or st['transport'] != T_VIRTIO:
            raise Fail('VMware detected: %s; state %s; expected transport virtio, declined %s' % (
                vmware, st, want))
        if not vmware:
            raise Fail('the kernel did not detect VMware: %s' % [
                l for l in text.splitlines() if 'ypervisor' in l][:2])
        line = [l for l in v.run('dmesg').splitlines() if 'memballoon: vmware' in l]
        log('#   vmware-detect: kernel says VMware; ours: %s' % (line[-1].split('] ')[-1] if line else '?'))
        dmi = v.run('cat /sys/class/dmi/id/modalias').strip()
        loaded = v.run('lsmod; ls /sys/module').split()
        if 'vmw_balloon' in loaded:
            raise Fail('vmw_balloon is loaded')
        alias = run_cmd(['/sbin/modinfo', '-F', 'alias', harness.find_module(env.moddir, 'vmw_balloon')]
                        ).stdout.split()
        log('#   vmw_balloon not loaded; its alias %s matches this DMI (%s): udev would load it '
            'on a real system unless blacklisted' % (alias, 'svnVMware' in dmi))
        # The fallback: the virtio device serves.
        g.set_balloon(64 * MIB)
        v.wait(lambda st: st['target'] == 16384, 'virtio target 64 MiB')
        v.follow('virtio fallback')
        g.wait_actual(g.mem_bytes - 64 * MIB, timeout=30)
        g.set_balloon(0)
        v.wait(lambda st: st['target'] == 0, 'virtio target 0')
        v.follow('virtio fallback back')
        v.run('rmmod memballoon')
        # The test hooks build: the fake host is refused on VMware.
        insmod_hooks(v)
        rc, out = v.sh.run('insmod %s' % FAKE_KO, check=False)
        if rc == 0 or not v.dmesg_count('refused the fake host'):
            raise Fail('the fake host was accepted on VMware (rc %d: %s)' % (rc, out.strip()))
        st = v.state()
        if st['transport'] != T_VIRTIO:
            raise Fail('after the refused fake: %s' % st)
        v.run('rmmod memballoon')
        v.sh.quit()
    vmw_boot(env, body, machine='pc,vmport=on', qemu_args=VMWARE_LOOK, devices=[BAL], timeout=180)


# --------------------------------------------------------------------------
# The daemon against the fake host
# --------------------------------------------------------------------------

def vmw_daemon_scenario(name, doc):
    NAMES.append(name)
    daemon.NAMES.append(name)       # its prepare hook builds the userspace
    return scenario(name, doc, fakehost=True)


def host_agrees(v, pages, what):
    v.wait(lambda vw: vw['host_locked'] == pages, '%s: host holds %d pages' % (what, pages),
           timeout=60, source=v.views)
    return v.agree(what, pages)


class FakeVmwHost(hosts.Host):
    """The host side of daemon.roundtrip(), daemon.floor() and
    pressure.oom_rescue_leg() on the fake VMware host: its target
    (vmw_target, in pages) plays QMP's balloon target, the pages it holds
    locked query-balloon's view, and Vmw.agree() checks that they are the
    balloon (count and PFN checksum, no protocol error).  The VMware
    balloon stays in MemTotal, and the guest may take pages back under
    pressure (vmw_balloon's shrinker does; the shim's vmware transport
    says DEFLATE_BELOW_TARGET), as deflate-on-oom=on does."""
    name = 'vmware'
    in_totalram = True

    def boot_kw(self, load='shim'):
        if load != 'shim':
            raise Fail('the fake VMware host runs the shim only (leg load %s)' % load)
        return dict(load='fakehost', modargs='vmw_poll_ms=%d' % POLL_MS)

    @staticmethod
    def _vmw(g, sh):
        v = Vmw(g)
        v.sh = sh
        return v

    def set_target(self, g, sh, nbytes):
        if nbytes % 4096:
            raise Fail('%d bytes is not a whole number of VMware pages' % nbytes)
        self._vmw(g, sh).fake(target=nbytes // 4096)

    def loaned(self, g, sh):
        return self._vmw(g, sh).views()['host_locked'] * 4096

    def agree(self, g, sh, what, nbytes=None):
        v = self._vmw(g, sh)
        vw = v.agree(what) if nbytes is None else host_agrees(v, nbytes // 4096, what)
        return 'the host locks %d pages, PFN sum %#x, as the balloon lists' % (
            vw['host_locked'], vw['host_sum'])

    def reset(self, g, sh):
        v = self._vmw(g, sh)
        n = v.state()['host_resets']
        v.fake(reset_now=1)
        v.wait(lambda st: st['host_resets'] == n + 1, 'the shim saw the reset')
        if n:
            raise Fail('the shim saw %d host resets before this one' % n)
        return True


@vmw_daemon_scenario('daemon-roundtrip-vmware',
                     'memballoond follows the fake VMware host to 512 MiB and back, and refills '
                     'after a host reset; host and guest agree')
def sc_daemon_roundtrip_vmware(env):
    daemon.roundtrip(env, FakeVmwHost())


@vmw_daemon_scenario('daemon-floor-vmware',
                     'min_mem_mb=640, the fake VMware host asks 600 MiB: the balloon stops at the '
                     'floor, says why, the host holds exactly that')
def sc_daemon_floor_vmware(env):
    daemon.floor(env, FakeVmwHost())


@vmw_daemon_scenario('pressure-oom-rescue-vmware',
                     'pressure-oom-rescue on the fake VMware host (its target as the host\'s '
                     'target): no OOM kill, the balloon shrinks; host and guest agree')
def sc_pressure_oom_rescue_vmware(env):
    pressure.oom_rescue_leg(env, 'memballoond', check=pressure.oom_rescue_check(env.current),
                            host=FakeVmwHost())


# --------------------------------------------------------------------------
# vmware-doorbell
# --------------------------------------------------------------------------

TF_DOORBELL = 1 << 1
CAP_DOORBELL = 1 << 4
CAPS_NO_BELL = CAP_BASIC | CAP_BATCHED | CAP_2M | CAP_TARGET64
BELL_POLL_MS = 600000   # ten minutes: no poll explains a reaction
BELL_EXIT_RE = (r'exit: doorbells (\d+) made, (\d+) destroyed, (\d+) unregistered, (\d+) rings, '
                r'(\d+) errors, one left (\d)')


@vmw_scenario('vmware-doorbell',
              'fake VMware host grants the doorbell: with polls 10 min apart each target change '
              'rings it and the balloon follows; denied at a reset: polling, TF_DOORBELL clear; a '
              'reset re-registers it; DOORBELL_SET refused and vmw_vmci absent: polling, then the '
              'doorbell once VMCI is there; unload destroys it')
def sc_vmware_doorbell(env):
    def body(g, v):
        def bell():
            return kv(v.run('cat %s/vmw_bell' % FAKE))

        def poll_ms(ms):
            # Takes effect at once (memballoon's vmw_poll_ms setter).
            v.run('echo %d > %s/vmw_poll_ms' % (ms, SHIM))

        def said(pattern, n, what):
            v.wait(lambda c: c == n, '%s: "%s" logged %d times' % (what, pattern, n),
                   timeout=60, source=lambda: v.dmesg_count(pattern))

        def rung(pages, what):
            """The host moves its target with polls 10 min apart: only the
            doorbell can bring the guest the new target."""
            b0 = bell()
            v.fake(target=pages)
            b = bell()
            if b['bell_rings'] != b0['bell_rings'] + 1:
                raise Fail('%s: the host did not ring (%s)' % (what, b))
            v.wait(lambda st: st['target'] == pages, '%s: guest sees target %d' % (what, pages),
                   timeout=60)
            b = bell()
            if b['cmd_get_target'] != b0['cmd_get_target'] + 1:
                raise Fail('%s: %d GET_TARGET calls for one ring (expected exactly one)' % (
                    what, b['cmd_get_target'] - b0['cmd_get_target']))
            v.follow(what)
            v.agree(what, pages)
            log('#   %s: rung, one GET_TARGET, balloon at %d pages' % (what, pages))

        def bell_is(what, **want):
            b = bell()
            bad = {k: (b[k], x) for k, x in want.items() if b[k] != x}
            if bad or b['bell_errors']:
                raise Fail('%s: doorbell %s (got, expected: %s)' % (what, b, bad))
            return b

        insmod_hooks(v, 'vmw_poll_ms=%d' % BELL_POLL_MS)
        st = v.state()
        if (st['transport'], st['declined_reason']) != (T_SIMULATE, D_ABSENT):
            raise Fail('no balloon device: %s (expected simulate, vmware ABSENT)' % st)

        # Granted: made, registered, shown.
        v.run('insmod %s vmw_caps=%#x' % (FAKE_KO, CAPS_NO_BELL | CAP_DOORBELL))
        st, vw = v.state(), v.views()
        if st['transport'] != T_VMWARE or not st['transport_flags'] & TF_DOORBELL or \
                vw['host_caps'] != CAPS_NO_BELL | CAP_DOORBELL:
            raise Fail('bound with the doorbell granted: %s %s (expected vmware, TF_DOORBELL, '
                       'caps 0x3e)' % (st, vw))
        bell_is('bound', bell_exists=1, bell_set=1, bell_made=1, cmd_get_target=1)
        said('rings a VMCI doorbell', 1, 'bound')
        v.agree('bound', 0)

        rung(16384, 'inflate to 64 MiB')
        rung(4096, 'deflate to 16 MiB')
        b = bell_is('after two rings', bell_rings=2, cmd_get_target=3)
        log('#   %d GET_TARGET calls in all: one at bind, one per ring; no poll ran' %
            b['cmd_get_target'])

        # Denied at a reset: polling only, TF_DOORBELL clear.
        poll_ms(POLL_MS)
        v.fake(caps=CAPS_NO_BELL, reset_now=1)
        v.wait(lambda st: st['host_resets'] == 1 and not st['transport_flags'] & TF_DOORBELL,
               'renegotiated without the doorbell', timeout=60)
        said('the host grants no doorbell', 1, 'denied')
        b0 = bell_is('denied', bell_exists=0, bell_set=0, bell_made=1, bell_destroyed=1)
        v.target(8192, 'denied: polled refill to 32 MiB')
        b = bell_is('polled', bell_rings=b0['bell_rings'])
        if b['cmd_get_target'] <= b0['cmd_get_target']:
            raise Fail('denied: no GET_TARGET poll (%s)' % b)
        log('#   denied: %d polls at %d ms, no ring; the balloon followed' % (
            b['cmd_get_target'] - b0['cmd_get_target'], POLL_MS))

        # Granted again at the next reset: a new doorbell, registered.
        v.fake(caps=CAPS_NO_BELL | CAP_DOORBELL, reset_now=1)
        v.wait(lambda st: st['host_resets'] == 2 and st['transport_flags'] & TF_DOORBELL,
               'renegotiated with the doorbell', timeout=60)
        said('rings a VMCI doorbell', 2, 'granted again')
        bell_is('re-registered', bell_exists=1, bell_set=1, bell_made=2, bell_destroyed=1)
        v.wait(lambda st: st['target'] == 8192, 'refill target after the reset')
        v.follow('refill after the reset')
        poll_ms(BELL_POLL_MS)
        rung(12288, 'inflate to 48 MiB on the new doorbell')

        # DOORBELL_SET refused: the doorbell is destroyed, polling, logged.
        poll_ms(POLL_MS)
        v.fake(bell_status=8, reset_now=1)
        v.wait(lambda st: st['host_resets'] == 3 and not st['transport_flags'] & TF_DOORBELL,
               'DOORBELL_SET refused', timeout=60)
        said('answered DOORBELL_SET with status 8', 1, 'DOORBELL_SET refused')
        bell_is('DOORBELL_SET refused', bell_exists=0, bell_set=0, bell_made=3, bell_destroyed=3)
        v.target(4096, 'polled after DOORBELL_SET failed')
        v.fake(bell_status=0)

        # No vmw_vmci at the reset: polling; once it is there, the doorbell.
        v.fake(bell_nodev=1, reset_now=1)
        v.wait(lambda st: st['host_resets'] == 4, 'the fourth reset', timeout=60)
        said('vmw_vmci is not loaded', 1, 'no VMCI')
        st = v.state()
        if st['transport_flags'] & TF_DOORBELL:
            raise Fail('no VMCI, yet TF_DOORBELL: %s' % st)
        bell_is('no VMCI', bell_exists=0, bell_made=3)
        v.fake(bell_nodev=0)
        v.wait(lambda st: st['transport_flags'] & TF_DOORBELL, 'the doorbell once VMCI is there',
               timeout=60)
        said('rings a VMCI doorbell', 3, 'VMCI arrived')
        bell_is('VMCI arrived', bell_exists=1, bell_set=1, bell_made=4, bell_destroyed=3)
        v.wait(lambda st: st['target'] == 4096, 'refill target after the reset')
        v.follow('refill after the reset')
        poll_ms(BELL_POLL_MS)
        rung(8192, 'inflate to 32 MiB on the late doorbell')

        # Unload with the doorbell registered and pages loaned.
        v.run('rmmod memballoon_fakehost')
        text = v.run('dmesg')
        m = re.findall(r'exit: (\d+) pages still locked, (\d+) protocol errors', text)
        d = re.findall(BELL_EXIT_RE, text)
        if not m or m[-1] != ('0', '0') or not d or d[-1][:3] != ('4', '4', '1') or \
                d[-1][4:] != ('0', '0'):
            raise Fail('unload: fake says %s, doorbell %s (expected 0 locked, 0 errors; '
                       '4 made, 4 destroyed, 1 unregistered, 0 errors, none left)' % (
                           m[-1:] or '?', d[-1:] or '?'))
        st = v.state()
        if (st['transport'], st['actual'], st['transport_flags']) != (T_SIMULATE, 0, 0):
            raise Fail('after unload: %s' % st)
        log('#   unload: the doorbell unregistered and destroyed (%s rings in all), pages unlocked'
            % d[-1][3])
        n = v.dmesg_count('WARNING:\\|BUG:\\|Oops')
        if n:
            raise Fail('%d kernel warnings' % n)
        v.run('rmmod memballoon')
        v.sh.quit()
    vmw_boot(env, body, timeout=400)
