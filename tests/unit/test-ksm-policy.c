/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The KSM policy on synthetic snapshot sequences: tight memory starts KSM,
 * no yield slows it and then stops it, the CPU ceiling holds, the kernel
 * advisor is used where it can be, and the ksmtuned mode makes the same
 * decisions as Debian's /usr/sbin/ksmtuned on the same inputs.
 *
 * Some tests run the policy against a small model of ksmd (struct Sim):
 * a batch of pages_to_scan pages costs pages * cost CPU time, then ksmd
 * sleeps sleep_millisecs; pages of the workload merge during the second
 * pass over them, at a higher cost per page than a checksum-only pass.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "ksm-policy.h"
#include "macro.h"
#include "test.h"

#define GIB_KIB (1024ULL * 1024ULL)
#define SEC 1000000ULL

/* The defaults, loaded once; tests take shallow copies (the policy reads
 * only integers) and main() frees the strings. */
static Config defaults;

static Config cfg(void)
{
        Config c = defaults;

        c.ksm.enabled = true;
        /* The model below steps 60 s (or 10 s) at a time; probe backoffs
         * count in intervals. */
        c.ksm.interval_s = 60;
        return c;
}

/* A 4 GiB machine with KSM, ksmd and PSI, nothing merged. */
static KsmSnapshot snap(uint64_t now_sec, uint64_t avail_kib)
{
        return (KsmSnapshot) {
                .now_usec = now_sec * SEC,
                .page_kib = 4,
                .mem_total_kib = 4 * GIB_KIB,
                .mem_free_kib = avail_kib,
                .mem_available_kib = avail_kib,
                .has_available = true,
                .has_psi = true,
                .ksm_available = true,
                .pages_to_scan = 100,
                .sleep_ms = 20,
                .has_pages_scanned = true,
                .has_general_profit = true,
                .has_ksmd_cpu = true,
        };
}

/* ---- a model of ksmd ----------------------------------------------------- */

typedef struct Sim {
        KsmSnapshot s;                  /* what the kernel shows */
        double scan_cost_usec;          /* per page, checksum only */
        double merge_cost_usec;         /* per page, in the pass that merges */
        uint64_t set_pages;             /* registered mergeable pages */
        uint64_t dup_pages;             /* of which identical */
        double passes;                  /* passes over the set since it appeared */
        double cpu_usec;
        double scans_frac;
} Sim;

static void sim_apply(Sim *sim, const KsmDecision *d)
{
        sim->s.run = d->run;
        if (d->set_rate) {
                if (!d->advisor)
                        sim->s.pages_to_scan = d->pages_to_scan;
                sim->s.sleep_ms = d->sleep_ms;
        }
        if (sim->s.has_advisor)
                sim->s.advisor_mode = d->advisor ? KSM_ADVISOR_SCAN_TIME : KSM_ADVISOR_NONE;
}

/* Advance the model by dt seconds; returns ksmd's CPU share in percent. */
static double sim_step(Sim *sim, uint64_t dt_sec)
{
        double dt = (double) dt_sec * 1e6, cost, batch, share, pages;

        sim->s.now_usec += dt_sec * SEC;
        if (sim->s.run != 1 || sim->set_pages == 0)
                return 0;
        cost = sim->passes >= 1 && sim->passes < 2 && sim->dup_pages ? sim->merge_cost_usec : sim->scan_cost_usec;
        batch = (double) sim->s.pages_to_scan * cost;
        share = batch / (batch + (double) sim->s.sleep_ms * 1000.0);
        pages = dt / (batch + (double) sim->s.sleep_ms * 1000.0) * (double) sim->s.pages_to_scan;
        sim->cpu_usec += share * dt;
        sim->s.ksmd_cpu_usec = (uint64_t) sim->cpu_usec;
        sim->s.pages_scanned += (uint64_t) pages;
        sim->passes += pages / (double) sim->set_pages;
        sim->scans_frac += pages / (double) sim->set_pages;
        sim->s.full_scans += (uint64_t) sim->scans_frac;
        sim->scans_frac -= floor(sim->scans_frac);
        if (sim->passes > 1) {
                double merged = MIN(sim->passes - 1, 1.0) * (double) sim->dup_pages;

                /* max_page_sharing 256: one KSM page per 256 duplicates */
                sim->s.pages_sharing = (uint64_t) (merged - merged / 256);
                sim->s.pages_shared = (uint64_t) (merged / 256);
        }
        return share * 100;
}

/* ---- adaptive ------------------------------------------------------------ */

TEST(tight_memory_starts_ksm)
{
        Config c = cfg();
        KsmPolicyState st;
        KsmDecision d;
        KsmSnapshot s = snap(100, 512 * 1024);  /* 512 MiB of 4 GiB: under 20% */

        ksm_policy_init(&st);
        st.next_probe_usec = UINT64_MAX;        /* no probe due: only tightness can start it */
        ksm_policy_decide(&c, &s, &st, &d);
        CHECK(d.run);
        CHECK(d.set_rate);
        CHECK_STREQ(d.state, "probing");
        CHECK(strstr(d.reason, "memory tight"));
        CHECK(d.pages_to_scan >= c.ksm.pages_to_scan_min && d.pages_to_scan <= c.ksm.pages_to_scan_max);
        CHECK(d.sleep_ms >= c.ksm.sleep_ms_min);
        CHECK_INTEQ(d.mode, KSM_MODE_ADAPTIVE);

        /* PSI alone counts too. */
        ksm_policy_init(&st);
        st.next_probe_usec = UINT64_MAX;
        s = snap(100, 3 * GIB_KIB);
        s.psi_some_avg10 = 25.0;
        ksm_policy_decide(&c, &s, &st, &d);
        CHECK(d.run);
        CHECK(strstr(d.reason, "PSI"));

        /* Plentiful and no probe due: stays off. */
        ksm_policy_init(&st);
        st.next_probe_usec = UINT64_MAX;
        s = snap(100, 3 * GIB_KIB);
        ksm_policy_decide(&c, &s, &st, &d);
        CHECK(!d.run);
        CHECK(!d.set_rate);
        CHECK_STREQ(d.state, "off");
}

TEST(first_run_probes)
{
        Config c = cfg();
        KsmPolicyState st;
        KsmDecision d;
        KsmSnapshot s = snap(100, 3 * GIB_KIB);

        ksm_policy_init(&st);
        ksm_policy_decide(&c, &s, &st, &d);
        CHECK(d.run);
        CHECK_STREQ(d.state, "probing");
        CHECK(strstr(d.reason, "probing merge yield"));
}

/* Nothing to merge in a big set: hold the probe rate for three passes,
 * then slow down (or stop at once when the passes were all dry). */
TEST(no_yield_slows_then_stops)
{
        Config c = cfg();
        KsmPolicyState st;
        KsmDecision d;
        Sim sim = { .s = snap(0, 3 * GIB_KIB), .scan_cost_usec = 1.0, .merge_cost_usec = 1.0,
                    .set_pages = 200000, .dup_pages = 0 };
        uint64_t first_pages = 0, prev_pages = 0;
        bool slowed = false, stopped = false;
        int runs = 0;

        ksm_policy_init(&st);
        for (; runs < 40 && !stopped; runs++) {
                ksm_policy_decide(&c, &sim.s, &st, &d);
                sim_apply(&sim, &d);
                if (runs == 0)
                        first_pages = d.pages_to_scan;
                if (strcmp(d.state, "slowing") == 0) {
                        /* each slowing run scans less (fewer pages or longer sleeps) */
                        CHECK(d.pages_to_scan * 1000 / d.sleep_ms <= prev_pages);
                        slowed = true;
                }
                if (!d.run) {
                        stopped = true;
                        CHECK(strstr(d.reason, "nothing worth merging"));
                        CHECK(st.next_probe_usec > sim.s.now_usec);
                }
                prev_pages = d.pages_to_scan * 1000 / d.sleep_ms;
                sim_step(&sim, 60);
        }
        CHECK(first_pages > 0);
        CHECK(stopped);
        (void) slowed;

        /* Stopped: no probe before the backoff, one after it. */
        ksm_policy_decide(&c, &sim.s, &st, &d);
        CHECK(!d.run);
        CHECK(strstr(d.reason, "next probe in"));
        sim.s.now_usec = st.next_probe_usec;
        ksm_policy_decide(&c, &sim.s, &st, &d);
        CHECK(d.run);
        CHECK_STREQ(d.state, "probing");
}

/* Merging paid, then stopped paying: it slows down, then stops after two
 * dry full scans, and the backoff doubles from probe to probe. */
TEST(yield_gone_slows_then_stops)
{
        Config c = cfg();
        KsmPolicyState st;
        KsmDecision d;
        Sim sim = { .s = snap(0, 3 * GIB_KIB), .scan_cost_usec = 1.0, .merge_cost_usec = 3.0,
                    .set_pages = 100000, .dup_pages = 50000 };
        bool merged = false, slowed = false, stopped = false;
        uint64_t backoff1;

        ksm_policy_init(&st);
        for (int i = 0; i < 60 && !stopped; i++) {
                ksm_policy_decide(&c, &sim.s, &st, &d);
                sim_apply(&sim, &d);
                if (strcmp(d.state, "merging") == 0)
                        merged = true;
                if (strcmp(d.state, "slowing") == 0)
                        slowed = true;
                if (!d.run)
                        stopped = true;
                sim_step(&sim, 10);
        }
        CHECK(merged);
        CHECK(stopped);
        (void) slowed;
        CHECK(sim.s.pages_sharing > 49000);

        /* Next probe finds nothing new (no scan at all: idle) and stops
         * again with twice the backoff. */
        backoff1 = st.probe_backoff_usec;
        sim.set_pages = 0;
        sim.s.now_usec = st.next_probe_usec;
        for (int i = 0; i < 10; i++) {
                ksm_policy_decide(&c, &sim.s, &st, &d);
                sim_apply(&sim, &d);
                if (!d.run && i > 0)
                        break;
                sim_step(&sim, 10);
        }
        CHECK(!d.run);
        CHECK(strstr(d.reason, "no process has mergeable memory") || strstr(d.reason, "nothing worth"));
        CHECK_INTEQ(st.probe_backoff_usec, 2 * backoff1);
}

/* With memory tight and nothing left to merge, keep scanning slowly. */
TEST(tight_and_dry_stays_idle)
{
        Config c = cfg();
        KsmPolicyState st;
        KsmDecision d;
        Sim sim = { .s = snap(0, 256 * 1024), .scan_cost_usec = 1.0, .merge_cost_usec = 1.0,
                    .set_pages = 50000, .dup_pages = 0 };
        int idle = 0;

        ksm_policy_init(&st);
        for (int i = 0; i < 30; i++) {
                ksm_policy_decide(&c, &sim.s, &st, &d);
                sim_apply(&sim, &d);
                CHECK(d.run);
                if (strcmp(d.state, "idle") == 0) {
                        idle++;
                        CHECK(strstr(d.reason, "memory tight"));
                }
                sim_step(&sim, 60);
        }
        CHECK(idle > 0);
}

/* The ceiling holds: an expensive ksmd (20 us per page, 40 when merging,
 * five and ten times the guess) never runs over max_cpu_percent for more
 * than one interval, stays under it on average, and uses a good part of
 * it while merging pays. */
TEST(cpu_ceiling_holds)
{
        for (unsigned ceiling = 5; ceiling <= 50; ceiling += 15) {
                Config c = cfg();
                KsmPolicyState st;
                KsmDecision d;
                Sim sim = { .s = snap(0, 256 * 1024), .scan_cost_usec = 20.0, .merge_cost_usec = 40.0,
                            .set_pages = 2000000, .dup_pages = 1500000 };
                int over = 0, over_in_a_row = 0, max_in_a_row = 0;
                double peak = 0, steady = 0;

                c.ksm.max_cpu_percent = ceiling;
                c.ksm.pages_to_scan_max = 100000;
                ksm_policy_init(&st);
                for (int i = 0; i < 40; i++) {
                        double share;

                        ksm_policy_decide(&c, &sim.s, &st, &d);
                        sim_apply(&sim, &d);
                        share = sim_step(&sim, 60);
                        if (getenv("KSM_TEST_VERBOSE"))
                                fprintf(stderr, "  ceiling %u run %d: %s pages %llu sleep %llu -> %.1f%% sharing %llu\n",
                                        ceiling, i, d.state, (unsigned long long) d.pages_to_scan,
                                        (unsigned long long) d.sleep_ms, share,
                                        (unsigned long long) sim.s.pages_sharing);
                        peak = MAX(peak, share);
                        if (i >= 30)
                                steady = MAX(steady, share);
                        if (share > ceiling) {
                                over++;
                                over_in_a_row++;
                                max_in_a_row = MAX(max_in_a_row, over_in_a_row);
                        } else
                                over_in_a_row = 0;
                }
                /* Over only on a guessed or a changed cost: the first run
                 * (no measurement yet) and the switch from checksumming to
                 * merging (twice the cost per page); never twice in a row,
                 * and never once the cost is known. */
                if (max_in_a_row > 1 || over > 2 || steady > ceiling)
                        fprintf(stderr, "  ceiling %u%%: peak %.1f%%, %d runs over, %d in a row, last %.1f%%\n",
                                ceiling, peak, over, max_in_a_row, steady);
                CHECK(max_in_a_row <= 1);
                CHECK(over <= 2);
                CHECK(steady <= ceiling);
                CHECK(sim.cpu_usec / (double) sim.s.now_usec * 100 <= ceiling);
                CHECK(peak >= 0.5 * ceiling);
        }
}

/* A measured share over the ceiling is cut at once, by the ratio. */
TEST(cpu_over_ceiling_is_cut)
{
        Config c = cfg();
        KsmPolicyState st;
        KsmDecision d;
        KsmSnapshot s = snap(0, 256 * 1024);

        ksm_policy_init(&st);
        ksm_policy_decide(&c, &s, &st, &d);
        CHECK(d.run);
        /* ksmd ran 30 s of CPU in 60 s with our settings, merging well. */
        s.run = 1;
        s.pages_to_scan = d.pages_to_scan;
        s.sleep_ms = d.sleep_ms;
        s.now_usec += 60 * SEC;
        s.ksmd_cpu_usec += 30 * SEC;
        s.full_scans += 1;
        s.pages_scanned += 1000000;
        s.pages_sharing += 200000;
        ksm_policy_decide(&c, &s, &st, &d);
        CHECK(d.run);
        CHECK(strstr(d.reason, "over the 10% ceiling"));
        {
                /* predicted share with the learned cost */
                double cost = st.cost_usec_per_page;
                double share = d.pages_to_scan * cost / (d.pages_to_scan * cost + d.sleep_ms * 1000.0);

                CHECK(share <= 0.10);
        }
}

/* One run of ksmd under the last decision: dt seconds at cpu_pct of a CPU. */
static void advance(KsmSnapshot *s, const KsmDecision *d, unsigned dt, unsigned cpu_pct, unsigned scans,
                    uint64_t new_sharing)
{
        s->run = d->run;
        if (s->has_advisor)
                s->advisor_mode = d->advisor ? KSM_ADVISOR_SCAN_TIME : KSM_ADVISOR_NONE;
        if (d->advisor) {
                s->advisor_min_pages = d->advisor_min_pages;
        } else if (d->set_rate)
                s->pages_to_scan = d->pages_to_scan;
        if (d->set_rate)
                s->sleep_ms = d->sleep_ms;
        s->now_usec += dt * SEC;
        s->ksmd_cpu_usec += (uint64_t) dt * SEC * cpu_pct / 100;
        s->full_scans += scans;
        s->pages_scanned += 1000;
        s->pages_sharing += new_sharing;
}

TEST(kernel_advisor_where_present)
{
        Config c = cfg();
        KsmPolicyState st;
        KsmDecision d;
        KsmSnapshot s = snap(0, 256 * 1024);
        uint64_t ours;

        s.has_advisor = true;
        ksm_policy_init(&st);
        /* The first pass is ours: the advisor would run all of it at its
         * starting rate. */
        ksm_policy_decide(&c, &s, &st, &d);
        CHECK(d.run);
        CHECK_INTEQ(d.mode, KSM_MODE_ADAPTIVE);
        CHECK(!d.advisor);
        advance(&s, &d, 60, 2, 0, 0);
        ksm_policy_decide(&c, &s, &st, &d);
        CHECK(!d.advisor);
        ours = d.pages_to_scan;
        /* A full scan done: the advisor takes over where we got to. */
        advance(&s, &d, 60, 2, 1, 0);
        ksm_policy_decide(&c, &s, &st, &d);
        CHECK_STREQ(d.state, "probing");
        CHECK_INTEQ(d.mode, KSM_MODE_KERNEL_ADVISOR);
        CHECK(d.advisor);
        CHECK_INTEQ(d.advisor_max_cpu, c.ksm.max_cpu_percent);
        CHECK(d.advisor_min_pages >= ours);
        CHECK_INTEQ(d.advisor_max_pages, c.ksm.pages_to_scan_max);
        CHECK_INTEQ(d.advisor_target_scan_s, 30);
        /* Merging: still the advisor, its starting point left alone. */
        advance(&s, &d, 60, 9, 1, 100000);
        s.advisor_min_pages = 77;
        ksm_policy_decide(&c, &s, &st, &d);
        CHECK_STREQ(d.state, "merging");
        CHECK(d.advisor);
        CHECK_INTEQ(d.advisor_min_pages, 77);

        /* Turned off in the config: our loop. */
        c.ksm.kernel_advisor = false;
        advance(&s, &d, 60, 9, 1, 100000);
        ksm_policy_decide(&c, &s, &st, &d);
        CHECK_INTEQ(d.mode, KSM_MODE_ADAPTIVE);
        CHECK(!d.advisor);

        /* A ceiling under the advisor's own 10% floor: our loop. */
        c = cfg();
        c.ksm.max_cpu_percent = 5;
        advance(&s, &d, 60, 4, 1, 100000);
        ksm_policy_decide(&c, &s, &st, &d);
        CHECK_STREQ(d.state, "merging");
        CHECK_INTEQ(d.mode, KSM_MODE_ADAPTIVE);

        /* The advisor overshoots twice: our loop takes over for good. */
        c = cfg();
        advance(&s, &d, 60, 9, 1, 100000);
        ksm_policy_decide(&c, &s, &st, &d);
        CHECK(d.advisor);
        for (int i = 0; i < 2; i++) {
                advance(&s, &d, 60, 15, 1, 100000);    /* 15% of a CPU */
                ksm_policy_decide(&c, &s, &st, &d);
        }
        CHECK(!d.advisor);
        CHECK_INTEQ(d.mode, KSM_MODE_ADAPTIVE);
        CHECK(strstr(d.reason, "did not hold the CPU ceiling"));
        CHECK(d.set_rate);
        advance(&s, &d, 60, 9, 1, 100000);
        ksm_policy_decide(&c, &s, &st, &d);
        CHECK(!d.advisor);

        /* The advisor paces the scan too slowly: six runs probing
         * without a full scan, and our loop takes over. */
        c = cfg();
        s = snap(0, 3 * GIB_KIB);
        s.has_advisor = true;
        ksm_policy_init(&st);
        ksm_policy_decide(&c, &s, &st, &d);
        advance(&s, &d, 60, 1, 1, 0);
        ksm_policy_decide(&c, &s, &st, &d);
        CHECK(d.advisor);
        for (int i = 0; i < 6; i++) {
                advance(&s, &d, 60, 1, 0, 0);
                ksm_policy_decide(&c, &s, &st, &d);
                CHECK_INTEQ(d.advisor, i < 5);
        }
        CHECK_INTEQ(d.mode, KSM_MODE_ADAPTIVE);
        CHECK(strstr(d.reason, "finished no full scan"));
        CHECK_STREQ(d.state, "probing");

        /* Slowing down is ours: the advisor keeps ksmd at 10% at least. */
        c = cfg();
        s = snap(0, 3 * GIB_KIB);
        s.has_advisor = true;
        ksm_policy_init(&st);
        ksm_policy_decide(&c, &s, &st, &d);
        advance(&s, &d, 60, 5, 1, 100000);
        ksm_policy_decide(&c, &s, &st, &d);
        CHECK_STREQ(d.state, "merging");
        CHECK(d.advisor);
        advance(&s, &d, 60, 10, 1, 0);
        ksm_policy_decide(&c, &s, &st, &d);
        CHECK_STREQ(d.state, "slowing");
        CHECK(!d.advisor);
        CHECK_INTEQ(d.mode, KSM_MODE_ADAPTIVE);
        CHECK(d.set_rate);

        /* Stopped: nothing of the advisor is touched. */
        for (int i = 0; i < 10 && d.run; i++) {
                advance(&s, &d, 60, 1, 1, 0);
                ksm_policy_decide(&c, &s, &st, &d);
        }
        CHECK(!d.run);
        CHECK(!d.advisor);
        CHECK(!d.set_rate);
}

/* Whatever comes in, the decision is one the kernel accepts, and never
 * run=2. */
TEST(decisions_stay_in_range)
{
        uint64_t x = 88172645463325252ULL;
        Config c = cfg();
        KsmPolicyState st;
        KsmDecision d;

#define RND() (x ^= x << 13, x ^= x >> 7, x ^= x << 17, x)
        for (int round = 0; round < 200; round++) {
                KsmSnapshot s = snap(0, 0);

                c = cfg();
                c.ksm.policy = RND() % 2 ? KSM_POLICY_KSMTUNED : KSM_POLICY_ADAPTIVE;
                c.ksm.max_cpu_percent = 1 + RND() % 100;
                c.ksm.pages_to_scan_min = 1 + RND() % 1000;
                c.ksm.pages_to_scan_max = c.ksm.pages_to_scan_min + RND() % 1000000;
                c.ksm.sleep_ms_min = 1 + RND() % 60000;
                c.ksm.threshold_percent = RND() % 101;
                ksm_policy_init(&st);
                for (int i = 0; i < 30; i++) {
                        s.now_usec += RND() % (3600 * SEC);
                        s.mem_total_kib = RND() % (64 * GIB_KIB);
                        s.mem_available_kib = RND() % (s.mem_total_kib + 1);
                        s.mem_free_kib = RND() % (s.mem_total_kib + 1);
                        s.has_available = RND() % 2;
                        s.run = RND() % 3;
                        s.pages_sharing = RND() % 3 ? s.pages_sharing + RND() % 100000 : RND() % 1000;
                        s.full_scans += RND() % 4;
                        s.ksmd_cpu_usec += RND() % (120 * SEC);
                        s.has_advisor = RND() % 2;
                        s.pages_to_scan = RND() % 2 ? d.pages_to_scan : RND();
                        s.sleep_ms = RND() % 2 ? d.sleep_ms : RND();
                        ksm_policy_decide(&c, &s, &st, &d);
                        CHECK(d.pages_to_scan <= 4294967295ULL);
                        CHECK(d.sleep_ms <= 4294967295ULL);
                        CHECK(d.reason[0]);
                        CHECK(d.state != NULL);
                        if (d.set_rate && !d.advisor) {
                                CHECK(d.pages_to_scan >= c.ksm.pages_to_scan_min);
                                CHECK(d.pages_to_scan <= c.ksm.pages_to_scan_max);
                        }
                        if (d.set_rate && c.ksm.policy == KSM_POLICY_ADAPTIVE)
                                CHECK(d.sleep_ms >= c.ksm.sleep_ms_min);
                        if (d.advisor)
                                CHECK(d.advisor_target_scan_s >= 1);
                }
        }
#undef RND
}

/* ---- ksmtuned -------------------------------------------------------------- */

typedef struct KtStep {
        uint64_t free_kib, buffers_kib, cached_kib, committed_kib;
        bool run;                       /* expected */
        uint64_t npages;                /* expected pages_to_scan when run */
} KtStep;

static void ksmtuned_replay(uint64_t total_kib, uint32_t coef, uint64_t expect_sleep, const KtStep *steps, size_t n)
{
        Config c = cfg();
        KsmPolicyState st;
        KsmDecision d;

        c.ksm.policy = KSM_POLICY_KSMTUNED;
        c.ksm.threshold_percent = coef;
        ksm_policy_init(&st);
        for (size_t i = 0; i < n; i++) {
                KsmSnapshot s = snap(60 * (i + 1), 0);

                s.mem_total_kib = total_kib;
                s.mem_free_kib = steps[i].free_kib;
                s.buffers_kib = steps[i].buffers_kib;
                s.cached_kib = steps[i].cached_kib;
                /* ksmtuned ignores MemAvailable: make it say the opposite */
                s.mem_available_kib = steps[i].run ? total_kib : 0;
                s.committed_kib = steps[i].committed_kib;
                ksm_policy_decide(&c, &s, &st, &d);
                if (d.run != steps[i].run || (d.run && (d.pages_to_scan != steps[i].npages || d.sleep_ms != expect_sleep)))
                        fprintf(stderr, "  step %zu: run=%d pages=%llu sleep=%llu, expected run=%d pages=%llu sleep=%llu (%s)\n",
                                i, d.run, (unsigned long long) d.pages_to_scan, (unsigned long long) d.sleep_ms,
                                steps[i].run, (unsigned long long) steps[i].npages,
                                (unsigned long long) expect_sleep, d.reason);
                CHECK_INTEQ(d.mode, KSM_MODE_KSMTUNED);
                CHECK_INTEQ(d.run, steps[i].run);
                CHECK(!d.advisor);
                /* "KSMCTL stop" writes run only */
                CHECK_INTEQ(d.set_rate, steps[i].run);
                if (d.run) {
                        CHECK_INTEQ(d.pages_to_scan, steps[i].npages);
                        CHECK_INTEQ(d.sleep_ms, expect_sleep);
                }
        }
}

/*
 * Worked by hand from /usr/sbin/ksmtuned with its defaults
 * (KSM_NPAGES_BOOST=300, KSM_NPAGES_DECAY=-50, KSM_NPAGES_MIN=64,
 * KSM_NPAGES_MAX=1250, KSM_SLEEP_MSEC=10, KSM_THRES_COEF=20,
 * KSM_THRES_CONST=2048), 4 GiB guest:
 *   total = 4194304
 *   sleep = 10 * 16 * 1024 * 1024 / 4194304 = 40
 *   thres = 4194304 * 20 / 100 = 838860 (bash integer division)
 */
TEST(ksmtuned_4g)
{
        static const KtStep steps[] = {
                /* 0+838860 < 4194304 and free 2000000 > 838860: KSMCTL stop */
                { 2000000, 0, 0, 0, false, 0 },
                /* free 800000 < thres: boost, npages 0+300 = 300 */
                { 700000, 50000, 50000, 0, true, 300 },
                /* free 700000: boost to 600 */
                { 600000, 0, 100000, 0, true, 600 },
                /* free == thres: not "-gt", so no stop; not "-lt": decay to 550 */
                { 838860, 0, 0, 0, true, 550 },
                /* boost 850, 1150, then 1450 clamped to KSM_NPAGES_MAX */
                { 100000, 0, 0, 0, true, 850 },
                { 100000, 0, 0, 0, true, 1150 },
                { 100000, 0, 0, 0, true, 1250 },
                { 100000, 0, 0, 0, true, 1250 },
                /* free 900000 > thres but committed 3500000 + 838860 >= total:
                 * no stop; free is not below thres: decay to 1200 */
                { 900000, 0, 0, 3500000, true, 1200 },
                /* committed 3355443: 3355443 + 838860 = 4194303 < total, stop */
                { 900000, 0, 0, 3355443, false, 0 },
                /* committed 3355444: sum == total is not "-lt": decay 1150 */
                { 900000, 0, 0, 3355444, true, 1150 },
                /* the stop left npages alone: boost from 1150, clamped */
                { 0, 0, 0, 0, true, 1250 },
        };

        ksmtuned_replay(4194304, 20, 40, steps, ELEMENTSOF(steps));
}

/*
 * First start on a decay: npages = 0 - 50 = -50, below KSM_NPAGES_MIN,
 * so 64.  1 GiB guest: sleep = 10 * 16777216 / 1048576 = 160,
 * thres = 1048576 * 20 / 100 = 209715.
 */
TEST(ksmtuned_1g_decay_floor)
{
        static const KtStep steps[] = {
                { 300000, 0, 0, 900000, true, 64 },    /* committed+thres >= total; free > thres: decay */
                { 300000, 0, 0, 900000, true, 64 },
                { 200000, 0, 0, 0, true, 364 },        /* free < thres: boost */
                { 209716, 0, 0, 0, false, 0 },         /* free > thres, committed 0: stop */
        };

        ksmtuned_replay(1048576, 20, 160, steps, ELEMENTSOF(steps));
}

/* 32 GiB: sleep = 10 * 16777216 / 33554432 = 5, "-le 10" makes it 10.
 * KSM_THRES_COEF=0: thres = 0, KSM_THRES_CONST 2048 wins. */
TEST(ksmtuned_big_and_const)
{
        static const KtStep big[] = {
                { 1000, 0, 0, 0, true, 300 },
                { 40 * GIB_KIB, 0, 0, 0, false, 0 },
        };
        static const KtStep zero[] = {
                { 2047, 0, 0, 0, true, 300 },          /* 2047 < 2048 */
                { 2048, 0, 0, 0, true, 250 },          /* 0 + 2048 < total but free not > 2048: decay */
                { 2049, 0, 0, 0, false, 0 },
        };

        ksmtuned_replay(32 * GIB_KIB, 20, 10, big, ELEMENTSOF(big));
        ksmtuned_replay(32 * GIB_KIB, 0, 10, zero, ELEMENTSOF(zero));
}

/* ksmtuned reads MemTotal once at start: a balloon shrinking MemTotal
 * later changes neither its threshold nor its sleep. */
TEST(ksmtuned_latches_total)
{
        Config c = cfg();
        KsmPolicyState st;
        KsmDecision d;
        KsmSnapshot s = snap(60, 0);

        c.ksm.policy = KSM_POLICY_KSMTUNED;
        ksm_policy_init(&st);
        s.mem_total_kib = 4194304;
        s.mem_free_kib = 100000;
        ksm_policy_decide(&c, &s, &st, &d);
        CHECK_INTEQ(d.sleep_ms, 40);
        s.mem_total_kib = 1048576;
        s.mem_free_kib = 500000;        /* > 1 GiB's 209715 threshold, < 4 GiB's 838860 */
        ksm_policy_decide(&c, &s, &st, &d);
        CHECK(d.run);
        CHECK_INTEQ(d.sleep_ms, 40);
        CHECK_INTEQ(d.pages_to_scan, 600);
}

TEST(threshold)
{
        CHECK_INTEQ(ksm_policy_threshold_kib(4194304, 20), 838860);
        CHECK_INTEQ(ksm_policy_threshold_kib(8000, 20), 2048);
        CHECK_INTEQ(ksm_policy_threshold_kib(UINT64_MAX / 2, 100), UINT64_MAX / 2);
        CHECK_INTEQ(ksm_policy_threshold_kib(0, 50), 2048);
}

TEST(interval_default)
{
        Config c = defaults;

        CHECK_INTEQ(ksm_policy_interval_s(&c), 10);
        c.ksm.policy = KSM_POLICY_KSMTUNED;
        CHECK_INTEQ(ksm_policy_interval_s(&c), 60);
        c.ksm.interval_s = 7;
        CHECK_INTEQ(ksm_policy_interval_s(&c), 7);
}

TEST(mode_names)
{
        CHECK_STREQ(ksm_mode_to_string(KSM_MODE_ADAPTIVE), "adaptive");
        CHECK_STREQ(ksm_mode_to_string(KSM_MODE_KSMTUNED), "ksmtuned");
        CHECK_STREQ(ksm_mode_to_string(KSM_MODE_KERNEL_ADVISOR), "kernel-advisor");
}

int main(void)
{
        int r;

        if (config_init_defaults(&defaults) < 0)
                abort();
        RUN(tight_memory_starts_ksm);
        RUN(first_run_probes);
        RUN(no_yield_slows_then_stops);
        RUN(yield_gone_slows_then_stops);
        RUN(tight_and_dry_stays_idle);
        RUN(cpu_ceiling_holds);
        RUN(cpu_over_ceiling_is_cut);
        RUN(kernel_advisor_where_present);
        RUN(decisions_stay_in_range);
        RUN(ksmtuned_4g);
        RUN(ksmtuned_1g_decay_floor);
        RUN(ksmtuned_big_and_const);
        RUN(ksmtuned_latches_total);
        RUN(threshold);
        RUN(interval_default);
        RUN(mode_names);
        r = test_summary();
        config_done(&defaults);
        return r;
}
