/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The daemon's state: event loop, config, kernel shim connection and
 * control server.  One Manager per process.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <systemd/sd-event.h>

#include "config.h"
#include "control.h"
#include "hotplug.h"
#include "ksm.h"
#include "pressure.h"
#include "policy.h"
#include "shim.h"
#include "status.h"

typedef struct Manager {
        sd_event *event;
        Config config;
        bool config_explicit;           /* --config given: a missing file is an error */
        uint64_t start_usec;            /* CLOCK_MONOTONIC */
        uint64_t config_loaded_usec;

        Shim shim;                      /* fd < 0 while unavailable */
        int shim_error;                 /* last open error, 0 when open */
        const char *shim_detail;        /* static text for shim_error */
        struct memballoon_state kstate; /* last GET_STATE */
        sd_event_source *shim_io;
        sd_event_source *dev_watch;     /* inotify on /dev */
        sd_event_source *dev_retry;     /* safety-net retry timer */

        ControlServer *control;
        char *last_status;              /* last STATUS= sent, to avoid repeats */
        Ksm *ksm;                       /* KSM tuning (ksm.c) */
        Pressure *pressure;             /* PSI and MemAvailable signals (pressure.c) */
        Hotplug *hotplug;               /* memory block events (hotplug.c) */

        /* Pressure relief and pauses (controller.c). */
        ReliefState relief;
        uint64_t hotplug_pause_until_usec;
        uint64_t pressure_count;
        uint64_t pressure_last_realtime_usec;
        uint64_t pressure_freed_pages;
        const char *pressure_last_signal;
        bool relief_limit_logged;

        /* The balloon controller (controller.c). */
        Stepper stepper;
        PolicyTarget target;            /* last effective target */
        const char *state;              /* "idle", "inflating", ... */
        const char *note;               /* extra reason (transport mismatch, backoff) */
        sd_event_source *step_source;   /* next INFLATE/DEFLATE step */
        sd_event_source *poll_timer;    /* safety-net target re-read */
        sd_event_source *stats_timer;
        sd_event_source *debt_timer;
        uint64_t sim_target_pages;      /* simulate: what we asked the shim for */
        uint64_t auto_target_pages;     /* auto loan: balloon size at the last MemAvailable sample */
        bool auto_valid;                /* auto_target_pages holds a sample */
        uint64_t oom_debt_pages;
        uint64_t debt_usec;             /* when the debt last decayed */
        uint64_t oom_count;             /* OOM events seen by this daemon */
        uint64_t oom_last_realtime_usec;
        uint64_t oom_freed_seen_pages;  /* sum of OOM event values */
        uint64_t host_target_logged;    /* last host target whose clamp we logged */
        uint64_t stats_sent;
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
} Manager;

/* Takes ownership of *config (zeroes it). */
int manager_new(Config *config, bool config_explicit, Manager **ret);
Manager *manager_free(Manager *m);

/* Set up signals, watchdog, control socket and the shim.  Returns 0 or
 * -errno (already logged). */
int manager_start(Manager *m);

/* Run until SIGTERM/SIGINT.  Returns the exit code (0 on a clean stop). */
int manager_run(Manager *m);

/*
 * Re-read the config file.  On success the new config is in force and 0 is
 * returned; on failure the running config stays, the error is logged, and
 * *ret_error (if not NULL) gets the "FILE:LINE: message" text.
 */
int manager_reload(Manager *m, char **ret_error);

/* Fill a status snapshot; strings point into m and stay valid until the
 * next loop iteration. */
void manager_status(Manager *m, StatusInfo *ret);

/* controller.c */
void controller_start(Manager *m);     /* the shim was (re)opened: resync and follow */
void controller_stop(Manager *m);      /* the shim went away or the daemon stops */
void controller_on_event(Manager *m, const struct memballoon_event *ev);
void controller_kick(Manager *m);      /* something changed: re-evaluate the target */
void controller_reconfigure(Manager *m);        /* after a reload */
int controller_set_target(Manager *m, uint64_t bytes, char **ret_msg);
void controller_reset_oom(Manager *m);
void controller_deflate_all(Manager *m);        /* balloon.deflate_on_exit */
void controller_on_pressure(void *userdata, const char *signal, const char *detail);   /* PressureFn */
void controller_on_hotplug_pause(void *userdata, uint64_t until_usec, const char *why);  /* HotplugPauseFn */
bool controller_may_deflate_below_host(const Manager *m);
uint64_t controller_pause_until(const Manager *m);
uint64_t manager_pages_to_kib(const Manager *m, uint64_t pages);
uint64_t manager_now_usec(void);
int manager_refresh_state(Manager *m);
void manager_notify_status(Manager *m);
void manager_stop(Manager *m);       /* before the loop exits */

/* Dispatch one control request (the ControlDispatchFn). */
char *manager_dispatch(const ControlRequest *req, const struct ucred *peer, void *userdata);
