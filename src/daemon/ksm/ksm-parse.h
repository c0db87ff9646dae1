/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Parsers for what the KSM policy reads: the values in /sys/kernel/mm/ksm,
 * /proc/<pid>/stat, /proc/<pid>/statm, /proc/<pid>/cmdline and
 * /proc/pressure/memory.  They take buffers (with a length; the text need
 * not be NUL-terminated and may hold NULs), never files, so they are unit
 * tested and fuzzed with hostile input.  Each returns 0 and fills *ret, or
 * -EINVAL for malformed text and -ERANGE for a number that does not fit;
 * *ret is left untouched on failure.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One unsigned decimal value, as sysfs prints it ("%lu\n"): digits, then
 * optional trailing whitespace.  A sign, an empty value or junk is -EINVAL. */
int ksm_parse_uint(const char *buf, size_t len, uint64_t *ret);

/* One signed decimal value ("%ld\n"), e.g. general_profit. */
int ksm_parse_int(const char *buf, size_t len, int64_t *ret);

typedef enum KsmAdvisorMode {
        KSM_ADVISOR_NONE,
        KSM_ADVISOR_SCAN_TIME,
        KSM_ADVISOR_OTHER,      /* a mode this version does not know */
} KsmAdvisorMode;

/* advisor_mode lists the modes and brackets the selected one:
 * "[none] scan-time\n".  Exactly one bracketed word is required, or one
 * bare word and nothing else (a test tree's regular file holds what
 * memballoond wrote into it). */
int ksm_parse_advisor_mode(const char *buf, size_t len, KsmAdvisorMode *ret);

/* The fields of /proc/<pid>/stat the policy uses (proc(5)). */
typedef struct ProcStat {
        int pid;
        char comm[64];          /* as the kernel has it (at most 15 bytes), NUL-terminated */
        char state;
        int ppid;
        uint64_t flags;         /* PF_* */
        uint64_t utime_ticks, stime_ticks;
} ProcStat;

/*
 * Parse /proc/<pid>/stat.  comm sits in parentheses and may itself hold
 * spaces, parentheses and newlines, so the fields after it are found from
 * the LAST ')'.  Fewer than 15 fields, or a non-number where one belongs,
 * gives -EINVAL.
 */
int proc_stat_parse(const char *buf, size_t len, ProcStat *ret);

/* PF_KTHREAD from include/linux/sched.h: the task is a kernel thread.  A
 * user process may name itself "ksmd" (prctl PR_SET_NAME); it cannot set
 * this flag. */
#define PROC_PF_KTHREAD 0x00200000ULL

/* The resident pages of /proc/<pid>/statm (its second field). */
int proc_statm_parse_rss(const char *buf, size_t len, uint64_t *ret_pages);

/*
 * ksmtuned's committed_memory() counts processes that
 * "pgrep -f '^qemu-system.*-enable-kvm'" matches: the command line, its
 * arguments joined by spaces, starts with "qemu-system" and contains
 * "-enable-kvm" after that.  @buf is /proc/<pid>/cmdline (NUL-separated).
 */
bool proc_cmdline_is_ksmtuned_qemu(const char *buf, size_t len);

/* /proc/pressure/memory (Documentation/accounting/psi.rst). */
typedef struct PsiMemory {
        double some_avg10, some_avg60, some_avg300;
        uint64_t some_total_usec;
        double full_avg10, full_avg60, full_avg300;
        uint64_t full_total_usec;
        bool has_full;
} PsiMemory;

/* Parse PSI text.  The "some" line is required, "full" optional; unknown
 * lines are skipped; averages must lie in 0..100. */
int psi_parse(const char *buf, size_t len, PsiMemory *ret);
