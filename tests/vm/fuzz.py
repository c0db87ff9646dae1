# SPDX-License-Identifier: GPL-2.0-or-later
"""The "fuzz" VM scenario (issue 10), imported by harness.py.

The guest half is guest/memballoon_fuzz.c: forked writers make random and
boundary calls on /dev/memballoon (every ioctl, argsz, flag bits, reserved
fields, limits, bad pointers, unknown numbers, read/poll of the events,
opens) and check each result against what the header allows, while
compact_memory is written in a loop, an OOM hog is killed over and over,
and an event reader polls.  This half unplugs and replugs the
virtio-balloon device (device_del / device_add, ACPI hotplug on -M pc)
every 1-3 s after it attached, for as long as the writers run, each new device with
deflate-on-oom and stats polling every second, its host target a few MiB
or none.  At the end it plugs a device in if none is there, sets the
target to 0, and checks query-balloon's actual against what the guest
says it holds (a 16 MiB balloon, then none).

Seeded: --seed N (default random, printed as "fuzz seed N"); the guest's
writers draw from streams derived from it, so the same seed makes the same
calls (the guest prints per-command counts and a hash of the calls).  The
host's unplug schedule draws from the same seed, but its timing against
the guest's calls is not reproducible.
"""

import os
import random
import statistics
import time

import harness
from harness import BAL, MIB, Fail, log, run_cmd

FUZZ_SRC = os.path.join(harness.GUEST_SRC, 'memballoon_fuzz.c')
DEFAULT_CALLS = 100000
# Unplug/replug cycles that must start while the writers run.
MIN_CYCLES = 3


def _prepare_hook(env):
    """Build the guest program when the fuzz scenario is selected."""
    if 'fuzz' not in env.selected:
        return
    out = os.path.join(harness.BUILD, 'memballoon_fuzz')
    r = run_cmd([env.arch.cc, '-std=gnu11', '-O2', '-g', '-static', '-Wall', '-Wextra',
                 '-Werror', '-I', harness.UAPI_DIR, '-o', out, FUZZ_SRC])
    if r.returncode != 0:
        log(r.stdout)
        env.fuzz_err = 'memballoon_fuzz failed to build: %s' % (
            r.stdout.strip().splitlines() or ['?'])[0][:200]
        return
    if out not in harness.EXTRA_BINS:
        harness.EXTRA_BINS.append(out)


harness.PREPARE_HOOKS.append(_prepare_hook)


def _dev(n):
    return 'bal%d' % n


def _wait_driver_ok(g, dev, timeout):
    """Seconds until the guest's driver of @dev set DRIVER_OK
    (x-query-virtio-status, QEMU 7.2+), or None (not within @timeout, or
    QEMU cannot tell)."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        try:
            r = g.qmp.cmd('x-query-virtio-status',
                          path='/machine/peripheral/%s/virtio-backend' % dev)
        except harness.QmpError:
            return None
        if 'DRIVER_OK' in str(r.get('status')):
            return time.monotonic() - t0
        time.sleep(0.1)
    return None


def _wait_deleted(g, dev, timeout):
    """Wait for DEVICE_DELETED of @dev itself (QEMU also sends one for its
    virtio-backend child first)."""
    end = time.monotonic() + timeout
    while True:
        left = end - time.monotonic()
        if left <= 0:
            raise Fail('no DEVICE_DELETED for %s within %.0f s of device_del' % (dev, timeout))
        ev = g.qmp.wait_event('DEVICE_DELETED', timeout=left)
        if ev.get('data', {}).get('device') == dev:
            return


@harness.scenario('fuzz', 'seeded ioctl fuzzer: 10^5 random/boundary calls from forked writers, '
                  'racing compaction, an OOM hog and device unplug/replug; every result '
                  'as the header allows, MemTotal and query-balloon exact at the end')
def sc_fuzz(env):
    if getattr(env, 'fuzz_err', None):
        raise Fail(env.fuzz_err)
    seed = getattr(env, 'fuzz_seed', None)
    if seed is None:
        seed = random.SystemRandom().randrange(1 << 63)
    calls = getattr(env, 'fuzz_calls', None) or DEFAULT_CALLS
    log('#   fuzz seed %d (%d calls; again: tests/vm/run --seed %d fuzz)' % (seed, calls, seed))
    rng = random.Random(seed)
    st = {'n': 0, 'present': True, 'cycles': 0, 'del_s': [], 'attach_s': [],
          'no_driver_ok': 0, 'guest_s': None}

    def polling(g):
        g.qmp.cmd('qom-set', path='/machine/peripheral/%s' % _dev(st['n']),
                  property='guest-stats-polling-interval', value=1)

    def unplug(g):
        t = time.monotonic()
        g.logf.write('# harness: %.2f s: device_del %s\n' % (t - st['t0'], _dev(st['n'])))
        g.qmp.cmd('device_del', id=_dev(st['n']))
        _wait_deleted(g, _dev(st['n']), 60)
        st['present'] = False
        st['del_s'].append(time.monotonic() - t)

    def replug(g):
        st['n'] += 1
        g.logf.write('# harness: %.2f s: device_add %s\n' % (time.monotonic() - st['t0'],
                                                         _dev(st['n'])))
        g.qmp.cmd('device_add', driver='virtio-balloon-pci', id=_dev(st['n']),
                  **{'deflate-on-oom': True})
        st['present'] = True
        polling(g)

    def body(g):
        g.ready('fuzz-start')
        polling(g)
        st['t0'] = time.monotonic()
        g.go('fuzz-start')

        def done():
            return g.exited or g.pending_line(r'^@@ READY fuzz-done\b')

        def nap(s):
            end = time.monotonic() + s
            while time.monotonic() < end and not done():
                time.sleep(0.05)
        while not done():
            nap(rng.uniform(1.0, 3.0))
            if done():
                break
            st['cycles'] += 1
            unplug(g)
            nap(rng.uniform(0.2, 1.0))
            replug(g)
            # The guest attaches in 2-5 s when busy: give the new device
            # time with the driver bound before the next unplug.
            ok = _wait_driver_ok(g, _dev(st['n']), 15)
            if ok is not None:
                st['attach_s'].append(ok)
            else:
                st['no_driver_ok'] += 1
            # A host target of a few MiB (TARGET events, config changes).
            g.set_balloon(rng.choice([0, 0, 8, 32]) * MIB)
        args = g.ready('fuzz-done')
        st['guest_s'] = int(args[0]) / 1000 if args else None
        if not st['present']:
            replug(g)
        g.set_balloon(0)
        g.go('fuzz-done')
        g.serve({
            'fuzz-final': lambda g, a: harness.expect_actual(g, int(a[0]), 'after the final inflate'),
            'fuzz-empty': lambda g, a: harness.expect_actual(g, int(a[0]), 'balloon emptied'),
        })

    g = harness.boot(env, 'fuzz', body=body, run='/bin/memballoon_fuzz',
                     args=['--seed', seed, '--calls', calls],
                     devices=[BAL + ',deflate-on-oom=on'], timeout=400)
    for line in g.lines:
        if line.startswith('fuzz ') or line.startswith('fuzz:'):
            log('#   ' + line)

    def med_max(v):
        return '%.2f/%.2f s' % (statistics.median(v), max(v)) if v else '-'
    log('#   fuzz: %d unplug/replug cycles during the run (device_del -> DEVICE_DELETED '
        'median/max %s; device_add -> DRIVER_OK %s, not within 15 s %d), guest time %s s' % (
            st['cycles'], med_max(st['del_s']), med_max(st['attach_s']), st['no_driver_ok'],
            st['guest_s']))
    if st['cycles'] < MIN_CYCLES:
        raise Fail('only %d unplug/replug cycles while the writers ran (want >= %d)' % (
            st['cycles'], MIN_CYCLES))
