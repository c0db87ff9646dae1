/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The KSM policy: pure functions from a snapshot of the machine (memory,
 * KSM counters, ksmd's CPU time, PSI) plus the policy's own state to a
 * decision (run, pages_to_scan, sleep_millisecs, or the kernel advisor's
 * settings).  No I/O and no clock: the time is in the snapshot, so unit
 * tests replay synthetic and recorded sequences.  ksm.c does the reading,
 * the writing and the logging.
 *
 * Two policies (ksm.policy):
 *
 * adaptive  Run KSM when memory is tight (MemAvailable below
 *           ksm.threshold_percent of MemTotal, or PSI memory pressure), and
 *           otherwise probe now and then whether merging pays.  While it
 *           runs, measure the yield (memory newly saved per second of ksmd
 *           CPU) and ksmd's CPU share between runs: scan up to the CPU
 *           ceiling while merging pays, slow down when it does not, and
 *           stop once two full scans found nothing worth it and memory is
 *           plentiful.  Merged pages stay merged when KSM stops (run=0).
 *           The scan rate comes from our own loop, or from the kernel's
 *           scan-time advisor (Linux 6.8+) when it is there and
 *           ksm.kernel_advisor is on; run on/off is always ours.
 *
 * ksmtuned  Debian's /usr/sbin/ksmtuned (4.20150326), decision for
 *           decision: see ksm_policy_decide_ksmtuned().
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "ksm-parse.h"

typedef enum KsmMode {
        KSM_MODE_ADAPTIVE,              /* our policy, our rate loop */
        KSM_MODE_KSMTUNED,
        KSM_MODE_KERNEL_ADVISOR,        /* our policy, the kernel's rate loop */
} KsmMode;

const char *ksm_mode_to_string(KsmMode m);

/* Everything one policy run looks at.  has_* says whether the kernel (or
 * the file) provided the value. */
typedef struct KsmSnapshot {
        uint64_t now_usec;              /* CLOCK_MONOTONIC */
        uint64_t page_kib;              /* page size in KiB */

        /* /proc/meminfo, KiB */
        uint64_t mem_total_kib, mem_free_kib, mem_available_kib, buffers_kib, cached_kib;
        bool has_available;

        /* ksmtuned's committed_memory(): RSS of qemu-system...-enable-kvm
         * processes, KiB.  0 inside a guest. */
        uint64_t committed_kib;

        /* /proc/pressure/memory */
        bool has_psi;
        double psi_some_avg10;          /* percent */

        /* /sys/kernel/mm/ksm */
        bool ksm_available;
        uint64_t run, pages_to_scan, sleep_ms;
        uint64_t pages_shared, pages_sharing, pages_unshared, pages_volatile, full_scans;
        bool has_pages_scanned;         /* Linux 6.8+ */
        uint64_t pages_scanned;
        bool has_general_profit;        /* Linux 6.1+ */
        int64_t general_profit;         /* bytes; negative when metadata costs more */
        bool has_zero_pages;            /* Linux 6.10+ */
        uint64_t ksm_zero_pages;
        bool has_advisor;               /* Linux 6.8+ */
        KsmAdvisorMode advisor_mode;
        uint64_t advisor_max_cpu, advisor_min_pages, advisor_max_pages, advisor_target_scan_s;

        /* /proc/<ksmd>/stat utime + stime */
        bool has_ksmd_cpu;
        uint64_t ksmd_cpu_usec;
} KsmSnapshot;

/* What one run measured since the previous one. */
typedef struct KsmMeasure {
        bool valid;                     /* false on the first run or after a counter reset */
        uint64_t dt_usec;
        bool has_cpu;
        double cpu_percent;             /* ksmd's share of one CPU */
        int64_t gain_kib;               /* change of memory saved by merging */
        double yield_mib_per_cpu_s;     /* gain per ksmd CPU-second; < 0 when it lost */
        uint64_t full_scans;            /* full scans completed */
} KsmMeasure;

typedef struct KsmDecision {
        KsmMode mode;
        bool run;                       /* write run=1, or run=0 */
        bool set_rate;                  /* write pages_to_scan (unless advisor) and sleep_millisecs */
        uint64_t pages_to_scan, sleep_ms;
        bool advisor;                   /* advisor_mode=scan-time with the values below */
        uint64_t advisor_max_cpu, advisor_min_pages, advisor_max_pages, advisor_target_scan_s;
        const char *state;              /* "off", "probing", "merging", "slowing", "idle", "running" */
        char reason[256];
} KsmDecision;

typedef struct KsmPolicyState {
        bool has_prev;
        KsmSnapshot prev;
        KsmMeasure last;

        /* adaptive */
        bool running;
        const char *state;
        uint64_t pages_to_scan, sleep_ms;       /* last decided (own loop) */
        uint64_t start_full_scans;              /* full_scans when we (re)started */
        uint64_t gain_full_scans;               /* full_scans at the last run that paid */
        bool paid;                              /* merging paid since the start */
        unsigned idle_runs;                     /* consecutive runs in which ksmd scanned nothing */
        unsigned poor_runs;                     /* consecutive assessed runs that did not pay */
        uint64_t next_probe_usec;               /* 0: probe at the first run */
        uint64_t probe_backoff_usec;
        double cost_usec_per_page;              /* inferred from CPU share; 0 unknown */
        unsigned advisor_strikes;               /* runs in a row over the ceiling */
        unsigned advisor_slow_runs;             /* runs in a row without a full scan */
        bool advisor_failed;                    /* the kernel advisor broke the ceiling */

        /* ksmtuned: latched at its first run, as the script computes them at start */
        bool kt_init;
        uint64_t kt_total_kib, kt_thres_kib, kt_sleep_ms;
        int64_t kt_npages;
} KsmPolicyState;

/* Forget everything (a new start, a reload, or ksm.enabled switched on). */
void ksm_policy_init(KsmPolicyState *s);

/*
 * One policy run: measure since the previous snapshot, decide, and update
 * *state.  @c supplies the ksm.* settings.  Never asks for run=2 and never
 * returns a value outside the kernel's accepted ranges
 * (pages_to_scan <= UINT_MAX, sleep_millisecs <= UINT_MAX, advisor target
 * scan time >= 1).
 */
void ksm_policy_decide(const Config *c, const KsmSnapshot *snap, KsmPolicyState *state, KsmDecision *ret);

/* Only measure (while the policy is paused): keeps the CPU share in
 * state->last current for status. */
void ksm_policy_observe(KsmPolicyState *state, const KsmSnapshot *snap);

/* ksm.interval_s in seconds, 0 resolved to the policy's own: 60 for
 * ksmtuned (KSM_MONITOR_INTERVAL), KSM_ADAPTIVE_INTERVAL_S for adaptive. */
uint32_t ksm_policy_interval_s(const Config *c);
#define KSM_ADAPTIVE_INTERVAL_S 10
#define KSMTUNED_MONITOR_INTERVAL_S 60

/*
 * The memory threshold both policies use: ksmtuned's
 * thres = MemTotal * KSM_THRES_COEF / 100, at least KSM_THRES_CONST KiB.
 */
uint64_t ksm_policy_threshold_kib(uint64_t total_kib, uint32_t threshold_percent);

/* Memory saved by merging, KiB: (pages_sharing + ksm_zero_pages) pages. */
uint64_t ksm_policy_saved_kib(const KsmSnapshot *s);

/* ksmtuned's constants (/usr/sbin/ksmtuned, 4.20150326). */
#define KSMTUNED_NPAGES_BOOST   300
#define KSMTUNED_NPAGES_DECAY   (-50)
#define KSMTUNED_THRES_CONST_KIB 2048
/* "sleep=$[KSM_SLEEP_MSEC * 16 * 1024 * 1024 / total]": the configured
 * sleep is for a 16 GiB (in KiB) machine ... */
#define KSMTUNED_SLEEP_REF_KIB  (16ULL * 1024 * 1024)
/* ... and "[ $sleep -le 10 ] && sleep=10" whatever KSM_SLEEP_MSEC is. */
#define KSMTUNED_SLEEP_FLOOR_MS 10
