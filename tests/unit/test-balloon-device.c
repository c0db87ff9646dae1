/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Who owns the virtio-balloon device (balloon-device.h), read from fake
 * sysfs trees: the shapes the kernel makes, and the ones it does not
 * (memballoon-device runs as root and must not trust them).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "balloon-device.h"
#include "macro.h"
#include "root.h"
#include "test.h"

static char tree[] = "/tmp/test-balloon-device.XXXXXX";

static void sh(const char *fmt, ...) _printf_(1, 2);
static void sh(const char *fmt, ...)
{
        char cmd[8192];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(cmd, sizeof(cmd), fmt, ap);
        va_end(ap);
        if (system(cmd) != 0) {
                fprintf(stderr, "setup failed: %s\n", cmd);
                exit(2);
        }
}

/* A fresh tree: drivers memballoon and virtio_balloon, no devices. */
static void fresh(void)
{
        sh("rm -rf %s/sys && mkdir -p %s/sys/bus/virtio/devices %s/sys/bus/virtio/drivers/memballoon "
           "%s/sys/bus/virtio/drivers/virtio_balloon %s/sys/devices", tree, tree, tree, tree, tree);
}

/* A device as the kernel shows it: a directory under /sys/devices, a
 * symlink to it in the bus, "device" and optionally a "driver" link. */
static void add_dev(const char *name, const char *id, const char *driver)
{
        sh("mkdir -p %s/sys/devices/pci0000:00/%s && printf '%%s\\n' '%s' > %s/sys/devices/pci0000:00/%s/device && "
           "ln -s ../../../devices/pci0000:00/%s %s/sys/bus/virtio/devices/%s",
           tree, name, id, tree, name, name, tree, name);
        if (driver)
                sh("ln -s ../../../../bus/virtio/drivers/%s %s/sys/devices/pci0000:00/%s/driver", driver, tree, name);
}

TEST(names)
{
        unsigned i = 99;

        CHECK(balloon_device_name_valid("virtio0", &i) && i == 0);
        CHECK(balloon_device_name_valid("virtio12", &i) && i == 12);
        CHECK(balloon_device_name_valid("virtio999999999", &i) && i == 999999999);
        CHECK(!balloon_device_name_valid("virtio1234567890", NULL));
        CHECK(!balloon_device_name_valid("virtio", NULL));
        CHECK(!balloon_device_name_valid("virtio01", NULL));
        CHECK(!balloon_device_name_valid("virtio1a", NULL));
        CHECK(!balloon_device_name_valid("virtio-1", NULL));
        CHECK(!balloon_device_name_valid("xvirtio1", NULL));
        CHECK(!balloon_device_name_valid("", NULL));

        CHECK(balloon_driver_name_valid("memballoon"));
        CHECK(balloon_driver_name_valid("virtio_balloon"));
        CHECK(balloon_driver_name_valid("a-b_C9"));
        CHECK(!balloon_driver_name_valid(""));
        CHECK(!balloon_driver_name_valid("a b"));
        CHECK(!balloon_driver_name_valid("../x"));
        CHECK(!balloon_driver_name_valid("x\n"));
        CHECK(!balloon_driver_name_valid("0123456789012345678901234567890123456789012345678901234567"));
}

TEST(device_id)
{
        unsigned id = 0;

        CHECK(balloon_parse_device_id("0x0005\n", 7, &id) == 0 && id == 5);
        CHECK(balloon_parse_device_id("0x0005", 6, &id) == 0 && id == 5);
        CHECK(balloon_parse_device_id("0x1aF0\n", 7, &id) == 0 && id == 0x1af0);
        CHECK(balloon_parse_device_id("0x05\n", 5, &id) == -EINVAL);
        CHECK(balloon_parse_device_id("0x00050\n", 8, &id) == -EINVAL);
        CHECK(balloon_parse_device_id("0X0005\n", 7, &id) == -EINVAL);
        CHECK(balloon_parse_device_id("0x000g\n", 7, &id) == -EINVAL);
        CHECK(balloon_parse_device_id("0x0005\n\n", 8, &id) == -EINVAL);
        CHECK(balloon_parse_device_id("0x0005 ", 7, &id) == -EINVAL);
        CHECK(balloon_parse_device_id("5", 1, &id) == -EINVAL);
        CHECK(balloon_parse_device_id("", 0, &id) == -EINVAL);
        /* A NUL inside is not a digit. */
        CHECK(balloon_parse_device_id("0x00\0005", 7, &id) == -EINVAL);
}

TEST(no_virtio_bus)
{
        BalloonDevice d[4];

        sh("rm -rf %s/sys && mkdir -p %s/sys", tree, tree);
        CHECK_INTEQ(balloon_devices_scan(d, 4), 0);
        CHECK(balloon_devices_pick(d, 0) == NULL);
}

TEST(stock_driver_owns_it)
{
        BalloonDevice d[4];
        const BalloonDevice *p;
        char buf[256];

        fresh();
        add_dev("virtio0", "0x0001", "virtio_net");     /* not a balloon */
        add_dev("virtio2", "0x0005", "virtio_balloon");
        CHECK_INTEQ(balloon_devices_scan(d, 4), 1);
        CHECK_STREQ(d[0].name, "virtio2");
        CHECK_INTEQ(d[0].index, 2);
        CHECK_STREQ(d[0].driver, "virtio_balloon");
        p = balloon_devices_pick(d, 1);
        CHECK(p == &d[0]);
        CHECK(balloon_device_problem(p, buf, sizeof(buf)) != NULL);
        CHECK(strstr(buf, "virtio2 is bound to virtio_balloon, not memballoon"));
}

TEST(shim_owns_it)
{
        BalloonDevice d[4];
        char buf[256];

        fresh();
        add_dev("virtio1", "0x0005", "memballoon");
        CHECK_INTEQ(balloon_devices_scan(d, 4), 1);
        CHECK_STREQ(d[0].driver, "memballoon");
        CHECK(balloon_device_problem(&d[0], buf, sizeof(buf)) == NULL);
        /* No device: simulate mode, nothing wrong. */
        CHECK(balloon_device_problem(NULL, buf, sizeof(buf)) == NULL);
}

TEST(unbound)
{
        BalloonDevice d[4];
        char buf[256];

        fresh();
        add_dev("virtio3", "0x0005", NULL);
        CHECK_INTEQ(balloon_devices_scan(d, 4), 1);
        CHECK_STREQ(d[0].driver, "");
        CHECK(balloon_device_problem(&d[0], buf, sizeof(buf)) != NULL);
        CHECK(strstr(buf, "virtio3 has no driver"));
}

TEST(several_sorted_and_pick_prefers_shim)
{
        BalloonDevice d[4];
        const BalloonDevice *p;

        fresh();
        add_dev("virtio10", "0x0005", "memballoon");
        add_dev("virtio9", "0x0005", "virtio_balloon");
        add_dev("virtio2", "0x0005", NULL);
        CHECK_INTEQ(balloon_devices_scan(d, 4), 3);
        /* By index, not by name or readdir order. */
        CHECK_STREQ(d[0].name, "virtio2");
        CHECK_STREQ(d[1].name, "virtio9");
        CHECK_STREQ(d[2].name, "virtio10");
        p = balloon_devices_pick(d, 3);
        CHECK(p && strcmp(p->name, "virtio10") == 0);
        /* @max cuts the list, lowest indexes first. */
        CHECK_INTEQ(balloon_devices_scan(d, 1), 1);
        CHECK_STREQ(d[0].name, "virtio2");
}

TEST(hostile_tree)
{
        BalloonDevice d[BALLOON_DEVICES_MAX];
        char big[5000];

        fresh();
        /* Names the kernel does not make. */
        add_dev("virtio01", "0x0005", "memballoon");
        add_dev("virtioX", "0x0005", "memballoon");
        sh("mkdir -p '%s/sys/bus/virtio/devices/virtio 4' && printf '0x0005\\n' > '%s/sys/bus/virtio/devices/virtio 4/device'",
           tree, tree);
        /* A device attribute too long, padded, or not an ID. */
        add_dev("virtio5", "0x0005 plus a great deal more than sixteen bytes", "memballoon");
        add_dev("virtio6", " 0x0005", "memballoon");
        add_dev("virtio7", "balloon", "memballoon");
        /* A device directory without "device". */
        sh("mkdir -p %s/sys/bus/virtio/devices/virtio8", tree);
        /* Driver links whose last component is not a driver name. */
        add_dev("virtio11", "0x0005", NULL);
        sh("ln -s '../../../../bus/virtio/drivers/bad name' %s/sys/devices/pci0000:00/virtio11/driver", tree);
        add_dev("virtio12", "0x0005", NULL);
        sh("ln -s ../../../../bus/virtio/drivers/ %s/sys/devices/pci0000:00/virtio12/driver", tree);
        /* "driver" as a plain file, not a link. */
        add_dev("virtio13", "0x0005", NULL);
        sh("echo memballoon > %s/sys/devices/pci0000:00/virtio13/driver", tree);
        /* A driver name longer than a module name can be. */
        memset(big, 'a', 100);
        big[100] = '\0';
        add_dev("virtio14", "0x0005", NULL);
        sh("ln -s ../../../../bus/virtio/drivers/%s %s/sys/devices/pci0000:00/virtio14/driver", big, tree);
        /* A link target of nearly PATH_MAX. */
        memset(big, 'b', 4000);
        for (int i = 100; i < 4000; i += 100)
                big[i] = '/';
        big[4000] = '\0';
        add_dev("virtio15", "0x0005", NULL);
        sh("ln -s '%s/memballoon' %s/sys/devices/pci0000:00/virtio15/driver", big, tree);
        /* And one good device among them. */
        add_dev("virtio16", "0x0005", "virtio_balloon");

        CHECK_INTEQ(balloon_devices_scan(d, ELEMENTSOF(d)), 2);
        /* The long but well-formed link is read in full, its last part checked. */
        CHECK_STREQ(d[0].name, "virtio15");
        CHECK_STREQ(d[0].driver, "memballoon");
        CHECK_STREQ(d[1].name, "virtio16");
        CHECK_STREQ(d[1].driver, "virtio_balloon");
}

TEST(many_devices_bounded)
{
        BalloonDevice d[BALLOON_DEVICES_MAX];
        char name[32];

        fresh();
        for (int i = 0; i < 3 * BALLOON_DEVICES_MAX; i++) {
                snprintf(name, sizeof(name), "virtio%d", i);
                add_dev(name, "0x0005", "virtio_balloon");
        }
        CHECK_INTEQ(balloon_devices_scan(d, ELEMENTSOF(d)), BALLOON_DEVICES_MAX);
        for (int i = 0; i < BALLOON_DEVICES_MAX; i++)
                CHECK_INTEQ(d[i].index, i);
}

int main(void)
{
        if (!mkdtemp(tree)) {
                perror("mkdtemp");
                return 2;
        }
        if (root_set(tree) < 0)
                return 2;
        RUN(names);
        RUN(device_id);
        RUN(no_virtio_bus);
        RUN(stock_driver_owns_it);
        RUN(shim_owns_it);
        RUN(unbound);
        RUN(several_sorted_and_pick_prefers_shim);
        RUN(hostile_tree);
        RUN(many_devices_bounded);
        sh("rm -rf %s", tree);
        return test_summary();
}
