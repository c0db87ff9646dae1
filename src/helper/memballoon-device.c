/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * memballoon-device: move the virtio-balloon device between the stock
 * virtio_balloon driver and memballoon.ko.  memballoond.service runs it
 * with full privileges ('+') before the daemon starts ("take") and after
 * it stops ("release"); the packages' maintainer scripts run "release
 * --force".  See memballoond(8), "The balloon device".
 *
 * Why a helper and not a modprobe.d rule alone: virtio_balloon may be
 * loaded before the shim (udev, an initramfs) or built into the kernel,
 * and then only an unbind/bind through sysfs moves the device.  Doing that
 * in the unit ties the device to the daemon: while memballoond runs, the
 * shim has it; whenever the daemon is not running (stopped, failed for
 * good, package removed, service disabled), the stock driver has it, so
 * the guest always answers its host's balloon.
 *
 * It runs as root, so it trusts no file (balloon-device.h): names read
 * from sysfs are validated before they go into a path or a write.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <syslog.h>
#include <unistd.h>

#include <systemd/sd-bus.h>
#include <systemd/sd-login.h>

#include "balloon-device.h"
#include "macro.h"
#include "root.h"

/* Present on Debian 12 (/sbin) and 13 (merged /usr: /sbin -> usr/sbin). */
#define DEFAULT_MODPROBE "/sbin/modprobe"

/* The stock VMware balloon driver.  memballoon.ko's vmware transport
 * speaks the same protocol over the same backdoor, and two drivers there
 * would reset each other's sessions: it is unloaded before the shim
 * loads, and loaded again after the shim goes, on VMware only. */
#define VMW_MODULE "vmw_balloon"
#define DMI_SYS_VENDOR "/sys/class/dmi/id/sys_vendor"

/* A bind can lose a race with udev loading virtio_balloon at boot (the
 * bind then fails with EBUSY): look again and retry this many times. */
#define TAKE_ATTEMPTS 5

static const char *modprobe_path = DEFAULT_MODPROBE;
static bool journal_prefix;

static void say(int level, const char *fmt, ...) _printf_(2, 3);
static void say(int level, const char *fmt, ...)
{
        va_list ap;

        /* Under systemd, "<N>" sets the journal priority of the line. */
        if (journal_prefix)
                fprintf(stderr, "<%d>", level);
        fputs("memballoon-device: ", stderr);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
}

/* Run "modprobe [-r] MODULE".  0 when it exits 0, else -EIO (modprobe
 * said why on stderr, which is ours). */
static int modprobe(bool remove, const char *module)
{
        pid_t pid;
        int status;

        fflush(stderr);
        pid = fork();
        if (pid < 0)
                return -errno;
        if (pid == 0) {
                if (remove)
                        execl(modprobe_path, modprobe_path, "-r", module, (char *) NULL);
                else
                        execl(modprobe_path, modprobe_path, module, (char *) NULL);
                _exit(127);
        }
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return -errno;
        return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -EIO;
}

/* Write @value to a sysfs file below the root.  0 or -errno (for bind:
 * the probe's error). */
static int sysfs_write(const char *path, const char *value)
{
        _cleanup_close_ int fd = root_open(path, O_WRONLY);
        size_t len = strlen(value);
        ssize_t n;

        if (fd < 0)
                return fd;
        n = write(fd, value, len);
        if (n < 0)
                return -errno;
        return (size_t) n == len ? 0 : -EIO;
}

/* @op is "bind" or "unbind"; @driver and @dev were validated by the scan. */
static int driver_op(const char *driver, const char *op, const char *dev)
{
        _cleanup_free_ char *path = NULL;

        if (!balloon_driver_name_valid(driver) || !balloon_device_name_valid(dev, NULL))
                return -EINVAL;
        if (asprintf(&path, "%s/%s/%s", BALLOON_DRIVERS_DIR, driver, op) < 0)
                return -ENOMEM;
        return sysfs_write(path, dev);
}

static bool driver_registered(const char *driver)
{
        _cleanup_free_ char *rel = NULL, *path = NULL;
        struct stat st;

        if (asprintf(&rel, "%s/%s", BALLOON_DRIVERS_DIR, driver) < 0)
                return false;
        path = root_path(rel);
        return path && stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* The current driver of device @name: 0 and *ret filled ("" when unbound),
 * or -ENODEV when the device is gone (or no longer reads as a balloon). */
static int current_driver(const char *name, char ret[BALLOON_DRIVER_NAME_MAX])
{
        BalloonDevice devs[BALLOON_DEVICES_MAX];
        int n = balloon_devices_scan(devs, ELEMENTSOF(devs));

        for (int i = 0; i < n; i++)
                if (strcmp(devs[i].name, name) == 0) {
                        memcpy(ret, devs[i].driver, BALLOON_DRIVER_NAME_MAX);
                        return 0;
                }
        return n < 0 ? n : -ENODEV;
}

static bool module_loaded(const char *module)
{
        _cleanup_free_ char *rel = NULL, *path = NULL;
        struct stat st;

        if (asprintf(&rel, "/sys/module/%s", module) < 0)
                return false;
        path = root_path(rel);
        return path && stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Whether the firmware says this is a VMware virtual machine: the DMI
 * system vendor VMware's hypervisors set ("VMware, Inc."), as the stock
 * driver's module alias matches it.  Anything unreadable, oversized or
 * odd is "no". */
static bool on_vmware(void)
{
        _cleanup_free_ char *buf = NULL;
        size_t size;

        if (root_read_file(DMI_SYS_VENDOR, 256, &buf, &size) < 0)
                return false;
        return size >= 6 && memcmp(buf, "VMware", 6) == 0;
}

/* Unload vmw_balloon if it is loaded.  0 when it is not (any more). */
static int take_from_vmw(void)
{
        if (!module_loaded(VMW_MODULE))
                return 0;
        if (modprobe(true, VMW_MODULE) < 0 || module_loaded(VMW_MODULE)) {
                say(LOG_ERR, "%s cannot be unloaded (built in, or in use): memballoon.ko's VMware transport "
                    "and it would reset each other's balloon sessions, so memballoon.ko is not loaded",
                    VMW_MODULE);
                return -EBUSY;
        }
        say(LOG_NOTICE, "%s unloaded (it deflated its balloon): memballoon.ko speaks the VMware balloon "
            "protocol itself", VMW_MODULE);
        return 0;
}

/* After the shim is gone: on VMware, the stock driver serves the host. */
static int give_to_vmw(void)
{
        if (!on_vmware() || module_loaded(VMW_MODULE))
                return 0;
        if (modprobe(false, VMW_MODULE) < 0 || !module_loaded(VMW_MODULE)) {
                say(LOG_ERR, "modprobe %s failed: the VMware host's balloon requests go unanswered",
                    VMW_MODULE);
                return -ENXIO;
        }
        say(LOG_NOTICE, "%s loaded: the VMware host's balloon is served by the stock driver", VMW_MODULE);
        return 0;
}

/* Make sure device @name has a driver: if it has none, load the stock one
 * (registering a driver probes the unbound devices it matches) and bind
 * it if that did not.  Built in, modprobe succeeds and only the bind
 * does something.  Returns 0 when the device ends up with a driver. */
static int give_to_stock(const char *name)
{
        char drv[BALLOON_DRIVER_NAME_MAX];
        int r;

        r = current_driver(name, drv);
        if (r < 0 || drv[0])
                return r;
        if (modprobe(false, BALLOON_DRIVER_STOCK) < 0)
                say(LOG_WARNING, "modprobe %s failed", BALLOON_DRIVER_STOCK);
        r = current_driver(name, drv);
        if (r >= 0 && !drv[0] && driver_registered(BALLOON_DRIVER_STOCK)) {
                r = driver_op(BALLOON_DRIVER_STOCK, "bind", name);
                if (r < 0)
                        say(LOG_WARNING, "binding %s to %s failed: %s", name, BALLOON_DRIVER_STOCK, strerror(-r));
                r = current_driver(name, drv);
        }
        if (r < 0)
                return r;
        if (!drv[0]) {
                say(LOG_ERR, "%s has no driver: the host's balloon requests go unanswered "
                    "(is virtio_balloon available in this kernel?)", name);
                return -ENXIO;
        }
        say(LOG_NOTICE, "%s is bound to %s", name, drv);
        return 0;
}

static int give_all_to_stock(void)
{
        BalloonDevice devs[BALLOON_DEVICES_MAX];
        int n = balloon_devices_scan(devs, ELEMENTSOF(devs)), ret = 0;

        for (int i = 0; i < n; i++)
                if (!devs[i].driver[0] && give_to_stock(devs[i].name) < 0)
                        ret = -ENXIO;
        return n < 0 ? n : ret;
}

static int cmd_show(void)
{
        BalloonDevice devs[BALLOON_DEVICES_MAX];
        int n = balloon_devices_scan(devs, ELEMENTSOF(devs));

        if (n < 0) {
                fprintf(stderr, "memballoon-device: cannot read %s: %s\n", BALLOON_DEVICES_DIR, strerror(-n));
                return 1;
        }
        if (n == 0)
                printf("no virtio-balloon device\n");
        for (int i = 0; i < n; i++)
                printf("%s %s\n", devs[i].name, devs[i].driver[0] ? devs[i].driver : "-");
        return 0;
}

static int cmd_take(void)
{
        BalloonDevice devs[BALLOON_DEVICES_MAX], before[BALLOON_DEVICES_MAX];
        const BalloonDevice *dev;
        char drv[BALLOON_DRIVER_NAME_MAX], was[BALLOON_DRIVER_NAME_MAX] = "";
        int n, nbefore, r;

        /* Who had it before: loading memballoon.ko binds an unbound device
         * by itself (registering a driver probes them). */
        nbefore = balloon_devices_scan(before, ELEMENTSOF(before));

        if (take_from_vmw() < 0) {
                (void) give_all_to_stock();
                return 1;
        }

        /* Loaded in simulate mode even without a device: the daemon may be
         * configured for it (balloon.source = "simulate"). */
        if (modprobe(false, BALLOON_DRIVER_SHIM) < 0 || !driver_registered(BALLOON_DRIVER_SHIM)) {
                say(LOG_WARNING, "memballoon.ko cannot be loaded (is memballoon-dkms installed and built for "
                    "this kernel?); leaving the balloon device to %s", BALLOON_DRIVER_STOCK);
                (void) give_all_to_stock();
                return 1;
        }
        n = balloon_devices_scan(devs, ELEMENTSOF(devs));
        if (n < 0) {
                say(LOG_ERR, "cannot read %s: %s", BALLOON_DEVICES_DIR, strerror(-n));
                return 1;
        }
        dev = balloon_devices_pick(devs, (size_t) n);
        if (!dev) {
                say(LOG_NOTICE, "no virtio-balloon device; memballoon.ko runs in simulate mode");
                return 0;
        }
        for (int i = 0; i < nbefore; i++)
                if (strcmp(before[i].name, dev->name) == 0)
                        memcpy(was, before[i].driver, sizeof(was));
        if (strcmp(dev->driver, BALLOON_DRIVER_SHIM) == 0) {
                if (strcmp(was, BALLOON_DRIVER_SHIM) == 0)
                        say(LOG_INFO, "%s is already bound to memballoon", dev->name);
                else
                        say(LOG_NOTICE, "%s is now bound to memballoon (was %s; loading memballoon.ko bound it)",
                            dev->name, was[0] ? was : "unbound");
                return 0;
        }

        for (int attempt = 0; attempt < TAKE_ATTEMPTS; attempt++) {
                r = current_driver(dev->name, drv);
                if (r < 0)
                        break;
                if (strcmp(drv, BALLOON_DRIVER_SHIM) == 0) {
                        say(LOG_NOTICE, "%s is now bound to memballoon (was %s)", dev->name,
                            was[0] ? was : "unbound");
                        return 0;
                }
                if (drv[0]) {
                        /* The stock driver's remove() deflates and tells the host. */
                        snprintf(was, sizeof(was), "%s", drv);
                        r = driver_op(drv, "unbind", dev->name);
                        if (r < 0 && r != -ENODEV)
                                say(LOG_WARNING, "unbinding %s from %s failed: %s", dev->name, drv, strerror(-r));
                        continue;
                }
                r = driver_op(BALLOON_DRIVER_SHIM, "bind", dev->name);
                /* EBUSY: something bound it first (udev at boot); look again. */
                if (r < 0 && r != -EBUSY) {
                        say(LOG_WARNING, "memballoon refused %s: %s", dev->name, strerror(-r));
                        break;
                }
        }
        say(LOG_ERR, "could not bind %s to memballoon; giving it to %s", dev->name, BALLOON_DRIVER_STOCK);
        (void) give_to_stock(dev->name);
        return 1;
}

/* PID 1 on its private socket (root only, works without dbus-daemon, as
 * systemctl does), else the system bus.  NULL on failure. */
static sd_bus *bus_open_pid1(void)
{
        sd_bus *bus = NULL;
        int r;

        r = sd_bus_new(&bus);
        if (r >= 0)
                r = sd_bus_set_address(bus, "unix:path=/run/systemd/private");
        if (r >= 0)
                r = sd_bus_start(bus);
        if (r >= 0)
                return bus;
        bus = sd_bus_unref(bus);
        if (sd_bus_open_system(&bus) < 0)
                return NULL;
        return bus;
}

/* A property of interface @iface of @unit, as a string (its unit object
 * found with GetUnit).  0 or -errno. */
static int unit_property(sd_bus *bus, const char *unit, const char *prop, char **ret)
{
        sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        const char *path;
        int r;

        r = sd_bus_call_method(bus, "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
                               "org.freedesktop.systemd1.Manager", "GetUnit", &error, &reply, "s", unit);
        if (r >= 0)
                r = sd_bus_message_read(reply, "o", &path);
        if (r >= 0)
                r = sd_bus_get_property_string(bus, "org.freedesktop.systemd1", path,
                                               "org.freedesktop.systemd1.Unit", prop, &error, ret);
        sd_bus_error_free(&error);
        sd_bus_message_unref(reply);
        return r;
}

/*
 * Is a restart of our unit under way?  ExecStopPost= runs inside the stop
 * half of a restart job ("systemctl restart", a package upgrade): then
 * the balloon stays for the new daemon.  Any error means no: releasing is
 * the safe side.
 */
static bool restart_pending(void)
{
        sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_free_ char *unit = NULL, *type = NULL;
        sd_bus_message *reply = NULL;
        const char *unit_path = NULL, *job_path = NULL;
        sd_bus *bus = NULL;
        uint32_t job_id = 0;
        bool ret = false;
        int r;

        if (sd_pid_get_unit(0, &unit) < 0)
                return false;
        bus = bus_open_pid1();
        if (!bus)
                return false;
        r = sd_bus_call_method(bus, "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
                               "org.freedesktop.systemd1.Manager", "GetUnit", &error, &reply, "s", unit);
        if (r < 0 || sd_bus_message_read(reply, "o", &unit_path) < 0)
                goto out;
        {
                _cleanup_free_ char *p = strdup(unit_path);

                reply = sd_bus_message_unref(reply);
                if (!p)
                        goto out;
                r = sd_bus_get_property(bus, "org.freedesktop.systemd1", p, "org.freedesktop.systemd1.Unit",
                                        "Job", &error, &reply, "(uo)");
        }
        if (r < 0 || sd_bus_message_read(reply, "(uo)", &job_id, &job_path) < 0 || job_id == 0)
                goto out;
        r = sd_bus_get_property_string(bus, "org.freedesktop.systemd1", job_path, "org.freedesktop.systemd1.Job",
                                       "JobType", &error, &type);
        if (r >= 0)
                ret = strcmp(type, "restart") == 0 || strcmp(type, "try-restart") == 0 ||
                      strcmp(type, "reload-or-restart") == 0;
out:
        sd_bus_error_free(&error);
        sd_bus_message_unref(reply);
        sd_bus_flush_close_unref(bus);
        return ret;
}

/*
 * As OnFailure=: systemd 252 (Debian 12) starts it once Restart= has
 * given up, systemd 257 (Debian 13) on every failure, while the unit waits
 * in "auto-restart" (both seen by tests/system/run).  So the device goes
 * back only while memballoond is failed or stopped.  Unknown counts as
 * failed.
 */
static bool failed_for_good(const char *unit)
{
        _cleanup_free_ char *active = NULL, *sub = NULL;
        sd_bus *bus = bus_open_pid1();
        bool ret = true;

        if (bus && unit_property(bus, unit, "ActiveState", &active) >= 0 &&
            unit_property(bus, unit, "SubState", &sub) >= 0) {
                ret = strcmp(active, "failed") == 0 || strcmp(active, "inactive") == 0;
                if (!ret)
                        say(LOG_NOTICE, "%s is %s (%s), being restarted: keeping the balloon device", unit,
                            active, sub);
        }
        sd_bus_flush_close_unref(bus);
        return ret;
}

static int cmd_release(bool force, const char *failed_unit)
{
        BalloonDevice devs[BALLOON_DEVICES_MAX];
        const char *result = getenv("SERVICE_RESULT");
        struct stat st;
        int n, ret = 0;

        if (failed_unit) {
                if (!failed_for_good(failed_unit))
                        return 0;
                say(LOG_NOTICE, "%s failed for good: giving the balloon device back", failed_unit);
        } else if (!force) {
                /* systemd sets SERVICE_RESULT for ExecStopPost=.  A failed
                 * daemon is restarted (Restart=on-failure) and adopts the
                 * balloon; if systemd gives up, OnFailure= releases. */
                if (result && strcmp(result, "success") != 0) {
                        say(LOG_NOTICE, "memballoond ended with \"%s\": keeping the balloon device for its restart",
                            result);
                        return 0;
                }
                if (result && restart_pending()) {
                        say(LOG_NOTICE, "memballoond is restarting: keeping the balloon device for the new daemon");
                        return 0;
                }
        }

        n = balloon_devices_scan(devs, ELEMENTSOF(devs));
        if (n < 0) {
                say(LOG_ERR, "cannot read %s: %s", BALLOON_DEVICES_DIR, strerror(-n));
                return 1;
        }
        for (int i = 0; i < n; i++) {
                int r;

                if (strcmp(devs[i].driver, BALLOON_DRIVER_SHIM) != 0)
                        continue;
                /* remove() returns every page and writes config actual. */
                r = driver_op(BALLOON_DRIVER_SHIM, "unbind", devs[i].name);
                if (r < 0) {
                        say(LOG_ERR, "unbinding %s from memballoon failed: %s", devs[i].name, strerror(-r));
                        ret = 1;
                } else
                        say(LOG_NOTICE, "%s released by memballoon: balloon deflated, host told", devs[i].name);
        }
        /* Pages loaned in simulate mode go back on unload.  Still open
         * (someone holds /dev/memballoon): it stays, without the device. */
        {
                _cleanup_free_ char *mod = root_path("/sys/module/" BALLOON_DRIVER_SHIM);

                if (mod && stat(mod, &st) == 0 && modprobe(true, BALLOON_DRIVER_SHIM) < 0)
                        say(LOG_WARNING, "memballoon.ko stays loaded (in use?)");
        }
        if (give_all_to_stock() < 0)
                ret = 1;
        if (!module_loaded(BALLOON_DRIVER_SHIM) && give_to_vmw() < 0)
                ret = 1;
        return ret;
}

static void help(void)
{
        printf("Usage: memballoon-device COMMAND\n"
               "\n"
               "Move the virtio-balloon device between virtio_balloon and memballoon.ko.\n"
               "memballoond.service runs it; see memballoond(8).\n"
               "\n"
               "  show               list the virtio-balloon devices and their drivers\n"
               "  take               load memballoon.ko and bind the device to it\n"
               "  release [--force]  unbind it from memballoon (the balloon is deflated and\n"
               "                     the host told), unload memballoon.ko, and give the device\n"
               "                     to virtio_balloon.  Without --force, as ExecStopPost=,\n"
               "                     nothing happens when the daemon failed or is restarting.\n"
               "  release --after-failure UNIT\n"
               "                     the same, as UNIT's OnFailure=: only if UNIT stays failed\n"
               "                     (not when Restart= brings it back).\n");
}

int main(int argc, char *argv[])
{
        enum { ARG_ROOT = 0x100, ARG_MODPROBE, ARG_FORCE, ARG_AFTER_FAILURE };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "force", no_argument, NULL, ARG_FORCE },
                { "after-failure", required_argument, NULL, ARG_AFTER_FAILURE },
                /* Hidden, for tests: a fake sysfs root and modprobe. */
                { "root", required_argument, NULL, ARG_ROOT },
                { "modprobe", required_argument, NULL, ARG_MODPROBE },
                {}
        };
        const char *verb, *failed_unit = NULL;
        bool force = false;
        int opt;

        while ((opt = getopt_long(argc, argv, "h", options, NULL)) >= 0) {
                switch (opt) {
                case 'h':
                        help();
                        return 0;
                case ARG_FORCE:
                        force = true;
                        break;
                case ARG_AFTER_FAILURE:
                        failed_unit = optarg;
                        break;
                case ARG_ROOT:
                        if (root_set(optarg) < 0) {
                                fprintf(stderr, "memballoon-device: --root: not an absolute path\n");
                                return 2;
                        }
                        break;
                case ARG_MODPROBE:
                        modprobe_path = optarg;
                        break;
                default:
                        return 2;
                }
        }
        if (optind + 1 != argc) {
                help();
                return 2;
        }
        verb = argv[optind];
        journal_prefix = getenv("JOURNAL_STREAM") != NULL;
        if (strcmp(verb, "show") == 0)
                return cmd_show();
        if (getuid() != 0 && strcmp(root_get(), "/") == 0) {
                fprintf(stderr, "memballoon-device: %s needs root\n", verb);
                return 1;
        }
        if (strcmp(verb, "take") == 0)
                return cmd_take();
        if (strcmp(verb, "release") == 0)
                return cmd_release(force, failed_unit);
        fprintf(stderr, "memballoon-device: unknown command \"%s\"\n", verb);
        return 2;
}
