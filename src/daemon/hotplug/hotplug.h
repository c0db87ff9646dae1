/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Memory hotplug from userspace, as arch/powerpc/platforms/pseries/cmm.c
 * does it in the kernel: a libudev monitor on subsystem "memory" onlines
 * new blocks by hotplug.online policy and pauses loaning for
 * hotplug.delay_s around every block that comes or goes.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <systemd/sd-event.h>

#include "config.h"
#include "status-schema.h"

typedef struct Hotplug Hotplug;

/* Called when a pause starts or is extended; @until_usec is CLOCK_MONOTONIC. */
typedef void (*HotplugPauseFn)(void *userdata, uint64_t until_usec, const char *why);

int hotplug_new(sd_event *event, const Config *c, HotplugPauseFn cb, void *userdata, Hotplug **ret);
/* Apply @c; @old is the previous config (NULL at start). */
void hotplug_reconfigure(Hotplug *h, const Config *c, const Config *old);
Hotplug *hotplug_free(Hotplug *h);

/* Write the hotplug part of the status. */
void hotplug_status(const Hotplug *h, json_object *st);

/* "udev", "kernel", or NULL when not watching. */
const char *hotplug_source(const Hotplug *h);
uint64_t hotplug_events(const Hotplug *h);
uint64_t hotplug_onlined(const Hotplug *h);

typedef struct HotplugPlan {
        bool pause;             /* pause loaning for hotplug.delay_s */
        const char *write;      /* text to write to memoryN/state, or NULL */
        const char *why;        /* for the log */
} HotplugPlan;

/*
 * Decide what to do with one uevent.  Pure, for tests.  @state is the
 * block's current memoryN/state ("online", "offline", ...) or NULL when it
 * could not be read.  Returns 0 and *ret, or -EINVAL for an event that is
 * not about a memory block or is malformed (ret->why says why); such
 * events are logged and ignored.
 */
int hotplug_plan(const char *action, const char *sysname, const char *state, HotplugOnline policy,
                 HotplugPlan *ret);
