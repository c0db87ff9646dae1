/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The balloon policy: effective target, auto loan, debt decay, stepping. */
#include <string.h>

#include "policy.h"
#include "test.h"

/* 1 GiB guest of 4 KiB pages, 256 MiB floor. */
#define MIB(x) ((uint64_t) (x) * 256)
#define GUEST MIB(1024)

static PolicyInput base(void)
{
        return (PolicyInput) { .total_pages = GUEST, .floor_pages = MIB(256), .may_deflate_below_host = true };
}

TEST(target_follows_host)
{
        PolicyInput in = base();
        PolicyTarget t;

        in.host_target_pages = MIB(512);
        policy_target(&in, &t);
        CHECK_INTEQ(t.target_pages, MIB(512));
        CHECK(t.reason == NULL);
        CHECK(!t.by_floor && !t.by_ram && !t.by_debt);

        in.host_target_pages = 0;
        policy_target(&in, &t);
        CHECK_INTEQ(t.target_pages, 0);
}

TEST(target_floor)
{
        PolicyInput in = base();
        PolicyTarget t;

        /* Host asks for 900 MiB of a 1 GiB guest: stop at 1024 - 256. */
        in.host_target_pages = MIB(900);
        policy_target(&in, &t);
        CHECK_INTEQ(t.target_pages, MIB(768));
        CHECK(t.by_floor);
        CHECK_STREQ(t.reason, POLICY_REASON_FLOOR);

        /* Floor above RAM: nothing is loaned at all. */
        in.floor_pages = MIB(2048);
        policy_target(&in, &t);
        CHECK_INTEQ(t.target_pages, 0);
}

TEST(target_larger_than_ram)
{
        PolicyInput in = base();
        PolicyTarget t;

        in.host_target_pages = UINT64_MAX;
        policy_target(&in, &t);
        CHECK(t.by_ram);
        CHECK(t.by_floor);
        CHECK_INTEQ(t.target_pages, MIB(768));
        /* the floor is the binding limit and is named */
        CHECK_STREQ(t.reason, POLICY_REASON_FLOOR);

        in.floor_pages = 0;
        policy_target(&in, &t);
        CHECK_INTEQ(t.target_pages, GUEST);
        CHECK_STREQ(t.reason, POLICY_REASON_RAM);
}

/* A host value that is no size at all (the 32-bit config field's maximum)
 * is just a target above RAM: clamped, with a reason. */
TEST(target_absurd_host_value)
{
        PolicyInput in = base();
        PolicyTarget t;

        in.actual_pages = MIB(100);
        in.host_target_pages = UINT32_MAX;
        policy_target(&in, &t);
        CHECK(t.target_pages <= GUEST);
        CHECK(t.by_ram);
        CHECK(t.reason != NULL);
}

TEST(target_debt)
{
        PolicyInput in = base();
        PolicyTarget t;

        in.host_target_pages = MIB(512);
        in.oom_debt_pages = MIB(64);
        policy_target(&in, &t);
        CHECK_INTEQ(t.target_pages, MIB(448));
        CHECK_STREQ(t.reason, POLICY_REASON_DEBT);

        in.oom_debt_pages = MIB(600);
        policy_target(&in, &t);
        CHECK_INTEQ(t.target_pages, 0);

        /* No target, no debt reason. */
        in.host_target_pages = 0;
        policy_target(&in, &t);
        CHECK(t.reason == NULL);
}

TEST(target_pause)
{
        PolicyInput in = base();
        PolicyTarget t;

        in.host_target_pages = MIB(512);
        in.actual_pages = MIB(100);
        in.paused = true;
        policy_target(&in, &t);
        CHECK_INTEQ(t.target_pages, MIB(100));       /* holds */
        CHECK_STREQ(t.reason, POLICY_REASON_PAUSED);

        /* Deflating is never paused. */
        in.host_target_pages = MIB(50);
        policy_target(&in, &t);
        CHECK_INTEQ(t.target_pages, MIB(50));
}

TEST(auto_loan)
{
        PolicyInput in = base();
        PolicyTarget t;

        CHECK_INTEQ(policy_auto_target(MIB(100), MIB(700), MIB(512)), MIB(288));
        CHECK_INTEQ(policy_auto_target(MIB(100), MIB(462), MIB(512)), MIB(50));
        CHECK_INTEQ(policy_auto_target(MIB(100), MIB(10), MIB(512)), 0);

        in.host_target_pages = MIB(100);
        in.auto_enabled = true;
        in.auto_target_pages = MIB(300);
        policy_target(&in, &t);
        CHECK_INTEQ(t.target_pages, MIB(300));
        CHECK(t.by_auto);
        /* never below the floor, even when auto offers more */
        in.auto_target_pages = MIB(1000);
        policy_target(&in, &t);
        CHECK_INTEQ(t.target_pages, MIB(768));
        /* auto never lowers the host's target */
        in.auto_target_pages = MIB(10);
        policy_target(&in, &t);
        CHECK_INTEQ(t.target_pages, MIB(100));
}

TEST(debt_decay)
{
        CHECK_INTEQ(policy_debt_decay(MIB(64), 0, 3600ULL * 1000000), MIB(64));
        CHECK_INTEQ(policy_debt_decay(MIB(64), MIB(16), 60ULL * 1000000), MIB(48));
        CHECK_INTEQ(policy_debt_decay(MIB(64), MIB(16), 30ULL * 1000000), MIB(56));
        CHECK_INTEQ(policy_debt_decay(MIB(64), MIB(16), 3600ULL * 1000000), 0);
}

static const StepLimits lim = {
        .inflate_max_pages = MIB(64),
        .deflate_max_pages = MIB(256),
        .batch_max_pages = 65536,
        .hysteresis_pages = MIB(4),
        .slow_start_pages = MIB(1),
        .backoff_usec = 200000,
        .backoff_max_usec = 10000000,
};

TEST(step_hysteresis)
{
        Stepper st = {};
        StepDecision d;

        policy_next_step(&st, &lim, MIB(2), 0, 0, &d);
        CHECK_INTEQ(d.kind, STEP_NONE);         /* 2 MiB < 4 MiB */
        policy_next_step(&st, &lim, MIB(5), 0, 0, &d);
        CHECK_INTEQ(d.kind, STEP_INFLATE);
        CHECK_INTEQ(d.nr_pages, MIB(5));
        /* Once moving, the last small bit is done too. */
        policy_next_step(&st, &lim, MIB(5), MIB(4), 0, &d);
        CHECK_INTEQ(d.kind, STEP_INFLATE);
        CHECK_INTEQ(d.nr_pages, MIB(1));
        policy_next_step(&st, &lim, MIB(5), MIB(5), 0, &d);
        CHECK_INTEQ(d.kind, STEP_NONE);
        CHECK(!st.moving);
        /* A full deflate to zero ignores hysteresis. */
        policy_next_step(&st, &lim, 0, MIB(1), 0, &d);
        CHECK_INTEQ(d.kind, STEP_DEFLATE);
}

TEST(step_sizes_and_redirect)
{
        Stepper st = {};
        StepDecision d;

        policy_next_step(&st, &lim, MIB(512), 0, 0, &d);
        CHECK_INTEQ(d.kind, STEP_INFLATE);
        CHECK_INTEQ(d.nr_pages, MIB(64));
        /* A new lower target mid-inflate turns into a deflate at once. */
        policy_next_step(&st, &lim, MIB(0), MIB(300), 0, &d);
        CHECK_INTEQ(d.kind, STEP_DEFLATE);
        CHECK_INTEQ(d.nr_pages, MIB(256));
        /* Deflate steps bounded by the shim's batch limit too. */
        {
                StepLimits small = lim;

                small.batch_max_pages = 1000;
                policy_next_step(&st, &small, 0, MIB(300), 0, &d);
                CHECK_INTEQ(d.nr_pages, 1000);
        }
}

TEST(step_backoff_and_slow_start)
{
        Stepper st = {};
        StepDecision d;

        policy_next_step(&st, &lim, MIB(512), 0, 0, &d);
        policy_inflate_result(&st, &lim, d.nr_pages, 100, true, 1000000);
        CHECK_INTEQ(st.failures, 1);
        CHECK_INTEQ(st.rate_pages, MIB(1));
        policy_next_step(&st, &lim, MIB(512), 100, 1000000, &d);
        CHECK_INTEQ(d.kind, STEP_INFLATE);
        CHECK_INTEQ(d.delay_usec, 200000);
        CHECK_INTEQ(d.nr_pages, MIB(1));
        /* Second consecutive failure doubles the wait. */
        policy_inflate_result(&st, &lim, d.nr_pages, 0, true, 2000000);
        CHECK_INTEQ(st.retry_at_usec, 2000000 + 400000);
        /* Many failures: capped. */
        for (int i = 0; i < 20; i++)
                policy_inflate_result(&st, &lim, 1, 0, true, 3000000);
        CHECK_INTEQ(st.retry_at_usec, 3000000 + lim.backoff_max_usec);
        /* Success: no wait, rate doubles each full step back to the max. */
        policy_inflate_result(&st, &lim, MIB(1), MIB(1), false, 4000000);
        CHECK_INTEQ(st.failures, 0);
        CHECK_INTEQ(st.rate_pages, MIB(2));
        for (int i = 0; i < 10; i++)
                policy_inflate_result(&st, &lim, st.rate_pages, st.rate_pages, false, 4000000);
        CHECK_INTEQ(st.rate_pages, MIB(64));
        policy_next_step(&st, &lim, MIB(512), MIB(100), 4000000, &d);
        CHECK_INTEQ(d.delay_usec, 0);
        /* Deflate is never delayed by inflate back-off. */
        policy_inflate_result(&st, &lim, 1, 0, true, 5000000);
        policy_next_step(&st, &lim, 0, MIB(100), 5000000, &d);
        CHECK_INTEQ(d.kind, STEP_DEFLATE);
        CHECK_INTEQ(d.delay_usec, 0);
}

TEST(virtio_rule_holds_host_pages)
{
        PolicyInput in = base();
        PolicyTarget t;

        /* No deflate-on-oom: debt cannot take back what the host asks for. */
        in.may_deflate_below_host = false;
        in.host_target_pages = MIB(512);
        in.actual_pages = MIB(512);
        in.oom_debt_pages = MIB(128);
        policy_target(&in, &t);
        CHECK_INTEQ(t.target_pages, MIB(512));
        CHECK(t.by_host_hold);
        CHECK_STREQ(t.reason, POLICY_REASON_HOST_HOLD);
        CHECK(strstr(t.reason, "deflate-on-oom=on") != NULL);

        /* ...but auto-loaned pages above the host's target can go. */
        in.auto_enabled = true;
        in.auto_target_pages = MIB(700);
        in.actual_pages = MIB(700);
        in.oom_debt_pages = MIB(100);
        policy_target(&in, &t);
        CHECK_INTEQ(t.target_pages, MIB(600));
        CHECK(!t.by_host_hold);

        /* A raised floor does not force pages back either. */
        in.auto_enabled = false;
        in.oom_debt_pages = 0;
        in.actual_pages = MIB(512);
        in.floor_pages = MIB(900);
        policy_target(&in, &t);
        CHECK_INTEQ(t.target_pages, MIB(512));
        CHECK(t.by_host_hold);

        /* With deflate-on-oom the floor wins. */
        in.may_deflate_below_host = true;
        policy_target(&in, &t);
        CHECK_INTEQ(t.target_pages, MIB(124));
}

static ReliefInput relief_in(uint64_t now, uint64_t avail, uint64_t actual, uint64_t host, bool doom)
{
        return (ReliefInput) {
                .now_usec = now,
                .has_avail = true,
                .avail_pages = avail,
                .avail_floor_pages = MIB(128),
                .step_pages = MIB(64),
                .backoff_usec = 30000000,
                .actual_pages = actual,
                .host_target_pages = host,
                .may_deflate_below_host = doom,
        };
}

TEST(relief)
{
        ReliefState st = {};
        ReliefDecision d;
        ReliefInput in;
        const uint64_t backoff = 30000000;      /* 30 s */

        /* MemAvailable 100 MiB under a 128 MiB floor: give back what brings
         * it to the floor plus one step (192 MiB), no more. */
        in = relief_in(1000000, MIB(100), MIB(512), 0, true);
        policy_relief(&st, &in, &d);
        CHECK_INTEQ(d.need_pages, MIB(92));
        CHECK_INTEQ(d.release_pages, MIB(92));
        CHECK_INTEQ(d.hold_until_usec, 1000000 + backoff);
        CHECK(!d.limited_by_host);
        /* More events of the same episode (within the hold): same need
         * rule, the hold moves with them but does not double. */
        in = relief_in(2000000, MIB(120), MIB(420), 0, true);
        policy_relief(&st, &in, &d);
        CHECK_INTEQ(d.release_pages, MIB(72));
        CHECK_INTEQ(d.hold_until_usec, 2000000 + backoff);
        CHECK_INTEQ(st.streak, 1);
        /* A PSI stall with MemAvailable fine: one step. */
        in = relief_in(3000000, MIB(900), MIB(348), 0, true);
        in.psi = true;
        policy_relief(&st, &in, &d);
        CHECK_INTEQ(d.release_pages, MIB(64));
        /* Never more than the balloon holds. */
        in = relief_in(4000000, MIB(10), MIB(10), 0, true);
        policy_relief(&st, &in, &d);
        CHECK_INTEQ(d.release_pages, MIB(10));
        /* Pressure back soon after the hold ended: the hold doubles ... */
        in = relief_in(4000000 + backoff + 1000000, MIB(100), MIB(512), 0, true);
        policy_relief(&st, &in, &d);
        CHECK_INTEQ(st.streak, 2);
        CHECK_INTEQ(d.hold_until_usec, in.now_usec + 2 * backoff);
        /* ... up to 8x ... */
        for (int i = 0; i < 6; i++) {
                in.now_usec = st.hold_until_usec + 1;
                policy_relief(&st, &in, &d);
        }
        CHECK_INTEQ(d.hold_until_usec, in.now_usec + 8 * backoff);
        /* ... and after a long quiet time the streak restarts. */
        in.now_usec = st.hold_until_usec + 9 * backoff;
        policy_relief(&st, &in, &d);
        CHECK_INTEQ(st.streak, 1);
        CHECK_INTEQ(d.hold_until_usec, in.now_usec + backoff);

        /* virtio without deflate-on-oom: only what is above the host's target. */
        st = (ReliefState) {};
        in = relief_in(1000000, MIB(60), MIB(512), MIB(480), false);
        policy_relief(&st, &in, &d);
        CHECK_INTEQ(d.release_pages, MIB(32));
        CHECK(d.limited_by_host);
        in = relief_in(99000000, MIB(60), MIB(480), MIB(480), false);
        policy_relief(&st, &in, &d);
        CHECK_INTEQ(d.release_pages, 0);
        CHECK(d.limited_by_host);
        /* the back-off still holds inflation */
        CHECK_INTEQ(d.hold_until_usec, 99000000 + backoff);
}

/* Inflation stops where MemAvailable would reach its floor, with a reason. */
TEST(target_avail_clamp)
{
        PolicyInput in = {
                .host_target_pages = MIB(800),
                .total_pages = GUEST,
                .actual_pages = MIB(500),
                .floor_pages = MIB(128),
                .may_deflate_below_host = true,
                .has_avail = true,
                .avail_pages = MIB(300),
                .avail_floor_pages = MIB(192),
        };
        PolicyTarget t;

        policy_target(&in, &t);
        CHECK_INTEQ(t.target_pages, MIB(608));
        CHECK(t.by_avail);
        CHECK_STREQ(t.reason, POLICY_REASON_AVAIL);
        /* Deflating is never held back by it. */
        in.host_target_pages = MIB(400);
        policy_target(&in, &t);
        CHECK_INTEQ(t.target_pages, MIB(400));
        CHECK(!t.by_avail);
        /* Already below the floor: no growth at all. */
        in.host_target_pages = MIB(800);
        in.avail_pages = MIB(150);
        policy_target(&in, &t);
        CHECK_INTEQ(t.target_pages, MIB(500));
        CHECK(t.by_avail);
}

int main(void)
{
        RUN(target_follows_host);
        RUN(target_floor);
        RUN(target_larger_than_ram);
        RUN(target_absurd_host_value);
        RUN(target_debt);
        RUN(target_pause);
        RUN(auto_loan);
        RUN(debt_decay);
        RUN(step_hysteresis);
        RUN(step_sizes_and_redirect);
        RUN(step_backoff_and_slow_start);
        RUN(virtio_rule_holds_host_pages);
        RUN(relief);
        RUN(target_avail_clamp);
        return test_summary();
}
