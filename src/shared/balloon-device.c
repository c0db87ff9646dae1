/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "balloon-device.h"
#include "macro.h"
#include "root.h"

/* A "device" attribute is "0x0005\n"; allow a little slack and refuse the rest. */
#define DEVICE_ATTR_MAX 16

bool balloon_device_name_valid(const char *name, unsigned *ret_index)
{
        const char *p;
        unsigned long v = 0;
        size_t n;

        if (strncmp(name, "virtio", 6) != 0)
                return false;
        p = name + 6;
        n = strlen(p);
        /* 9 digits fit an unsigned and any index the kernel hands out. */
        if (n < 1 || n > 9 || (p[0] == '0' && n > 1))
                return false;
        for (size_t i = 0; i < n; i++) {
                if (p[i] < '0' || p[i] > '9')
                        return false;
                v = v * 10 + (unsigned long) (p[i] - '0');
        }
        if (ret_index)
                *ret_index = (unsigned) v;
        return true;
}

bool balloon_driver_name_valid(const char *name)
{
        size_t n = strlen(name);

        if (n < 1 || n >= BALLOON_DRIVER_NAME_MAX)
                return false;
        for (size_t i = 0; i < n; i++) {
                char c = name[i];

                if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '_' || c == '-'))
                        return false;
        }
        return true;
}

static int hexval(char c)
{
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

int balloon_parse_device_id(const char *buf, size_t len, unsigned *ret)
{
        unsigned v = 0;

        /* drivers/virtio/virtio.c: sysfs_emit(buf, "0x%04x\n", id.device). */
        if (len == 7 && buf[6] == '\n')
                len = 6;
        if (len != 6 || buf[0] != '0' || buf[1] != 'x')
                return -EINVAL;
        for (size_t i = 2; i < 6; i++) {
                int h = hexval(buf[i]);

                if (h < 0)
                        return -EINVAL;
                v = v * 16 + (unsigned) h;
        }
        *ret = v;
        return 0;
}

/* The driver bound to @name: "" when none, -EINVAL when the link does not
 * look like the kernel's. */
static int read_driver(const char *name, char *ret, size_t size)
{
        _cleanup_free_ char *rel = NULL, *path = NULL;
        char link[PATH_MAX];
        const char *base;
        ssize_t n;

        if (asprintf(&rel, "%s/%s/driver", BALLOON_DEVICES_DIR, name) < 0)
                return -ENOMEM;
        path = root_path(rel);
        if (!path)
                return -ENOMEM;
        n = readlink(path, link, sizeof(link));
        if (n < 0) {
                if (errno == ENOENT) {
                        ret[0] = '\0';
                        return 0;
                }
                return -errno;
        }
        /* Filled to the brim: possibly cut short, so not to be trusted. */
        if ((size_t) n >= sizeof(link))
                return -EINVAL;
        link[n] = '\0';
        base = strrchr(link, '/');
        base = base ? base + 1 : link;
        if (!balloon_driver_name_valid(base) || strlen(base) >= size)
                return -EINVAL;
        memcpy(ret, base, strlen(base) + 1);
        return 0;
}

static int cmp_index(const void *a, const void *b)
{
        const BalloonDevice *x = a, *y = b;

        return x->index < y->index ? -1 : x->index > y->index;
}

_Static_assert(sizeof("virtio") + 9 <= BALLOON_DEVICE_NAME_MAX, "a device name fits");

int balloon_devices_scan(BalloonDevice *ret, size_t max)
{
        _cleanup_free_ char *dir = root_path(BALLOON_DEVICES_DIR);
        /* Collected unsorted first: readdir order is not index order. */
        BalloonDevice found[BALLOON_DEVICES_MAX];
        size_t n = 0;
        struct dirent *de;
        DIR *d;

        if (!dir)
                return -ENOMEM;
        d = opendir(dir);
        if (!d)
                return errno == ENOENT ? 0 : -errno;
        while ((de = readdir(d))) {
                _cleanup_free_ char *attr = NULL, *buf = NULL;
                BalloonDevice dev = {};
                unsigned id;
                size_t len;
                int r;

                if (!balloon_device_name_valid(de->d_name, &dev.index))
                        continue;
                if (asprintf(&attr, "%s/%s/device", BALLOON_DEVICES_DIR, de->d_name) < 0) {
                        closedir(d);
                        return -ENOMEM;
                }
                r = root_read_file(attr, DEVICE_ATTR_MAX, &buf, &len);
                if (r < 0 || balloon_parse_device_id(buf, len, &id) < 0 || id != VIRTIO_ID_BALLOON_DEVICE)
                        continue;
                if (read_driver(de->d_name, dev.driver, sizeof(dev.driver)) < 0)
                        continue;
                /* The name was checked to fit: "virtio" and 9 digits. */
                memcpy(dev.name, de->d_name, strlen(de->d_name) + 1);
                if (n < ELEMENTSOF(found))
                        found[n++] = dev;
                else {
                        /* Full: keep the lowest indexes, whatever readdir's order. */
                        size_t hi = 0;

                        for (size_t i = 1; i < n; i++)
                                if (found[i].index > found[hi].index)
                                        hi = i;
                        if (dev.index < found[hi].index)
                                found[hi] = dev;
                }
        }
        closedir(d);
        qsort(found, n, sizeof(found[0]), cmp_index);
        n = MIN(n, max);
        memcpy(ret, found, n * sizeof(found[0]));
        return (int) n;
}

const BalloonDevice *balloon_devices_pick(const BalloonDevice *devs, size_t n)
{
        for (size_t i = 0; i < n; i++)
                if (strcmp(devs[i].driver, BALLOON_DRIVER_SHIM) == 0)
                        return &devs[i];
        return n > 0 ? &devs[0] : NULL;
}

const char *balloon_device_problem(const BalloonDevice *dev, char *buf, size_t size)
{
        if (!dev || strcmp(dev->driver, BALLOON_DRIVER_SHIM) == 0)
                return NULL;
        if (!dev->driver[0])
                snprintf(buf, size, "the virtio-balloon device %s has no driver: the host's balloon requests "
                         "go unanswered", dev->name);
        else
                snprintf(buf, size, "the virtio-balloon device %s is bound to %s, not memballoon: the host's "
                         "balloon requests go to that driver", dev->name, dev->driver);
        return buf;
}
