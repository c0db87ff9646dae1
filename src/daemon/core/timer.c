/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <stdlib.h>

#include "clock.h"
#include "macro.h"
#include "timer.h"

/* A timer_advance() that runs more handlers than this is re-arming for
 * "now" in a loop; stop rather than hang the test. */
#define ADVANCE_MAX_RUNS        100000

struct Timer {
        sd_event_source *source;
        TimerFn fn;
        void *userdata;
        bool armed;
        bool real_clock;                /* ignores the manual clock */
        uint64_t due_usec;              /* clock_now_usec() time */
        Timer *next;                    /* all timers, for timer_advance() */
};

static Timer *timers;

static void unlink_timer(Timer *t)
{
        for (Timer **p = &timers; *p; p = &(*p)->next)
                if (*p == t) {
                        *p = t->next;
                        return;
                }
}

static void fire(Timer *t)
{
        t->armed = false;
        (void) sd_event_source_set_enabled(t->source, SD_EVENT_OFF);
        t->fn(t, t->userdata);
}

static int on_time(sd_event_source *s, uint64_t usec, void *userdata)
{
        Timer *t = userdata;

        if (t->armed)
                fire(t);
        return 0;
}

int timer_new(sd_event *event, const char *name, int64_t priority, uint64_t accuracy_usec, TimerFn fn,
              void *userdata, Timer **ret)
{
        Timer *t;
        int r;

        t = calloc(1, sizeof(*t));
        if (!t)
                return -ENOMEM;
        /* Created far in the future and off; timer_rearm() sets the time. */
        r = sd_event_add_time(event, &t->source, CLOCK_MONOTONIC, UINT64_MAX, MAX(accuracy_usec, 1), on_time, t);
        if (r < 0) {
                free(t);
                return r;
        }
        (void) sd_event_source_set_enabled(t->source, SD_EVENT_OFF);
        (void) sd_event_source_set_priority(t->source, priority);
        (void) sd_event_source_set_description(t->source, name);
        t->fn = fn;
        t->userdata = userdata;
        t->next = timers;
        timers = t;
        *ret = t;
        return 0;
}

Timer *timer_free(Timer *t)
{
        if (!t)
                return NULL;
        unlink_timer(t);
        sd_event_source_disable_unref(t->source);
        free(t);
        return NULL;
}

void timer_set_real_clock(Timer *t)
{
        t->real_clock = true;
}

void timer_rearm(Timer *t, uint64_t delay_usec)
{
        t->armed = true;
        t->due_usec = clock_now_usec() + delay_usec;
        if (clock_is_manual() && delay_usec > 0 && !t->real_clock) {
                (void) sd_event_source_set_enabled(t->source, SD_EVENT_OFF);
                return;
        }
        /* On the manual clock a delay of 0 still runs from the loop, at
         * once (its real-time delay is 0 too). */
        (void) sd_event_source_set_time_relative(t->source, delay_usec);
        (void) sd_event_source_set_enabled(t->source, SD_EVENT_ONESHOT);
}

void timer_disarm(Timer *t)
{
        if (!t)
                return;
        t->armed = false;
        (void) sd_event_source_set_enabled(t->source, SD_EVENT_OFF);
}

bool timer_armed(const Timer *t)
{
        return t && t->armed;
}

uint64_t timer_due_usec(const Timer *t)
{
        return t->due_usec;
}

int timer_advance(uint64_t usec)
{
        uint64_t end;
        int runs = 0;

        if (!clock_is_manual())
                return -EOPNOTSUPP;
        end = clock_now_usec() + usec;
        for (;;) {
                Timer *first = NULL;

                for (Timer *t = timers; t; t = t->next)
                        if (t->armed && !t->real_clock && t->due_usec <= end && (!first || t->due_usec < first->due_usec))
                                first = t;
                if (!first)
                        break;
                if (++runs > ADVANCE_MAX_RUNS)
                        return -ELOOP;
                /* Run it at its own due time, so what it measures and the
                 * next time it arms for are exact. */
                if (first->due_usec > clock_now_usec())
                        clock_advance_usec(first->due_usec - clock_now_usec());
                fire(first);
        }
        if (end > clock_now_usec())
                clock_advance_usec(end - clock_now_usec());
        return runs;
}
