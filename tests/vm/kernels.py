# SPDX-License-Identifier: GPL-2.0-or-later
"""tests/vm/run --kernel SERIES: boot another Debian kernel than this
machine's.

The kernel image and modules and the matching headers come from Debian
through tests/kmod/matrix (private apt state, cached under build/matrix or
$MATRIX_CACHE), which also builds memballoon.ko for that kernel with the
toolchain of the suite the kernel was built in.  The harness then boots
the image as it boots this machine's 6.1.  Everything built for SERIES
goes to build/matrix/vm/<kernel release>/ unless MBT_BUILD_DIR is set.

SERIES: 6.1 (bookworm), 6.12 (trixie), 6.12-bpo (bookworm-backports),
7.3 (trixie-backports), 7.2 (sid), or newest (the higher of 7.3 and 7.2).
ARCH: amd64, arm64 or ppc64el (tests/vm/arches.py); an --arch leg without
--kernel boots 6.1.
"""

import importlib.machinery
import importlib.util
import os
import re

import arches

HERE = os.path.dirname(os.path.abspath(__file__))
MATRIX = os.path.join(HERE, '..', 'kmod', 'matrix')


def load_matrix():
    loader = importlib.machinery.SourceFileLoader('mb_matrix', MATRIX)
    spec = importlib.util.spec_from_loader('mb_matrix', loader)
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)
    return mod


def vkey(v):
    return [int(x) if x.isdigit() else x for x in re.split(r'(\d+)', v)]


class Target:
    """One kernel to boot: its release, modules, image and a way to build
    the shim for it."""

    def __init__(self, series, arch):
        self.m = load_matrix()
        self.arch = arches.get(arch).name
        if series == 'newest':
            best = None
            for k in ('7.3', '7.2'):
                try:
                    root, kv = self.m.fetch_image(k, self.arch)
                except self.m.LegError:
                    continue
                if best is None or vkey(kv) > vkey(best[2]):
                    best = (k, root, kv)
            if best is None:
                raise SystemExit('kernels: no 7.x kernel found')
            self.series, root, self.kv = best
        else:
            self.series = series
            root, self.kv = self.m.fetch_image(series, self.arch)
        for d in ('usr/lib/modules', 'lib/modules'):
            if os.path.isdir(os.path.join(root, d, self.kv)):
                self.moddir = os.path.join(root, d, self.kv)
                break
        else:
            raise SystemExit('kernels: no modules for %s in %s' % (self.kv, root))
        self.vmlinuz = arches.kernel_image(root, self.moddir, self.kv)
        if not self.vmlinuz:
            raise SystemExit('kernels: no kernel image for %s in %s' % (self.kv, root))
        self.config = arches.kernel_config(root, self.moddir, self.kv)
        self.build_dir = os.path.join(self.m.CACHE, 'vm', self.kv)

    def build_kmod(self):
        """-> (path of memballoon.ko, None) or (None, reason)."""
        try:
            ko, note = self.m.build_module(self.series, self.arch)
        except self.m.LegError as e:
            return None, 'module failed to build: %s' % e
        print('# memballoon.ko for %s: %s' % (self.kv, note), flush=True)
        return ko, None
