/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libudev.h>

#include "hotplug.h"
#include "clock.h"
#include "log.h"
#include "macro.h"
#include "root.h"
#include "timer.h"

/* A block that fails to online is retried this many times, this far apart:
 * enough to ride out a transient -EBUSY, never a busy loop. */
#define ONLINE_RETRIES          3
#define ONLINE_RETRY_USEC       (2ULL * 1000000ULL)
#define STATE_MAX               64

struct Hotplug {
        sd_event *event;
        HotplugPauseFn cb;
        void *userdata;
        struct udev *udev;
        struct udev_monitor *mon;
        sd_event_source *source;
        const char *source_name;
        HotplugOnline policy;
        uint32_t delay_s;
        bool enabled;
        uint64_t events, onlined;
        struct Retry *retries;          /* pending online retries, owned */
};

/* A failed online, tried again later.  Owned by its Hotplug's list. */
typedef struct Retry {
        Hotplug *h;
        Timer *timer;
        char sysname[32];
        unsigned attempt;
        struct Retry *next;
} Retry;

static Retry *retry_free(Retry *rt)
{
        for (Retry **p = &rt->h->retries; *p; p = &(*p)->next)
                if (*p == rt) {
                        *p = rt->next;
                        break;
                }
        timer_free(rt->timer);
        free(rt);
        return NULL;
}

static bool sysname_valid(const char *s)
{
        size_t n;

        if (!s || strncmp(s, "memory", 6) != 0)
                return false;
        n = strlen(s + 6);
        if (n == 0 || n > 9)
                return false;
        for (size_t i = 6; s[i]; i++)
                if (s[i] < '0' || s[i] > '9')
                        return false;
        return true;
}

int hotplug_plan(const char *action, const char *sysname, const char *state, HotplugOnline policy,
                 HotplugPlan *ret)
{
        static const char *const quiet[] = { "change", "move", "bind", "unbind" };

        *ret = (HotplugPlan) {};
        if (!action || !action[0]) {
                ret->why = "event without ACTION";
                return -EINVAL;
        }
        if (!sysname_valid(sysname)) {
                ret->why = "not a memory block (expected memoryN)";
                return -EINVAL;
        }
        for (size_t i = 0; i < ELEMENTSOF(quiet); i++)
                if (strcmp(action, quiet[i]) == 0) {
                        ret->why = "nothing to do for this action";
                        return 0;
                }
        if (strcmp(action, "online") == 0 || strcmp(action, "offline") == 0 || strcmp(action, "remove") == 0) {
                ret->pause = true;
                ret->why = "memory block changed";
                return 0;
        }
        if (strcmp(action, "add") != 0) {
                ret->why = "unknown ACTION";
                return -EINVAL;
        }
        ret->pause = true;
        if (!state) {
                ret->why = "new block, state unreadable: left alone";
                return 0;
        }
        if (strcmp(state, "offline") != 0) {
                ret->why = "new block already online (kernel or udev rule): respected";
                return 0;
        }
        switch (policy) {
        case HOTPLUG_ONLINE_MOVABLE:
                ret->write = "online_movable";
                break;
        case HOTPLUG_ONLINE_KERNEL:
                ret->write = "online_kernel";
                break;
        case HOTPLUG_ONLINE_AUTO:
                ret->write = "online";
                break;
        case HOTPLUG_ONLINE_NONE:
        default:
                ret->why = "new offline block left alone (hotplug.online = \"none\")";
                return 0;
        }
        ret->why = "new offline block";
        return 0;
}

static char *state_path(const char *sysname)
{
        char p[96];

        snprintf(p, sizeof(p), "/sys/devices/system/memory/%s/state", sysname);
        return strdup(p);
}

static int read_state(const char *sysname, char *buf, size_t size)
{
        _cleanup_free_ char *path = state_path(sysname), *text = NULL;
        size_t len;
        int r;

        if (!path)
                return -ENOMEM;
        r = root_read_file(path, STATE_MAX, &text, &len);
        if (r < 0)
                return r;
        while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == ' '))
                text[--len] = '\0';
        snprintf(buf, size, "%s", text);
        return 0;
}

static int write_state(const char *sysname, const char *value)
{
        _cleanup_free_ char *path = state_path(sysname);
        _cleanup_close_ int fd = -1;

        if (!path)
                return -ENOMEM;
        fd = root_open(path, O_WRONLY);
        if (fd < 0)
                return fd;
        if (write(fd, value, strlen(value)) < 0)
                return -errno;
        return 0;
}

static void pause_now(Hotplug *h, const char *why)
{
        if (h->delay_s > 0)
                h->cb(h->userdata, clock_now_usec() + h->delay_s * 1000000ULL, why);
}

static void on_retry(Timer *t, void *userdata);

static void try_online(Hotplug *h, const char *sysname, const char *value, unsigned attempt)
{
        char state[STATE_MAX];
        Retry *rt;
        int r;

        /* Someone (a udev rule, auto_online_blocks) may have won the race. */
        if (read_state(sysname, state, sizeof(state)) >= 0 && strcmp(state, "offline") != 0) {
                log_info("Memory block %s is already %s; leaving it", sysname, state);
                return;
        }
        r = write_state(sysname, value);
        if (r >= 0) {
                char f[64];

                h->onlined++;
                snprintf(f, sizeof(f), "MEMBALLOON_MEMORY_BLOCK=%s", sysname);
                log_struct(LOG_INFO, MSGID_HOTPLUG, FIELDS(f), "Memory block %s onlined as %s", sysname, value);
                pause_now(h, "memory block onlined");
                return;
        }
        if (attempt >= ONLINE_RETRIES) {
                log_error_errno(r, "Memory block %s: writing \"%s\" failed: %m; giving up after %u attempts",
                                sysname, value, attempt);
                return;
        }
        log_warning_errno(r, "Memory block %s: writing \"%s\" failed: %m; retrying in %llu s", sysname, value,
                          ONLINE_RETRY_USEC / 1000000ULL);
        rt = calloc(1, sizeof(*rt));
        if (!rt)
                return;
        rt->h = h;
        rt->attempt = attempt + 1;
        snprintf(rt->sysname, sizeof(rt->sysname), "%s", sysname);
        if (timer_new(h->event, "hotplug-retry", SD_EVENT_PRIORITY_NORMAL, 10000, on_retry, rt, &rt->timer) < 0) {
                free(rt);
                return;
        }
        rt->next = h->retries;
        h->retries = rt;
        timer_rearm(rt->timer, ONLINE_RETRY_USEC);
}

static const char *online_value(HotplugOnline p)
{
        return p == HOTPLUG_ONLINE_MOVABLE ? "online_movable" : p == HOTPLUG_ONLINE_KERNEL ? "online_kernel" : "online";
}

static void on_retry(Timer *t, void *userdata)
{
        Retry *rt = userdata;
        Hotplug *h = rt->h;
        char name[32];
        unsigned attempt = rt->attempt;

        snprintf(name, sizeof(name), "%s", rt->sysname);
        retry_free(rt);
        if (h->enabled && h->policy != HOTPLUG_ONLINE_NONE)
                try_online(h, name, online_value(h->policy), attempt);
}

static int on_uevent(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
        Hotplug *h = userdata;
        struct udev_device *dev;
        const char *action, *sysname;
        char state[STATE_MAX];
        HotplugPlan plan;
        int r;

        dev = udev_monitor_receive_device(h->mon);
        if (!dev)
                return 0;
        h->events++;
        action = udev_device_get_action(dev);
        sysname = udev_device_get_sysname(dev);
        r = sysname && strncmp(sysname, "memory", 6) == 0 && sysname_valid(sysname) ?
                read_state(sysname, state, sizeof(state)) : -EINVAL;
        r = hotplug_plan(action, sysname, r >= 0 ? state : NULL, h->policy, &plan);
        if (r < 0)
                log_notice("Ignoring memory uevent (ACTION=%.32s, name %.64s): %s", action ? action : "(none)",
                           sysname ? sysname : "(none)", plan.why);
        else {
                log_info("Memory uevent %s %s: %s", action, sysname, plan.why);
                if (plan.pause)
                        pause_now(h, "memory block added or removed");
                if (plan.write)
                        try_online(h, sysname, plan.write, 1);
        }
        udev_device_unref(dev);
        return 0;
}

static void monitor_stop(Hotplug *h)
{
        h->source = sd_event_source_disable_unref(h->source);
        h->mon = udev_monitor_unref(h->mon);
        h->udev = udev_unref(h->udev);
        h->source_name = NULL;
}

static int monitor_start(Hotplug *h)
{
        int r;

        h->udev = udev_new();
        if (!h->udev)
                return -ENOMEM;
        /* With udevd, listen to it (its rules may online blocks first);
         * without it (initramfs, containers) take the kernel's events. */
        h->source_name = access("/run/udev/control", F_OK) == 0 ? "udev" : "kernel";
        h->mon = udev_monitor_new_from_netlink(h->udev, h->source_name);
        if (!h->mon)
                return -errno ? -errno : -EIO;
        r = udev_monitor_filter_add_match_subsystem_devtype(h->mon, "memory", NULL);
        if (r >= 0)
                r = udev_monitor_enable_receiving(h->mon);
        if (r >= 0)
                r = sd_event_add_io(h->event, &h->source, udev_monitor_get_fd(h->mon), EPOLLIN, on_uevent, h);
        return r;
}

void hotplug_reconfigure(Hotplug *h, const Config *c, const Config *old)
{
        h->policy = c->hotplug.online;
        h->delay_s = c->hotplug.delay_s;
        if (!config_changed(old, c, "hotplug.enabled", NULL))
                return;
        h->enabled = c->hotplug.enabled;
        if (!h->enabled) {
                monitor_stop(h);
                return;
        }
        if (monitor_start(h) < 0) {
                log_warning("Cannot watch memory hotplug events (libudev monitor on \"%s\"): %s; hotplug handling off",
                            h->source_name ? h->source_name : "?", strerror(errno ? errno : EIO));
                monitor_stop(h);
        } else
                log_debug("Watching memory hotplug events from %s", h->source_name);
}

int hotplug_new(sd_event *event, const Config *c, HotplugPauseFn cb, void *userdata, Hotplug **ret)
{
        Hotplug *h = calloc(1, sizeof(*h));

        if (!h)
                return -ENOMEM;
        h->event = sd_event_ref(event);
        h->cb = cb;
        h->userdata = userdata;
        hotplug_reconfigure(h, c, NULL);
        *ret = h;
        return 0;
}

Hotplug *hotplug_free(Hotplug *h)
{
        if (!h)
                return NULL;
        monitor_stop(h);
        while (h->retries)
                retry_free(h->retries);
        sd_event_unref(h->event);
        free(h);
        return NULL;
}

const char *hotplug_source(const Hotplug *h)
{
        return h && h->source ? h->source_name : NULL;
}

uint64_t hotplug_events(const Hotplug *h)
{
        return h ? h->events : 0;
}

uint64_t hotplug_onlined(const Hotplug *h)
{
        return h ? h->onlined : 0;
}

void hotplug_status(const Hotplug *h, json_object *st)
{
        status_put_string(st, SF_HOTPLUG_SOURCE, hotplug_source(h));
        status_put_uint(st, SF_HOTPLUG_EVENTS, hotplug_events(h));
        status_put_uint(st, SF_HOTPLUG_ONLINED, hotplug_onlined(h));
}
