/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <inttypes.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>

#include "status-format.h"
#include "status-schema.h"

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

/* Missing or mistyped fields print as "?": a reply from another version
 * or garbage never crashes the reader. */
static const char *gets(json_object *o, StatusField f)
{
        return status_get_string(o, f, "?");
}

static unsigned long long getu(json_object *o, StatusField f)
{
        return (unsigned long long) status_get_uint(o, f);
}

static void print_kib(FILE *f, const char *label, json_object *o, StatusField field)
{
        char buf[32];

        if (status_get(o, field)) {
                format_kib(getu(o, field), buf, sizeof(buf));
                fprintf(f, "  %-16s %s\n", label, buf);
        } else
                fprintf(f, "  %-16s ?\n", label);
}

/* "KSM: enabled, merging (kernel-advisor)" and, when KSM is there, what
 * it does and saves and why. */
static void format_ksm_summary(json_object *st, FILE *f)
{
        const char *problem = status_get_string(st, SF_KSM_PROBLEM, "");
        char saved[32];

        if (!status_get_bool(st, SF_KSM_ENABLED)) {
                fprintf(f, "KSM: disabled\n");
                return;
        }
        fprintf(f, "KSM: enabled, %s (%s)\n", gets(st, SF_KSM_STATE), gets(st, SF_KSM_MODE));
        if (!status_get_bool(st, SF_KSM_AVAILABLE)) {
                fprintf(f, "  %-16s %s\n", "Reason:", gets(st, SF_KSM_REASON));
                return;
        }
        fprintf(f, "  %-16s run=%llu, %llu pages every %llu ms, ksmd %.1f%% CPU (ceiling %llu%%)\n", "Scanning:",
                getu(st, SF_KSM_RUN), getu(st, SF_KSM_PAGES_TO_SCAN), getu(st, SF_KSM_SLEEP_MILLISECS),
                status_get_double(st, SF_KSM_KSMD_CPU_PERCENT), getu(st, SF_KSM_MAX_CPU_PERCENT));
        format_kib(getu(st, SF_KSM_SAVED_KIB), saved, sizeof(saved));
        fprintf(f, "  %-16s %s (pages_sharing %llu, pages_shared %llu)\n", "Saved:", saved,
                getu(st, SF_KSM_PAGES_SHARING), getu(st, SF_KSM_PAGES_SHARED));
        fprintf(f, "  %-16s %s\n", "Last decision:", gets(st, SF_KSM_REASON));
        if (problem[0])
                fprintf(f, "  %-16s %s\n", "Problem:", problem);
}

void status_format_ksm(json_object *st, FILE *f)
{
        char buf[32], buf2[32];

        format_ksm_summary(st, f);
        if (!status_get_bool(st, SF_KSM_AVAILABLE))
                return;
        fprintf(f, "  %-16s %llu\n", "pages_unshared:", getu(st, SF_KSM_PAGES_UNSHARED));
        fprintf(f, "  %-16s %llu\n", "pages_volatile:", getu(st, SF_KSM_PAGES_VOLATILE));
        fprintf(f, "  %-16s %llu\n", "full_scans:", getu(st, SF_KSM_FULL_SCANS));
        if (status_get(st, SF_KSM_PROFIT_KIB)) {
                long long p = (long long) status_get_int(st, SF_KSM_PROFIT_KIB);

                format_kib((unsigned long long) (p < 0 ? -p : p), buf, sizeof(buf));
                fprintf(f, "  %-16s %s%s (saved minus KSM's own metadata)\n", "Profit:", p < 0 ? "-" : "", buf);
        }
        fprintf(f, "  %-16s %.1f MiB per ksmd CPU-second over the last %llu s\n", "Yield:",
                status_get_double(st, SF_KSM_YIELD), getu(st, SF_KSM_INTERVAL_S));
        format_kib(getu(st, SF_KSM_MEM_AVAILABLE_KIB), buf, sizeof(buf));
        format_kib(getu(st, SF_KSM_THRESHOLD_KIB), buf2, sizeof(buf2));
        fprintf(f, "  %-16s %s (memory is tight below %s)\n", "Available:", buf, buf2);
        if (status_get(st, SF_KSM_PSI_SOME_AVG10))
                fprintf(f, "  %-16s %.2f%%\n", "PSI some avg10:", status_get_double(st, SF_KSM_PSI_SOME_AVG10));
        if (getu(st, SF_KSM_NEXT_PROBE_SEC))
                fprintf(f, "  %-16s in %llu s\n", "Next probe:", getu(st, SF_KSM_NEXT_PROBE_SEC));
        if (status_get_bool(st, SF_KSM_PAUSED))
                fprintf(f, "  %-16s unmerged on request; \"memballoonctl ksm resume\" lets the policy run again\n",
                        "Paused:");
        fprintf(f, "  %-16s %llu s ago\n", "Policy ran:", getu(st, SF_KSM_LAST_RUN_AGE_SEC));
}

/* What a shim with GET_STATE v3 tells of its transport: the size of the
 * pages the host hears of, the transport's flags, and why the last
 * transport that looked for its hypervisor did not bind.  Nothing from an
 * older shim (the fields are absent). */
static void format_transport(json_object *st, FILE *f)
{
        json_object *flags = status_get(st, SF_BALLOON_TRANSPORT_FLAGS);

        if (status_get(st, SF_BALLOON_HOST_PAGE_SIZE)) {
                size_t n = flags ? json_object_array_length(flags) : 0;
                char buf[32];

                format_kib(getu(st, SF_BALLOON_HOST_PAGE_SIZE) / 1024, buf, sizeof(buf));
                fprintf(f, "  %-16s %s", "Host pages:", buf);
                for (size_t i = 0; i < n; i++) {
                        json_object *v = json_object_array_get_idx(flags, i);

                        fprintf(f, "%s%s", i == 0 ? " (" : ", ",
                                json_object_is_type(v, json_type_string) ? json_object_get_string(v) : "?");
                }
                fprintf(f, "%s\n", n ? ")" : "");
        }
        if (status_get(st, SF_BALLOON_DECLINED_TRANSPORT))
                fprintf(f, "  %-16s %s: %s\n", "Declined:", gets(st, SF_BALLOON_DECLINED_TRANSPORT),
                        gets(st, SF_BALLOON_DECLINED_REASON));
}

void status_format_human(json_object *st, FILE *f)
{
        unsigned long long up = getu(st, SF_UPTIME_SEC);
        const char *reason = status_get_string(st, SF_BALLOON_REASON, "");

        fprintf(f, "memballoond %s: %s, up %lluh %02llum %02llus\n", gets(st, SF_VERSION),
                gets(st, SF_STATE), up / 3600, up / 60 % 60, up % 60);
        fprintf(f, "  %-16s %s\n", "Config:", gets(st, SF_CONFIG_PATH));
        fprintf(f, "Balloon: %s (transport %s, source %s)\n", gets(st, SF_BALLOON_STATE),
                gets(st, SF_BALLOON_TRANSPORT), gets(st, SF_BALLOON_SOURCE));
        if (status_get(st, SF_BALLOON_VIRTIO_DEVICE)) {
                const char *vdev = status_get_string(st, SF_BALLOON_VIRTIO_DEVICE, ""),
                           *drv = status_get_string(st, SF_BALLOON_DEVICE_DRIVER, "");

                if (!vdev[0])
                        fprintf(f, "  %-16s %s\n", "Device:", "no virtio-balloon device");
                else
                        fprintf(f, "  %-16s %s, %s%s\n", "Device:", vdev, drv[0] ? "driver " : "no driver",
                                drv);
        }
        format_transport(st, f);
        if (!status_get_bool(st, SF_BALLOON_AVAILABLE)) {
                fprintf(f, "  %-16s %s: %s\n", "Problem:", gets(st, SF_BALLOON_DEVICE), gets(st, SF_BALLOON_PROBLEM));
                fprintf(f, "  %-16s %s\n", "Fix:", gets(st, SF_BALLOON_FIX));
        } else if (status_get_string(st, SF_BALLOON_PROBLEM, "")[0]) {
                fprintf(f, "  %-16s %s\n", "Problem:", gets(st, SF_BALLOON_PROBLEM));
                fprintf(f, "  %-16s %s\n", "Fix:", gets(st, SF_BALLOON_FIX));
        }
        print_kib(f, "Host target:", st, SF_BALLOON_HOST_TARGET_KIB);
        print_kib(f, "Target:", st, SF_BALLOON_TARGET_KIB);
        print_kib(f, "Actual:", st, SF_BALLOON_ACTUAL_KIB);
        if (status_get(st, SF_BALLOON_MEMTOTAL))
                fprintf(f, "  %-16s %s\n", "MemTotal:",
                        strcmp(gets(st, SF_BALLOON_MEMTOTAL), "includes-balloon") == 0 ?
                        "includes the balloon (deflate-on-oom: the guest may take it back, as with the stock driver)" :
                        "excludes the balloon");
        if (status_get_bool(st, SF_BALLOON_HOST_BROKEN))
                fprintf(f, "  %-16s %s\n", "Host:",
                        "the balloon device stopped answering; pages stay loaned until it is removed "
                        "or memballoon.ko is unloaded");
        if (getu(st, SF_BALLOON_HOST_RESETS) > 0)
                fprintf(f, "  %-16s %llu (each emptied the balloon; it grew back to the host's target)\n",
                        "Host resets:", getu(st, SF_BALLOON_HOST_RESETS));
        if (getu(st, SF_BALLOON_REFUSED_KIB) > 0) {
                char buf[32];

                format_kib(getu(st, SF_BALLOON_REFUSED_KIB), buf, sizeof(buf));
                fprintf(f, "  %-16s %s refused by the host since the shim was loaded\n", "Host refused:", buf);
        }
        print_kib(f, "Floor:", st, SF_BALLOON_MIN_MEM_KIB);
        print_kib(f, "OOM debt:", st, SF_BALLOON_OOM_DEBT_KIB);
        print_kib(f, "OOM freed:", st, SF_BALLOON_OOM_FREED_KIB);
        if (reason[0])
                fprintf(f, "  %-16s %s\n", "Reason:", reason);
        if (status_get_bool(st, SF_BALLOON_PAUSE_ACTIVE))
                fprintf(f, "  %-16s %s, %llu ms left\n", "Paused:", gets(st, SF_BALLOON_PAUSE_REASON),
                        getu(st, SF_BALLOON_PAUSE_REMAINING_MS));
        if (status_get(st, SF_BALLOON_LAST_CHANGE_KIND)) {
                char buf[32];

                format_kib(getu(st, SF_BALLOON_LAST_CHANGE_KIB), buf, sizeof(buf));
                fprintf(f, "  %-16s %s of %s in %.2f s (%.0f MiB/s)\n", "Last change:",
                        gets(st, SF_BALLOON_LAST_CHANGE_KIND), buf,
                        (double) getu(st, SF_BALLOON_LAST_CHANGE_DURATION_MS) / 1000.0,
                        status_get_double(st, SF_BALLOON_LAST_CHANGE_RATE));
        }
        if (getu(st, SF_OOM_COUNT) > 0) {
                char when[64] = "?", buf[32];
                time_t tt = (time_t) getu(st, SF_OOM_LAST_REALTIME_SEC);
                struct tm tm;

                if (tt && localtime_r(&tt, &tm))
                        strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
                format_kib(getu(st, SF_OOM_FREED_KIB), buf, sizeof(buf));
                fprintf(f, "  %-16s %llu, last at %s, %s released\n", "OOM events:", getu(st, SF_OOM_COUNT), when,
                        buf);
        }
        if (getu(st, SF_PRESSURE_COUNT) > 0) {
                char buf[32], need[32];

                format_kib(getu(st, SF_PRESSURE_FREED_KIB), buf, sizeof(buf));
                format_kib(getu(st, SF_PRESSURE_LAST_NEED_KIB), need, sizeof(need));
                fprintf(f, "  %-16s %llu, %s returned in all, last (%s) needed %s\n", "Pressure events:",
                        getu(st, SF_PRESSURE_COUNT), buf, gets(st, SF_PRESSURE_LAST_SIGNAL), need);
        }
        format_ksm_summary(st, f);
}
