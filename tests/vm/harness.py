#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""VM test harness for memballoond (python3 stdlib only).

Boots Debian's kernel under QEMU with a tiny busybox initramfs, once per
scenario, and drives the guest over three channels:

  console (ttyS0 -> QEMU stdout)   guest -> host: kernel log, test output and
                                   protocol lines starting with "@@ ".
  control (ttyS1 <- unix socket)   host -> guest: "GO <tag> [args]" lines.
  QMP (unix socket)                host -> QEMU: balloon, query-balloon, qom-*.

Guest protocol lines (see guest/memballoon_test.c):
  @@ BOOTED uptime=S           /init reached, before the test program runs
  @@ READY <tag> [args]        guest waits for "GO <tag>" on ttyS1
  @@ KV k=v ...                results (numbers) for the host
  @@ ERROR <text>              a failed check; the first one is the FAIL reason
  @@ SKIP <text>               the guest cannot run the scenario here
  @@ EXIT <rc>                 test program finished (then dmesg, poweroff)

A READY tag "target" is served generically by the host: "@@ READY target
BYTES" asks the host to set the balloon (QMP "balloon") so that BYTES are
ballooned, i.e. guest RAM minus BYTES is the new logical size.

Everything this module builds lives in tests/vm/build/ (or $MBT_BUILD_DIR).
"""

import errno
import json
import lzma
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import arches
import qemus
import cross

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, '..', '..'))
BUILD = os.path.abspath(os.environ.get('MBT_BUILD_DIR',
                                       os.path.join(HERE, 'build')))
KMOD_DIR = os.path.join(ROOT, 'src', 'kmod')
UAPI_DIR = os.path.join(ROOT, 'src', 'include', 'uapi')
GUEST_SRC = os.path.join(HERE, 'guest')

MIB = 1 << 20
GIB = 1 << 30

# Loaded in this order before either balloon driver (VM-TESTING.md).
VIRTIO_MODULES = ['virtio_ring', 'virtio', 'virtio_pci_legacy_dev',
                  'virtio_pci_modern_dev', 'virtio_pci']
STOCK_MODULE = 'virtio_balloon'

# Extra host binaries to put into the guest's /bin with their shared
# libraries (the hook for memballoond/memballoonctl).  Either append to this
# list from Python, or set MBT_EXTRA_BINS to a ':'-separated list of paths.
# A guest script among them can replace memballoon_test for a scenario:
# Guest(..., run='/bin/NAME') runs "NAME SCENARIO ARGS..." from /init and
# must follow the same "@@" protocol (at least exit 0 on success).
EXTRA_BINS = []
# Extra plain files: {guest path: host path}, e.g. a config file.
EXTRA_FILES = {}
# Callables hook(env) that Env.prepare() runs before it packs the initramfs:
# they may build more and add to EXTRA_BINS / EXTRA_FILES.  env.selected
# names the scenarios this run will boot (tests/vm/daemon.py builds the
# userspace this way, only when one of its scenarios is selected).
PREPARE_HOOKS = []

# Any console line matching this fails the scenario.
KERNEL_PROBLEM_RE = re.compile(
    r'WARNING:|BUG:|Oops|general protection|kernel BUG|Kernel panic|UBSAN:')

# virtio-balloon stat tag -> QEMU's guest-stats name (hw/virtio/virtio-balloon.c)
STAT_NAMES = ['stat-swap-in', 'stat-swap-out', 'stat-major-faults',
              'stat-minor-faults', 'stat-free-memory', 'stat-total-memory',
              'stat-available-memory', 'stat-disk-caches',
              'stat-htlb-pgalloc', 'stat-htlb-pgfail']

KVM_PROBE_TIMEOUT = 22.0


def stat_value(tag):
    """The distinctive value the guest's stats test sets for @tag; the guest
    program computes the same (keep in sync with stats_value())."""
    return 0x5EED0000 + tag * 0x1111 + 7


def log(msg):
    print(msg, flush=True)


def vlog(msg):
    if os.environ.get('MBT_VERBOSE'):
        print('  # ' + msg, file=sys.stderr, flush=True)


class Fail(Exception):
    pass


class Skip(Exception):
    pass


# --------------------------------------------------------------------------
# Build: kernel, module, guest programs, initramfs
# --------------------------------------------------------------------------

def kernel_version():
    kvs = [d for d in os.listdir('/lib/modules') if d.endswith('-amd64')]
    if not kvs:
        raise RuntimeError('no */lib/modules/*-amd64 (linux-image-amd64 missing?)')

    def key(v):
        return [int(x) if x.isdigit() else x for x in re.split(r'(\d+)', v)]
    return sorted(kvs, key=key)[-1]


def run_cmd(cmd, **kw):
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, **kw)


class Env:
    """Everything built once per run and shared by all scenarios."""

    def __init__(self, accel=None, target=None, arch=None):
        os.makedirs(BUILD, exist_ok=True)
        # Another Debian kernel than this machine's (tests/vm/kernels.py),
        # maybe of another architecture (tests/vm/arches.py).
        self.target = target
        self.arch = arch or arches.get(arches.DEFAULT_ARCH)
        if self.arch.foreign and not target:
            raise RuntimeError('an --arch leg needs a kernels.Target')
        # This machine's QEMU unless main() picks another (--qemu).
        self.qemu = qemus.Qemu(self.arch.qemu, version='system')
        self.page_size = arches.page_size(target.config) if target and target.config \
            else os.sysconf('SC_PAGESIZE')
        self.busybox = '/bin/busybox'
        self.kv = target.kv if target else kernel_version()
        self.moddir = target.moddir if target else os.path.join('/lib/modules', self.kv)
        self.ko = os.path.join(KMOD_DIR, 'memballoon.ko')
        self.guest_uname = None
        self.kernel = None
        self.initrd = None
        self.kmod_ok = False
        self.kmod_err = None
        self.fake_ok = False        # memballoon-hooks.ko + memballoon_fakehost.ko
        self.fake_err = 'the fake host modules were not built'
        self.hooks_ko = self.fake_ko = None
        self.guest_ok = False
        self.guest_err = None
        self.accel = accel          # 'tcg' / 'kvm' / None (probe)
        self.accel_note = ''
        self.boot_times = []
        self.selected = []          # scenario names to run (set by main())
        self.sysroot = None         # foreign arch: its libraries (tests/vm/cross.py)
        self.logdir = os.path.join(BUILD, 'logs')
        os.makedirs(self.logdir, exist_ok=True)

    # -- kernel ------------------------------------------------------------
    def extract_kernel(self):
        """Uncompressed vmlinux (boots via PVH, ~2.5 s faster under TCG than
        the bzImage's emulated xz decompressor, ~7 s faster than zstd's),
        cached per kernel version."""
        if self.arch.foreign:
            self.kernel = self.target.vmlinuz   # see arches.kernel_image()
            return
        bz = self.target.vmlinuz if self.target else '/boot/vmlinuz-%s' % self.kv
        out = os.path.join(BUILD, 'vmlinux-%s' % self.kv)
        if os.path.exists(out) and os.path.getmtime(out) >= os.path.getmtime(bz):
            self.kernel = out
            return
        try:
            data = open(bz, 'rb').read()
            off = data.find(b'\xfd7zXZ\x00')
            if off >= 0:
                elf = lzma.LZMADecompressor(format=lzma.FORMAT_XZ).decompress(data[off:])
            else:
                elf = unzstd_bzimage(data, bz)
            if elf[:4] != b'\x7fELF':
                raise ValueError('decompressed kernel is not an ELF')
            tmp = out + '.tmp'
            with open(tmp, 'wb') as f:
                f.write(elf)
            os.rename(tmp, out)
            self.kernel = out
        except Exception as e:      # noqa: BLE001 - any failure: fall back
            log('# could not extract vmlinux (%s); booting %s' % (e, bz))
            self.kernel = bz

    # -- module ------------------------------------------------------------
    def build_kmod(self):
        if self.target:
            self.ko, self.kmod_err = self.target.build_kmod()
            self.kmod_ok = self.ko is not None
            return self.kmod_ok
        r = run_cmd(['make', '-C', KMOD_DIR, 'KVER=%s' % self.kv])
        with open(os.path.join(self.logdir, 'kmod-build.log'), 'w') as f:
            f.write(r.stdout)
        ko = os.path.join(KMOD_DIR, 'memballoon.ko')
        if r.returncode != 0 or not os.path.exists(ko):
            lines = [l for l in r.stdout.splitlines() if 'error' in l.lower()] \
                or r.stdout.strip().splitlines()[-3:] or ['no output']
            self.kmod_err = 'module failed to build: %s' % lines[0].strip()[:200]
            return False
        self.kmod_ok = True
        return True

    def build_fakehost(self):
        """The shim with its test hooks and the fake host module
        (tests/vm/fakehost), for FAKEHOST_SCENARIOS: through the matrix
        for a --kernel/--arch leg, else against this machine's headers in
        build/fakehost (a copy of the sources, so the real memballoon.ko
        in src/kmod stays the one other scenarios load)."""
        log_path = os.path.join(self.logdir, 'fakehost-build.log')
        if self.target:
            try:
                self.hooks_ko, _ = self.target.m.build_module(
                    self.target.series, self.target.arch, hooks=True)
                self.fake_ko = self.target.m.build_leg.fake_ko
            except self.target.m.LegError as e:
                self.fake_err = 'fake host modules failed to build: %s' % e
                return False
        else:
            work = os.path.join(BUILD, 'fakehost')
            shutil.rmtree(work, ignore_errors=True)
            kmod = os.path.join(work, 'src', 'kmod')
            shutil.copytree(KMOD_DIR, kmod, ignore=shutil.ignore_patterns(
                '*.o', '*.ko', '*.mod*', '.*', 'Module.symvers', 'modules.order',
                'mb_compat.h*'))
            shutil.copytree(UAPI_DIR, os.path.join(work, 'src', 'include', 'uapi'))
            fdir = os.path.join(work, 'tests', 'vm', 'fakehost')
            shutil.copytree(os.path.join(HERE, 'fakehost'), fdir,
                            ignore=shutil.ignore_patterns('*.o', '*.ko', '*.mod*', '.*'))
            out = ''
            for cmd in (['make', '-C', kmod, 'KVER=%s' % self.kv, 'MB_TEST_HOOKS=1'],
                        ['make', '-C', fdir, 'KVER=%s' % self.kv,
                         'KBUILD_EXTRA_SYMBOLS=%s' % os.path.join(kmod, 'Module.symvers')]):
                r = run_cmd(cmd)
                out += ' '.join(cmd) + '\n' + r.stdout
                if r.returncode != 0 or re.search(r'\bwarning:', r.stdout):
                    with open(log_path, 'w') as f:
                        f.write(out)
                    lines = [l for l in r.stdout.splitlines()
                             if 'error' in l.lower() or 'warning:' in l] or ['?']
                    self.fake_err = 'fake host modules failed to build: %s (see %s)' % (
                        lines[0].strip()[:200], log_path)
                    return False
            with open(log_path, 'w') as f:
                f.write(out)
            self.hooks_ko = os.path.join(kmod, 'memballoon.ko')
            self.fake_ko = os.path.join(fdir, 'memballoon_fakehost.ko')
        self.fake_ok = all(p and os.path.exists(p) for p in (self.hooks_ko, self.fake_ko))
        if not self.fake_ok:
            self.fake_err = 'fake host modules missing after the build (see %s)' % log_path
        return self.fake_ok

    # -- guest programs ----------------------------------------------------
    def build_guest(self):
        out = os.path.join(BUILD, 'memballoon_test')
        src = os.path.join(GUEST_SRC, 'memballoon_test.c')
        cmd = [self.arch.cc, '-std=gnu11', '-O2', '-g', '-static', '-Wall', '-Wextra',
               '-Werror', '-I', UAPI_DIR, '-o', out, src]
        r = run_cmd(cmd)
        if r.returncode != 0:
            self.guest_err = 'guest program failed to build: %s' % (
                r.stdout.strip().splitlines() or ['?'])[0][:200]
            log(r.stdout)
            return False
        self.guest_ok = True
        self.guest_bin = out
        return True

    # -- initramfs ---------------------------------------------------------
    def build_initramfs(self, extra_bins=()):
        files = {}      # guest path -> ('file', host path, mode) | ('link', target) | ('dir',)

        def add_dir(p):
            parts = p.strip('/').split('/')
            for i in range(1, len(parts) + 1):
                files.setdefault('/'.join(parts[:i]), ('dir',))

        def add_file(gpath, hpath, mode=0o755):
            add_dir(os.path.dirname(gpath))
            files[gpath.strip('/')] = ('file', hpath, mode)

        for d in ['dev', 'proc', 'sys', 'tmp', 'run', 'root', 'etc', 'bin',
                  'sbin', 'usr/bin', 'usr/sbin', 'lib/modules']:
            add_dir(d)
        add_file('bin/busybox', self.busybox)
        # The host's busybox names the applets: a foreign one cannot run
        # here, and arches.busybox() takes the same Debian version.
        r = run_cmd(['/bin/busybox', '--list-full'])
        for applet in r.stdout.split():
            if applet != 'bin/busybox':
                add_dir(os.path.dirname(applet))
                files[applet] = ('link', '/bin/busybox')
        add_file('init', os.path.join(GUEST_SRC, 'init'))
        load = []
        for m in VIRTIO_MODULES + self.arch.extra_modules + [STOCK_MODULE]:
            path = find_module(self.moddir, m)
            if path is None:
                continue        # built into this kernel
            add_file('lib/modules/%s.ko' % m, path, 0o644)
            if m != STOCK_MODULE:
                load.append(m)
        files['etc/mbt-modules'] = ('data', (' '.join(load) + '\n').encode(), 0o644)
        if self.kmod_ok:
            add_file('lib/modules/memballoon.ko', self.ko, 0o644)
        if self.fake_ok:
            add_file('lib/modules/memballoon-hooks.ko', self.hooks_ko, 0o644)
            add_file('lib/modules/memballoon_fakehost.ko', self.fake_ko, 0o644)
        if self.guest_ok:
            add_file('bin/memballoon_test', self.guest_bin)
        bins = list(EXTRA_BINS) + list(extra_bins) + \
            [b for b in os.environ.get('MBT_EXTRA_BINS', '').split(':') if b]
        for b in bins:
            add_file('bin/' + os.path.basename(b), b)
            for gpath, hpath in self.shared_libs(b):
                add_file(gpath, hpath, 0o755)
        for gpath, hpath in EXTRA_FILES.items():
            add_file(gpath, hpath, 0o755 if os.access(hpath, os.X_OK) else 0o644)
        files['etc/passwd'] = ('data', b'root:x:0:0:root:/root:/bin/sh\n'
                               b'nobody:x:65534:65534:nobody:/:/bin/false\n', 0o644)
        files['etc/group'] = ('data', b'root:x:0:\nnogroup:x:65534:\n', 0o644)
        out = os.path.join(BUILD, 'initramfs.cpio')
        write_cpio(out + '.tmp', files)
        os.rename(out + '.tmp', out)
        self.initrd = out

    def shared_libs(self, binary):
        """[(guest path, host path)] of what @binary loads.  A foreign
        arch's come from the sysroot tests/vm/daemon.py set up
        (cross.shared_libs()); none without one, or for a script or a
        static binary."""
        if not self.arch.foreign:
            return [(l, l) for l in shared_libs(binary)]
        if self.sysroot is None or cross.elf_machine(binary) is None:
            return []
        return cross.shared_libs(self.arch, self.sysroot, binary)

    # -- accelerator -------------------------------------------------------
    def pick_accel(self):
        if self.arch.foreign:
            if self.accel == 'kvm':
                raise SystemExit('no KVM for a %s guest on this machine' % self.arch.name)
            self.accel = 'tcg'
            self.accel_note = 'tcg (%s guest)' % self.arch.name
            return
        if self.accel:
            self.accel_note = '%s (forced)' % self.accel
            return
        self.accel = 'tcg'
        if not os.access('/dev/kvm', os.R_OK | os.W_OK):
            self.accel_note = 'tcg (no usable /dev/kvm)'
            return
        # /dev/kvm may exist and hang (nested kvm_pvm): only trust a boot
        # that reaches /init within a short bound.
        t0 = time.monotonic()
        try:
            g = Guest(self, 'boot', accel='kvm', load='none',
                      timeout=KVM_PROBE_TIMEOUT, logname='kvm-probe')
            try:
                g.wait_line(r'^@@ BOOTED', timeout=KVM_PROBE_TIMEOUT,
                            what='/init (BOOTED)')
                g.finish(timeout=10)
                self.accel = 'kvm'
                self.accel_note = 'kvm (probe booted in %.1f s)' % (time.monotonic() - t0)
            finally:
                g.kill()
        except (Fail, OSError) as e:
            self.accel_note = 'tcg (kvm probe failed after %.0f s: %s)' % (
                time.monotonic() - t0, e)

    def fetch_busybox(self):
        if not self.arch.foreign:
            return
        try:
            self.busybox, deb = arches.busybox(self.target.m, self.arch)
        except self.target.m.LegError as e:
            raise SystemExit('busybox-static:%s: %s' % (self.arch.name, e))
        host = arches.host_busybox_version()
        if host and arches.busybox_version(deb) != host:
            log('# busybox %s here, %s for %s: applet list may differ' % (
                host, arches.busybox_version(deb), self.arch.name))

    def prepare(self, need_kmod=True):
        t0 = time.monotonic()
        self.extract_kernel()
        self.fetch_busybox()
        if need_kmod:
            self.build_kmod()
            if FAKEHOST_SCENARIOS & set(self.selected):
                self.build_fakehost()
        self.build_guest()
        for hook in PREPARE_HOOKS:
            hook(self)
        self.build_initramfs()
        vlog('prepared in %.1f s' % (time.monotonic() - t0))
        self.pick_accel()
        if self.accel == 'tcg' and self.qemu.tcg_accel(self.arch.name) != 'tcg':
            self.accel_note += ', thread=single (QEMU %s: MTTCG races x86 text patching)' % (
                self.qemu.version)
        log('# kernel %s (%s, %d KiB pages), accel %s' % (
            self.kv, self.arch.name, self.page_size // 1024, self.accel_note))
        if self.kmod_err:
            log('# %s (see %s)' % (self.kmod_err,
                                   os.path.join(self.logdir, 'kmod-build.log')))


def unzstd_bzimage(data, bz):
    """The ELF inside a zstd bzImage (Debian's kernels from 6.12 on): the
    payload's place is in the setup header (Documentation/arch/x86/boot.rst:
    setup_sects at 0x1f1, payload_offset/length at 0x248/0x24c), and its
    last 4 bytes are the uncompressed size, which zstd would reject.  With
    the extracted ELF a 6.12 or 7.x guest reaches /init in about 3 s under
    TCG instead of about 10 s."""
    setup_sects = data[0x1f1] or 4
    start = (setup_sects + 1) * 512 + int.from_bytes(data[0x248:0x24c], 'little')
    length = int.from_bytes(data[0x24c:0x250], 'little')
    payload = data[start:start + length]
    if payload[:4] != b'\x28\xb5\x2f\xfd':
        raise ValueError('no xz or zstd payload in %s' % bz)
    if not shutil.which('zstd'):
        raise ValueError('zstd is not installed')
    r = subprocess.run(['zstd', '-dcq'], input=payload[:-4], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, check=False)
    if r.returncode != 0:
        raise ValueError('zstd: %s' % r.stderr.decode(errors='replace').strip()[:200])
    return r.stdout


def find_module(moddir, name):
    """Path of module @name as busybox insmod can load it (xz-compressed
    ones, as from 6.12 on, are unpacked into BUILD), or None when the
    kernel has it built in."""
    for dp, _, fns in os.walk(os.path.join(moddir, 'kernel')):
        for fn in fns:
            for n in (name, name.replace('_', '-')):
                if fn == n + '.ko':
                    return os.path.join(dp, fn)
                if fn == n + '.ko.xz':
                    out = os.path.join(BUILD, 'modules', n + '.ko')
                    src = os.path.join(dp, fn)
                    if not os.path.exists(out) or os.path.getmtime(out) < os.path.getmtime(src):
                        os.makedirs(os.path.dirname(out), exist_ok=True)
                        with open(out + '.tmp', 'wb') as f:
                            f.write(lzma.decompress(open(src, 'rb').read()))
                        os.rename(out + '.tmp', out)
                    return out
    builtin = os.path.join(moddir, 'modules.builtin')
    if os.path.exists(builtin) and re.search(
            r'/%s\.ko$' % re.escape(name), open(builtin).read(), re.M):
        return None
    raise RuntimeError('module %s not found under %s' % (name, moddir))


def shared_libs(binary):
    r = run_cmd(['ldd', binary])
    libs = []
    for line in r.stdout.splitlines():
        m = re.search(r'(/\S+)\s+\(0x', line)
        if m:
            libs.append(m.group(1))
    return libs


def write_cpio(path, files):
    """newc cpio (uncompressed: the kernel unpacks it faster than gunzip
    under TCG).  Directories first so every parent exists."""
    ino = [1000]

    def hdr(name, mode, size, nlink=1, target=b''):
        ino[0] += 1
        name_b = name.encode() + b'\0'
        h = b'070701' + b''.join(b'%08X' % v for v in (
            ino[0], mode, 0, 0, nlink, 0, size, 0, 0, 0, 0, len(name_b), 0))
        h += name_b
        h += b'\0' * ((4 - len(h) % 4) % 4)
        return h

    def pad(n):
        return b'\0' * ((4 - n % 4) % 4)

    with open(path, 'wb') as f:
        for name in sorted(files, key=lambda n: (files[n][0] != 'dir', n)):
            kind = files[name]
            if kind[0] == 'dir':
                f.write(hdr(name, 0o040755, 0, 2))
            elif kind[0] == 'link':
                t = kind[1].encode()
                f.write(hdr(name, 0o120777, len(t)) + t + pad(len(t)))
            elif kind[0] == 'data':
                f.write(hdr(name, 0o100000 | kind[2], len(kind[1])) + kind[1] +
                        pad(len(kind[1])))
            else:
                data = open(kind[1], 'rb').read()
                f.write(hdr(name, 0o100000 | kind[2], len(data)) + data +
                        pad(len(data)))
        f.write(hdr('TRAILER!!!', 0, 0))


# --------------------------------------------------------------------------
# QMP
# --------------------------------------------------------------------------

class QmpError(Exception):
    pass


class Qmp:
    def __init__(self, path, timeout=10.0):
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.sock.connect(path)
                break
            except OSError:
                self.sock.close()
                if time.monotonic() > deadline:
                    raise Fail('QMP socket never appeared')
                time.sleep(0.02)
        self.buf = b''
        self.events = []
        self.timeout = timeout
        self.sock.settimeout(timeout)
        self._read_obj()                # greeting
        self.cmd('qmp_capabilities')

    def _read_obj(self):
        while b'\n' not in self.buf:
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                raise Fail('QMP timed out')
            if not chunk:
                raise Fail('QMP connection closed (QEMU exited?)')
            self.buf += chunk
        line, self.buf = self.buf.split(b'\n', 1)
        return json.loads(line)

    def cmd(self, name, **args):
        msg = {'execute': name}
        if args:
            msg['arguments'] = args
        self.sock.sendall(json.dumps(msg).encode() + b'\n')
        while True:
            obj = self._read_obj()
            if 'event' in obj:
                self.events.append(obj)
                continue
            if 'error' in obj:
                raise QmpError('%s: %s' % (name, obj['error'].get('desc', obj['error'])))
            return obj.get('return')

    def wait_event(self, name, timeout=10.0):
        """Return the first event @name (already received or arriving
        within @timeout)."""
        end = time.monotonic() + timeout
        while True:
            for i, ev in enumerate(self.events):
                if ev['event'] == name:
                    return self.events.pop(i)
            left = end - time.monotonic()
            if left <= 0:
                raise Fail('no QMP event %s within %.0f s' % (name, timeout))
            self.sock.settimeout(left)
            try:
                obj = self._read_obj()
            except Fail:
                if time.monotonic() >= end:
                    raise Fail('no QMP event %s within %.0f s' % (name, timeout))
                raise
            finally:
                self.sock.settimeout(self.timeout)
            if 'event' in obj:
                self.events.append(obj)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


# --------------------------------------------------------------------------
# One guest boot
# --------------------------------------------------------------------------

class Guest:
    """A QEMU process running one scenario.  All waits are bounded by the
    guest's hard deadline; a watchdog kills QEMU when it passes."""

    def __init__(self, env, scenario, args=(), mem_mib=1024, devices=(),
                 load='shim', modargs='', append='', accel=None, timeout=120.0,
                 logname=None, smp=2, run=None, mem_opts='', ram_file=False,
                 machine=None, qemu_args=()):
        self.env = env
        self.mem_bytes = mem_mib * MIB
        self.deadline = time.monotonic() + timeout
        self.timeout = timeout
        self.timed_out = False
        self.tmp = tempfile.mkdtemp(prefix='mbt-')
        self.qmp_path = os.path.join(self.tmp, 'qmp.sock')
        self.ctl_path = os.path.join(self.tmp, 'ctl.sock')
        self.lines = []
        self.cursor = 0
        self.cond = threading.Condition()
        self.exited = False
        self.exit_rc = None         # guest program's rc from "@@ EXIT"
        self.kv = {}
        self.t_start = time.monotonic()
        self.boot_s = None
        accel = accel or env.accel or 'tcg'
        arch = env.arch
        # The console carries the kernel log: warnings and oopses show up
        # where KERNEL_PROBLEM_RE looks on every architecture.
        cmdline = ['console=%s' % arch.console, 'loglevel=5', 'panic=-1',
                   'mbt.scenario=%s' % scenario, 'mbt.load=%s' % load]
        if arch.ctl_dev:
            cmdline.append('mbt.ctl=%s' % arch.ctl_dev)
        if args:
            cmdline.append('mbt.args=%s' % ','.join(str(a) for a in args))
        if modargs:
            cmdline.append('mbt.modargs=%s' % modargs.replace(' ', ','))
        if run:
            cmdline.append('mbt.run=%s' % run)
        if append:
            cmdline.append(append)
        cpu = 'host' if accel == 'kvm' else arch.cpu
        machine = machine or arch.machine
        # Guest RAM in a file, so the host can see which 4 KiB pieces of
        # it QEMU gave back (holes, see data_map()).
        self.ram_file = None
        if ram_file:
            self.ram_file = os.path.join('/dev/shm', 'mbt-%d-%s.ram' % (
                os.getpid(), os.path.basename(self.tmp)))
            machine += ',memory-backend=ram0'
        if accel == 'tcg':
            accel = env.qemu.tcg_accel(arch.name)
        self.argv = [
            env.qemu.binary, '-machine', machine, '-accel', accel,
            '-cpu', cpu, '-smp', str(smp), '-m', str(mem_mib) + mem_opts,
            '-nodefaults', '-no-user-config', '-display', 'none',
            '-no-reboot', '-nic', 'none',
            '-kernel', env.kernel, '-initrd', env.initrd,
            '-append', ' '.join(cmdline),
            '-serial', 'stdio',
            '-chardev', 'socket,id=ctl,path=%s,server=on,wait=off' % self.ctl_path,
        ] + env.qemu.argv + arch.ctl_argv + [
            '-qmp', 'unix:%s,server=on,wait=off' % self.qmp_path,
        ]
        self.argv += list(qemu_args)
        if arch.nvram:
            self.argv += arches.nvram_image(os.path.join(self.tmp, 'nvram.img'))
        if self.ram_file:
            self.argv += ['-object', 'memory-backend-file,id=ram0,size=%dM,mem-path=%s,'
                          'share=on' % (mem_mib, self.ram_file)]
        for d in devices:
            self.argv += ['-device', d]
        name = logname or getattr(env, 'current', None) or scenario
        self.logf = open(os.path.join(env.logdir, name + '.log'), 'w')
        self.logf.write('# ' + ' '.join(self.argv) + '\n')
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        self.watchdog = threading.Thread(target=self._watch, daemon=True)
        self.watchdog.start()
        self.qmp = None
        self.ctl = None
        try:
            self.qmp = Qmp(self.qmp_path, timeout=max(1.0, min(10.0, self.remaining())))
            self.ctl = self._connect_ctl()
        except Exception as e:
            self.kill()
            if self.proc.returncode is not None and self.lines and not self.timed_out:
                raise Fail('QEMU exited at start (rc %s): %s' % (
                    self.proc.returncode, self.lines[-1][:200])) from e
            raise

    # -- plumbing ----------------------------------------------------------
    def remaining(self):
        return self.deadline - time.monotonic()

    def _connect_ctl(self):
        while True:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                s.connect(self.ctl_path)
                return s
            except OSError:
                s.close()
                if self.remaining() < 0 or self.proc.poll() is not None:
                    raise Fail('control socket never appeared')
                time.sleep(0.02)

    def _read(self):
        buf = b''
        while True:
            chunk = self.proc.stdout.read1(65536)
            if not chunk:
                break
            buf += chunk
            while b'\n' in buf:
                raw, buf = buf.split(b'\n', 1)
                self._add_line(raw)
        if buf:
            self._add_line(buf)
        self.proc.wait()
        with self.cond:
            self.exited = True
            self.cond.notify_all()

    def _add_line(self, raw):
        line = raw.decode('utf-8', 'replace').replace('\r', '')
        self.logf.write(line + '\n')
        self.logf.flush()
        m = re.match(r'^@@ (\w+)\s*(.*)$', line)
        if m:
            kind, rest = m.groups()
            if kind == 'KV':
                for kvp in rest.split():
                    if '=' in kvp:
                        k, v = kvp.split('=', 1)
                        self.kv[k] = v
            elif kind == 'EXIT':
                try:
                    self.exit_rc = int(rest.split()[0])
                except (ValueError, IndexError):
                    self.exit_rc = -1
            elif kind == 'BOOTED' and self.boot_s is None:
                self.boot_s = time.monotonic() - self.t_start
                u = re.search(r'kernel=(\S+)', rest)
                if u and self.env.guest_uname is None:
                    self.env.guest_uname = u.group(1)
                    log('# guest: uname -r/-m %s' % u.group(1))
        with self.cond:
            self.lines.append(line)
            self.cond.notify_all()

    def _watch(self):
        while self.proc.poll() is None:
            if time.monotonic() > self.deadline:
                self.timed_out = True
                self.logf.write('# harness: hard timeout (%.0f s), killing QEMU\n'
                                % self.timeout)
                self.proc.kill()
                break
            time.sleep(0.1)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        self.reader.join(timeout=5)
        for s in (self.qmp, self.ctl):
            if s:
                s.close()
        shutil.rmtree(self.tmp, ignore_errors=True)
        if self.ram_file and os.path.exists(self.ram_file):
            os.unlink(self.ram_file)
        if not self.logf.closed:
            self.logf.close()

    # -- waiting for the guest ---------------------------------------------
    def wait_line(self, pattern, timeout=None, what=None):
        """Wait for a console line matching @pattern after the cursor;
        return the match and move the cursor past it.  @what names the
        wait in failure reasons (default: the pattern)."""
        rx = re.compile(pattern)
        what = what or repr(pattern)
        end = self.deadline if timeout is None else min(
            self.deadline, time.monotonic() + timeout)
        with self.cond:
            while True:
                while self.cursor < len(self.lines):
                    line = self.lines[self.cursor]
                    self.cursor += 1
                    m = rx.search(line)
                    if m:
                        return m
                    if line.startswith('@@ EXIT') or line.startswith('@@ SKIP'):
                        self._early_exit(line, what)
                if self.exited:
                    raise Fail(self._why_gone('waiting for %s' % what))
                left = end - time.monotonic()
                if left <= 0:
                    if time.monotonic() >= self.deadline:
                        raise Fail('timeout (hard limit %.0f s) waiting for %s'
                                   % (self.timeout, what))
                    raise Fail('timeout waiting for %s' % what)
                self.cond.wait(min(left, 0.5))

    def pending_line(self, pattern):
        """Whether a console line after the cursor matches @pattern (the
        cursor stays)."""
        rx = re.compile(pattern)
        with self.cond:
            return any(rx.search(l) for l in self.lines[self.cursor:])

    def _early_exit(self, line, what):
        if line.startswith('@@ SKIP'):
            raise Skip(line[len('@@ SKIP'):].strip())
        raise Fail('guest exited (%s) while host waited for %s%s' % (
            line[3:], what, self.first_error_suffix()))

    def _why_gone(self, what):
        if self.timed_out:
            return 'timeout (hard limit %.0f s) %s' % (self.timeout, what)
        for l in self.lines:
            if 'Kernel panic' in l:
                return 'guest panicked: ' + l.strip()
        return 'QEMU exited (rc %s) %s' % (self.proc.returncode, what)

    def ready(self, tag, timeout=None):
        """Wait for "@@ READY tag ..." and return its arguments."""
        m = self.wait_line(r'^@@ READY %s(?:\s+(.*))?$' % re.escape(tag), timeout,
                           what='READY %s' % tag)
        return (m.group(1) or '').split()

    def go(self, tag, *args):
        msg = ' '.join(['GO', tag] + [str(a) for a in args]) + '\n'
        self.ctl.sendall(msg.encode())

    def serve(self, handlers=None, timeout=None):
        """Answer the guest's READY requests until it exits.  READY target
        BYTES is handled here; other tags go to handlers[tag](guest, args),
        which may raise Fail; a tag without a handler just gets its GO."""
        handlers = handlers or {}
        while True:
            m = self.wait_line(r'^@@ (READY|EXIT)\s*(.*)$', timeout,
                               what="the guest's next READY or EXIT")
            if m.group(1) == 'EXIT':
                return
            parts = m.group(2).split()
            tag, args = parts[0], parts[1:]
            if tag == 'target':
                self.set_balloon(int(args[0]))
            elif tag in handlers:
                handlers[tag](self, args)
            self.go(tag)

    def finish(self, timeout=60):
        """Wait for QEMU to power off after the test program."""
        end = min(self.deadline, time.monotonic() + timeout)
        with self.cond:
            while not self.exited:
                left = end - time.monotonic()
                if left <= 0:
                    break
                self.cond.wait(min(left, 0.5))
        if not self.exited:
            raise Fail('timeout waiting for guest to power off')

    # -- host side measurements ----------------------------------------------
    def set_balloon(self, balloon_bytes):
        self.qmp.cmd('balloon', value=self.mem_bytes - balloon_bytes)

    def actual(self):
        return self.qmp.cmd('query-balloon')['actual']

    def wait_actual(self, want, timeout=60.0, interval=0.002, seen=None):
        """Poll query-balloon until actual == want; return seconds waited.
        Each value read is added to the set @seen, if given."""
        t0 = time.monotonic()
        end = min(self.deadline, t0 + timeout)
        last = None
        while True:
            last = self.actual()
            if seen is not None:
                seen.add(last)
            if last == want:
                return time.monotonic() - t0
            if time.monotonic() > end:
                raise Fail('query-balloon actual %d MiB, expected %d MiB' % (
                    last // MIB, want // MIB))
            time.sleep(interval)

    def data_map(self):
        """Which 4 KiB blocks of the RAM file hold data (1) and which are
        holes (0): QEMU punches a hole for each PFN the guest balloons
        (ram_block_discard_range() on a shared file mapping)."""
        size = self.mem_bytes
        bm = bytearray(size // 4096)
        fd = os.open(self.ram_file, os.O_RDONLY)
        try:
            off = 0
            while off < size:
                try:
                    d = os.lseek(fd, off, os.SEEK_DATA)
                except OSError as e:
                    if e.errno == errno.ENXIO:      # only a hole is left
                        break
                    raise
                h = min(os.lseek(fd, d, os.SEEK_HOLE), size)
                bm[d // 4096:(h + 4095) // 4096] = b'\x01' * ((h + 4095) // 4096 - d // 4096)
                off = h
        finally:
            os.close(fd)
        return bm

    def rss_kib(self):
        with open('/proc/%d/status' % self.proc.pid) as f:
            for line in f:
                if line.startswith('VmRSS:'):
                    return int(line.split()[1])
        raise Fail('no VmRSS for QEMU')

    # -- verdict -------------------------------------------------------------
    def kernel_problems(self):
        return [l.strip() for l in self.lines if KERNEL_PROBLEM_RE.search(l)]

    def kernel_problem(self):
        """The first kernel problem on the console, with the RIP/PC line
        and the first frames of the call trace after it (one CI line must
        say where it happened), or None."""
        for i, l in enumerate(self.lines):
            if not KERNEL_PROBLEM_RE.search(l):
                continue
            where = []
            for m in self.lines[i + 1:i + 60]:
                m = re.sub(r'^\[\s*[0-9.]+\]\s*', '', m.strip())
                if re.match(r'(RIP|NIP|pc|LR) ?:', m) or re.match(r'\S+\+0x[0-9a-f]+/0x', m):
                    where.append(m[:80])
                if len(where) == 4:
                    break
            return l.strip()[:160] + (' [%s]' % '; '.join(where) if where else '')
        return None

    def errors(self):
        out = []
        for l in self.lines:
            if l.startswith('@@ ERROR'):
                out.append(l[len('@@ ERROR'):].strip())
            elif l.startswith('not ok'):
                out.append(l.strip())
        return out

    def first_error_suffix(self):
        e = self.errors()
        return ': ' + e[0] if e else ''

    def check(self):
        """Raise Fail for anything wrong in a finished (or aborted) boot."""
        prob = self.kernel_problem()
        if prob:
            raise Fail('kernel: %s' % prob)
        skips = [l for l in self.lines if l.startswith('@@ SKIP')]
        if skips:
            raise Skip(skips[0][len('@@ SKIP'):].strip())
        if self.exit_rc is None:
            raise Fail(self._why_gone('before the test program finished'))
        if self.exit_rc != 0:
            errs = self.errors()
            raise Fail('guest rc %d%s%s' % (
                self.exit_rc, ': ' + errs[0] if errs else '',
                ' (+%d more)' % (len(errs) - 1) if len(errs) > 1 else ''))


def boot(env, scenario, body=None, **kw):
    """Boot one guest for @scenario, run @body(guest) (default: serve its
    requests), then wait for poweroff and judge.  Kernel trouble on the
    console beats every other reason; then whatever the body raised; then
    the guest program's exit status.  Returns the guest (for its kv)."""
    g = Guest(env, scenario, **kw)
    err = None
    try:
        g.wait_line(r'^@@ BOOTED', timeout=60, what='/init (BOOTED)')
        if g.boot_s is not None:
            env.boot_times.append(g.boot_s)
        if body:
            body(g)
        else:
            g.serve()
        g.finish()
    except QmpError as e:
        err = Fail('QMP: %s' % e)
    except (Fail, Skip) as e:
        err = e
    finally:
        g.kill()
    prob = g.kernel_problem()
    if prob:
        raise Fail('kernel: %s' % prob)
    if err:
        raise err
    g.check()
    return g


# --------------------------------------------------------------------------
# Scenarios
# --------------------------------------------------------------------------

BAL = 'virtio-balloon-pci,id=bal0'
SCENARIOS = []


# Scenarios that play the hypervisor with tests/vm/fakehost: their guests
# get memballoon-hooks.ko (the shim built with MB_TEST_HOOKS=1) and
# memballoon_fakehost.ko besides the real memballoon.ko; Guest(...,
# load='fakehost', append='mbt.fakeargs=a=1,b=2') loads both at boot.
FAKEHOST_SCENARIOS = set()


def scenario(name, doc, needs_kmod=True, fakehost=False):
    def deco(fn):
        SCENARIOS.append((name, doc, fn, needs_kmod))
        if fakehost:
            FAKEHOST_SCENARIOS.add(name)
        return fn
    return deco


@scenario('ioctl-abi', 'every ioctl rejection + GET_API sanity (simulate mode)')
def sc_ioctl_abi(env):
    boot(env, 'abi', mem_mib=512, timeout=90)


@scenario('simulate', 'no device: inflate 256 MiB, MemTotal drops exactly, deflate')
def sc_simulate(env):
    boot(env, 'simulate', timeout=90)


def sample_actual(g, want, seen, tag, timeout=90.0):
    """Add every query-balloon actual to @seen until it reaches @want, the
    guest says it is done (READY @tag: what it reached is final), the guest
    exits (its own verdict then says why) or @timeout passes."""
    end = time.monotonic() + timeout
    while not g.exited:
        done = g.pending_line(r'^@@ READY %s\b' % re.escape(tag))
        try:
            v = g.actual()
        except Fail:
            return          # QEMU gone: the guest's verdict explains it
        seen.add(v)
        if v == want or done or time.monotonic() > end:
            return
        time.sleep(0.002)


def check_page_units(g, seen, what):
    """Every balloon size the host saw is whole guest pages."""
    ps = g.env.page_size
    odd = sorted(v for v in seen if (g.mem_bytes - v) % ps)
    if odd:
        raise Fail('%s: query-balloon actual %d is not RAM - k * %d KiB' % (
            what, odd[0], ps // 1024))


def check_whole_pages(g, before, after, balloon):
    """Each guest page the balloon took went to the host as all of its
    4 KiB PFNs, consecutive: in the RAM file, every page-sized block that
    held data before the inflate is now either all data or all hole, and
    the holes add up to the balloon (blocks that were partly holes already
    cannot tell, hence >= 90%)."""
    per = g.env.page_size // 4096
    whole = partial = 0
    for i in range(0, len(before), per):
        if before.count(1, i, i + per) != per:
            continue
        gone = per - after.count(1, i, i + per)
        if gone == per:
            whole += 1
        elif gone:
            partial += 1
    log('#   virtio-roundtrip: %d of %d ballooned %d KiB pages went to the host '
        'whole (%d PFNs each), %d partly' % (
            whole, balloon // g.env.page_size, g.env.page_size // 1024, per, partial))
    if partial:
        raise Fail('%d guest pages went to the host only partly (not %d PFNs each)'
                   % (partial, per))
    if whole * g.env.page_size > balloon or whole * g.env.page_size < 0.9 * balloon:
        raise Fail('%d MiB of whole pages given back, balloon %d MiB' % (
            whole * g.env.page_size // MIB, balloon // MIB))


@scenario('virtio-roundtrip', 'QMP balloon -512 MiB, RSS drops, back to full; '
          'pages larger than 4 KiB: whole pages of consecutive PFNs')
def sc_virtio_roundtrip(env):
    res = {}
    big = env.page_size > 4096
    size = 512 * MIB
    # With pages larger than 4 KiB ask for 60 KiB less than 512 MiB: the
    # guest must round up to whole pages (as the stock driver does), so
    # the host must see exactly 512 MiB go.
    ask = size - 60 * 1024 if big else size
    seen = set()

    def body(g):
        g.ready('touched')
        res['rss0'] = g.rss_kib()
        before = g.data_map() if big else None
        g.go('touched')
        g.set_balloon(ask)
        sample_actual(g, g.mem_bytes - size, seen, 'inflated')
        g.ready('inflated')
        g.wait_actual(g.mem_bytes - size, timeout=30, seen=seen)
        check_page_units(g, seen, 'inflate')
        if big:
            check_whole_pages(g, before, g.data_map(), size)
        time.sleep(0.2)
        res['rss1'] = g.rss_kib()
        drop = res['rss0'] - res['rss1']
        res['drop'] = drop
        log('#   virtio-roundtrip: QEMU RSS %d -> %d MiB (drop %d MiB)' % (
            res['rss0'] // 1024, res['rss1'] // 1024, drop // 1024))
        if drop < 0.9 * 512 * 1024:
            raise Fail('QEMU RSS dropped by %d MiB, expected >= %d MiB' % (
                drop // 1024, int(0.9 * 512)))
        g.set_balloon(0)
        g.go('inflated')
        n = len(seen)
        sample_actual(g, g.mem_bytes, seen, 'deflated')
        g.ready('deflated')
        g.wait_actual(g.mem_bytes, timeout=30, seen=seen)
        check_page_units(g, seen, 'deflate')
        if big:
            log('#   virtio-roundtrip: asked for %d KiB, the guest took %d KiB; '
                'query-balloon showed %d sizes, all whole %d KiB pages' % (
                    ask // 1024, size // 1024, len(seen), env.page_size // 1024))
        vlog('%d query-balloon sizes on inflate, %d on deflate' % (n, len(seen) - n))
        g.go('deflated')
        g.serve()
    boot(env, 'roundtrip', body=body, devices=[BAL], timeout=150, ram_file=big)


def polling(g, seconds):
    g.qmp.cmd('qom-set', path='/machine/peripheral/bal0',
              property='guest-stats-polling-interval', value=seconds)


@scenario('stats', 'SET_STATS values reach qom-get guest-stats; STATS event; '
          'a request is answered with the SET_STATS that follows it (hold), else late')
def sc_stats(env):
    def body(g):
        g.ready('stats-set')
        g.qmp.cmd('qom-set', path='/machine/peripheral/bal0',
                  property='guest-stats-polling-interval', value=1)
        g.go('stats-set')
        g.ready('stats-event')
        want = {STAT_NAMES[t]: stat_value(t) for t in range(len(STAT_NAMES))}
        end = time.monotonic() + 15
        got = None
        while time.monotonic() < end:
            got = g.qmp.cmd('qom-get', path='/machine/peripheral/bal0',
                            property='guest-stats')
            if all(got['stats'].get(k) == v for k, v in want.items()):
                break
            time.sleep(0.2)
        else:
            bad = {k: got['stats'].get(k) for k, v in want.items()
                   if got['stats'].get(k) != v}
            raise Fail('guest-stats mismatch: %s' % json.dumps(bad)[:200])
        g.go('stats-event')
        polling(g, 0)
        for k in range(1, 4):
            g.ready('fresh-request')
            g.go('fresh-request')
            # Polling off, then on with a long interval: QEMU asks at once
            # if it has the buffer (a request still held by the guest may
            # keep it a moment: then ask again).
            for attempt in range(10):
                polling(g, 60)
                try:
                    args = g.ready('fresh-answered', timeout=3)
                    break
                except Fail:
                    polling(g, 0)
            else:
                raise Fail('round %d: no stats request reached the guest in 10 tries' % k)
            # The guest answered this request with a new value.  The next
            # request is 60 s away, so seeing the value now means it went
            # back with this answer, not with a later one.
            want = int(args[0])
            end = time.monotonic() + 10
            while True:
                got = g.qmp.cmd('qom-get', path='/machine/peripheral/bal0',
                                property='guest-stats')['stats'].get('stat-minor-faults')
                if got == want:
                    break
                if time.monotonic() > end:
                    raise Fail('guest-stats minor-faults %s 10 s after the answer, want %d '
                               '(answered with stale figures?)' % (got, want))
                time.sleep(0.05)
            polling(g, 0)
            g.go('fresh-answered')
        g.serve()
    g = boot(env, 'stats', body=body, devices=[BAL], timeout=150)
    log('#   stats: requests %s, answered late (no SET_STATS within the hold) %s' % (
        g.kv.get('stats_requests'), g.kv.get('stats_late')))


def expect_actual(g, balloon_bytes, what):
    """Host view must match the guest's: query-balloon actual is RAM minus
    what the guest says it holds."""
    want = g.mem_bytes - balloon_bytes
    got = g.actual()
    if got != want:
        raise Fail('%s: query-balloon actual %d MiB, expected %d MiB' % (
            what, got // MIB, want // MIB))


def _migration(env, devices):
    g = boot(env, 'migration', devices=devices, timeout=180, body=lambda g: g.serve({
        'migrated': lambda g, args: expect_actual(g, int(args[0]), 'after migration')}))
    log('#   %s: migrations=%s after %s compaction round(s), MIGRATED events read=%s' % (
        env.current, g.kv.get('migrations'), g.kv.get('rounds'),
        g.kv.get('migrated_events')))


@scenario('migration', 'fragment, compact_memory: balloon pages migrate (virtio)')
def sc_migration(env):
    _migration(env, [BAL])


@scenario('migration-simulate', 'same as migration without a device')
def sc_migration_sim(env):
    _migration(env, [])


def _oom(env, devices):
    g = boot(env, 'oom', devices=devices, timeout=240, body=lambda g: g.serve({
        'after-oom': lambda g, args: expect_actual(g, int(args[0]), 'after OOM deflate')}))
    log('#   %s: child %s, oom_freed=%s MiB in %s notifier calls' % (
        env.current, g.kv.get('child', '?'), g.kv.get('oom_freed_mib', '?'),
        g.kv.get('oom_events', '?')))


@scenario('oom', 'deflate-on-oom: OOM notifier deflates, child allocates (virtio)')
def sc_oom(env):
    _oom(env, [BAL + ',deflate-on-oom=on'])


@scenario('oom-simulate', 'OOM notifier deflates without a device')
def sc_oom_sim(env):
    _oom(env, [])


@scenario('oom-no-deflate', 'device without deflate-on-oom: the notifier keeps the balloon')
def sc_oom_no_deflate(env):
    _oom(env, [BAL])


def _unload(env, devices):
    boot(env, 'unload', devices=devices, timeout=90, body=lambda g: g.serve({
        'unloaded': lambda g, args: devices and expect_actual(g, 0, 'after rmmod')}))


@scenario('unload', 'rmmod with pages loaned returns them (virtio)')
def sc_unload(env):
    _unload(env, [BAL])


@scenario('unload-simulate', 'rmmod with pages loaned returns them (no device)')
def sc_unload_sim(env):
    _unload(env, [])


@scenario('device-unplug', 'hot-unplug the device while inflated, then plug a new one')
def sc_device_unplug(env):
    def unplug(g, args):
        g.qmp.cmd('device_del', id='bal0')
        g.qmp.wait_event('DEVICE_DELETED', timeout=30)

    def replug(g, args):
        g.qmp.cmd('device_add', driver='virtio-balloon-pci', id='bal1')
    boot(env, 'unplug', devices=[BAL], timeout=120, body=lambda g: g.serve({
        'unplug': unplug, 'replug': replug,
        'replugged': lambda g, args: expect_actual(g, int(args[0]), 'new device')}))


@scenario('deflate-host-target', 'no deflate-on-oom: DEFLATE stops at the host target (STOP_HOST_TARGET), whatever is asked')
def sc_deflate_host_target(env):
    boot(env, 'hosttarget', devices=[BAL], timeout=120, body=lambda g: g.serve({
        'at-target': lambda g, args: expect_actual(g, int(args[0]), 'at the host target')}))


@scenario('doo-accounting', 'deflate-on-oom: loaned pages stay in MemTotal; one mapping larger than the rest passes overcommit, OOM deflates')
def sc_doo_accounting(env):
    g = boot(env, 'doo', devices=[BAL + ',deflate-on-oom=on'], timeout=240, body=lambda g: g.serve({
        'after-oom': lambda g, args: expect_actual(g, int(args[0]), 'after OOM deflate')}))
    log('#   %s: child status %s, OOM notifier freed %s MiB in %s calls' % (
        env.current, g.kv.get('child_status'), g.kv.get('oom_freed_mib'), g.kv.get('oom_events')))


# A PCIe slot with native (pciehp) hotplug, so the guest can cut its power.
PCIE_SLOT = ['-global', 'ICH9-LPC.acpi-pci-hotplug-with-bridge-support=off',
             '-device', 'pcie-root-port,id=rp1,bus=pcie.0,chassis=1,slot=1']
BAL_SLOT = 'virtio-balloon-pci,id=bal0,bus=rp1,deflate-on-oom=on'


@scenario('surprise-removal', 'slot power cut mid-step, host deletes the device: the step gives up, remove() finishes, pages back')
def sc_surprise_removal(env):
    def deleted(g, args):
        # QEMU detaches a device as soon as its slot's power is cut (the
        # guest just did that), so usually it is gone already.
        try:
            g.qmp.cmd('device_del', id='bal0')
            g.qmp.wait_event('DEVICE_DELETED', timeout=30)
        except QmpError as e:
            if 'not found' not in str(e):
                raise
            log('#   %s: QEMU had already detached the device' % env.current)
    g = boot(env, 'vanish', args=['removed'], machine='q35', qemu_args=PCIE_SLOT,
             devices=[BAL_SLOT], timeout=180,
             body=lambda g: g.serve({'powered-off': deleted}))
    log('#   %s: stepper stopped %s s after the power cut' % (env.current, g.kv.get('stepper_s')))


@scenario('host-silent', 'slot power cut, device stays: steps time out (HOST_BROKEN), an OOM meanwhile does not wait for the lock, rmmod works')
def sc_host_silent(env):
    g = boot(env, 'vanish', args=['silent'], machine='q35', qemu_args=PCIE_SLOT,
             devices=[BAL_SLOT], timeout=240)
    log('#   %s: OOM child done %s s after the power cut (oom_busy %s), stepper %s s' % (
        env.current, g.kv.get('oom_s'), g.kv.get('oom_busy'), g.kv.get('stepper_s')))


@scenario('memory-offline', 'balloon pages in a hotplugged movable DIMM migrate out on offline')
def sc_memory_offline(env):
    dimm = 256

    def hotplug(g, args):
        g.qmp.cmd('object-add', **{'qom-type': 'memory-backend-ram', 'id': 'mem1',
                                   'size': dimm * MIB})
        g.qmp.cmd('device_add', driver='pc-dimm', id='dimm1', memdev='mem1')
        g.mem_bytes += dimm * MIB       # QEMU counts the DIMM in actual
    g = boot(env, 'offline', args=[dimm], devices=[BAL], mem_opts=',slots=2,maxmem=2G',
             timeout=120, body=lambda g: g.serve({
                 'hotplug': hotplug,
                 'offlined': lambda g, args: expect_actual(g, int(args[0]), 'after offline')}))
    log('#   memory-offline: %s balloon pages in the DIMM, %s migrations while offlining' % (
        g.kv.get('movable_ballooned'), g.kv.get('migrations')))


# -- compare: stock virtio_balloon vs the shim ---------------------------------

def compare_leg(env, leg, size_mib=512, mem_mib=1024, append='', tag=None):
    """One boot of one compare leg; returns dict of seconds:
    stock:       host_inflate, host_deflate (QMP balloon -> query-balloon)
    shim-virtio: host_* as above plus guest_* (time inside INFLATE/DEFLATE)
    shim-sim:    guest_* and e2e_* (SIM_SET_TARGET -> target reached)"""
    size = size_mib * MIB
    out = {}
    devices = [BAL] if leg in ('stock', 'shim-virtio') else []
    load = 'stock' if leg == 'stock' else 'shim'

    def body(g):
        if leg == 'shim-sim':
            g.serve()
            return
        # The guest is already waiting (GO first) when the target changes,
        # so the shim leg pays no extra wake-up against the stock driver.
        g.ready('touched')
        g.go('touched')
        t0 = time.monotonic()
        g.set_balloon(size)
        g.wait_actual(g.mem_bytes - size)
        out['host_inflate'] = time.monotonic() - t0
        g.ready('inflated')
        g.go('inflated')
        g.ready('deflate')
        g.go('deflate')
        t0 = time.monotonic()
        g.set_balloon(0)
        g.wait_actual(g.mem_bytes)
        out['host_deflate'] = time.monotonic() - t0
        g.ready('deflated')
        g.go('deflated')
        g.serve()
    g = boot(env, 'compare', body=body, args=[size_mib], devices=devices,
             load=load, mem_mib=mem_mib, append=append, timeout=150,
             logname='compare-%s%s' % (leg, tag or ''))
    for k in ('guest_inflate_ns', 'guest_deflate_ns', 'e2e_inflate_ns',
              'e2e_deflate_ns'):
        if k in g.kv:
            out[k[:-3]] = int(g.kv[k]) / 1e9
    return out


def fmt_s(v):
    return '%.3f s' % v if v is not None else '-'


@scenario('compare', 'stock virtio_balloon vs shim (virtio, simulate): 512 MiB times')
def sc_compare(env):
    stock = compare_leg(env, 'stock')
    if not env.kmod_ok:
        log('#   compare stock: inflate %s, deflate %s' % (
            fmt_s(stock['host_inflate']), fmt_s(stock['host_deflate'])))
        raise Fail(env.kmod_err)
    virt = compare_leg(env, 'shim-virtio')
    sim = compare_leg(env, 'shim-sim')
    rows = [
        ('stock virtio_balloon (host: QMP balloon -> actual)',
         stock.get('host_inflate'), stock.get('host_deflate')),
        ('shim virtio          (host: QMP balloon -> actual)',
         virt.get('host_inflate'), virt.get('host_deflate')),
        ('shim virtio          (guest: inside ioctls)',
         virt.get('guest_inflate'), virt.get('guest_deflate')),
        ('shim simulate        (guest: target -> reached)',
         sim.get('e2e_inflate'), sim.get('e2e_deflate')),
    ]
    log('#   %-52s %9s %9s' % ('compare: 512 MiB in a 1 GiB guest', 'inflate', 'deflate'))
    for what, i, d in rows:
        log('#     %-50s %9s %9s' % (what, fmt_s(i), fmt_s(d)))

    def ratio(a, b):
        return '%.2fx' % (a / b) if a and b else '-'
    for what, i, d in (rows[1], rows[3]):
        log('#     %-50s %9s %9s' % (
            'ratio stock / ' + what.split('(')[0].strip(),
            ratio(rows[0][1], i), ratio(rows[0][2], d)))


# --------------------------------------------------------------------------
# Harness self-test: does it catch what it must?
# --------------------------------------------------------------------------

def selftest(env):
    cases = [
        ('kernel warning on the console', 'kernel: ',
         dict(scenario='selftest-kmsg', load='none', timeout=60)),
        ('kernel oops', 'kernel: ',
         dict(scenario='selftest-oops', load='none', timeout=60)),
        ('hung guest', 'timeout',
         dict(scenario='selftest-hang', load='none', timeout=12)),
        ('failing guest program', 'guest rc 2',
         dict(scenario='no-such-subcommand', load='none', timeout=60)),
    ]
    bad = 0
    for what, want, kw in cases:
        env.current = 'selftest-' + kw['scenario']
        try:
            boot(env, **kw)
            got = 'PASS'
        except (Fail, Skip) as e:
            got = '%s: %s' % (type(e).__name__.upper(), e)
        ok = got.startswith('FAIL') and want in got
        bad += not ok
        log('%s selftest %s -> %s' % ('ok' if ok else 'BROKEN', what, got))
    return 1 if bad else 0


# --------------------------------------------------------------------------
# Driver
# --------------------------------------------------------------------------

def run_scenario(env, name, fn, needs_kmod):
    t0 = time.monotonic()
    env.current = name
    if not env.guest_ok:
        return 'FAIL', env.guest_err
    if needs_kmod and not env.kmod_ok and name != 'compare':
        return 'FAIL', env.kmod_err
    if name in FAKEHOST_SCENARIOS and not env.fake_ok:
        return 'FAIL', env.fake_err
    try:
        fn(env)
        status, reason = 'PASS', None
    except Skip as e:
        status, reason = 'SKIP', str(e) or 'no reason given'
    except Fail as e:
        status, reason = 'FAIL', str(e)
    except Exception as e:      # noqa: BLE001 - a harness bug fails the scenario
        status, reason = 'FAIL', 'harness error: %r' % e
    vlog('%s took %.1f s' % (name, time.monotonic() - t0))
    return status, reason


def main(argv=None):
    import argparse
    ap = argparse.ArgumentParser(prog='tests/vm/run',
                                 description='memballoond VM tests')
    ap.add_argument('--list', action='store_true', help='list scenarios')
    ap.add_argument('--accel', choices=['tcg', 'kvm'],
                    default=os.environ.get('MBT_ACCEL') or None,
                    help='skip the KVM probe and use this accelerator')
    ap.add_argument('--selftest', action='store_true',
                    help='check that the harness catches warnings, oopses '
                    'and hangs (boots fake failures)')
    ap.add_argument('--kernel', default=None,
                    help='boot another Debian kernel: 6.1, 6.12, 6.12-bpo, 7.2, '
                    '7.3 or newest (default: this machine\'s 6.1, or for '
                    '--arch arm64/ppc64el bookworm\'s 6.1)')
    ap.add_argument('--arch', default=arches.DEFAULT_ARCH,
                    choices=sorted(arches.ARCHS) + sorted(arches.ALIASES),
                    help='guest architecture (default amd64)')
    ap.add_argument('--qemu', default=os.environ.get('MBT_QEMU') or 'system',
                    help='system (this machine\'s QEMU, the default) or 10 (QEMU 10 '
                    'from bookworm-backports, unpacked, not installed: tests/vm/qemus.py)')
    ap.add_argument('--seed', type=int, default=None,
                    help='fuzz: seed of the calls (default: random, printed)')
    ap.add_argument('--fuzz-calls', type=int,
                    default=int(os.environ.get('MBT_FUZZ_CALLS') or 100000),
                    help='fuzz: calls per run (default 100000, or $MBT_FUZZ_CALLS)')
    ap.add_argument('scenarios', nargs='*', metavar='SCENARIO')
    a = ap.parse_args(argv)
    arch = arches.get(a.arch)
    here = [s for s in SCENARIOS if not arches.unavailable(arch, s[0], s[2].__module__)]
    if a.list:
        for name, doc, _, _ in here:
            print('%-20s %s' % (name, doc))
        why = {}
        for name, _, fn, _ in SCENARIOS:
            r = arches.unavailable(arch, name, fn.__module__)
            if r:
                why.setdefault(r, []).append(name)
        for r, names in why.items():
            print('# not on %s: %s: %s' % (arch.name, ' '.join(names), r))
        return 0
    known = {s[0]: s for s in SCENARIOS}
    todo = a.scenarios or [s[0] for s in here]
    bad = [n for n in todo if n not in known]
    if bad:
        print('unknown scenario(s): %s (see --list)' % ' '.join(bad), file=sys.stderr)
        return 2
    bad = [n for n in todo if known[n] not in here]
    if bad:
        for n in bad:
            print('%s cannot run on %s: %s' % (n, arch.name, arches.unavailable(
                arch, n, known[n][2].__module__)), file=sys.stderr)
        return 2
    t0 = time.monotonic()
    target = None
    if a.kernel or arch.foreign:
        import kernels  # pylint: disable=import-outside-toplevel
        target = kernels.Target(a.kernel or '6.1', arch.name)
        if 'MBT_BUILD_DIR' not in os.environ:
            global BUILD  # pylint: disable=global-statement
            BUILD = target.build_dir
    env = Env(accel=a.accel, target=target, arch=arch)
    env.qemu = qemus.get(a.qemu, arch)
    os.environ.update(env.qemu.env)
    if a.qemu != 'system':
        # Two legs of one kernel under two QEMUs (tests/run-all's 6.12
        # and 6.12-qemu10) would write the same per-scenario logs: the
        # second overwrote the first's, and with it a failure's kernel log.
        env.logdir = os.path.join(BUILD, 'logs-qemu-%s' % a.qemu)
        os.makedirs(env.logdir, exist_ok=True)
    log('# qemu %s (%s)' % (env.qemu.version, env.qemu.source))
    env.selected = [] if a.selftest else todo
    env.fuzz_seed = a.seed
    env.fuzz_calls = a.fuzz_calls
    env.prepare()
    if a.selftest:
        return selftest(env)
    counts = {'PASS': 0, 'FAIL': 0, 'SKIP': 0}
    for n in todo:
        name, _, fn, needs_kmod = known[n]
        status, reason = run_scenario(env, name, fn, needs_kmod)
        counts[status] += 1
        log('%s %s%s' % (status, name, ': ' + reason if reason else ''))
    if env.boot_times:
        log('# accel %s; boot to /init: median %.2f s (%d boots); logs in %s; '
            'total %.0f s' % (env.accel, statistics.median(env.boot_times),
                              len(env.boot_times), env.logdir,
                              time.monotonic() - t0))
    log('vm: %d passed, %d failed, %d skipped' % (
        counts['PASS'], counts['FAIL'], counts['SKIP']))
    return 0 if counts['FAIL'] == 0 else 1


# The daemon scenarios (tests/vm/daemon.py) register themselves with
# @scenario.  Run as a script this module is __main__: let "import harness"
# there find this same module rather than load a second copy.
sys.modules.setdefault('harness', sys.modules[__name__])
import daemon  # noqa: E402,F401  pylint: disable=wrong-import-position
import pressure  # noqa: E402,F401  pylint: disable=wrong-import-position
import fuzz  # noqa: E402,F401  pylint: disable=wrong-import-position
import vmware  # noqa: E402,F401  pylint: disable=wrong-import-position
import cmm  # noqa: E402,F401  pylint: disable=wrong-import-position

if __name__ == '__main__':
    sys.exit(main())
