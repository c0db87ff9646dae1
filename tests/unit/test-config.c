/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Tests for src/daemon/config.c: defaults, a full file, every kind of
 * rejection (with its exact "FILE:LINE: key: message"), the dump round
 * trip, config_load(), and that conf/memballoond.conf and
 * man/memballoond.conf.5 agree with the schema.
 *
 * The shipped files are found under $SRCDIR, else under the SRCDIR macro
 * (the Makefile passes the source tree), else under ".".
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "config.h"
#include "macro.h"
#include "test.h"

#ifndef SRCDIR
#define SRCDIR "."
#endif

#define PATH "/etc/memballoond.conf"

static const char *srcdir(void)
{
        const char *e = getenv("SRCDIR");
        return e && *e ? e : SRCDIR;
}

static char *read_file(const char *path)
{
        _cleanup_fclose_ FILE *f = fopen(path, "re");
        char *buf = NULL;
        size_t size = 0;
        FILE *m;
        int c;

        if (!f)
                return NULL;
        m = open_memstream(&buf, &size);
        if (!m)
                return NULL;
        while ((c = fgetc(f)) != EOF)
                fputc(c, m);
        fclose(m);
        return buf;
}

static char *dump_to_string(const Config *c)
{
        char *buf = NULL;
        size_t size = 0;
        FILE *m = open_memstream(&buf, &size);

        if (!m)
                return NULL;
        config_dump(c, m);
        fclose(m);
        return buf;
}

/* Every field, spelled out, so the comparison does not trust the schema. */
static bool config_equal(const Config *a, const Config *b)
{
#define SAME(f) (a->f == b->f)
#define SAME_STR(f) (a->f && b->f && strcmp(a->f, b->f) == 0)
        return SAME(balloon.source) && SAME(balloon.min_mem_mb) && SAME(balloon.simulate_target_mb) &&
                SAME(balloon.poll_interval_s) && SAME(balloon.inflate_step_mb) &&
                SAME(balloon.deflate_step_mb) && SAME(balloon.hysteresis_mb) && SAME(balloon.backoff_ms) &&
                SAME(balloon.deflate_on_exit) &&
                SAME(auto_loan.enabled) && SAME(auto_loan.headroom_mb) && SAME(auto_loan.interval_s) &&
                SAME(oom.release_mb) && SAME(oom.debt_decay_mb_per_min) && SAME(oom.psi_some_ms) &&
                SAME(oom.psi_window_ms) && SAME(oom.min_available_mb) && SAME(oom.relief_step_mb) &&
                SAME(oom.backoff_s) &&
                SAME(hotplug.enabled) && SAME(hotplug.online) && SAME(hotplug.delay_s) &&
                SAME(ksm.enabled) && SAME(ksm.policy) && SAME(ksm.interval_s) && SAME(ksm.threshold_percent) &&
                SAME(ksm.max_cpu_percent) && SAME(ksm.pages_to_scan_min) && SAME(ksm.pages_to_scan_max) &&
                SAME(ksm.sleep_ms_min) && SAME(ksm.min_yield_mb_per_cpu_s) && SAME(ksm.kernel_advisor) &&
                SAME(ksm.advisor_target_scan_s) &&
                SAME(stats.interval_s) &&
                SAME_STR(control.socket) && SAME_STR(control.group) && SAME(control.mode) &&
                SAME(control.max_clients) &&
                SAME(log.level) && SAME(log.target);
#undef SAME
#undef SAME_STR
}

/*
 * Parse text that must be rejected; check the message and that *ret was
 * not touched.
 */
static void check_rejects(const char *text, const char *expected_error)
{
        Config c, before;
        char *error = NULL;
        int r;

        memset(&c, 0xAA, sizeof(c));
        before = c;
        r = config_parse_string(text, PATH, &c, &error);
        CHECK_INTEQ(r, -EINVAL);
        CHECK_STREQ(error, expected_error);
        CHECK(memcmp(&c, &before, sizeof(c)) == 0);
        free(error);
}

/* Parse text that must be accepted. */
static bool parse_ok(const char *text, Config *ret)
{
        char *error = NULL;
        int r = config_parse_string(text, PATH, ret, &error);

        if (r < 0) {
                fprintf(stderr, "  unexpected error %d: %s\n", r, error ?: "(none)");
                free(error);
                return false;
        }
        return true;
}

TEST(defaults)
{
        Config c;

        CHECK_INTEQ(config_init_defaults(&c), 0);
        CHECK(c.path == NULL);
        CHECK_INTEQ(c.balloon.source, BALLOON_SOURCE_HOST);
        CHECK_INTEQ(c.balloon.min_mem_mb, 256);
        CHECK_INTEQ(c.balloon.simulate_target_mb, 0);
        CHECK_INTEQ(c.balloon.poll_interval_s, 60);
        CHECK_INTEQ(c.balloon.inflate_step_mb, 64);
        CHECK_INTEQ(c.balloon.deflate_step_mb, 256);
        CHECK_INTEQ(c.balloon.hysteresis_mb, 4);
        CHECK_INTEQ(c.balloon.backoff_ms, 200);
        CHECK(!c.balloon.deflate_on_exit);
        CHECK(!c.auto_loan.enabled);
        CHECK_INTEQ(c.auto_loan.headroom_mb, 512);
        CHECK_INTEQ(c.auto_loan.interval_s, 10);
        CHECK_INTEQ(c.oom.release_mb, 64);
        CHECK_INTEQ(c.oom.debt_decay_mb_per_min, 1024);
        CHECK_INTEQ(c.oom.psi_some_ms, 150);
        CHECK_INTEQ(c.oom.psi_window_ms, 1000);
        CHECK_INTEQ(c.oom.min_available_mb, 128);
        CHECK_INTEQ(c.oom.relief_step_mb, 32);
        CHECK_INTEQ(c.oom.backoff_s, 30);
        CHECK(c.hotplug.enabled);
        CHECK_INTEQ(c.hotplug.online, HOTPLUG_ONLINE_MOVABLE);
        CHECK_INTEQ(c.hotplug.delay_s, 5);
        CHECK(!c.ksm.enabled);
        CHECK_INTEQ(c.ksm.policy, KSM_POLICY_ADAPTIVE);
        CHECK_INTEQ(c.ksm.interval_s, 0);
        CHECK_INTEQ(c.ksm.threshold_percent, 20);
        CHECK_INTEQ(c.ksm.max_cpu_percent, 10);
        CHECK_INTEQ(c.ksm.pages_to_scan_min, 64);
        CHECK_INTEQ(c.ksm.pages_to_scan_max, 1250);
        CHECK_INTEQ(c.ksm.sleep_ms_min, 10);
        CHECK_INTEQ(c.ksm.min_yield_mb_per_cpu_s, 8);
        CHECK(c.ksm.kernel_advisor);
        CHECK_INTEQ(c.ksm.advisor_target_scan_s, 30);
        CHECK_INTEQ(c.stats.interval_s, 5);
        CHECK_STREQ(c.control.socket, "/run/memballoond/control");
        CHECK_STREQ(c.control.group, "");
        CHECK_INTEQ(c.control.mode, 0660);
        CHECK_INTEQ(c.control.max_clients, 16);
        CHECK_INTEQ(c.log.level, LOG_INFO);
        CHECK_INTEQ(c.log.target, LOG_TARGET_AUTO);

        config_done(&c);
        CHECK(c.control.socket == NULL && c.control.group == NULL);
        config_done(&c);        /* twice is fine */
        config_done(NULL);
}

TEST(enum_names)
{
        CHECK_STREQ(balloon_source_to_string(BALLOON_SOURCE_SIMULATE), "simulate");
        CHECK_STREQ(balloon_source_to_string(BALLOON_SOURCE_HOST), "host");
        CHECK_STREQ(balloon_source_to_string(BALLOON_SOURCE_VIRTIO), "virtio");
        CHECK_STREQ(balloon_source_to_string(BALLOON_SOURCE_CMM), "cmm");
        CHECK_STREQ(balloon_source_to_string(BALLOON_SOURCE_VMWARE), "vmware");
        CHECK_STREQ(hotplug_online_to_string(HOTPLUG_ONLINE_NONE), "none");
        CHECK_STREQ(ksm_policy_to_string(KSM_POLICY_KSMTUNED), "ksmtuned");
        CHECK_STREQ(log_target_to_string(LOG_TARGET_CONSOLE), "console");
        CHECK_STREQ(log_level_to_string(LOG_ERR), "err");
        CHECK_STREQ(log_level_to_string(LOG_DEBUG), "debug");
        CHECK(log_level_to_string(LOG_EMERG) == NULL);
        CHECK(balloon_source_to_string((BalloonSource) 42) == NULL);
}

TEST(empty_is_defaults)
{
        static const char *const texts[] = {
                "",
                "\n\n   \n",
                "# only a comment\n// another\n/* and a\n block */\n",
                "balloon = { };\nauto = {};\noom:{}\nhotplug = {};\nksm = {};\nstats = {};\ncontrol = {};\nlog = {};\n",
        };
        Config def, c;

        CHECK_INTEQ(config_init_defaults(&def), 0);
        for (size_t i = 0; i < ELEMENTSOF(texts); i++) {
                if (!parse_ok(texts[i], &c)) {
                        CHECK(false);
                        continue;
                }
                CHECK(config_equal(&c, &def));
                CHECK_STREQ(c.path, PATH);
                config_done(&c);
        }
        config_done(&def);
}

/* Every key set to something other than its default. */
static const char full_text[] =
        "# a complete file\n"
        "balloon = {\n"
        "    source = \"simulate\";\n"
        "    min_mem_mb = 1024L;          // int64 literal\n"
        "    simulate_target_mb = 0x800;  # hex\n"
        "    poll_interval_s = 0;\n"
        "    inflate_step_mb = 32;\n"
        "    deflate_step_mb = 512;\n"
        "    hysteresis_mb = 0;\n"
        "    backoff_ms = 1000;\n"
        "    deflate_on_exit = true;\n"
        "};\n"
        "auto : {\n"
        "    enabled = TRUE;\n"
        "    headroom_mb = 16777216;\n"
        "    interval_s = 3;\n"
        "}\n"
        "oom = { release_mb = 0; debt_decay_mb_per_min = 100; psi_some_ms = 100; psi_window_ms = 2000;\n"
        "        min_available_mb = 0; relief_step_mb = 128; backoff_s = 0; };\n"
        "hotplug = { enabled = false; online = \"none\"; delay_s = 0; };\n"
        "ksm = {\n"
        "    enabled = true;\n"
        "    policy = \"ksmtuned\";\n"
        "    interval_s = 30;\n"
        "    threshold_percent = 100;\n"
        "    max_cpu_percent = 50;\n"
        "    pages_to_scan_min = 100;\n"
        "    pages_to_scan_max = 100;     /* equal bounds are fine */\n"
        "    sleep_ms_min = 20;\n"
        "    min_yield_mb_per_cpu_s = 0;\n"
        "    kernel_advisor = false;\n"
        "    advisor_target_scan_s = 60;\n"
        "};\n"
        "stats = { interval_s = 7; };\n"
        "control = {\n"
        "    socket = \"/run/mb/\" \"ctl\";  # adjacent strings concatenate\n"
        "    group = \"memballoon\";\n"
        "    mode = \"0600\";\n"
        "    max_clients = 1024;\n"
        "};\n"
        "log = { level = \"debug\"; target = \"console\"; };\n";

TEST(full_file)
{
        Config c;

        if (!parse_ok(full_text, &c)) {
                CHECK(false);
                return;
        }
        CHECK_INTEQ(c.balloon.source, BALLOON_SOURCE_SIMULATE);
        CHECK_INTEQ(c.balloon.min_mem_mb, 1024);
        CHECK_INTEQ(c.balloon.simulate_target_mb, 2048);
        CHECK_INTEQ(c.balloon.poll_interval_s, 0);
        CHECK_INTEQ(c.balloon.inflate_step_mb, 32);
        CHECK_INTEQ(c.balloon.deflate_step_mb, 512);
        CHECK_INTEQ(c.balloon.hysteresis_mb, 0);
        CHECK_INTEQ(c.balloon.backoff_ms, 1000);
        CHECK(c.balloon.deflate_on_exit);
        CHECK(c.auto_loan.enabled);
        CHECK_INTEQ(c.auto_loan.headroom_mb, 16777216);
        CHECK_INTEQ(c.auto_loan.interval_s, 3);
        CHECK_INTEQ(c.oom.release_mb, 0);
        CHECK_INTEQ(c.oom.debt_decay_mb_per_min, 100);
        CHECK_INTEQ(c.oom.psi_some_ms, 100);
        CHECK_INTEQ(c.oom.psi_window_ms, 2000);
        CHECK_INTEQ(c.oom.min_available_mb, 0);
        CHECK_INTEQ(c.oom.relief_step_mb, 128);
        CHECK_INTEQ(c.oom.backoff_s, 0);
        CHECK(!c.hotplug.enabled);
        CHECK_INTEQ(c.hotplug.online, HOTPLUG_ONLINE_NONE);
        CHECK_INTEQ(c.hotplug.delay_s, 0);
        CHECK(c.ksm.enabled);
        CHECK_INTEQ(c.ksm.policy, KSM_POLICY_KSMTUNED);
        CHECK_INTEQ(c.ksm.interval_s, 30);
        CHECK_INTEQ(c.ksm.threshold_percent, 100);
        CHECK_INTEQ(c.ksm.max_cpu_percent, 50);
        CHECK_INTEQ(c.ksm.pages_to_scan_min, 100);
        CHECK_INTEQ(c.ksm.pages_to_scan_max, 100);
        CHECK_INTEQ(c.ksm.sleep_ms_min, 20);
        CHECK_INTEQ(c.ksm.min_yield_mb_per_cpu_s, 0);
        CHECK(!c.ksm.kernel_advisor);
        CHECK_INTEQ(c.ksm.advisor_target_scan_s, 60);
        CHECK_INTEQ(c.stats.interval_s, 7);
        CHECK_STREQ(c.control.socket, "/run/mb/ctl");
        CHECK_STREQ(c.control.group, "memballoon");
        CHECK_INTEQ(c.control.mode, 0600);
        CHECK_INTEQ(c.control.max_clients, 1024);
        CHECK_INTEQ(c.log.level, LOG_DEBUG);
        CHECK_INTEQ(c.log.target, LOG_TARGET_CONSOLE);
        CHECK_STREQ(c.path, PATH);
        config_done(&c);
}

TEST(reject_syntax)
{
        check_rejects("balloon = {\n    min_mem_mb = 5;\n    hysteresis_mb = = 3;\n};\n",
                      PATH ":3: syntax error");
        check_rejects("balloon = {\n    source = \"virtio;\n};\n",
                      PATH ":4: syntax error");
        check_rejects("balloon = { min_mem_mb = 5; };;\n", PATH ":1: syntax error");
        check_rejects("\n\nballoon { }\n", PATH ":3: syntax error");
        check_rejects("balloon = { min_mem_mb = 5 % 3; };\n", PATH ":1: syntax error");
        check_rejects("\n@include \"/etc/passwd\"\n", PATH ":2: @include is not supported");
}

TEST(reject_type)
{
        check_rejects("balloon = {\n    min_mem_mb = \"256\";\n};\n",
                      PATH ":2: balloon.min_mem_mb: expected an integer, got a string");
        check_rejects("balloon = { min_mem_mb = 256.0; };\n",
                      PATH ":1: balloon.min_mem_mb: expected an integer, got a float");
        check_rejects("balloon = { min_mem_mb = [256]; };\n",
                      PATH ":1: balloon.min_mem_mb: expected an integer, got an array");
        check_rejects("auto = {\n\n    enabled = 1;\n};\n",
                      PATH ":3: auto.enabled: expected a boolean (true or false), got an integer");
        check_rejects("auto = { enabled = \"yes\"; };\n",
                      PATH ":1: auto.enabled: expected a boolean (true or false), got a string");
        check_rejects("log = { level = 7; };\n",
                      PATH ":1: log.level: expected a string, got an integer");
        check_rejects("control = { socket = { }; };\n",
                      PATH ":1: control.socket: expected a string, got a group");
        /* libconfig 1.5 reads 0660 as decimal 660, so the mode must be a string. */
        check_rejects("control = {\n  mode = 0660;\n};\n",
                      PATH ":2: control.mode: expected a string of octal digits such as \"0660\", got an integer");
}

TEST(reject_range)
{
        check_rejects("# line 1\n\n\n\n\n\n\n\n\n\nballoon = {\n    min_mem_mb = 99999999;\n};\n",
                      PATH ":12: balloon.min_mem_mb: value 99999999 out of range 0..16777216 (MiB)");
        /* libconfig 1.5 would wrap this to 256; we check the literal as written. */
        check_rejects("balloon = { min_mem_mb = 4294967552; };\n",
                      PATH ":1: balloon.min_mem_mb: value 4294967552 out of range 0..16777216 (MiB)");
        check_rejects("balloon = { min_mem_mb = 99999999999999999999999L; };\n",
                      PATH ":1: balloon.min_mem_mb: value 99999999999999999999999L out of range 0..16777216 (MiB)");
        check_rejects("balloon = { inflate_step_mb = 0x100000001; };\n",
                      PATH ":1: balloon.inflate_step_mb: value 0x100000001 out of range 1..16384 (MiB)");
        check_rejects("balloon = { min_mem_mb = -1; };\n",
                      PATH ":1: balloon.min_mem_mb: value -1 out of range 0..16777216 (MiB)");
        check_rejects("balloon = { backoff_ms = 0; };\n",
                      PATH ":1: balloon.backoff_ms: value 0 out of range 1..60000 (ms)");
        check_rejects("ksm = { threshold_percent = 101; };\n",
                      PATH ":1: ksm.threshold_percent: value 101 out of range 0..100 (percent)");
        check_rejects("oom = {\n    psi_window_ms = 499;\n};\n",
                      PATH ":2: oom.psi_window_ms: value 499 out of range 500..10000 (ms)");
        check_rejects("oom = { psi_window_ms = 10001; };\n",
                      PATH ":1: oom.psi_window_ms: value 10001 out of range 500..10000 (ms)");
        check_rejects("control = { mode = \"1777\"; };\n",
                      PATH ":1: control.mode: mode \"1777\" out of range 0000..0777");
        check_rejects("control = { mode = \"0668\"; };\n",
                      PATH ":1: control.mode: invalid mode \"0668\", expected octal digits such as \"0660\"");
        check_rejects("control = { mode = \"\"; };\n",
                      PATH ":1: control.mode: invalid mode \"\", expected octal digits such as \"0660\"");
}

TEST(reject_names)
{
        check_rejects("balloon = { };\nballon = {\n    min_mem_mb = 1;\n};\n",
                      PATH ":2: ballon: unknown group; known groups are balloon, auto, oom, hotplug, ksm, stats, control and log");
        check_rejects("balloon = {\n    min_mem_mb = 512;\n    max_mem_mb = 1024;\n};\n",
                      PATH ":3: balloon.max_mem_mb: unknown key");
        /* A key of another group is unknown here. */
        check_rejects("auto = { headroom_mb = 1; socket = \"/x\"; };\n",
                      PATH ":1: auto.socket: unknown key");
        check_rejects("\nmin_mem_mb = 512;\n",
                      PATH ":2: min_mem_mb: not a group; settings belong in a group such as balloon = { ... }");
        check_rejects("balloon = {\n    min_mem_mb = 512;\n    min_mem_mb = 1024;\n};\n",
                      PATH ":3: balloon.min_mem_mb: duplicate key");
        check_rejects("ksm = { enabled = true; };\nlog = { };\nksm = { };\n",
                      PATH ":3: ksm: duplicate setting");
}

TEST(reject_enum)
{
        check_rejects("balloon = {\n    source = \"xen\";\n};\n",
                      PATH ":2: balloon.source: invalid value \"xen\", expected host, virtio, cmm, vmware or simulate");
        /* Names are exact: no case folding, no prefixes, no aliases. */
        check_rejects("balloon = { source = \"VMware\"; };\n",
                      PATH ":1: balloon.source: invalid value \"VMware\", expected host, virtio, cmm, vmware or simulate");
        check_rejects("balloon = { source = \"vmw\"; };\n",
                      PATH ":1: balloon.source: invalid value \"vmw\", expected host, virtio, cmm, vmware or simulate");
        check_rejects("balloon = { source = \"\"; };\n",
                      PATH ":1: balloon.source: invalid value \"\", expected host, virtio, cmm, vmware or simulate");
        check_rejects("hotplug = { online = \"online_movable\"; };\n",
                      PATH ":1: hotplug.online: invalid value \"online_movable\", expected movable, kernel, auto or none");
        check_rejects("log = { level = \"warn\"; };\n",
                      PATH ":1: log.level: invalid value \"warn\", expected err, warning, notice, info or debug");
        check_rejects("log = { target = \"Journal\"; };\n",
                      PATH ":1: log.target: invalid value \"Journal\", expected auto, journal or console");
        check_rejects("ksm = { policy = \"\"; };\n",
                      PATH ":1: ksm.policy: invalid value \"\", expected adaptive or ksmtuned");
}

/* Every balloon.source name parses to its own value, and names it back. */
TEST(balloon_sources)
{
        static const struct {
                const char *name;
                BalloonSource value;
        } sources[] = {
                { "host", BALLOON_SOURCE_HOST },
                { "virtio", BALLOON_SOURCE_VIRTIO },
                { "cmm", BALLOON_SOURCE_CMM },
                { "vmware", BALLOON_SOURCE_VMWARE },
                { "simulate", BALLOON_SOURCE_SIMULATE },
        };

        for (size_t i = 0; i < ELEMENTSOF(sources); i++) {
                char text[128];
                Config c;

                snprintf(text, sizeof(text), "balloon = { source = \"%s\"; };\n", sources[i].name);
                if (!parse_ok(text, &c)) {
                        CHECK(false);
                        continue;
                }
                CHECK_INTEQ(c.balloon.source, sources[i].value);
                CHECK_STREQ(balloon_source_to_string(c.balloon.source), sources[i].name);
                config_done(&c);
        }
}

TEST(reject_strings)
{
        char text[256], expected[256];
        char path_107[108], path_108[109];
        Config c;

        check_rejects("control = {\n    socket = \"run/memballoond/control\";\n};\n",
                      PATH ":2: control.socket: \"run/memballoond/control\" is not an absolute file name");
        check_rejects("control = { socket = \"/run/memballoond/\"; };\n",
                      PATH ":1: control.socket: \"/run/memballoond/\" is not an absolute file name");
        check_rejects("control = { socket = \"\"; };\n",
                      PATH ":1: control.socket: length 0 out of range 1..107 (characters)");

        /* sun_path holds 107 characters and the NUL. */
        path_107[0] = '/';
        memset(path_107 + 1, 'a', 106);
        path_107[107] = '\0';
        snprintf(text, sizeof(text), "control = { socket = \"%s\"; };", path_107);
        if (parse_ok(text, &c)) {
                CHECK_STREQ(c.control.socket, path_107);
                config_done(&c);
        } else
                CHECK(false);

        snprintf(path_108, sizeof(path_108), "%sa", path_107);
        snprintf(text, sizeof(text), "control = {\n socket = \"%s\"; };", path_108);
        check_rejects(text, PATH ":2: control.socket: length 108 out of range 1..107 (characters)");

        check_rejects("control = { group = \"-wheel\"; };\n",
                      PATH ":1: control.group: \"-wheel\" is not a valid group name");
        check_rejects("control = { group = \"a b\"; };\n",
                      PATH ":1: control.group: \"a b\" is not a valid group name");
        snprintf(text, sizeof(text), "control = { group = \"%033d\"; };", 0);
        snprintf(expected, sizeof(expected), PATH ":1: control.group: length 33 out of range 0..32 (characters)");
        check_rejects(text, expected);
}

TEST(reject_cross_key)
{
        check_rejects("ksm = {\n    pages_to_scan_min = 2000;\n};\n",
                      PATH ":2: ksm.pages_to_scan_min: value 2000 must be at most ksm.pages_to_scan_max (1250)");
        check_rejects("ksm = {\n    pages_to_scan_max = 10;\n};\n",
                      PATH ":2: ksm.pages_to_scan_max: value 10 must be at least ksm.pages_to_scan_min (64)");
        /* Both given: the later one is blamed. */
        check_rejects("ksm = {\n    pages_to_scan_max = 100;\n    pages_to_scan_min = 200;\n};\n",
                      PATH ":3: ksm.pages_to_scan_min: value 200 must be at most ksm.pages_to_scan_max (100)");
        check_rejects("oom = {\n    psi_some_ms = 1000;\n};\n",
                      PATH ":2: oom.psi_some_ms: value 1000 must be less than oom.psi_window_ms (1000)");
        check_rejects("oom = {\n    psi_some_ms = 400;\n    psi_window_ms = 500;\n    relief_step_mb = 1;\n};\n"
                      "oom2 = {};\n",
                      PATH ":6: oom2: unknown group; known groups are balloon, auto, oom, hotplug, ksm, stats, control and log");
        check_rejects("oom = {\n    psi_window_ms = 600;\n\n    psi_some_ms = 600;\n};\n",
                      PATH ":4: oom.psi_some_ms: value 600 must be less than oom.psi_window_ms (600)");
        check_rejects("oom = { psi_some_ms = 300; };\noom2 = 1;\n",
                      PATH ":2: oom2: not a group; settings belong in a group such as balloon = { ... }");
}

TEST(int_literals)
{
        Config c;

        /* Literals libconfig 1.5 reads correctly, and their neighbours. */
        if (parse_ok("balloon = { min_mem_mb = 16777216L; simulate_target_mb = +5; hysteresis_mb = 0x10;\n"
                     "            inflate_step_mb = 00012; deflate_step_mb = 0x20L; };\n"
                     "/* 99999999999 in a comment */ # 4294967552\n"
                     "control = { group = \"g1\"; socket = \"/run/4294967552\"; };\n"
                     "auto = { headroom_mb = 16777216; };\n", &c)) {
                CHECK_INTEQ(c.balloon.min_mem_mb, 16777216);
                CHECK_INTEQ(c.balloon.simulate_target_mb, 5);
                CHECK_INTEQ(c.balloon.hysteresis_mb, 16);
                CHECK_INTEQ(c.balloon.inflate_step_mb, 12);   /* decimal, not octal */
                CHECK_INTEQ(c.balloon.deflate_step_mb, 32);
                CHECK_STREQ(c.control.socket, "/run/4294967552");
                config_done(&c);
        } else
                CHECK(false);

        check_rejects("balloon = { min_mem_mb = 0xFFFFFFFF; };\n",
                      PATH ":1: balloon.min_mem_mb: value 0xFFFFFFFF out of range 0..16777216 (MiB)");
        check_rejects("balloon = { hysteresis_mb = -4294967295; };\n",
                      PATH ":1: balloon.hysteresis_mb: value -4294967295 out of range 0..1024 (MiB)");
        check_rejects("balloon = { hysteresis_mb = 1e3; };\n",
                      PATH ":1: balloon.hysteresis_mb: expected an integer, got a float");
}

static void check_round_trip(const char *text)
{
        _cleanup_free_ char *dump = NULL, *dump2 = NULL;
        Config a, b;

        if (!parse_ok(text, &a)) {
                CHECK(false);
                return;
        }
        dump = dump_to_string(&a);
        CHECK(dump != NULL);
        if (dump && parse_ok(dump, &b)) {
                CHECK(config_equal(&a, &b));
                dump2 = dump_to_string(&b);
                CHECK_STREQ(dump, dump2);
                config_done(&b);
        } else
                CHECK(false);
        config_done(&a);
}

TEST(round_trip)
{
        Config def, b;
        _cleanup_free_ char *dump = NULL;

        check_round_trip("");
        check_round_trip(full_text);
        check_round_trip("control = { socket = \"/run/we \\\"ird\\\\ \\x01\\t\\n\\x7f\\xc3\\xa9\"; };\n");

        /* The path is in a comment; a newline in it must not break the dump. */
        if (parse_ok("", &def)) {
                free(def.path);
                def.path = strdup("/tmp/odd\nballoon = 1;");
                dump = dump_to_string(&def);
                CHECK(dump && strstr(dump, "# memballoond configuration, loaded from /tmp/odd?balloon = 1;\n"));
                if (dump && parse_ok(dump, &b)) {
                        CHECK(config_equal(&def, &b));
                        config_done(&b);
                } else
                        CHECK(false);
                free(dump);
                dump = NULL;
                config_done(&def);
        } else
                CHECK(false);

        /* The dump names every key with its value and the unit as a comment. */
        CHECK_INTEQ(config_init_defaults(&def), 0);
        dump = dump_to_string(&def);
        CHECK(dump && strstr(dump, "\nballoon = {\n"));
        CHECK(dump && strstr(dump, "\n    min_mem_mb = 256;               # MiB\n"));
        CHECK(dump && strstr(dump, "\n    mode = \"0660\";                  # octal\n"));
        CHECK(dump && strstr(dump, "\n    socket = \"/run/memballoond/control\";\n"));
        CHECK(dump && strstr(dump, "\n    level = \"info\";\n"));
        config_done(&def);
}

TEST(load)
{
        char tmp[] = "/tmp/test-config-XXXXXX";
        char *error = NULL;
        Config c;
        FILE *f;
        int fd, r;

        r = config_load("/nonexistent/memballoond.conf", &c, &error);
        CHECK_INTEQ(r, -ENOENT);
        CHECK_STREQ(error, "/nonexistent/memballoond.conf: No such file or directory");
        free(error);
        error = NULL;

        r = config_load("/", &c, &error);
        CHECK_INTEQ(r, -EISDIR);
        CHECK_STREQ(error, "/: Is a directory");
        free(error);
        error = NULL;

        fd = mkstemp(tmp);
        CHECK(fd >= 0);
        if (fd < 0)
                return;
        f = fdopen(fd, "w");
        fputs("# test\nballoon = {\n    min_mem_mb = 512;\n    bogus = 1;\n};\n", f);
        fclose(f);
        r = config_load(tmp, &c, &error);
        CHECK_INTEQ(r, -EINVAL);
        if (error) {
                char expected[128];
                snprintf(expected, sizeof(expected), "%s:4: balloon.bogus: unknown key", tmp);
                CHECK_STREQ(error, expected);
        }
        free(error);
        error = NULL;

        f = fopen(tmp, "we");
        fputs("balloon = {\n    min_mem_mb = 512;\n};\n", f);
        fclose(f);
        r = config_load(tmp, &c, &error);
        CHECK_INTEQ(r, 0);
        if (r == 0) {
                CHECK_INTEQ(c.balloon.min_mem_mb, 512);
                CHECK_STREQ(c.path, tmp);
                config_done(&c);
        }

        /* libconfig would stop at a NUL silently. */
        f = fopen(tmp, "we");
        fwrite("balloon = {\n};\n\0log = {};\n", 1, 26, f);
        fclose(f);
        r = config_load(tmp, &c, &error);
        CHECK_INTEQ(r, -EINVAL);
        if (error) {
                char expected[128];
                snprintf(expected, sizeof(expected), "%s:3: NUL byte in file", tmp);
                CHECK_STREQ(error, expected);
        }
        free(error);

        /* No error string wanted: only the code. */
        CHECK_INTEQ(config_parse_string("x = 1;", PATH, &c, NULL), -EINVAL);

        unlink(tmp);
}

/*
 * The keys, as "group.name" and value text, taken from the dump of the
 * defaults: the schema seen through the public interface.
 */
typedef struct DumpKey {
        char group[32], name[64], value[128];
} DumpKey;

static size_t dump_keys(DumpKey *keys, size_t max)
{
        _cleanup_free_ char *dump = NULL;
        char group[32] = "";
        size_t n = 0;
        Config def;

        if (config_init_defaults(&def) < 0)
                return 0;
        dump = dump_to_string(&def);
        config_done(&def);
        if (!dump)
                return 0;

        for (char *line = strtok(dump, "\n"); line && n < max; line = strtok(NULL, "\n")) {
                char *eq, *semi;

                if (line[0] != ' ') {
                        if (sscanf(line, "%31s = {", group) != 1)
                                group[0] = '\0';
                        continue;
                }
                eq = strstr(line, " = ");
                semi = strrchr(line, ';');
                if (!eq || !semi)
                        continue;
                snprintf(keys[n].group, sizeof(keys[n].group), "%s", group);
                snprintf(keys[n].name, sizeof(keys[n].name), "%.*s", (int) (eq - line - 4), line + 4);
                snprintf(keys[n].value, sizeof(keys[n].value), "%.*s", (int) (semi - eq - 3), eq + 3);
                n++;
        }
        return n;
}

/* Uncomment "#key = value;" lines (no space after '#'), keep the rest. */
static char *uncomment_settings(const char *text)
{
        char *out = strdup(text), *w = out;
        const char *line = text;

        if (!out)
                return NULL;
        while (*line) {
                const char *end = strchrnul(line, '\n');
                const char *p = line + strspn(line, " \t");

                if (p[0] == '#' && ((p[1] >= 'a' && p[1] <= 'z') || (p[1] >= 'A' && p[1] <= 'Z'))) {
                        memcpy(w, line, (size_t) (p - line));
                        w += p - line;
                        p++;
                } else
                        p = line;
                memcpy(w, p, (size_t) (end - p));
                w += end - p;
                if (*end == '\n')
                        *w++ = '\n';
                line = *end ? end + 1 : end;
        }
        *w = '\0';
        return out;
}

TEST(shipped_conf)
{
        _cleanup_free_ char *path = NULL, *text = NULL, *uncommented = NULL;
        DumpKey keys[64];
        size_t n = dump_keys(keys, ELEMENTSOF(keys));
        char *error = NULL;
        Config def, c;

        CHECK_INTEQ(n, 40);
        CHECK(asprintf(&path, "%s/conf/memballoond.conf", srcdir()) > 0);
        text = read_file(path);
        CHECK(text != NULL);
        if (!text)
                return;

        CHECK_INTEQ(config_init_defaults(&def), 0);

        /* As shipped: everything commented out, so all defaults. */
        CHECK_INTEQ(config_load(path, &c, &error), 0);
        if (error)
                fprintf(stderr, "  %s\n", error);
        free(error);
        error = NULL;
        CHECK(config_equal(&c, &def));
        config_done(&c);

        /* Every key is there, commented out, with its default. */
        for (size_t i = 0; i < n; i++) {
                char line[256];
                snprintf(line, sizeof(line), "\n    #%.63s = %.127s;\n", keys[i].name, keys[i].value);
                if (!strstr(text, line)) {
                        fprintf(stderr, "  %s: missing \"%s.%s\" line:%s", path, keys[i].group, keys[i].name, line);
                        CHECK(false);
                }
        }

        /* Uncommented, the file still parses and is still the defaults. */
        uncommented = uncomment_settings(text);
        CHECK(uncommented != NULL);
        if (uncommented && parse_ok(uncommented, &c)) {
                CHECK(config_equal(&c, &def));
                config_done(&c);
        } else
                CHECK(false);
        config_done(&def);
}

TEST(man_page)
{
        _cleanup_free_ char *path = NULL, *text = NULL;
        DumpKey keys[64];
        size_t n = dump_keys(keys, ELEMENTSOF(keys));

        CHECK(asprintf(&path, "%s/man/memballoond.conf.5", srcdir()) > 0);
        text = read_file(path);
        CHECK(text != NULL);
        if (!text)
                return;

        /* Each key has its entry, and the entry states the default. */
        for (size_t i = 0; i < n; i++) {
                char entry[128];
                const char *p, *end;

                snprintf(entry, sizeof(entry), "\n.TP\n.B %.31s.%.63s\n", keys[i].group, keys[i].name);
                p = strstr(text, entry);
                if (!p) {
                        fprintf(stderr, "  %s: no entry \"%s.%s\"\n", path, keys[i].group, keys[i].name);
                        CHECK(false);
                        continue;
                }
                p += strlen(entry);
                end = strstr(p, "\n.TP\n");
                if (!end)
                        end = strstr(p, "\n.SH ");
                if (!end || !memmem(p, (size_t) (end - p), "Default:", 8)) {
                        fprintf(stderr, "  %s: no default for \"%s.%s\"\n", path, keys[i].group, keys[i].name);
                        CHECK(false);
                }
        }
}

/* What changed on reload: one function over the key table. */
TEST(changed)
{
        Config a, b;

        if (!parse_ok("oom = { psi_some_ms = 100; }; control = { socket = \"/run/x\"; };", &a) ||
            !parse_ok("oom = { psi_some_ms = 200; }; control = { socket = \"/run/x\"; };", &b))
                return;
        CHECK(config_changed(&a, &b, "oom", NULL));
        CHECK(config_changed(&a, &b, "oom.psi_some_ms", NULL));
        CHECK(!config_changed(&a, &b, "oom.psi_window_ms", NULL));
        CHECK(config_changed(&a, &b, "ksm", "oom.psi_some_ms", NULL));
        CHECK(!config_changed(&a, &b, "ksm", "balloon", "control", NULL));
        CHECK(!config_changed(&a, &b, "control.socket", NULL));
        CHECK(config_changed(NULL, &b, "ksm", NULL));
        config_done(&b);
        /* Strings compare by value, not by pointer. */
        if (!parse_ok("oom = { psi_some_ms = 100; }; control = { socket = \"/run/y\"; };", &b))
                return;
        CHECK(config_changed(&a, &b, "control.socket", NULL));
        CHECK(!config_changed(&a, &b, "oom", NULL));
        config_done(&a);
        config_done(&b);
}

int main(void)
{
        RUN(defaults);
        RUN(changed);
        RUN(enum_names);
        RUN(empty_is_defaults);
        RUN(full_file);
        RUN(reject_syntax);
        RUN(reject_type);
        RUN(reject_range);
        RUN(reject_names);
        RUN(reject_enum);
        RUN(balloon_sources);
        RUN(reject_strings);
        RUN(reject_cross_key);
        RUN(int_literals);
        RUN(round_trip);
        RUN(load);
        RUN(shipped_conf);
        RUN(man_page);
        return test_summary();
}
