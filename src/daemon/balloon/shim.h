/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Userspace side of the memballoon.ko ABI: open /dev/memballoon (through
 * the root seam), do the GET_API handshake, read state and events.  Pure
 * wrappers: they return -errno and never log above debug.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <linux/memballoon.h>

#define SHIM_DEVICE_PATH "/dev/" MEMBALLOON_DEVICE_NAME

typedef struct Shim {
        int fd;
        struct memballoon_api api;
} Shim;

/*
 * Open the device for writing and check the API.  Returns 0 and fills
 * *ret, or:
 *   -ENOENT     device node missing (module not loaded)
 *   -EACCES/-EPERM  not allowed (needs CAP_SYS_ADMIN)
 *   -EBUSY      another process holds the device for writing
 *   -ENOTTY     the node is not a memballoon device
 *   -EPROTO     the module speaks an API version we do not know
 * *ret_detail (optional) gets a short static explanation.
 */
int shim_open(Shim *ret, const char **ret_detail);

void shim_close(Shim *s);

int shim_get_state(const Shim *s, struct memballoon_state *ret);

/*
 * Read queued events without blocking.  Returns the number of events
 * stored (0 when none), or -errno.
 */
int shim_read_events(const Shim *s, struct memballoon_event *buf, unsigned max);

const char *shim_transport_to_string(uint32_t transport);

/*
 * What the balloon controller needs from the shim, as a table, so the
 * controller runs on the real device (shim_ops, @ctx a Shim *) or on the
 * in-memory fake of the unit tests (tests/unit/fake-shim.c).  Every call
 * returns 0 (or a count) or -errno, as the ioctl would.
 */
typedef struct ShimOps {
        int (*get_state)(void *ctx, struct memballoon_state *ret);
        /* INFLATE (@inflate) or DEFLATE of @b->nr_pages; fills the rest of @b. */
        int (*batch)(void *ctx, bool inflate, struct memballoon_batch *b);
        int (*set_stats)(void *ctx, const struct memballoon_stats *st);
        int (*set_oom)(void *ctx, uint64_t nr_pages);
        int (*sim_set_target)(void *ctx, uint64_t target_pages);
        /* Queued events without blocking: how many were stored, or -errno. */
        int (*read_events)(void *ctx, struct memballoon_event *buf, unsigned max);
} ShimOps;

extern const ShimOps shim_ops;
