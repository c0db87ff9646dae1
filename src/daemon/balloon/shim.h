/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Userspace side of the memballoon.ko ABI: open /dev/memballoon (through
 * the root seam), do the GET_API handshake, read state and events.  Pure
 * wrappers: they return -errno and never log above debug.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
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

/*
 * GET_STATE sized by what the shim said it fills (@s->api.features):
 * sizeof(struct memballoon_state) with MEMBALLOON_FEAT_STATE_V3,
 * MEMBALLOON_STATE_SIZE_V2 with STATE_V2, else MEMBALLOON_STATE_SIZE_V1.
 * The fields beyond what the shim fills are left zero.  Returns 0 or -errno.
 */
int shim_get_state(const Shim *s, struct memballoon_state *ret);

/* The argsz GET_STATE is called with, for a shim of these features. */
uint32_t shim_state_argsz(uint64_t features);

/*
 * The GET_STATE request number for @argsz.  _IOWR() encodes the size of
 * struct memballoon_state, which grew with each version, so a shim built
 * from an older header knows GET_STATE by the number of its own struct's
 * size: 96 bytes (v1), 128 (v2).  A number encoding the argsz we pass is
 * the one that shim's build matches.
 */
unsigned long shim_get_state_request(uint32_t argsz);

/*
 * Read queued events without blocking.  Returns the number of events
 * stored (0 when none), or -errno.
 */
int shim_read_events(const Shim *s, struct memballoon_event *buf, unsigned max);

/* "virtio", "cmm", "vmware", "simulate"; "none" for 0, "unknown" else. */
const char *shim_transport_to_string(uint32_t transport);

/*
 * Does a hypervisor own the target with this transport (virtio, cmm,
 * vmware)?  Then the host's target is followed and SIM_SET_TARGET is
 * refused.  Simulate (and 0, nothing attached) has no host.  A transport
 * this build does not know comes from a newer shim, and every transport
 * but simulate talks to a host, so it counts as one.
 */
bool shim_transport_is_host(uint32_t transport);

/*
 * Why @transport did not bind (memballoon_state.declined_reason and
 * declined_error), as a phrase for status and the log: "no VMware
 * hypervisor", "the hypervisor refused the call (status -2)".  NULL when
 * @reason is 0 (nothing declined).  Writes into @buf only when it needs
 * to (a number in the text).
 */
const char *shim_declined_to_string(uint32_t transport, uint32_t reason, int32_t error, char *buf, size_t size);

/* The name of transport flag @bit (MEMBALLOON_TF_*: "2m-pages", "doorbell",
 * "batched", "host-2m"), NULL for a bit this build does not know. */
const char *shim_transport_flag_to_string(unsigned bit);

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
