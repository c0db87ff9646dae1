/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The in-memory fake of memballoon.ko (see fake-shim.h). */
#include <errno.h>
#include <string.h>

#include "clock.h"
#include "fake-shim.h"
#include "macro.h"

/* As src/kmod/shim.h. */
#define FAKE_MAX_BATCH_PAGES 65536

void fake_shim_init(FakeShim *f, uint32_t transport, uint64_t host_features, uint64_t ram_pages)
{
        *f = (FakeShim) {
                .transport = transport,
                .host_features = transport == MEMBALLOON_TRANSPORT_VIRTIO ? host_features : 0,
                .page_size = 4096,
                .max_batch_pages = FAKE_MAX_BATCH_PAGES,
                .ram_pages = ram_pages,
                .oom_nr_pages = MEMBALLOON_OOM_DEFAULT_BYTES / 4096,
                .host_room_pages = UINT64_MAX,
                .host_page_size = 4096,
        };
}

void fake_shim_api(const FakeShim *f, struct memballoon_api *ret)
{
        *ret = (struct memballoon_api) {
                .argsz = sizeof(*ret),
                .api_version = MEMBALLOON_API_VERSION,
                .page_size = f->page_size,
                .features = MEMBALLOON_FEAT_SIMULATE | MEMBALLOON_FEAT_VIRTIO | MEMBALLOON_FEAT_OOM_NOTIFIER |
                            ((MEMBALLOON_FEAT_STATE_V2 | MEMBALLOON_FEAT_STATS_16 | MEMBALLOON_FEAT_STATS_HOLD |
                              MEMBALLOON_FEAT_STATE_V3 | MEMBALLOON_FEAT_CMM | MEMBALLOON_FEAT_VMWARE) &
                             ~f->features_off),
                .ioctls = 0x7f,
                .max_batch_pages = f->max_batch_pages,
                .event_size = sizeof(struct memballoon_event),
        };
}

uint64_t fake_shim_free_pages(const FakeShim *f)
{
        uint64_t taken = f->used_pages + f->actual_pages;

        return f->ram_pages > taken ? f->ram_pages - taken : 0;
}

/* As the shim's STATE_F_DEFLATE_BELOW_TARGET: simulate, cmm and vmware
 * always; virtio with DEFLATE_ON_OOM.  A test may take the flag away. */
bool fake_shim_deflate_on_oom(const FakeShim *f)
{
        if (f->state_flags_off & MEMBALLOON_STATE_F_DEFLATE_BELOW_TARGET)
                return false;
        return f->transport != MEMBALLOON_TRANSPORT_VIRTIO ||
               (f->host_features & (1ULL << MEMBALLOON_HOST_F_DEFLATE_ON_OOM));
}

/* As the shim: with DEFLATE_ON_OOM negotiated, loaned pages stay in the
 * managed page count (MemTotal), as with the stock driver. */
bool fake_shim_in_totalram(const FakeShim *f)
{
        return f->transport == MEMBALLOON_TRANSPORT_VIRTIO &&
               (f->host_features & (1ULL << MEMBALLOON_HOST_F_DEFLATE_ON_OOM));
}

static uint64_t fake_totalram(const FakeShim *f)
{
        return fake_shim_in_totalram(f) ? f->ram_pages : f->ram_pages - f->actual_pages;
}

bool fake_shim_events_pending(const FakeShim *f)
{
        return f->ev_count > 0;
}

/* As mb_queue_event(): TARGET and MIGRATED coalesce into the latest, a full
 * queue drops the oldest. */
static void queue_event(FakeShim *f, uint32_t type, uint64_t value)
{
        struct memballoon_event *ev;

        if (f->ev_count > 0 && (type == MEMBALLOON_EVENT_TARGET || type == MEMBALLOON_EVENT_MIGRATED)) {
                ev = &f->ev[(f->ev_head + f->ev_count - 1) % FAKE_EVENT_QUEUE_LEN];
                if (ev->type == type) {
                        ev->value = value;
                        ev->time_ns = clock_now_usec() * 1000ULL;
                        return;
                }
        }
        if (f->ev_count == FAKE_EVENT_QUEUE_LEN) {
                f->ev_head = (f->ev_head + 1) % FAKE_EVENT_QUEUE_LEN;
                f->ev_count--;
                f->events_dropped++;
        }
        ev = &f->ev[(f->ev_head + f->ev_count) % FAKE_EVENT_QUEUE_LEN];
        *ev = (struct memballoon_event) {
                .type = type,
                .seq = ++f->ev_seq,
                .value = value,
                .time_ns = clock_now_usec() * 1000ULL,
        };
        f->ev_count++;
}

/* ---- the host and the guest -------------------------------------------- */

void fake_shim_host_set_target(FakeShim *f, uint64_t pages)
{
        f->target_pages = pages;
        queue_event(f, MEMBALLOON_EVENT_TARGET, pages);
}

void fake_shim_host_reset(FakeShim *f)
{
        uint64_t freed = f->actual_pages;

        f->actual_pages = 0;
        f->host_resets++;
        /* It forgot them: they take no room of its now. */
        if (f->host_room_pages != UINT64_MAX)
                f->host_room_pages += freed;
        queue_event(f, MEMBALLOON_EVENT_RESET, freed);
}

void fake_shim_host_request_stats(FakeShim *f)
{
        queue_event(f, MEMBALLOON_EVENT_STATS, 0);
}

uint64_t fake_shim_oom_notify(FakeShim *f)
{
        uint64_t n;

        if (f->oom_nr_pages == 0 || !fake_shim_deflate_on_oom(f))
                return 0;
        n = MIN(f->oom_nr_pages, f->actual_pages);
        if (n == 0)
                return 0;
        f->actual_pages -= n;
        f->oom_freed_pages += n;
        f->oom_events++;
        queue_event(f, MEMBALLOON_EVENT_OOM, n);
        return n;
}

uint64_t fake_shim_workload_grow(FakeShim *f, uint64_t pages)
{
        uint64_t got;

        while (fake_shim_free_pages(f) < pages && fake_shim_oom_notify(f) > 0)
                ;
        got = MIN(pages, fake_shim_free_pages(f));
        f->used_pages += got;
        return got;
}

void fake_shim_workload_shrink(FakeShim *f, uint64_t pages)
{
        f->used_pages -= MIN(pages, f->used_pages);
}

void fake_shim_add_ram(FakeShim *f, uint64_t pages)
{
        f->ram_pages += pages;
}

int fake_shim_meminfo(void *userdata, MemInfo *ret)
{
        const FakeShim *f = userdata;
        uint64_t kib = f->page_size / 1024;

        *ret = (MemInfo) {
                /* MemTotal is totalram_pages(). */
                .total_kib = fake_totalram(f) * kib,
                .free_kib = fake_shim_free_pages(f) * kib,
                .available_kib = fake_shim_free_pages(f) * kib,
                .has_total = true,
                .has_free = true,
                .has_available = true,
        };
        return 0;
}

/* ---- ShimOps ----------------------------------------------------------- */

static int fake_get_state(void *ctx, struct memballoon_state *ret)
{
        FakeShim *f = ctx;
        bool v3 = !(f->features_off & MEMBALLOON_FEAT_STATE_V3);
        uint32_t flags = 0;

        if (f->lost)
                return -ENODEV;
        if (fake_shim_in_totalram(f))
                flags |= MEMBALLOON_STATE_F_BALLOON_IN_TOTALRAM;
        /* Older shims never set it: the daemon must not need it there. */
        if (v3 && fake_shim_deflate_on_oom(f))
                flags |= MEMBALLOON_STATE_F_DEFLATE_BELOW_TARGET;
        *ret = (struct memballoon_state) {
                .argsz = v3 ? sizeof(*ret) : MEMBALLOON_STATE_SIZE_V2,
                .transport = f->transport,
                .host_features = f->host_features,
                .target_pages = f->target_pages,
                .actual_pages = f->actual_pages,
                .total_ram_pages = fake_totalram(f),
                .state_flags = flags & ~f->state_flags_off,
                .oom_freed_pages = f->oom_freed_pages,
                .oom_nr_pages = f->oom_nr_pages,
                .inflate_failures = f->inflate_failures,
                .events_dropped = f->events_dropped,
                .oom_events = f->oom_events,
        };
        /* A v2 shim leaves the bytes beyond its struct as they were: zero. */
        if (v3) {
                ret->declined_transport = f->declined_transport;
                ret->declined_reason = f->declined_reason;
                ret->declined_error = f->declined_error;
                ret->host_page_size = f->host_page_size;
                ret->transport_flags = f->transport_flags;
                ret->host_resets = f->host_resets;
                ret->refused_pages = f->refused_pages;
        }
        return 0;
}

static int fake_batch(void *ctx, bool inflate, struct memballoon_batch *b)
{
        FakeShim *f = ctx;
        uint64_t avail = fake_shim_free_pages(f), n;

        if (f->lost)
                return -ENODEV;
        if (b->argsz != sizeof(*b) || b->flags != 0 || b->reserved0 != 0 ||
            b->nr_pages == 0 || b->nr_pages > f->max_batch_pages) {
                f->invalid_calls++;
                return -EINVAL;
        }
        if (inflate) {
                f->inflate_calls++;
                n = MIN(b->nr_pages, avail);
                b->stop_reason = n < b->nr_pages ? MEMBALLOON_STOP_NOMEM : MEMBALLOON_STOP_DONE;
                if (n > f->host_room_pages) {
                        /* The host takes what it has room for; the shim
                         * frees the rest and stops. */
                        f->refused_pages += n - f->host_room_pages;
                        f->refused_inflates++;
                        n = f->host_room_pages;
                        b->stop_reason = MEMBALLOON_STOP_REFUSED;
                } else if (n < b->nr_pages)
                        f->inflate_failures++;
                else if (f->offline_stops > 0) {
                        /* A memory block going offline: the shim stops. */
                        f->offline_stops--;
                        n /= 2;
                        b->stop_reason = MEMBALLOON_STOP_OFFLINE;
                }
                f->actual_pages += n;
                if (f->host_room_pages != UINT64_MAX)
                        f->host_room_pages -= n;
        } else {
                f->deflate_calls++;
                n = MIN(b->nr_pages, f->actual_pages);
                b->stop_reason = n < b->nr_pages ? MEMBALLOON_STOP_EMPTY : MEMBALLOON_STOP_DONE;
                /* virtio spec 5.5.6.1: as the shim, stop at the host's
                 * target unless DEFLATE_ON_OOM was negotiated; the daemon
                 * should never ask for that (counted as a violation). */
                if (!fake_shim_deflate_on_oom(f) && f->actual_pages - n < f->target_pages) {
                        f->refused_deflates++;
                        n = f->actual_pages > f->target_pages ? f->actual_pages - f->target_pages : 0;
                        b->stop_reason = MEMBALLOON_STOP_HOST_TARGET;
                }
                f->actual_pages -= n;
                if (f->host_room_pages != UINT64_MAX)
                        f->host_room_pages += n;
        }
        b->done_pages = n;
        b->actual_pages = f->actual_pages;
        if (f->batch_hook)
                f->batch_hook(f->hook_userdata, f, inflate, b, avail);
        return 0;
}

static int fake_set_stats(void *ctx, const struct memballoon_stats *st)
{
        FakeShim *f = ctx;

        if (f->lost)
                return -ENODEV;
        if (st->argsz != sizeof(*st) || st->flags != 0 || st->reserved0 != 0 ||
            st->nr_stats > MEMBALLOON_MAX_STATS) {
                f->invalid_calls++;
                return -EINVAL;
        }
        for (uint32_t i = 0; i < st->nr_stats; i++)
                if (st->stats[i].tag >= ((f->features_off & MEMBALLOON_FEAT_STATS_16) ? MEMBALLOON_S_NR_V1 :
                                         MEMBALLOON_S_NR) ||
                    st->stats[i].reserved != 0) {
                        f->invalid_calls++;
                        return -EINVAL;
                }
        f->set_stats_calls++;
        f->last_stats = *st;
        return 0;
}

static int fake_set_oom(void *ctx, uint64_t nr_pages)
{
        FakeShim *f = ctx;

        if (f->lost)
                return -ENODEV;
        if (nr_pages > MEMBALLOON_OOM_MAX_BYTES / f->page_size) {
                f->invalid_calls++;
                return -EINVAL;
        }
        f->set_oom_calls++;
        f->oom_nr_pages = nr_pages;
        return 0;
}

static int fake_sim_set_target(void *ctx, uint64_t target_pages)
{
        FakeShim *f = ctx;

        if (f->lost)
                return -ENODEV;
        /* As the shim: every transport but simulate has a host that owns the target. */
        if (f->transport != MEMBALLOON_TRANSPORT_SIMULATE)
                return -EOPNOTSUPP;
        if (target_pages > f->ram_pages) {
                f->invalid_calls++;
                return -EINVAL;
        }
        f->sim_target_calls++;
        f->target_pages = target_pages;
        queue_event(f, MEMBALLOON_EVENT_TARGET, target_pages);
        return 0;
}

static int fake_read_events(void *ctx, struct memballoon_event *buf, unsigned max)
{
        FakeShim *f = ctx;
        unsigned n = 0;

        if (f->lost)
                return -ENODEV;
        if (max == 0)
                return -EINVAL;
        while (n < max && f->ev_count > 0) {
                buf[n++] = f->ev[f->ev_head];
                f->ev_head = (f->ev_head + 1) % FAKE_EVENT_QUEUE_LEN;
                f->ev_count--;
        }
        return (int) n;
}

const ShimOps fake_shim_ops = {
        .get_state = fake_get_state,
        .batch = fake_batch,
        .set_stats = fake_set_stats,
        .set_oom = fake_set_oom,
        .sim_set_target = fake_sim_set_target,
        .read_events = fake_read_events,
};
