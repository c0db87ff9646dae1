# SPDX-License-Identifier: GPL-2.0-or-later
"""The host side of the daemon's end-to-end scenarios (imported by
daemon.py, pressure.py, cmm.py and vmware.py).

daemon-roundtrip, daemon-floor and pressure-oom-rescue are written once
(daemon.roundtrip(), daemon.floor(), pressure.oom_rescue_leg()) against a
Host: whatever sets the balloon's target and shows what it holds.  Each
runs on every transport a guest here can have, and the policy must not
tell them apart:

    VirtioHost       QEMU's virtio-balloon, over QMP (this module)
    cmm.FakeCmmHost  tests/vm/fakehost/fake_cmm.c, the fake CMO hypervisor
    vmware.FakeVmwHost  tests/vm/fakehost/fake_vmw.c, the fake VMware host

A host's methods take the guest (harness.Guest) and its shell
(daemon.Shell); sizes are bytes.  Each fake host class lives next to the
scenarios that drive its fake directly.
"""

import time

from harness import BAL, Fail

KIB = 1024


class Host:
    """The interface, with what is common.  name: the transport as
    `memballoonctl status` and `daemon_helper state` name it.
    in_totalram: the balloon stays in MemTotal (the shim's
    BALLOON_IN_TOTALRAM: virtio with deflate-on-oom, VMware); otherwise
    MemTotal drops by exactly the balloon."""
    name = None
    in_totalram = False
    boot_timeout = 180          # seconds, a bound for the whole boot

    def boot_kw(self, load='shim'):
        """harness.boot() arguments for a guest on this host; @load is
        oom_rescue_leg()'s choice of driver (the fake hosts take the shim
        only)."""
        raise NotImplementedError

    def bound(self, g, sh):
        """Before the daemon starts: check that the transport bound this
        host, and make its views readable.  Raises Fail."""

    def ask(self, env, nbytes):
        """What to ask for so that the balloon ends at @nbytes."""
        return nbytes

    def set_target(self, g, sh, nbytes):
        """The host asks for a balloon of @nbytes."""
        raise NotImplementedError

    def loaned(self, g, sh):
        """Bytes the host sees ballooned."""
        raise NotImplementedError

    def wait_loaned(self, g, sh, nbytes, timeout):
        """Wait (bounded) until the host sees exactly @nbytes ballooned."""
        end = min(g.deadline, time.monotonic() + timeout)
        while True:
            have = self.loaned(g, sh)
            if have == nbytes:
                return
            if time.monotonic() > end:
                raise Fail('the %s host sees %d KiB ballooned, expected %d KiB' % (
                    self.name, have // KIB, nbytes // KIB))
            time.sleep(0.1)

    def agree(self, g, sh, what, nbytes=None):
        """The host's view is the guest's balloon (and @nbytes, if given),
        read now.  Returns a line for the log, or ''; raises Fail."""
        raise NotImplementedError

    def resident_kib(self, g):
        """Host memory the guest's RAM takes, if this host gives ballooned
        pages back to its own OS (None: a fake host in the guest)."""
        return None

    def reset(self, g, sh):
        """Make the host reset the balloon (it forgets every page) and
        wait until the shim saw it; False if this host cannot."""
        return False

    def final_check(self, g, sh):
        """At the end of oom_rescue_leg(), the daemon still running:
        agree() with the daemon stopped (SIGSTOP), so that no step of its
        runs between the two views' reads.  Returns a line to log."""
        sh.run('kill -STOP $(cat /tmp/memballoond.pid)')
        try:
            return self.agree(g, sh, 'after the pressure rescue')
        finally:
            sh.run('kill -CONT $(cat /tmp/memballoond.pid)')


class VirtioHost(Host):
    """QEMU's virtio-balloon: the target set over QMP ("balloon"), the
    host's view from "query-balloon" (RAM minus actual).  deflate_on_oom:
    the device property (pressure-oom-rescue needs it)."""
    name = 'virtio'

    def __init__(self, deflate_on_oom=False):
        self.deflate_on_oom = deflate_on_oom
        self.in_totalram = deflate_on_oom
        self.device = BAL + (',deflate-on-oom=on' if deflate_on_oom else '')

    def boot_kw(self, load='shim'):
        return dict(devices=[self.device], load=load)

    def ask(self, env, nbytes):
        # Pages larger than virtio's 4 KiB PFNs (ppc64el's 64 KiB): ask
        # for 60 KiB less; the shim rounds up to whole pages like the
        # stock driver, and the daemon must follow the rounded target.
        return nbytes - (60 * KIB if env.page_size > 4096 else 0)

    def set_target(self, g, sh, nbytes):
        g.set_balloon(nbytes)

    def loaned(self, g, sh):
        return g.mem_bytes - g.actual()

    def wait_loaned(self, g, sh, nbytes, timeout):
        g.wait_actual(g.mem_bytes - nbytes, timeout=timeout)

    def agree(self, g, sh, what, nbytes=None):
        shim = sh.shim_state()['actual_kib']
        host = self.loaned(g, sh) // KIB
        if host != shim or (nbytes is not None and host != nbytes // KIB):
            raise Fail('%s: query-balloon: %d KiB ballooned, the shim holds %d KiB%s' % (
                what, host, shim, '' if nbytes is None else ' (expected %d)' % (nbytes // KIB)))
        return 'query-balloon and the shim: %d KiB' % host

    def resident_kib(self, g):
        return g.rss_kib()
