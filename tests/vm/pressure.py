# SPDX-License-Identifier: GPL-2.0-or-later
"""VM scenarios for memballoond's pressure, OOM and memory hotplug handling
(imported by harness.py, next to daemon.py, whose guest shell, userspace
build and checks they reuse).

Timing in the guest: the daemon's console log goes through "daemon_helper
stamp", which prefixes each line with CLOCK_MONOTONIC, and "daemon_helper
watch" records every change of the shim's balloon size on the same clock.
"daemon_helper workload" runs the memory user and reports its time, the
growth of /proc/pressure/memory "total=" over it, the first firing of its
own PSI trigger (the daemon's parameters) and the first balloon shrink.
The tests print these numbers; they assert outcomes and orderings (no OOM
kill, balloon never below the host's target, no inflate inside a back-off
or a hotplug pause), never speeds.

bench/pressure-compare runs oom_rescue_leg() for memballoond, the stock
virtio_balloon and no balloon, interleaved, and prints the table.
"""

import re
import time

import daemon
import harness
import hosts
from daemon import CONF, DLOG, KIB, brief, conf, idle_at, last_lines, loaned
from harness import BAL, MIB, Fail, log

BAL_DOO = BAL + ',deflate-on-oom=on'
FIFO = '/tmp/memballoond.fifo'
WATCH = '/tmp/watch.out'
OOM_RE = 'Out of memory|Killed process|invoked oom-killer'
# The daemon's pressure log line (MSGID_PRESSURE 3c6a5b0f6c0e4d8aa2a4fd3a0b6e1d10).
PRESSURE_RE = re.compile(r'Memory pressure \((\w+): .*\): returning (\d+) MiB')
STAMP_RE = re.compile(r'^\[(\d+\.\d+)\] (.*)$')
# Orderings checked from two guest processes' clocks (the stamper and the
# watcher, both memlocked and SCHED_FIFO) allow this much scheduling slack.
SLACK_S = 0.25


def pressure_scenario(name, doc):
    daemon.NAMES.append(name)       # so daemon.py's prepare hook builds the userspace
    return harness.scenario(name, doc)


# --------------------------------------------------------------------------
# Guest helpers
# --------------------------------------------------------------------------

class Shell(daemon.Shell):
    """daemon.Shell whose daemon logs through the stamper."""

    def start_daemon(self, conf=None, config_file=None):
        path = CONF if conf is not None else '/etc/memballoond.conf'
        write = "cat > %s <<'MBT_EOF'\n%s\nMBT_EOF\n" % (CONF, conf) if conf is not None else ''
        self.run('''%(write)smemballoond --check-config -c %(conf)s >/tmp/check.out 2>&1 || { cat /tmp/check.out; exit 1; }
[ -p %(fifo)s ] || mkfifo %(fifo)s
daemon_helper stamp <%(fifo)s >>%(log)s 2>&1 &
memballoond -c %(conf)s --log-target=console >%(fifo)s 2>&1 &
echo $! >/tmp/memballoond.pid
i=0
until memballoonctl status >/dev/null 2>&1; do
    i=$((i + 1))
    if [ $i -ge 100 ] || ! [ -d /proc/$(cat /tmp/memballoond.pid) ]; then
        echo "memballoond did not answer within 10 s"; tail -n 20 %(log)s; exit 1
    fi
    usleep 100000
done''' % dict(write=write, conf=path, log=DLOG, fifo=FIFO), timeout=60)

    def reload(self, conf):
        self.run("cat > %s <<'MBT_EOF'\n%s\nMBT_EOF\nmemballoonctl reload" % (CONF, conf))

    def start_watch(self, poll_ms=5):
        self.run('daemon_helper watch %d >>%s 2>&1 &\necho $! >/tmp/watch.pid' % (poll_ms, WATCH))

    def watch_log(self):
        """[(t, actual_kib, oom_freed_kib)] from the watcher."""
        out = []
        for line in self.out('cat %s' % WATCH).splitlines():
            p = line.split()
            if len(p) == 3:
                out.append((float(p[0]), int(p[1]), int(p[2])))
        return out

    def oom_lines(self):
        return self.out('dmesg | grep -E "%s" || true' % OOM_RE).strip()

    def workload(self, mib, hold_ms, psi=(150, 1000), poll_ms=2, timeout=240):
        """Run daemon_helper workload; return its k=v results (ints where
        they are numbers) plus 'exit' (the helper's exit status)."""
        rc, out = self.run('daemon_helper workload %d %d %d %d %d' % (
            mib, hold_ms, psi[0], psi[1], poll_ms), timeout=timeout, check=False)
        line = [l for l in out.splitlines() if l.startswith('workload ')]
        if not line:
            raise Fail('the workload printed no result (exit %d): %s' % (rc, last_lines(out)))
        res = {'exit': rc}
        for kv in line[-1].split()[1:]:
            k, v = kv.split('=', 1)
            res[k] = int(v) if re.match(r'^-?\d+$', v) else v
        return res


def stamped(text):
    """[(t, line)] of the stamped daemon log."""
    out = []
    for line in text.splitlines():
        m = STAMP_RE.match(line)
        if m:
            out.append((float(m.group(1)), m.group(2)))
    return out


def pressure_events(text):
    """[(t, signal, released_mib, hold_s)] from the daemon's pressure lines
    (hold from MEMBALLOON_HOLD_USEC, printed at log.level debug)."""
    out = []
    for t, line in stamped(text):
        m = PRESSURE_RE.search(line)
        if m:
            h = re.search(r'MEMBALLOON_HOLD_USEC=(\d+)', line)
            out.append((t, m.group(1), int(m.group(2)), int(h.group(1)) / 1e6 if h else None))
    return out


def inflate_times(watch):
    """Times at which the watcher saw the balloon grow."""
    return [t for (t, a, _), (_, a0, _) in zip(watch[1:], watch) if a > a0]


def early_inflates(watch, holds):
    """Inflates that started inside a hold.  @holds: [(start, end)], each
    from a log line stamped at start; an inflate within SLACK_S of a start
    may have been under way when the daemon logged it."""
    bad = []
    for t in inflate_times(watch):
        for start, end in holds:
            if start + SLACK_S < t < end - SLACK_S:
                bad.append((t, start, end))
                break
    return bad


def fmt_ms(v):
    return '%d ms' % v if isinstance(v, int) and v >= 0 else '-'


def dmesg_note(sh):
    oom = sh.oom_lines()
    return len(re.findall(r'Killed process', oom)), oom


# --------------------------------------------------------------------------
# OOM rescue: shared with bench/pressure-compare
# --------------------------------------------------------------------------

# The host side (hosts.py): QEMU's virtio-balloon with deflate-on-oom=on
# here; cmm.py and vmware.py run the same leg on their fake hosts.  The
# daemon's policy does not know which transport it drives.
VIRTIO = hosts.VirtioHost(deflate_on_oom=True)


def oom_rescue_leg(env, leg, free_mib=200, work_mib=600, hold_ms=3000, logname=None, check=None,
                   balloon_mib=None, rereach_s=0, min_available_mib=128, host=VIRTIO):
    """One boot: a 1 GiB guest on @host (default: virtio-balloon with
    deflate-on-oom=on), the balloon set by the host so that about @free_mib stay available, then
    daemon_helper workload @work_mib.  @leg: 'memballoond' (shim + daemon
    with the default oom settings), 'memballoond-psi' (no MemAvailable
    floor, the shim's notifier at the stock driver's 1 MiB), 'stock' (virtio_balloon), 'none' (stock driver,
    nothing ballooned: the baseline).  @balloon_mib sets the host's
    balloon directly instead (libvirt's "setmem": RAM minus it).  Results
    also give what was returned (balloon before minus the smallest balloon
    seen) against the need (what keeps MemAvailable at @min_available_mib
    with the workload resident: work - (MemAvailable before - floor)), and,
    with @rereach_s, the seconds from the workload's exit until the host
    sees its target met again (None: not within @rereach_s).  Returns a
    dict of results; @check(res, sh) may raise Fail before the guest is
    shut down.  @host: the transport's host side (a hosts.Host; VIRTIO, or
    cmm.py's and vmware.py's fake hosts, which take leg 'memballoond'
    only)."""
    res = {'leg': leg, 'host': host.name}
    ours = leg.startswith('memballoond')
    load = 'shim' if ours else 'stock'

    def body(g, sh):
        host.bound(g, sh)
        if ours:
            # memballoond-psi: no MemAvailable floor, and the shim's OOM
            # notifier frees 1 MiB a call like the stock driver's, so the
            # PSI trigger does the work: its path timed alone.
            sh.start_daemon(conf(oom=dict(min_available_mb=0, release_mb=1))
                            if leg == 'memballoond-psi' else conf())
            st = sh.wait_status(idle_at(0), 'daemon idle at start')
            res['signals'] = st['pressure']['signals']
            res['relief_below_host'] = st['pressure']['relief_below_host']
        avail = sh.meminfo()['MemAvailable'] // KIB
        bal = 0
        if leg != 'none':
            bal = balloon_mib or (avail - free_mib) // 4 * 4
            if bal <= 64:
                raise Fail('MemAvailable %d MiB at start: too little to leave %d MiB free' % (
                    avail, free_mib))
            host.set_target(g, sh, bal * MIB)
            host.wait_loaned(g, sh, bal * MIB, timeout=90)
            if ours:
                sh.wait_status(idle_at(bal * KIB), 'balloon at %d MiB' % bal)
        res['balloon_before_mib'] = bal
        res['avail_before_mib'] = sh.meminfo()['MemAvailable'] // KIB
        wl = sh.workload(work_mib, hold_ms)
        t_exit = time.monotonic()
        res['wl'] = wl
        res['kills'], res['oom_lines'] = dmesg_note(sh)
        res['balloon_after_mib'] = host.loaned(g, sh) // MIB
        res['need_mib'] = max(0, work_mib - (res['avail_before_mib'] - min_available_mib))
        # The smallest balloon: the shim's own record for ours; the stock
        # driver never grows back on its own, so its size after is its least.
        low = wl['balloon_min_kib'] // KIB if wl.get('shim') else res['balloon_after_mib']
        res['returned_mib'] = max(0, bal - low)
        if rereach_s and leg != 'none':
            res['rereach_s'] = None
            while time.monotonic() - t_exit < rereach_s:
                # Within the 4 MiB hysteresis of the target counts as met.
                if host.loaned(g, sh) // MIB >= bal - 4:
                    res['rereach_s'] = time.monotonic() - t_exit
                    break
                time.sleep(0.25)
        if ours:
            st = sh.status()
            res['status'] = st
            text = sh.daemon_log()
            res['events'] = pressure_events(text)
            t0 = wl['t0_us'] / 1e6
            first = res['events'][0] if res['events'] else None
            ds = wl['daemon_shrink_first_ms']
            res['first_signal'] = first[1] if first else None
            # Pressure onset as the daemon saw it (its PSI trigger's log
            # line) to the first balloon shrink its steps made.
            if first and ds >= 0:
                res['signal_to_deflate_ms'] = t0 * 1000 + ds - first[0] * 1000
                if first[1] == 'psi':
                    res['psi_to_deflate_ms'] = res['signal_to_deflate_ms']
            # The same from the kernel's side: the workload's own trigger
            # (same parameters) fires when the daemon's does.
            if first and first[1] == 'psi' and ds >= 0 and wl['psi_first_ms'] >= 0:
                res['ktrigger_to_deflate_ms'] = ds - wl['psi_first_ms']
            res['host_view'] = host.final_check(g, sh)
        if check:
            check(res, sh)
        if ours:
            sh.finish()
        else:
            sh.quit()
    env.current = logname or env.current
    daemon_boot(env, body, timeout=360, **host.boot_kw(load))
    return res


def daemon_boot(env, body, **kw):
    """daemon.daemon_boot with this module's Shell."""
    def wrapped(g, _sh):
        body(g, Shell(g))
    return daemon.daemon_boot(env, wrapped, **kw)


def describe_leg(res):
    wl = res['wl']
    return ('%s: exit %d, %d OOM kill(s); touched %s, total %s; PSI some +%d ms, full +%d ms; '
            'balloon %d -> %d MiB (min seen %s)' % (
                res['leg'], wl['exit'], res['kills'], fmt_ms(wl['touched_ms']), fmt_ms(wl['total_ms']),
                wl['psi_some_us'] // 1000, wl['psi_full_us'] // 1000, res['balloon_before_mib'],
                res['balloon_after_mib'],
                '%d MiB' % (wl['balloon_min_kib'] // KIB) if wl.get('shim') else '-'))


# --------------------------------------------------------------------------
# Scenarios
# --------------------------------------------------------------------------

def oom_rescue_check(name):
    """The verdicts of pressure-oom-rescue (and of pressure-oom-rescue-cmm,
    tests/vm/cmm.py): a check for oom_rescue_leg()."""
    def check(res, sh):
        wl, st = res['wl'], res['status']
        p = st['pressure']
        log('#   %s: MemAvailable %d MiB before; %s' % (
            name, res['avail_before_mib'], describe_leg(res)))
        log('#   %s: pressure count %d (first %s, last %s), relief freed %d MiB; '
            'shim OOM notifier: %d release(s), %d MiB; OOM debt %d MiB' % (
                name, p['count'], res.get('first_signal'), p['last_signal'], p['freed_kib'] // KIB,
                wl['oom_events'], wl['oom_freed_kib'] // KIB, st['balloon']['oom_debt_kib'] // KIB))
        log('#   %s: PSI trigger (workload\'s own) first at %s, daemon pressure '
            'line -> first daemon deflate %s, workload start -> first shrink %s (daemon step %s, '
            'notifier %s)' % (
                name, fmt_ms(wl['psi_first_ms']),
                '%.0f ms' % res['signal_to_deflate_ms'] if 'signal_to_deflate_ms' in res else '-',
                fmt_ms(wl['shrink_first_ms']), fmt_ms(wl['daemon_shrink_first_ms']),
                fmt_ms(wl['oom_shrink_first_ms'])))
        for t, sig, rel, hold in res['events'][:6]:
            log('#     pressure %s at +%.3f s: returned %d MiB, hold %s s' % (
                sig, t - wl['t0_us'] / 1e6, rel, hold))
        if res.get('host_view'):
            log('#   %s: %s' % (name, res['host_view']))
        transport = st['balloon'].get('transport')
        if transport != res['host']:
            raise Fail('memballoonctl status says transport "%s", expected "%s"' % (
                transport, res['host']))
        transport = sh.shim_state()['transport']
        if transport != res['host']:
            raise Fail('the shim (daemon_helper state) says transport "%s", expected "%s"' % (
                transport, res['host']))
        if res['signals'] != ['psi', 'memavailable'] or not res['relief_below_host']:
            raise Fail('status at start: signals %s, relief_below_host %s' % (
                res['signals'], res['relief_below_host']))
        if res['kills'] or res['oom_lines']:
            raise Fail('OOM killer ran: %s' % last_lines(res['oom_lines']))
        if wl['exit'] != 0:
            raise Fail('the workload exited %d' % wl['exit'])
        if res['balloon_after_mib'] >= res['balloon_before_mib']:
            raise Fail('the balloon did not shrink: %d -> %d MiB' % (
                res['balloon_before_mib'], res['balloon_after_mib']))
        if p['count'] == 0:
            raise Fail('the daemon saw no pressure (status pressure.count 0)')
    return check


@pressure_scenario('pressure-oom-rescue',
                   'deflate-on-oom, ~200 MiB free, 600 MiB workload: no OOM kill, the balloon shrinks')
def sc_oom_rescue(env):
    oom_rescue_leg(env, 'memballoond', check=oom_rescue_check(env.current))


@pressure_scenario('pressure-spec-limit',
                   'no deflate-on-oom: pressure never deflates below the host target; auto-loaned pages do go')
def sc_spec_limit(env):
    def body(g, sh):
        base = dict(oom=dict(backoff_s=2))
        sh.start_daemon(conf(**base))
        st = sh.wait_status(idle_at(0), 'daemon idle at start')
        p = st['pressure']
        if p['relief_below_host'] or 'deflate-on-oom' not in p['relief_note']:
            raise Fail('status without deflate-on-oom: relief_below_host %s, relief_note "%s"' % (
                p['relief_below_host'], p['relief_note']))
        # A: the host's target holds the balloon; a user pushes MemAvailable
        # below oom.min_available_mb (128) but fits in what is left.
        avail = sh.meminfo()['MemAvailable'] // KIB
        host = (avail - 300) // 4 * 4
        g.set_balloon(host * MIB)
        sh.wait_status(idle_at(host * KIB), 'balloon at the host target %d MiB' % host)
        avail = sh.meminfo()['MemAvailable'] // KIB
        sh.start_watch()
        use = avail - 80
        rc, out = sh.run('daemon_helper hog %d 16 100 4000' % use, timeout=120, check=False)
        st = sh.status()
        p = st['pressure']
        w = sh.watch_log()
        low = min(a for _, a, _ in w) // KIB
        kills, _ = dmesg_note(sh)
        log('#   pressure-spec-limit: host target %d MiB, MemAvailable %d MiB, user of %d MiB: exit %d, '
            '%d OOM kill(s); pressure count %d (last %s), relief freed %d KiB; balloon never below '
            '%d MiB' % (host, avail, use, rc, kills, p['count'], p['last_signal'], p['freed_kib'], low))
        if p['count'] == 0:
            raise Fail('the user took MemAvailable to ~80 MiB but the daemon saw no pressure')
        if low < host or p['freed_kib'] != 0:
            raise Fail('pressure deflated below the host target: balloon down to %d MiB (host %d), '
                       'relief freed %d KiB' % (low, host, p['freed_kib']))
        if sh.shim_state()['oom_freed_kib'] != 0:
            raise Fail('the shim\'s OOM notifier released pages without deflate-on-oom')
        if p['relief_below_host'] or 'deflate-on-oom' not in p['relief_note']:
            raise Fail('status: relief_below_host %s, relief_note "%s"' % (
                p['relief_below_host'], p['relief_note']))
        text = sh.daemon_log()
        if not re.search(r'relief below the host.s target is off.*deflate-on-oom=on', text):
            raise Fail('the log does not say that relief below the host target is off and how to '
                       'turn it on')
        # B: auto loan takes more than the host asks; pressure returns that.
        sh.wait_status(lambda s: not s['balloon']['pause']['active'], 'the back-off to end', timeout=40)
        headroom = 200
        # auto.interval_s = 60: auto loan samples MemAvailable at the reload
        # and then not again before the user comes, so what the user gets
        # back first comes from pressure relief.
        sh.reload(conf(auto=dict(enabled=True, headroom_mb=headroom, interval_s=60), **base))
        end = time.monotonic() + 90
        prev = None
        while True:
            st = sh.status()
            cur = st['balloon']['actual_kib'] // KIB
            if st['balloon']['state'] == 'idle' and cur == prev and cur > host + 64:
                break
            if time.monotonic() > end:
                raise Fail('auto loan did not settle above the host target: %s' % brief(st))
            prev = cur
            time.sleep(2)
        before = cur
        avail = sh.meminfo()['MemAvailable'] // KIB
        n0 = st['pressure']['count']
        sh.run(': >%s' % WATCH)
        use = avail + (before - host) // 2
        rc, out = sh.run('daemon_helper hog %d 16 100 4000' % use, timeout=120, check=False)
        st = sh.status()
        p = st['pressure']
        w = sh.watch_log()
        low = min(a for _, a, _ in w) // KIB if w else before
        kills, _ = dmesg_note(sh)
        ev = [e for e in pressure_events(sh.daemon_log()) if e[2] > 0]
        log('#   pressure-spec-limit: auto loan: %d MiB loaned (host %d), MemAvailable %d MiB; user '
            'of %d MiB: exit %d, %d OOM kill(s) in all; pressure events %d, relief freed %d MiB; '
            'balloon down to %d MiB, now %d MiB' % (
                before, host, avail, use, rc, kills, p['count'] - n0, p['freed_kib'] // KIB, low,
                st['balloon']['actual_kib'] // KIB))
        if p['count'] == n0 or not ev or p['freed_kib'] == 0:
            raise Fail('pressure above the host target returned nothing: %d events, freed %d KiB' % (
                p['count'] - n0, p['freed_kib']))
        if low >= before:
            raise Fail('the balloon did not shrink under pressure (%d MiB loaned)' % before)
        if low < host:
            raise Fail('the balloon went below the host target: %d MiB (host %d)' % (low, host))
        sh.run('kill $(cat /tmp/watch.pid)')
        sh.finish()
    daemon_boot(env, body, devices=[BAL], timeout=300)


@pressure_scenario('pressure-waves',
                   '3 waves of 350 MiB: the balloon gives way, comes back, never inside the back-off')
def sc_waves(env):
    backoff, decay, waves, work = 3, 1920, 3, 350

    def body(g, sh):
        sh.start_daemon(conf(oom=dict(backoff_s=backoff, debt_decay_mb_per_min=decay)))
        sh.wait_status(idle_at(0), 'daemon idle at start')
        avail = sh.meminfo()['MemAvailable'] // KIB
        host = (avail - 250) // 4 * 4
        g.set_balloon(host * MIB)
        sh.wait_status(idle_at(host * KIB), 'balloon at %d MiB' % host)
        sh.start_watch()
        for i in range(1, waves + 1):
            t_w = time.monotonic()
            wl = sh.workload(work, 3000)
            kills, oom = dmesg_note(sh)
            st = sh.wait_status(lambda s: idle_at(host * KIB)(s) and s['balloon']['oom_debt_kib'] == 0,
                                'wave %d: balloon back at %d MiB' % (i, host), timeout=120, interval=0.5)
            log('#   pressure-waves: wave %d: exit %d, touched %s, PSI some +%d ms; balloon %d -> '
                'min %d MiB, back at %d MiB %.1f s after the wave began; pressure count %d' % (
                    i, wl['exit'], fmt_ms(wl['touched_ms']), wl['psi_some_us'] // 1000, host,
                    wl['balloon_min_kib'] // KIB, host, time.monotonic() - t_w,
                    st['pressure']['count']))
            if kills or oom:
                raise Fail('wave %d: OOM killer ran: %s' % (i, last_lines(oom)))
            if wl['exit'] != 0:
                raise Fail('wave %d: the workload exited %d' % (i, wl['exit']))
            if wl['balloon_min_kib'] >= host * KIB:
                raise Fail('wave %d: the balloon did not give way (stayed at %d MiB)' % (i, host))
        w = sh.watch_log()
        ev = pressure_events(sh.daemon_log())
        if any(h is None for _, _, _, h in ev):
            raise Fail('pressure lines without MEMBALLOON_HOLD_USEC')
        holds = [(t, t + h) for t, _, _, h in ev]
        bad = early_inflates(w, holds)
        inf = inflate_times(w)
        gaps = []
        for t in inf:
            before = [e for e in ev if e[0] <= t]
            if before:
                gaps.append(t - before[-1][0])
        log('#   pressure-waves: %d pressure events (holds %s s), the balloon seen growing %d times; '
            'shortest time from a pressure event to the next growth %.2f s (back-off %d s)' % (
                len(ev), sorted(set(round(h, 1) for _, _, _, h in ev)), len(inf),
                min(gaps) if gaps else -1, backoff))
        if bad:
            t, s, e = bad[0]
            raise Fail('the balloon grew inside a back-off (%d samples): at %.3f, hold %.3f..%.3f' % (
                len(bad), t, s, e))
        if not gaps:
            raise Fail('no re-inflate after a pressure event was seen')
        sh.run('kill $(cat /tmp/watch.pid)')
        sh.finish()
    daemon_boot(env, body, devices=[BAL_DOO], timeout=480)


def blocks(sh):
    """{memoryN: (state, valid_zones)}"""
    out = sh.out('for b in /sys/devices/system/memory/memory*; do '
                 'echo "${b##*/} $(cat $b/state) $(cat $b/valid_zones 2>/dev/null)"; done')
    res = {}
    for line in out.splitlines():
        p = line.split()
        if len(p) >= 2:
            res[p[0]] = (p[1], ' '.join(p[2:]))
    return res


def hotplug_dimm(g, mib=256):
    g.qmp.cmd('object-add', **{'qom-type': 'memory-backend-ram', 'id': 'mem1', 'size': mib * MIB})
    g.qmp.cmd('device_add', driver='pc-dimm', id='dimm1', memdev='mem1')
    g.mem_bytes += mib * MIB        # QEMU counts the DIMM in actual


def _hotplug(env, online):
    name = env.current
    dimm, delay, target = 256, 5, 128

    def body(g, sh):
        cfg = dict(hotplug=dict(online=online)) if online != 'movable' else {}
        sh.start_daemon(conf(**cfg))
        st = sh.wait_status(idle_at(0), 'daemon idle at start')
        if st['hotplug']['source'] != 'kernel':
            raise Fail('hotplug source "%s", expected "kernel" (no udevd in the guest)' %
                       st['hotplug']['source'])
        e0 = st['hotplug']['events']
        b0 = blocks(sh)
        m0 = sh.meminfo()['MemTotal']
        sh.start_watch()
        t_add = time.monotonic()
        hotplug_dimm(g, dimm)
        st = sh.wait_status(lambda s: s['hotplug']['events'] >= e0 + 2 and s['balloon']['pause']['active'],
                            'hotplug events and a pause', timeout=30, interval=0.1)
        t_seen = time.monotonic() - t_add
        pause = st['balloon']['pause']
        if online != 'none':
            sh.wait_status(lambda s: s['hotplug']['onlined'] >= dimm // 128, 'the new blocks onlined',
                           timeout=20, interval=0.1)
        # Before the balloon takes anything: MemTotal counts only RAM.
        m1 = sh.meminfo()['MemTotal']
        # A host target that arrives during the pause waits for its end.
        g.set_balloon(target * MIB)
        samples = []
        while True:
            st = sh.status()
            samples.append(st)
            if not st['balloon']['pause']['active']:
                break
            if time.monotonic() - t_add > 60:
                raise Fail('the pause did not end: %s' % st['balloon']['pause'])
            time.sleep(0.3)
        during = [s for s in samples if s['balloon']['pause']['active']]
        moved = [s for s in during if s['balloon']['actual_kib'] != 0]
        st = sh.wait_status(idle_at(target * KIB), 'balloon at %d MiB after the pause' % target,
                            timeout=60)
        b1 = blocks(sh)
        new = sorted(set(b1) - set(b0), key=lambda n: int(n[6:]))
        hp = st['hotplug']
        text = sh.daemon_log()
        w = sh.watch_log()
        holds = [(t, t + int(n)) for t, l in stamped(text)
                 for n in re.findall(r'Loaning paused for (\d+) s', l)]
        bad = early_inflates(w, holds)
        inf = inflate_times(w)
        log('#   %s: DIMM %d MiB: status saw %d events %.1f s after device_add; new blocks %s; '
            'MemTotal %+d MiB; onlined %d; pause "%s" (%d ms left when first seen), %d status samples '
            'during it' % (
                name, dimm, hp['events'] - e0, t_seen,
                ' '.join('%s=%s/%s' % (n, b1[n][0], b1[n][1]) for n in new), (m1 - m0) // KIB,
                hp['onlined'], pause['reason'], pause['remaining_ms'], len(during)))
        if inf and holds:
            log('#   %s: host target set during the pause; first inflate %.2f s after the last '
                '"Loaning paused" line (%d pause lines), balloon %d MiB, host sees %d MiB' % (
                    name, inf[0] - max(s for s, _ in holds), len(holds),
                    st['balloon']['actual_kib'] // KIB, loaned(g) // MIB))
        if len(new) != dimm // 128:
            raise Fail('%d new memory blocks (%s), expected %d' % (len(new), new, dimm // 128))
        if 'hotplug' not in pause['reason']:
            raise Fail('pause reason "%s" does not name hotplug' % pause['reason'])
        if moved:
            raise Fail('the balloon moved during the hotplug pause: %s' % brief(moved[0]))
        if bad:
            t, s, e = bad[0]
            raise Fail('inflate inside the hotplug pause: at %.3f, pause %.3f..%.3f' % (t, s, e))
        if not holds:
            raise Fail('no "Loaning paused" line in the log')
        if loaned(g) != target * MIB:
            raise Fail('host sees %d MiB ballooned, expected %d' % (loaned(g) // MIB, target))
        if online == 'none':
            if any(b1[n][0] != 'offline' for n in new) or m1 != m0 or hp['onlined'] != 0:
                raise Fail('hotplug.online = "none": blocks %s, MemTotal %d -> %d kB, onlined %d' % (
                    [(n, b1[n][0]) for n in new], m0, m1, hp['onlined']))
            if 'left alone' not in text:
                raise Fail('the log does not say the new blocks were left alone')
        else:
            if any(b1[n][0] != 'online' for n in new):
                raise Fail('new blocks not online: %s' % [(n, b1[n][0]) for n in new])
            if any(b1[n][1] != 'Movable' for n in new):
                raise Fail('new blocks not in ZONE_MOVABLE: %s' % [(n, b1[n][1]) for n in new])
            if m1 - m0 != dimm * KIB:
                raise Fail('MemTotal %d -> %d kB, expected +%d MiB exactly' % (m0, m1, dimm))
            if hp['onlined'] != len(new):
                raise Fail('status hotplug.onlined %d, %d blocks onlined' % (hp['onlined'], len(new)))
        sh.run('kill $(cat /tmp/watch.pid)')
        sh.finish()
    daemon_boot(env, body, devices=[BAL], mem_opts=',slots=4,maxmem=4G', timeout=180)


@pressure_scenario('hotplug-online',
                   'DIMM hotplug: the daemon onlines the blocks movable, pauses loaning, then follows the host')
def sc_hotplug_online(env):
    _hotplug(env, 'movable')


@pressure_scenario('hotplug-none',
                   'DIMM hotplug with hotplug.online = "none": blocks stay offline, MemTotal unchanged')
def sc_hotplug_none(env):
    _hotplug(env, 'none')
