/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Parsers for what the daemon reads and is handed: sizes typed by users,
 * /proc/meminfo and /proc/vmstat.  They take buffers, never files, so they
 * are unit tested and fuzzed with hostile input.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Parse a size such as "512M", "2G", "1.5G", "64 MiB", "4096K" or "0" into
 * bytes.  Units are binary (K = 1024) and case-insensitive: K, M, G, T, each
 * optionally followed by "iB" or "B".  A bare number other than 0 is
 * refused (ambiguous).  Returns 0 and *ret_bytes, or -EINVAL (garbage,
 * negative, missing unit) or -ERANGE (does not fit in 64 bits); *ret_msg
 * gets a static explanation.
 */
int parse_size(const char *s, uint64_t *ret_bytes, const char **ret_msg);

/* Values from /proc/meminfo, in KiB.  has_* says whether the line was there. */
typedef struct MemInfo {
        uint64_t total_kib, free_kib, available_kib, buffers_kib, cached_kib, swap_cached_kib;
        uint64_t hugepages_total, hugepage_size_kib;
        bool has_total, has_free, has_available;
} MemInfo;

/* Parse /proc/meminfo text.  Lines it does not know are skipped; a line it
 * knows with a malformed value gives -EINVAL.  MemTotal and MemFree must be
 * present (-ENODATA otherwise). */
int meminfo_parse(const char *buf, size_t len, MemInfo *ret);

/* Counters from /proc/vmstat that the host's guest stats need. */
typedef struct VmStat {
        uint64_t pswpin, pswpout, pgmajfault, pgfault;
        uint64_t htlb_buddy_alloc_success, htlb_buddy_alloc_fail;
        /* The virtio stat tags 10..15 (Linux 6.12), as the stock driver
         * computes them: allocstall is the sum of allocstall_<zone>. */
        uint64_t oom_kill, allocstall;
        uint64_t pgscan_kswapd, pgscan_direct, pgsteal_kswapd, pgsteal_direct;
} VmStat;

/* Parse /proc/vmstat text.  Missing counters stay 0; malformed known
 * lines give -EINVAL. */
int vmstat_parse(const char *buf, size_t len, VmStat *ret);
