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

/* KSM, filled by ksm.c (ksm_status()). */
typedef struct KsmStatusInfo {
        bool available;                 /* /sys/kernel/mm/ksm is there */
        bool active;                    /* memballoond holds the knobs */
        bool paused;                    /* unmerged on request; hands off until "ksm resume" */
        const char *mode;               /* "adaptive" | "ksmtuned" | "kernel-advisor" */
        const char *state;              /* "off" | "probing" | "merging" | ... | "disabled" | "unavailable" */
        const char *reason;             /* last decision's reason */
        const char *problem;            /* a failing read or write, or NULL */
        uint64_t run, pages_to_scan, sleep_millisecs;
        uint64_t pages_sharing, pages_shared, pages_unshared, pages_volatile, full_scans;
        uint64_t saved_kib;             /* (pages_sharing + ksm_zero_pages) pages */
        bool has_profit;
        int64_t profit_kib;             /* general_profit: saved minus KSM's metadata */
        bool has_cpu;
        double ksmd_cpu_percent;        /* over the last policy interval */
        double yield_mib_per_cpu_s;
        uint32_t max_cpu_percent;
        uint32_t interval_s;
        uint64_t mem_available_kib, threshold_kib;
        bool has_psi;
        double psi_some_avg10;
        uint64_t last_run_age_sec;      /* since the policy last ran */
        uint64_t policy_runs;           /* snapshots taken since start */
        uint64_t next_probe_sec;        /* adaptive, stopped: until the next probe; 0 none */
} KsmStatusInfo;

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

        /* pressure and hotplug */
        bool psi_active;
        const char *psi_problem;
        bool memavailable_active;
        bool memavailable_polling;      /* polled now (only while there is something to give back) */
        bool relief_below_host;         /* may pressure take pages the host asks for */
        uint64_t pressure_count;
        uint64_t pressure_last_realtime_sec;
        uint64_t pressure_freed_kib;
        uint64_t pressure_need_kib;     /* what the last pressure event needed */
        const char *pressure_last_signal;
        uint64_t pause_remaining_ms;
        const char *pause_reason;
        const char *hotplug_source;     /* "udev" | "kernel" | NULL */
        uint64_t hotplug_events;
        uint64_t hotplug_onlined;

        bool ksm_enabled;
        KsmStatusInfo ksm;

        const char *control_socket;
        unsigned control_clients;
} StatusInfo;

/* Returns a new object (caller owns the reference), or NULL on OOM. */
json_object *status_to_json(const StatusInfo *s);
