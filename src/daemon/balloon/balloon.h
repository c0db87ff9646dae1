/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The balloon controller: turns the shim's state, the config, pressure,
 * hotplug pauses and OOM events into INFLATE and DEFLATE steps on the
 * event loop.  The decisions are the pure functions of policy.c; this
 * object does the scheduling, the bookkeeping and the logging, and talks
 * to the shim only through a ShimOps table (the real device, or the
 * in-memory fake of the unit tests).
 *
 * It lives as long as the daemon: the shim is attached when the device is
 * opened and detached when it goes away, and what the controller learned
 * (OOM debt, relief back-off, history) survives that.  It never calls the
 * manager: it reports through its BalloonNotifyFn.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <systemd/sd-event.h>

#include "config.h"
#include "policy.h"
#include "procfs.h"
#include "shim.h"
#include "status-schema.h"

typedef struct Balloon Balloon;

typedef enum BalloonNotify {
        BALLOON_NOTIFY_STATUS,          /* status changed: refresh STATUS= */
        BALLOON_NOTIFY_SHIM_FAILED,     /* a shim call failed (error given): the device is gone */
} BalloonNotify;

/* Called from the loop, never from inside a balloon_*() call the manager
 * made, so the manager may detach or free the balloon in it. */
typedef void (*BalloonNotifyFn)(void *userdata, BalloonNotify what, int error);

/* How the controller reads /proc/meminfo: meminfo_read() in the daemon,
 * the fake guest in unit tests. */
typedef int (*BalloonMemInfoFn)(void *userdata, MemInfo *ret);

/* @config must outlive the balloon (the manager's, updated in place on
 * reload; call balloon_reconfigure() after).  -ENOMEM only. */
int balloon_new(sd_event *event, const Config *config, BalloonNotifyFn notify, void *userdata, Balloon **ret);
Balloon *balloon_free(Balloon *b);

/* Use @meminfo instead of /proc/meminfo (tests). */
void balloon_set_meminfo_source(Balloon *b, BalloonMemInfoFn fn, void *userdata);

/*
 * The device was opened: adopt the balloon it holds and follow the target.
 * @ops/@ctx must stay valid until balloon_detach().  Returns 0, or -errno
 * from the first GET_STATE (nothing attached then).
 */
int balloon_attach(Balloon *b, const ShimOps *ops, void *ctx, const struct memballoon_api *api);
/* The device went away or the daemon stops: stop all work on it. */
void balloon_detach(Balloon *b);
bool balloon_attached(const Balloon *b);

/* The shim's fd is readable: read and act on its events. */
void balloon_process_events(Balloon *b);

/* After a reload. */
void balloon_reconfigure(Balloon *b);

/* Pressure (Pressure's callback, forwarded): @signal "psi" or "memavailable". */
void balloon_on_pressure(Balloon *b, const char *signal, const char *detail);
/* Hotplug: no loaning before @until_usec (clock_now_usec() time). */
void balloon_pause(Balloon *b, uint64_t until_usec, const char *why);

/* memballoonctl set-target (simulate mode).  -ERANGE, -EOPNOTSUPP,
 * -ENODEV or the shim's error, with *ret_msg saying why. */
int balloon_set_target(Balloon *b, uint64_t bytes, char **ret_msg);
void balloon_reset_oom(Balloon *b);
/* balloon.deflate_on_exit: give everything back now, synchronously. */
void balloon_deflate_all(Balloon *b);

/* Does the balloon want the MemAvailable poll?  While it holds pages or
 * auto loan is on: with nothing loaned there is nothing to give back. */
bool balloon_wants_pressure_poll(const Balloon *b);

/* Write the balloon's, OOM's and pressure relief's part of the status. */
void balloon_status(const Balloon *b, json_object *st);

/* For tests and status: the last state read from the shim, the effective
 * target, and the controller's state word. */
const struct memballoon_state *balloon_kstate(const Balloon *b);
const PolicyTarget *balloon_target(const Balloon *b);
const char *balloon_state(const Balloon *b);
const char *balloon_reason(const Balloon *b);
uint64_t balloon_debt_pages(const Balloon *b);
uint64_t balloon_pause_until(const Balloon *b);
