/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * An in-memory fake of memballoon.ko behind the ShimOps table, with a guest
 * model, for unit tests of the Balloon (test-balloon.c).
 *
 * The guest: ram_pages of RAM, used_pages taken by a "workload",
 * actual_pages loaned to the balloon; free = ram - used - actual, and
 * MemAvailable is the free memory (no page cache in this guest).
 *
 * The fake follows the kernel's rules (src/include/uapi/linux/memballoon.h,
 * src/kmod): INFLATE takes min(nr, free) and stops with STOP_NOMEM when free
 * runs out, DEFLATE returns what is held (STOP_EMPTY beyond), nr_pages must be
 * 1..max_batch_pages (-EINVAL), TARGET events coalesce, the OOM notifier
 * releases only in simulate mode or with DEFLATE_ON_OOM negotiated (cmm and
 * vmware always release), GET_STATE fills the version 3 fields only with
 * MEMBALLOON_FEAT_STATE_V3, a host may refuse pages (STOP_REFUSED) or
 * reset and forget them all (EVENT_RESET).  One rule
 * is stricter than the kernel: without DEFLATE_ON_OOM a DEFLATE that would
 * take the balloon below the host's target (virtio spec 5.5.6.1) is refused
 * with -EPERM and counted, so tests can assert that the daemon never asks.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <linux/memballoon.h>

#include "parse.h"
#include "shim.h"

#define FAKE_EVENT_QUEUE_LEN 64

typedef struct FakeShim FakeShim;

/* Called after every valid INFLATE/DEFLATE, with MemAvailable (pages) as it
 * was before the call. */
typedef void (*FakeBatchHook)(void *userdata, const FakeShim *f, bool inflate,
                              const struct memballoon_batch *b, uint64_t avail_before);

struct FakeShim {
        /* The guest and the device. */
        uint32_t transport;             /* MEMBALLOON_TRANSPORT_* */
        uint64_t host_features;         /* bit MEMBALLOON_HOST_F_* */
        uint32_t page_size;
        uint32_t max_batch_pages;
        uint64_t ram_pages;
        uint64_t used_pages;            /* the workload */
        uint64_t actual_pages;          /* loaned */
        uint64_t target_pages;          /* host's (or SIM_SET_TARGET's) */
        uint64_t oom_nr_pages;          /* SET_OOM */
        bool lost;                      /* every call fails with -ENODEV */
        uint64_t features_off;          /* MEMBALLOON_FEAT_* an older shim lacks */
        uint32_t state_flags_off;       /* MEMBALLOON_STATE_F_* the shim does not set */
        uint64_t host_room_pages;       /* pages the host still takes; beyond them it refuses */
        unsigned offline_stops;         /* the next INFLATEs stop half-way with STOP_OFFLINE */

        /* What GET_STATE reports besides. */
        uint64_t oom_freed_pages, oom_events, inflate_failures, events_dropped;
        /* Version 3. */
        uint32_t declined_transport, declined_reason;
        int32_t declined_error;
        uint32_t host_page_size;
        uint64_t transport_flags, host_resets, refused_pages;

        struct memballoon_event ev[FAKE_EVENT_QUEUE_LEN];
        unsigned ev_head, ev_count;
        uint64_t ev_seq;

        /* What the daemon did. */
        uint64_t inflate_calls, deflate_calls;
        uint64_t refused_inflates;      /* INFLATEs that stopped with STOP_REFUSED */
        uint64_t refused_deflates;      /* -EPERM: below the host target without DEFLATE_ON_OOM */
        uint64_t invalid_calls;         /* -EINVAL: bad arguments */
        uint64_t set_stats_calls, set_oom_calls, sim_target_calls;
        struct memballoon_stats last_stats;

        FakeBatchHook batch_hook;
        void *hook_userdata;
};

/* A guest of @ram_pages 4 KiB pages, empty balloon, target 0, OOM release
 * at the kernel's default; a host that takes every page, nothing declined.
 * @transport: any MEMBALLOON_TRANSPORT_*; @host_features count for virtio only. */
void fake_shim_init(FakeShim *f, uint32_t transport, uint64_t host_features, uint64_t ram_pages);
void fake_shim_api(const FakeShim *f, struct memballoon_api *ret);

extern const ShimOps fake_shim_ops;

/* A BalloonMemInfoFn (@userdata a FakeShim *): the guest's /proc/meminfo. */
int fake_shim_meminfo(void *userdata, MemInfo *ret);

uint64_t fake_shim_free_pages(const FakeShim *f);
bool fake_shim_deflate_on_oom(const FakeShim *f);
bool fake_shim_in_totalram(const FakeShim *f);
bool fake_shim_events_pending(const FakeShim *f);

/* The host writes num_pages (virtio): any value, queues a TARGET event. */
void fake_shim_host_set_target(FakeShim *f, uint64_t pages);
/* The host was reset and forgot its pages: as mb_transport_forget_all(),
 * every page goes back to the guest and a RESET event says how many. */
void fake_shim_host_reset(FakeShim *f);
/* The host asks for stats: queues a STATS event. */
void fake_shim_host_request_stats(FakeShim *f);
/* The kernel's OOM notifier runs once: releases up to oom_nr_pages (only in
 * simulate mode or with DEFLATE_ON_OOM) and queues an OOM event.  Returns
 * the pages released. */
uint64_t fake_shim_oom_notify(FakeShim *f);
/* The workload allocates @pages: reclaim calls the OOM notifier while free
 * memory is short and it releases something; the workload gets what is free
 * after that.  Returns the pages it got. */
uint64_t fake_shim_workload_grow(FakeShim *f, uint64_t pages);
void fake_shim_workload_shrink(FakeShim *f, uint64_t pages);
/* Memory hotplug added @pages of RAM. */
void fake_shim_add_ram(FakeShim *f, uint64_t pages);
