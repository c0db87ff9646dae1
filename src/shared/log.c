/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>

#define SD_JOURNAL_SUPPRESS_LOCATION
#include <systemd/sd-journal.h>

#include "log.h"

static LogDest log_dest = LOG_DEST_CONSOLE;
static int log_max_level = LOG_INFO;

bool log_journal_available(void)
{
        struct stat st;

        if (!getenv("JOURNAL_STREAM") && !getenv("INVOCATION_ID"))
                return false;
        return stat("/run/systemd/journal/socket", &st) == 0 && S_ISSOCK(st.st_mode);
}

void log_set_dest(LogDest dest)
{
        log_dest = dest;
}

LogDest log_get_dest(void)
{
        return log_dest;
}

void log_set_max_level(int level)
{
        log_max_level = level;
}

int log_get_max_level(void)
{
        return log_max_level;
}

static const char *level_name(int level)
{
        static const char *const names[] = {
                [LOG_EMERG] = "emerg", [LOG_ALERT] = "alert", [LOG_CRIT] = "crit",
                [LOG_ERR] = "error", [LOG_WARNING] = "warning", [LOG_NOTICE] = "notice",
                [LOG_INFO] = "info", [LOG_DEBUG] = "debug",
        };
        return level >= 0 && level <= LOG_DEBUG ? names[level] : "?";
}

/* Journal fields are at most this many; extra ones are dropped. */
#define LOG_MAX_FIELDS 24

int log_full(int level, int error, const char *msgid, const char *const *fields,
             const char *fmt, ...)
{
        char msg[2048];
        int saved = errno;
        int ret = error > 0 ? -error : error;
        va_list ap;

        if (level > log_max_level)
                return ret;

        /* Let "%m" print the error we were handed, not a stale errno. */
        errno = error < 0 ? -error : error;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);

        if (log_dest == LOG_DEST_JOURNAL) {
                struct iovec iov[LOG_MAX_FIELDS + 4];
                char prio[32], mid[64], msgf[sizeof(msg) + 16], errf[32];
                size_t n = 0;

                snprintf(msgf, sizeof(msgf), "MESSAGE=%s", msg);
                iov[n++] = (struct iovec) { msgf, strlen(msgf) };
                snprintf(prio, sizeof(prio), "PRIORITY=%d", level);
                iov[n++] = (struct iovec) { prio, strlen(prio) };
                if (msgid) {
                        snprintf(mid, sizeof(mid), "MESSAGE_ID=%s", msgid);
                        iov[n++] = (struct iovec) { mid, strlen(mid) };
                }
                if (error) {
                        snprintf(errf, sizeof(errf), "ERRNO=%d", error < 0 ? -error : error);
                        iov[n++] = (struct iovec) { errf, strlen(errf) };
                }
                for (size_t i = 0; fields && fields[i] && i < LOG_MAX_FIELDS; i++)
                        iov[n++] = (struct iovec) { (void *) fields[i], strlen(fields[i]) };
                if (sd_journal_sendv(iov, (int) n) >= 0)
                        goto out;
                /* Journal went away: fall through to stderr so nothing is lost. */
        }

        fprintf(stderr, "memballoond[%s]: %s", level_name(level), msg);
        if (log_max_level >= LOG_DEBUG)
                for (size_t i = 0; fields && fields[i]; i++)
                        fprintf(stderr, " %s", fields[i]);
        fputc('\n', stderr);
out:
        errno = saved;
        return ret;
}
