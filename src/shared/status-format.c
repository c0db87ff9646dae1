/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <inttypes.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>

#include "status-format.h"

void format_kib(unsigned long long kib, char *buf, size_t size)
{
        if (kib >= 1024ULL * 1024ULL && kib % (1024ULL * 1024ULL) != 0)
                snprintf(buf, size, "%.1f GiB", (double) kib / (1024.0 * 1024.0));
        else if (kib >= 1024ULL * 1024ULL)
                snprintf(buf, size, "%llu GiB", kib / (1024ULL * 1024ULL));
        else if (kib >= 1024ULL)
                snprintf(buf, size, "%llu MiB", kib / 1024ULL);
        else
                snprintf(buf, size, "%llu KiB", kib);
}

/* Look up "a.b" in nested objects. */
static json_object *get(json_object *o, const char *path)
{
        char key[64];
        const char *dot;

        while (o && (dot = strchr(path, '.'))) {
                size_t n = (size_t) (dot - path);

                if (n >= sizeof(key))
                        return NULL;
                memcpy(key, path, n);
                key[n] = '\0';
                if (!json_object_object_get_ex(o, key, &o))
                        return NULL;
                path = dot + 1;
        }
        if (!o || !json_object_object_get_ex(o, path, &o))
                return NULL;
        return o;
}

static const char *gets(json_object *o, const char *path)
{
        json_object *v = get(o, path);

        return v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : "?";
}

static void print_kib(FILE *f, const char *label, json_object *o, const char *path)
{
        json_object *v = get(o, path);
        char buf[32];

        if (v && (json_object_is_type(v, json_type_int))) {
                format_kib((unsigned long long) json_object_get_uint64(v), buf, sizeof(buf));
                fprintf(f, "  %-16s %s\n", label, buf);
        } else
                fprintf(f, "  %-16s ?\n", label);
}

void status_format_human(json_object *st, FILE *f)
{
        json_object *v;
        unsigned long long up = (v = get(st, "uptime_sec")) ? json_object_get_uint64(v) : 0;
        bool avail = (v = get(st, "balloon.available")) && json_object_get_boolean(v);
        bool ksm = (v = get(st, "ksm.enabled")) && json_object_get_boolean(v);
        const char *reason = gets(st, "balloon.reason");

        fprintf(f, "memballoond %s: %s, up %lluh %02llum %02llus\n", gets(st, "version"),
                gets(st, "state"), up / 3600, up / 60 % 60, up % 60);
        fprintf(f, "  %-16s %s\n", "Config:", gets(st, "config.path"));
        fprintf(f, "Balloon: %s (transport %s, source %s)\n", gets(st, "balloon.state"),
                gets(st, "balloon.transport"), gets(st, "balloon.source"));
        if (!avail) {
                fprintf(f, "  %-16s %s: %s\n", "Problem:", gets(st, "balloon.device"),
                        gets(st, "balloon.problem"));
                fprintf(f, "  %-16s %s\n", "Fix:", gets(st, "balloon.fix"));
        }
        print_kib(f, "Host target:", st, "balloon.host_target_kib");
        print_kib(f, "Target:", st, "balloon.target_kib");
        print_kib(f, "Actual:", st, "balloon.actual_kib");
        print_kib(f, "Floor:", st, "balloon.min_mem_kib");
        print_kib(f, "OOM debt:", st, "balloon.oom_debt_kib");
        print_kib(f, "OOM freed:", st, "balloon.oom_freed_kib");
        if (reason[0])
                fprintf(f, "  %-16s %s\n", "Reason:", reason);
        if ((v = get(st, "balloon.last_change.kind"))) {
                char buf[32];
                json_object *k = get(st, "balloon.last_change.kib"), *d = get(st, "balloon.last_change.duration_ms"),
                            *r = get(st, "balloon.last_change.rate_mib_per_sec");

                format_kib(k ? (unsigned long long) json_object_get_uint64(k) : 0, buf, sizeof(buf));
                fprintf(f, "  %-16s %s of %s in %.2f s (%.0f MiB/s)\n", "Last change:", json_object_get_string(v),
                        buf, d ? (double) json_object_get_uint64(d) / 1000.0 : 0.0,
                        r ? json_object_get_double(r) : 0.0);
        }
        if ((v = get(st, "oom.count")) && json_object_get_uint64(v) > 0) {
                json_object *t = get(st, "oom.last_realtime_sec"), *fr = get(st, "oom.freed_kib");
                char when[64] = "?", buf[32];
                time_t tt = t ? (time_t) json_object_get_uint64(t) : 0;
                struct tm tm;

                if (tt && localtime_r(&tt, &tm))
                        strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
                format_kib(fr ? (unsigned long long) json_object_get_uint64(fr) : 0, buf, sizeof(buf));
                fprintf(f, "  %-16s %llu, last at %s, %s released\n", "OOM events:",
                        (unsigned long long) json_object_get_uint64(v), when, buf);
        }
        fprintf(f, "KSM: %s\n", ksm ? "enabled" : "disabled");
}
