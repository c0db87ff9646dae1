/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * memballoond configuration: schema, parser, validation and dump.
 *
 * config_keys[] below is the single source of truth.  Defaults, type and
 * range checks, error messages and config_dump() are all driven by it;
 * conf/memballoond.conf and memballoond.conf(5) document the same table and
 * tests/unit/test-config.c checks that the shipped file agrees with it.
 *
 * Two libconfig 1.5 quirks shape this file:
 *  - Integer literals are converted with atoi()/strtoul() and silently wrap:
 *    "min_mem_mb = 4294967552;" reads as 256.  We therefore re-scan the text
 *    for integer literals (scan_text()) and range-check the value as written.
 *  - A leading 0 does not mean octal ("0660" reads as 660), so control.mode
 *    is written as a string of octal digits.
 * We also refuse "@include": the daemon's config is one file, which keeps
 * "FILE:LINE" unambiguous and config_dump() a faithful copy.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE     /* asprintf(), reallocarray(); configure passes it too */
#endif

#include "config.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <libconfig.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <sys/un.h>
#include <syslog.h>

#include "config-scan.h"
#include "macro.h"

/* Enums are stored through a uint32_t; make sure that is their size. */
_Static_assert(sizeof(BalloonSource) == sizeof(uint32_t), "enum size");
_Static_assert(sizeof(HotplugOnline) == sizeof(uint32_t), "enum size");
_Static_assert(sizeof(KsmPolicy) == sizeof(uint32_t), "enum size");
_Static_assert(sizeof(LogTarget) == sizeof(uint32_t), "enum size");

/*
 * virtio-balloon's num_pages and actual are le32 counts of 4 KiB pages, so
 * no balloon (and no sensible memory size to reason about) exceeds
 * 2^32 * 4 KiB = 16 TiB = 16777216 MiB.
 */
#define MEM_MB_MAX 16777216
/* Time limits that catch unit mistakes (ms for s) yet allow any real use. */
#define SEC_MAX 86400           /* one day */
#define MSEC_MAX 60000          /* one minute */
/* Step sizes: one step is one ioctl; 16 GiB is far beyond a useful step. */
#define STEP_MB_MAX 16384
/* sun_path is 108 bytes on Linux, one of them the terminating NUL. */
#define SOCKET_PATH_MAX ((int64_t) sizeof(((struct sockaddr_un *) NULL)->sun_path) - 1)
/* useradd/groupadd accept names of at most 32 characters. */
#define GROUP_NAME_MAX 32
/* A config file is a few KiB; refuse to slurp anything absurd. */
#define CONFIG_FILE_MAX (1024 * 1024)

typedef enum KeyType {
        KEY_INT,        /* integer in a uint32_t or uint64_t field */
        KEY_BOOL,       /* bool field */
        KEY_STRING,     /* owned char * field; min..max bound its length */
        KEY_ENUM,       /* string naming one of ->values, uint32_t-sized field */
        KEY_MODE,       /* file mode as a string of octal digits, uint32_t field */
} KeyType;

typedef enum KeyFlags {
        KEY_ABSOLUTE_PATH = 1 << 0,     /* string must be an absolute file name */
        KEY_GROUP_NAME = 1 << 1,        /* string must be "" or a valid group name */
} KeyFlags;

typedef struct EnumValue {
        const char *name;
        uint32_t value;
} EnumValue;

typedef struct ConfigKey {
        const char *group;
        const char *name;
        KeyType type;
        size_t offset;
        size_t size;
        int64_t def;                    /* KEY_INT, KEY_BOOL, KEY_ENUM, KEY_MODE */
        const char *def_str;            /* KEY_STRING */
        int64_t min, max;               /* value, or string length for KEY_STRING */
        const char *unit;               /* NULL if the value has none */
        const EnumValue *values;        /* KEY_ENUM */
        size_t n_values;
        unsigned flags;                 /* KeyFlags */
        const char *doc;                /* one line, for humans */
} ConfigKey;

static const EnumValue balloon_source_values[] = {
        { "host", BALLOON_SOURCE_HOST },
        { "virtio", BALLOON_SOURCE_VIRTIO },
        { "cmm", BALLOON_SOURCE_CMM },
        { "vmware", BALLOON_SOURCE_VMWARE },
        { "simulate", BALLOON_SOURCE_SIMULATE },
};

static const EnumValue hotplug_online_values[] = {
        { "movable", HOTPLUG_ONLINE_MOVABLE },
        { "kernel", HOTPLUG_ONLINE_KERNEL },
        { "auto", HOTPLUG_ONLINE_AUTO },
        { "none", HOTPLUG_ONLINE_NONE },
};

static const EnumValue ksm_policy_values[] = {
        { "adaptive", KSM_POLICY_ADAPTIVE },
        { "ksmtuned", KSM_POLICY_KSMTUNED },
};

static const EnumValue log_target_values[] = {
        { "auto", LOG_TARGET_AUTO },
        { "journal", LOG_TARGET_JOURNAL },
        { "console", LOG_TARGET_CONSOLE },
};

/* The names systemd and syslog use for these priorities. */
static const EnumValue log_level_values[] = {
        { "err", LOG_ERR },
        { "warning", LOG_WARNING },
        { "notice", LOG_NOTICE },
        { "info", LOG_INFO },
        { "debug", LOG_DEBUG },
};

#define FIELD(f) .offset = offsetof(Config, f), .size = sizeof(((Config *) NULL)->f)

#define INT_KEY(g, n, f, d, lo, hi, u, doc_)                                    \
        { .group = g, .name = n, .type = KEY_INT, FIELD(f), .def = d,           \
          .min = lo, .max = hi, .unit = u, .doc = doc_ }

#define BOOL_KEY(g, n, f, d, doc_)                                              \
        { .group = g, .name = n, .type = KEY_BOOL, FIELD(f), .def = d,          \
          .min = 0, .max = 1, .doc = doc_ }

#define STRING_KEY(g, n, f, d, lo, hi, fl, doc_)                                \
        { .group = g, .name = n, .type = KEY_STRING, FIELD(f), .def_str = d,    \
          .min = lo, .max = hi, .unit = "characters", .flags = fl, .doc = doc_ }

#define ENUM_KEY(g, n, f, d, vals, doc_)                                        \
        { .group = g, .name = n, .type = KEY_ENUM, FIELD(f), .def = d,          \
          .values = vals, .n_values = ELEMENTSOF(vals), .doc = doc_ }

#define MODE_KEY(g, n, f, d, hi, doc_)                                          \
        { .group = g, .name = n, .type = KEY_MODE, FIELD(f), .def = d,          \
          .min = 0, .max = hi, .unit = "octal", .doc = doc_ }

static const ConfigKey config_keys[] = {
        /* balloon: the target and how we move towards it */
        /* host: the shim binds what the machine has, so one config fits
         * virtio, pSeries and VMware guests alike. */
        ENUM_KEY("balloon", "source", balloon.source, BALLOON_SOURCE_HOST, balloon_source_values,
                 "Where the target comes from: the hypervisor through whichever transport the shim binds (host), "
                 "one named transport (virtio, cmm, vmware), or balloon.simulate_target_mb (simulate)."),
        /* cmm.c: CMM_MIN_MEM_MB 256 */
        INT_KEY("balloon", "min_mem_mb", balloon.min_mem_mb, 256, 0, MEM_MB_MAX, "MiB",
                "Memory the guest always keeps; the balloon never grows past MemTotal minus this."),
        /* cmm.c simulate_loan_target_kb: the balloon size the admin asks for */
        INT_KEY("balloon", "simulate_target_mb", balloon.simulate_target_mb, 0, 0, MEM_MB_MAX, "MiB",
                "Balloon size to reach when balloon.source is simulate."),
        /* Our choice: the target normally arrives by event; this only catches a lost one. */
        INT_KEY("balloon", "poll_interval_s", balloon.poll_interval_s, 60, 0, SEC_MAX, "s",
                "While pages are loaned or a target is set, re-read the target this often in case an event was missed; 0 disables."),
        /*
         * Our choice: 64 MiB is 16384 pages, 64 round trips of the stock
         * driver's 256-PFN array, short enough that the loop stays responsive.
         */
        INT_KEY("balloon", "inflate_step_mb", balloon.inflate_step_mb, 64, 1, STEP_MB_MAX, "MiB",
                "Largest single inflate step; the event loop runs between steps."),
        /* DESIGN.md: deflate fast, so steps are larger than inflate steps. */
        INT_KEY("balloon", "deflate_step_mb", balloon.deflate_step_mb, 256, 1, STEP_MB_MAX, "MiB",
                "Largest single deflate step."),
        /* Our choice: 4 MiB is 1024 pages, noise compared with any target change worth acting on. */
        INT_KEY("balloon", "hysteresis_mb", balloon.hysteresis_mb, 4, 0, 1024, "MiB",
                "Ignore target changes smaller than this."),
        /* virtio_balloon.c fill_balloon(): msleep(200) when allocation fails. */
        INT_KEY("balloon", "backoff_ms", balloon.backoff_ms, 200, 1, MSEC_MAX, "ms",
                "Wait this long before inflating again after an allocation failure."),
        /* DESIGN.md 5: the balloon survives a daemon exit unless asked otherwise. */
        BOOL_KEY("balloon", "deflate_on_exit", balloon.deflate_on_exit, false,
                 "Return every page to the guest when the daemon exits."),

        /* auto: loan what the guest does not need */
        BOOL_KEY("auto", "enabled", auto_loan.enabled, false,
                 "Loan memory the guest does not need on top of the host's target."),
        /* Our choice: 512 MiB covers a burst of page cache and a process start. */
        INT_KEY("auto", "headroom_mb", auto_loan.headroom_mb, 512, 0, MEM_MB_MAX, "MiB",
                "MemAvailable that auto loaning always leaves free."),
        INT_KEY("auto", "interval_s", auto_loan.interval_s, 10, 1, SEC_MAX, "s",
                "How often auto loaning re-evaluates MemAvailable."),

        /* oom: giving memory back under pressure */
        /* cmm.c CMM_OOM_KB 1024; virtio_balloon.c OOM_VBALLOON_PAGES 256 (1 MiB). */
        INT_KEY("oom", "release_mb", oom.release_mb, 64, 0, 1024, "MiB",
                "Memory the shim's OOM notifier frees per call; 0 disables the notifier."),
        /* cmm.c never re-loans oom_freed_pages on its own (0 here).  A host
         * that asked for memory should get it back once the spike is over.
         * Repayment starts only after oom.backoff_s without pressure, and
         * inflation never takes MemAvailable below its floor plus one step,
         * so it can be quick: 1 GiB a minute re-loans a 574 MiB loan
         * (issue 9's libvirt case) in 34 s, where 16 MiB/min took 36 min. */
        INT_KEY("oom", "debt_decay_mb_per_min", oom.debt_decay_mb_per_min, 1024, 0, MEM_MB_MAX, "MiB/min",
                "After oom.backoff_s without pressure, re-loan memory released on pressure or OOM at this rate; 0 keeps it until reset-oom."),
        /* Documentation/accounting/psi.rst example trigger: "some 150000 1000000". */
        INT_KEY("oom", "psi_some_ms", oom.psi_some_ms, 150, 1, 10000, "ms",
                "PSI memory trigger: stall time that fires it, per oom.psi_window_ms."),
        /* kernel/sched/psi.c: WINDOW_MIN_US 500000, WINDOW_MAX_US 10000000. */
        INT_KEY("oom", "psi_window_ms", oom.psi_window_ms, 1000, 500, 10000, "ms",
                "PSI memory trigger window."),
        /* Our choice: below 128 MiB available the guest is close to reclaim storms. */
        INT_KEY("oom", "min_available_mb", oom.min_available_mb, 128, 0, MEM_MB_MAX, "MiB",
                "Treat MemAvailable below this as memory pressure."),
        /* Measured (bench/pressure-compare, issue 9): what relief returns
         * beyond a user's need is this margin plus MemAvailable's jitter
         * (up to ~15 MiB); 64 MiB returned up to 78 MiB too much, 32 keeps
         * it under 64 while the 10 Hz poll near the floor still sees a
         * user growing at 150 MiB/s before it takes the margin. */
        INT_KEY("oom", "relief_step_mb", oom.relief_step_mb, 32, 1, STEP_MB_MAX, "MiB",
                "Margin above oom.min_available_mb: relief gives back until MemAvailable is back at the floor plus this, inflation stops there, and a PSI stall gives back this much."),
        INT_KEY("oom", "backoff_s", oom.backoff_s, 30, 0, SEC_MAX, "s",
                "Do not inflate for this long after a pressure episode; pressure returning soon after doubles it, up to 8x."),

        /* hotplug: memory blocks coming and going */
        BOOL_KEY("hotplug", "enabled", hotplug.enabled, true,
                 "Watch memory hotplug: online new blocks and pause loaning around changes."),
        /* Documentation/admin-guide/mm/memory-hotplug.rst: online_movable keeps blocks removable. */
        ENUM_KEY("hotplug", "online", hotplug.online, HOTPLUG_ONLINE_MOVABLE, hotplug_online_values,
                 "How to online new blocks: movable, kernel, auto, or none (leave it to auto_online_blocks)."),
        /* cmm.c: CMM_HOTPLUG_DELAY 5 */
        INT_KEY("hotplug", "delay_s", hotplug.delay_s, 5, 0, SEC_MAX, "s",
                "Pause loaning this long after a block goes online or offline."),

        /* ksm: tuning ksmd */
        BOOL_KEY("ksm", "enabled", ksm.enabled, false,
                 "Let memballoond run and tune KSM."),
        ENUM_KEY("ksm", "policy", ksm.policy, KSM_POLICY_ADAPTIVE, ksm_policy_values,
                 "adaptive also weighs merge yield and ksmd CPU cost; ksmtuned copies ksmtuned."),
        /*
         * 0: each policy's own.  ksmtuned: KSM_MONITOR_INTERVAL=60.  The
         * adaptive policy measures yield and CPU share per interval and
         * reacts one interval late, so it runs every 10 s (ksm-policy.c).
         */
        INT_KEY("ksm", "interval_s", ksm.interval_s, 0, 0, SEC_MAX, "s",
                "How often the KSM policy runs; 0: the policy's own (adaptive 10 s, ksmtuned 60 s)."),
        /* ksmtuned: KSM_THRES_COEF=20 */
        INT_KEY("ksm", "threshold_percent", ksm.threshold_percent, 20, 0, 100, "percent",
                "Scan when free memory is below this share of MemTotal."),
        /* Our choice: ksmd may take a tenth of one CPU. */
        INT_KEY("ksm", "max_cpu_percent", ksm.max_cpu_percent, 10, 1, 100, "percent",
                "Ceiling on ksmd's CPU use (adaptive policy)."),
        /* ksmtuned: KSM_NPAGES_MIN=64 */
        INT_KEY("ksm", "pages_to_scan_min", ksm.pages_to_scan_min, 64, 1, 1000000, "pages",
                "Lower bound for /sys/kernel/mm/ksm/pages_to_scan."),
        /* ksmtuned: KSM_NPAGES_MAX=1250 */
        INT_KEY("ksm", "pages_to_scan_max", ksm.pages_to_scan_max, 1250, 1, 1000000, "pages",
                "Upper bound for /sys/kernel/mm/ksm/pages_to_scan."),
        /* ksmtuned: KSM_SLEEP_MSEC=10, and it never sleeps less than 10 ms */
        INT_KEY("ksm", "sleep_ms_min", ksm.sleep_ms_min, 10, 1, MSEC_MAX, "ms",
                "Lower bound for /sys/kernel/mm/ksm/sleep_millisecs."),
        /*
         * Our choice: while ksmd merges it saves 100-200 MiB per CPU-second
         * (measured on a 2-vCPU guest); once a set is merged, new sharing
         * falls to a few MiB, so 8 tells "still merging" from "done".
         */
        INT_KEY("ksm", "min_yield_mb_per_cpu_s", ksm.min_yield_mb_per_cpu_s, 8, 0, MEM_MB_MAX, "MiB/CPU-s",
                "Adaptive: memory newly saved per ksmd CPU-second below which merging does not pay."),
        BOOL_KEY("ksm", "kernel_advisor", ksm.kernel_advisor, true,
                 "Adaptive: let the kernel's scan-time advisor (Linux 6.8+) set pages_to_scan."),
        /*
         * Our choice.  The kernel's default (mm/ksm.c
         * ksm_advisor_target_scan_time = 200) paces a continuous background
         * scan of a big host.  Here KSM runs to merge and then stops, and
         * the yield is known after three full scans: 30 s each.
         */
        INT_KEY("ksm", "advisor_target_scan_s", ksm.advisor_target_scan_s, 30, 1, SEC_MAX, "s",
                "Kernel advisor: time it aims to take for one full scan."),

        /* stats: guest statistics for the host */
        /* The virtio stats queue is host-driven; pushing on our own is optional. */
        INT_KEY("stats", "interval_s", stats.interval_s, 5, 0, SEC_MAX, "s",
                "While the host polls statistics, also refresh them this often between its requests; 0 only when the host asks."),

        /* control: the memballoonctl socket */
        /* DESIGN.md 6 */
        STRING_KEY("control", "socket", control.socket, "/run/memballoond/control", 1, SOCKET_PATH_MAX,
                   KEY_ABSOLUTE_PATH, "Path of the control socket."),
        STRING_KEY("control", "group", control.group, "", 0, GROUP_NAME_MAX, KEY_GROUP_NAME,
                   "Group owning the socket, whose members may read status; empty keeps root's."),
        /* Owner and group read-write, nobody else: DESIGN.md 6. */
        MODE_KEY("control", "mode", control.mode, 0660, 0777,
                 "Socket file mode, as a string of octal digits."),
        /* Our choice: far more than any admin session needs, still bounded. */
        INT_KEY("control", "max_clients", control.max_clients, 16, 1, 1024, "connections",
                "Concurrent control connections; more are refused."),

        /* log */
        ENUM_KEY("log", "level", log.level, LOG_INFO, log_level_values,
                 "Least important message logged: err, warning, notice, info or debug."),
        ENUM_KEY("log", "target", log.target, LOG_TARGET_AUTO, log_target_values,
                 "journal, console, or auto (journal when reachable, else console)."),
};

/* Cross-key constraints: value(a) < value(b), or <= when !strict. */
typedef struct KeyOrder {
        const char *group_a, *name_a;
        const char *group_b, *name_b;
        bool strict;
} KeyOrder;

static const KeyOrder config_orders[] = {
        { "ksm", "pages_to_scan_min", "ksm", "pages_to_scan_max", false },
        /* The kernel accepts stall == window, but such a trigger fires only on a full stall. */
        { "oom", "psi_some_ms", "oom", "psi_window_ms", true },
};

/* ---- enum names ------------------------------------------------------ */

static const char *enum_to_string(const EnumValue *values, size_t n, uint32_t v)
{
        for (size_t i = 0; i < n; i++)
                if (values[i].value == v)
                        return values[i].name;
        return NULL;
}

const char *balloon_source_to_string(BalloonSource s)
{
        return enum_to_string(balloon_source_values, ELEMENTSOF(balloon_source_values), s);
}

const char *hotplug_online_to_string(HotplugOnline h)
{
        return enum_to_string(hotplug_online_values, ELEMENTSOF(hotplug_online_values), h);
}

const char *ksm_policy_to_string(KsmPolicy p)
{
        return enum_to_string(ksm_policy_values, ELEMENTSOF(ksm_policy_values), p);
}

const char *log_target_to_string(LogTarget t)
{
        return enum_to_string(log_target_values, ELEMENTSOF(log_target_values), t);
}

const char *log_level_to_string(uint32_t level)
{
        return enum_to_string(log_level_values, ELEMENTSOF(log_level_values), level);
}

/* ---- field access ------------------------------------------------------ */

static void *key_field(const Config *c, const ConfigKey *k)
{
        return (uint8_t *) c + k->offset;
}

static uint64_t key_get_uint(const Config *c, const ConfigKey *k)
{
        if (k->size == sizeof(uint64_t)) {
                uint64_t v;
                memcpy(&v, key_field(c, k), sizeof(v));
                return v;
        }
        if (k->size == sizeof(uint32_t)) {
                uint32_t v;
                memcpy(&v, key_field(c, k), sizeof(v));
                return v;
        }
        assert(k->size == sizeof(bool));
        return *(const bool *) key_field(c, k);
}

static void key_set_uint(Config *c, const ConfigKey *k, uint64_t v)
{
        if (k->size == sizeof(uint64_t))
                memcpy(key_field(c, k), &v, sizeof(v));
        else if (k->size == sizeof(uint32_t)) {
                uint32_t u = (uint32_t) v;
                memcpy(key_field(c, k), &u, sizeof(u));
        } else {
                assert(k->size == sizeof(bool));
                *(bool *) key_field(c, k) = v != 0;
        }
}

static char **key_string(const Config *c, const ConfigKey *k)
{
        assert(k->type == KEY_STRING);
        return (char **) key_field(c, k);
}

static const ConfigKey *key_find(const char *group, const char *name)
{
        for (size_t i = 0; i < ELEMENTSOF(config_keys); i++)
                if (strcmp(config_keys[i].group, group) == 0 && strcmp(config_keys[i].name, name) == 0)
                        return &config_keys[i];
        return NULL;
}

static bool group_known(const char *group)
{
        for (size_t i = 0; i < ELEMENTSOF(config_keys); i++)
                if (strcmp(config_keys[i].group, group) == 0)
                        return true;
        return false;
}

static bool key_differs(const ConfigKey *k, const Config *a, const Config *b)
{
        if (k->type == KEY_STRING) {
                const char *x = *(char *const *) key_field(a, k), *y = *(char *const *) key_field(b, k);

                return (x == NULL) != (y == NULL) || (x && strcmp(x, y) != 0);
        }
        return memcmp(key_field(a, k), key_field(b, k), k->size) != 0;
}

bool config_changed(const Config *a, const Config *b, ...)
{
        const char *what;
        bool changed = false;
        va_list ap;

        if (!a || !b)
                return true;
        va_start(ap, b);
        while (!changed && (what = va_arg(ap, const char *))) {
                const char *dot = strchr(what, '.');
                size_t glen = dot ? (size_t) (dot - what) : strlen(what);

                for (size_t i = 0; i < ELEMENTSOF(config_keys) && !changed; i++) {
                        const ConfigKey *k = &config_keys[i];

                        if (strlen(k->group) != glen || strncmp(k->group, what, glen) != 0)
                                continue;
                        if (dot && strcmp(k->name, dot + 1) != 0)
                                continue;
                        changed = key_differs(k, a, b);
                }
        }
        va_end(ap);
        return changed;
}

/* "a, b and c" for the groups, in table order, into a fixed buffer. */
static const char *group_names(char *buf, size_t size)
{
        const char *groups[ELEMENTSOF(config_keys)];
        size_t n = 0, used = 0;

        for (size_t i = 0; i < ELEMENTSOF(config_keys); i++)
                if (n == 0 || strcmp(groups[n - 1], config_keys[i].group) != 0)
                        groups[n++] = config_keys[i].group;

        buf[0] = '\0';
        for (size_t i = 0; i < n && used < size; i++) {
                const char *sep = i == 0 ? "" : i + 1 == n ? " and " : ", ";
                int k = snprintf(buf + used, size - used, "%s%s", sep, groups[i]);
                if (k < 0)
                        break;
                used += (size_t) k;
        }
        return buf;
}

/* Catch table mistakes in every build that runs the defaults (all of them). */
static void schema_assert_valid(void)
{
        for (size_t i = 0; i < ELEMENTSOF(config_keys); i++) {
                const ConfigKey *k = &config_keys[i];

                assert(k->min <= k->max);
                /* Each group's keys are contiguous: dump and messages rely on it. */
                if (i > 0 && strcmp(k->group, config_keys[i - 1].group) != 0)
                        for (size_t j = 0; j < i; j++)
                                assert(strcmp(k->group, config_keys[j].group) != 0);
                switch (k->type) {
                case KEY_INT:
                case KEY_MODE:
                        assert(k->size == sizeof(uint32_t) || k->size == sizeof(uint64_t));
                        assert(k->min >= 0);
                        assert(k->size == sizeof(uint64_t) || k->max <= UINT32_MAX);
                        assert(k->def >= k->min && k->def <= k->max);
                        break;
                case KEY_BOOL:
                        assert(k->size == sizeof(bool));
                        break;
                case KEY_STRING:
                        assert(k->size == sizeof(char *) && k->def_str);
                        assert((int64_t) strlen(k->def_str) >= k->min &&
                               (int64_t) strlen(k->def_str) <= k->max);
                        break;
                case KEY_ENUM:
                        assert(k->size == sizeof(uint32_t));
                        assert(enum_to_string(k->values, k->n_values, (uint32_t) k->def));
                        break;
                }
        }
}

/* ---- init / done ------------------------------------------------------- */

int config_init_defaults(Config *c)
{
        assert(c);

        schema_assert_valid();

        *c = (Config) {};
        for (size_t i = 0; i < ELEMENTSOF(config_keys); i++) {
                const ConfigKey *k = &config_keys[i];

                if (k->type == KEY_STRING) {
                        char *s = strdup(k->def_str);
                        if (!s) {
                                config_done(c);
                                return -ENOMEM;
                        }
                        *key_string(c, k) = s;
                } else
                        key_set_uint(c, k, (uint64_t) k->def);
        }
        return 0;
}

void config_done(Config *c)
{
        if (!c)
                return;

        free(c->path);
        for (size_t i = 0; i < ELEMENTSOF(config_keys); i++)
                if (config_keys[i].type == KEY_STRING)
                        free(*key_string(c, &config_keys[i]));
        *c = (Config) {};
}

/* ---- errors ------------------------------------------------------------ */

/* Store "PATH:LINE: message" (or "PATH: message" for line 0) and return r. */
_printf_(5, 6)
static int config_error(char **ret_error, int r, const char *path, unsigned line, const char *fmt, ...)
{
        _cleanup_free_ char *msg = NULL;
        va_list ap;
        int n;

        assert(r < 0);
        if (!ret_error)
                return r;

        va_start(ap, fmt);
        n = vasprintf(&msg, fmt, ap);
        va_end(ap);
        if (n < 0)
                return -ENOMEM;

        if (line > 0)
                n = asprintf(ret_error, "%s:%u: %s", path, line, msg);
        else
                n = asprintf(ret_error, "%s: %s", path, msg);
        if (n < 0) {
                *ret_error = NULL;
                return -ENOMEM;
        }
        return r;
}

/* Does lit explain the value libconfig 1.5 stored in s? */
static bool int_literal_agrees(const IntLiteral *lit, const config_setting_t *s)
{
        long long v = config_setting_get_int64(s);
        int type = config_setting_type(s);

        /* libconfig 1.5: atoi(), atoll(), strtoul(), strtoull() and a cast. */
        if (lit->hex && lit->wide)
                return type == CONFIG_TYPE_INT64 && v == (long long) strtoull(lit->text, NULL, 16);
        if (lit->hex)
                return type == CONFIG_TYPE_INT && v == (int) strtoul(lit->text, NULL, 16);
        if (lit->wide)
                return type == CONFIG_TYPE_INT64 && v == strtoll(lit->text, NULL, 10);
        /* libconfig >= 1.6 turns a plain literal beyond 32 bits into an exact int64. */
        if (type == CONFIG_TYPE_INT64)
                return v == strtoll(lit->text, NULL, 10);
        return type == CONFIG_TYPE_INT && v == (int) strtol(lit->text, NULL, 10);
}

/*
 * Pair the integer settings, in document order, with the literals.  With
 * apply false only check that they pair up; with apply true hang each
 * literal on its setting's hook.
 */
static bool int_literals_pair(config_setting_t *s, Scan *lits, size_t *i, bool apply)
{
        int type = config_setting_type(s);

        if (config_setting_is_aggregate(s)) {
                int n = config_setting_length(s);
                for (int j = 0; j < n; j++)
                        if (!int_literals_pair(config_setting_get_elem(s, j), lits, i, apply))
                                return false;
                return true;
        }
        if (type != CONFIG_TYPE_INT && type != CONFIG_TYPE_INT64)
                return true;
        if (*i >= lits->n_ints || !int_literal_agrees(&lits->ints[*i], s))
                return false;
        if (apply)
                config_setting_set_hook(s, &lits->ints[*i]);
        (*i)++;
        return true;
}

static void int_literals_attach(config_t *lc, Scan *lits)
{
        size_t n = 0;

        if (int_literals_pair(config_root_setting(lc), lits, &n, false) && n == lits->n_ints) {
                n = 0;
                int_literals_pair(config_root_setting(lc), lits, &n, true);
                return;
        }

        /*
         * Our scan disagrees with libconfig's: a bug here, or a libconfig
         * that lexes differently.  Without hooks we fall back to libconfig's
         * values, losing only the overflow check.  Fuzzers (built with the
         * usual -DFUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION) must hear of it.
         */
#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
        abort();
#endif
}

/*
 * The value of an integer setting as written.  Returns false if it does not
 * fit in int64_t.  *ret_text and *ret_len give the literal for messages,
 * or NULL if unknown.
 */
static bool setting_get_integer(const config_setting_t *s, int64_t *ret, const char **ret_text, int *ret_len)
{
        const IntLiteral *lit = config_setting_get_hook(s);

        *ret_text = NULL;
        *ret_len = 0;
        if (!lit) {
                *ret = config_setting_get_int64(s);
                return true;
        }

        *ret_text = lit->text;
        *ret_len = (int) MIN(lit->len, (size_t) 64);
        errno = 0;
        if (lit->hex) {
                unsigned long long u = strtoull(lit->text, NULL, 16);
                if (errno == ERANGE || u > INT64_MAX)
                        return false;
                *ret = (int64_t) u;
        } else {
                long long v = strtoll(lit->text, NULL, 10);
                if (errno == ERANGE)
                        return false;
                *ret = v;
        }
        return true;
}

/* ---- parse ------------------------------------------------------------- */

static const char *setting_type_name(const config_setting_t *s)
{
        switch (config_setting_type(s)) {
        case CONFIG_TYPE_INT:
        case CONFIG_TYPE_INT64:
                return "an integer";
        case CONFIG_TYPE_FLOAT:
                return "a float";
        case CONFIG_TYPE_STRING:
                return "a string";
        case CONFIG_TYPE_BOOL:
                return "a boolean";
        case CONFIG_TYPE_GROUP:
                return "a group";
        case CONFIG_TYPE_ARRAY:
                return "an array";
        case CONFIG_TYPE_LIST:
                return "a list";
        default:
                return "an unknown type";
        }
}

static const char *key_type_name(const ConfigKey *k)
{
        switch (k->type) {
        case KEY_INT:
                return "an integer";
        case KEY_BOOL:
                return "a boolean (true or false)";
        case KEY_MODE:
                return "a string of octal digits such as \"0660\"";
        case KEY_STRING:
        case KEY_ENUM:
        default:
                return "a string";
        }
}

static bool is_group_name_char(char c, bool first)
{
        return is_alpha(c) || c == '_' || (!first && (is_digit(c) || c == '-' || c == '.'));
}

/* Write "a, b or c" for an enum's names into a fixed buffer. */
static const char *enum_names(const ConfigKey *k, char *buf, size_t size)
{
        size_t used = 0;

        buf[0] = '\0';
        for (size_t i = 0; i < k->n_values && used < size; i++) {
                const char *sep = i == 0 ? "" : i + 1 == k->n_values ? " or " : ", ";
                int n = snprintf(buf + used, size - used, "%s%s", sep, k->values[i].name);
                if (n < 0)
                        break;
                used += (size_t) n;
        }
        return buf;
}

/* Validate setting s for key k and store its value into c. */
static int apply_setting(Config *c, const ConfigKey *k, const config_setting_t *s,
                         const char *path, char **ret_error)
{
        unsigned line = config_setting_source_line(s);
        int type = config_setting_type(s);
        bool type_ok;

        switch (k->type) {
        case KEY_INT:
                type_ok = type == CONFIG_TYPE_INT || type == CONFIG_TYPE_INT64;
                break;
        case KEY_BOOL:
                type_ok = type == CONFIG_TYPE_BOOL;
                break;
        default:
                type_ok = type == CONFIG_TYPE_STRING;
                break;
        }
        if (!type_ok)
                return config_error(ret_error, -EINVAL, path, line, "%s.%s: expected %s, got %s",
                                    k->group, k->name, key_type_name(k), setting_type_name(s));

        switch (k->type) {
        case KEY_INT: {
                const char *text;
                int64_t v = 0;
                int len;
                bool fits = setting_get_integer(s, &v, &text, &len);

                if (!fits || v < k->min || v > k->max) {
                        char shown[32];

                        if (!text) {
                                snprintf(shown, sizeof(shown), "%" PRId64, v);
                                text = shown;
                                len = (int) strlen(shown);
                        }
                        return config_error(ret_error, -EINVAL, path, line,
                                            "%s.%s: value %.*s out of range %" PRId64 "..%" PRId64 "%s%s%s",
                                            k->group, k->name, len, text, k->min, k->max,
                                            k->unit ? " (" : "", k->unit ?: "", k->unit ? ")" : "");
                }
                key_set_uint(c, k, (uint64_t) v);
                return 0;
        }

        case KEY_BOOL:
                key_set_uint(c, k, config_setting_get_bool(s) != 0);
                return 0;

        case KEY_ENUM: {
                const char *v = config_setting_get_string(s);
                char names[128];

                for (size_t i = 0; i < k->n_values; i++)
                        if (strcmp(v, k->values[i].name) == 0) {
                                key_set_uint(c, k, k->values[i].value);
                                return 0;
                        }
                return config_error(ret_error, -EINVAL, path, line, "%s.%s: invalid value \"%s\", expected %s",
                                    k->group, k->name, v, enum_names(k, names, sizeof(names)));
        }

        case KEY_MODE: {
                const char *v = config_setting_get_string(s);
                size_t n = strlen(v);
                unsigned long mode = 0;

                for (size_t i = 0; i < n; i++) {
                        if (v[i] < '0' || v[i] > '7' || n > 4) {
                                mode = ULONG_MAX;
                                break;
                        }
                        mode = mode * 8 + (unsigned long) (v[i] - '0');
                }
                if (n == 0 || mode == ULONG_MAX)
                        return config_error(ret_error, -EINVAL, path, line,
                                            "%s.%s: invalid mode \"%s\", expected octal digits such as \"0660\"",
                                            k->group, k->name, v);
                if ((int64_t) mode < k->min || (int64_t) mode > k->max)
                        return config_error(ret_error, -EINVAL, path, line,
                                            "%s.%s: mode \"%s\" out of range %04" PRIo64 "..%04" PRIo64,
                                            k->group, k->name, v, (uint64_t) k->min, (uint64_t) k->max);
                key_set_uint(c, k, mode);
                return 0;
        }

        case KEY_STRING: {
                const char *v = config_setting_get_string(s);
                int64_t n = (int64_t) strlen(v);
                char *copy;

                if (n < k->min || n > k->max)
                        return config_error(ret_error, -EINVAL, path, line,
                                            "%s.%s: length %" PRId64 " out of range %" PRId64 "..%" PRId64 " (%s)",
                                            k->group, k->name, n, k->min, k->max, k->unit);
                if ((k->flags & KEY_ABSOLUTE_PATH) && (v[0] != '/' || v[n - 1] == '/'))
                        return config_error(ret_error, -EINVAL, path, line,
                                            "%s.%s: \"%s\" is not an absolute file name",
                                            k->group, k->name, v);
                if (k->flags & KEY_GROUP_NAME)
                        for (int64_t i = 0; i < n; i++)
                                if (!is_group_name_char(v[i], i == 0))
                                        return config_error(ret_error, -EINVAL, path, line,
                                                            "%s.%s: \"%s\" is not a valid group name",
                                                            k->group, k->name, v);

                copy = strdup(v);
                if (!copy)
                        return -ENOMEM;
                free(*key_string(c, k));
                *key_string(c, k) = copy;
                return 0;
        }
        }
        assert(false);
        return -EINVAL;
}

static int check_orders(const Config *c, const unsigned *lines, const char *path, char **ret_error)
{
        for (size_t i = 0; i < ELEMENTSOF(config_orders); i++) {
                const KeyOrder *o = &config_orders[i];
                const ConfigKey *a = key_find(o->group_a, o->name_a), *b = key_find(o->group_b, o->name_b);
                uint64_t va, vb;

                assert(a && b && a->type == KEY_INT && b->type == KEY_INT);
                va = key_get_uint(c, a);
                vb = key_get_uint(c, b);
                if (o->strict ? va < vb : va <= vb)
                        continue;

                /* Blame the key that came last in the file: it made the conflict. */
                if (lines[b - config_keys] > lines[a - config_keys])
                        return config_error(ret_error, -EINVAL, path, lines[b - config_keys],
                                            "%s.%s: value %" PRIu64 " must be %s %s.%s (%" PRIu64 ")",
                                            b->group, b->name, vb,
                                            o->strict ? "greater than" : "at least",
                                            a->group, a->name, va);
                return config_error(ret_error, -EINVAL, path, lines[a - config_keys],
                                    "%s.%s: value %" PRIu64 " must be %s %s.%s (%" PRIu64 ")",
                                    a->group, a->name, va,
                                    o->strict ? "less than" : "at most",
                                    b->group, b->name, vb);
        }
        return 0;
}

static void libconfig_destroy(config_t *lc)
{
        config_destroy(lc);
}

int config_parse_string(const char *text, const char *path, Config *ret, char **ret_error)
{
        _cleanup_(scan_done) Scan scan = {};
        _cleanup_(config_done) Config c = {};
        _cleanup_(libconfig_destroy) config_t lc;
        unsigned lines[ELEMENTSOF(config_keys)] = {};
        config_setting_t *root;
        unsigned line = 0;
        int r;

        assert(text);
        assert(path);
        assert(ret);

        config_init(&lc);

        r = config_init_defaults(&c);
        if (r < 0)
                return r;

        r = scan_text(text, &scan, &line);
        if (r == -EINVAL)
                return config_error(ret_error, r, path, line, "@include is not supported");
        if (r < 0)
                return r;

        if (!config_read_string(&lc, text)) {
                const char *msg = config_error_text(&lc) ?: "syntax error";
                unsigned error_line = (unsigned) MAX(config_error_line(&lc), 0);
                size_t dup;

                /* libconfig does not say which name; our scan can. */
                dup = strcmp(msg, "duplicate setting name") == 0 ? scan_find_duplicate(&scan, error_line) : SIZE_MAX;
                if (dup != SIZE_MAX) {
                        char name[256];

                        scan_format_name(&scan, dup, name, sizeof(name));
                        return config_error(ret_error, -EINVAL, path, error_line, "%s: duplicate %s",
                                            name, scan.scopes[scan.names[dup].scope].parent == SIZE_MAX ?
                                            "setting" : "key");
                }
                return config_error(ret_error, -EINVAL, path, error_line, "%s", msg);
        }

        int_literals_attach(&lc, &scan);

        root = config_root_setting(&lc);
        for (int i = 0; i < config_setting_length(root); i++) {
                const config_setting_t *g = config_setting_get_elem(root, (unsigned) i);
                const char *gname = config_setting_name(g);

                if (!config_setting_is_group(g))
                        return config_error(ret_error, -EINVAL, path, config_setting_source_line(g),
                                            "%s: not a group; settings belong in a group such as balloon = { ... }",
                                            gname);
                if (!group_known(gname)) {
                        char groups[128];

                        return config_error(ret_error, -EINVAL, path, config_setting_source_line(g),
                                            "%s: unknown group; known groups are %s",
                                            gname, group_names(groups, sizeof(groups)));
                }

                for (int j = 0; j < config_setting_length(g); j++) {
                        const config_setting_t *s = config_setting_get_elem(g, (unsigned) j);
                        const ConfigKey *k = key_find(gname, config_setting_name(s));

                        if (!k)
                                return config_error(ret_error, -EINVAL, path, config_setting_source_line(s),
                                                    "%s.%s: unknown key", gname, config_setting_name(s));

                        r = apply_setting(&c, k, s, path, ret_error);
                        if (r < 0)
                                return r;
                        lines[k - config_keys] = config_setting_source_line(s);
                }
        }

        r = check_orders(&c, lines, path, ret_error);
        if (r < 0)
                return r;

        c.path = strdup(path);
        if (!c.path)
                return -ENOMEM;

        *ret = c;
        c = (Config) {};
        return 0;
}

int config_load(const char *path, Config *ret, char **ret_error)
{
        _cleanup_fclose_ FILE *f = NULL;
        _cleanup_free_ char *buf = NULL;
        size_t n = 0;
        const char *nul;

        assert(path);
        assert(ret);

        f = fopen(path, "re");
        if (!f)
                return config_error(ret_error, -errno, path, 0, "%s", strerror(errno));

        buf = malloc(CONFIG_FILE_MAX + 1);
        if (!buf)
                return -ENOMEM;
        n = fread(buf, 1, CONFIG_FILE_MAX + 1, f);
        if (ferror(f)) {
                int r = errno > 0 ? -errno : -EIO;
                return config_error(ret_error, r, path, 0, "%s", strerror(-r));
        }
        if (n > CONFIG_FILE_MAX)
                return config_error(ret_error, -EFBIG, path, 0, "file larger than %d bytes", CONFIG_FILE_MAX);
        buf[n] = '\0';

        /* libconfig would silently stop at a NUL; say so instead. */
        nul = memchr(buf, '\0', n);
        if (nul) {
                unsigned line = 1;
                for (const char *p = buf; p < nul; p++)
                        line += *p == '\n';
                return config_error(ret_error, -EINVAL, path, line, "NUL byte in file");
        }

        return config_parse_string(buf, path, ret, ret_error);
}

/* ---- dump -------------------------------------------------------------- */

/* Write s as a libconfig string literal. */
static int dump_string(FILE *f, const char *s)
{
        int n = 0;

        fputc('"', f);
        n++;
        for (const unsigned char *p = (const unsigned char *) s; *p; p++) {
                if (*p == '"' || *p == '\\')
                        n += fprintf(f, "\\%c", *p);
                else if (*p < 0x20 || *p == 0x7f)
                        n += fprintf(f, "\\x%02x", *p);
                else {
                        fputc(*p, f);
                        n++;
                }
        }
        fputc('"', f);
        return n + 1;
}

void config_dump(const Config *c, FILE *f)
{
        /* Column where the unit comments start, so they line up. */
        const int comment_column = 36;
        const char *group = NULL;

        assert(c);
        assert(f);

        fputs("# memballoond configuration", f);
        if (c->path) {
                /* A newline in the path must not end the comment. */
                fputs(", loaded from ", f);
                for (const char *p = c->path; *p; p++)
                        fputc((unsigned char) *p < 0x20 ? '?' : *p, f);
        }
        fputc('\n', f);

        for (size_t i = 0; i < ELEMENTSOF(config_keys); i++) {
                const ConfigKey *k = &config_keys[i];
                uint64_t v = 0;
                int n;

                if (!group || strcmp(group, k->group) != 0) {
                        if (group)
                                fputs("};\n", f);
                        group = k->group;
                        fprintf(f, "\n%s = {\n", group);
                }

                n = fprintf(f, "    %s = ", k->name);
                if (k->type != KEY_STRING)
                        v = key_get_uint(c, k);
                switch (k->type) {
                case KEY_INT:
                        /* libconfig 1.5 wraps plain literals beyond 32 bits; L makes them int64. */
                        n += fprintf(f, "%" PRIu64 "%s;", v, v > INT32_MAX ? "L" : "");
                        break;
                case KEY_BOOL:
                        n += fprintf(f, "%s;", v ? "true" : "false");
                        break;
                case KEY_ENUM: {
                        const char *name = enum_to_string(k->values, k->n_values, (uint32_t) v);
                        if (name)
                                n += fprintf(f, "\"%s\";", name);
                        else    /* not representable: make the reparse fail loudly */
                                n += fprintf(f, "\"invalid-%" PRIu64 "\";", v);
                        break;
                }
                case KEY_MODE:
                        n += fprintf(f, "\"%04" PRIo64 "\";", v);
                        break;
                case KEY_STRING: {
                        const char *s = *key_string(c, k);
                        n += dump_string(f, s ?: "");
                        fputc(';', f);
                        n++;
                        break;
                }
                }

                if (k->unit && k->type != KEY_STRING)
                        fprintf(f, "%*s# %s\n", MAX(comment_column - n, 1), "", k->unit);
                else
                        fputc('\n', f);
        }
        if (group)
                fputs("};\n", f);
}
