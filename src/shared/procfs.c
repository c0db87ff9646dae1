/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <stdlib.h>

#include "macro.h"
#include "procfs.h"
#include "root.h"

int meminfo_read(MemInfo *ret)
{
        _cleanup_free_ char *buf = NULL;
        size_t len;
        int r;

        r = root_read_file("/proc/meminfo", PROCFS_FILE_MAX, &buf, &len);
        if (r < 0)
                return r;
        return meminfo_parse(buf, len, ret);
}
