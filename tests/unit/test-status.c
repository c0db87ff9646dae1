/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Status JSON: the keys other tools rely on, their types, and the human
 * rendering memballoonctl prints from them. */
#include <stdlib.h>
#include <string.h>

#include "status-format.h"
#include "status.h"
#include "test.h"

static json_object *lookup(json_object *o, const char *a, const char *b)
{
        json_object *v = NULL;

        if (!json_object_object_get_ex(o, a, &v))
                return NULL;
        if (b && !json_object_object_get_ex(v, b, &v))
                return NULL;
        return v;
}

static const StatusInfo sample = {
        .version = "9.9.9",
        .uptime_sec = 3725,
        .config_path = "/etc/memballoond.conf",
        .daemon_state = "running",
        .balloon_available = true,
        .transport = "virtio",
        .source = "virtio",
        .device = "/dev/memballoon",
        .host_target_kib = 524288,
        .target_kib = 524288,
        .actual_kib = 262144,
        .min_mem_kib = 262144,
        .oom_freed_kib = 1024,
        .state = "inflating",
        .reason = "allocation failed, backing off",
        .ksm_enabled = true,
        .control_socket = "/run/memballoond/control",
};

TEST(required_keys)
{
        json_object *o = status_to_json(&sample);
        static const char *const ints[] = { "host_target_kib", "target_kib", "actual_kib",
                                            "min_mem_kib", "oom_freed_kib" };

        CHECK(o != NULL);
        CHECK_STREQ(json_object_get_string(lookup(o, "version", NULL)), "9.9.9");
        CHECK(json_object_is_type(lookup(o, "uptime_sec", NULL), json_type_int));
        CHECK_INTEQ(json_object_get_int64(lookup(o, "uptime_sec", NULL)), 3725);
        CHECK(json_object_is_type(lookup(o, "balloon", "available"), json_type_boolean));
        CHECK(json_object_get_boolean(lookup(o, "balloon", "available")));
        CHECK_STREQ(json_object_get_string(lookup(o, "balloon", "transport")), "virtio");
        for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++)
                CHECK(json_object_is_type(lookup(o, "balloon", ints[i]), json_type_int));
        CHECK_INTEQ(json_object_get_int64(lookup(o, "balloon", "actual_kib")), 262144);
        CHECK_INTEQ(json_object_get_int64(lookup(o, "balloon", "oom_freed_kib")), 1024);
        CHECK_STREQ(json_object_get_string(lookup(o, "balloon", "state")), "inflating");
        CHECK_STREQ(json_object_get_string(lookup(o, "balloon", "reason")), "allocation failed, backing off");
        CHECK(json_object_get_boolean(lookup(o, "ksm", "enabled")));
        CHECK_STREQ(json_object_get_string(lookup(o, "config", "path")), "/etc/memballoond.conf");
        json_object_put(o);
}

TEST(null_strings_become_empty)
{
        StatusInfo s = sample;
        json_object *o;

        s.reason = NULL;
        s.problem = NULL;
        o = status_to_json(&s);
        CHECK_STREQ(json_object_get_string(lookup(o, "balloon", "reason")), "");
        CHECK_STREQ(json_object_get_string(lookup(o, "balloon", "problem")), "");
        json_object_put(o);
}

TEST(human_summary)
{
        StatusInfo s = sample;
        json_object *o;
        char *buf = NULL;
        size_t len = 0;
        FILE *f;

        o = status_to_json(&s);
        f = open_memstream(&buf, &len);
        status_format_human(o, f);
        fclose(f);
        CHECK(strstr(buf, "memballoond 9.9.9: running, up 1h 02m 05s"));
        CHECK(strstr(buf, "Host target:     512 MiB"));
        CHECK(strstr(buf, "Actual:          256 MiB"));
        CHECK(strstr(buf, "Reason:          allocation failed, backing off"));
        CHECK(strstr(buf, "KSM: enabled"));
        CHECK(!strstr(buf, "Fix:"));
        free(buf);
        json_object_put(o);

        s.balloon_available = false;
        s.problem = "the memballoon kernel module is not loaded";
        s.fix = "modprobe memballoon";
        o = status_to_json(&s);
        buf = NULL;
        f = open_memstream(&buf, &len);
        status_format_human(o, f);
        fclose(f);
        CHECK(strstr(buf, "Problem:         /dev/memballoon: the memballoon kernel module is not loaded"));
        CHECK(strstr(buf, "Fix:             modprobe memballoon"));
        free(buf);
        json_object_put(o);

        /* Garbage in: every field prints as "?" and nothing crashes. */
        o = json_object_new_object();
        buf = NULL;
        f = open_memstream(&buf, &len);
        status_format_human(o, f);
        fclose(f);
        CHECK(strstr(buf, "memballoond ?: ?"));
        free(buf);
        json_object_put(o);
}

TEST(format_kib)
{
        char b[32];

        format_kib(300, b, sizeof(b));
        CHECK_STREQ(b, "300 KiB");
        format_kib(1024, b, sizeof(b));
        CHECK_STREQ(b, "1 MiB");
        format_kib(2 * 1024 * 1024, b, sizeof(b));
        CHECK_STREQ(b, "2 GiB");
        format_kib(1536 * 1024, b, sizeof(b));
        CHECK_STREQ(b, "1.5 GiB");
}

int main(void)
{
        RUN(required_keys);
        RUN(null_strings_become_empty);
        RUN(human_summary);
        RUN(format_kib);
        return test_summary();
}
