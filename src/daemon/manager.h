/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The daemon's state: event loop, config, kernel shim connection and
 * control server.  One Manager per process.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <systemd/sd-event.h>

#include "balloon-device.h"
#include "balloon.h"
#include "config.h"
#include "control.h"
#include "hotplug.h"
#include "ksm.h"
#include "pressure.h"
#include "shim.h"
#include "status-schema.h"
#include "timer.h"

typedef struct Manager {
        sd_event *event;
        Config config;
        bool config_explicit;           /* --config given: a missing file is an error */
        uint64_t start_usec;            /* clock_now_usec() */
        uint64_t config_loaded_usec;

        /* Finding and opening the device; the Balloon does the rest. */
        Shim shim;                      /* fd < 0 while unavailable */
        int shim_error;                 /* last open error, 0 when open */
        const char *shim_detail;        /* static text for shim_error */
        sd_event_source *shim_io;
        sd_event_source *dev_watch;     /* inotify on /dev */
        Timer *dev_retry;               /* safety-net retry while missing */

        /* Who owns the virtio-balloon device (sysfs), read again on each
         * status request and whenever the shim's transport changes. */
        BalloonDevice vdev;
        bool vdev_present;              /* false: no device (or sysfs unreadable) */
        uint32_t last_transport;        /* MEMBALLOON_TRANSPORT_*, 0 while detached */
        char *vdev_problem;             /* the problem last logged, to log changes once */

        ControlServer *control;
        char *last_status;              /* last STATUS= sent, to avoid repeats */
        Balloon *balloon;               /* the controller (balloon/) */
        Ksm *ksm;                       /* KSM tuning (ksm/) */
        Pressure *pressure;             /* PSI and MemAvailable signals (pressure/) */
        Hotplug *hotplug;               /* memory block events (hotplug/) */
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

/* The status, each component writing its own part (status-schema.h).
 * A new object the caller owns, or NULL on OOM. */
json_object *manager_status(Manager *m);

/* Read again who owns the virtio-balloon device (a status request). */
void manager_refresh_device(Manager *m);

/* Compute the STATUS= line and send it if it changed. */
void manager_notify_status(Manager *m);
void manager_stop(Manager *m);       /* before the loop exits */

/* Dispatch one control request (the ControlDispatchFn). */
char *manager_dispatch(const ControlRequest *req, const struct ucred *peer, void *userdata);
