/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Which driver owns the virtio-balloon device: read from sysfs, through
 * the root seam (root.h), so tests point it at a fake tree.
 *
 *   /sys/bus/virtio/devices/virtioN/device   "0x0005" for a balloon
 *   /sys/bus/virtio/devices/virtioN/driver   symlink to .../drivers/NAME,
 *                                            absent while nothing is bound
 *
 * Both memballoond (status) and memballoon-device (run as root from the
 * unit, it moves the device between drivers) read these, so nothing here
 * trusts a file: every read is bounded, and names are validated before
 * they are used in a path or written anywhere.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#define BALLOON_DEVICES_DIR "/sys/bus/virtio/devices"
#define BALLOON_DRIVERS_DIR "/sys/bus/virtio/drivers"

/* virtio spec 1.2, 5.5: the traditional memory balloon is device ID 5. */
#define VIRTIO_ID_BALLOON_DEVICE 5u

/* Our driver's name (src/kmod: KBUILD_MODNAME) and the stock driver's. */
#define BALLOON_DRIVER_SHIM "memballoon"
#define BALLOON_DRIVER_STOCK "virtio_balloon"

/* "virtio" and a device index (the kernel's ida: an int). */
#define BALLOON_DEVICE_NAME_MAX 24
/* A driver's name is a module name: at most MODULE_NAME_LEN - 1 = 55. */
#define BALLOON_DRIVER_NAME_MAX 56
/* More balloon devices than this are not looked at (one is usual; the
 * shim drives only the first it is given). */
#define BALLOON_DEVICES_MAX 8

typedef struct BalloonDevice {
        char name[BALLOON_DEVICE_NAME_MAX];     /* "virtio3" */
        unsigned index;                         /* 3 */
        char driver[BALLOON_DRIVER_NAME_MAX];   /* "memballoon", "virtio_balloon", "" when unbound */
} BalloonDevice;

/* "virtio" followed by 1 to 9 decimal digits without a leading zero
 * (unless it is "virtio0").  Stores the index in *ret_index (optional). */
bool balloon_device_name_valid(const char *name, unsigned *ret_index);

/* 1 to BALLOON_DRIVER_NAME_MAX - 1 characters of [A-Za-z0-9_-]. */
bool balloon_driver_name_valid(const char *name);

/*
 * Parse a sysfs "device" attribute: "0x" and exactly four hex digits, then
 * an optional newline, nothing else (@len bytes of @buf).  Returns 0 and
 * the ID, or -EINVAL.
 */
int balloon_parse_device_id(const char *buf, size_t len, unsigned *ret);

/*
 * The virtio-balloon devices under the root's /sys/bus/virtio/devices, by
 * index, at most @max of them.  Entries whose name, device ID or driver
 * link does not look as the kernel makes them are skipped.  Returns how
 * many were stored (0 when there is no virtio bus), or -errno (-ENOMEM, or
 * the directory cannot be read).
 */
int balloon_devices_scan(BalloonDevice *ret, size_t max);

/* The device to report: the one bound to memballoon, else the first.
 * NULL when @n is 0. */
const BalloonDevice *balloon_devices_pick(const BalloonDevice *devs, size_t n);

/*
 * What is wrong with who owns @dev, for memballoond's status: NULL when
 * nothing is (no device: simulate mode; or memballoon has it), else a
 * sentence naming the device and its driver, written to @buf.
 */
const char *balloon_device_problem(const BalloonDevice *dev, char *buf, size_t size);
