/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "macro.h"
#include "policy.h"

void policy_target(const PolicyInput *in, PolicyTarget *ret)
{
        uint64_t raw, limit, t;
        PolicyTarget r = {};

        raw = in->host_target_pages;
        if (in->auto_enabled && in->auto_target_pages > raw) {
                raw = in->auto_target_pages;
                r.by_auto = true;
        }
        r.raw_pages = raw;

        t = raw;
        if (t > in->total_pages) {
                t = in->total_pages;
                r.by_ram = true;
        }
        limit = in->total_pages > in->floor_pages ? in->total_pages - in->floor_pages : 0;
        if (t > limit) {
                t = limit;
                r.by_floor = true;
        }
        /* Debt counts from the target the guest could meet, so a release
         * below a floor-clamped target is a release. */
        if (in->oom_debt_pages > 0 && t > 0) {
                r.by_debt = true;
                t = t > in->oom_debt_pages ? t - in->oom_debt_pages : 0;
        }
        /* Never inflate into the pressure floor: stop where MemAvailable
         * would fall below it (each step takes its pages from there). */
        if (in->has_avail && t > in->actual_pages) {
                uint64_t room = in->avail_pages > in->avail_floor_pages ? in->avail_pages - in->avail_floor_pages : 0;

                if (t - in->actual_pages > room) {
                        t = in->actual_pages + room;
                        r.by_avail = true;
                }
        }
        /* A pause holds the balloon where it is, but never keeps it above
         * the target: giving memory back is always allowed. */
        if (in->paused && t > in->actual_pages)
                t = in->actual_pages;
        /* The virtio rule outranks debt and floor: what the host still asks
         * for and the guest holds stays, unless deflate-on-oom allows. */
        if (!in->may_deflate_below_host) {
                uint64_t hold = MIN(in->host_target_pages, in->actual_pages);

                if (t < hold) {
                        t = hold;
                        r.by_host_hold = true;
                }
        }

        r.target_pages = t;
        if (r.by_host_hold)
                r.reason = POLICY_REASON_HOST_HOLD;
        else if (in->paused && r.target_pages < MIN(raw, limit))
                r.reason = POLICY_REASON_PAUSED;
        else if (r.by_avail)
                r.reason = POLICY_REASON_AVAIL;
        else if (r.by_floor)
                r.reason = POLICY_REASON_FLOOR;
        else if (r.by_ram)
                r.reason = POLICY_REASON_RAM;
        else if (r.by_debt)
                r.reason = POLICY_REASON_DEBT;
        else if (r.by_auto && t > in->host_target_pages)
                r.reason = POLICY_REASON_AUTO;
        *ret = r;
}

uint64_t policy_auto_target(uint64_t actual_pages, uint64_t avail_pages, uint64_t headroom_pages)
{
        if (avail_pages >= headroom_pages)
                return actual_pages + (avail_pages - headroom_pages);
        return actual_pages > headroom_pages - avail_pages ? actual_pages - (headroom_pages - avail_pages) : 0;
}

uint64_t policy_debt_decay(uint64_t debt_pages, uint64_t decay_pages_per_min, uint64_t elapsed_usec)
{
        uint64_t dec;

        if (decay_pages_per_min == 0)
                return debt_pages;
        /* elapsed is bounded by the caller's timer interval; no overflow
         * for any decay below 2^64 / 60e6 pages per minute. */
        dec = decay_pages_per_min * elapsed_usec / 60000000ULL;
        return debt_pages > dec ? debt_pages - dec : 0;
}

void policy_next_step(Stepper *st, const StepLimits *lim, uint64_t target_pages,
                      uint64_t actual_pages, uint64_t now_usec, StepDecision *ret)
{
        uint64_t dist;

        *ret = (StepDecision) { .kind = STEP_NONE };
        if (target_pages == actual_pages) {
                st->moving = false;
                return;
        }
        dist = target_pages > actual_pages ? target_pages - actual_pages : actual_pages - target_pages;
        /* Hysteresis gates the start of a change, except that reaching
         * exactly zero (a full deflate) is always done. */
        if (!st->moving && dist < lim->hysteresis_pages && target_pages != 0)
                return;
        st->moving = true;

        if (target_pages < actual_pages) {
                /* Deflate is fast: no rate control, the largest step. */
                ret->kind = STEP_DEFLATE;
                ret->nr_pages = MIN(dist, MIN(lim->deflate_max_pages, lim->batch_max_pages));
                return;
        }

        if (st->rate_pages == 0)
                st->rate_pages = lim->inflate_max_pages;
        ret->kind = STEP_INFLATE;
        ret->nr_pages = MIN(dist, MIN(st->rate_pages, lim->batch_max_pages));
        if (ret->nr_pages == 0)
                ret->nr_pages = 1;
        if (st->retry_at_usec > now_usec)
                ret->delay_usec = st->retry_at_usec - now_usec;
}

void policy_inflate_result(Stepper *st, const StepLimits *lim, uint64_t requested,
                           uint64_t done, bool nomem, uint64_t now_usec)
{
        if (nomem) {
                uint64_t delay = lim->backoff_usec;

                st->failures++;
                /* Double the wait per consecutive failure: 200 ms, 400 ms, ...
                 * up to the cap. */
                for (uint32_t i = 1; i < st->failures && delay < lim->backoff_max_usec; i++)
                        delay *= 2;
                st->retry_at_usec = now_usec + MIN(delay, lim->backoff_max_usec);
                st->rate_pages = MAX(lim->slow_start_pages, 1);
                return;
        }
        st->failures = 0;
        st->retry_at_usec = 0;
        /* Slow start: double after each fully successful step. */
        if (done == requested && st->rate_pages < lim->inflate_max_pages)
                st->rate_pages = MIN(st->rate_pages * 2, lim->inflate_max_pages);
}

void policy_relief(ReliefState *st, const ReliefInput *in, ReliefDecision *ret)
{
        uint64_t need = 0, allowed, want_avail = in->avail_floor_pages + in->step_pages;

        if (in->has_avail && in->avail_pages < want_avail)
                need = want_avail - in->avail_pages;
        if (in->psi && need < in->step_pages)
                need = in->step_pages;
        if (!in->has_avail && need < in->step_pages)
                need = in->step_pages;

        if (in->now_usec < st->hold_until_usec) {
                /* The same episode: hold on from now, at the same length
                 * (the first of the streak if the hold was an OOM's). */
                st->streak = MAX(st->streak, 1U);
        } else if (st->streak > 0 && in->now_usec < st->hold_until_usec + st->hold_usec) {
                /* Back soon after the hold ended: hold longer. */
                st->streak = MIN(st->streak + 1, 4U);
        } else
                st->streak = 1;
        st->hold_usec = in->backoff_usec << (st->streak - 1);
        /* Extend, never shorten: a hold set before oom.backoff_s was
         * lowered, or by an OOM, runs its course. */
        st->hold_until_usec = MAX(st->hold_until_usec, in->now_usec + st->hold_usec);

        allowed = in->actual_pages;
        if (!in->may_deflate_below_host)
                allowed = in->actual_pages > in->host_target_pages ? in->actual_pages - in->host_target_pages : 0;

        *ret = (ReliefDecision) {
                .need_pages = need,
                .release_pages = MIN(need, allowed),
                .hold_until_usec = st->hold_until_usec,
                .limited_by_host = !in->may_deflate_below_host && need > allowed,
        };
}
