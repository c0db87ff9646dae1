/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The balloon controller: turns the shim's state, the config and OOM
 * events into INFLATE and DEFLATE steps on the event loop.  The decisions
 * themselves are the pure functions of policy.c; this file does the I/O,
 * the scheduling and the logging.
 *
 * Each step is one ioctl, scheduled as a timer at a lower priority than
 * I/O, so control requests and shim events are handled between steps, and
 * every step re-evaluates the target, so a new target redirects a change at
 * once.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>

#include "log.h"
#include "macro.h"
#include "manager.h"
#include "parse.h"
#include "procfs.h"
#include "root.h"

/* A failed allocation doubles the wait up to this (vmw_balloon caps its
 * back-off similarly; 10 s keeps a recovering guest responsive). */
#define BACKOFF_MAX_USEC        (10ULL * 1000000ULL)
/* First inflate step after a failure: 1 MiB (the stock virtio driver's
 * whole batch), then doubling. */
#define SLOW_START_BYTES        (1ULL << 20)
/* While OOM debt decays, re-evaluate the target this often. */
#define DEBT_TICK_USEC          (5ULL * 1000000ULL)
/* When auto loan sets the target, MemAvailable's own jitter (pages parked
 * in per-CPU lists, page cache coming and going) moves it by a few MiB a
 * second; measured in a 1 GiB guest as 4-6 MiB swings.  Changes below this
 * are not started, so the balloon does not chase that noise. */
#define AUTO_HYSTERESIS_BYTES   (16ULL << 20)
/* Steps run below I/O so requests and events are never starved. */
#define STEP_PRIORITY           (SD_EVENT_PRIORITY_NORMAL + 10)
#define VMSTAT_MAX              (64 * 1024)

static uint64_t page_size(const Manager *m)
{
        return m->shim.api.page_size ? m->shim.api.page_size : 4096;
}

static uint64_t mib_to_pages(const Manager *m, uint64_t mib)
{
        return mib * 1024 * 1024 / page_size(m);
}

static uint64_t pages_to_mib(const Manager *m, uint64_t pages)
{
        return pages * page_size(m) / (1024 * 1024);
}

static void limits(const Manager *m, StepLimits *ret)
{
        *ret = (StepLimits) {
                .inflate_max_pages = MAX(mib_to_pages(m, m->config.balloon.inflate_step_mb), 1),
                .deflate_max_pages = MAX(mib_to_pages(m, m->config.balloon.deflate_step_mb), 1),
                .batch_max_pages = MAX(m->shim.api.max_batch_pages, 1),
                .hysteresis_pages = m->target.by_auto ?
                        MAX(mib_to_pages(m, m->config.balloon.hysteresis_mb), AUTO_HYSTERESIS_BYTES / page_size(m)) :
                        mib_to_pages(m, m->config.balloon.hysteresis_mb),
                .slow_start_pages = MAX(SLOW_START_BYTES / page_size(m), 1),
                .backoff_usec = (uint64_t) m->config.balloon.backoff_ms * 1000ULL,
                .backoff_max_usec = BACKOFF_MAX_USEC,
        };
}


static void update_debt(Manager *m, uint64_t now)
{
        uint64_t per_min = mib_to_pages(m, m->config.oom.debt_decay_mb_per_min);

        if (m->oom_debt_pages > 0 && now > m->debt_usec)
                m->oom_debt_pages = policy_debt_decay(m->oom_debt_pages, per_min, now - m->debt_usec);
        m->debt_usec = now;
}

bool controller_may_deflate_below_host(const Manager *m)
{
        /* virtio spec 5.5.6.1; simulate mode has no host to ask. */
        return m->kstate.transport != MEMBALLOON_TRANSPORT_VIRTIO ||
               (m->kstate.host_features & (1ULL << MEMBALLOON_HOST_F_DEFLATE_ON_OOM));
}

uint64_t controller_pause_until(const Manager *m)
{
        return MAX(m->relief.hold_until_usec, m->hotplug_pause_until_usec);
}

static void compute_target(Manager *m)
{
        const struct memballoon_state *k = &m->kstate;
        uint64_t now = manager_now_usec();
        PolicyInput in;

        update_debt(m, now);
        in = (PolicyInput) {
                .host_target_pages = k->target_pages,
                .total_pages = k->total_ram_pages + k->actual_pages,
                .actual_pages = k->actual_pages,
                .floor_pages = mib_to_pages(m, m->config.balloon.min_mem_mb),
                .oom_debt_pages = m->oom_debt_pages,
                .paused = now < controller_pause_until(m),
                .may_deflate_below_host = controller_may_deflate_below_host(m),
        };
        if (m->config.auto_loan.enabled && m->auto_valid) {
                in.auto_enabled = true;
                in.auto_target_pages = m->auto_target_pages;
        }
        policy_target(&in, &m->target);

        /* Log a clamp once per host target value, not once per step. */
        if ((m->target.by_ram || m->target.by_floor) && k->target_pages != m->host_target_logged) {
                char h[64], t[64];

                m->host_target_logged = k->target_pages;
                snprintf(h, sizeof(h), "MEMBALLOON_HOST_TARGET_KIB=%" PRIu64,
                         manager_pages_to_kib(m, k->target_pages));
                snprintf(t, sizeof(t), "MEMBALLOON_TARGET_KIB=%" PRIu64,
                         manager_pages_to_kib(m, m->target.target_pages));
                log_struct(LOG_WARNING, MSGID_TARGET_CLAMPED, FIELDS(h, t),
                           "Host target %" PRIu64 " MiB %s; loaning %" PRIu64 " MiB instead (guest RAM %" PRIu64
                           " MiB, floor %" PRIu64 " MiB)",
                           pages_to_mib(m, k->target_pages),
                           m->target.by_ram ? "exceeds guest RAM" : "would leave less than the floor",
                           pages_to_mib(m, m->target.target_pages), pages_to_mib(m, in.total_pages),
                           (uint64_t) m->config.balloon.min_mem_mb);
        } else if (!m->target.by_ram && !m->target.by_floor)
                m->host_target_logged = UINT64_MAX;
}

/*
 * Auto loan looks at MemAvailable every auto.interval_s (and at start and
 * reload), not at every step: a target recomputed from a value that moves
 * with every page taken is never reached, and the balloon would chase that
 * noise step after step without ever going idle.
 */
static void sample_auto(Manager *m)
{
        MemInfo mi;
        int r;

        m->auto_valid = false;
        if (!m->config.auto_loan.enabled)
                return;
        r = meminfo_read(&mi);
        if (r < 0 || !mi.has_available) {
                log_warning_errno(r < 0 ? r : -ENODATA,
                                  "Auto loan: cannot read MemAvailable from /proc/meminfo: %m, not loaning");
                return;
        }
        m->auto_target_pages = policy_auto_target(m->kstate.actual_pages, mi.available_kib * 1024 / page_size(m),
                                                  mib_to_pages(m, m->config.auto_loan.headroom_mb));
        m->auto_valid = true;
}

static const char *kind_name(StepKind k)
{
        return k == STEP_INFLATE ? "inflate" : k == STEP_DEFLATE ? "deflate" : "none";
}

static void change_end(Manager *m, const char *how)
{
        uint64_t now = manager_now_usec(), dur, pages;
        char f[4][64];
        double rate;

        if (!m->change.active)
                return;
        dur = now - m->change.start_usec;
        pages = m->kstate.actual_pages > m->change.from_pages ? m->kstate.actual_pages - m->change.from_pages
                                                              : m->change.from_pages - m->kstate.actual_pages;
        rate = dur ? (double) pages * (double) page_size(m) / (1024.0 * 1024.0) / ((double) dur / 1e6) : 0;
        m->last_change.valid = true;
        m->last_change.kind = m->change.kind;
        m->last_change.duration_usec = dur;
        m->last_change.pages = pages;
        m->change.active = false;

        snprintf(f[0], sizeof(f[0]), "MEMBALLOON_ACTUAL_KIB=%" PRIu64, manager_pages_to_kib(m, m->kstate.actual_pages));
        snprintf(f[1], sizeof(f[1]), "MEMBALLOON_TARGET_KIB=%" PRIu64, manager_pages_to_kib(m, m->target.target_pages));
        snprintf(f[2], sizeof(f[2]), "MEMBALLOON_DURATION_USEC=%" PRIu64, dur);
        snprintf(f[3], sizeof(f[3]), "MEMBALLOON_RATE_MIBPS=%.1f", rate);
        log_struct(LOG_INFO, MSGID_CHANGE_DONE, FIELDS(f[0], f[1], f[2], f[3]),
                   "Balloon %s %s: %" PRIu64 " MiB loaned after %s %" PRIu64 " MiB in %.2f s (%.0f MiB/s)",
                   kind_name(m->last_change.kind), how, pages_to_mib(m, m->kstate.actual_pages),
                   m->last_change.kind == STEP_INFLATE ? "taking" : "returning",
                   pages_to_mib(m, pages), (double) dur / 1e6, rate);
}

static void change_begin(Manager *m, StepKind kind)
{
        char f[3][64];

        if (m->change.active && m->change.kind == kind && m->change.to_pages == m->target.target_pages)
                return;
        if (m->change.active && m->change.kind != kind)
                change_end(m, "redirected");
        if (m->change.active) {
                /* Same direction, new target: follow it.  Debug only: auto
                 * loan moves the target a little on most steps. */
                log_debug("Balloon target changed mid-%s: now %" PRIu64 " MiB", kind_name(kind),
                         pages_to_mib(m, m->target.target_pages));
                m->change.to_pages = m->target.target_pages;
                return;
        }
        m->change = (typeof(m->change)) {
                .active = true,
                .kind = kind,
                .start_usec = manager_now_usec(),
                .from_pages = m->kstate.actual_pages,
                .to_pages = m->target.target_pages,
        };
        snprintf(f[0], sizeof(f[0]), "MEMBALLOON_ACTUAL_KIB=%" PRIu64, manager_pages_to_kib(m, m->kstate.actual_pages));
        snprintf(f[1], sizeof(f[1]), "MEMBALLOON_TARGET_KIB=%" PRIu64, manager_pages_to_kib(m, m->target.target_pages));
        snprintf(f[2], sizeof(f[2]), "MEMBALLOON_HOST_TARGET_KIB=%" PRIu64,
                 manager_pages_to_kib(m, m->kstate.target_pages));
        log_struct(LOG_INFO, MSGID_CHANGE_STARTED, FIELDS(f[0], f[1], f[2]),
                   "Balloon %s started: %" PRIu64 " MiB -> %" PRIu64 " MiB (host asks %" PRIu64 " MiB)",
                   kind_name(kind), pages_to_mib(m, m->kstate.actual_pages),
                   pages_to_mib(m, m->target.target_pages), pages_to_mib(m, m->kstate.target_pages));
}

static int on_step(sd_event_source *s, uint64_t usec, void *userdata);

static void schedule_step(Manager *m, uint64_t delay_usec)
{
        int r;

        if (m->shim.fd < 0)
                return;
        if (!m->step_source) {
                /* Accuracy 1 us: 0 would mean sd-event's default of 250 ms,
                 * which let every step wait up to a quarter second. */
                r = sd_event_add_time_relative(m->event, &m->step_source, CLOCK_MONOTONIC, delay_usec, 1,
                                               on_step, m);
                if (r < 0) {
                        log_error_errno(r, "Failed to schedule a balloon step: %m");
                        return;
                }
                (void) sd_event_source_set_priority(m->step_source, STEP_PRIORITY);
                return;
        }
        (void) sd_event_source_set_time_relative(m->step_source, delay_usec);
        (void) sd_event_source_set_enabled(m->step_source, SD_EVENT_ONESHOT);
}

static int do_batch(Manager *m, StepKind kind, uint64_t nr, struct memballoon_batch *ret)
{
        struct memballoon_batch b = { .argsz = sizeof(b), .nr_pages = nr };

        if (ioctl(m->shim.fd, kind == STEP_INFLATE ? MEMBALLOON_INFLATE : MEMBALLOON_DEFLATE, &b) < 0)
                return -errno;
        *ret = b;
        return 0;
}

static int on_step(sd_event_source *s, uint64_t usec, void *userdata)
{
        Manager *m = userdata;
        struct memballoon_batch b;
        StepDecision d;
        StepLimits lim;
        uint64_t now;
        int r;

        if (m->shim.fd < 0)
                return 0;
        r = manager_refresh_state(m);
        if (r < 0)
                return 0;       /* refresh already reported it */
        compute_target(m);
        limits(m, &lim);
        now = manager_now_usec();
        policy_next_step(&m->stepper, &lim, m->target.target_pages, m->kstate.actual_pages, now, &d);

        if (d.kind == STEP_NONE) {
                m->note = NULL;
                change_end(m, "finished");
                m->state = "idle";
                /* Held by a pause: look again when it ends. */
                if (controller_pause_until(m) > now && m->target.target_pages < m->target.raw_pages) {
                        m->state = "paused";
                        schedule_step(m, controller_pause_until(m) - now);
                }
                manager_notify_status(m);
                return 0;
        }
        change_begin(m, d.kind);
        if (d.delay_usec > 0) {
                m->state = "inflating";
                schedule_step(m, d.delay_usec);
                manager_notify_status(m);
                return 0;
        }

        m->state = d.kind == STEP_INFLATE ? "inflating" : "deflating";
        r = do_batch(m, d.kind, d.nr_pages, &b);
        if (r < 0) {
                /* Not expected with valid arguments: report, retry slowly. */
                log_error_errno(r, "Balloon %s of %" PRIu64 " pages failed: %m; retrying in %llu s",
                                kind_name(d.kind), d.nr_pages, BACKOFF_MAX_USEC / 1000000ULL);
                m->note = "the last balloon step failed; see the log";
                schedule_step(m, BACKOFF_MAX_USEC);
                return 0;
        }
        m->kstate.actual_pages = b.actual_pages;

        if (d.kind == STEP_INFLATE) {
                bool stalled = b.stop_reason == MEMBALLOON_STOP_NOMEM || b.stop_reason == MEMBALLOON_STOP_OFFLINE;

                policy_inflate_result(&m->stepper, &lim, d.nr_pages, b.done_pages, stalled, now);
                if (stalled) {
                        m->note = b.stop_reason == MEMBALLOON_STOP_NOMEM ?
                                "the guest could not spare more pages; backing off before retrying" :
                                "a memory block is going offline; inflation waits";
                        log_full(m->stepper.failures == 1 ? LOG_NOTICE : LOG_DEBUG, 0, NULL, NULL,
                                 "Balloon inflate got %" PRIu64 " of %" PRIu64 " pages (%s); retrying in %" PRIu64
                                 " ms at a slower rate",
                                 (uint64_t) b.done_pages, d.nr_pages,
                                 b.stop_reason == MEMBALLOON_STOP_NOMEM ? "allocation failed" : "memory going offline",
                                 (m->stepper.retry_at_usec - now) / 1000);
                } else
                        m->note = NULL;
        }
        schedule_step(m, 0);
        return 0;
}

void controller_kick(Manager *m)
{
        schedule_step(m, 0);
}

static int send_stats(Manager *m)
{
        _cleanup_free_ char *vbuf = NULL;
        struct memballoon_stats st = { .argsz = sizeof(st) };
        size_t vlen;
        MemInfo mi;
        VmStat vs;
        int r;

        r = meminfo_read(&mi);
        if (r < 0)
                return log_warning_errno(r, "Cannot read /proc/meminfo for guest stats: %m");
        r = root_read_file("/proc/vmstat", VMSTAT_MAX, &vbuf, &vlen);
        if (r >= 0)
                r = vmstat_parse(vbuf, vlen, &vs);
        if (r < 0)
                return log_warning_errno(r, "Cannot read /proc/vmstat for guest stats: %m");

#define ADD(tag_, val_) st.stats[st.nr_stats++] = (struct memballoon_stat) { .tag = (tag_), .val = (val_) }
        /* Units as the virtio spec (5.5.6.3) and the stock driver use them:
         * swap in bytes, faults as counts, memory in bytes. */
        ADD(MEMBALLOON_S_SWAP_IN, vs.pswpin * page_size(m));
        ADD(MEMBALLOON_S_SWAP_OUT, vs.pswpout * page_size(m));
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
#undef ADD
        if (ioctl(m->shim.fd, MEMBALLOON_SET_STATS, &st) < 0)
                return log_warning_errno(-errno, "MEMBALLOON_SET_STATS failed: %m");
        m->stats_sent++;
        return 0;
}

static int on_stats_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
        Manager *m = userdata;

        if (m->shim.fd >= 0)
                (void) send_stats(m);
        /* A timer source fires once; setting its time does not re-enable it. */
        if (m->config.stats.interval_s > 0) {
                (void) sd_event_source_set_time_relative(s, m->config.stats.interval_s * 1000000ULL);
                (void) sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
        }
        return 0;
}

static int on_poll_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
        Manager *m = userdata;
        uint64_t next = m->config.balloon.poll_interval_s * 1000000ULL;

        /* Safety net: a lost TARGET event never leaves the balloon stale. */
        if (m->shim.fd >= 0 && manager_refresh_state(m) >= 0) {
                sample_auto(m);
                controller_kick(m);
        }
        /* While OOM debt decays, look more often so the target follows. */
        if (m->oom_debt_pages > 0 && m->config.oom.debt_decay_mb_per_min > 0 && (next == 0 || next > DEBT_TICK_USEC))
                next = DEBT_TICK_USEC;
        if (m->config.auto_loan.enabled && (next == 0 || next > m->config.auto_loan.interval_s * 1000000ULL))
                next = m->config.auto_loan.interval_s * 1000000ULL;
        if (next) {
                /* A timer source fires once; setting its time does not re-enable it. */
                (void) sd_event_source_set_time_relative(s, next);
                (void) sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
        } else
                (void) sd_event_source_set_enabled(s, SD_EVENT_OFF);
        return 0;
}

static void arm_timers(Manager *m)
{
        if (!m->poll_timer)
                (void) sd_event_add_time_relative(m->event, &m->poll_timer, CLOCK_MONOTONIC, 1000000ULL, 0,
                                                  on_poll_timer, m);
        else {
                (void) sd_event_source_set_time_relative(m->poll_timer, 1000000ULL);
                (void) sd_event_source_set_enabled(m->poll_timer, SD_EVENT_ON);
        }
        if (m->config.stats.interval_s > 0) {
                uint64_t t = m->config.stats.interval_s * 1000000ULL;

                if (!m->stats_timer)
                        (void) sd_event_add_time_relative(m->event, &m->stats_timer, CLOCK_MONOTONIC, t, 0,
                                                          on_stats_timer, m);
                else {
                        (void) sd_event_source_set_time_relative(m->stats_timer, t);
                        (void) sd_event_source_set_enabled(m->stats_timer, SD_EVENT_ON);
                }
        } else if (m->stats_timer)
                (void) sd_event_source_set_enabled(m->stats_timer, SD_EVENT_OFF);
}

static void apply_oom_setting(Manager *m)
{
        struct memballoon_oom o = { .argsz = sizeof(o), .nr_pages = mib_to_pages(m, m->config.oom.release_mb) };

        if (ioctl(m->shim.fd, MEMBALLOON_SET_OOM, &o) < 0)
                log_warning_errno(-errno, "MEMBALLOON_SET_OOM (%u MiB) failed: %m, keeping the shim's setting",
                                  m->config.oom.release_mb);
}

static void apply_sim_target(Manager *m)
{
        struct memballoon_sim_target t = { .argsz = sizeof(t) };

        if (m->kstate.transport != MEMBALLOON_TRANSPORT_SIMULATE ||
            m->config.balloon.source != BALLOON_SOURCE_SIMULATE)
                return;
        t.target_pages = mib_to_pages(m, m->config.balloon.simulate_target_mb);
        if (t.target_pages > m->kstate.total_ram_pages + m->kstate.actual_pages) {
                log_warning("balloon.simulate_target_mb = %" PRIu64 " exceeds guest RAM (%" PRIu64
                            " MiB); clamped to guest RAM",
                            m->config.balloon.simulate_target_mb,
                            pages_to_mib(m, m->kstate.total_ram_pages + m->kstate.actual_pages));
                t.target_pages = m->kstate.total_ram_pages + m->kstate.actual_pages;
        }
        if (ioctl(m->shim.fd, MEMBALLOON_SIM_SET_TARGET, &t) < 0)
                log_warning_errno(-errno, "MEMBALLOON_SIM_SET_TARGET failed: %m");
        else {
                m->sim_target_pages = t.target_pages;
                m->kstate.target_pages = t.target_pages;
        }
}

static void update_note(Manager *m)
{
        if (m->kstate.transport == MEMBALLOON_TRANSPORT_SIMULATE &&
            m->config.balloon.source == BALLOON_SOURCE_VIRTIO)
                m->note = "balloon.source is \"virtio\" but no virtio-balloon device is bound; "
                          "the shim runs in simulate mode";
        else if (m->kstate.transport == MEMBALLOON_TRANSPORT_VIRTIO &&
                 m->config.balloon.source == BALLOON_SOURCE_SIMULATE)
                m->note = "a virtio-balloon device is bound, so the host owns the target "
                          "(balloon.source = \"simulate\" does not apply)";
        else
                m->note = NULL;
}

void controller_start(Manager *m)
{
        m->stepper = (Stepper) {};
        m->state = "idle";
        m->change.active = false;
        m->debt_usec = manager_now_usec();
        apply_oom_setting(m);
        apply_sim_target(m);
        update_note(m);
        sample_auto(m);
        /* The host sees no stats until we set some. */
        (void) send_stats(m);
        arm_timers(m);
        controller_kick(m);
}

void controller_reconfigure(Manager *m)
{
        if (m->shim.fd < 0)
                return;
        apply_oom_setting(m);
        apply_sim_target(m);
        update_note(m);
        sample_auto(m);
        arm_timers(m);
        m->host_target_logged = UINT64_MAX;
        controller_kick(m);
}

void controller_stop(Manager *m)
{
        if (m->change.active)
                change_end(m, "interrupted");
        m->step_source = sd_event_source_disable_unref(m->step_source);
        m->poll_timer = sd_event_source_disable_unref(m->poll_timer);
        m->stats_timer = sd_event_source_disable_unref(m->stats_timer);
        m->state = "unavailable";
}

void controller_on_event(Manager *m, const struct memballoon_event *ev)
{
        switch (ev->type) {
        case MEMBALLOON_EVENT_TARGET:
                controller_kick(m);
                break;
        case MEMBALLOON_EVENT_OOM: {
                char f[3][64];

                update_debt(m, manager_now_usec());
                m->oom_debt_pages += ev->value;
                m->oom_count++;
                m->oom_freed_seen_pages += ev->value;
                {
                        struct timespec ts;

                        clock_gettime(CLOCK_REALTIME, &ts);
                        m->oom_last_realtime_usec = (uint64_t) ts.tv_sec * 1000000ULL + (uint64_t) ts.tv_nsec / 1000;
                }
                snprintf(f[0], sizeof(f[0]), "MEMBALLOON_OOM_FREED_KIB=%" PRIu64, manager_pages_to_kib(m, ev->value));
                snprintf(f[1], sizeof(f[1]), "MEMBALLOON_OOM_DEBT_KIB=%" PRIu64,
                         manager_pages_to_kib(m, m->oom_debt_pages));
                snprintf(f[2], sizeof(f[2]), "MEMBALLOON_ACTUAL_KIB=%" PRIu64,
                         manager_pages_to_kib(m, m->kstate.actual_pages));
                log_struct(LOG_WARNING, MSGID_OOM, FIELDS(f[0], f[1], f[2]),
                           "Guest ran out of memory: the shim returned %" PRIu64 " KiB from the balloon; "
                           "OOM debt now %" PRIu64 " KiB",
                           manager_pages_to_kib(m, ev->value), manager_pages_to_kib(m, m->oom_debt_pages));
                arm_timers(m);
                controller_kick(m);
                break;
        }
        case MEMBALLOON_EVENT_STATS:
                (void) send_stats(m);
                break;
        case MEMBALLOON_EVENT_MIGRATED:
                log_debug("Balloon pages migrated by compaction: %" PRIu64 " so far", (uint64_t) ev->value);
                break;
        default:
                log_debug("Ignoring unknown shim event type %u", ev->type);
        }
}

int controller_set_target(Manager *m, uint64_t bytes, char **ret_msg)
{
        struct memballoon_sim_target t = { .argsz = sizeof(t) };
        uint64_t ram;

        if (m->shim.fd < 0)
                return asprintf(ret_msg, "the balloon device is unavailable") < 0 ? -ENOMEM : -ENODEV;
        if (m->kstate.transport == MEMBALLOON_TRANSPORT_VIRTIO)
                return asprintf(ret_msg, "a virtio-balloon device is bound: the host sets the target "
                                "(QMP balloon, virsh setmem)") < 0 ? -ENOMEM : -EOPNOTSUPP;
        if (bytes % page_size(m))
                bytes -= bytes % page_size(m);
        t.target_pages = bytes / page_size(m);
        ram = m->kstate.total_ram_pages + m->kstate.actual_pages;
        if (t.target_pages > ram)
                return asprintf(ret_msg, "%" PRIu64 " MiB exceeds the guest's RAM (%" PRIu64 " MiB)",
                                pages_to_mib(m, t.target_pages), pages_to_mib(m, ram)) < 0 ? -ENOMEM : -ERANGE;
        if (ioctl(m->shim.fd, MEMBALLOON_SIM_SET_TARGET, &t) < 0) {
                int r = -errno;

                return asprintf(ret_msg, "the shim refused the target: %s", strerror(-r)) < 0 ? -ENOMEM : r;
        }
        m->sim_target_pages = t.target_pages;
        m->kstate.target_pages = t.target_pages;
        log_notice("Simulated host target set to %" PRIu64 " MiB by memballoonctl", pages_to_mib(m, t.target_pages));
        controller_kick(m);
        return 0;
}

void controller_reset_oom(Manager *m)
{
        log_notice("OOM debt of %" PRIu64 " KiB cleared by memballoonctl", manager_pages_to_kib(m, m->oom_debt_pages));
        m->oom_debt_pages = 0;
        controller_kick(m);
}

void controller_deflate_all(Manager *m)
{
        struct memballoon_batch b;
        StepLimits lim;

        if (m->shim.fd < 0 || manager_refresh_state(m) < 0)
                return;
        if (m->kstate.actual_pages == 0)
                return;
        limits(m, &lim);
        log_notice("balloon.deflate_on_exit: returning %" PRIu64 " MiB to the guest before exiting",
                   pages_to_mib(m, m->kstate.actual_pages));
        while (m->kstate.actual_pages > 0) {
                uint64_t n = MIN(m->kstate.actual_pages, MIN(lim.deflate_max_pages, lim.batch_max_pages));
                int r = do_batch(m, STEP_DEFLATE, n, &b);

                if (r < 0) {
                        log_error_errno(r, "Deflate on exit failed: %m; %" PRIu64 " MiB stay loaned",
                                        pages_to_mib(m, m->kstate.actual_pages));
                        return;
                }
                m->kstate.actual_pages = b.actual_pages;
                if (b.done_pages == 0)
                        break;
        }
}

void controller_on_pressure(void *userdata, const char *signal, const char *detail)
{
        Manager *m = userdata;
        ReliefDecision d;
        uint64_t now = manager_now_usec();
        char f[4][64];

        if (m->shim.fd < 0 || manager_refresh_state(m) < 0)
                return;
        if (m->kstate.actual_pages == 0 && now < m->relief.hold_until_usec)
                return;         /* nothing to give, and already holding off */
        policy_relief(&m->relief, now, MAX(mib_to_pages(m, m->config.oom.relief_step_mb), 1),
                      (uint64_t) m->config.oom.backoff_s * 1000000ULL, m->kstate.actual_pages,
                      m->kstate.target_pages, controller_may_deflate_below_host(m), &d);
        update_debt(m, now);
        m->oom_debt_pages += d.release_pages;
        m->pressure_count++;
        m->pressure_freed_pages += d.release_pages;
        m->pressure_last_signal = signal;
        {
                struct timespec ts;

                clock_gettime(CLOCK_REALTIME, &ts);
                m->pressure_last_realtime_usec = (uint64_t) ts.tv_sec * 1000000ULL + (uint64_t) ts.tv_nsec / 1000;
        }
        snprintf(f[0], sizeof(f[0]), "MEMBALLOON_PRESSURE_SIGNAL=%s", signal);
        snprintf(f[1], sizeof(f[1]), "MEMBALLOON_RELEASE_KIB=%" PRIu64, manager_pages_to_kib(m, d.release_pages));
        snprintf(f[2], sizeof(f[2]), "MEMBALLOON_ACTUAL_KIB=%" PRIu64, manager_pages_to_kib(m, m->kstate.actual_pages));
        snprintf(f[3], sizeof(f[3]), "MEMBALLOON_HOLD_USEC=%" PRIu64, d.hold_until_usec - now);
        /* Sustained pressure with nothing left to give fires every second:
         * say it once per streak, not once per tick. */
        log_struct(d.release_pages > 0 || m->relief.streak == 1 ? LOG_WARNING : LOG_DEBUG,
                   MSGID_PRESSURE, FIELDS(f[0], f[1], f[2], f[3]),
                   "Memory pressure (%s: %s): returning %" PRIu64 " MiB to the guest, no inflating for %" PRIu64 " s",
                   signal, detail, pages_to_mib(m, d.release_pages), (uint64_t) ((d.hold_until_usec - now) / 1000000ULL));
        if (d.limited_by_host && !m->relief_limit_logged) {
                m->relief_limit_logged = true;
                log_warning("Pressure relief below the host's target is off: the host did not offer "
                            "deflate-on-oom (virtio spec 5.5.6.1). Turn it on with QEMU "
                            "-device virtio-balloon-pci,deflate-on-oom=on or libvirt "
                            "<memballoon model='virtio' autodeflate='on'>");
        }
        arm_timers(m);
        /* Deflate now, ahead of anything else queued. */
        schedule_step(m, 0);
}

void controller_on_hotplug_pause(void *userdata, uint64_t until_usec, const char *why)
{
        Manager *m = userdata;

        if (until_usec > m->hotplug_pause_until_usec)
                m->hotplug_pause_until_usec = until_usec;
        log_info("Loaning paused for %" PRIu64 " s: %s", (uint64_t) ((until_usec - manager_now_usec() + 500000) / 1000000ULL), why);
        controller_kick(m);
}
