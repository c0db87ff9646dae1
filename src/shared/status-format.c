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

static unsigned long long getu(json_object *o, const char *path)
{
        json_object *v = get(o, path);

        return v && json_object_is_type(v, json_type_int) ? (unsigned long long) json_object_get_uint64(v) : 0;
}

static double getd(json_object *o, const char *path)
{
        json_object *v = get(o, path);

        return v && (json_object_is_type(v, json_type_double) || json_object_is_type(v, json_type_int)) ?
               json_object_get_double(v) : 0.0;
}

/* "KSM: enabled, merging (kernel-advisor)" and, when KSM is there, what
 * it does and saves and why. */
static void format_ksm_summary(json_object *st, FILE *f)
{
        json_object *v;
        bool enabled = (v = get(st, "ksm.enabled")) && json_object_get_boolean(v);
        bool avail = (v = get(st, "ksm.available")) && json_object_get_boolean(v);
        const char *problem = gets(st, "ksm.problem");
        char saved[32];

        if (!enabled) {
                fprintf(f, "KSM: disabled\n");
                return;
        }
        fprintf(f, "KSM: enabled, %s (%s)\n", gets(st, "ksm.state"), gets(st, "ksm.mode"));
        if (!avail) {
                fprintf(f, "  %-16s %s\n", "Reason:", gets(st, "ksm.reason"));
                return;
        }
        fprintf(f, "  %-16s run=%llu, %llu pages every %llu ms, ksmd %.1f%% CPU (ceiling %llu%%)\n", "Scanning:",
                getu(st, "ksm.run"), getu(st, "ksm.pages_to_scan"), getu(st, "ksm.sleep_millisecs"),
                getd(st, "ksm.ksmd_cpu_percent"), getu(st, "ksm.max_cpu_percent"));
        format_kib(getu(st, "ksm.saved_kib"), saved, sizeof(saved));
        fprintf(f, "  %-16s %s (pages_sharing %llu, pages_shared %llu)\n", "Saved:", saved,
                getu(st, "ksm.pages_sharing"), getu(st, "ksm.pages_shared"));
        fprintf(f, "  %-16s %s\n", "Last decision:", gets(st, "ksm.reason"));
        if (problem[0] && strcmp(problem, "?") != 0)
                fprintf(f, "  %-16s %s\n", "Problem:", problem);
}

void status_format_ksm(json_object *st, FILE *f)
{
        json_object *v;
        bool avail = (v = get(st, "ksm.available")) && json_object_get_boolean(v);
        char buf[32], buf2[32];

        format_ksm_summary(st, f);
        if (!avail)
                return;
        fprintf(f, "  %-16s %llu\n", "pages_unshared:", getu(st, "ksm.pages_unshared"));
        fprintf(f, "  %-16s %llu\n", "pages_volatile:", getu(st, "ksm.pages_volatile"));
        fprintf(f, "  %-16s %llu\n", "full_scans:", getu(st, "ksm.full_scans"));
        if ((v = get(st, "ksm.profit_kib"))) {
                long long p = json_object_get_int64(v);

                format_kib((unsigned long long) (p < 0 ? -p : p), buf, sizeof(buf));
                fprintf(f, "  %-16s %s%s (saved minus KSM's own metadata)\n", "Profit:", p < 0 ? "-" : "", buf);
        }
        fprintf(f, "  %-16s %.1f MiB per ksmd CPU-second over the last %llu s\n", "Yield:",
                getd(st, "ksm.yield_mib_per_cpu_s"), getu(st, "ksm.interval_s"));
        format_kib(getu(st, "ksm.mem_available_kib"), buf, sizeof(buf));
        format_kib(getu(st, "ksm.threshold_kib"), buf2, sizeof(buf2));
        fprintf(f, "  %-16s %s (memory is tight below %s)\n", "Available:", buf, buf2);
        if (get(st, "ksm.psi_some_avg10"))
                fprintf(f, "  %-16s %.2f%%\n", "PSI some avg10:", getd(st, "ksm.psi_some_avg10"));
        if (getu(st, "ksm.next_probe_sec"))
                fprintf(f, "  %-16s in %llu s\n", "Next probe:", getu(st, "ksm.next_probe_sec"));
        if ((v = get(st, "ksm.paused")) && json_object_get_boolean(v))
                fprintf(f, "  %-16s unmerged on request; \"memballoonctl ksm resume\" lets the policy run again\n",
                        "Paused:");
        fprintf(f, "  %-16s %llu s ago\n", "Policy ran:", getu(st, "ksm.last_run_age_sec"));
}

void status_format_human(json_object *st, FILE *f)
{
        json_object *v;
        unsigned long long up = (v = get(st, "uptime_sec")) ? json_object_get_uint64(v) : 0;
        bool avail = (v = get(st, "balloon.available")) && json_object_get_boolean(v);
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
        format_ksm_summary(st, f);
}
