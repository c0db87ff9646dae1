/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The balloon controller (see balloon.h).
 *
 * Each step is one INFLATE or DEFLATE, run from a timer at a lower
 * priority than I/O, so control requests and shim events are handled
 * between steps, and every step re-evaluates the target, so a new target
 * redirects a change at once.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "balloon.h"
#include "clock.h"
#include "log.h"
#include "macro.h"
#include "parse.h"
#include "root.h"
#include "timer.h"

/* A failed allocation doubles the wait up to this (vmw_balloon caps its
 * back-off similarly; 10 s keeps a recovering guest responsive). */
#define BACKOFF_MAX_USEC        (10ULL * 1000000ULL)
/* First inflate step after a failure: 1 MiB (the stock virtio driver's
 * whole batch), then doubling. */
#define SLOW_START_BYTES        (1ULL << 20)
/* While OOM debt is paid back, re-evaluate the target this often, so the
 * balloon grows back in small, pressure-checked steps. */
#define DEBT_TICK_USEC          (1000000ULL)
/* Inflation held back by MemAvailable resumes when memory comes free,
 * which no event announces: look again this often meanwhile. */
#define AVAIL_TICK_USEC         (10ULL * 1000000ULL)
/* When auto loan sets the target, MemAvailable's own jitter (pages parked
 * in per-CPU lists, page cache coming and going) moves it by a few MiB a
 * second; measured in a 1 GiB guest as 4-6 MiB swings.  Changes below this
 * are not started, so the balloon does not chase that noise. */
#define AUTO_HYSTERESIS_BYTES   (16ULL << 20)
/* Steps run below I/O so requests and events are never starved. */
#define STEP_PRIORITY           (SD_EVENT_PRIORITY_NORMAL + 10)
#define VMSTAT_MAX              (64 * 1024)
/* A host that polls stats keeps the refresh timer going this many of its
 * intervals after its last request; a host that stopped asking costs no
 * wakeups. */
#define STATS_IDLE_INTERVALS    3

struct Balloon {
        sd_event *event;
        const Config *config;
        BalloonNotifyFn notify;
        void *userdata;
        BalloonMemInfoFn meminfo;
        void *meminfo_userdata;

        /* The shim, while attached. */
        const ShimOps *ops;
        void *ctx;
        struct memballoon_api api;
        struct memballoon_state kstate; /* last GET_STATE */
        int failed;                     /* a shim call failed: -errno, reported once */

        Timer *step_timer;              /* next INFLATE/DEFLATE */
        Timer *poll_timer;              /* safety-net re-read, debt and auto ticks */
        Timer *stats_timer;             /* refresh while the host polls */
        Timer *failed_timer;            /* reports a failure from the loop */

        Stepper stepper;
        PolicyTarget target;            /* last effective target */
        const char *state;              /* "idle", "inflating", ... */
        const char *note;               /* extra reason while it lasts (back-off, a broken host) */
        /* balloon.source against the transport bound, for as long as that
         * lasts: set by update_note() on attach, reload and a transport
         * change, NULL when they agree. */
        const char *source_note;
        char source_note_buf[320];
        uint32_t note_transport;        /* the transport source_note was made for */
        uint64_t auto_target_pages;     /* auto loan: balloon size at the last sample */
        bool auto_valid;
        uint64_t host_target_logged;    /* last host target whose clamp we logged */
        uint64_t stats_sent;
        uint64_t stats_requested_usec;  /* last host request, 0 none */

        /* OOM debt, relief and pauses. */
        uint64_t oom_debt_pages;
        uint64_t debt_usec;             /* when the debt last decayed */
        uint64_t oom_count;
        uint64_t oom_last_realtime_usec;
        uint64_t oom_freed_seen_pages;
        ReliefState relief;
        uint64_t hotplug_pause_until_usec;
        uint64_t pressure_count;
        uint64_t pressure_last_realtime_usec;
        uint64_t pressure_freed_pages;
        uint64_t pressure_need_pages;   /* what the last event needed */
        const char *pressure_last_signal;
        bool relief_limit_logged;

        struct {
                bool active;
                StepKind kind;
                uint64_t start_usec, from_pages, to_pages;
        } change;
        struct {
                bool valid;
                StepKind kind;
                uint64_t duration_usec, pages;
        } last_change;
};

/* ---- units ------------------------------------------------------------- */

/* The guest's RAM in pages.  With deflate-on-oom the shim (like the stock
 * driver) keeps loaned pages in the managed count, so total_ram_pages
 * already includes the balloon; otherwise it excludes it.  A shim older
 * than GET_STATE v2 always excluded it and reports no flag. */
static uint64_t guest_ram_pages(const struct memballoon_state *k)
{
        if (k->state_flags & MEMBALLOON_STATE_F_BALLOON_IN_TOTALRAM)
                return k->total_ram_pages;
        return k->total_ram_pages + k->actual_pages;
}

static uint64_t page_size(const Balloon *b)
{
        return b->api.page_size ? b->api.page_size : 4096;
}

static uint64_t mib_to_pages(const Balloon *b, uint64_t mib)
{
        return mib * 1024 * 1024 / page_size(b);
}

static uint64_t pages_to_mib(const Balloon *b, uint64_t pages)
{
        return pages * page_size(b) / (1024 * 1024);
}

static uint64_t pages_to_kib(const Balloon *b, uint64_t pages)
{
        return pages * page_size(b) / 1024;
}

static const char *kind_name(StepKind k)
{
        return k == STEP_INFLATE ? "inflate" : k == STEP_DEFLATE ? "deflate" : "none";
}

/* Does GET_STATE fill the version 3 fields?  Older shims leave them zero. */
static bool state_v3(const Balloon *b)
{
        return b->api.features & MEMBALLOON_FEAT_STATE_V3;
}

/* ---- shim calls: every failure is reported once, from the loop --------- */

static void fail(Balloon *b, int r)
{
        if (b->failed)
                return;
        b->failed = r;
        timer_rearm(b->failed_timer, 0);
}

static void on_failed_timer(Timer *t, void *userdata)
{
        Balloon *b = userdata;

        if (b->failed && b->ops)
                b->notify(b->userdata, BALLOON_NOTIFY_SHIM_FAILED, b->failed);
}

static void update_note(Balloon *b);

static int refresh(Balloon *b)
{
        int r;

        if (!b->ops || b->failed)
                return -ENODEV;
        r = b->ops->get_state(b->ctx, &b->kstate);
        if (r < 0) {
                fail(b, r);
                return r;
        }
        /* The shim switches transport when a device is bound or taken
         * away: what balloon.source says about it changes with it. */
        if (b->kstate.transport != b->note_transport)
                update_note(b);
        return r;
}

static int read_meminfo(Balloon *b, MemInfo *ret)
{
        if (b->meminfo)
                return b->meminfo(b->meminfo_userdata, ret);
        return meminfo_read(ret);
}

/* ---- the target -------------------------------------------------------- */

static void limits(const Balloon *b, StepLimits *ret)
{
        const Config *c = b->config;
        uint64_t hyst = b->target.by_auto ?
                MAX(mib_to_pages(b, c->balloon.hysteresis_mb), AUTO_HYSTERESIS_BYTES / page_size(b)) :
                mib_to_pages(b, c->balloon.hysteresis_mb);

        /* The hysteresis damps the targets the daemon works out itself
         * (auto loaning, OOM debt being repaid, a floor moving with
         * MemAvailable).  The host's own target is met exactly, as the
         * stock driver meets it: whatever the host asks, the host sees. */
        if (!b->target.by_auto && b->target.target_pages == b->kstate.target_pages)
                hyst = 0;
        *ret = (StepLimits) {
                .inflate_max_pages = MAX(mib_to_pages(b, c->balloon.inflate_step_mb), 1),
                .deflate_max_pages = MAX(mib_to_pages(b, c->balloon.deflate_step_mb), 1),
                .batch_max_pages = MAX(b->api.max_batch_pages, 1),
                .hysteresis_pages = hyst,
                .slow_start_pages = MAX(SLOW_START_BYTES / page_size(b), 1),
                .backoff_usec = (uint64_t) c->balloon.backoff_ms * 1000ULL,
                .backoff_max_usec = BACKOFF_MAX_USEC,
        };
}

/*
 * May the guest take back pages the host still asks for?  Simulate mode has
 * no host to ask.  A shim with GET_STATE v3 says so for every transport
 * (STATE_F_DEFLATE_BELOW_TARGET: virtio with DEFLATE_ON_OOM, cmm, vmware).
 * An older one knew only virtio, where the host must have negotiated
 * DEFLATE_ON_OOM (virtio spec 5.5.6.1).
 */
static bool may_deflate_below_host(const Balloon *b)
{
        const struct memballoon_state *k = &b->kstate;

        if (!shim_transport_is_host(k->transport))
                return true;
        if (state_v3(b))
                return k->state_flags & MEMBALLOON_STATE_F_DEFLATE_BELOW_TARGET;
        return k->transport == MEMBALLOON_TRANSPORT_VIRTIO &&
               (k->host_features & (1ULL << MEMBALLOON_HOST_F_DEFLATE_ON_OOM));
}

uint64_t balloon_pause_until(const Balloon *b)
{
        return MAX(b->relief.hold_until_usec, b->hotplug_pause_until_usec);
}

/* Debt is paid back only once the hold after the last pressure event or
 * OOM is over; then at oom.debt_decay_mb_per_min, while the MemAvailable
 * clamp of policy_target() keeps each step out of the pressure zone. */
static void update_debt(Balloon *b, uint64_t now)
{
        uint64_t per_min = mib_to_pages(b, b->config->oom.debt_decay_mb_per_min);
        uint64_t from = MAX(b->debt_usec, b->relief.hold_until_usec);

        if (b->oom_debt_pages > 0 && now > from)
                b->oom_debt_pages = policy_debt_decay(b->oom_debt_pages, per_min, now - from);
        b->debt_usec = MAX(now, b->debt_usec);
}

/* The level inflation keeps MemAvailable at or above: the pressure floor
 * plus one relief step, the same level relief gives back to, so inflation
 * never trips relief and relief never invites inflation straight back. */
static uint64_t avail_floor_pages(const Balloon *b)
{
        const Config *c = b->config;

        if (c->oom.min_available_mb == 0)
                return 0;
        return mib_to_pages(b, c->oom.min_available_mb + c->oom.relief_step_mb);
}

static void policy_input(Balloon *b, uint64_t now, bool with_debt, PolicyInput *ret)
{
        const struct memballoon_state *k = &b->kstate;

        *ret = (PolicyInput) {
                .host_target_pages = k->target_pages,
                .total_pages = guest_ram_pages(k),
                .actual_pages = k->actual_pages,
                .floor_pages = mib_to_pages(b, b->config->balloon.min_mem_mb),
                .oom_debt_pages = with_debt ? b->oom_debt_pages : 0,
                .paused = now < balloon_pause_until(b),
                .may_deflate_below_host = may_deflate_below_host(b),
        };
        if (b->config->auto_loan.enabled && b->auto_valid) {
                ret->auto_enabled = true;
                ret->auto_target_pages = b->auto_target_pages;
        }
}

static void compute_target(Balloon *b)
{
        const struct memballoon_state *k = &b->kstate;
        uint64_t now = clock_now_usec();
        PolicyInput in;
        MemInfo mi;

        update_debt(b, now);
        policy_input(b, now, true, &in);
        policy_target(&in, &b->target);
        /* MemAvailable matters only when the balloon would grow: a deflate
         * (the host's reaction time) does not wait for /proc/meminfo. */
        if (b->target.target_pages > k->actual_pages && avail_floor_pages(b) > 0 &&
            read_meminfo(b, &mi) >= 0 && mi.has_available) {
                in.has_avail = true;
                in.avail_pages = mi.available_kib * 1024 / page_size(b);
                in.avail_floor_pages = avail_floor_pages(b);
                policy_target(&in, &b->target);
        }

        /* Log a clamp once per host target value, not once per step. */
        if ((b->target.by_ram || b->target.by_floor) && k->target_pages != b->host_target_logged) {
                char h[64], t[64];

                b->host_target_logged = k->target_pages;
                snprintf(h, sizeof(h), "MEMBALLOON_HOST_TARGET_KIB=%" PRIu64, pages_to_kib(b, k->target_pages));
                snprintf(t, sizeof(t), "MEMBALLOON_TARGET_KIB=%" PRIu64, pages_to_kib(b, b->target.target_pages));
                log_struct(LOG_WARNING, MSGID_TARGET_CLAMPED, FIELDS(h, t),
                           "Host target %" PRIu64 " MiB %s; loaning %" PRIu64 " MiB instead (guest RAM %" PRIu64
                           " MiB, floor %" PRIu64 " MiB)",
                           pages_to_mib(b, k->target_pages),
                           b->target.by_ram ? "exceeds guest RAM" : "would leave less than the floor",
                           pages_to_mib(b, b->target.target_pages), pages_to_mib(b, in.total_pages),
                           (uint64_t) b->config->balloon.min_mem_mb);
        } else if (!b->target.by_ram && !b->target.by_floor)
                b->host_target_logged = UINT64_MAX;
}

/*
 * Auto loan looks at MemAvailable every auto.interval_s (and at start and
 * reload), not at every step: a target recomputed from a value that moves
 * with every page taken is never reached, and the balloon would chase that
 * noise step after step without ever going idle.
 */
static void sample_auto(Balloon *b)
{
        MemInfo mi;
        int r;

        b->auto_valid = false;
        if (!b->config->auto_loan.enabled)
                return;
        r = read_meminfo(b, &mi);
        if (r < 0 || !mi.has_available) {
                log_warning_errno(r < 0 ? r : -ENODATA,
                                  "Auto loan: cannot read MemAvailable from /proc/meminfo: %m, not loaning");
                return;
        }
        b->auto_target_pages = policy_auto_target(b->kstate.actual_pages, mi.available_kib * 1024 / page_size(b),
                                                  mib_to_pages(b, b->config->auto_loan.headroom_mb));
        b->auto_valid = true;
}

/* ---- changes: one log line when one starts, one when it ends ----------- */

static void change_end(Balloon *b, const char *how)
{
        uint64_t now = clock_now_usec(), dur, pages;
        char f[4][64];
        double rate;

        if (!b->change.active)
                return;
        dur = now - b->change.start_usec;
        pages = b->kstate.actual_pages > b->change.from_pages ? b->kstate.actual_pages - b->change.from_pages
                                                              : b->change.from_pages - b->kstate.actual_pages;
        rate = dur ? (double) pages * (double) page_size(b) / (1024.0 * 1024.0) / ((double) dur / 1e6) : 0;
        b->last_change.valid = true;
        b->last_change.kind = b->change.kind;
        b->last_change.duration_usec = dur;
        b->last_change.pages = pages;
        b->change.active = false;

        snprintf(f[0], sizeof(f[0]), "MEMBALLOON_ACTUAL_KIB=%" PRIu64, pages_to_kib(b, b->kstate.actual_pages));
        snprintf(f[1], sizeof(f[1]), "MEMBALLOON_TARGET_KIB=%" PRIu64, pages_to_kib(b, b->target.target_pages));
        snprintf(f[2], sizeof(f[2]), "MEMBALLOON_DURATION_USEC=%" PRIu64, dur);
        snprintf(f[3], sizeof(f[3]), "MEMBALLOON_RATE_MIBPS=%.1f", rate);
        log_struct(LOG_INFO, MSGID_CHANGE_DONE, FIELDS(f[0], f[1], f[2], f[3]),
                   "Balloon %s %s: %" PRIu64 " MiB loaned after %s %" PRIu64 " MiB in %.2f s (%.0f MiB/s)",
                   kind_name(b->last_change.kind), how, pages_to_mib(b, b->kstate.actual_pages),
                   b->last_change.kind == STEP_INFLATE ? "taking" : "returning",
                   pages_to_mib(b, pages), (double) dur / 1e6, rate);
}

static void change_begin(Balloon *b, StepKind kind)
{
        char f[3][64];

        if (b->change.active && b->change.kind == kind && b->change.to_pages == b->target.target_pages)
                return;
        if (b->change.active && b->change.kind != kind)
                change_end(b, "redirected");
        if (b->change.active) {
                /* Same direction, new target: follow it.  Debug only: auto
                 * loan moves the target a little on most steps. */
                log_debug("Balloon target changed mid-%s: now %" PRIu64 " MiB", kind_name(kind),
                          pages_to_mib(b, b->target.target_pages));
                b->change.to_pages = b->target.target_pages;
                return;
        }
        b->change.active = true;
        b->change.kind = kind;
        b->change.start_usec = clock_now_usec();
        b->change.from_pages = b->kstate.actual_pages;
        b->change.to_pages = b->target.target_pages;
        snprintf(f[0], sizeof(f[0]), "MEMBALLOON_ACTUAL_KIB=%" PRIu64, pages_to_kib(b, b->kstate.actual_pages));
        snprintf(f[1], sizeof(f[1]), "MEMBALLOON_TARGET_KIB=%" PRIu64, pages_to_kib(b, b->target.target_pages));
        snprintf(f[2], sizeof(f[2]), "MEMBALLOON_HOST_TARGET_KIB=%" PRIu64, pages_to_kib(b, b->kstate.target_pages));
        log_struct(LOG_INFO, MSGID_CHANGE_STARTED, FIELDS(f[0], f[1], f[2]),
                   "Balloon %s started: %" PRIu64 " MiB -> %" PRIu64 " MiB (host asks %" PRIu64 " MiB)",
                   kind_name(kind), pages_to_mib(b, b->kstate.actual_pages),
                   pages_to_mib(b, b->target.target_pages), pages_to_mib(b, b->kstate.target_pages));
}

/* ---- stepping ---------------------------------------------------------- */

static void kick(Balloon *b)
{
        if (b->ops && !b->failed)
                timer_rearm(b->step_timer, 0);
}

static void arm_poll(Balloon *b);

static void on_step(Timer *t, void *userdata)
{
        Balloon *b = userdata;
        struct memballoon_batch batch;
        StepDecision d;
        StepLimits lim;
        uint64_t now;
        int r;

        if (refresh(b) < 0)
                return;
        compute_target(b);
        limits(b, &lim);
        now = clock_now_usec();
        policy_next_step(&b->stepper, &lim, b->target.target_pages, b->kstate.actual_pages, now, &d);

        if (d.kind == STEP_NONE) {
                b->note = NULL;
                change_end(b, "finished");
                b->state = "idle";
                /* Held by a pause: look again when it ends. */
                if (balloon_pause_until(b) > now && b->target.target_pages < b->target.raw_pages) {
                        b->state = "paused";
                        timer_rearm(b->step_timer, balloon_pause_until(b) - now);
                }
                arm_poll(b);
                b->notify(b->userdata, BALLOON_NOTIFY_STATUS, 0);
                return;
        }
        change_begin(b, d.kind);
        if (d.delay_usec > 0) {
                b->state = "inflating";
                timer_rearm(b->step_timer, d.delay_usec);
                b->notify(b->userdata, BALLOON_NOTIFY_STATUS, 0);
                return;
        }

        b->state = d.kind == STEP_INFLATE ? "inflating" : "deflating";
        batch = (struct memballoon_batch) { .argsz = sizeof(batch), .nr_pages = d.nr_pages };
        r = b->ops->batch(b->ctx, d.kind == STEP_INFLATE, &batch);
        if (r == -ENODEV || r == -EBADF || r == -EIO) {
                fail(b, r);
                return;
        }
        if (r < 0) {
                /* Not expected with valid arguments: report, retry slowly. */
                log_error_errno(r, "Balloon %s of %" PRIu64 " pages failed: %m; retrying in %llu s",
                                kind_name(d.kind), d.nr_pages, BACKOFF_MAX_USEC / 1000000ULL);
                b->note = "the last balloon step failed; see the log";
                timer_rearm(b->step_timer, BACKOFF_MAX_USEC);
                return;
        }
        b->kstate.actual_pages = batch.actual_pages;

        /* The device stopped answering: the shim refuses every step until
         * it is removed; look again slowly (the HOST event logged it). */
        if (batch.stop_reason == MEMBALLOON_STOP_HOST) {
                b->note = "the balloon device stopped answering; its pages stay loaned until it is "
                          "removed or memballoon.ko is unloaded";
                timer_rearm(b->step_timer, BACKOFF_MAX_USEC);
                b->notify(b->userdata, BALLOON_NOTIFY_STATUS, 0);
                return;
        }
        /* The shim keeps virtio 5.5.6.1 itself.  Our policy never asks below
         * the host's target without deflate-on-oom, so this is a host that
         * raised its target under us: look again after a pause rather than
         * asking again at once. */
        if (d.kind == STEP_DEFLATE && batch.stop_reason == MEMBALLOON_STOP_HOST_TARGET &&
            batch.done_pages == 0) {
                log_notice("The shim refused to deflate below the host's target (%" PRIu64 " KiB): the host did "
                           "not offer deflate-on-oom; retrying in %llu s",
                           pages_to_kib(b, b->kstate.target_pages), BACKOFF_MAX_USEC / 1000000ULL);
                timer_rearm(b->step_timer, BACKOFF_MAX_USEC);
                return;
        }

        /* DEFLATE is not refused by any transport today; should one start
         * to, look again later rather than asking again at once. */
        if (d.kind == STEP_DEFLATE && batch.stop_reason == MEMBALLOON_STOP_REFUSED && batch.done_pages == 0) {
                log_notice("The host refused to give pages back to the guest (transport %s); retrying in %llu s",
                           shim_transport_to_string(b->kstate.transport), BACKOFF_MAX_USEC / 1000000ULL);
                b->note = "the host refused to give pages back; retrying";
                timer_rearm(b->step_timer, BACKOFF_MAX_USEC);
                return;
        }

        if (d.kind == STEP_INFLATE) {
                /* Early stops: the guest had no pages to spare, a block is
                 * going offline, or the host would take no more now (cmm,
                 * vmware: its pool is full).  Each backs off, doubling up
                 * to BACKOFF_MAX_USEC, and restarts slowly; said once per
                 * episode, not once per retry. */
                bool stalled = batch.stop_reason == MEMBALLOON_STOP_NOMEM ||
                               batch.stop_reason == MEMBALLOON_STOP_OFFLINE ||
                               batch.stop_reason == MEMBALLOON_STOP_REFUSED;

                policy_inflate_result(&b->stepper, &lim, d.nr_pages, batch.done_pages, stalled, now);
                if (stalled) {
                        const char *why;

                        switch (batch.stop_reason) {
                        case MEMBALLOON_STOP_NOMEM:
                                b->note = "the guest could not spare more pages; backing off before retrying";
                                why = "allocation failed";
                                break;
                        case MEMBALLOON_STOP_OFFLINE:
                                b->note = "a memory block is going offline; inflation waits";
                                why = "memory going offline";
                                break;
                        default:
                                b->note = "the host refused pages; backing off before retrying";
                                why = "the host refused pages";
                        }
                        log_full(b->stepper.failures == 1 ? LOG_NOTICE : LOG_DEBUG, 0, NULL, NULL,
                                 "Balloon inflate got %" PRIu64 " of %" PRIu64 " pages (%s); retrying in %" PRIu64
                                 " ms at a slower rate",
                                 (uint64_t) batch.done_pages, d.nr_pages, why,
                                 (b->stepper.retry_at_usec - now) / 1000);
                } else
                        b->note = NULL;
        }
        timer_rearm(b->step_timer, 0);
}

/* ---- stats ------------------------------------------------------------- */

static int send_stats(Balloon *b)
{
        _cleanup_free_ char *vbuf = NULL;
        struct memballoon_stats st = { .argsz = sizeof(st) };
        size_t vlen;
        MemInfo mi;
        VmStat vs;
        int r;

        r = read_meminfo(b, &mi);
        if (r < 0)
                return log_warning_errno(r, "Cannot read /proc/meminfo for guest stats: %m");
        r = root_read_file("/proc/vmstat", VMSTAT_MAX, &vbuf, &vlen);
        if (r >= 0)
                r = vmstat_parse(vbuf, vlen, &vs);
        if (r < 0) {
                /* The memory figures alone are still worth sending. */
                log_debug_errno(r, "Cannot read /proc/vmstat for guest stats: %m");
                vs = (VmStat) {};
        }

#define ADD(tag_, val_) st.stats[st.nr_stats++] = (struct memballoon_stat) { .tag = (tag_), .val = (val_) }
        /* Units as the virtio spec (5.5.6.3) and the stock driver use them:
         * swap in bytes, faults as counts, memory in bytes. */
        ADD(MEMBALLOON_S_SWAP_IN, vs.pswpin * page_size(b));
        ADD(MEMBALLOON_S_SWAP_OUT, vs.pswpout * page_size(b));
        ADD(MEMBALLOON_S_MAJFLT, vs.pgmajfault);
        ADD(MEMBALLOON_S_MINFLT, vs.pgfault);
        ADD(MEMBALLOON_S_MEMFREE, mi.free_kib * 1024);
        ADD(MEMBALLOON_S_MEMTOT, mi.total_kib * 1024);
        if (mi.has_available)
                ADD(MEMBALLOON_S_AVAIL, mi.available_kib * 1024);
        /* The kernel's NR_FILE_PAGES, which the stock driver reports. */
        ADD(MEMBALLOON_S_CACHES, (mi.cached_kib + mi.buffers_kib + mi.swap_cached_kib) * 1024);
        ADD(MEMBALLOON_S_HTLB_PGALLOC, vs.htlb_buddy_alloc_success);
        ADD(MEMBALLOON_S_HTLB_PGFAIL, vs.htlb_buddy_alloc_fail);
        /* Linux 6.12's tags; an older shim refuses them. */
        if (b->api.features & MEMBALLOON_FEAT_STATS_16) {
                ADD(MEMBALLOON_S_OOM_KILLS, vs.oom_kill);
                ADD(MEMBALLOON_S_ALLOC_STALLS, vs.allocstall);
                ADD(MEMBALLOON_S_ASYNC_SCANS, vs.pgscan_kswapd);
                ADD(MEMBALLOON_S_DIRECT_SCANS, vs.pgscan_direct);
                ADD(MEMBALLOON_S_ASYNC_RECLAIMS, vs.pgsteal_kswapd);
                ADD(MEMBALLOON_S_DIRECT_RECLAIMS, vs.pgsteal_direct);
        }
#undef ADD
        r = b->ops->set_stats(b->ctx, &st);
        if (r < 0)
                return log_warning_errno(r, "MEMBALLOON_SET_STATS failed: %m");
        b->stats_sent++;
        return 0;
}

/* Each request is answered at once with figures read then.  A shim that
 * holds the host's request until that answer (FEAT_STATS_HOLD) needs
 * nothing more.  An older one answers with what was set before, so there
 * the figures are also refreshed every stats.interval_s, but only while
 * the host polls (it asked within the last few intervals): a host that
 * does not ask costs nothing. */
static void arm_stats(Balloon *b)
{
        uint64_t iv = (uint64_t) b->config->stats.interval_s * 1000000ULL, now = clock_now_usec();

        if (!b->ops || iv == 0 || b->stats_requested_usec == 0 ||
            (b->api.features & MEMBALLOON_FEAT_STATS_HOLD) ||
            now - b->stats_requested_usec > STATS_IDLE_INTERVALS * iv) {
                timer_disarm(b->stats_timer);
                return;
        }
        if (!timer_armed(b->stats_timer))
                timer_rearm(b->stats_timer, iv);
}

static void on_stats_timer(Timer *t, void *userdata)
{
        Balloon *b = userdata;

        if (b->ops && !b->failed)
                (void) send_stats(b);
        arm_stats(b);
}

/* ---- the periodic look: safety net, debt repayment, auto loan ---------- */

/*
 * Wakes only when there is something to follow: pages are loaned (the
 * safety-net re-read, every balloon.poll_interval_s), OOM debt is being
 * paid back (every second), or auto loan samples MemAvailable.  An empty
 * balloon without auto loan has no timer at all: targets arrive as shim
 * events, pressure as PSI or from the pressure poll.
 */
static void arm_poll(Balloon *b)
{
        uint64_t next = 0, now = clock_now_usec();
        const Config *c = b->config;

        if (!b->ops || b->failed) {
                timer_disarm(b->poll_timer);
                return;
        }
        if (b->kstate.actual_pages > 0 || b->kstate.target_pages > 0)
                next = (uint64_t) c->balloon.poll_interval_s * 1000000ULL;
        if (b->oom_debt_pages > 0 && c->oom.debt_decay_mb_per_min > 0) {
                uint64_t d = DEBT_TICK_USEC;

                /* Nothing is paid back during the hold: wake when it ends. */
                if (b->relief.hold_until_usec > now)
                        d = b->relief.hold_until_usec - now;
                next = next ? MIN(next, d) : d;
        }
        if (b->target.by_avail)
                next = next ? MIN(next, AVAIL_TICK_USEC) : AVAIL_TICK_USEC;
        if (c->auto_loan.enabled) {
                uint64_t a = (uint64_t) c->auto_loan.interval_s * 1000000ULL;

                next = next ? MIN(next, a) : a;
        }
        /* Only ever bring it forward: frequent calls (every event) must not
         * keep postponing a sample or a tick. */
        if (next == 0)
                timer_disarm(b->poll_timer);
        else if (!timer_armed(b->poll_timer) || timer_due_usec(b->poll_timer) > now + next)
                timer_rearm(b->poll_timer, next);
}

static void on_poll_timer(Timer *t, void *userdata)
{
        Balloon *b = userdata;

        /* Safety net: a lost TARGET event never leaves the balloon stale. */
        if (refresh(b) < 0)
                return;
        sample_auto(b);
        kick(b);
        arm_poll(b);
}

/* ---- events ------------------------------------------------------------ */

static void on_oom_event(Balloon *b, uint64_t pages)
{
        uint64_t now = clock_now_usec();
        char f[3][64];

        update_debt(b, now);
        b->oom_debt_pages += pages;
        b->oom_count++;
        b->oom_freed_seen_pages += pages;
        b->oom_last_realtime_usec = clock_realtime_usec();
        /* The kernel was out of memory: hold off as after pressure. */
        b->relief.hold_until_usec = MAX(b->relief.hold_until_usec,
                                        now + (uint64_t) b->config->oom.backoff_s * 1000000ULL);
        snprintf(f[0], sizeof(f[0]), "MEMBALLOON_OOM_FREED_KIB=%" PRIu64, pages_to_kib(b, pages));
        snprintf(f[1], sizeof(f[1]), "MEMBALLOON_OOM_DEBT_KIB=%" PRIu64, pages_to_kib(b, b->oom_debt_pages));
        snprintf(f[2], sizeof(f[2]), "MEMBALLOON_ACTUAL_KIB=%" PRIu64, pages_to_kib(b, b->kstate.actual_pages));
        log_struct(LOG_WARNING, MSGID_OOM, FIELDS(f[0], f[1], f[2]),
                   "Guest ran out of memory: the shim returned %" PRIu64 " KiB from the balloon; "
                   "OOM debt now %" PRIu64 " KiB",
                   pages_to_kib(b, pages), pages_to_kib(b, b->oom_debt_pages));
        arm_poll(b);
        kick(b);
}

/* The host was reset and forgot its pages; the shim emptied the balloon
 * (it freed them) before it queued the event.  Resynchronised from the
 * GET_STATE just read: the new target is followed as any other. */
static void on_reset_event(Balloon *b, uint64_t pages)
{
        const struct memballoon_state *k = &b->kstate;
        char f[5][64];

        /* The change under way started from pages that are gone: a new one
         * starts from what is there now, at the full rate. */
        b->change.active = false;
        b->stepper = (Stepper) {};
        snprintf(f[0], sizeof(f[0]), "MEMBALLOON_RESET_FREED_KIB=%" PRIu64, pages_to_kib(b, pages));
        snprintf(f[1], sizeof(f[1]), "MEMBALLOON_TRANSPORT=%s", shim_transport_to_string(k->transport));
        snprintf(f[2], sizeof(f[2]), "MEMBALLOON_HOST_RESETS=%" PRIu64, (uint64_t) k->host_resets);
        snprintf(f[3], sizeof(f[3]), "MEMBALLOON_ACTUAL_KIB=%" PRIu64, pages_to_kib(b, k->actual_pages));
        snprintf(f[4], sizeof(f[4]), "MEMBALLOON_HOST_TARGET_KIB=%" PRIu64, pages_to_kib(b, k->target_pages));
        log_struct(LOG_WARNING, MSGID_HOST_RESET, FIELDS(f[0], f[1], f[2], f[3], f[4]),
                   "The host (transport %s) was reset and forgot the balloon: the shim returned %" PRIu64
                   " KiB to the guest, %" PRIu64 " KiB stay loaned; following the host's target of %" PRIu64
                   " KiB again",
                   shim_transport_to_string(k->transport), pages_to_kib(b, pages),
                   pages_to_kib(b, k->actual_pages), pages_to_kib(b, k->target_pages));
}

void balloon_process_events(Balloon *b)
{
        struct memballoon_event ev[16];
        int n;

        if (!b->ops || b->failed)
                return;
        n = b->ops->read_events(b->ctx, ev, ELEMENTSOF(ev));
        if (n < 0) {
                fail(b, n);
                return;
        }
        bool target = false;

        if (refresh(b) < 0)
                return;
        for (int i = 0; i < n; i++) {
                log_debug("Shim event type=%u seq=%llu value=%llu", ev[i].type,
                          (unsigned long long) ev[i].seq, (unsigned long long) ev[i].value);
                switch (ev[i].type) {
                case MEMBALLOON_EVENT_TARGET:
                        target = true;
                        break;
                case MEMBALLOON_EVENT_OOM:
                        on_oom_event(b, ev[i].value);
                        break;
                case MEMBALLOON_EVENT_STATS:
                        b->stats_requested_usec = clock_now_usec();
                        (void) send_stats(b);
                        arm_stats(b);
                        break;
                case MEMBALLOON_EVENT_MIGRATED:
                        log_debug("Balloon pages migrated by compaction: %llu so far",
                                  (unsigned long long) ev[i].value);
                        break;
                case MEMBALLOON_EVENT_RESET:
                        on_reset_event(b, ev[i].value);
                        target = true;
                        break;
                case MEMBALLOON_EVENT_HOST:
                        log_error("The balloon device stopped answering (removed, broken, or no answer within "
                                  "%d ms); the shim keeps its %" PRIu64 " KiB loaned until the device is removed "
                                  "or the module unloaded",
                                  MEMBALLOON_HOST_TIMEOUT_MS, pages_to_kib(b, b->kstate.actual_pages));
                        b->note = "the balloon device stopped answering; its pages stay loaned until it is "
                                  "removed or memballoon.ko is unloaded";
                        break;
                default:
                        log_debug("Ignoring unknown shim event type %u", ev[i].type);
                }
        }
        arm_poll(b);
        /* A new target: take the first step now, with the state just read,
         * rather than after another trip through the loop: the host sees
         * the balloon move as soon as the stock driver would move it.  The
         * rest of the change runs from the step timer as usual. */
        if (target && !b->failed) {
                timer_disarm(b->step_timer);
                on_step(b->step_timer, b);
        }
        b->notify(b->userdata, BALLOON_NOTIFY_STATUS, 0);
}

/* ---- settings applied to the shim -------------------------------------- */

static void apply_oom_setting(Balloon *b)
{
        int r = b->ops->set_oom(b->ctx, mib_to_pages(b, b->config->oom.release_mb));

        if (r < 0)
                log_warning_errno(r, "MEMBALLOON_SET_OOM (%u MiB) failed: %m, keeping the shim's setting",
                                  b->config->oom.release_mb);
}

static void apply_sim_target(Balloon *b)
{
        uint64_t t, ram = guest_ram_pages(&b->kstate);
        int r;

        if (shim_transport_is_host(b->kstate.transport) || b->config->balloon.source != BALLOON_SOURCE_SIMULATE)
                return;
        t = mib_to_pages(b, b->config->balloon.simulate_target_mb);
        if (t > ram) {
                log_warning("balloon.simulate_target_mb = %" PRIu64 " exceeds guest RAM (%" PRIu64
                            " MiB); clamped to guest RAM",
                            b->config->balloon.simulate_target_mb, pages_to_mib(b, ram));
                t = ram;
        }
        r = b->ops->sim_set_target(b->ctx, t);
        if (r < 0)
                log_warning_errno(r, "MEMBALLOON_SIM_SET_TARGET failed: %m");
        else
                b->kstate.target_pages = t;
}

/* The transport balloon.source names; 0 for "host" (any) and "simulate". */
static uint32_t source_transport(BalloonSource source)
{
        switch (source) {
        case BALLOON_SOURCE_VIRTIO:
                return MEMBALLOON_TRANSPORT_VIRTIO;
        case BALLOON_SOURCE_CMM:
                return MEMBALLOON_TRANSPORT_CMM;
        case BALLOON_SOURCE_VMWARE:
                return MEMBALLOON_TRANSPORT_VMWARE;
        default:
                return 0;
        }
}

/* "a virtio-balloon device", as the subject of "... is bound". */
static const char *transport_subject(uint32_t transport)
{
        switch (transport) {
        case MEMBALLOON_TRANSPORT_VIRTIO:
                return "a virtio-balloon device";
        case MEMBALLOON_TRANSPORT_CMM:
                return "the pSeries cooperative memory overcommit transport (cmm)";
        case MEMBALLOON_TRANSPORT_VMWARE:
                return "the VMware balloon transport (vmware)";
        default:
                return "a hypervisor transport";
        }
}

/*
 * What balloon.source says against the transport the shim bound.  The
 * host's target is followed whenever a host transport is bound, whatever
 * the source names: the shim binds what the machine has, and a host that
 * sets a target expects it met.  Only the mismatch is told.
 */
static void update_note(Balloon *b)
{
        const struct memballoon_state *k = &b->kstate;
        BalloonSource source = b->config->balloon.source;
        uint32_t want = source_transport(source);
        char declined[160] = "", buf[96];
        const char *why;

        b->note_transport = k->transport;
        b->source_note = NULL;
        if (!b->ops)
                return;
        if (!shim_transport_is_host(k->transport)) {
                if (source == BALLOON_SOURCE_SIMULATE)
                        return;
                why = state_v3(b) ? shim_declined_to_string(k->declined_transport, k->declined_reason,
                                                            k->declined_error, buf, sizeof(buf)) : NULL;
                if (why)
                        snprintf(declined, sizeof(declined), " (%s declined: %s)",
                                 shim_transport_to_string(k->declined_transport), why);
                if (source == BALLOON_SOURCE_VIRTIO)
                        snprintf(b->source_note_buf, sizeof(b->source_note_buf),
                                 "balloon.source is \"virtio\" but no virtio-balloon device is bound; "
                                 "the shim runs in simulate mode%s", declined);
                else if (source == BALLOON_SOURCE_HOST)
                        snprintf(b->source_note_buf, sizeof(b->source_note_buf),
                                 "balloon.source is \"host\" but no hypervisor transport is bound; "
                                 "the shim runs in simulate mode%s", declined);
                else
                        snprintf(b->source_note_buf, sizeof(b->source_note_buf),
                                 "balloon.source is \"%s\" but the %s transport is not bound; "
                                 "the shim runs in simulate mode%s",
                                 balloon_source_to_string(source), shim_transport_to_string(want), declined);
        } else if (source == BALLOON_SOURCE_SIMULATE)
                snprintf(b->source_note_buf, sizeof(b->source_note_buf),
                         "%s is bound, so the host owns the target (balloon.source = \"simulate\" does not apply)",
                         transport_subject(k->transport));
        else if (want != 0 && want != k->transport)
                snprintf(b->source_note_buf, sizeof(b->source_note_buf),
                         "balloon.source is \"%s\" but %s is bound; its host sets the target",
                         balloon_source_to_string(source), transport_subject(k->transport));
        else
                return;
        b->source_note = b->source_note_buf;
}

/* ---- lifecycle --------------------------------------------------------- */

int balloon_new(sd_event *event, const Config *config, BalloonNotifyFn notify, void *userdata, Balloon **ret)
{
        Balloon *b;
        int r;

        b = calloc(1, sizeof(*b));
        if (!b)
                return -ENOMEM;
        b->event = sd_event_ref(event);
        b->config = config;
        b->notify = notify;
        b->userdata = userdata;
        b->state = "unavailable";
        b->host_target_logged = UINT64_MAX;
        /* Accuracy 1 us for steps: sd-event's default of 250 ms let every
         * step wait up to a quarter second.  The others tolerate 10 ms. */
        if ((r = timer_new(event, "balloon-step", STEP_PRIORITY, 1, on_step, b, &b->step_timer)) < 0 ||
            (r = timer_new(event, "balloon-poll", SD_EVENT_PRIORITY_NORMAL, 10000, on_poll_timer, b,
                           &b->poll_timer)) < 0 ||
            (r = timer_new(event, "balloon-stats", SD_EVENT_PRIORITY_NORMAL, 10000, on_stats_timer, b,
                           &b->stats_timer)) < 0 ||
            (r = timer_new(event, "balloon-failed", SD_EVENT_PRIORITY_IMPORTANT, 1, on_failed_timer, b,
                           &b->failed_timer)) < 0) {
                balloon_free(b);
                return r;
        }
        *ret = b;
        return 0;
}

Balloon *balloon_free(Balloon *b)
{
        if (!b)
                return NULL;
        timer_free(b->step_timer);
        timer_free(b->poll_timer);
        timer_free(b->stats_timer);
        timer_free(b->failed_timer);
        sd_event_unref(b->event);
        free(b);
        return NULL;
}

void balloon_set_meminfo_source(Balloon *b, BalloonMemInfoFn fn, void *userdata)
{
        b->meminfo = fn;
        b->meminfo_userdata = userdata;
}

int balloon_attach(Balloon *b, const ShimOps *ops, void *ctx, const struct memballoon_api *api)
{
        struct memballoon_state st;
        int r;

        r = ops->get_state(ctx, &st);
        if (r < 0)
                return r;
        b->ops = ops;
        b->ctx = ctx;
        b->api = *api;
        b->kstate = st;
        b->failed = 0;
        b->note = NULL;
        b->stepper = (Stepper) {};
        b->state = "idle";
        b->change.active = false;
        b->debt_usec = clock_now_usec();
        apply_oom_setting(b);
        apply_sim_target(b);
        update_note(b);
        sample_auto(b);
        /* The host sees no stats until we set some. */
        (void) send_stats(b);
        arm_poll(b);
        kick(b);
        return 0;
}

void balloon_detach(Balloon *b)
{
        if (!b->ops)
                return;
        if (b->change.active)
                change_end(b, "interrupted");
        timer_disarm(b->step_timer);
        timer_disarm(b->poll_timer);
        timer_disarm(b->stats_timer);
        timer_disarm(b->failed_timer);
        b->ops = NULL;
        b->ctx = NULL;
        b->failed = 0;
        b->state = "unavailable";
        memset(&b->kstate, 0, sizeof(b->kstate));
        b->source_note = NULL;
        b->note_transport = 0;
}

bool balloon_attached(const Balloon *b)
{
        return b->ops != NULL;
}

void balloon_reconfigure(Balloon *b)
{
        b->host_target_logged = UINT64_MAX;
        if (!b->ops || b->failed)
                return;
        apply_oom_setting(b);
        apply_sim_target(b);
        update_note(b);
        sample_auto(b);
        timer_disarm(b->poll_timer);
        arm_poll(b);
        arm_stats(b);
        kick(b);
}

/* ---- requests ---------------------------------------------------------- */

int balloon_set_target(Balloon *b, uint64_t bytes, char **ret_msg)
{
        uint64_t t, ram;
        int r;

        if (!b->ops || b->failed)
                return asprintf(ret_msg, "the balloon device is unavailable") < 0 ? -ENOMEM : -ENODEV;
        if (shim_transport_is_host(b->kstate.transport)) {
                /* Where the host's own target is set, for the admin who
                 * wanted to change it. */
                const char *where;

                switch (b->kstate.transport) {
                case MEMBALLOON_TRANSPORT_VIRTIO:
                        where = "QMP balloon, virsh setmem";
                        break;
                case MEMBALLOON_TRANSPORT_CMM:
                        where = "PowerVM sets it from the shared memory pool";
                        break;
                case MEMBALLOON_TRANSPORT_VMWARE:
                        where = "vSphere sets it from the host's memory, the VM's shares and limits";
                        break;
                default:
                        where = "the hypervisor's own tools";
                }
                return asprintf(ret_msg, "%s is bound: the host sets the target (%s)",
                                transport_subject(b->kstate.transport), where) < 0 ? -ENOMEM : -EOPNOTSUPP;
        }
        t = bytes / page_size(b);
        ram = guest_ram_pages(&b->kstate);
        if (t > ram)
                return asprintf(ret_msg, "%" PRIu64 " MiB exceeds the guest's RAM (%" PRIu64 " MiB)",
                                pages_to_mib(b, t), pages_to_mib(b, ram)) < 0 ? -ENOMEM : -ERANGE;
        r = b->ops->sim_set_target(b->ctx, t);
        if (r < 0)
                return asprintf(ret_msg, "the shim refused the target: %s", strerror(-r)) < 0 ? -ENOMEM : r;
        b->kstate.target_pages = t;
        log_notice("Simulated host target set to %" PRIu64 " MiB by memballoonctl", pages_to_mib(b, t));
        arm_poll(b);
        kick(b);
        return 0;
}

void balloon_reset_oom(Balloon *b)
{
        log_notice("OOM debt of %" PRIu64 " KiB cleared by memballoonctl", pages_to_kib(b, b->oom_debt_pages));
        b->oom_debt_pages = 0;
        b->relief.hold_until_usec = 0;
        b->relief.streak = 0;
        kick(b);
}

void balloon_deflate_all(Balloon *b)
{
        struct memballoon_batch batch;
        StepLimits lim;

        uint64_t keep = 0;

        if (refresh(b) < 0 || b->kstate.actual_pages == 0)
                return;
        /* virtio spec 5.5.6.1 holds on the way out too: without
         * deflate-on-oom the pages the host still asks for stay (the shim
         * returns them when the device or the module goes away). */
        if (!may_deflate_below_host(b))
                keep = MIN(b->kstate.target_pages, b->kstate.actual_pages);
        if (b->kstate.actual_pages == keep) {
                log_notice("balloon.deflate_on_exit: the host did not offer deflate-on-oom; its %" PRIu64
                           " MiB stay loaned", pages_to_mib(b, keep));
                return;
        }
        limits(b, &lim);
        log_notice("balloon.deflate_on_exit: returning %" PRIu64 " MiB to the guest before exiting%s",
                   pages_to_mib(b, b->kstate.actual_pages - keep),
                   keep ? " (the host's target stays: no deflate-on-oom)" : "");
        while (b->kstate.actual_pages > keep) {
                int r;

                batch = (struct memballoon_batch) {
                        .argsz = sizeof(batch),
                        .nr_pages = MIN(b->kstate.actual_pages - keep, MIN(lim.deflate_max_pages, lim.batch_max_pages)),
                };
                r = b->ops->batch(b->ctx, false, &batch);
                if (r < 0) {
                        log_error_errno(r, "Deflate on exit failed: %m; %" PRIu64 " MiB stay loaned",
                                        pages_to_mib(b, b->kstate.actual_pages));
                        return;
                }
                b->kstate.actual_pages = batch.actual_pages;
                if (batch.done_pages == 0)
                        break;
        }
}

void balloon_on_pressure(Balloon *b, const char *signal, const char *detail)
{
        uint64_t now = clock_now_usec(), before = b->relief.hold_until_usec, undebted;
        ReliefDecision d;
        ReliefInput ri;
        PolicyTarget u;
        PolicyInput in;
        MemInfo mi;
        char f[5][64];

        if (refresh(b) < 0)
                return;
        if (b->kstate.actual_pages == 0 && now < before)
                return;         /* nothing to give, and already holding off */
        ri = (ReliefInput) {
                .now_usec = now,
                .psi = strcmp(signal, "psi") == 0,
                .avail_floor_pages = mib_to_pages(b, b->config->oom.min_available_mb),
                .step_pages = MAX(mib_to_pages(b, b->config->oom.relief_step_mb), 1),
                .backoff_usec = (uint64_t) b->config->oom.backoff_s * 1000000ULL,
                .actual_pages = b->kstate.actual_pages,
                .host_target_pages = b->kstate.target_pages,
                .may_deflate_below_host = may_deflate_below_host(b),
        };
        if (read_meminfo(b, &mi) >= 0 && mi.has_available) {
                ri.has_avail = true;
                ri.avail_pages = mi.available_kib * 1024 / page_size(b);
        }
        policy_relief(&b->relief, &ri, &d);

        /* Book the release as debt: the target stays that far below where
         * it would be without debt, so the balloon shrinks by exactly
         * release_pages now and grows back only after the hold. */
        update_debt(b, now);
        policy_input(b, now, false, &in);
        in.paused = false;
        policy_target(&in, &u);
        undebted = u.target_pages;
        if (d.release_pages > 0 && undebted + d.release_pages > b->kstate.actual_pages)
                b->oom_debt_pages = MAX(b->oom_debt_pages,
                                        undebted - MIN(undebted, b->kstate.actual_pages - d.release_pages));
        /* Relief starts at once, whatever the hysteresis. */
        if (d.release_pages > 0)
                b->stepper.moving = true;
        b->pressure_count++;
        b->pressure_freed_pages += d.release_pages;
        b->pressure_need_pages = d.need_pages;
        b->pressure_last_signal = signal;
        b->pressure_last_realtime_usec = clock_realtime_usec();

        snprintf(f[0], sizeof(f[0]), "MEMBALLOON_PRESSURE_SIGNAL=%s", signal);
        snprintf(f[1], sizeof(f[1]), "MEMBALLOON_RELEASE_KIB=%" PRIu64, pages_to_kib(b, d.release_pages));
        snprintf(f[2], sizeof(f[2]), "MEMBALLOON_ACTUAL_KIB=%" PRIu64, pages_to_kib(b, b->kstate.actual_pages));
        snprintf(f[3], sizeof(f[3]), "MEMBALLOON_HOLD_USEC=%" PRIu64, d.hold_until_usec - now);
        snprintf(f[4], sizeof(f[4]), "MEMBALLOON_NEED_KIB=%" PRIu64, pages_to_kib(b, d.need_pages));
        /* Sustained pressure with nothing left to give fires every poll:
         * say it once per episode, not once per tick. */
        log_struct(d.release_pages > 0 || now >= before ? LOG_WARNING : LOG_DEBUG,
                   MSGID_PRESSURE, FIELDS(f[0], f[1], f[2], f[3], f[4]),
                   "Memory pressure (%s: %s): returning %" PRIu64 " MiB to the guest, no inflating for %" PRIu64 " s",
                   signal, detail, pages_to_mib(b, d.release_pages),
                   (uint64_t) ((d.hold_until_usec - now) / 1000000ULL));
        if (d.limited_by_host && !b->relief_limit_logged) {
                b->relief_limit_logged = true;
                if (b->kstate.transport == MEMBALLOON_TRANSPORT_VIRTIO)
                        log_warning("Pressure relief below the host's target is off: the host did not offer "
                                    "deflate-on-oom (virtio spec 5.5.6.1). Turn it on with QEMU "
                                    "-device virtio-balloon-pci,deflate-on-oom=on or libvirt "
                                    "<memballoon model='virtio' autodeflate='on'>");
                else
                        log_warning("Pressure relief below the host's target is off: the shim may not give "
                                    "back pages the host (transport %s) still asks for",
                                    shim_transport_to_string(b->kstate.transport));
        }
        arm_poll(b);
        /* Deflate now, ahead of anything else queued. */
        kick(b);
}

void balloon_pause(Balloon *b, uint64_t until_usec, const char *why)
{
        uint64_t now = clock_now_usec();

        if (until_usec > b->hotplug_pause_until_usec)
                b->hotplug_pause_until_usec = until_usec;
        log_info("Loaning paused for %" PRIu64 " s: %s",
                 (uint64_t) (((until_usec > now ? until_usec - now : 0) + 500000) / 1000000ULL), why);
        kick(b);
}

/* ---- status ------------------------------------------------------------ */

bool balloon_wants_pressure_poll(const Balloon *b)
{
        return b->ops && (b->kstate.actual_pages > 0 || b->config->auto_loan.enabled);
}

const struct memballoon_state *balloon_kstate(const Balloon *b)
{
        return &b->kstate;
}

const PolicyTarget *balloon_target(const Balloon *b)
{
        return &b->target;
}

const char *balloon_state(const Balloon *b)
{
        return b->state;
}

uint64_t balloon_debt_pages(const Balloon *b)
{
        return b->oom_debt_pages;
}

/*
 * Why actual differs from the host's target, most useful first.  Every
 * state that holds the balloon away from the host's target has one.
 */
const char *balloon_reason(const Balloon *b)
{
        static char buf[1024];
        const char *why, *pause = NULL;
        uint64_t now = clock_now_usec();
        const struct memballoon_state *k = &b->kstate;

        if (!b->ops)
                return "balloon device unavailable";
        if (balloon_pause_until(b) > now)
                pause = b->hotplug_pause_until_usec >= b->relief.hold_until_usec ?
                        "loaning is paused after memory hotplug (hotplug.delay_s)" :
                        "loaning is held off after memory pressure (oom.backoff_s)";

        /* By content: the same literal in policy.c and here need not be one
         * object (ASan builds keep them apart). */
        if (b->target.reason && strcmp(b->target.reason, POLICY_REASON_PAUSED) != 0 &&
            (b->target.target_pages != k->actual_pages || b->target.target_pages != k->target_pages))
                why = b->target.reason;
        else if (pause && k->actual_pages < k->target_pages)
                why = pause;
        else if (b->note)
                why = b->note;
        else if (k->actual_pages != b->target.target_pages)
                why = b->change.active ? (b->change.kind == STEP_DEFLATE ? "returning memory to the guest" :
                                          "taking memory from the guest") :
                      "within balloon.hysteresis_mb of the target; not worth a change";
        else if (k->actual_pages != k->target_pages)
                why = "the host's target changed; following it";
        else
                why = NULL;

        /* The passing note, then balloon.source against the transport,
         * after the main reason (each once). */
        {
                const char *parts[] = { why, b->note != why ? b->note : NULL, b->source_note };
                size_t used = 0;

                buf[0] = '\0';
                for (size_t i = 0; i < ELEMENTSOF(parts); i++) {
                        int n;

                        if (!parts[i] || used >= sizeof(buf))
                                continue;
                        n = snprintf(buf + used, sizeof(buf) - used, "%s%s", used ? "; " : "", parts[i]);
                        if (n > 0)
                                used += (size_t) n;
                }
                if (!parts[1] && !parts[2])
                        return why ? why : "";
        }
        return buf;
}

/* The GET_STATE v3 part: only from a shim that fills it, absent else. */
static void status_v3(const Balloon *b, json_object *st)
{
        const struct memballoon_state *k = &b->kstate;
        const char *why;
        char buf[96];

        status_put_uint(st, SF_BALLOON_HOST_PAGE_SIZE, k->host_page_size);
        status_put_strings_add(st, SF_BALLOON_TRANSPORT_FLAGS, NULL);
        for (unsigned bit = 0; bit < 64; bit++) {
                const char *name = shim_transport_flag_to_string(bit);
                char unknown[16];

                if (!(k->transport_flags & (1ULL << bit)))
                        continue;
                if (!name) {
                        /* A newer shim's flag: shown, by number. */
                        snprintf(unknown, sizeof(unknown), "bit-%u", bit);
                        name = unknown;
                }
                status_put_strings_add(st, SF_BALLOON_TRANSPORT_FLAGS, name);
        }
        status_put_uint(st, SF_BALLOON_HOST_RESETS, k->host_resets);
        status_put_uint(st, SF_BALLOON_REFUSED_KIB, pages_to_kib(b, k->refused_pages));
        why = shim_declined_to_string(k->declined_transport, k->declined_reason, k->declined_error, buf,
                                      sizeof(buf));
        if (why) {
                status_put_string(st, SF_BALLOON_DECLINED_TRANSPORT, shim_transport_to_string(k->declined_transport));
                status_put_string(st, SF_BALLOON_DECLINED_REASON, why);
                status_put_int(st, SF_BALLOON_DECLINED_ERROR, k->declined_error);
        }
}

void balloon_status(const Balloon *b, json_object *st)
{
        bool avail = b->ops != NULL, below = !avail || may_deflate_below_host(b);
        uint64_t now = clock_now_usec(), until = balloon_pause_until(b);
        const struct memballoon_state *k = &b->kstate;

        status_put_bool(st, SF_BALLOON_AVAILABLE, avail);
        status_put_string(st, SF_BALLOON_TRANSPORT, avail ? shim_transport_to_string(k->transport) : "none");
        status_put_uint(st, SF_BALLOON_HOST_TARGET_KIB, avail ? pages_to_kib(b, k->target_pages) : 0);
        status_put_uint(st, SF_BALLOON_TARGET_KIB, avail ? pages_to_kib(b, b->target.target_pages) : 0);
        status_put_uint(st, SF_BALLOON_ACTUAL_KIB, avail ? pages_to_kib(b, k->actual_pages) : 0);
        status_put_uint(st, SF_BALLOON_TOTAL_KIB, avail ? pages_to_kib(b, guest_ram_pages(k)) : 0);
        /* A shim before GET_STATE v2 always took loaned pages out. */
        status_put_string(st, SF_BALLOON_MEMTOTAL, !avail ? NULL :
                          (k->state_flags & MEMBALLOON_STATE_F_BALLOON_IN_TOTALRAM) ? "includes-balloon" :
                          "excludes-balloon");
        status_put_bool(st, SF_BALLOON_HOST_BROKEN, avail && (k->state_flags & MEMBALLOON_STATE_F_HOST_BROKEN));
        status_put_uint(st, SF_BALLOON_STATS_REQUESTS, avail ? k->stats_requests : 0);
        status_put_uint(st, SF_BALLOON_STATS_LATE, avail ? k->stats_late : 0);
        status_put_uint(st, SF_OOM_NOTIFIER_BUSY, avail ? k->oom_busy : 0);
        status_put_uint(st, SF_BALLOON_MIN_MEM_KIB, b->config->balloon.min_mem_mb * 1024);
        status_put_uint(st, SF_BALLOON_OOM_FREED_KIB, avail ? pages_to_kib(b, k->oom_freed_pages) : 0);
        status_put_uint(st, SF_BALLOON_OOM_DEBT_KIB, pages_to_kib(b, b->oom_debt_pages));
        status_put_bool(st, SF_BALLOON_AUTO_LOAN, b->config->auto_loan.enabled);
        status_put_uint(st, SF_BALLOON_STATS_SENT, b->stats_sent);
        status_put_uint(st, SF_BALLOON_MIGRATIONS, avail ? k->migrations : 0);
        status_put_uint(st, SF_BALLOON_HOST_FEATURES, avail ? k->host_features : 0);
        if (avail && state_v3(b))
                status_v3(b, st);
        status_put_string(st, SF_BALLOON_STATE, avail ? (b->state ? b->state : "idle") : "unavailable");
        status_put_string(st, SF_BALLOON_REASON, balloon_reason(b));
        if (b->last_change.valid) {
                double secs = (double) b->last_change.duration_usec / 1e6;
                uint64_t kib = pages_to_kib(b, b->last_change.pages);

                status_put_string(st, SF_BALLOON_LAST_CHANGE_KIND, kind_name(b->last_change.kind));
                status_put_uint(st, SF_BALLOON_LAST_CHANGE_KIB, kib);
                status_put_uint(st, SF_BALLOON_LAST_CHANGE_DURATION_MS, b->last_change.duration_usec / 1000);
                status_put_double(st, SF_BALLOON_LAST_CHANGE_RATE, secs > 0 ? (double) kib / 1024.0 / secs : 0);
        }
        status_put_bool(st, SF_BALLOON_PAUSE_ACTIVE, until > now);
        status_put_uint(st, SF_BALLOON_PAUSE_REMAINING_MS, until > now ? (until - now) / 1000ULL : 0);
        status_put_string(st, SF_BALLOON_PAUSE_REASON, until <= now ? NULL :
                          b->hotplug_pause_until_usec >= b->relief.hold_until_usec ?
                          "memory hotplug (hotplug.delay_s)" : "back-off after memory pressure (oom.backoff_s)");

        status_put_uint(st, SF_OOM_COUNT, b->oom_count);
        status_put_uint(st, SF_OOM_LAST_REALTIME_SEC, b->oom_last_realtime_usec / 1000000ULL);
        status_put_uint(st, SF_OOM_FREED_KIB, pages_to_kib(b, b->oom_freed_seen_pages));
        status_put_uint(st, SF_OOM_DEBT_KIB, pages_to_kib(b, b->oom_debt_pages));

        status_put_bool(st, SF_PRESSURE_RELIEF_BELOW_HOST, below);
        status_put_string(st, SF_PRESSURE_RELIEF_NOTE, below ? "" :
                          k->transport == MEMBALLOON_TRANSPORT_VIRTIO ?
                          "the host did not offer deflate-on-oom: pressure relief returns only pages loaned "
                          "beyond the host's target; enable with QEMU -device virtio-balloon-pci,deflate-on-oom=on "
                          "or libvirt <memballoon model='virtio' autodeflate='on'>" :
                          "the shim may not give back pages the host still asks for: pressure relief returns "
                          "only pages loaned beyond the host's target");
        status_put_uint(st, SF_PRESSURE_COUNT, b->pressure_count);
        status_put_uint(st, SF_PRESSURE_LAST_REALTIME_SEC, b->pressure_last_realtime_usec / 1000000ULL);
        status_put_string(st, SF_PRESSURE_LAST_SIGNAL, b->pressure_last_signal);
        status_put_uint(st, SF_PRESSURE_FREED_KIB, pages_to_kib(b, b->pressure_freed_pages));
        status_put_uint(st, SF_PRESSURE_LAST_NEED_KIB, pages_to_kib(b, b->pressure_need_pages));
}
