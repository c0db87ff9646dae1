/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * memballoond configuration: /etc/memballoond.conf in libconfig syntax.
 *
 * Every key has a default, a range and a unit; the table in config.c is the
 * single source of truth, and memballoond.conf(5) and conf/memballoond.conf
 * document the same table.  Parsing is strict: a syntax error, a wrong type,
 * an out-of-range value, or an unknown group or key rejects the whole file
 * with "FILE:LINE: message" naming the key, and nothing of it is applied.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/*
 * Where the target comes from.  HOST: whichever hypervisor transport the
 * shim binds (virtio, cmm or vmware).  VIRTIO, CMM, VMWARE: that one; with
 * another bound the host's target is still followed (the shim binds what
 * the machine has) and status says so.  SIMULATE: balloon.simulate_target_mb.
 */
typedef enum BalloonSource {
        BALLOON_SOURCE_VIRTIO,
        BALLOON_SOURCE_SIMULATE,
        BALLOON_SOURCE_HOST,
        BALLOON_SOURCE_CMM,
        BALLOON_SOURCE_VMWARE,
} BalloonSource;

typedef enum HotplugOnline {
        HOTPLUG_ONLINE_MOVABLE,
        HOTPLUG_ONLINE_KERNEL,
        HOTPLUG_ONLINE_AUTO,
        HOTPLUG_ONLINE_NONE,
} HotplugOnline;

typedef enum KsmPolicy {
        KSM_POLICY_ADAPTIVE,
        KSM_POLICY_KSMTUNED,
} KsmPolicy;

typedef enum LogTarget {
        LOG_TARGET_AUTO,        /* journal if reachable, else console */
        LOG_TARGET_JOURNAL,
        LOG_TARGET_CONSOLE,
} LogTarget;

typedef struct Config {
        char *path;                     /* file this was loaded from (owned) */

        struct {
                BalloonSource source;   /* "host" | "virtio" | "cmm" | "vmware" | "simulate" */
                uint64_t min_mem_mb;    /* floor the guest never goes below */
                uint64_t simulate_target_mb;
                uint32_t poll_interval_s;       /* safety-net re-read of the target */
                uint32_t inflate_step_mb;       /* largest single INFLATE */
                uint32_t deflate_step_mb;       /* largest single DEFLATE */
                uint32_t hysteresis_mb;         /* ignore smaller changes */
                uint32_t backoff_ms;            /* wait after an allocation failure */
                bool deflate_on_exit;
        } balloon;

        struct {
                bool enabled;
                uint64_t headroom_mb;   /* MemAvailable kept free */
                uint32_t interval_s;
        } auto_loan;                    /* group "auto" */

        struct {
                uint32_t release_mb;    /* per OOM notifier call (SET_OOM) */
                uint32_t debt_decay_mb_per_min; /* 0: debt never decays */
                uint32_t psi_some_ms;   /* PSI trigger: stall ms ... */
                uint32_t psi_window_ms; /* ... per window ms */
                uint64_t min_available_mb;      /* MemAvailable floor signal */
                uint32_t relief_step_mb;        /* deflate per pressure event */
                uint32_t backoff_s;     /* no inflate after pressure */
        } oom;

        struct {
                bool enabled;
                HotplugOnline online;   /* "movable" | "kernel" | "auto" | "none" */
                uint32_t delay_s;
        } hotplug;

        struct {
                bool enabled;
                KsmPolicy policy;       /* "adaptive" | "ksmtuned" */
                uint32_t interval_s;
                uint32_t threshold_percent;     /* of MemTotal, as ksmtuned */
                uint32_t max_cpu_percent;       /* ksmd CPU ceiling */
                uint32_t pages_to_scan_min;
                uint32_t pages_to_scan_max;
                uint32_t sleep_ms_min;
                uint32_t min_yield_mb_per_cpu_s;        /* adaptive: below this merging does not pay */
                bool kernel_advisor;    /* use advisor_mode=scan-time where present */
                uint32_t advisor_target_scan_s;
        } ksm;

        struct {
                uint32_t interval_s;    /* 0: only when the host asks */
        } stats;

        struct {
                char *socket;           /* absolute path (owned) */
                char *group;            /* socket group; "" keeps root's (owned) */
                uint32_t mode;          /* socket file mode, e.g. 0660 */
                uint32_t max_clients;
        } control;

        struct {
                uint32_t level;         /* syslog priority: LOG_ERR..LOG_DEBUG */
                LogTarget target;       /* "auto" | "journal" | "console" */
        } log;
} Config;

/* Fill *c with the defaults of every key.  Returns 0 or -ENOMEM. */
int config_init_defaults(Config *c);

/* Free what *c owns and zero it.  NULL-safe, copes with half-built configs. */
void config_done(Config *c);

/*
 * Parse a config held in a buffer.  @path is used in messages and stored in
 * the result.  On success returns 0 and fills *ret (which the caller later
 * releases with config_done()).  On failure returns a negative errno
 * (-EINVAL for every content problem) and, if @ret_error is not NULL, stores
 * a malloc'ed "PATH:LINE: message" string there; *ret is left untouched.
 */
int config_parse_string(const char *text, const char *path, Config *ret, char **ret_error);

/*
 * Read and parse @path.  Same contract as config_parse_string().  A file
 * that cannot be read gives "PATH: <strerror>" and its negative errno.
 */
int config_load(const char *path, Config *ret, char **ret_error);

/*
 * Write the effective config, every key with its value, in libconfig syntax
 * that config_parse_string() accepts again (round trip).
 */
void config_dump(const Config *c, FILE *f);

/*
 * What changed on reload, worked out in one place from the key table.
 * The arguments after @b name groups ("oom") or keys ("oom.psi_some_ms"),
 * ending with NULL.  True if any of them differs between @a and @b, or if
 * either is NULL (the first configuration: everything is new).
 */
bool config_changed(const Config *a, const Config *b, ...) __attribute__((sentinel));

/* Name strings for enums, as they appear in the file. */
const char *balloon_source_to_string(BalloonSource s);
const char *hotplug_online_to_string(HotplugOnline h);
const char *ksm_policy_to_string(KsmPolicy p);
const char *log_target_to_string(LogTarget t);
const char *log_level_to_string(uint32_t level);
