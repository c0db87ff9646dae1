/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The status, defined once.
 *
 * STATUS_FIELDS lists every field of "memballoonctl status --json": its
 * id, its dotted path in the JSON object and its type.  The daemon's
 * components each write their own part with status_put_*() (nested objects
 * are created on the way), and memballoonctl reads fields back with
 * status_get*() by the same ids, so a field's name and type exist in
 * exactly one place.  A field a component does not know (KSM's profit on
 * an old kernel, the last change before any change) is simply absent.
 *
 * Paths are part of the interface (scripts and the VM tests read them):
 * add fields freely, never rename one.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <json-c/json.h>

typedef enum StatusType {
        STATUS_STRING,
        STATUS_BOOL,
        STATUS_UINT,            /* unsigned 64-bit */
        STATUS_INT,             /* signed 64-bit */
        STATUS_DOUBLE,
        STATUS_STRINGS,         /* array of strings */
} StatusType;

/* X(ID, "path", TYPE): one line per field, grouped as in the JSON. */
#define STATUS_FIELDS(X) \
        X(VERSION, "version", STRING) \
        X(UPTIME_SEC, "uptime_sec", UINT) \
        X(STATE, "state", STRING) \
        X(BALLOON_AVAILABLE, "balloon.available", BOOL) \
        X(BALLOON_TRANSPORT, "balloon.transport", STRING) \
        X(BALLOON_SOURCE, "balloon.source", STRING) \
        X(BALLOON_DEVICE, "balloon.device", STRING) \
        X(BALLOON_VIRTIO_DEVICE, "balloon.virtio_device", STRING) \
        X(BALLOON_DEVICE_DRIVER, "balloon.device_driver", STRING) \
        X(BALLOON_PROBLEM, "balloon.problem", STRING) \
        X(BALLOON_FIX, "balloon.fix", STRING) \
        X(BALLOON_HOST_TARGET_KIB, "balloon.host_target_kib", UINT) \
        X(BALLOON_TARGET_KIB, "balloon.target_kib", UINT) \
        X(BALLOON_ACTUAL_KIB, "balloon.actual_kib", UINT) \
        X(BALLOON_TOTAL_KIB, "balloon.total_kib", UINT) \
        X(BALLOON_MEMTOTAL, "balloon.memtotal", STRING) \
        X(BALLOON_HOST_BROKEN, "balloon.host_broken", BOOL) \
        X(BALLOON_STATS_REQUESTS, "balloon.stats_requests", UINT) \
        X(BALLOON_STATS_LATE, "balloon.stats_late", UINT) \
        X(BALLOON_MIN_MEM_KIB, "balloon.min_mem_kib", UINT) \
        X(BALLOON_OOM_FREED_KIB, "balloon.oom_freed_kib", UINT) \
        X(BALLOON_OOM_DEBT_KIB, "balloon.oom_debt_kib", UINT) \
        X(BALLOON_AUTO_LOAN, "balloon.auto_loan", BOOL) \
        X(BALLOON_STATS_SENT, "balloon.stats_sent", UINT) \
        X(BALLOON_MIGRATIONS, "balloon.migrations", UINT) \
        X(BALLOON_HOST_FEATURES, "balloon.host_features", UINT) \
        X(BALLOON_HOST_PAGE_SIZE, "balloon.host_page_size", UINT) \
        X(BALLOON_TRANSPORT_FLAGS, "balloon.transport_flags", STRINGS) \
        X(BALLOON_HOST_RESETS, "balloon.host_resets", UINT) \
        X(BALLOON_REFUSED_KIB, "balloon.refused_kib", UINT) \
        X(BALLOON_DECLINED_TRANSPORT, "balloon.declined.transport", STRING) \
        X(BALLOON_DECLINED_REASON, "balloon.declined.reason", STRING) \
        X(BALLOON_DECLINED_ERROR, "balloon.declined.error", INT) \
        X(BALLOON_STATE, "balloon.state", STRING) \
        X(BALLOON_REASON, "balloon.reason", STRING) \
        X(BALLOON_LAST_CHANGE_KIND, "balloon.last_change.kind", STRING) \
        X(BALLOON_LAST_CHANGE_KIB, "balloon.last_change.kib", UINT) \
        X(BALLOON_LAST_CHANGE_DURATION_MS, "balloon.last_change.duration_ms", UINT) \
        X(BALLOON_LAST_CHANGE_RATE, "balloon.last_change.rate_mib_per_sec", DOUBLE) \
        X(BALLOON_PAUSE_ACTIVE, "balloon.pause.active", BOOL) \
        X(BALLOON_PAUSE_REMAINING_MS, "balloon.pause.remaining_ms", UINT) \
        X(BALLOON_PAUSE_REASON, "balloon.pause.reason", STRING) \
        X(OOM_COUNT, "oom.count", UINT) \
        X(OOM_LAST_REALTIME_SEC, "oom.last_realtime_sec", UINT) \
        X(OOM_FREED_KIB, "oom.freed_kib", UINT) \
        X(OOM_DEBT_KIB, "oom.debt_kib", UINT) \
        X(OOM_NOTIFIER_BUSY, "oom.notifier_busy", UINT) \
        X(KSM_ENABLED, "ksm.enabled", BOOL) \
        X(KSM_AVAILABLE, "ksm.available", BOOL) \
        X(KSM_ACTIVE, "ksm.active", BOOL) \
        X(KSM_PAUSED, "ksm.paused", BOOL) \
        X(KSM_MODE, "ksm.mode", STRING) \
        X(KSM_STATE, "ksm.state", STRING) \
        X(KSM_REASON, "ksm.reason", STRING) \
        X(KSM_PROBLEM, "ksm.problem", STRING) \
        X(KSM_RUN, "ksm.run", UINT) \
        X(KSM_PAGES_TO_SCAN, "ksm.pages_to_scan", UINT) \
        X(KSM_SLEEP_MILLISECS, "ksm.sleep_millisecs", UINT) \
        X(KSM_PAGES_SHARING, "ksm.pages_sharing", UINT) \
        X(KSM_PAGES_SHARED, "ksm.pages_shared", UINT) \
        X(KSM_PAGES_UNSHARED, "ksm.pages_unshared", UINT) \
        X(KSM_PAGES_VOLATILE, "ksm.pages_volatile", UINT) \
        X(KSM_FULL_SCANS, "ksm.full_scans", UINT) \
        X(KSM_SAVED_KIB, "ksm.saved_kib", UINT) \
        X(KSM_PROFIT_KIB, "ksm.profit_kib", INT) \
        X(KSM_KSMD_CPU_PERCENT, "ksm.ksmd_cpu_percent", DOUBLE) \
        X(KSM_YIELD, "ksm.yield_mib_per_cpu_s", DOUBLE) \
        X(KSM_MAX_CPU_PERCENT, "ksm.max_cpu_percent", UINT) \
        X(KSM_INTERVAL_S, "ksm.interval_s", UINT) \
        X(KSM_MEM_AVAILABLE_KIB, "ksm.mem_available_kib", UINT) \
        X(KSM_THRESHOLD_KIB, "ksm.threshold_kib", UINT) \
        X(KSM_PSI_SOME_AVG10, "ksm.psi_some_avg10", DOUBLE) \
        X(KSM_LAST_RUN_AGE_SEC, "ksm.last_run_age_sec", UINT) \
        X(KSM_POLICY_RUNS, "ksm.policy_runs", UINT) \
        X(KSM_NEXT_PROBE_SEC, "ksm.next_probe_sec", UINT) \
        X(PRESSURE_SIGNALS, "pressure.signals", STRINGS) \
        X(PRESSURE_PSI_PROBLEM, "pressure.psi_problem", STRING) \
        X(PRESSURE_MEMAVAILABLE_POLLING, "pressure.memavailable_polling", BOOL) \
        X(PRESSURE_RELIEF_BELOW_HOST, "pressure.relief_below_host", BOOL) \
        X(PRESSURE_RELIEF_NOTE, "pressure.relief_note", STRING) \
        X(PRESSURE_COUNT, "pressure.count", UINT) \
        X(PRESSURE_LAST_REALTIME_SEC, "pressure.last_realtime_sec", UINT) \
        X(PRESSURE_LAST_SIGNAL, "pressure.last_signal", STRING) \
        X(PRESSURE_FREED_KIB, "pressure.freed_kib", UINT) \
        X(PRESSURE_LAST_NEED_KIB, "pressure.last_need_kib", UINT) \
        X(HOTPLUG_SOURCE, "hotplug.source", STRING) \
        X(HOTPLUG_EVENTS, "hotplug.events", UINT) \
        X(HOTPLUG_ONLINED, "hotplug.onlined", UINT) \
        X(CONFIG_PATH, "config.path", STRING) \
        X(CONFIG_LOADED_AT_UPTIME_SEC, "config.loaded_at_uptime_sec", UINT) \
        X(CONTROL_SOCKET, "control.socket", STRING) \
        X(CONTROL_CLIENTS, "control.clients", UINT)

typedef enum StatusField {
#define STATUS_FIELD_ID(id_, path_, type_) SF_##id_,
        STATUS_FIELDS(STATUS_FIELD_ID)
#undef STATUS_FIELD_ID
        _SF_MAX,
} StatusField;

typedef struct StatusFieldInfo {
        const char *path;
        StatusType type;
} StatusFieldInfo;

extern const StatusFieldInfo status_fields[_SF_MAX];

/* Writing, for the daemon.  @root is the status object.  A NULL string is
 * written as "".  Each aborts (assert) on a field of another type: that is
 * a programming error.  Allocation failures leave the field out. */
void status_put_string(json_object *root, StatusField f, const char *v);
void status_put_bool(json_object *root, StatusField f, bool v);
void status_put_uint(json_object *root, StatusField f, uint64_t v);
void status_put_int(json_object *root, StatusField f, int64_t v);
void status_put_double(json_object *root, StatusField f, double v);     /* NaN/Inf as 0 */
/* Append one string to a STATUS_STRINGS field (creating it empty if @v is NULL). */
void status_put_strings_add(json_object *root, StatusField f, const char *v);

/* Reading, for memballoonctl.  NULL (or the fallback) when the field is
 * absent or has the wrong JSON type: a reply from another version, or
 * garbage, never crashes the reader. */
json_object *status_get(json_object *root, StatusField f);
const char *status_get_string(json_object *root, StatusField f, const char *fallback);
bool status_get_bool(json_object *root, StatusField f);
uint64_t status_get_uint(json_object *root, StatusField f);
int64_t status_get_int(json_object *root, StatusField f);
double status_get_double(json_object *root, StatusField f);
