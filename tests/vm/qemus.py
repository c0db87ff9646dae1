# SPDX-License-Identifier: GPL-2.0-or-later
"""tests/vm/run --qemu VERSION: run the guests under another QEMU than
this machine's.

  --qemu system   this machine's qemu-system-* (Debian 12: 7.2), the default
  --qemu 10       QEMU 10 from bookworm-backports

The other QEMU is never installed: its .debs (qemu-system-x86 or the
guest architecture's, qemu-system-common, qemu-system-data, and the
firmware it expects) come through tests/kmod/matrix's private apt state
for that suite and are unpacked under $MATRIX_CACHE/qemu/<version>/
(default build/matrix/qemu/); the binary runs from there with -L pointing
at its own firmware and QEMU_MODULE_DIR at its own modules.  Its shared
libraries are this machine's (the backport is built against bookworm).
"""

import glob
import os
import re
import subprocess

import kernels

# VERSION -> (suite, the firmware packages the x86 binary's -L needs from
# that suite: QEMU 10's bios-256k.bin links to seabios >= 1.16.3)
SERIES = {
    '10': ('bookworm-backports', ['seabios']),
}

# guest architecture -> the package holding its qemu-system binary
SYSTEM_PKG = {'amd64': 'qemu-system-x86', 'arm64': 'qemu-system-arm',
              'ppc64el': 'qemu-system-ppc'}


class Qemu:
    """One QEMU to run: the binary, the options and environment it needs,
    and its version string."""

    def __init__(self, binary, argv=(), env=None, version='', source="this machine's"):
        self.binary = binary
        self.source = source
        self.argv = list(argv)
        self.env = dict(env or {})
        self.version = version or self._version()

    def _version(self):
        try:
            out = subprocess.run([self.binary, '--version'], capture_output=True, text=True,
                                 env=dict(os.environ, **self.env), timeout=30).stdout
        except (OSError, subprocess.SubprocessError) as e:
            raise SystemExit('qemus: %s --version: %s' % (self.binary, e)) from e
        m = re.search(r'version (\S+)', out)
        if not m:
            raise SystemExit('qemus: %s --version printed no version: %r' % (
                self.binary, out[:200]))
        return m.group(1)


    def tcg_accel(self, arch_name):
        """The -accel value for a TCG guest of @arch_name.

        Two CI runs of QEMU 7.2 each lost one x86 guest to "Oops: int3"
        about 1 s into boot, before /init and so before memballoon.ko
        (Debian's 6.12 and 7.3 kernels, once in some 400 boots).  The
        likely cause: with one host thread per vCPU (MTTCG), a vCPU can
        keep a block translated from text another vCPU is rewriting with
        the kernel's int3 protocol (jump labels, static calls) and execute
        the int3 after the poke is over; QEMU 8.0 reworked the page locking
        around translation.  With one thread for all vCPUs (thread=single)
        no translation runs beside a write.  It cost nothing measurable
        here (4 scenarios on 6.1: 25.4 s against 26.2 s).  arm64 and
        ppc64 guests patch under stop_machine and keep MTTCG."""
        m = re.match(r'(\d+)\.', self.version)
        if arch_name == 'amd64' and m and int(m.group(1)) < 8:
            return 'tcg,thread=single'
        return 'tcg'


def get(series, arch):
    """The QEMU for @series ('system' or a key of SERIES) and the guest
    architecture @arch (an arches.Arch).  Raises SystemExit with the reason
    when it cannot be had."""
    if series in (None, '', 'system'):
        return Qemu(arch.qemu)
    if series not in SERIES:
        raise SystemExit('unknown --qemu %s (system, %s)' % (series, ', '.join(sorted(SERIES))))
    suite, firmware = SERIES[series]
    m = kernels.load_matrix()
    apt = m.Apt(suite)
    try:
        apt.update()
        pkgs = ['%s:amd64' % SYSTEM_PKG[arch.name], 'qemu-system-common:amd64',
                'qemu-system-data'] + firmware
        debs = apt.download(pkgs)
    except m.LegError as e:
        raise SystemExit('qemus: QEMU %s from %s: %s' % (series, suite, e)) from e
    ver = re.search(r'_([^_]+)_[^_]+\.deb$', os.path.basename(debs[0])).group(1)
    ver = ver.replace('%3a', ':')
    if not ver.split(':')[-1].startswith(series + '.'):
        raise SystemExit('qemus: %s has %s %s, not QEMU %s' % (
            suite, SYSTEM_PKG[arch.name], ver, series))
    root = os.path.join(m.CACHE, 'qemu', ver.replace(':', '_'))
    m.extract(debs, root)
    binary = os.path.join(root, 'usr', 'bin', os.path.basename(arch.qemu))
    mods = glob.glob(os.path.join(root, 'usr', 'lib', '*-linux-gnu', 'qemu'))
    env = {'QEMU_MODULE_DIR': mods[0]} if mods else {}
    q = Qemu(binary, ['-L', os.path.join(root, 'usr', 'share', 'qemu')], env,
             source='%s, unpacked in %s' % (suite, root))
    if not q.version.startswith(series + '.'):
        raise SystemExit('qemus: %s says version %s, expected %s.x' % (binary, q.version, series))
    return q
