/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ksm-policy.h"
#include "macro.h"

/* sysfs stores of pages_to_scan and sleep_millisecs refuse > UINT_MAX
 * (mm/ksm.c: "if (err || nr_pages > UINT_MAX) return -EINVAL"). */
#define KERNEL_UINT_MAX 4294967295ULL

/*
 * Our choices, each explained where it is used:
 */
/* Aim for this share of the CPU ceiling: ksmd's CPU time is counted in
 * 10 ms ticks and the cost per page varies between passes (merging costs
 * about twice as much as checksumming, measured on a 2-vCPU VM), so aiming
 * at the ceiling itself would cross it every other run. */
#define CPU_GOAL_FRACTION       0.8
/* With memory tight but nothing to merge, keep scanning for new
 * duplicates at a tenth of the ceiling. */
#define CPU_IDLE_FRACTION       0.1
/* A start or a probe runs at half the ceiling until the first measurement
 * tells the real cost. */
#define CPU_START_FRACTION      0.5
/* Cost of scanning one page before we have measured it: the worst seen
 * while merging on a 2-vCPU KVM guest (1.5 us checksumming, 4 us merging). */
#define COST_GUESS_USEC_PER_PAGE 4.0
/* Merging a page (compare, write-protect, replace the PTE) costs up to
 * four times a checksum-only visit: 0.7 against 2.6-4 us per page,
 * measured on a 2-vCPU guest (Linux 6.18). */
#define MERGE_COST_FACTOR       4.0
/* Never more than quadruple ksmd's scan rate from one run to the next:
 * the cost estimate comes from one interval and may be off. */
#define RAMP_MAX                4.0
/* KSM merges a page once it has seen it unchanged in two passes (the
 * checksum of pass N must match pass N-1, mm/ksm.c cmp_and_merge_page()),
 * and a newly registered area joins the scan list behind the cursor
 * (ksm_enter()): the pass running at start may end before reaching it.
 * So a fresh start knows whether anything merges after three full scans,
 * and a set that merged is done after two scans without gain. */
#define ASSESS_FULL_SCANS       3
#define DRY_FULL_SCANS          2
/* Gains below 1 MiB per run are COW-break noise, not merging. */
#define MIN_GAIN_KIB            1024
/* This many runs in a row in which ksmd scanned nothing: nobody has
 * registered mergeable memory (ksmd sleeps while its list is empty). */
#define IDLE_RUNS_STOP          2
/* This many assessed runs in a row that did not pay stop a large set
 * whose full scans take longer than the interval. */
#define POOR_RUNS_STOP          5
/* While stopped with memory plentiful, probe again after 5 intervals,
 * doubling up to 64 intervals (about an hour at the default 60 s). */
#define PROBE_BACKOFF_MIN_RUNS  5
#define PROBE_BACKOFF_MAX_RUNS  64
/* Slowing down raises sleep_millisecs past this only to stop soon after:
 * one batch every 5 s costs nothing measurable. */
#define SLEEP_MAX_MS            5000
/* PSI: tasks stalled on memory 10% of the last 10 s means memory is tight
 * whatever MemAvailable says (systemd-oomd acts only at 60% full). */
#define PSI_TIGHT_SOME_AVG10    10.0
/* Memory counts as plentiful again only 25% above the threshold, so a
 * guest hovering at the threshold does not switch KSM on and off. */
#define PLENTY_MARGIN_DIV       4
/* mm/ksm.c KSM_ADVISOR_MIN_CPU: the scan-time advisor never gives ksmd
 * less than 10% of a CPU, so it cannot honour a lower ceiling. */
#define ADVISOR_MIN_CPU         10
/* The advisor adjusts only at the end of a full scan, from a CPU share it
 * computes in whole seconds and percent, and never goes below 10%: with a
 * 10% ceiling it ran ksmd at 11-20% while merging (Linux 6.18, 2 vCPUs).
 * A tenth over the ceiling (well above the resolution of 10 ms ticks over
 * an interval) twice in a row, or twice the ceiling once, means it does
 * not hold it, and our loop takes over. */
#define ADVISOR_OVER_FACTOR     1.1
#define ADVISOR_FAIL_FACTOR     2.0
#define ADVISOR_STRIKES         2
/* It paces pages_to_scan so that a full scan takes its target time, and
 * from a first pass of a large set at advisor_min_pages_to_scan it has
 * been seen to settle at 10 pages per batch (Linux 6.18): six runs in a
 * row probing or merging without one full scan, and our loop takes over. */
#define ADVISOR_SLOW_RUNS       6

const char *ksm_mode_to_string(KsmMode m)
{
        switch (m) {
        case KSM_MODE_ADAPTIVE:
                return "adaptive";
        case KSM_MODE_KSMTUNED:
                return "ksmtuned";
        case KSM_MODE_KERNEL_ADVISOR:
                return "kernel-advisor";
        }
        return "unknown";
}

void ksm_policy_init(KsmPolicyState *s)
{
        *s = (KsmPolicyState) { .state = "off" };
}

uint64_t ksm_policy_threshold_kib(uint64_t total_kib, uint32_t threshold_percent)
{
        uint64_t t = total_kib / 100 * threshold_percent + total_kib % 100 * threshold_percent / 100;

        return MAX(t, (uint64_t) KSMTUNED_THRES_CONST_KIB);
}

uint64_t ksm_policy_saved_kib(const KsmSnapshot *s)
{
        return (s->pages_sharing + (s->has_zero_pages ? s->ksm_zero_pages : 0)) * s->page_kib;
}

static uint64_t clamp_u64(uint64_t v, uint64_t lo, uint64_t hi)
{
        return v < lo ? lo : v > hi ? hi : v;
}

/* ---- measurement ------------------------------------------------------ */

static void measure(const KsmPolicyState *st, const KsmSnapshot *s, KsmMeasure *ret)
{
        const KsmSnapshot *p = &st->prev;
        double cpu_s;

        *ret = (KsmMeasure) {};
        /* full_scans only grows; a drop means the counters were reset
         * (unmerge, or the tree moved), and the interval says nothing. */
        if (!st->has_prev || !p->ksm_available || !s->ksm_available || s->now_usec <= p->now_usec ||
            s->full_scans < p->full_scans)
                return;
        ret->valid = true;
        ret->dt_usec = s->now_usec - p->now_usec;
        ret->full_scans = s->full_scans - p->full_scans;
        ret->gain_kib = (int64_t) ksm_policy_saved_kib(s) - (int64_t) ksm_policy_saved_kib(p);
        if (s->has_ksmd_cpu && p->has_ksmd_cpu && s->ksmd_cpu_usec >= p->ksmd_cpu_usec) {
                ret->has_cpu = true;
                cpu_s = (double) (s->ksmd_cpu_usec - p->ksmd_cpu_usec) / 1e6;
                ret->cpu_percent = cpu_s * 1e8 / (double) ret->dt_usec;
                if (cpu_s > 0)
                        ret->yield_mib_per_cpu_s = (double) ret->gain_kib / 1024.0 / cpu_s;
                else
                        ret->yield_mib_per_cpu_s = ret->gain_kib > 0 ? INFINITY : 0;
        }
}

/* ---- ksmtuned --------------------------------------------------------- */

/*
 * Debian's /usr/sbin/ksmtuned, reimplemented from its arithmetic:
 *
 *   At start:  total = MemTotal
 *              sleep = KSM_SLEEP_MSEC * 16 GiB / total (integer), at least 10
 *              thres = total * KSM_THRES_COEF / 100, at least KSM_THRES_CONST
 *              npages = 0
 *   Each KSM_MONITOR_INTERVAL:
 *              free = MemFree + Buffers + Cached
 *              committed = RSS of qemu-system...-enable-kvm processes
 *              if committed + thres < total and free > thres: run = 0 (only)
 *              else npages += free < thres ? BOOST : DECAY, clamped to
 *                   [KSM_NPAGES_MIN, KSM_NPAGES_MAX]; write pages_to_scan =
 *                   npages, sleep_millisecs = sleep, run = 1
 *
 * Our keys stand for its variables: ksm.threshold_percent KSM_THRES_COEF,
 * ksm.pages_to_scan_min/max KSM_NPAGES_MIN/MAX, ksm.sleep_ms_min
 * KSM_SLEEP_MSEC, ksm.interval_s KSM_MONITOR_INTERVAL.
 */
static void decide_ksmtuned(const Config *c, const KsmSnapshot *s, KsmPolicyState *st, KsmDecision *d)
{
        uint64_t free_kib = s->mem_free_kib + s->buffers_kib + s->cached_kib;
        int64_t npages;

        if (!st->kt_init) {
                st->kt_total_kib = s->mem_total_kib;
                st->kt_sleep_ms = st->kt_total_kib ?
                        (uint64_t) c->ksm.sleep_ms_min * KSMTUNED_SLEEP_REF_KIB / st->kt_total_kib : 0;
                if (st->kt_sleep_ms <= KSMTUNED_SLEEP_FLOOR_MS)
                        st->kt_sleep_ms = KSMTUNED_SLEEP_FLOOR_MS;
                st->kt_sleep_ms = MIN(st->kt_sleep_ms, KERNEL_UINT_MAX);
                st->kt_thres_kib = ksm_policy_threshold_kib(st->kt_total_kib, c->ksm.threshold_percent);
                st->kt_npages = 0;
                st->kt_init = true;
        }
        d->mode = KSM_MODE_KSMTUNED;

        if (s->committed_kib + st->kt_thres_kib < st->kt_total_kib && free_kib > st->kt_thres_kib) {
                d->run = false;
                d->set_rate = false;
                d->state = "off";
                snprintf(d->reason, sizeof(d->reason),
                         "ksmtuned: committed %" PRIu64 " + thres %" PRIu64 " < total %" PRIu64
                         " KiB and free %" PRIu64 " > thres: stop",
                         s->committed_kib, st->kt_thres_kib, st->kt_total_kib, free_kib);
                return;
        }
        npages = st->kt_npages + (free_kib < st->kt_thres_kib ? KSMTUNED_NPAGES_BOOST : KSMTUNED_NPAGES_DECAY);
        if (npages < (int64_t) c->ksm.pages_to_scan_min)
                npages = c->ksm.pages_to_scan_min;
        else if (npages > (int64_t) c->ksm.pages_to_scan_max)
                npages = c->ksm.pages_to_scan_max;
        st->kt_npages = npages;

        d->run = true;
        d->set_rate = true;
        d->pages_to_scan = (uint64_t) npages;
        d->sleep_ms = st->kt_sleep_ms;
        d->state = "running";
        snprintf(d->reason, sizeof(d->reason),
                 "ksmtuned: committed %" PRIu64 " + thres %" PRIu64 " >= total %" PRIu64
                 " KiB or free %" PRIu64 " <= thres: %s to %" PRId64 " pages every %" PRIu64 " ms",
                 s->committed_kib, st->kt_thres_kib, st->kt_total_kib, free_kib,
                 free_kib < st->kt_thres_kib ? "boost" : "decay", npages, st->kt_sleep_ms);
}

/* ---- adaptive --------------------------------------------------------- */

/* Pick pages_to_scan and sleep_millisecs so that ksmd's CPU share is about
 * @goal (0..1), with a cost of @cost usec per page (0: unknown). */
static void rate_for_goal(const Config *c, double goal, double cost, uint64_t *pages, uint64_t *sleep_ms)
{
        uint64_t lo = c->ksm.pages_to_scan_min, hi = c->ksm.pages_to_scan_max, s_min = c->ksm.sleep_ms_min;
        double want;

        if (cost <= 0)
                cost = COST_GUESS_USEC_PER_PAGE;
        goal = MIN(MAX(goal, 0.0001), 0.99);
        /* One batch costs pages * cost and is followed by a sleep, so the
         * CPU share is pages*cost / (pages*cost + sleep). */
        want = goal * (double) s_min * 1000.0 / ((1.0 - goal) * cost);
        if (want >= (double) lo) {
                *pages = want >= (double) hi ? hi : (uint64_t) want;
                *sleep_ms = s_min;
        } else {
                double s = (double) lo * cost * (1.0 - goal) / goal / 1000.0;

                *pages = lo;
                *sleep_ms = s >= MAX(SLEEP_MAX_MS, s_min) ? MAX(SLEEP_MAX_MS, s_min) : MAX((uint64_t) s, s_min);
        }
        *pages = MIN(*pages, KERNEL_UINT_MAX);
        *sleep_ms = MIN(*sleep_ms, KERNEL_UINT_MAX);
}

/* Speed up by at most RAMP_MAX in pages per millisecond of sleep from one
 * run to the next (slowing down is never limited). */
static void limit_ramp(const Config *c, uint64_t prev_pages, uint64_t prev_sleep, uint64_t *pages, uint64_t *sleep_ms)
{
        double prev_rate, rate;

        if (prev_pages == 0 || prev_sleep == 0 || *sleep_ms == 0)
                return;
        prev_rate = (double) prev_pages / (double) prev_sleep;
        rate = (double) *pages / (double) *sleep_ms;
        if (rate <= prev_rate * RAMP_MAX)
                return;
        /* Give up speed on the pages first, then on the sleep. */
        *pages = MAX((uint64_t) (prev_rate * RAMP_MAX * (double) *sleep_ms), (uint64_t) c->ksm.pages_to_scan_min);
        if ((double) *pages / (double) *sleep_ms > prev_rate * RAMP_MAX)
                *sleep_ms = MIN((uint64_t) ((double) *pages / (prev_rate * RAMP_MAX)) + 1, KERNEL_UINT_MAX);
}

uint32_t ksm_policy_interval_s(const Config *c)
{
        if (c->ksm.interval_s > 0)
                return c->ksm.interval_s;
        /* The adaptive policy sees a merge finish, or the ceiling crossed,
         * one interval late: 10 s keeps that short, and a run costs about
         * twenty small file reads. */
        return c->ksm.policy == KSM_POLICY_KSMTUNED ? KSMTUNED_MONITOR_INTERVAL_S : KSM_ADAPTIVE_INTERVAL_S;
}

static uint64_t interval_usec(const Config *c)
{
        return (uint64_t) ksm_policy_interval_s(c) * 1000000ULL;
}

static void start(const Config *c, const KsmSnapshot *s, KsmPolicyState *st)
{
        st->running = true;
        st->start_full_scans = st->gain_full_scans = s->full_scans;
        st->idle_runs = st->poor_runs = 0;
        st->paid = false;
        /* A cost learned from a cheap pass would start too fast: never
         * assume less than the guess here. */
        rate_for_goal(c, c->ksm.max_cpu_percent / 100.0 * CPU_START_FRACTION,
                      MAX(st->cost_usec_per_page, COST_GUESS_USEC_PER_PAGE), &st->pages_to_scan, &st->sleep_ms);
}

static void stop(const Config *c, const KsmSnapshot *s, KsmPolicyState *st)
{
        uint64_t lo = PROBE_BACKOFF_MIN_RUNS * interval_usec(c), hi = PROBE_BACKOFF_MAX_RUNS * interval_usec(c);

        st->running = false;
        st->probe_backoff_usec = st->probe_backoff_usec ? MIN(st->probe_backoff_usec * 2, hi) : lo;
        st->next_probe_usec = s->now_usec + st->probe_backoff_usec;
}

static void decide_adaptive(const Config *c, const KsmSnapshot *s, KsmPolicyState *st, KsmDecision *d)
{
        const KsmMeasure *m = &st->last;
        uint64_t avail = s->has_available ? s->mem_available_kib : s->mem_free_kib + s->buffers_kib + s->cached_kib;
        uint64_t thres = ksm_policy_threshold_kib(s->mem_total_kib, c->ksm.threshold_percent);
        bool psi_tight = s->has_psi && s->psi_some_avg10 >= PSI_TIGHT_SOME_AVG10;
        bool tight = avail < thres || psi_tight;
        bool plenty = !psi_tight && avail >= thres + thres / PLENTY_MARGIN_DIV;
        double ceiling = c->ksm.max_cpu_percent / 100.0, goal = ceiling * CPU_GOAL_FRACTION;
        bool advisor = c->ksm.kernel_advisor && s->has_advisor && c->ksm.max_cpu_percent >= ADVISOR_MIN_CPU &&
                       !st->advisor_failed;
        char mem[96];

        if (psi_tight)
                snprintf(mem, sizeof(mem), "memory pressure (PSI some avg10 %.1f%%)", s->psi_some_avg10);
        else
                snprintf(mem, sizeof(mem), "%" PRIu64 " MiB available, threshold %" PRIu64 " MiB",
                         avail / 1024, thres / 1024);

        /* Did ksmd run, under our settings, for the whole interval? */
        if (st->running && s->run == 1 && m->valid) {
                bool paying, nothing, assessing, futile;
                uint64_t dscanned = s->has_pages_scanned && st->prev.has_pages_scanned &&
                                    s->pages_scanned >= st->prev.pages_scanned ?
                                    s->pages_scanned - st->prev.pages_scanned : 0;

                paying = m->gain_kib >= MIN_GAIN_KIB &&
                         (!m->has_cpu || m->yield_mib_per_cpu_s >= (double) c->ksm.min_yield_mb_per_cpu_s);
                /* ksmd sleeps while no process has mergeable memory: no
                 * scan, no page, no CPU. */
                nothing = m->full_scans == 0 &&
                          (s->has_pages_scanned ? dscanned == 0 : (m->has_cpu && m->cpu_percent == 0));
                st->idle_runs = nothing ? st->idle_runs + 1 : 0;
                if (paying) {
                        st->paid = true;
                        st->gain_full_scans = s->full_scans;
                        st->poor_runs = 0;
                        st->probe_backoff_usec = 0;
                }
                assessing = !paying && !st->paid && s->full_scans - st->start_full_scans < ASSESS_FULL_SCANS;
                if (!paying && !assessing && !nothing)
                        st->poor_runs++;
                futile = !paying && (st->idle_runs >= IDLE_RUNS_STOP ||
                                     (!assessing && (s->full_scans - st->gain_full_scans >= DRY_FULL_SCANS ||
                                                     st->poor_runs >= POOR_RUNS_STOP)));

                /* Learn the cost per page from the CPU share our own
                 * settings gave (the advisor's pages_to_scan is not ours). */
                if (m->has_cpu && m->cpu_percent > 0 && m->cpu_percent < 100 && st->pages_to_scan > 0 &&
                    s->pages_to_scan == st->pages_to_scan && s->sleep_ms == st->sleep_ms) {
                        double u = m->cpu_percent / 100.0;

                        st->cost_usec_per_page = u * (double) st->sleep_ms * 1000.0 / ((1.0 - u) * (double) st->pages_to_scan);
                }

                if (advisor && s->advisor_mode == KSM_ADVISOR_SCAN_TIME && m->has_cpu) {
                        if (m->cpu_percent > c->ksm.max_cpu_percent * ADVISOR_FAIL_FACTOR)
                                st->advisor_strikes = ADVISOR_STRIKES;
                        else if (m->cpu_percent > c->ksm.max_cpu_percent * ADVISOR_OVER_FACTOR)
                                st->advisor_strikes++;
                        else
                                st->advisor_strikes = 0;
                        /* Too slow is as bad: it paces the scan for its
                         * target time, and may not finish one in minutes. */
                        if (m->full_scans == 0 && !paying && !nothing)
                                st->advisor_slow_runs++;
                        else
                                st->advisor_slow_runs = 0;
                        if (st->advisor_strikes >= ADVISOR_STRIKES || st->advisor_slow_runs >= ADVISOR_SLOW_RUNS) {
                                st->advisor_failed = true;
                                advisor = false;
                        }
                }

                if (futile && plenty) {
                        stop(c, s, st);
                        st->state = "off";
                        snprintf(d->reason, sizeof(d->reason),
                                 "memory plentiful (%s) and %s; stopped, next probe in %" PRIu64 " s",
                                 mem, st->idle_runs >= IDLE_RUNS_STOP ? "no process has mergeable memory" :
                                 "the last full scans found nothing worth merging",
                                 (uint64_t) (st->probe_backoff_usec / 1000000ULL));
                } else if (futile) {
                        /* Memory is short: keep looking for new duplicates,
                         * at the least cost. */
                        st->state = "idle";
                        rate_for_goal(c, m->has_cpu && m->cpu_percent > 0 ?
                                      MIN(ceiling * CPU_IDLE_FRACTION, m->cpu_percent / 100.0) :
                                      ceiling * CPU_IDLE_FRACTION,
                                      st->cost_usec_per_page, &st->pages_to_scan, &st->sleep_ms);
                        snprintf(d->reason, sizeof(d->reason),
                                 "memory tight (%s) but nothing left to merge: scanning at a tenth of the CPU ceiling", mem);
                } else {
                        double target, cost = st->cost_usec_per_page;
                        uint64_t prev_pages, prev_sleep;

                        if (paying) {
                                target = goal;
                                st->state = "merging";
                        } else if (assessing) {
                                /* The passes so far may only have
                                 * checksummed; the pass that merges costs
                                 * up to MERGE_COST_FACTOR times more per
                                 * page, and about the guess at most, so
                                 * plan with that cost. */
                                target = goal;
                                cost = cost > 0 ? MAX(cost, MIN(cost * MERGE_COST_FACTOR, COST_GUESS_USEC_PER_PAGE)) :
                                       COST_GUESS_USEC_PER_PAGE;
                                st->state = "probing";
                        } else {
                                /* Scanning without reward: halve the cost each run. */
                                target = m->has_cpu ? m->cpu_percent / 100.0 / 2 : goal / 2;
                                st->state = "slowing";
                        }
                        prev_pages = st->pages_to_scan;
                        prev_sleep = st->sleep_ms;
                        rate_for_goal(c, target, cost, &st->pages_to_scan, &st->sleep_ms);
                        limit_ramp(c, prev_pages, prev_sleep, &st->pages_to_scan, &st->sleep_ms);
                        if (paying)
                                snprintf(d->reason, sizeof(d->reason),
                                         "merging pays: %+.1f MiB at %.1f MiB per ksmd CPU-second", m->gain_kib / 1024.0,
                                         m->has_cpu ? m->yield_mib_per_cpu_s : 0.0);
                        else if (assessing)
                                snprintf(d->reason, sizeof(d->reason),
                                         "%s: %" PRIu64 " of %d full scans done",
                                         tight ? "memory tight, assessing merge yield" : "probing merge yield",
                                         s->full_scans - st->start_full_scans, ASSESS_FULL_SCANS);
                        else
                                snprintf(d->reason, sizeof(d->reason),
                                         "merging does not pay (%+.1f MiB, %.1f MiB per CPU-second, below %u): slowing down",
                                         m->gain_kib / 1024.0, m->has_cpu ? m->yield_mib_per_cpu_s : 0.0,
                                         c->ksm.min_yield_mb_per_cpu_s);
                }
                if (m->has_cpu && m->cpu_percent > c->ksm.max_cpu_percent && st->running) {
                        size_t n = strlen(d->reason);

                        snprintf(d->reason + n, sizeof(d->reason) - n, "; ksmd used %.1f%% CPU, over the %u%% ceiling: %s",
                                 m->cpu_percent, c->ksm.max_cpu_percent,
                                 advisor ? "the kernel advisor adjusts at the end of the scan" : "cut");
                }
                if (st->advisor_failed && (st->advisor_strikes >= ADVISOR_STRIKES ||
                                           st->advisor_slow_runs >= ADVISOR_SLOW_RUNS)) {
                        size_t n = strlen(d->reason);

                        snprintf(d->reason + n, sizeof(d->reason) - n,
                                 st->advisor_strikes >= ADVISOR_STRIKES ?
                                 "; the kernel advisor did not hold the CPU ceiling, using our own rate loop" :
                                 "; the kernel advisor finished no full scan in %u runs, using our own rate loop",
                                 ADVISOR_SLOW_RUNS);
                        st->advisor_strikes = st->advisor_slow_runs = 0;
                }
        } else if (st->running) {
                /* Started last run, or KSM was stopped behind our back:
                 * keep the settings, measure next time. */
                snprintf(d->reason, sizeof(d->reason), "%s", st->state && strcmp(st->state, "probing") == 0 ?
                         "probing merge yield: measuring" : "measuring");
        } else if (tight || s->now_usec >= st->next_probe_usec) {
                start(c, s, st);
                st->state = "probing";
                if (tight)
                        snprintf(d->reason, sizeof(d->reason), "memory tight (%s): starting", mem);
                else
                        snprintf(d->reason, sizeof(d->reason), "probing merge yield (%s)", mem);
        } else {
                st->state = "off";
                snprintf(d->reason, sizeof(d->reason),
                         "memory plentiful (%s) and the last scans found nothing worth merging; next probe in %" PRIu64 " s",
                         mem, (uint64_t) ((st->next_probe_usec - s->now_usec + 999999) / 1000000ULL));
        }

        /*
         * The advisor sets the rate while KSM merges, and while it probes
         * once our loop has finished the first full scan: it adjusts only
         * at the end of a scan, so it would run the first (long) one at its
         * starting rate.  It takes over at the rate we reached.  It never
         * gives ksmd less than ADVISOR_MIN_CPU, so slowing down and idling
         * are ours.
         */
        if (advisor && (!st->running || strcmp(st->state, "merging") != 0) &&
            !(st->running && strcmp(st->state, "probing") == 0 && s->full_scans > st->start_full_scans))
                advisor = false;
        d->mode = advisor ? KSM_MODE_KERNEL_ADVISOR : KSM_MODE_ADAPTIVE;
        d->run = st->running;
        d->state = st->state;
        /* Stopping leaves the rate alone: run=0 is all it takes. */
        d->set_rate = st->running;
        d->pages_to_scan = st->pages_to_scan;
        d->sleep_ms = st->sleep_ms;
        if (advisor) {
                d->advisor = true;
                d->sleep_ms = c->ksm.sleep_ms_min;
                d->advisor_max_cpu = c->ksm.max_cpu_percent;
                /* Read at the switch to scan-time only (mm/ksm.c
                 * set_advisor_defaults()): start where our loop got to. */
                d->advisor_min_pages = s->has_advisor && s->advisor_mode == KSM_ADVISOR_SCAN_TIME ?
                        s->advisor_min_pages :
                        clamp_u64(st->pages_to_scan, c->ksm.pages_to_scan_min, c->ksm.pages_to_scan_max);
                d->advisor_max_pages = c->ksm.pages_to_scan_max;
                d->advisor_target_scan_s = MAX(c->ksm.advisor_target_scan_s, 1u);
        }
        d->pages_to_scan = clamp_u64(d->pages_to_scan, 0, KERNEL_UINT_MAX);
        d->sleep_ms = clamp_u64(d->sleep_ms, 0, KERNEL_UINT_MAX);
}

void ksm_policy_decide(const Config *c, const KsmSnapshot *snap, KsmPolicyState *state, KsmDecision *ret)
{
        *ret = (KsmDecision) { .state = "off" };
        measure(state, snap, &state->last);
        if (c->ksm.policy == KSM_POLICY_KSMTUNED)
                decide_ksmtuned(c, snap, state, ret);
        else
                decide_adaptive(c, snap, state, ret);
        state->prev = *snap;
        state->has_prev = true;
}

void ksm_policy_observe(KsmPolicyState *state, const KsmSnapshot *snap)
{
        measure(state, snap, &state->last);
        state->prev = *snap;
        state->has_prev = true;
}
