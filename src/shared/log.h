/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Logging: journald with structured fields when it is there, stderr
 * otherwise.  Every log_*_errno() returns its (negative) error so callers
 * can write "return log_error_errno(r, ...)".  "%m" in a format prints the
 * error passed in.
 */
#pragma once

#include <stdbool.h>
#include <syslog.h>

#include "macro.h"

/* Stable events carry a MESSAGE_ID (see systemd/memballoond.catalog). */
#define MSGID_STARTED           "3c6a5b0f6c0e4d8aa2a4fd3a0b6e1d01"
#define MSGID_STOPPED           "3c6a5b0f6c0e4d8aa2a4fd3a0b6e1d02"
#define MSGID_RELOADED          "3c6a5b0f6c0e4d8aa2a4fd3a0b6e1d03"
#define MSGID_RELOAD_FAILED     "3c6a5b0f6c0e4d8aa2a4fd3a0b6e1d04"
#define MSGID_DEVICE_MISSING    "3c6a5b0f6c0e4d8aa2a4fd3a0b6e1d05"
#define MSGID_DEVICE_FOUND      "3c6a5b0f6c0e4d8aa2a4fd3a0b6e1d06"
#define MSGID_REQUEST_REFUSED   "3c6a5b0f6c0e4d8aa2a4fd3a0b6e1d07"
#define MSGID_CHANGE_STARTED    "3c6a5b0f6c0e4d8aa2a4fd3a0b6e1d08"
#define MSGID_CHANGE_DONE       "3c6a5b0f6c0e4d8aa2a4fd3a0b6e1d09"
#define MSGID_TARGET_CLAMPED    "3c6a5b0f6c0e4d8aa2a4fd3a0b6e1d0a"
#define MSGID_OOM               "3c6a5b0f6c0e4d8aa2a4fd3a0b6e1d0b"
#define MSGID_PRESSURE          "3c6a5b0f6c0e4d8aa2a4fd3a0b6e1d10"
#define MSGID_HOTPLUG           "3c6a5b0f6c0e4d8aa2a4fd3a0b6e1d11"
#define MSGID_DEVICE_OWNER      "3c6a5b0f6c0e4d8aa2a4fd3a0b6e1d12"
#define MSGID_HOST_RESET        "3c6a5b0f6c0e4d8aa2a4fd3a0b6e1d13"
#define MSGID_KSM_STATE         "3c6a5b0f6c0e4d8aa2a4fd3a0b6e1d0c"
#define MSGID_KSM_WRITE_FAILED  "3c6a5b0f6c0e4d8aa2a4fd3a0b6e1d0d"
#define MSGID_KSM_UNMERGE       "3c6a5b0f6c0e4d8aa2a4fd3a0b6e1d0e"

typedef enum LogDest {
        LOG_DEST_CONSOLE,
        LOG_DEST_JOURNAL,
} LogDest;

/* True when stderr is connected to journald or the journal socket exists
 * and we run under systemd (INVOCATION_ID or JOURNAL_STREAM set). */
bool log_journal_available(void);

void log_set_dest(LogDest dest);
LogDest log_get_dest(void);
void log_set_max_level(int level);
int log_get_max_level(void);

/*
 * Log one message.  @fields is NULL or a NULL-terminated array of
 * "KEY=value" journal fields; @msgid is NULL or a MESSAGE_ID.  Returns
 * -abs(error), or 0 when error is 0.
 */
int log_full(int level, int error, const char *msgid, const char *const *fields,
             const char *fmt, ...) _printf_(5, 6);

#define log_debug(...)   log_full(LOG_DEBUG, 0, NULL, NULL, __VA_ARGS__)
#define log_info(...)    log_full(LOG_INFO, 0, NULL, NULL, __VA_ARGS__)
#define log_notice(...)  log_full(LOG_NOTICE, 0, NULL, NULL, __VA_ARGS__)
#define log_warning(...) log_full(LOG_WARNING, 0, NULL, NULL, __VA_ARGS__)
#define log_error(...)   log_full(LOG_ERR, 0, NULL, NULL, __VA_ARGS__)
#define log_debug_errno(e, ...)   log_full(LOG_DEBUG, (e), NULL, NULL, __VA_ARGS__)
#define log_warning_errno(e, ...) log_full(LOG_WARNING, (e), NULL, NULL, __VA_ARGS__)
#define log_error_errno(e, ...)   log_full(LOG_ERR, (e), NULL, NULL, __VA_ARGS__)
#define log_oom_error() log_error_errno(-ENOMEM, "Out of memory")

/* Structured: log_struct(LOG_INFO, MSGID_x, FIELDS("A=1", buf), "fmt", ...) */
#define FIELDS(...) ((const char *const[]) { __VA_ARGS__, NULL })
#define log_struct(level, msgid, fields, ...) log_full((level), 0, (msgid), (fields), __VA_ARGS__)
