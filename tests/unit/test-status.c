/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The status schema (status-schema.h): every field defined once, written
 * and read back by the same ids, and the human rendering memballoonctl
 * prints from it. */
#include <stdlib.h>
#include <string.h>

#include "status-format.h"
#include "status-schema.h"
#include "test.h"

TEST(schema_paths_unique_and_well_formed)
{
        for (int i = 0; i < _SF_MAX; i++) {
                const char *p = status_fields[i].path;

                CHECK(p != NULL && p[0] && p[strlen(p) - 1] != '.' && !strstr(p, ".."));
                CHECK(strlen(p) < 64);
                for (int j = 0; j < i; j++)
                        CHECK(strcmp(p, status_fields[j].path) != 0);
                /* No field is also the parent object of another. */
                for (int j = 0; j < _SF_MAX; j++) {
                        size_t n = strlen(p);

                        CHECK(!(strncmp(status_fields[j].path, p, n) == 0 && status_fields[j].path[n] == '.'));
                }
        }
}

/* The sample a daemon in the middle of an inflate would write. */
static json_object *sample(void)
{
        json_object *o = json_object_new_object();

        status_put_string(o, SF_VERSION, "9.9.9");
        status_put_uint(o, SF_UPTIME_SEC, 3725);
        status_put_string(o, SF_STATE, "running");
        status_put_string(o, SF_CONFIG_PATH, "/etc/memballoond.conf");
        status_put_bool(o, SF_BALLOON_AVAILABLE, true);
        status_put_string(o, SF_BALLOON_TRANSPORT, "virtio");
        status_put_string(o, SF_BALLOON_SOURCE, "virtio");
        status_put_string(o, SF_BALLOON_DEVICE, "/dev/memballoon");
        status_put_uint(o, SF_BALLOON_HOST_TARGET_KIB, 524288);
        status_put_uint(o, SF_BALLOON_TARGET_KIB, 524288);
        status_put_uint(o, SF_BALLOON_ACTUAL_KIB, 262144);
        status_put_uint(o, SF_BALLOON_MIN_MEM_KIB, 262144);
        status_put_uint(o, SF_BALLOON_OOM_FREED_KIB, 1024);
        status_put_string(o, SF_BALLOON_STATE, "inflating");
        status_put_string(o, SF_BALLOON_REASON, "allocation failed, backing off");
        status_put_bool(o, SF_KSM_ENABLED, true);
        status_put_int(o, SF_KSM_PROFIT_KIB, -12);
        status_put_double(o, SF_KSM_KSMD_CPU_PERCENT, 1.0 / 0.0);
        status_put_strings_add(o, SF_PRESSURE_SIGNALS, "psi");
        status_put_strings_add(o, SF_PRESSURE_SIGNALS, "memavailable");
        status_put_string(o, SF_CONTROL_SOCKET, NULL);
        return o;
}

TEST(put_and_get)
{
        json_object *o = sample(), *v, *b;

        /* The JSON shape other tools read: nested objects, typed values. */
        CHECK(json_object_object_get_ex(o, "balloon", &b) && json_object_is_type(b, json_type_object));
        CHECK(json_object_object_get_ex(b, "actual_kib", &v) && json_object_is_type(v, json_type_int));
        CHECK_INTEQ(json_object_get_int64(v), 262144);
        CHECK(json_object_object_get_ex(b, "available", &v) && json_object_is_type(v, json_type_boolean));
        /* Read back by id. */
        CHECK_STREQ(status_get_string(o, SF_VERSION, "?"), "9.9.9");
        CHECK_INTEQ(status_get_uint(o, SF_UPTIME_SEC), 3725);
        CHECK(status_get_bool(o, SF_BALLOON_AVAILABLE));
        CHECK_INTEQ(status_get_uint(o, SF_BALLOON_OOM_FREED_KIB), 1024);
        CHECK_STREQ(status_get_string(o, SF_BALLOON_REASON, "?"), "allocation failed, backing off");
        CHECK_INTEQ(status_get_int(o, SF_KSM_PROFIT_KIB), -12);
        /* Infinity is not JSON: written as 0. */
        CHECK(status_get(o, SF_KSM_KSMD_CPU_PERCENT) != NULL);
        CHECK(status_get_double(o, SF_KSM_KSMD_CPU_PERCENT) == 0.0);
        CHECK_INTEQ(json_object_array_length(status_get(o, SF_PRESSURE_SIGNALS)), 2);
        /* NULL strings become "". */
        CHECK_STREQ(status_get_string(o, SF_CONTROL_SOCKET, "?"), "");
        /* Absent: NULL and the fallback. */
        CHECK(status_get(o, SF_BALLOON_LAST_CHANGE_KIND) == NULL);
        CHECK_STREQ(status_get_string(o, SF_BALLOON_LAST_CHANGE_KIND, "none"), "none");
        CHECK_INTEQ(status_get_uint(o, SF_HOTPLUG_EVENTS), 0);
        json_object_put(o);
}

TEST(get_refuses_wrong_types)
{
        json_object *o;

        /* A reply from another version or garbage never crashes a reader. */
        o = json_tokener_parse("{\"version\": 3, \"balloon\": \"x\", \"ksm\": {\"enabled\": \"yes\"}}");
        CHECK(o != NULL);
        CHECK(status_get(o, SF_VERSION) == NULL);
        CHECK_STREQ(status_get_string(o, SF_VERSION, "?"), "?");
        CHECK(status_get(o, SF_BALLOON_ACTUAL_KIB) == NULL);
        CHECK(!status_get_bool(o, SF_KSM_ENABLED));
        CHECK(status_get(NULL, SF_VERSION) == NULL);
        json_object_put(o);
}

static char *render(json_object *o, void (*fn)(json_object *, FILE *))
{
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);

        fn(o, f);
        fclose(f);
        return buf;
}

TEST(human_summary)
{
        json_object *o = sample();
        char *buf = render(o, status_format_human);

        CHECK(strstr(buf, "memballoond 9.9.9: running, up 1h 02m 05s"));
        CHECK(strstr(buf, "Host target:     512 MiB"));
        CHECK(strstr(buf, "Actual:          256 MiB"));
        CHECK(strstr(buf, "Reason:          allocation failed, backing off"));
        CHECK(strstr(buf, "KSM: enabled"));
        CHECK(!strstr(buf, "Fix:"));
        free(buf);

        status_put_bool(o, SF_BALLOON_AVAILABLE, false);
        status_put_string(o, SF_BALLOON_PROBLEM, "the memballoon kernel module is not loaded");
        status_put_string(o, SF_BALLOON_FIX, "modprobe memballoon");
        status_put_uint(o, SF_PRESSURE_COUNT, 2);
        status_put_uint(o, SF_PRESSURE_FREED_KIB, 92 * 1024);
        status_put_uint(o, SF_PRESSURE_LAST_NEED_KIB, 20 * 1024);
        status_put_string(o, SF_PRESSURE_LAST_SIGNAL, "memavailable");
        buf = render(o, status_format_human);
        CHECK(strstr(buf, "Problem:         /dev/memballoon: the memballoon kernel module is not loaded"));
        CHECK(strstr(buf, "Fix:             modprobe memballoon"));
        CHECK(strstr(buf, "Pressure events: 2, 92 MiB returned in all, last (memavailable) needed 20 MiB"));
        free(buf);
        json_object_put(o);

        /* Garbage in: every field prints as "?" and nothing crashes. */
        o = json_object_new_object();
        buf = render(o, status_format_human);
        CHECK(strstr(buf, "memballoond ?: ?"));
        free(buf);
        json_object_put(o);
}

/* Who owns the virtio-balloon device, and the fix when it is not us. */
TEST(human_device_owner)
{
        json_object *o = sample();
        char *buf;

        status_put_string(o, SF_BALLOON_VIRTIO_DEVICE, "virtio2");
        status_put_string(o, SF_BALLOON_DEVICE_DRIVER, "memballoon");
        buf = render(o, status_format_human);
        CHECK(strstr(buf, "Device:          virtio2, driver memballoon"));
        CHECK(!strstr(buf, "Problem:"));
        free(buf);

        /* The shim works (simulate mode) but the stock driver has the device. */
        status_put_string(o, SF_STATE, "degraded");
        status_put_string(o, SF_BALLOON_DEVICE_DRIVER, "virtio_balloon");
        status_put_string(o, SF_BALLOON_PROBLEM, "the virtio-balloon device virtio2 is bound to virtio_balloon");
        status_put_string(o, SF_BALLOON_FIX, "systemctl restart memballoond");
        buf = render(o, status_format_human);
        CHECK(strstr(buf, "memballoond 9.9.9: degraded"));
        CHECK(strstr(buf, "Device:          virtio2, driver virtio_balloon"));
        CHECK(strstr(buf, "Problem:         the virtio-balloon device virtio2 is bound to virtio_balloon"));
        CHECK(strstr(buf, "Fix:             systemctl restart memballoond"));
        free(buf);

        status_put_string(o, SF_BALLOON_DEVICE_DRIVER, "");
        buf = render(o, status_format_human);
        CHECK(strstr(buf, "Device:          virtio2, no driver"));
        free(buf);

        status_put_string(o, SF_BALLOON_VIRTIO_DEVICE, "");
        buf = render(o, status_format_human);
        CHECK(strstr(buf, "Device:          no virtio-balloon device"));
        free(buf);
        json_object_put(o);
}

/* GET_STATE v3: the host's page size and the transport's flags, why a
 * transport declined, resets and refusals; nothing of it from a daemon or
 * shim without it. */
TEST(human_transport_v3)
{
        json_object *o = sample();
        char *buf;

        buf = render(o, status_format_human);
        CHECK(!strstr(buf, "Host pages:"));
        CHECK(!strstr(buf, "Declined:"));
        CHECK(!strstr(buf, "Host resets:"));
        CHECK(!strstr(buf, "Host refused:"));
        free(buf);

        status_put_string(o, SF_BALLOON_TRANSPORT, "vmware");
        status_put_uint(o, SF_BALLOON_HOST_PAGE_SIZE, 2 << 20);
        status_put_strings_add(o, SF_BALLOON_TRANSPORT_FLAGS, "2m-pages");
        status_put_strings_add(o, SF_BALLOON_TRANSPORT_FLAGS, "batched");
        status_put_uint(o, SF_BALLOON_HOST_RESETS, 2);
        status_put_uint(o, SF_BALLOON_REFUSED_KIB, 12 * 1024);
        buf = render(o, status_format_human);
        CHECK(strstr(buf, "Balloon: inflating (transport vmware, source virtio)"));
        CHECK(strstr(buf, "Host pages:      2 MiB (2m-pages, batched)\n"));
        CHECK(strstr(buf, "Host resets:     2 (each emptied the balloon"));
        CHECK(strstr(buf, "Host refused:    12 MiB refused by the host"));
        CHECK(!strstr(buf, "Declined:"));
        free(buf);
        json_object_put(o);

        /* Simulate mode on a pSeries without CMO; no flags. */
        o = sample();
        status_put_string(o, SF_BALLOON_TRANSPORT, "simulate");
        status_put_uint(o, SF_BALLOON_HOST_PAGE_SIZE, 4096);
        status_put_strings_add(o, SF_BALLOON_TRANSPORT_FLAGS, NULL);
        status_put_uint(o, SF_BALLOON_HOST_RESETS, 0);
        status_put_uint(o, SF_BALLOON_REFUSED_KIB, 0);
        status_put_string(o, SF_BALLOON_DECLINED_TRANSPORT, "cmm");
        status_put_string(o, SF_BALLOON_DECLINED_REASON, "hypervisor does not offer cooperative memory overcommit");
        status_put_int(o, SF_BALLOON_DECLINED_ERROR, 0);
        buf = render(o, status_format_human);
        CHECK(strstr(buf, "Host pages:      4 KiB\n"));
        CHECK(strstr(buf, "Declined:        cmm: hypervisor does not offer cooperative memory overcommit\n"));
        CHECK(!strstr(buf, "Host resets:"));
        CHECK(!strstr(buf, "Host refused:"));
        free(buf);
        /* The JSON shape: balloon.declined is an object of its own. */
        {
                json_object *b, *d, *v;

                CHECK(json_object_object_get_ex(o, "balloon", &b) && json_object_object_get_ex(b, "declined", &d) &&
                      json_object_is_type(d, json_type_object));
                CHECK(json_object_object_get_ex(d, "error", &v) && json_object_is_type(v, json_type_int));
                CHECK(json_object_object_get_ex(b, "transport_flags", &v) &&
                      json_object_is_type(v, json_type_array) && json_object_array_length(v) == 0);
        }
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
        RUN(schema_paths_unique_and_well_formed);
        RUN(put_and_get);
        RUN(get_refuses_wrong_types);
        RUN(human_summary);
        RUN(human_device_owner);
        RUN(human_transport_v3);
        RUN(format_kib);
        return test_summary();
}
