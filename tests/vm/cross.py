# SPDX-License-Identifier: GPL-2.0-or-later
"""memballoond and memballoonctl for a foreign guest (tests/vm/run --arch
arm64|ppc64el): a sysroot of bookworm's libraries for that arch, a cross
build against it, and the shared libraries each binary needs in the
guest.

Nothing here touches this machine's apt sources or dpkg architectures: the
.debs come through tests/kmod/matrix's private apt state (the one that
fetches the kernels and busybox) and are unpacked with dpkg -x.

Caches:
  $MATRIX_CACHE/sysroot/ARCH   the unpacked .debs (one stamp per .deb, so
                               a second run unpacks nothing)
  tests/vm/build/userspace-ARCH  the out-of-tree cross build: configured
                               once (again when the configure line
                               changes), then make rebuilds what changed
                               in the source tree.  Per source tree,
                               like the amd64 build in tests/vm/build/userspace.
"""

import os
import re
import subprocess

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, '..', '..'))

# What configure.ac's PKG_CHECK_MODULES need (-dev) and what the binaries
# and those libraries load at run time (apt-cache depends of each, bookworm).
# libc6 and libgcc-s1 come from the archive too: the guest gets the same C
# library that the others were built against.
SYSROOT_PACKAGES = [
    'libsystemd-dev', 'libsystemd0', 'libudev-dev', 'libudev1',
    'libconfig-dev', 'libconfig9', 'libjson-c-dev', 'libjson-c5',
    'libcap2', 'libgcrypt20', 'libgpg-error0', 'liblz4-1', 'liblzma5',
    'libzstd1', 'libc6', 'libgcc-s1',
]

BINS = ('memballoond', 'memballoonctl')

# ELF e_machine (elf.h) of each arch's binaries.
EM = {'amd64': 62, 'arm64': 183, 'ppc64el': 21}


class CrossError(Exception):
    pass


def triplet(arch):
    """aarch64-linux-gnu from arch.cc (aarch64-linux-gnu-gcc)."""
    assert arch.cc.endswith('-gcc')
    return arch.cc[:-len('-gcc')]


def run(cmd, **kw):
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, **kw)


def elf_machine(path):
    """e_machine of ELF file @path, or None."""
    try:
        with open(path, 'rb') as f:
            h = f.read(20)
    except OSError:
        return None
    if len(h) < 20 or h[:4] != b'\x7fELF':
        return None
    return int.from_bytes(h[18:20], 'little' if h[5] == 1 else 'big')


def sysroot(matrix, arch):
    """Download (once) and unpack SYSROOT_PACKAGES for @arch; return the
    sysroot's path.  Raises matrix.LegError."""
    apt = matrix.Apt('bookworm')
    apt.update()
    debs = apt.download(['%s:%s' % (p, arch.name) for p in SYSROOT_PACKAGES])
    root = os.path.join(matrix.CACHE, 'sysroot', arch.name)
    matrix.extract(debs, root)
    return root


def lib_dirs(root, arch):
    t = triplet(arch)
    return [os.path.join(root, 'lib', t), os.path.join(root, 'usr', 'lib', t)]


def build_env(root, arch):
    """pkg-config sees only the sysroot's .pc files, and prefixes their
    paths with it.  The system -I/-L are kept: /usr/include in the sysroot
    is not the cross compiler's own."""
    t = triplet(arch)
    return dict(os.environ,
                PKG_CONFIG_LIBDIR=':'.join([
                    os.path.join(root, 'usr', 'lib', t, 'pkgconfig'),
                    os.path.join(root, 'usr', 'share', 'pkgconfig')]),
                PKG_CONFIG_SYSROOT_DIR=root,
                PKG_CONFIG_PATH='',
                PKG_CONFIG_ALLOW_SYSTEM_CFLAGS='1',
                PKG_CONFIG_ALLOW_SYSTEM_LIBS='1')


def build(matrix, arch, bindir, logf):
    """Cross-build memballoond + memballoonctl for @arch in @bindir; return
    the sysroot.  Raises CrossError (the log is in @logf)."""
    try:
        root = sysroot(matrix, arch)
    except matrix.LegError as e:
        raise CrossError('sysroot for %s: %s' % (arch.name, e))
    t = triplet(arch)
    os.makedirs(bindir, exist_ok=True)
    env = build_env(root, arch)
    # The -dev .so links need their own DT_NEEDED found at link time
    # (libsystemd.so.0 -> libcap, liblz4, ...): -rpath-link, not an rpath.
    dirs = lib_dirs(root, arch)
    ldflags = ' '.join(['-L' + d for d in dirs] +
                       ['-Wl,-rpath-link,' + ':'.join(dirs)])
    configure = [os.path.join(ROOT, 'configure'), '--host=' + t,
                 '--enable-werror', 'CC=' + arch.cc,
                 'PKG_CONFIG=pkg-config', 'LDFLAGS=' + ldflags]
    steps = []
    if not os.path.exists(os.path.join(ROOT, 'configure')):
        steps.append(('autogen', ['./autogen.sh'], ROOT))
    stamp = os.path.join(bindir, '.configure-line')
    line = '\n'.join(configure + [root]) + '\n'
    if not os.path.exists(os.path.join(bindir, 'Makefile')) or \
            not os.path.exists(stamp) or open(stamp).read() != line:
        steps.append(('configure', configure, bindir))
    steps.append(('make', ['make', '-j2'] + list(BINS), bindir))
    out = []
    try:
        for what, cmd, cwd in steps:
            r = run(cmd, cwd=cwd, env=env)
            out.append('$ %s\n%s' % (' '.join(cmd), r.stdout))
            if r.returncode != 0:
                lines = [l for l in r.stdout.splitlines() if 'error' in l.lower()] or \
                    r.stdout.strip().splitlines()[-3:] or ['no output']
                raise CrossError('%s userspace %s failed: %s (see %s)' % (
                    arch.name, what, lines[0].strip()[:200], logf))
            if what == 'configure':
                with open(stamp, 'w') as f:
                    f.write(line)
    finally:
        with open(logf, 'w') as f:
            f.write('\n'.join(out))
    for b in BINS:
        m = elf_machine(os.path.join(bindir, b))
        if m != EM[arch.name]:
            raise CrossError('%s/%s is not an %s binary (e_machine %s)' % (
                bindir, b, arch.name, m))
    return root


def _dynamic(arch, path):
    """(interpreter or None, [DT_NEEDED names]) of ELF @path."""
    r = run([triplet(arch) + '-readelf', '-d', '-l', '-W', path])
    if r.returncode != 0:
        raise CrossError('readelf %s: %s' % (path, r.stdout.strip()[:200]))
    interp = re.search(r'\[Requesting program interpreter: (\S+)\]', r.stdout)
    needed = re.findall(r'\(NEEDED\)\s+Shared library: \[([^\]]+)\]', r.stdout)
    return interp.group(1) if interp else None, needed


def resolve(root, path):
    """@path (inside sysroot @root) with its symlinks followed inside the
    sysroot: libc6's /lib64/ld64.so.2 -> /lib/powerpc64le-linux-gnu/...
    is absolute."""
    for _ in range(40):
        if not os.path.islink(path):
            return path
        t = os.readlink(path)
        path = os.path.join(root, t.lstrip('/')) if t.startswith('/') else \
            os.path.normpath(os.path.join(os.path.dirname(path), t))
    raise CrossError('symlink loop at %s' % path)


def shared_libs(arch, root, binary):
    """What @binary needs in the guest to run: [(guest path, host path)],
    the dynamic loader at its PT_INTERP path and every library it loads,
    transitively, in /lib/TRIPLET (one of Debian's ld.so's default
    directories), found in sysroot @root.  A static binary needs nothing.
    Raises CrossError naming a library the sysroot lacks."""
    t = triplet(arch)
    dirs = lib_dirs(root, arch)
    interp, todo = _dynamic(arch, binary)
    res = []
    if interp:
        # The cpio gets the file, not the sysroot's symlink.
        host = resolve(root, os.path.join(root, interp.lstrip('/')))
        if not os.path.exists(host):
            raise CrossError('%s: no %s in %s' % (binary, interp, root))
        res.append((interp, host))
    seen = set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for d in dirs:
            host = os.path.join(d, name)
            if os.path.exists(host):
                break
        else:
            raise CrossError('%s needs %s: not in %s' % (
                os.path.basename(binary), name, ' '.join(dirs)))
        host = resolve(root, host)
        gpath = '/lib/%s/%s' % (t, name)
        if gpath != interp:
            res.append((gpath, host))
        todo.extend(_dynamic(arch, host)[1])
    return res
