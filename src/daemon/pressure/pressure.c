/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "macro.h"
#include "parse.h"
#include "pressure.h"
#include "procfs.h"
#include "root.h"
#include "timer.h"

/* MemAvailable is polled once a second while it is well above the floor,
 * and ten times a second within NEAR_FLOOR_FACTOR of it (earlyoom polls up
 * to 10 Hz when memory is low): one read of /proc/meminfo costs ~20 us, and
 * a guest filling memory at 1 GiB/s crosses 100 MiB in 0.1 s.  The PSI
 * trigger is the fast path where reclaim stalls. */
#define MEMAVAIL_POLL_USEC      1000000ULL
#define MEMAVAIL_FAST_POLL_USEC 100000ULL
#define NEAR_FLOOR_FACTOR       2
/* Pressure is acted on at the same priority as control I/O, before steps. */
#define PRESSURE_PRIORITY       SD_EVENT_PRIORITY_IMPORTANT

struct Pressure {
        sd_event *event;
        PressureFn cb;
        void *userdata;
        int psi_fd;
        sd_event_source *psi_source;
        const char *psi_problem;
        Timer *avail_timer;
        bool poll_wanted;               /* the balloon holds something to give */
        const Config *config;           /* the manager's, current */
        uint64_t min_available_kib;
        unsigned some_ms, window_ms;    /* of the trigger in force */
};

int pressure_trigger_format(char *buf, size_t size, unsigned some_ms, unsigned window_ms)
{
        int n;

        if (some_ms == 0 || some_ms >= window_ms)
                return -EINVAL;
        n = snprintf(buf, size, "some %llu %llu", (unsigned long long) some_ms * 1000ULL,
                     (unsigned long long) window_ms * 1000ULL);
        return n < 0 || (size_t) n >= size ? -ENOBUFS : 0;
}

static int on_psi(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
        Pressure *p = userdata;
        char detail[96];

        if (revents & EPOLLERR) {
                /* The trigger's cgroup or file went away: stop watching. */
                log_warning("PSI trigger on /proc/pressure/memory stopped working; relying on MemAvailable");
                p->psi_source = sd_event_source_disable_unref(p->psi_source);
                closep(&p->psi_fd);
                p->psi_fd = -1;
                p->psi_problem = "the PSI trigger stopped working";
                return 0;
        }
        snprintf(detail, sizeof(detail), "memory stall above %u ms in %u ms", p->some_ms, p->window_ms);
        p->cb(p->userdata, "psi", detail);
        return 0;
}

static void psi_close(Pressure *p)
{
        p->psi_source = sd_event_source_disable_unref(p->psi_source);
        if (p->psi_fd >= 0)
                close(p->psi_fd);
        p->psi_fd = -1;
}

static void psi_open(Pressure *p)
{
        char trig[64];
        ssize_t n;
        int r;

        psi_close(p);
        r = pressure_trigger_format(trig, sizeof(trig), p->some_ms, p->window_ms);
        if (r < 0) {
                p->psi_problem = "invalid trigger (oom.psi_some_ms must be below oom.psi_window_ms)";
                return;
        }
        p->psi_fd = root_open("/proc/pressure/memory", O_RDWR | O_NONBLOCK);
        if (p->psi_fd < 0) {
                p->psi_problem = p->psi_fd == -ENOENT ? "the kernel has no PSI (CONFIG_PSI, psi=1)" :
                                 "cannot open /proc/pressure/memory";
                log_notice("PSI memory pressure triggers unavailable: %s (%s); using MemAvailable only",
                           p->psi_problem, strerror(-p->psi_fd));
                p->psi_fd = -1;
                return;
        }
        /* The trigger text includes its NUL, as the kernel's example does. */
        n = write(p->psi_fd, trig, strlen(trig) + 1);
        if (n < 0) {
                r = -errno;
                p->psi_problem = "the kernel refused the PSI trigger";
                log_notice("Writing PSI trigger \"%s\" failed: %s; using MemAvailable only", trig, strerror(-r));
                psi_close(p);
                return;
        }
        r = sd_event_add_io(p->event, &p->psi_source, p->psi_fd, EPOLLPRI, on_psi, p);
        if (r < 0) {
                p->psi_problem = "cannot watch the PSI trigger";
                psi_close(p);
                return;
        }
        (void) sd_event_source_set_priority(p->psi_source, PRESSURE_PRIORITY);
        p->psi_problem = NULL;
        log_debug("PSI trigger \"%s\" registered", trig);
}

static void on_avail_timer(Timer *t, void *userdata)
{
        Pressure *p = userdata;
        uint64_t next = MEMAVAIL_POLL_USEC;
        MemInfo mi;
        int r;

        r = meminfo_read(&mi);
        if (r >= 0 && mi.has_available) {
                if (mi.available_kib < p->min_available_kib * NEAR_FLOOR_FACTOR)
                        next = MEMAVAIL_FAST_POLL_USEC;
                if (mi.available_kib < p->min_available_kib) {
                        char detail[96];

                        snprintf(detail, sizeof(detail), "MemAvailable %llu MiB below %llu MiB",
                                 (unsigned long long) mi.available_kib / 1024,
                                 (unsigned long long) p->min_available_kib / 1024);
                        p->cb(p->userdata, "memavailable", detail);
                }
        }
        /* The callback may have turned the poll off (nothing left to give). */
        if (p->poll_wanted && p->min_available_kib > 0)
                timer_rearm(t, next);
}

static void avail_setup(Pressure *p)
{
        if (p->min_available_kib == 0 || !p->poll_wanted) {
                timer_disarm(p->avail_timer);
                return;
        }
        if (!p->avail_timer &&
            timer_new(p->event, "pressure-memavailable", PRESSURE_PRIORITY, 1000, on_avail_timer, p,
                      &p->avail_timer) < 0)
                return;
        if (!timer_armed(p->avail_timer))
                timer_rearm(p->avail_timer, 0);
}

void pressure_set_poll(Pressure *p, bool want)
{
        if (!p || p->poll_wanted == want)
                return;
        p->poll_wanted = want;
        avail_setup(p);
}

void pressure_reconfigure(Pressure *p, const Config *old)
{
        const Config *c = p->config;
        bool psi_changed = config_changed(old, c, "oom.psi_some_ms", "oom.psi_window_ms", NULL);

        p->some_ms = c->oom.psi_some_ms;
        p->window_ms = c->oom.psi_window_ms;
        p->min_available_kib = c->oom.min_available_mb * 1024;
        if (psi_changed || p->psi_fd < 0)
                psi_open(p);
        avail_setup(p);
}

int pressure_new(sd_event *event, const Config *c, PressureFn cb, void *userdata, Pressure **ret)
{
        Pressure *p = calloc(1, sizeof(*p));

        if (!p)
                return -ENOMEM;
        p->event = sd_event_ref(event);
        p->cb = cb;
        p->userdata = userdata;
        p->psi_fd = -1;
        p->config = c;
        pressure_reconfigure(p, NULL);
        *ret = p;
        return 0;
}

Pressure *pressure_free(Pressure *p)
{
        if (!p)
                return NULL;
        psi_close(p);
        timer_free(p->avail_timer);
        sd_event_unref(p->event);
        free(p);
        return NULL;
}

bool pressure_psi_active(const Pressure *p)
{
        return p && p->psi_source;
}

bool pressure_memavailable_active(const Pressure *p)
{
        return p && p->min_available_kib > 0;
}

bool pressure_memavailable_polling(const Pressure *p)
{
        return p && timer_armed(p->avail_timer);
}

const char *pressure_psi_problem(const Pressure *p)
{
        return p ? p->psi_problem : NULL;
}

void pressure_status(const Pressure *p, json_object *st)
{
        status_put_strings_add(st, SF_PRESSURE_SIGNALS, NULL);
        if (pressure_psi_active(p))
                status_put_strings_add(st, SF_PRESSURE_SIGNALS, "psi");
        if (pressure_memavailable_active(p))
                status_put_strings_add(st, SF_PRESSURE_SIGNALS, "memavailable");
        status_put_string(st, SF_PRESSURE_PSI_PROBLEM, pressure_psi_problem(p));
        status_put_bool(st, SF_PRESSURE_MEMAVAILABLE_POLLING, pressure_memavailable_polling(p));
}
