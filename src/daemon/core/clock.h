/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The daemon's one clock.  Every component asks clock_now_usec() for
 * "now" (CLOCK_MONOTONIC) and clock_realtime_usec() for wall-clock stamps
 * shown in status.
 *
 * For tests the clock can be made manual (memballoond --manual-clock, a
 * hidden test seam like --root): time then stands still until
 * timer_advance() moves it, and timers fire only when it does, so a test
 * drives every time-dependent decision explicitly instead of sleeping.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

/* CLOCK_MONOTONIC in microseconds, or the manual clock's value. */
uint64_t clock_now_usec(void);
/* CLOCK_REALTIME in microseconds (the manual clock does not change it). */
uint64_t clock_realtime_usec(void);

/* Switch to the manual clock, starting at the current monotonic time. */
void clock_set_manual(void);
bool clock_is_manual(void);
/* Move the manual clock forward.  No-op on the real clock. */
void clock_advance_usec(uint64_t usec);
