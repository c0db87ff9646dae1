/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * One-shot timers on the event loop, the one way the daemon schedules
 * work.  A Timer fires once per timer_rearm(); the handler re-arms it if
 * it wants to run again (sd-event's own time sources need both a new time
 * and SD_EVENT_ONESHOT each time, which was forgotten in six places).
 *
 * On the manual clock (clock.h) a timer armed for later does not touch
 * sd-event at all: it waits until timer_advance() moves the clock past its
 * due time and then runs inside that call.  A timer armed for "now"
 * (delay 0, e.g. the next balloon step) still runs from the loop.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <systemd/sd-event.h>

typedef struct Timer Timer;

/* The handler.  It may re-arm, disarm or free any timer, its own too. */
typedef void (*TimerFn)(Timer *t, void *userdata);

/*
 * A disarmed timer.  @accuracy_usec as sd-event's (0 would mean its
 * default of 250 ms: pass what the work tolerates).  @name shows in
 * sd-event's debugging and in timer_advance()'s log.  Returns 0 or -errno.
 */
int timer_new(sd_event *event, const char *name, int64_t priority, uint64_t accuracy_usec, TimerFn fn,
              void *userdata, Timer **ret);
Timer *timer_free(Timer *t);    /* NULL-safe, returns NULL */

/* Keep this timer on real time even under the manual clock: for timeouts
 * about real peers (an idle control client), which a test moving the
 * daemon's clock must not trigger. */
void timer_set_real_clock(Timer *t);

/* Fire once, @delay_usec from now (replacing any earlier arming). */
void timer_rearm(Timer *t, uint64_t delay_usec);
void timer_disarm(Timer *t);
bool timer_armed(const Timer *t);      /* NULL-safe */
/* When an armed timer falls due (clock_now_usec() time). */
uint64_t timer_due_usec(const Timer *t);

/*
 * Manual clock only: move the clock forward by @usec and run every timer
 * that falls due, in due order, each at its own due time (the clock is set
 * to it while the handler runs).  Returns the number of handlers run, or
 * -EOPNOTSUPP on the real clock, -ELOOP if timers kept re-arming for now
 * beyond a sane bound.
 */
int timer_advance(uint64_t usec);
