# SPDX-License-Identifier: GPL-2.0-or-later
"""tests/vm/run --arch arm64|ppc64el: boot Debian's kernel of another
architecture under QEMU (TCG: there is no KVM for a foreign guest).

What differs per architecture is gathered here: the QEMU binary, machine,
CPU and console; how the host's control channel reaches the guest; the C
cross compiler for the guest program (tests/vm/run installs it and QEMU);
and the busybox-static of that architecture, which comes from Debian's
archive through tests/kmod/matrix's private apt state (downloaded once,
extracted under $MATRIX_CACHE/busybox/ARCH).

The kernel, its modules and memballoon.ko come through tests/vm/kernels.py
as for amd64's --kernel legs; without --kernel an --arch leg boots 6.1.

Control channel: the guest program opens /dev/ttyS1.  amd64 has a second
8250 UART for it.  QEMU 7.2's arm64 "virt" machine has one PL011 only, so
the channel is a virtconsole (virtio-serial-pci: /dev/hvc0, virtio_console
loaded from the initramfs).  pseries has the same (/dev/hvc1, after the
console's hvc0): a second spapr-vty (hvc_vio) loses host input once a line
is longer than a few hundred bytes (a 266-byte line arrives, a 666-byte
one never does; measured with the daemon scenarios' base64 scripts), the
virtconsole took 4 KiB lines.  /init links /dev/ttyS1 to that device once
it opens (mbt.ctl=DEV on the command line).
"""

import glob
import os
import re
import subprocess
import urllib.parse

DEFAULT_ARCH = 'amd64'
ALIASES = {'x86_64': 'amd64', 'aarch64': 'arm64', 'ppc64le': 'ppc64el'}


class Arch:
    def __init__(self, name, qemu, machine, cpu, console, ctl_dev, ctl_argv,
                 cc, uname_m, extra_modules=(), not_here=None, nvram=False):
        self.name = name
        self.qemu = qemu
        self.machine = machine          # -machine value (options appended)
        self.cpu = cpu                  # under TCG (KVM: host)
        self.console = console          # console= on the kernel command line
        self.ctl_dev = ctl_dev          # the control tty in the guest, or None (ttyS1)
        self.ctl_argv = ctl_argv        # QEMU options attaching chardev "ctl" to it
        self.cc = cc
        self.uname_m = uname_m
        self.extra_modules = list(extra_modules)
        # scenario name -> why it cannot run here (see unavailable())
        self.not_here = not_here or {}
        # pseries: give the spapr-nvram device a formatted image (see
        # nvram_image())
        self.nvram = nvram

    @property
    def foreign(self):
        return self.name != DEFAULT_ARCH


# What cannot work off amd64, and why.  --list prints these.
NO_DIMM_ARM = ('QEMU adds DIMMs to -M virt only with the ACPI GED device, which '
               'needs firmware ("memory hotplug is not enabled: missing acpi-ged '
               'device" with direct kernel boot)')
NO_UNPLUG_ARM = ('the balloon sits on -M virt\'s PCIe root bus, which has no '
                 'hotplug (behind a pcie-root-port it might; not tried)')
NO_HOTPLUG_PPC = ('pseries hotplug: QEMU takes the DIMM and the device_del, but no '
                  'event reaches this guest (memory never appears, the device is '
                  'never released; VOF, no rtas_errd/drmgr in the initramfs)')
NO_VMWARE = 'x86-64 only (the VMware backdoor is an x86 I/O port)'
VMWARE_SCENARIOS = ('vmware-fakehost', 'vmware-detect', 'daemon-roundtrip-vmware',
                    'daemon-floor-vmware', 'pressure-oom-rescue-vmware')
NO_Q35 = ('q35 with a pcie-root-port whose slot power the guest cuts (native '
          'pciehp): an x86 machine model')
# The userspace is cross-built for arm64 and ppc64el (tests/vm/cross.py).
# The daemon and pressure scenarios listed here have passed on both under
# TCG (daemon-roundtrip, in tests/run-all's legs, many times; the others
# once each); any other one registered later is refused until tried.
DAEMON_FOREIGN = {'daemon-roundtrip', 'daemon-floor', 'daemon-floor-walk',
                  'daemon-redirect', 'daemon-crash', 'daemon-stats',
                  'daemon-simulate', 'daemon-auto-loan', 'pressure-oom-rescue',
                  'pressure-spec-limit', 'pressure-waves'}
DAEMON_REASON = ('not run under this arch yet (the userspace is cross-built, '
                 'tests/vm/cross.py; timings were set on amd64)')
ARCHS = {
    'amd64': Arch(
        'amd64', 'qemu-system-x86_64', 'pc', 'max', 'ttyS0', None,
        ['-serial', 'chardev:ctl'], 'gcc', 'x86_64'),
    'arm64': Arch(
        'arm64', 'qemu-system-aarch64', 'virt', 'cortex-a57', 'ttyAMA0', 'hvc0',
        ['-device', 'virtio-serial-pci,id=vser0',
         '-device', 'virtconsole,bus=vser0.0,chardev=ctl'],
        'aarch64-linux-gnu-gcc', 'aarch64',
        extra_modules=['virtio_console'],
        not_here={'memory-offline': NO_DIMM_ARM,
                  'hotplug-online': NO_DIMM_ARM, 'hotplug-none': NO_DIMM_ARM,
                  'device-unplug': NO_UNPLUG_ARM, 'fuzz': NO_UNPLUG_ARM,
                  'surprise-removal': NO_Q35, 'host-silent': NO_Q35,
                  **{n: NO_VMWARE for n in VMWARE_SCENARIOS}}),
    # x-vof=on: QEMU's Virtual Open Firmware instead of SLOF boots in
    # 2.5-4 s instead of 10-13 s.  The cap-* settings are what TCG can do
    # (the defaults ask for Spectre workarounds it lacks, and QEMU warns).
    'ppc64el': Arch(
        'ppc64el', 'qemu-system-ppc64',
        'pseries,x-vof=on,cap-cfpc=broken,cap-sbbc=broken,cap-ibs=broken,'
        'cap-ccf-assist=off', 'POWER9', 'hvc0', 'hvc1',
        ['-device', 'virtio-serial-pci,id=vser0',
         '-device', 'virtconsole,bus=vser0.0,chardev=ctl'],
        'powerpc64le-linux-gnu-gcc', 'ppc64le',
        extra_modules=['virtio_console'],
        not_here={'memory-offline': NO_HOTPLUG_PPC,
                  'hotplug-online': NO_HOTPLUG_PPC, 'hotplug-none': NO_HOTPLUG_PPC,
                  'device-unplug': NO_HOTPLUG_PPC, 'fuzz': NO_HOTPLUG_PPC,
                  'surprise-removal': NO_Q35, 'host-silent': NO_Q35,
                  **{n: NO_VMWARE for n in VMWARE_SCENARIOS}},
        nvram=True),
}

# spapr-nvram's default size (hw/nvram/spapr_nvram.c) and the partition
# header of arch/powerpc/kernel/nvram_64.c: signature, checksum, length in
# 16-byte blocks (big endian), 12 bytes of name.
NVRAM_SIZE = 64 * 1024
NVRAM_SIG_FREE = 0x7f


def nvram_image(path):
    """Write a pseries NVRAM holding one free partition, as SLOF formats
    it.  With x-vof=on nothing formats the NVRAM, and Linux reads the
    all-zero one as "WARNING: nvram corruption detected: 0-length
    partition", which fails every scenario (KERNEL_PROBLEM_RE).  Each boot
    gets its own copy: the kernel writes its partitions into it."""
    blocks = NVRAM_SIZE // 16
    name = b'w' * 12            # SLOF's name for free space
    # nvram_checksum(): the byte sum folded twice, over the header in CPU
    # order (the name's 16-bit words are symmetric here, so endianness does
    # not matter).
    c = NVRAM_SIG_FREE + blocks + sum(int.from_bytes(name[i:i + 2], 'little')
                                      for i in range(0, 12, 2))
    c = ((c & 0xffff) + (c >> 16)) & 0xffff
    c = ((c + ((c >> 8) + (c << 8))) >> 8) & 0xff
    hdr = bytes([NVRAM_SIG_FREE, c]) + blocks.to_bytes(2, 'big') + name
    with open(path, 'wb') as f:
        f.write(hdr + b'\0' * (NVRAM_SIZE - len(hdr)))
    return ['-drive', 'if=none,id=nvram0,format=raw,file=%s' % path,
            '-global', 'spapr-nvram.drive=nvram0']


def get(name):
    name = ALIASES.get(name, name)
    if name not in ARCHS:
        raise SystemExit('unknown architecture %s (%s)' % (name, ', '.join(ARCHS)))
    return ARCHS[name]


# tests/vm/cmm.py: the pSeries CMO transport exists in ppc64 kernels only.
CMM_ARCHES = {'ppc64el'}
NO_CMM = 'pSeries only'


def unavailable(arch, name, module):
    """Why scenario @name (registered by @module) cannot run on @arch, or
    None."""
    if name in arch.not_here:
        return arch.not_here[name]
    if module == 'cmm' and arch.name not in CMM_ARCHES:
        return NO_CMM
    if arch.foreign and module in ('daemon', 'pressure') and name not in DAEMON_FOREIGN:
        return DAEMON_REASON
    return None


def page_size(config_path):
    """Kernel page size in bytes from a kernel .config (4 KiB if unsure)."""
    try:
        cfg = open(config_path).read()
    except OSError:
        return 4096
    for kib in (64, 16):
        if re.search(r'^CONFIG_(ARM64|PPC)_%dK_PAGES=y' % kib, cfg, re.M):
            return kib * 1024
    return 4096


def busybox(matrix, arch):
    """Path of busybox-static's binary for @arch (bookworm's, like this
    machine's, so the host's --list-full names the same applets).  Raises
    matrix.LegError."""
    apt = matrix.Apt('bookworm')
    apt.update()
    deb = apt.download(['busybox-static:%s' % arch.name])[0]
    root = os.path.join(matrix.CACHE, 'busybox', arch.name)
    matrix.extract([deb], root)
    for p in ('bin/busybox', 'usr/bin/busybox'):
        if os.path.exists(os.path.join(root, p)):
            return os.path.join(root, p), os.path.basename(deb)
    raise matrix.LegError('no busybox in %s' % deb)


def busybox_version(deb):
    m = re.search(r'busybox-static_([^_]+)_', urllib.parse.unquote(deb))
    return m.group(1) if m else None


def host_busybox_version():
    r = subprocess.run(['dpkg-query', '-W', '-f=${Version}', 'busybox-static'],
                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    return r.stdout.strip() or None


def kernel_image(root, moddir, kv):
    """The image QEMU boots: amd64's bzImage (the harness unpacks the ELF
    inside), arm64's Image (gzip'd or not: QEMU takes both), ppc64el's
    vmlinux ELF.  7.x keeps it next to the modules, earlier kernels in
    /boot."""
    for p in (os.path.join(moddir, 'vmlinuz'), os.path.join(moddir, 'vmlinux'),
              os.path.join(root, 'boot', 'vmlinuz-' + kv),
              os.path.join(root, 'boot', 'vmlinux-' + kv)):
        if os.path.exists(p):
            return p
    return None


def kernel_config(root, moddir, kv):
    for p in [os.path.join(root, 'boot', 'config-' + kv), os.path.join(moddir, 'config')] + \
            glob.glob(os.path.join(root, 'usr', 'lib', 'linux', '*', 'config-' + kv)):
        if os.path.exists(p):
            return p
    return None
