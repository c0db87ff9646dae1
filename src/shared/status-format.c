/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <inttypes.h>
#include <stdbool.h>
#include <string.h>

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
        print_kib(f, "OOM freed:", st, "balloon.oom_freed_kib");
        if (reason[0])
                fprintf(f, "  %-16s %s\n", "Reason:", reason);
        fprintf(f, "KSM: %s\n", ksm ? "enabled" : "disabled");
}
