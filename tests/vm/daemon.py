# SPDX-License-Identifier: GPL-2.0-or-later
"""VM scenarios for memballoond and memballoonctl (imported by harness.py).

Each scenario boots a guest whose /init runs guest/daemon-test, a small
command server: the host sends shell scripts over ttyS1 and reads their
output and exit status from the console (see that file and README.md).  So
the whole scenario -- QMP on the host, memballoond and memballoonctl in the
guest -- reads top to bottom here.

The userspace comes from $MBT_USERSPACE_DIR (a build directory holding
memballoond and memballoonctl) or is built here, out of tree, in
BUILD/userspace (configure --enable-werror; make only rebuilds what
changed); for --arch arm64|ppc64el it is cross-built against a sysroot of
that arch's Debian libraries (tests/vm/cross.py).  A failed build fails
every daemon scenario with its reason.
"""

import base64
import json
import os
import re
import time

import cross
import harness
import hosts
from harness import BAL, MIB, Fail, log, run_cmd, scenario

USERSPACE_BINS = ('memballoond', 'memballoonctl')
HELPER_SRC = os.path.join(harness.GUEST_SRC, 'daemon_helper.c')
GUEST_SCRIPT = os.path.join(harness.GUEST_SRC, 'daemon-test')
SHIPPED_CONF = os.path.join(harness.ROOT, 'conf', 'memballoond.conf')
RUN = '/bin/daemon-test'
CONF = '/etc/mbt.conf'          # the scenario's config, written by the host
DLOG = '/tmp/memballoond.log'   # the daemon's --log-target=console output
KIB = 1024

NAMES = []                      # the scenarios defined here


def daemon_scenario(name, doc):
    NAMES.append(name)
    return scenario(name, doc)


# --------------------------------------------------------------------------
# Build: userspace, guest helper
# --------------------------------------------------------------------------

def _tail(text, n=3):
    lines = [l for l in text.splitlines() if 'error' in l.lower()] or \
        text.strip().splitlines()[-n:] or ['no output']
    return lines[0].strip()[:200]


def build_userspace(env):
    """Find or build memballoond + memballoonctl and the guest helper, and
    add them (with the guest script and the shipped config) to the
    initramfs.  Sets env.userspace_err on failure."""
    env.userspace_err = None
    logf = os.path.join(env.logdir, 'userspace-build.log')
    given = os.environ.get('MBT_USERSPACE_DIR')
    if given:
        bindir = os.path.abspath(given)
        missing = [b for b in USERSPACE_BINS
                   if not os.access(os.path.join(bindir, b), os.X_OK)]
        if missing:
            env.userspace_err = 'MBT_USERSPACE_DIR=%s lacks %s' % (given, ' '.join(missing))
            return False
        wrong = [b for b in USERSPACE_BINS if cross.elf_machine(
            os.path.join(bindir, b)) != cross.EM[env.arch.name]]
        if wrong:
            env.userspace_err = 'MBT_USERSPACE_DIR=%s: %s not built for %s' % (
                given, ' '.join(wrong), env.arch.name)
            return False
        if env.arch.foreign:
            # Their libraries come from the sysroot (tests/vm/cross.py).
            try:
                env.sysroot = cross.sysroot(env.target.m, env.arch)
            except env.target.m.LegError as e:
                env.userspace_err = 'sysroot for %s: %s' % (env.arch.name, e)
                return False
    elif env.arch.foreign:
        if not cross_build(env, logf):
            return False
        bindir = env.userspace_dir
    else:
        bindir = os.path.join(harness.BUILD, 'userspace')
        os.makedirs(bindir, exist_ok=True)
        out = []
        steps = []
        if not os.path.exists(os.path.join(harness.ROOT, 'configure')):
            steps.append(('autogen', ['./autogen.sh'], harness.ROOT))
        if not os.path.exists(os.path.join(bindir, 'Makefile')):
            steps.append(('configure', [os.path.join(harness.ROOT, 'configure'),
                                        '--enable-werror'], bindir))
        steps.append(('make', ['make', '-j2'] + list(USERSPACE_BINS), bindir))
        for what, cmd, cwd in steps:
            r = run_cmd(cmd, cwd=cwd)
            out.append('$ %s\n%s' % (' '.join(cmd), r.stdout))
            if r.returncode != 0:
                with open(logf, 'w') as f:
                    f.write('\n'.join(out))
                env.userspace_err = 'userspace %s failed: %s (see %s)' % (
                    what, _tail(r.stdout), logf)
                return False
        with open(logf, 'w') as f:
            f.write('\n'.join(out))
    helper = os.path.join(harness.BUILD, 'daemon_helper')
    r = run_cmd([env.arch.cc, '-std=gnu11', '-O2', '-static', '-Wall', '-Wextra', '-Werror',
                 '-I', harness.UAPI_DIR, '-o', helper, HELPER_SRC])
    if r.returncode != 0:
        env.userspace_err = 'daemon_helper failed to build: %s' % _tail(r.stdout)
        return False
    env.userspace_dir = bindir
    for b in [os.path.join(bindir, b) for b in USERSPACE_BINS] + [helper, GUEST_SCRIPT]:
        if b not in harness.EXTRA_BINS:
            harness.EXTRA_BINS.append(b)
    harness.EXTRA_FILES['/etc/memballoond.conf'] = SHIPPED_CONF
    return True


def cross_build(env, logf):
    """--arch arm64|ppc64el: cross-build the userspace against a sysroot of
    bookworm's libraries for that arch (tests/vm/cross.py), and have the
    initramfs take the libraries from there.  Sets env.userspace_dir and
    env.sysroot, or env.userspace_err."""
    t0 = time.monotonic()
    bindir = os.path.join(harness.HERE, 'build', 'userspace-' + env.arch.name)
    try:
        root = cross.build(env.target.m, env.arch, bindir, logf)
        for b in USERSPACE_BINS:
            cross.shared_libs(env.arch, root, os.path.join(bindir, b))
    except cross.CrossError as e:
        env.userspace_err = str(e)
        return False
    env.userspace_dir = bindir
    env.sysroot = root
    harness.vlog('%s userspace cross-built in %.1f s' % (env.arch.name, time.monotonic() - t0))
    return True


def _prepare_hook(env):
    if any(n in NAMES for n in env.selected):
        if not build_userspace(env):
            log('# %s' % env.userspace_err)


harness.PREPARE_HOOKS.append(_prepare_hook)


# --------------------------------------------------------------------------
# Talking to the guest: commands, the daemon, memory
# --------------------------------------------------------------------------

class Shell:
    """Run shell scripts in the guest (guest/daemon-test)."""

    def __init__(self, g):
        self.g = g

    def run(self, script, timeout=60, check=True):
        """Run @script; return (rc, output).  check: raise Fail unless rc 0."""
        g = self.g
        g.ready('cmd', timeout=timeout)
        start = g.cursor
        g.go('cmd', base64.b64encode(script.encode()).decode())
        short = script.strip().splitlines()[0][:60] if script.strip() else '?'
        m = g.wait_line(r'^@@ RC (\d+)$', timeout, what='guest command "%s"' % short)
        rc = int(m.group(1))
        out = '\n'.join(l[5:] for l in g.lines[start:g.cursor - 1] if l.startswith('@@ O '))
        if check and rc != 0:
            raise Fail('guest command "%s" exited %d: %s' % (
                short, rc, ' | '.join(out.strip().splitlines()[-3:])[:300]))
        return rc, out

    def out(self, script, **kw):
        return self.run(script, **kw)[1]

    def quit(self):
        self.g.ready('cmd', timeout=30)
        self.g.go('quit')

    # -- guest facts --------------------------------------------------------
    def meminfo(self):
        """/proc/meminfo in KiB."""
        res = {}
        for line in self.out('cat /proc/meminfo').splitlines():
            m = re.match(r'^(\w+):\s+(\d+)', line)
            if m:
                res[m.group(1)] = int(m.group(2))
        return res

    def shim_state(self):
        """The shim's own view (daemon_helper state): dict of ints/strings."""
        out = self.out('daemon_helper state')
        return {k: (int(v) if v.isdigit() else v)
                for k, v in (kv.split('=', 1) for kv in out.split() if '=' in kv)}

    # -- the daemon ------------------------------------------------------------
    def start_daemon(self, conf=None):
        """Write @conf (libconfig text) to CONF (None: use the shipped
        /etc/memballoond.conf), check it, start memballoond in the
        background and wait until its control socket answers."""
        path = CONF if conf is not None else '/etc/memballoond.conf'
        write = "cat > %s <<'MBT_EOF'\n%s\nMBT_EOF\n" % (CONF, conf) if conf is not None else ''
        self.run('''%(write)smemballoond --check-config -c %(conf)s >/tmp/check.out 2>&1 || { cat /tmp/check.out; exit 1; }
memballoond -c %(conf)s --log-target=console >>%(log)s 2>&1 &
echo $! >/tmp/memballoond.pid
i=0
until memballoonctl status >/dev/null 2>&1; do
    i=$((i + 1))
    if [ $i -ge 100 ] || ! [ -d /proc/$(cat /tmp/memballoond.pid) ]; then
        echo "memballoond did not answer within 10 s"; tail -n 20 %(log)s; exit 1
    fi
    usleep 100000
done''' % dict(write=write, conf=path, log=DLOG), timeout=60)

    def daemon_alive(self):
        rc, _ = self.run('p=$(cat /tmp/memballoond.pid) && [ -d /proc/$p ] && '
                         '! grep -q "^State:.*Z" /proc/$p/status', check=False)
        return rc == 0

    def kill_daemon(self, sig='KILL'):
        self.run('p=$(cat /tmp/memballoond.pid); kill -%s $p; i=0\n'
                 'while [ -d /proc/$p ] && ! grep -q "^State:.*Z" /proc/$p/status; do\n'
                 '    i=$((i + 1)); [ $i -ge 100 ] && { echo "memballoond still runs"; exit 1; }\n'
                 '    usleep 100000\n'
                 'done' % sig)

    def status(self):
        rc, out = self.run('memballoonctl status --json', check=False)
        if rc != 0:
            raise Fail('memballoonctl status --json exited %d: %s' % (rc, out.strip()[:200]))
        try:
            return json.loads(out)
        except ValueError as e:
            raise Fail('memballoonctl status --json: bad JSON (%s): %s' % (e, out[:200]))

    def wait_status(self, pred, what, timeout=60, interval=0.2):
        """Poll the status until pred(status) holds; return it."""
        end = min(self.g.deadline, time.monotonic() + timeout)
        while True:
            st = self.status()
            if pred(st):
                return st
            if time.monotonic() > end:
                raise Fail('%s: not reached within %.0f s; status: %s' % (
                    what, timeout, brief(st)))
            time.sleep(interval)

    def daemon_log(self):
        return self.out('cat %s' % DLOG)

    def finish(self):
        """The daemon must still run; stop it with SIGTERM (clean stop
        logged), fail on logged errors, then end the guest script."""
        if not self.daemon_alive():
            raise Fail('memballoond is not running any more: %s' % last_lines(self.daemon_log()))
        self.kill_daemon('TERM')
        text = self.daemon_log()
        if 'memballoond stopped' not in text:
            raise Fail('memballoond did not log a clean stop: %s' % last_lines(text))
        errs = [l for l in text.splitlines() if '[error]' in l]
        if errs:
            raise Fail('memballoond logged an error: %s' % errs[0][:200])
        self.quit()


def brief(st):
    b = st.get('balloon', {})
    return 'state %s, actual %s KiB, target %s KiB, host %s KiB, reason "%s"' % (
        b.get('state'), b.get('actual_kib'), b.get('target_kib'),
        b.get('host_target_kib'), b.get('reason'))


def last_lines(text, n=3):
    return ' | '.join(text.strip().splitlines()[-n:])[:300]


def conf(**groups):
    """libconfig text: conf(balloon=dict(source='simulate'), ...).  Logs at
    debug level to the console, so the journal fields show."""
    groups.setdefault('log', {}).update(level='debug', target='console')
    out = []
    for g, keys in groups.items():
        out.append('%s = {' % g)
        for k, v in keys.items():
            if isinstance(v, bool):
                v = 'true' if v else 'false'
            elif isinstance(v, str):
                v = '"%s"' % v
            out.append('    %s = %s;' % (k, v))
        out.append('};')
    return '\n'.join(out)


def change_lines(text):
    return [l for l in text.splitlines()
            if re.search(r'Balloon (inflate|deflate) |Host target .* (floor|exceeds)', l)]


def print_changes(text, limit=8):
    lines = change_lines(text)
    for l in lines[:limit]:
        log('#     %s' % l[:300])
    if len(lines) > limit:
        log('#     ... (%d more)' % (len(lines) - limit))


def kib(st, key):
    return st['balloon'][key]


def idle_at(kib_):
    return lambda st: (st['balloon']['state'] == 'idle' and
                       st['balloon']['actual_kib'] == kib_)


def loaned(g):
    """Bytes the host sees ballooned (RAM minus query-balloon actual)."""
    return g.mem_bytes - g.actual()


def daemon_boot(env, body, **kw):
    """Boot a guest running guest/daemon-test and run body(g, sh); on a
    failure, copy the daemon's log to the boot log if the guest answers."""
    if getattr(env, 'userspace_err', 'not built') is not None:
        raise Fail(getattr(env, 'userspace_err', None) or
                   'the userspace was not built (prepare hook did not run)')

    def wrapped(g):
        sh = Shell(g)
        try:
            body(g, sh)
        except Fail:
            try:
                g.deadline = min(g.deadline, time.monotonic() + 15)
                sh.run('echo "--- %s:"; cat %s' % (DLOG, DLOG), timeout=10, check=False)
            except Exception:   # noqa: BLE001 - best effort only
                pass
            raise
    kw.setdefault('timeout', 180)
    return harness.boot(env, env.current, body=wrapped, run=RUN, **kw)


# --------------------------------------------------------------------------
# Scenarios
# --------------------------------------------------------------------------

# daemon-roundtrip and daemon-floor: one body each, run on every host
# (hosts.py): here on QEMU's virtio-balloon, in cmm.py on the fake CMO
# host (-cmm), in vmware.py on the fake VMware host (-vmware).

VIRTIO = hosts.VirtioHost()


def check_transport(st, host):
    transport = st['balloon'].get('transport')
    if transport != host.name:
        raise Fail('memballoonctl status says transport "%s", expected "%s"' % (
            transport, host.name))


def check_memtotal(sh, host, m0, balloon_kib, what):
    """MemTotal drops by exactly the balloon, or stays where the balloon
    is counted in it (host.in_totalram)."""
    m = sh.meminfo()['MemTotal']
    want = m0 if host.in_totalram else m0 - balloon_kib
    if m != want:
        raise Fail('%s: MemTotal %d -> %d kB, expected %d (%d KiB ballooned, %s)' % (
            what, m0, m, want, balloon_kib,
            'the balloon stays in MemTotal' if host.in_totalram else 'MemTotal drops by it'))


def _change(st):
    lc = st['balloon'].get('last_change', {})
    return '%s %d MiB in %s ms (%.0f MiB/s)' % (
        lc.get('kind'), lc.get('kib', 0) // KIB, lc.get('duration_ms'),
        lc.get('rate_mib_per_sec', 0))


def roundtrip(env, host):
    """daemon-roundtrip on @host (a hosts.Host): the host asks 512 MiB; the
    host's view, `memballoonctl status` (idle, targets 512 MiB, no reason)
    and MemTotal say exactly that, and the host's view is the shim's
    balloon; a host that frees ballooned RAM (QEMU) shows >= 90% of it
    gone from its RSS.  Back to 0: the same, and the memory is usable
    again.  A host that can reset the balloon (VMware) does, and the
    daemon refills to its target."""
    name = env.current

    def body(g, sh):
        host.bound(g, sh)
        if host.resident_kib(g) is not None:
            sh.run('memballoon_test touch 600', timeout=120)   # resident on the host
        sh.start_daemon(conf(stats=dict(interval_s=1)))
        st = sh.wait_status(idle_at(0), 'daemon idle at start')
        check_transport(st, host)
        m0 = sh.meminfo()['MemTotal']
        rss0 = host.resident_kib(g)
        ask = host.ask(env, 512 * MIB)
        t0 = time.monotonic()
        host.set_target(g, sh, ask)
        host.wait_loaned(g, sh, 512 * MIB, timeout=120)
        t_host = time.monotonic() - t0
        st = sh.wait_status(idle_at(512 * KIB), 'status idle at 512 MiB', timeout=120)
        b = st['balloon']
        if (b['host_target_kib'], b['target_kib'], b['reason']) != (512 * KIB, 512 * KIB, ''):
            raise Fail('status after inflate: %s' % brief(st))
        check_memtotal(sh, host, m0, 512 * KIB, 'after the inflate')
        view = host.agree(g, sh, 'daemon at 512 MiB', 512 * MIB)
        rss = ''
        if rss0 is not None:
            time.sleep(0.2)
            rss1 = host.resident_kib(g)
            rss = '; QEMU RSS %d -> %d MiB' % (rss0 // KIB, rss1 // KIB)
        log('#   %s: host asked %d KiB, saw 512 MiB in %.2f s; last_change %s%s' % (
            name, ask // KIB, t_host, _change(st), rss))
        log('#   %s: at 512 MiB: %s' % (name, view))
        if rss0 is not None and rss0 - rss1 < 0.9 * 512 * KIB:
            raise Fail('QEMU RSS dropped by %d MiB, expected >= %d MiB' % (
                (rss0 - rss1) // KIB, int(0.9 * 512)))
        t0 = time.monotonic()
        host.set_target(g, sh, 0)
        host.wait_loaned(g, sh, 0, timeout=120)
        t_host = time.monotonic() - t0
        st = sh.wait_status(idle_at(0), 'status idle at 0', timeout=120)
        log('#   %s: back to 0 in %.2f s; last_change %s' % (name, t_host, _change(st)))
        check_memtotal(sh, host, m0, 0, 'after the deflate')
        host.agree(g, sh, 'daemon back at 0', 0)
        avail = sh.meminfo()['MemAvailable'] // KIB
        if avail < 512 + 64:
            raise Fail('MemAvailable %d MiB after deflate' % avail)
        sh.run('memballoon_test touch %d' % (avail - 64), timeout=120)
        # A host reset: the shim forgets the pages, the daemon refills.
        host.set_target(g, sh, 256 * MIB)
        sh.wait_status(idle_at(256 * KIB), 'status idle at 256 MiB', timeout=120)
        if host.reset(g, sh):
            sh.wait_status(idle_at(256 * KIB), 'refilled to 256 MiB after the reset', timeout=120)
            host.wait_loaned(g, sh, 256 * MIB, timeout=120)
            view = host.agree(g, sh, 'daemon refilled after a host reset', 256 * MIB)
            log('#   %s: refilled after a host reset: %s' % (name, view))
        else:
            host.wait_loaned(g, sh, 256 * MIB, timeout=120)
            host.agree(g, sh, 'daemon at 256 MiB', 256 * MIB)
        check_memtotal(sh, host, m0, 256 * KIB, 'at 256 MiB')
        print_changes(sh.daemon_log())
        sh.finish()
    daemon_boot(env, body, timeout=host.boot_timeout, **host.boot_kw())


def floor(env, host, floor_mib=640):
    """daemon-floor on @host: min_mem_mb=@floor_mib, the host asks 600 MiB;
    the balloon stops at RAM - floor (status: host target 600 MiB, target
    and actual RAM - floor, the reason names the floor; the clamp logged),
    and the host's view is exactly that balloon."""
    name = env.current

    def body(g, sh):
        host.bound(g, sh)
        sh.start_daemon(conf(balloon=dict(min_mem_mb=floor_mib)))
        st = sh.wait_status(idle_at(0), 'daemon idle at start')
        check_transport(st, host)
        m0 = sh.meminfo()['MemTotal']
        want = st['balloon']['total_kib'] - floor_mib * KIB
        if want <= 0 or want >= 600 * KIB:
            raise Fail('guest RAM %d KiB does not exercise the floor' % st['balloon']['total_kib'])
        host.set_target(g, sh, 600 * MIB)
        st = sh.wait_status(idle_at(want), 'balloon at RAM - floor (%d KiB)' % want, timeout=120)
        b = st['balloon']
        if b['host_target_kib'] != 600 * KIB or b['target_kib'] != want:
            raise Fail('status: %s' % brief(st))
        if 'floor' not in b['reason']:
            raise Fail('reason does not mention the floor: "%s"' % b['reason'])
        view = host.agree(g, sh, 'daemon at the floor', want * KIB)
        check_memtotal(sh, host, m0, want, 'at the floor')
        if not re.search(r'would leave less than the floor', sh.daemon_log()):
            raise Fail('no clamp warning in the log')
        log('#   %s: host asked 600 MiB, guest gave %d MiB (RAM %d MiB - floor %d MiB);'
            ' reason "%s"; %s' % (name, want // KIB, b['total_kib'] // KIB, floor_mib,
                                 b['reason'], view))
        sh.finish()
    daemon_boot(env, body, timeout=host.boot_timeout, **host.boot_kw())


@daemon_scenario('daemon-roundtrip',
                 'memballoond follows QMP balloon -512 MiB (status, RSS) and back to full')
def sc_daemon_roundtrip(env):
    roundtrip(env, VIRTIO)


@daemon_scenario('daemon-floor',
                 'min_mem_mb=640, host asks 600 MiB: balloon stops at the floor, says why')
def sc_daemon_floor(env):
    floor(env, VIRTIO)


@daemon_scenario('daemon-floor-walk',
                 'host walks targets around the floor: inflation stops before MemAvailable reaches the '
                 'pressure floor, never trips its own relief, always says why; a reachable target is met')
def sc_daemon_floor_walk(env):
    # Issue 9: with min_mem_mb 256 and the default MemAvailable floor
    # (128 MiB), inflating to the floor drove MemAvailable to 126 MiB and
    # the daemon's own relief fired; then it stalled with an empty reason.
    walk = [900, 700, 1000, 470, 880, 600, 470]
    floor_avail = 128 + 32      # oom.min_available_mb + oom.relief_step_mb (defaults)

    def settled(st):
        b = st['balloon']
        return b['state'] in ('idle', 'paused') and b['actual_kib'] == b['target_kib']

    def body(g, sh):
        sh.start_daemon(conf())
        sh.wait_status(idle_at(0), 'daemon idle at start')
        for mib in walk:
            t0 = time.monotonic()
            g.set_balloon(mib * MIB)
            st = sh.wait_status(lambda st, m=mib: st['balloon']['host_target_kib'] == m * KIB and settled(st),
                                'settled after host target %d MiB' % mib, timeout=60)
            took = time.monotonic() - t0
            b, p = st['balloon'], st['pressure']
            avail = sh.meminfo()['MemAvailable'] // KIB
            log('#   daemon-floor-walk: host %4d MiB -> balloon %4d MiB in %.1f s, MemAvailable %d MiB, '
                'reason "%s"' % (mib, b['actual_kib'] // KIB, took, avail, b['reason']))
            if p['count'] != 0:
                raise Fail('the daemon\'s own inflation tripped its pressure relief (%d events): %s' % (
                    p['count'], last_lines(sh.daemon_log())))
            if b['actual_kib'] != b['host_target_kib'] and not b['reason']:
                raise Fail('held away from the host target with an empty reason: %s' % brief(st))
            if 'MemAvailable' in b['reason'] and avail >= floor_avail + 16:
                raise Fail('held for MemAvailable with %d MiB of it to spare: %s' % (avail, brief(st)))
            if avail < 128:
                raise Fail('MemAvailable %d MiB below the pressure floor after inflating' % avail)
            if mib == 470 and b['actual_kib'] != 470 * KIB:
                raise Fail('a reachable 470 MiB target was not met: %s' % brief(st))
            if loaned(g) != b['actual_kib'] * KIB:
                raise Fail('host sees %d KiB, status says %d KiB' % (loaned(g) // KIB, b['actual_kib']))
        sh.finish()
    daemon_boot(env, body, devices=[BAL])


@daemon_scenario('daemon-redirect',
                 'a new host target mid-inflate (700 -> 200 MiB) redirects at once')
def sc_daemon_redirect(env):
    first, second, step = 700, 200, 16

    def body(g, sh):
        sh.start_daemon(conf(balloon=dict(inflate_step_mb=step)))
        sh.wait_status(idle_at(0), 'daemon idle at start')
        g.set_balloon(first * MIB)
        peak = 0
        end = time.monotonic() + 30
        while peak < 256 * MIB:
            peak = max(peak, loaned(g))
            if time.monotonic() > end:
                raise Fail('the inflate towards %d MiB did not start' % first)
            time.sleep(0.002)
        mid = sh.status()
        peak = max(peak, kib(mid, 'actual_kib') * KIB)
        if mid['balloon']['state'] != 'inflating':
            raise Fail('status while inflating towards %d MiB: %s' % (first, brief(mid)))
        at_redirect = loaned(g)
        peak = max(peak, at_redirect)
        g.set_balloon(second * MIB)
        end = time.monotonic() + 60
        stable = 0
        while stable < 20:
            cur = loaned(g)
            peak = max(peak, cur)
            stable = stable + 1 if cur == second * MIB else 0
            if time.monotonic() > end:
                raise Fail('query-balloon stays at %d MiB ballooned, expected %d' % (
                    cur // MIB, second))
            time.sleep(0.005)
        st = sh.wait_status(idle_at(second * KIB), 'status idle at %d MiB' % second)
        text = sh.daemon_log()
        # The daemon's own account: each inflate/deflate end logs the size.
        logged = [int(x) for x in re.findall(r'Balloon \w+ \w+: (\d+) MiB loaned', text)]
        guest_peak = max(logged + [0])
        log('#   daemon-redirect: redirected at %d MiB (status said %s, %d MiB); peak %d MiB '
            '(host polls), %d MiB (daemon log); final %d MiB' % (
                at_redirect // MIB, mid['balloon']['state'], kib(mid, 'actual_kib') // KIB,
                peak // MIB, guest_peak, kib(st, 'actual_kib') // KIB))
        print_changes(text)
        limit = at_redirect + 3 * step * MIB
        if max(peak, guest_peak * MIB) > limit or max(peak, guest_peak * MIB) >= (first - 64) * MIB:
            raise Fail('the balloon went on to %d MiB after the redirect at %d MiB' % (
                max(peak // MIB, guest_peak), at_redirect // MIB))
        if at_redirect >= (first - 64) * MIB:
            raise Fail('the redirect came too late (%d MiB of %d) to test anything' % (
                at_redirect // MIB, first))
        sh.finish()
    daemon_boot(env, body, devices=[BAL])


@daemon_scenario('daemon-crash',
                 'kill -9 mid-inflate, restart: shim, daemon and host agree; full deflate exact')
def sc_daemon_crash(env):
    target = 1024 * MIB
    cfg = conf(balloon=dict(inflate_step_mb=16))

    def body(g, sh):
        m0 = sh.meminfo()['MemTotal']
        sh.start_daemon(cfg)
        sh.wait_status(idle_at(0), 'daemon idle at start')
        g.set_balloon(target)
        end = time.monotonic() + 30
        while loaned(g) < 128 * MIB:
            if time.monotonic() > end:
                raise Fail('the inflate did not start')
            time.sleep(0.002)
        sh.kill_daemon('KILL')
        at_kill = loaned(g)
        if at_kill >= target:
            raise Fail('the inflate finished before kill -9 landed: nothing tested')
        time.sleep(0.5)
        if loaned(g) != at_kill:
            raise Fail('the balloon moved with no daemon: %d -> %d MiB' % (
                at_kill // MIB, loaned(g) // MIB))
        rc, out = sh.run('memballoonctl status', check=False)
        if rc != 3:
            raise Fail('memballoonctl status with the daemon killed: rc %d, expected 3' % rc)
        shim = sh.shim_state()
        if shim['actual_kib'] * KIB != at_kill:
            raise Fail('shim holds %d KiB, host sees %d KiB' % (shim['actual_kib'], at_kill // KIB))
        sh.start_daemon(cfg)
        st = sh.wait_status(idle_at(target // KIB), 'restarted daemon idle at 1 GiB')
        shim = sh.shim_state()
        host = loaned(g) // KIB
        if not (shim['actual_kib'] == kib(st, 'actual_kib') == host == target // KIB):
            raise Fail('after restart: shim %d KiB, status %d KiB, host %d KiB' % (
                shim['actual_kib'], kib(st, 'actual_kib'), host))
        if shim['target_kib'] != kib(st, 'host_target_kib'):
            raise Fail('host target: shim %d KiB, status %d KiB' % (
                shim['target_kib'], kib(st, 'host_target_kib')))
        m1 = sh.meminfo()['MemTotal']
        if m0 - m1 != target // KIB:
            raise Fail('MemTotal %d -> %d kB with 1 GiB loaned' % (m0, m1))
        log('#   daemon-crash: killed at %d MiB of %d; the restarted daemon adopted it and '
            'finished; shim = status = host = %d MiB' % (
                at_kill // MIB, target // MIB, host // KIB))
        g.set_balloon(0)
        g.wait_actual(g.mem_bytes, timeout=60)
        sh.wait_status(idle_at(0), 'status idle at 0')
        m2 = sh.meminfo()['MemTotal']
        if m2 != m0:
            raise Fail('MemTotal %d kB after the full deflate, %d at start' % (m2, m0))
        found = [l for l in sh.daemon_log().splitlines() if 'Balloon device found' in l]
        if len(found) < 2 or not re.search(r'\b%d KiB loaned' % (at_kill // KIB), found[1]):
            raise Fail('the restarted daemon did not report adopting %d KiB: %s' % (
                at_kill // KIB, found[1:2]))
        sh.finish()
    daemon_boot(env, body, devices=[BAL], mem_mib=2048)


@daemon_scenario('daemon-stats',
                 'guest-stats match /proc/meminfo; one fresh answer per host request, none between; '
                 'a 128 MiB change shows in the answer to the next request')
def sc_daemon_stats(env):
    tol_kib = 16 * KIB

    def body(g, sh):
        sh.start_daemon(conf(stats=dict(interval_s=1)))
        # A host that does not ask costs no wakeups: one set at start, no more.
        n0 = sh.status()['balloon']['stats_sent']
        time.sleep(3)
        n1 = sh.status()['balloon']['stats_sent']
        if n1 != n0:
            raise Fail('stats_sent went from %d to %d in 3 s without the host asking' % (n0, n1))
        # While the host polls (every 2 s), each request is answered with
        # figures read when it came (the shim holds it for the answer), and
        # nothing is refreshed in between, whatever stats.interval_s says.
        g.qmp.cmd('qom-set', path='/machine/peripheral/bal0',
                  property='guest-stats-polling-interval', value=2)
        time.sleep(5)
        st = sh.status()['balloon']
        n2, req = st['stats_sent'], st['stats_requests']
        if n2 - n1 < 2 or n2 - n1 > req + 1:
            raise Fail('stats_sent went from %d to %d in 5 s with the host polling every 2 s '
                       '(%d requests so far): expected one answer per request' % (n1, n2, req))

        def qget():
            return g.qmp.cmd('qom-get', path='/machine/peripheral/bal0', property='guest-stats')
        end = time.monotonic() + 20
        while True:
            gs = qget()
            if gs.get('last-update') and gs['stats'].get('stat-total-memory', -1) > 0:
                break
            if time.monotonic() > end:
                raise Fail('no guest stats on the host within 20 s: %s' % json.dumps(gs)[:200])
            time.sleep(0.2)
        pairs = [('stat-total-memory', 'MemTotal'), ('stat-free-memory', 'MemFree'),
                 ('stat-available-memory', 'MemAvailable')]
        bad = None
        for attempt in range(3):
            before = qget()['stats']
            mi = sh.meminfo()
            after = qget()['stats']
            bad = []
            for stat, key in pairs:
                want = mi[key]
                got = [before[stat] // KIB, after[stat] // KIB]
                tol = max(tol_kib, want // 20)
                if min(abs(x - want) for x in got) > tol:
                    bad.append('%s %s KiB vs %s %d kB' % (stat, got, key, want))
            if not bad:
                break
            time.sleep(3)       # the host's copy is up to one polling period old
        if bad:
            raise Fail('guest-stats differ from /proc/meminfo: %s' % '; '.join(bad))
        for stat in ('stat-swap-in', 'stat-swap-out', 'stat-major-faults', 'stat-minor-faults',
                     'stat-disk-caches'):
            if after.get(stat, -1) < 0:
                raise Fail('%s missing from guest-stats: %s' % (stat, json.dumps(after)[:300]))
        if after['stat-minor-faults'] <= 0:
            raise Fail('stat-minor-faults is 0')
        # Fresh through the daemon: the guest takes 128 MiB and holds it;
        # the host's next request (polling 0 -> 60 s: QEMU asks at once,
        # the one after is 60 s away) must already carry the drop.
        g.qmp.cmd('qom-set', path='/machine/peripheral/bal0',
                  property='guest-stats-polling-interval', value=0)
        free0 = qget()['stats']['stat-free-memory']
        m0 = sh.meminfo()['MemFree']
        sh.run('daemon_helper hog 128 16 0 120000 >/tmp/hog-stats.out 2>&1 & echo $! >/tmp/hog-stats.pid')
        end = time.monotonic() + 60
        while m0 - sh.meminfo()['MemFree'] < 120 * KIB:
            if time.monotonic() > end:
                raise Fail('the guest hog did not take 128 MiB within 60 s')
            time.sleep(0.2)
        t0 = time.monotonic()
        g.qmp.cmd('qom-set', path='/machine/peripheral/bal0',
                  property='guest-stats-polling-interval', value=60)
        while True:
            free1 = qget()['stats']['stat-free-memory']
            if free0 - free1 >= 100 * MIB:
                break
            if time.monotonic() - t0 > 10:
                raise Fail('10 s after the request, guest-stats free memory %d MiB (was %d, the guest '
                           'took 128 MiB): the answer was stale' % (free1 // MIB, free0 // MIB))
            time.sleep(0.05)
        fresh_ms = (time.monotonic() - t0) * 1000
        sh.run('kill $(cat /tmp/hog-stats.pid) || true')
        g.qmp.cmd('qom-set', path='/machine/peripheral/bal0',
                  property='guest-stats-polling-interval', value=2)
        late = sh.status()['balloon']['stats_late']
        if late:
            raise Fail('%d host requests were answered late (the daemon missed the 500 ms hold)' % late)
        # The host stops polling: after three quiet intervals the refresh stops.
        g.qmp.cmd('qom-set', path='/machine/peripheral/bal0',
                  property='guest-stats-polling-interval', value=0)
        time.sleep(6)
        n3 = sh.status()['balloon']['stats_sent']
        time.sleep(3)
        n4 = sh.status()['balloon']['stats_sent']
        if n4 != n3:
            raise Fail('stats_sent went from %d to %d in 3 s after the host stopped polling' % (n3, n4))
        log('#   daemon-stats: stats_sent %d at start, +%d in 3 s quiet, +%d in 5 s of host polling, '
            '+0 in 3 s after it stopped; a 128 MiB change seen by the host %.0f ms after its request, '
            'stats_late 0' % (n0, n1 - n0, n2 - n1, fresh_ms))
        st = sh.status()
        log('#   daemon-stats: total %d MiB, free %d MiB (guest %d), available %d MiB (guest %d), '
            'minor faults %d, major %d; stats_sent %d' % (
                after['stat-total-memory'] // MIB, after['stat-free-memory'] // MIB,
                mi['MemFree'] // KIB, after['stat-available-memory'] // MIB,
                mi['MemAvailable'] // KIB, after['stat-minor-faults'],
                after['stat-major-faults'], st['balloon']['stats_sent']))
        sh.finish()
    daemon_boot(env, body, devices=[BAL])


@daemon_scenario('daemon-simulate',
                 'no device: set-target 256M/0 exact; bad sizes, non-root refused; reset-oom')
def sc_daemon_simulate(env):
    def body(g, sh):
        sh.start_daemon(conf(balloon=dict(source='simulate'), control=dict(mode='0666')))
        st = sh.wait_status(idle_at(0), 'daemon idle at start')
        if st['balloon']['transport'] != 'simulate' or st['balloon']['reason']:
            raise Fail('at start: transport %s, reason "%s"' % (
                st['balloon']['transport'], st['balloon']['reason']))
        m0 = sh.meminfo()['MemTotal']
        sh.run('memballoonctl set-target 256M')
        st = sh.wait_status(idle_at(256 * KIB), 'balloon at 256 MiB')
        m1 = sh.meminfo()['MemTotal']
        if m0 - m1 != 256 * KIB:
            raise Fail('MemTotal %d -> %d kB, expected exactly 256 MiB less' % (m0, m1))

        def unchanged(what):
            st = sh.status()
            b = st['balloon']
            if (b['host_target_kib'], b['actual_kib']) != (256 * KIB, 256 * KIB):
                raise Fail('after %s: %s' % (what, brief(st)))
            if sh.meminfo()['MemTotal'] != m1:
                raise Fail('after %s: MemTotal changed' % what)

        # memballoonctl's own usage errors exit 2; sizes the daemon refuses, 1.
        for args, want in (('512', 1), ('-- -1G', 1), ('-1G', 1), ('100G', 1), ('abc', 1),
                           ('1.5', 1), ('12Q', 1), ('', 2)):
            rc, out = sh.run('memballoonctl set-target %s' % args, check=False)
            log('#   daemon-simulate: set-target %-7s -> rc %d: %s' % (
                args or '(none)', rc, (out.strip().splitlines() or [''])[0][:100]))
            if rc != want:
                raise Fail('set-target %s: rc %d, expected %d: %s' % (args, rc, want, out.strip()[:200]))
            unchanged('set-target %s' % args)
        rc, out = sh.run("su -s /bin/sh nobody -c 'id -u; memballoonctl status >/dev/null && "
                         "echo status-ok; memballoonctl set-target 128M'", check=False)
        log('#   daemon-simulate: as uid 65534: rc %d: %s' % (rc, ' | '.join(out.strip().splitlines())))
        if not out.startswith('65534') or 'status-ok' not in out:
            raise Fail('running as nobody: %s' % out.strip()[:200])
        if rc != 1 or 'only root' not in out:
            raise Fail('set-target as uid 65534: rc %d: %s' % (rc, out.strip()[:200]))
        unchanged('set-target as uid 65534')
        if 'Refused "set-target" from uid 65534' not in sh.daemon_log():
            raise Fail('the refusal is not logged')
        sh.run('memballoonctl reset-oom')
        sh.run('memballoonctl set-target 0')
        sh.wait_status(idle_at(0), 'balloon back at 0')
        m2 = sh.meminfo()['MemTotal']
        if m2 != m0:
            raise Fail('MemTotal %d kB after set-target 0, %d at start' % (m2, m0))
        sh.finish()
    daemon_boot(env, body)


@daemon_scenario('daemon-auto-loan',
                 'auto loan keeps MemAvailable at the headroom; a 300 MiB user makes it shrink')
def sc_daemon_auto_loan(env):
    headroom, tol, hog = 256, 64, 300

    def avail_loan(sh):
        st = sh.status()
        return sh.meminfo()['MemAvailable'] // KIB, kib(st, 'actual_kib') // KIB, st

    def body(g, sh):
        sh.start_daemon(conf(balloon=dict(source='simulate'),
                             auto=dict(enabled=True, headroom_mb=headroom, interval_s=1)))
        # Idle: the balloon grows until MemAvailable sits at the headroom.
        end = time.monotonic() + 60
        prev = None
        while True:
            avail, loan, st = avail_loan(sh)
            if (st['balloon']['state'] == 'idle' and loan > 0 and loan == prev and
                    abs(avail - headroom) <= tol):
                break
            if time.monotonic() > end:
                raise Fail('idle guest: MemAvailable %d MiB with %d MiB loaned, expected %d +- %d;'
                           ' %s' % (avail, loan, headroom, tol, brief(st)))
            prev = loan
            time.sleep(1.0)
        loan0 = loan
        log('#   daemon-auto-loan: idle: %d MiB loaned, MemAvailable %d MiB (headroom %d)' % (
            loan0, avail, headroom))
        # A user takes 300 MiB at 64 MiB/s and holds it.
        sh.run('(daemon_helper hog %d 16 250 8000; echo "rc=$?") >/tmp/hog.out 2>&1 &' % hog)
        end = time.monotonic() + 60
        while 'holding' not in sh.out('cat /tmp/hog.out'):
            if 'rc=' in sh.out('cat /tmp/hog.out') or time.monotonic() > end:
                raise Fail('the 300 MiB user did not get its memory: %s' % last_lines(
                    sh.out('cat /tmp/hog.out; dmesg | tail -n 5')))
            time.sleep(0.5)
        time.sleep(2.5)         # the daemon looks again every auto.interval_s
        avail, loan1, st = avail_loan(sh)
        log('#   daemon-auto-loan: with %d MiB in use: %d MiB loaned (%d returned), '
            'MemAvailable %d MiB; OOM events %d' % (
                hog, loan1, loan0 - loan1, avail, st['oom']['count']))
        end = time.monotonic() + 60
        while 'rc=' not in sh.out('cat /tmp/hog.out'):
            if time.monotonic() > end:
                raise Fail('the memory user did not finish')
            time.sleep(0.5)
        out = sh.out('cat /tmp/hog.out')
        oom = sh.out('dmesg | grep -E "Out of memory|Killed process|invoked oom-killer" || true')
        if oom.strip():
            raise Fail('OOM killer ran: %s' % last_lines(oom))
        if 'rc=0' not in out or 'verified' not in out:
            raise Fail('the memory user failed: %s' % last_lines(out))
        st = sh.status()
        if st['oom']['count'] or st['balloon']['oom_freed_kib']:
            raise Fail('the shim had to release %d KiB on OOM (%d events): auto loan was too slow'
                       % (st['balloon']['oom_freed_kib'], st['oom']['count']))
        if loan0 - loan1 < hog - tol:
            raise Fail('the balloon shrank by %d MiB for a %d MiB user' % (loan0 - loan1, hog))
        if abs(avail - headroom) > tol:
            raise Fail('MemAvailable %d MiB with the user holding memory, expected %d +- %d' % (
                avail, headroom, tol))
        print_changes(sh.daemon_log(), limit=4)
        sh.finish()
    daemon_boot(env, body)
