/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Memory hotplug decisions on good and malformed uevents, and the PSI
 * trigger text. */
#include <errno.h>
#include <string.h>

#include "hotplug.h"
#include "pressure.h"
#include "test.h"

TEST(add_offline_block_by_policy)
{
        HotplugPlan p;

        CHECK_INTEQ(hotplug_plan("add", "memory32", "offline", HOTPLUG_ONLINE_MOVABLE, &p), 0);
        CHECK(p.pause);
        CHECK_STREQ(p.write, "online_movable");
        CHECK_INTEQ(hotplug_plan("add", "memory32", "offline", HOTPLUG_ONLINE_KERNEL, &p), 0);
        CHECK_STREQ(p.write, "online_kernel");
        CHECK_INTEQ(hotplug_plan("add", "memory32", "offline", HOTPLUG_ONLINE_AUTO, &p), 0);
        CHECK_STREQ(p.write, "online");
        CHECK_INTEQ(hotplug_plan("add", "memory32", "offline", HOTPLUG_ONLINE_NONE, &p), 0);
        CHECK(p.write == NULL);
        CHECK(p.pause);
        CHECK(strstr(p.why, "none"));
}

TEST(respect_online_blocks)
{
        HotplugPlan p;

        CHECK_INTEQ(hotplug_plan("add", "memory7", "online", HOTPLUG_ONLINE_MOVABLE, &p), 0);
        CHECK(p.write == NULL);
        CHECK(p.pause);
        CHECK_INTEQ(hotplug_plan("add", "memory7", "going-offline", HOTPLUG_ONLINE_MOVABLE, &p), 0);
        CHECK(p.write == NULL);
        CHECK_INTEQ(hotplug_plan("add", "memory7", NULL, HOTPLUG_ONLINE_MOVABLE, &p), 0);
        CHECK(p.write == NULL);
}

TEST(pause_on_online_offline_remove)
{
        static const char *const a[] = { "online", "offline", "remove" };
        HotplugPlan p;

        for (size_t i = 0; i < 3; i++) {
                CHECK_INTEQ(hotplug_plan(a[i], "memory3", "online", HOTPLUG_ONLINE_MOVABLE, &p), 0);
                CHECK(p.pause);
                CHECK(p.write == NULL);
        }
        CHECK_INTEQ(hotplug_plan("change", "memory3", "online", HOTPLUG_ONLINE_MOVABLE, &p), 0);
        CHECK(!p.pause);
        CHECK(p.write == NULL);
}

TEST(malformed_events)
{
        HotplugPlan p;

        CHECK_INTEQ(hotplug_plan(NULL, "memory3", "offline", HOTPLUG_ONLINE_MOVABLE, &p), -EINVAL);
        CHECK(!p.pause && !p.write);
        CHECK_INTEQ(hotplug_plan("", "memory3", "offline", HOTPLUG_ONLINE_MOVABLE, &p), -EINVAL);
        CHECK_INTEQ(hotplug_plan("explode", "memory3", "offline", HOTPLUG_ONLINE_MOVABLE, &p), -EINVAL);
        CHECK(!p.pause && !p.write);
        CHECK_INTEQ(hotplug_plan("add", NULL, "offline", HOTPLUG_ONLINE_MOVABLE, &p), -EINVAL);
        CHECK_INTEQ(hotplug_plan("add", "memory", "offline", HOTPLUG_ONLINE_MOVABLE, &p), -EINVAL);
        CHECK_INTEQ(hotplug_plan("add", "memory1x", "offline", HOTPLUG_ONLINE_MOVABLE, &p), -EINVAL);
        CHECK_INTEQ(hotplug_plan("add", "memory/../../x", "offline", HOTPLUG_ONLINE_MOVABLE, &p), -EINVAL);
        CHECK_INTEQ(hotplug_plan("add", "memory12345678901", "offline", HOTPLUG_ONLINE_MOVABLE, &p), -EINVAL);
        CHECK_INTEQ(hotplug_plan("add", "cpu3", "offline", HOTPLUG_ONLINE_MOVABLE, &p), -EINVAL);
        CHECK(!p.write);
        CHECK(strstr(p.why, "not a memory block"));
}

TEST(psi_trigger_text)
{
        char b[64];

        CHECK_INTEQ(pressure_trigger_format(b, sizeof(b), 150, 1000), 0);
        CHECK_STREQ(b, "some 150000 1000000");
        CHECK_INTEQ(pressure_trigger_format(b, sizeof(b), 1000, 1000), -EINVAL);
        CHECK_INTEQ(pressure_trigger_format(b, sizeof(b), 0, 1000), -EINVAL);
        CHECK_INTEQ(pressure_trigger_format(b, 8, 150, 1000), -ENOBUFS);
}

int main(void)
{
        RUN(add_offline_block_by_policy);
        RUN(respect_online_blocks);
        RUN(pause_on_online_offline_remove);
        RUN(malformed_events);
        RUN(psi_trigger_text);
        return test_summary();
}
