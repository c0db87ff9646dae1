/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <time.h>

#include "clock.h"

static bool manual;
static uint64_t manual_now_usec;

static uint64_t read_clock(clockid_t id)
{
        struct timespec ts;

        clock_gettime(id, &ts);
        return (uint64_t) ts.tv_sec * 1000000ULL + (uint64_t) ts.tv_nsec / 1000ULL;
}

uint64_t clock_now_usec(void)
{
        return manual ? manual_now_usec : read_clock(CLOCK_MONOTONIC);
}

uint64_t clock_realtime_usec(void)
{
        return read_clock(CLOCK_REALTIME);
}

void clock_set_manual(void)
{
        manual_now_usec = read_clock(CLOCK_MONOTONIC);
        manual = true;
}

bool clock_is_manual(void)
{
        return manual;
}

void clock_advance_usec(uint64_t usec)
{
        if (manual)
                manual_now_usec += usec;
}
