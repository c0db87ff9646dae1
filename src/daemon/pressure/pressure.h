/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Memory pressure signals: a PSI trigger on /proc/pressure/memory (an
 * EPOLLPRI source on the loop) and, as a second signal that works where PSI
 * triggers do not, MemAvailable polled against oom.min_available_mb (the
 * earlyoom idea).  This file only detects; the controller decides.
 */
#pragma once

#include <stdbool.h>

#include <systemd/sd-event.h>

#include "config.h"
#include "status-schema.h"

typedef struct Pressure Pressure;

/* @signal is "psi" or "memavailable"; @detail a short human text. */
typedef void (*PressureFn)(void *userdata, const char *signal, const char *detail);

/* Start watching.  Signals that cannot be set up are reported by
 * pressure_psi_problem() and logged, not fatal.  -ENOMEM only. */
/* @c must outlive the Pressure (the manager's, updated in place). */
int pressure_new(sd_event *event, const Config *c, PressureFn cb, void *userdata, Pressure **ret);

/* After a reload: @c (given to pressure_new()) holds the new settings,
 * @old the previous ones.  Re-registers the PSI trigger if it changed. */
void pressure_reconfigure(Pressure *p, const Config *old);

Pressure *pressure_free(Pressure *p);

/* Write the signals' part of the status. */
void pressure_status(const Pressure *p, json_object *st);

bool pressure_psi_active(const Pressure *p);
/* The MemAvailable signal is configured (oom.min_available_mb > 0) ... */
bool pressure_memavailable_active(const Pressure *p);
/* ... and polled now: only while pressure_set_poll(p, true), i.e. while the
 * balloon holds pages it could give back (or auto loan is on).  An empty
 * balloon has nothing to relieve, so the daemon does not wake for it. */
bool pressure_memavailable_polling(const Pressure *p);
void pressure_set_poll(Pressure *p, bool want);
/* Why PSI is not active, or NULL. */
const char *pressure_psi_problem(const Pressure *p);

/* Build the trigger text for /proc/pressure/memory ("some 150000 1000000"),
 * microseconds as the kernel wants them.  Pure, for tests. */
int pressure_trigger_format(char *buf, size_t size, unsigned some_ms, unsigned window_ms);
