/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Readers for /proc files, through the root seam (root.h) and the pure
 * parsers (parse.h). */
#pragma once

#include "parse.h"

/* /proc files are a few KiB; anything larger is not what we expect. */
#define PROCFS_FILE_MAX (64 * 1024)

/* Read and parse /proc/meminfo.  Returns 0 or -errno. */
int meminfo_read(MemInfo *ret);
