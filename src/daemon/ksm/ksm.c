/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * KSM tuning: the I/O around ksm-policy.c.  Reads go through the root seam
 * (root_read_file()), so the integration test drives this file against a
 * fake /proc and /sys; writes are compared with what the kernel reports
 * and made only when a value changes.
 */
#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "ksm-parse.h"
#include "ksm-policy.h"
#include "ksm.h"
#include "procfs.h"
#include "log.h"
#include "macro.h"
#include "parse.h"
#include "root.h"
#include "timer.h"

#define KSM_DIR                 "/sys/kernel/mm/ksm"
/* sysfs values are one short line; /proc/<pid>/stat is under 1 KiB
 * (52 numbers and a 15-byte comm); meminfo a few KiB. */
#define SYSFS_VALUE_MAX         256
#define PROC_STAT_MAX           4096
#define PROC_CMDLINE_MAX        (128 * 1024)
#define PSI_MAX                 1024
/* The first policy run waits a moment after start or reload, so a burst
 * of reloads does not write the knobs each time. */
#define FIRST_RUN_DELAY_USEC    (100 * 1000ULL)

typedef enum Knob {
        KNOB_RUN,
        KNOB_PAGES_TO_SCAN,
        KNOB_SLEEP,
        KNOB_ADVISOR_MODE,
        KNOB_ADVISOR_MAX_CPU,
        KNOB_ADVISOR_MIN_PAGES,
        KNOB_ADVISOR_MAX_PAGES,
        KNOB_ADVISOR_TARGET,
        _KNOB_MAX,
} Knob;

static const char *const knob_names[_KNOB_MAX] = {
        [KNOB_RUN] = "run",
        [KNOB_PAGES_TO_SCAN] = "pages_to_scan",
        [KNOB_SLEEP] = "sleep_millisecs",
        [KNOB_ADVISOR_MODE] = "advisor_mode",
        [KNOB_ADVISOR_MAX_CPU] = "advisor_max_cpu",
        [KNOB_ADVISOR_MIN_PAGES] = "advisor_min_pages_to_scan",
        [KNOB_ADVISOR_MAX_PAGES] = "advisor_max_pages_to_scan",
        [KNOB_ADVISOR_TARGET] = "advisor_target_scan_time",
};

struct Ksm {
        sd_event *event;
        const Config *config;
        Timer *timer;
        sd_event_source *unmerge_child;

        bool enabled;                   /* ksm.enabled as last applied */
        bool active;                    /* we hold the knobs; saved[] is valid */
        bool paused;                    /* after an unmerge, until ksm_resume() */
        uint64_t saved[_KNOB_MAX];      /* values found when we took the knobs */
        bool saved_advisor;             /* the kernel had advisor_* then */

        KsmPolicyState policy;
        bool has_snap;
        KsmSnapshot snap;
        bool has_decision;
        KsmDecision decision;
        uint64_t last_run_usec;
        uint64_t runs;                  /* snapshots taken, for status (tests wait on it) */
        char reason[256];

        /* What was logged last, to log changes only. */
        bool logged;
        bool logged_run;
        const char *logged_state;
        KsmMode logged_mode;
        int knob_error[_KNOB_MAX];      /* last write error per knob, 0 when fine */
        int read_error;                 /* last snapshot error, 0 when fine */
        char problem[256];

        int ksmd_pid;                   /* 0: not found yet */
        long clk_tck;
        uint64_t page_kib;
};

static void *mfree(void *p)
{
        free(p);
        return NULL;
}

/* ---- reading ----------------------------------------------------------- */

static int read_ksm_uint(const char *name, uint64_t *ret)
{
        _cleanup_free_ char *buf = NULL, *path = NULL;
        size_t len;
        int r;

        if (asprintf(&path, KSM_DIR "/%s", name) < 0)
                return -ENOMEM;
        r = root_read_file(path, SYSFS_VALUE_MAX, &buf, &len);
        if (r < 0)
                return r;
        return ksm_parse_uint(buf, len, ret);
}

/* An optional counter: absent on older kernels is fine, garbage is not. */
static int read_ksm_uint_opt(const char *name, bool *has, uint64_t *ret)
{
        int r = read_ksm_uint(name, ret);

        *has = r >= 0;
        return r == -ENOENT ? 0 : r;
}

static int read_ksm(KsmSnapshot *s)
{
        static const struct {
                const char *name;
                size_t offset;
        } required[] = {
                { "run", offsetof(KsmSnapshot, run) },
                { "pages_to_scan", offsetof(KsmSnapshot, pages_to_scan) },
                { "sleep_millisecs", offsetof(KsmSnapshot, sleep_ms) },
                { "pages_shared", offsetof(KsmSnapshot, pages_shared) },
                { "pages_sharing", offsetof(KsmSnapshot, pages_sharing) },
                { "pages_unshared", offsetof(KsmSnapshot, pages_unshared) },
                { "pages_volatile", offsetof(KsmSnapshot, pages_volatile) },
                { "full_scans", offsetof(KsmSnapshot, full_scans) },
        };
        _cleanup_close_ int dfd = root_open(KSM_DIR, O_RDONLY | O_DIRECTORY);
        _cleanup_free_ char *buf = NULL;
        size_t len;
        int r;

        if (dfd < 0)
                return dfd;
        for (size_t i = 0; i < ELEMENTSOF(required); i++) {
                r = read_ksm_uint(required[i].name, (uint64_t *) ((uint8_t *) s + required[i].offset));
                if (r < 0)
                        return r;
        }
        if ((r = read_ksm_uint_opt("pages_scanned", &s->has_pages_scanned, &s->pages_scanned)) < 0 ||
            (r = read_ksm_uint_opt("ksm_zero_pages", &s->has_zero_pages, &s->ksm_zero_pages)) < 0)
                return r;

        r = root_read_file(KSM_DIR "/general_profit", SYSFS_VALUE_MAX, &buf, &len);
        if (r >= 0) {
                r = ksm_parse_int(buf, len, &s->general_profit);
                if (r < 0)
                        return r;
                s->has_general_profit = true;
        } else if (r != -ENOENT)
                return r;
        buf = mfree(buf);

        r = root_read_file(KSM_DIR "/advisor_mode", SYSFS_VALUE_MAX, &buf, &len);
        if (r >= 0) {
                bool h1, h2, h3, h4;

                r = ksm_parse_advisor_mode(buf, len, &s->advisor_mode);
                if (r < 0)
                        return r;
                if ((r = read_ksm_uint_opt("advisor_max_cpu", &h1, &s->advisor_max_cpu)) < 0 ||
                    (r = read_ksm_uint_opt("advisor_min_pages_to_scan", &h2, &s->advisor_min_pages)) < 0 ||
                    (r = read_ksm_uint_opt("advisor_max_pages_to_scan", &h3, &s->advisor_max_pages)) < 0 ||
                    (r = read_ksm_uint_opt("advisor_target_scan_time", &h4, &s->advisor_target_scan_s)) < 0)
                        return r;
                /* All or nothing: the advisor came with all five files. */
                s->has_advisor = h1 && h2 && h3 && h4;
        } else if (r != -ENOENT)
                return r;
        s->ksm_available = true;
        return 0;
}

static int read_pid_stat(int pid, ProcStat *ret)
{
        _cleanup_free_ char *buf = NULL;
        char path[64];
        size_t len;
        int r;

        snprintf(path, sizeof(path), "/proc/%d/stat", pid);
        r = root_read_file(path, PROC_STAT_MAX, &buf, &len);
        if (r < 0)
                return r;
        return proc_stat_parse(buf, len, ret);
}

static bool is_ksmd(const ProcStat *st)
{
        return strcmp(st->comm, "ksmd") == 0 && (st->flags & PROC_PF_KTHREAD);
}

/* Call fn(pid) for each process directory under the root's /proc. */
static int for_each_pid(int (*fn)(int pid, void *userdata), void *userdata)
{
        _cleanup_free_ char *proc = root_path("/proc");
        DIR *d;
        struct dirent *de;
        int r = 0;

        if (!proc)
                return -ENOMEM;
        d = opendir(proc);
        if (!d)
                return -errno;
        while ((de = readdir(d))) {
                char *end;
                long pid;

                errno = 0;
                pid = strtol(de->d_name, &end, 10);
                if (errno || *end || end == de->d_name || pid <= 0 || pid > INT32_MAX)
                        continue;
                r = fn((int) pid, userdata);
                if (r != 0)
                        break;
        }
        closedir(d);
        return r < 0 ? r : 0;
}

static int find_ksmd_cb(int pid, void *userdata)
{
        ProcStat st;

        if (read_pid_stat(pid, &st) < 0 || !is_ksmd(&st))
                return 0;
        *(int *) userdata = pid;
        return 1;
}

static int read_ksmd_cpu(Ksm *k, uint64_t *ret_usec)
{
        ProcStat st;
        int r;

        /* ksmd lives as long as the kernel: look it up once, and again
         * only if the cached pid stops being a kernel thread named ksmd. */
        if (k->ksmd_pid <= 0 || read_pid_stat(k->ksmd_pid, &st) < 0 || !is_ksmd(&st)) {
                int pid = 0;

                k->ksmd_pid = 0;
                r = for_each_pid(find_ksmd_cb, &pid);
                if (r < 0)
                        return r;
                if (pid == 0)
                        return -ESRCH;
                r = read_pid_stat(pid, &st);
                if (r < 0)
                        return r;
                k->ksmd_pid = pid;
        }
        *ret_usec = (st.utime_ticks + st.stime_ticks) * 1000000ULL / (uint64_t) k->clk_tck;
        return 0;
}

typedef struct CommittedCtx {
        uint64_t page_kib, kib;
} CommittedCtx;

static int committed_cb(int pid, void *userdata)
{
        CommittedCtx *ctx = userdata;
        _cleanup_free_ char *buf = NULL;
        char path[64];
        uint64_t rss;
        size_t len;

        snprintf(path, sizeof(path), "/proc/%d/cmdline", pid);
        if (root_read_file(path, PROC_CMDLINE_MAX, &buf, &len) < 0 || !proc_cmdline_is_ksmtuned_qemu(buf, len))
                return 0;
        buf = mfree(buf);
        snprintf(path, sizeof(path), "/proc/%d/statm", pid);
        if (root_read_file(path, PROC_STAT_MAX, &buf, &len) < 0 || proc_statm_parse_rss(buf, len, &rss) < 0)
                return 0;
        ctx->kib += rss * ctx->page_kib;
        return 0;
}

/* Read everything one policy run needs.  A missing KSM directory is not an
 * error (ksm_available stays false); a broken file is. */
static int read_snapshot(Ksm *k, KsmSnapshot *ret)
{
        KsmSnapshot s = { .now_usec = clock_now_usec(), .page_kib = k->page_kib };
        _cleanup_free_ char *buf = NULL;
        MemInfo mi;
        size_t len;
        int r;

        r = meminfo_read(&mi);
        if (r < 0)
                return log_debug_errno(r, "KSM: cannot read /proc/meminfo: %m");
        s.mem_total_kib = mi.total_kib;
        s.mem_free_kib = mi.free_kib;
        s.mem_available_kib = mi.available_kib;
        s.has_available = mi.has_available;
        s.buffers_kib = mi.buffers_kib;
        s.cached_kib = mi.cached_kib;
        buf = mfree(buf);

        /* PSI is optional (CONFIG_PSI, psi=1); a bad file only loses it. */
        if (root_read_file("/proc/pressure/memory", PSI_MAX, &buf, &len) >= 0) {
                PsiMemory psi;

                if (psi_parse(buf, len, &psi) >= 0) {
                        s.has_psi = true;
                        s.psi_some_avg10 = psi.some_avg10;
                }
        }

        r = read_ksm(&s);
        if (r == -ENOENT) {
                s.ksm_available = false;
                *ret = s;
                return 0;
        }
        if (r < 0)
                return log_debug_errno(r, "KSM: cannot read " KSM_DIR ": %m");

        if (read_ksmd_cpu(k, &s.ksmd_cpu_usec) >= 0)
                s.has_ksmd_cpu = true;

        if (k->config->ksm.policy == KSM_POLICY_KSMTUNED) {
                CommittedCtx ctx = { .page_kib = k->page_kib };

                (void) for_each_pid(committed_cb, &ctx);
                s.committed_kib = ctx.kib;
        }
        *ret = s;
        return 0;
}

/* ---- writing ----------------------------------------------------------- */

static uint64_t knob_value(const KsmSnapshot *s, Knob knob)
{
        switch (knob) {
        case KNOB_RUN:
                return s->run;
        case KNOB_PAGES_TO_SCAN:
                return s->pages_to_scan;
        case KNOB_SLEEP:
                return s->sleep_ms;
        case KNOB_ADVISOR_MODE:
                return s->advisor_mode;
        case KNOB_ADVISOR_MAX_CPU:
                return s->advisor_max_cpu;
        case KNOB_ADVISOR_MIN_PAGES:
                return s->advisor_min_pages;
        case KNOB_ADVISOR_MAX_PAGES:
                return s->advisor_max_pages;
        case KNOB_ADVISOR_TARGET:
                return s->advisor_target_scan_s;
        default:
                return 0;
        }
}

static void set_problem(Ksm *k, const char *fmt, ...) _printf_(2, 3);
static void set_problem(Ksm *k, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(k->problem, sizeof(k->problem), fmt, ap);
        va_end(ap);
}

/* Write one knob.  A failure is logged once per knob and error, and its
 * recovery once. */
static int write_knob(Ksm *k, Knob knob, uint64_t value)
{
        _cleanup_close_ int fd = -1;
        char path[128], text[32];
        ssize_t n;
        size_t len;
        int r = 0;

        assert(knob < _KNOB_MAX);
        /* Never run=2 from here: unmerging is ksm_unmerge()'s alone. */
        assert(knob != KNOB_RUN || value <= 1);
        snprintf(path, sizeof(path), KSM_DIR "/%s", knob_names[knob]);
        if (knob == KNOB_ADVISOR_MODE)
                len = (size_t) snprintf(text, sizeof(text), "%s",
                                        value == KSM_ADVISOR_SCAN_TIME ? "scan-time" : "none");
        else
                len = (size_t) snprintf(text, sizeof(text), "%" PRIu64, value);

        /* O_TRUNC as a shell's ">" does: sysfs ignores it, a test tree of
         * regular files needs it. */
        fd = root_open(path, O_WRONLY | O_TRUNC);
        if (fd < 0)
                r = fd;
        else {
                n = write(fd, text, len);
                if (n < 0)
                        r = -errno;
                else if ((size_t) n != len)
                        r = -EIO;
        }
        if (r < 0) {
                if (k->knob_error[knob] != r) {
                        char f1[96], f2[48];

                        snprintf(f1, sizeof(f1), "MEMBALLOON_KSM_KNOB=%s", knob_names[knob]);
                        snprintf(f2, sizeof(f2), "ERRNO=%d", -r);
                        log_full(LOG_WARNING, r, MSGID_KSM_WRITE_FAILED, FIELDS(f1, f2),
                                 "KSM: failed to write %s to %s: %m; will retry every %u s",
                                 text, path, ksm_policy_interval_s(k->config));
                        set_problem(k, "writing %s to %s failed: %s", text, knob_names[knob], strerror(-r));
                }
                k->knob_error[knob] = r;
                return r;
        }
        if (k->knob_error[knob]) {
                log_info("KSM: writing %s works again", path);
                k->knob_error[knob] = 0;
                k->problem[0] = '\0';
        }
        log_debug("KSM: %s = %s", knob_names[knob], text);
        return 0;
}

static void write_if_changed(Ksm *k, const KsmSnapshot *s, Knob knob, uint64_t value)
{
        if (knob_value(s, knob) != value)
                (void) write_knob(k, knob, value);
}

/* Put a decision into the kernel, writing only what differs. */
static void apply(Ksm *k, const KsmSnapshot *s, const KsmDecision *d)
{
        bool force_pages = false;

        if (!d->run)
                write_if_changed(k, s, KNOB_RUN, 0);

        if (d->advisor) {
                write_if_changed(k, s, KNOB_ADVISOR_MAX_CPU, d->advisor_max_cpu);
                write_if_changed(k, s, KNOB_ADVISOR_MIN_PAGES, d->advisor_min_pages);
                write_if_changed(k, s, KNOB_ADVISOR_MAX_PAGES, d->advisor_max_pages);
                write_if_changed(k, s, KNOB_ADVISOR_TARGET, d->advisor_target_scan_s);
                write_if_changed(k, s, KNOB_ADVISOR_MODE, KSM_ADVISOR_SCAN_TIME);
                if (d->set_rate)
                        write_if_changed(k, s, KNOB_SLEEP, d->sleep_ms);
        } else {
                /* The kernel refuses pages_to_scan while an advisor runs,
                 * and switching it off resets pages_to_scan to 100. */
                if (s->has_advisor && s->advisor_mode != KSM_ADVISOR_NONE && d->set_rate) {
                        if (write_knob(k, KNOB_ADVISOR_MODE, KSM_ADVISOR_NONE) >= 0)
                                force_pages = true;
                }
                if (d->set_rate) {
                        if (force_pages)
                                (void) write_knob(k, KNOB_PAGES_TO_SCAN, d->pages_to_scan);
                        else
                                write_if_changed(k, s, KNOB_PAGES_TO_SCAN, d->pages_to_scan);
                        write_if_changed(k, s, KNOB_SLEEP, d->sleep_ms);
                }
        }

        if (d->run)
                write_if_changed(k, s, KNOB_RUN, 1);
}

/* ---- taking and giving back the knobs ---------------------------------- */

static void take_knobs(Ksm *k, const KsmSnapshot *s)
{
        char f[128];

        for (Knob i = 0; i < _KNOB_MAX; i++)
                k->saved[i] = knob_value(s, i);
        /* run=2 means "stopped after an unmerge": give back a plain stop. */
        if (k->saved[KNOB_RUN] > 1)
                k->saved[KNOB_RUN] = 0;
        k->saved_advisor = s->has_advisor && s->advisor_mode != KSM_ADVISOR_OTHER;
        k->active = true;
        snprintf(f, sizeof(f), "MEMBALLOON_KSM_FOUND=run=%" PRIu64 " pages_to_scan=%" PRIu64 " sleep_millisecs=%" PRIu64,
                 s->run, s->pages_to_scan, s->sleep_ms);
        log_struct(LOG_INFO, MSGID_KSM_STATE, FIELDS(f),
                   "KSM: taking over tuning (found run=%" PRIu64 ", pages_to_scan=%" PRIu64 ", sleep_millisecs=%" PRIu64
                   "%s); these values are restored when memballoond stops or ksm.enabled is turned off",
                   s->run, s->pages_to_scan, s->sleep_ms,
                   s->has_advisor ? (s->advisor_mode == KSM_ADVISOR_SCAN_TIME ? ", advisor scan-time" : ", advisor none") : "");
}

static void give_back_knobs(Ksm *k, const char *why)
{
        KsmSnapshot s = {};

        if (!k->active)
                return;
        k->active = false;
        if (read_snapshot(k, &s) < 0 || !s.ksm_available) {
                log_warning("KSM: cannot read " KSM_DIR " to restore the values found at start");
                return;
        }
        /* Advisor first: switching it resets pages_to_scan. */
        if (k->saved_advisor && s.has_advisor) {
                write_if_changed(k, &s, KNOB_ADVISOR_MAX_CPU, k->saved[KNOB_ADVISOR_MAX_CPU]);
                write_if_changed(k, &s, KNOB_ADVISOR_MIN_PAGES, k->saved[KNOB_ADVISOR_MIN_PAGES]);
                write_if_changed(k, &s, KNOB_ADVISOR_MAX_PAGES, k->saved[KNOB_ADVISOR_MAX_PAGES]);
                write_if_changed(k, &s, KNOB_ADVISOR_TARGET, k->saved[KNOB_ADVISOR_TARGET]);
                write_if_changed(k, &s, KNOB_ADVISOR_MODE, k->saved[KNOB_ADVISOR_MODE]);
        }
        if (!k->saved_advisor || k->saved[KNOB_ADVISOR_MODE] == KSM_ADVISOR_NONE)
                (void) write_knob(k, KNOB_PAGES_TO_SCAN, k->saved[KNOB_PAGES_TO_SCAN]);
        write_if_changed(k, &s, KNOB_SLEEP, k->saved[KNOB_SLEEP]);
        if (k->unmerge_child)
                /* The unmerge holds the kernel's KSM mutex; writing run
                 * would wait for it.  It ends with KSM stopped. */
                log_notice("KSM: an unmerge is still running; run stays as it leaves it");
        else
                write_if_changed(k, &s, KNOB_RUN, k->saved[KNOB_RUN]);
        log_struct(LOG_INFO, MSGID_KSM_STATE, NULL,
                   "KSM: %s; restored run=%" PRIu64 ", pages_to_scan=%" PRIu64 ", sleep_millisecs=%" PRIu64
                   " (merged pages stay merged)", why, k->saved[KNOB_RUN], k->saved[KNOB_PAGES_TO_SCAN],
                   k->saved[KNOB_SLEEP]);
}

/* ---- the policy run ---------------------------------------------------- */

/* Re-read what we may have written, so status shows the kernel's values
 * (a write may have failed). */
static void refresh_knobs(Ksm *k)
{
        uint64_t v;

        if (read_ksm_uint("run", &v) >= 0)
                k->snap.run = v;
        if (read_ksm_uint("pages_to_scan", &v) >= 0)
                k->snap.pages_to_scan = v;
        if (read_ksm_uint("sleep_millisecs", &v) >= 0)
                k->snap.sleep_ms = v;
}

static void log_decision(Ksm *k, const KsmDecision *d)
{
        char f[5][320];

        if (k->logged && k->logged_run == d->run && k->logged_mode == d->mode &&
            k->logged_state && strcmp(k->logged_state, d->state) == 0) {
                log_debug("KSM: %s, pages_to_scan %" PRIu64 ", sleep %" PRIu64 " ms: %s",
                          d->state, d->pages_to_scan, d->sleep_ms, d->reason);
                return;
        }
        snprintf(f[0], sizeof(f[0]), "MEMBALLOON_KSM_RUN=%d", d->run);
        snprintf(f[1], sizeof(f[1]), "MEMBALLOON_KSM_STATE=%s", d->state);
        snprintf(f[2], sizeof(f[2]), "MEMBALLOON_KSM_MODE=%s", ksm_mode_to_string(d->mode));
        snprintf(f[3], sizeof(f[3]), "MEMBALLOON_KSM_REASON=%s", d->reason);
        snprintf(f[4], sizeof(f[4]), "MEMBALLOON_KSM_PAGES_TO_SCAN=%" PRIu64, d->pages_to_scan);
        log_struct(LOG_INFO, MSGID_KSM_STATE, FIELDS(f[0], f[1], f[2], f[3], f[4]),
                   "KSM %s (%s, run=%d): %s", d->state, ksm_mode_to_string(d->mode), d->run, d->reason);
        k->logged = true;
        k->logged_run = d->run;
        k->logged_state = d->state;
        k->logged_mode = d->mode;
}

static void ksm_run_once(Ksm *k)
{
        KsmSnapshot s;
        int r;

        r = read_snapshot(k, &s);
        if (r < 0) {
                if (r != k->read_error)
                        log_warning_errno(r, "KSM: cannot read the system state: %m; trying again in %u s",
                                          ksm_policy_interval_s(k->config));
                k->read_error = r;
                set_problem(k, "reading the system state failed: %s", strerror(-r));
                return;
        }
        if (k->read_error) {
                k->read_error = 0;
                k->problem[0] = '\0';
        }
        k->snap = s;
        k->has_snap = true;
        k->last_run_usec = s.now_usec;
        k->runs++;
        if (!s.ksm_available) {
                if (k->enabled && (!k->logged || k->logged_state != NULL)) {
                        log_notice("KSM: " KSM_DIR " does not exist (kernel built without CONFIG_KSM); nothing to tune");
                        k->logged = true;
                        k->logged_state = NULL;
                }
                k->has_decision = false;
                return;
        }
        if (!k->enabled)
                return;         /* a read for status only */
        if (k->paused) {
                /* Keep measuring for status; decide nothing. */
                ksm_policy_observe(&k->policy, &s);
                return;
        }
        if (!k->active)
                take_knobs(k, &s);

        ksm_policy_decide(k->config, &s, &k->policy, &k->decision);
        k->has_decision = true;
        apply(k, &s, &k->decision);
        refresh_knobs(k);
        log_decision(k, &k->decision);
}

static void on_timer(Timer *t, void *userdata)
{
        Ksm *k = userdata;

        ksm_run_once(k);
        timer_rearm(t, (uint64_t) ksm_policy_interval_s(k->config) * 1000000ULL);
}

static void arm_timer(Ksm *k, uint64_t delay_usec)
{
        int r;

        if (!k->timer) {
                /* 10 ms: a hundredth of the shortest interval keeps the
                 * measuring intervals even (they are the policy's time
                 * base); sd-event's default of 250 ms would not. */
                r = timer_new(k->event, "ksm-policy", SD_EVENT_PRIORITY_NORMAL, 10000, on_timer, k, &k->timer);
                if (r < 0) {
                        log_error_errno(r, "KSM: cannot set up the policy timer: %m; KSM is not tuned");
                        return;
                }
        }
        timer_rearm(k->timer, delay_usec);
}

/* ---- lifecycle ---------------------------------------------------------- */

int ksm_new(sd_event *event, const Config *config, Ksm **ret)
{
        Ksm *k;
        long ps;

        k = calloc(1, sizeof(*k));
        if (!k)
                return -ENOMEM;
        k->event = sd_event_ref(event);
        k->config = config;
        k->clk_tck = sysconf(_SC_CLK_TCK);
        if (k->clk_tck <= 0)
                k->clk_tck = 100;       /* USER_HZ on every Linux architecture */
        ps = sysconf(_SC_PAGESIZE);
        k->page_kib = ps >= 1024 ? (uint64_t) ps / 1024 : 4;
        ksm_policy_init(&k->policy);
        *ret = k;
        return 0;
}

Ksm *ksm_free(Ksm *k)
{
        if (!k)
                return NULL;
        timer_free(k->timer);
        sd_event_source_disable_unref(k->unmerge_child);
        sd_event_unref(k->event);
        free(k);
        return NULL;
}

void ksm_reconfigure(Ksm *k, const Config *old)
{
        const Config *c = k->config;
        bool was = k->enabled, changed = config_changed(old, c, "ksm", NULL);

        k->enabled = c->ksm.enabled;

        if (!c->ksm.enabled) {
                if (was) {
                        give_back_knobs(k, "ksm.enabled is off");
                        k->timer = timer_free(k->timer);
                }
                k->paused = false;
                k->has_decision = false;
                ksm_policy_init(&k->policy);
                /* One read, so status shows the counters. */
                ksm_run_once(k);
                return;
        }
        if (!was || changed) {
                /* A new start: the state learned under other settings
                 * (ksmtuned's npages, backoffs) does not carry over. */
                ksm_policy_init(&k->policy);
                k->logged = false;
                arm_timer(k, FIRST_RUN_DELAY_USEC);
        }
}

void ksm_stop(Ksm *k)
{
        if (!k)
                return;
        k->timer = timer_free(k->timer);
        give_back_knobs(k, "memballoond stops");
}

/* ---- unmerge ------------------------------------------------------------ */

static int on_unmerge_done(sd_event_source *s, const siginfo_t *si, void *userdata)
{
        Ksm *k = userdata;

        k->unmerge_child = sd_event_source_disable_unref(k->unmerge_child);
        if (si->si_code == CLD_EXITED && si->si_status == 0)
                log_struct(LOG_NOTICE, MSGID_KSM_UNMERGE, NULL,
                           "KSM: unmerge finished; tuning paused until \"memballoonctl ksm resume\"");
        else {
                int err = si->si_code == CLD_EXITED ? si->si_status : EINTR;

                log_full(LOG_WARNING, -err, MSGID_KSM_UNMERGE, NULL, "KSM: unmerge failed: %m; KSM is stopped");
                set_problem(k, "unmerge failed: %s", strerror(err));
        }
        /* Counters restart from the unmerged state; do not measure across. */
        k->policy.has_prev = false;
        return 0;
}

int ksm_unmerge(Ksm *k, const char **ret_msg)
{
        sigset_t ss;
        pid_t pid;
        int r;

        if (k->unmerge_child) {
                *ret_msg = "an unmerge is already running";
                return -EALREADY;
        }
        if (!k->has_snap || !k->snap.ksm_available) {
                *ret_msg = "this kernel has no KSM (" KSM_DIR " is missing)";
                return -ENODEV;
        }
        /* sd_event_add_child() wants SIGCHLD blocked; nothing else here
         * uses it. */
        sigemptyset(&ss);
        sigaddset(&ss, SIGCHLD);
        if (sigprocmask(SIG_BLOCK, &ss, NULL) < 0) {
                *ret_msg = "cannot block SIGCHLD";
                return -errno;
        }
        pid = fork();
        if (pid < 0) {
                *ret_msg = "cannot fork the unmerge process";
                return -errno;
        }
        if (pid == 0) {
                /* The kernel unmerges in the writer's context, under its
                 * KSM mutex: this write returns when every page is back. */
                int fd = root_open(KSM_DIR "/run", O_WRONLY | O_TRUNC);

                if (fd < 0)
                        _exit(-fd);
                if (write(fd, "2", 1) != 1)
                        _exit(errno ? errno : EIO);
                _exit(0);
        }
        r = sd_event_add_child(k->event, &k->unmerge_child, pid, WEXITED, on_unmerge_done, k);
        if (r < 0) {
                /* Cannot watch it: wait here rather than leave a zombie. */
                (void) waitpid(pid, NULL, 0);
                *ret_msg = "cannot watch the unmerge process";
                return r;
        }
        k->paused = true;
        snprintf(k->reason, sizeof(k->reason), "unmerged on request; paused until \"memballoonctl ksm resume\"");
        log_struct(LOG_NOTICE, MSGID_KSM_UNMERGE, NULL,
                   "KSM: unmerging all merged pages on request (run=2); tuning paused");
        *ret_msg = "unmerging; KSM stays stopped until \"memballoonctl ksm resume\"";
        return 0;
}

int ksm_resume(Ksm *k, const char **ret_msg)
{
        if (!k->paused) {
                *ret_msg = "KSM tuning is not paused";
                return -EALREADY;
        }
        if (k->unmerge_child) {
                *ret_msg = "the unmerge is still running";
                return -EBUSY;
        }
        k->paused = false;
        ksm_policy_init(&k->policy);
        k->logged = false;
        log_struct(LOG_NOTICE, MSGID_KSM_STATE, NULL, "KSM: tuning resumed on request");
        if (k->enabled)
                arm_timer(k, FIRST_RUN_DELAY_USEC);
        *ret_msg = "KSM tuning resumed";
        return 0;
}

/* ---- status ------------------------------------------------------------- */

void ksm_status(Ksm *k, json_object *st)
{
        const KsmSnapshot *sn = &k->snap;
        const Config *c = k->config;
        uint64_t now = clock_now_usec();
        const char *state, *reason;

        if (!c->ksm.enabled) {
                state = "disabled";
                reason = "ksm.enabled is false";
        } else if (k->has_snap && !sn->ksm_available) {
                state = "unavailable";
                reason = "the kernel has no KSM (" KSM_DIR " is missing)";
        } else if (k->paused) {
                state = "paused";
                reason = k->unmerge_child ? "unmerging on request" : k->reason;
        } else if (k->has_decision) {
                state = k->decision.state;
                reason = k->decision.reason;
        } else {
                state = "starting";
                reason = "the policy has not run yet";
        }
        status_put_bool(st, SF_KSM_ENABLED, c->ksm.enabled);
        status_put_bool(st, SF_KSM_AVAILABLE, k->has_snap && sn->ksm_available);
        status_put_bool(st, SF_KSM_ACTIVE, k->active);
        status_put_bool(st, SF_KSM_PAUSED, k->paused);
        status_put_string(st, SF_KSM_MODE, k->has_decision ? ksm_mode_to_string(k->decision.mode) :
                          c->ksm.policy == KSM_POLICY_KSMTUNED ? "ksmtuned" : "adaptive");
        status_put_string(st, SF_KSM_STATE, state);
        status_put_string(st, SF_KSM_REASON, reason);
        status_put_string(st, SF_KSM_PROBLEM, k->problem[0] ? k->problem : NULL);
        status_put_uint(st, SF_KSM_MAX_CPU_PERCENT, c->ksm.max_cpu_percent);
        status_put_uint(st, SF_KSM_INTERVAL_S, ksm_policy_interval_s(c));
        status_put_uint(st, SF_KSM_POLICY_RUNS, k->runs);
        /* Counters only once read; until then they are 0, as before. */
        status_put_uint(st, SF_KSM_RUN, k->has_snap ? sn->run : 0);
        status_put_uint(st, SF_KSM_PAGES_TO_SCAN, k->has_snap ? sn->pages_to_scan : 0);
        status_put_uint(st, SF_KSM_SLEEP_MILLISECS, k->has_snap ? sn->sleep_ms : 0);
        status_put_uint(st, SF_KSM_PAGES_SHARING, k->has_snap ? sn->pages_sharing : 0);
        status_put_uint(st, SF_KSM_PAGES_SHARED, k->has_snap ? sn->pages_shared : 0);
        status_put_uint(st, SF_KSM_PAGES_UNSHARED, k->has_snap ? sn->pages_unshared : 0);
        status_put_uint(st, SF_KSM_PAGES_VOLATILE, k->has_snap ? sn->pages_volatile : 0);
        status_put_uint(st, SF_KSM_FULL_SCANS, k->has_snap ? sn->full_scans : 0);
        status_put_uint(st, SF_KSM_SAVED_KIB, k->has_snap ? ksm_policy_saved_kib(sn) : 0);
        /* general_profit is signed; absent before Linux 6.1. */
        if (k->has_snap && sn->has_general_profit)
                status_put_int(st, SF_KSM_PROFIT_KIB, sn->general_profit / 1024);
        {
                bool cpu = k->has_snap && k->policy.last.valid && k->policy.last.has_cpu;

                status_put_double(st, SF_KSM_KSMD_CPU_PERCENT, cpu ? k->policy.last.cpu_percent : 0);
                status_put_double(st, SF_KSM_YIELD, cpu ? k->policy.last.yield_mib_per_cpu_s : 0);
        }
        status_put_uint(st, SF_KSM_MEM_AVAILABLE_KIB, !k->has_snap ? 0 : sn->has_available ? sn->mem_available_kib :
                        sn->mem_free_kib + sn->buffers_kib + sn->cached_kib);
        status_put_uint(st, SF_KSM_THRESHOLD_KIB,
                        k->has_snap ? ksm_policy_threshold_kib(sn->mem_total_kib, c->ksm.threshold_percent) : 0);
        if (k->has_snap && sn->has_psi)
                status_put_double(st, SF_KSM_PSI_SOME_AVG10, sn->psi_some_avg10);
        status_put_uint(st, SF_KSM_LAST_RUN_AGE_SEC,
                        k->has_snap && now > k->last_run_usec ? (now - k->last_run_usec) / 1000000ULL : 0);
        status_put_uint(st, SF_KSM_NEXT_PROBE_SEC,
                        k->has_decision && !k->policy.running && c->ksm.policy == KSM_POLICY_ADAPTIVE &&
                        k->policy.next_probe_usec > now ?
                        (k->policy.next_probe_usec - now + 999999) / 1000000ULL : 0);
}
