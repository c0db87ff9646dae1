/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The daemon's status as one JSON object.  StatusInfo is a plain snapshot
 * the manager fills in; status_to_json() is pure, so the exact shape is unit
 * tested.  memballoonctl renders the human summary from the same JSON.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <json-c/json.h>

typedef struct StatusInfo {
        const char *version;
        uint64_t uptime_sec;
        const char *config_path;
        uint64_t config_loaded_sec;     /* uptime when the config was last loaded */
        const char *daemon_state;       /* "running" | "degraded" */

        bool balloon_available;
        const char *transport;          /* "virtio" | "simulate" | "none" */
        const char *source;             /* balloon.source from config */
        const char *device;             /* device path (after the root seam) */
        const char *problem;            /* why unavailable, or NULL */
        const char *fix;                /* what to do about it, or NULL */
        uint64_t host_target_kib;
        uint64_t target_kib;
        uint64_t actual_kib;
        uint64_t total_kib;             /* guest RAM, loaned pages included */
        uint64_t min_mem_kib;
        uint64_t oom_freed_kib;         /* shim's count since it was loaded */
        uint64_t oom_debt_kib;          /* not taken back yet */
        uint64_t oom_count;             /* OOM events this daemon saw */
        uint64_t oom_last_realtime_sec; /* 0: never */
        uint64_t oom_events_seen_kib;   /* freed by the OOM events this daemon saw */
        uint64_t migrations;
        uint64_t host_features;
        const char *state;              /* "idle" | "inflating" | ... | "unavailable" */
        const char *reason;             /* why actual != target, or "" */

        bool auto_enabled;
        bool last_change_valid;
        const char *last_change_kind;   /* "inflate" | "deflate" */
        uint64_t last_change_kib;
        uint64_t last_change_usec;
        uint64_t stats_sent;

        bool ksm_enabled;

        const char *control_socket;
        unsigned control_clients;
} StatusInfo;

/* Returns a new object (caller owns the reference), or NULL on OOM. */
json_object *status_to_json(const StatusInfo *s);
