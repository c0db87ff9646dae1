#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The Python half of ./demo: the project's main job, shown in one run.

Builds the kernel shim, memballoond and memballoonctl (with the VM test
harness, tests/vm/harness.py and daemon.py), boots a 1 GiB QEMU guest
running them, has the host ask for 512 MiB back over QMP, shows what the
guest and the host see, and gives the memory back.  Exit 0 when every step
worked, 1 with a message naming the step that did not.
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import daemon  # noqa: E402
from harness import BAL, MIB, Fail, QmpError  # noqa: E402

GUEST_MIB = 1024
LOAN_MIB = 512
KIB = 1024


def say(msg=''):
    print(msg, flush=True)


def indent(text, prefix='    '):
    return '\n'.join(prefix + l for l in text.rstrip().splitlines())


class DemoError(Exception):
    pass


def build(env):
    say('Building the kernel shim (memballoon.ko), memballoond and memballoonctl ...')
    t0 = time.monotonic()
    env.extract_kernel()
    if not env.build_kmod():
        raise DemoError(env.kmod_err + ' (see %s)' % os.path.join(env.logdir, 'kmod-build.log'))
    if not env.build_guest():
        raise DemoError(env.guest_err)
    if not daemon.build_userspace(env):
        raise DemoError(env.userspace_err)
    env.build_initramfs()
    say('  done in %.0f s (kernel %s; everything built is in %s)' % (
        time.monotonic() - t0, env.kv, harness.BUILD))
    if not env.accel:
        say('Checking whether this machine can run the guest with KVM (at most %.0f s) ...'
            % harness.KVM_PROBE_TIMEOUT)
    env.pick_accel()
    if env.accel == 'kvm':
        say('  yes: the guest runs with KVM hardware virtualization')
    else:
        note = env.accel_note
        if note.startswith('tcg (') and note.endswith(')'):
            note = note[len('tcg ('):-1]
        say('  the guest runs under QEMU\'s software emulator (TCG), slower but fine here: %s'
            % note)


def guest_memory(sh):
    mi = sh.meminfo()
    return mi['MemTotal'] // KIB, mi['MemAvailable'] // KIB


def show_status(sh):
    rc, out = sh.run('memballoonctl status', check=False)
    say(indent(out))
    if rc != 0:
        raise DemoError('memballoonctl status exited %d' % rc)


def run_demo(env):
    say('Booting a %d MiB guest (Debian\'s kernel, a tiny busybox userland, the shim and '
        'memballoond) ...' % GUEST_MIB)
    t0 = time.monotonic()
    g = harness.Guest(env, 'demo', run=daemon.RUN, devices=[BAL], mem_mib=GUEST_MIB,
                      timeout=180, logname='demo')
    try:
        g.wait_line(r'^@@ BOOTED', timeout=90, what='the guest to boot')
        sh = daemon.Shell(g)
        sh.start_daemon()           # the shipped /etc/memballoond.conf
        sh.wait_status(daemon.idle_at(0), 'memballoond ready')
        say('  the guest is up after %.0f s, and memballoond runs in it with the shipped '
            'configuration' % (time.monotonic() - t0))
        say()

        say('1. Memory before')
        say('   A program in the guest uses 600 MiB and exits, as a busy guest would.')
        sh.run('memballoon_test touch 600', timeout=120)
        total0, avail0 = guest_memory(sh)
        rss0 = g.rss_kib()
        say('   guest: %d MiB of RAM, %d MiB of it free to use' % (total0, avail0))
        say('   host:  the QEMU process still holds %d MiB of the host\'s RAM (its RSS): '
            'the guest\'s free memory is not free on the host' % (rss0 // KIB))
        say()

        say('2. The host asks for %d MiB back' % LOAN_MIB)
        say('   QMP command to QEMU: {"execute": "balloon", "arguments": {"value": %d}}  '
            '(guest size %d MiB -> %d MiB)' % ((GUEST_MIB - LOAN_MIB) * MIB, GUEST_MIB,
                                              GUEST_MIB - LOAN_MIB))
        t = time.monotonic()
        g.set_balloon(LOAN_MIB * MIB)
        try:
            g.wait_actual(g.mem_bytes - LOAN_MIB * MIB, timeout=60)
        except Fail as e:
            raise DemoError('the guest did not give the memory: %s' % e)
        say('   memballoond in the guest took %d MiB out of use and handed it to the host '
            'in %.1f s' % (LOAN_MIB, time.monotonic() - t))
        say()

        say('3. Inside the guest: memballoonctl status')
        sh.wait_status(daemon.idle_at(LOAN_MIB * KIB), 'balloon at %d MiB' % LOAN_MIB)
        show_status(sh)
        say()

        say('4. Memory after')
        time.sleep(0.2)
        rss1 = g.rss_kib()
        total1, avail1 = guest_memory(sh)
        say('   guest: %d MiB of RAM now (%d MiB lent to the host), %d MiB free to use' % (
            total1, total0 - total1, avail1))
        say('   host:  the QEMU process holds %d MiB, down from %d MiB: %d MiB went back '
            'to the host' % (rss1 // KIB, rss0 // KIB, (rss0 - rss1) // KIB))
        if rss0 - rss1 < 0.9 * LOAN_MIB * KIB:
            raise DemoError('QEMU\'s RSS fell by only %d MiB, expected about %d MiB' % (
                (rss0 - rss1) // KIB, LOAN_MIB))
        say()

        say('5. The host gives the memory back')
        say('   QMP command to QEMU: {"execute": "balloon", "arguments": {"value": %d}}' % (
            GUEST_MIB * MIB))
        t = time.monotonic()
        g.set_balloon(0)
        try:
            g.wait_actual(g.mem_bytes, timeout=60)
        except Fail as e:
            raise DemoError('the guest did not take the memory back: %s' % e)
        sh.wait_status(daemon.idle_at(0), 'balloon empty')
        total2, avail2 = guest_memory(sh)
        say('   back in %.1f s: the guest has %d MiB of RAM again, %d MiB free to use' % (
            time.monotonic() - t, total2, avail2))
        if total2 != total0:
            raise DemoError('the guest has %d MiB of RAM, %d MiB before' % (total2, total0))
        say('   memballoonctl status in the guest:')
        show_status(sh)
        sh.finish()
        g.finish(timeout=30)
    except (Fail, QmpError) as e:
        raise DemoError(str(e))
    finally:
        g.kill()
    probs = g.kernel_problems()
    if probs:
        raise DemoError('the guest kernel reported a problem: %s' % probs[0][:160])


def main():
    t0 = time.monotonic()
    say('memballoond demo: a virtual machine lends %d MiB of its memory back to its host, '
        'then gets it back.' % LOAN_MIB)
    say()
    env = harness.Env(accel=os.environ.get('MBT_ACCEL') or None)
    env.current = 'demo'
    try:
        build(env)
        say()
        run_demo(env)
    except DemoError as e:
        say()
        say('demo FAILED: %s' % e)
        say('(the guest\'s console log is %s)' % os.path.join(env.logdir, 'demo.log'))
        return 1
    say()
    say('Demo finished in %.0f s: the host got the guest\'s unused memory back while the guest '
        'kept running, and returned it.' % (time.monotonic() - t0))
    return 0


if __name__ == '__main__':
    sys.exit(main())
