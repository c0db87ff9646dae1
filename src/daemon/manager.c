/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>

#include <systemd/sd-daemon.h>

#include "clock.h"
#include "config.h"
#include "log.h"
#include "macro.h"
#include "manager.h"
#include "root.h"
#include "timer.h"

/* While the device is missing, retry this often even if inotify says
 * nothing (a device node may appear without an event, e.g. bind mounts). */
#define DEVICE_RETRY_USEC       (10ULL * 1000000ULL)

/* When another driver (or none) has the virtio-balloon device.  The
 * unit's start runs this helper, which moves it to memballoon. */
#define DEVICE_FIX "systemctl restart memballoond: its start gives the device to memballoon (" \
        PKGLIBEXECDIR "/memballoon-device take); if it does not, see that command's output in " \
        "journalctl -u memballoond"

static const char *device_problem(const Manager *m, char *buf, size_t size)
{
        return balloon_device_problem(m->vdev_present ? &m->vdev : NULL, buf, size);
}

static void manager_apply_log(const Manager *m)
{
        log_set_max_level((int) m->config.log.level);
}

/* Compute the STATUS= line and send it if it changed. */
void manager_notify_status(Manager *m)
{
        _cleanup_free_ char *line = NULL;
        json_object *s = manager_status(m);
        int r;

        if (!s)
                return;
        if (!status_get_bool(s, SF_BALLOON_AVAILABLE))
                r = asprintf(&line, "Degraded: balloon unavailable (%s); fix: %s",
                             status_get_string(s, SF_BALLOON_PROBLEM, ""), status_get_string(s, SF_BALLOON_FIX, ""));
        else if (status_get_string(s, SF_BALLOON_PROBLEM, "")[0])
                r = asprintf(&line, "Degraded: %s; fix: %s",
                             status_get_string(s, SF_BALLOON_PROBLEM, ""), status_get_string(s, SF_BALLOON_FIX, ""));
        else
                r = asprintf(&line, "Loaned %" PRIu64 " MiB, host asks %" PRIu64 " MiB, effective target %"
                             PRIu64 " MiB (floor %" PRIu64 " MiB, %s)",
                             status_get_uint(s, SF_BALLOON_ACTUAL_KIB) / 1024,
                             status_get_uint(s, SF_BALLOON_HOST_TARGET_KIB) / 1024,
                             status_get_uint(s, SF_BALLOON_TARGET_KIB) / 1024,
                             status_get_uint(s, SF_BALLOON_MIN_MEM_KIB) / 1024,
                             status_get_string(s, SF_BALLOON_TRANSPORT, "?"));
        json_object_put(s);
        if (r < 0)
                return;
        if (m->last_status && strcmp(m->last_status, line) == 0)
                return;
        (void) sd_notifyf(false, "STATUS=%s", line);
        free(m->last_status);
        m->last_status = TAKE_PTR(line);
}

static void manager_close_shim(Manager *m)
{
        if (m->balloon)
                balloon_detach(m->balloon);
        m->shim_io = sd_event_source_disable_unref(m->shim_io);
        shim_close(&m->shim);
        pressure_set_poll(m->pressure, false);
}

static void manager_set_unavailable(Manager *m, int error, const char *detail);

static int on_shim_io(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
        Manager *m = userdata;

        if (revents & (EPOLLERR | EPOLLHUP)) {
                manager_set_unavailable(m, -ENODEV, "the device went away");
                return 0;
        }
        balloon_process_events(m->balloon);
        return 0;
}

/* The balloon reports from the loop (never from inside a call we made), so
 * closing the shim here is safe. */
static void on_balloon(void *userdata, BalloonNotify what, int error)
{
        Manager *m = userdata;

        switch (what) {
        case BALLOON_NOTIFY_SHIM_FAILED:
                manager_set_unavailable(m, error, "a call to the device failed");
                break;
        case BALLOON_NOTIFY_STATUS: {
                /* The shim switches transport when the device is bound to
                 * it or taken away: look at sysfs then, not every step. */
                uint32_t t = balloon_attached(m->balloon) ? balloon_kstate(m->balloon)->transport : 0;

                if (t != m->last_transport) {
                        /* Not when attaching or detaching: those log themselves. */
                        if (t != 0 && m->last_transport != 0)
                                log_notice("Balloon transport changed from %s to %s: %s",
                                           shim_transport_to_string(m->last_transport), shim_transport_to_string(t),
                                           shim_transport_is_host(t) ? "following the host's target" :
                                           "no host transport is bound, the shim runs in simulate mode");
                        m->last_transport = t;
                        manager_refresh_device(m);
                }
                pressure_set_poll(m->pressure, balloon_wants_pressure_poll(m->balloon));
                manager_notify_status(m);
                break;
        }
        }
}

static void on_pressure(void *userdata, const char *signal, const char *detail)
{
        Manager *m = userdata;

        balloon_on_pressure(m->balloon, signal, detail);
}

static void on_hotplug_pause(void *userdata, uint64_t until_usec, const char *why)
{
        Manager *m = userdata;

        balloon_pause(m->balloon, until_usec, why);
}

/* Try to open the device.  Logs only when the situation changes. */
static int manager_try_shim(Manager *m)
{
        const struct memballoon_state *k;
        const char *detail = NULL, *why;
        char t[64], a[64], tr[64], buf[96], declined[160] = "";
        int r;

        if (m->shim.fd >= 0)
                return 0;
        r = shim_open(&m->shim, &detail);
        if (r >= 0)
                r = sd_event_add_io(m->event, &m->shim_io, m->shim.fd, EPOLLIN, on_shim_io, m);
        if (r >= 0) {
                r = balloon_attach(m->balloon, &shim_ops, &m->shim, &m->shim.api);
                if (r < 0)
                        detail = "MEMBALLOON_GET_STATE failed";
        }
        if (r < 0) {
                if (m->shim.fd >= 0)
                        manager_close_shim(m);
                manager_set_unavailable(m, r, detail ? detail : "setting up the device failed");
                return r;
        }

        m->shim_error = 0;
        m->shim_detail = NULL;
        timer_disarm(m->dev_retry);
        k = balloon_kstate(m->balloon);
        snprintf(t, sizeof(t), "MEMBALLOON_TARGET_KIB=%llu",
                 (unsigned long long) k->target_pages * m->shim.api.page_size / 1024);
        snprintf(a, sizeof(a), "MEMBALLOON_ACTUAL_KIB=%llu",
                 (unsigned long long) k->actual_pages * m->shim.api.page_size / 1024);
        snprintf(tr, sizeof(tr), "MEMBALLOON_TRANSPORT=%s", shim_transport_to_string(k->transport));
        /* Without a host transport, why the last one that looked did not
         * bind (GET_STATE v3): "; cmm declined: not a pSeries LPAR". */
        why = !shim_transport_is_host(k->transport) && (m->shim.api.features & MEMBALLOON_FEAT_STATE_V3) ?
              shim_declined_to_string(k->declined_transport, k->declined_reason, k->declined_error,
                                      buf, sizeof(buf)) : NULL;
        if (why)
                snprintf(declined, sizeof(declined), "; %s declined: %s",
                         shim_transport_to_string(k->declined_transport), why);
        log_struct(LOG_NOTICE, MSGID_DEVICE_FOUND, FIELDS(t, a, tr),
                   "Balloon device found: transport %s, %llu KiB loaned, %s target %llu KiB%s",
                   shim_transport_to_string(k->transport),
                   (unsigned long long) k->actual_pages * m->shim.api.page_size / 1024,
                   shim_transport_is_host(k->transport) ? "host" : "simulated",
                   (unsigned long long) k->target_pages * m->shim.api.page_size / 1024, declined);
        m->last_transport = k->transport;
        manager_refresh_device(m);
        pressure_set_poll(m->pressure, balloon_wants_pressure_poll(m->balloon));
        manager_notify_status(m);
        return 0;
}

void manager_refresh_device(Manager *m)
{
        BalloonDevice devs[BALLOON_DEVICES_MAX];
        const BalloonDevice *d;
        char buf[256];
        const char *problem;
        int n;

        n = balloon_devices_scan(devs, ELEMENTSOF(devs));
        if (n < 0)
                log_debug_errno(n, "Cannot read %s: %m", BALLOON_DEVICES_DIR);
        d = n > 0 ? balloon_devices_pick(devs, (size_t) n) : NULL;
        m->vdev_present = d != NULL;
        m->vdev = d ? *d : (BalloonDevice) {};

        /* Log when the owner changes for the worse, and when it is fixed. */
        problem = device_problem(m, buf, sizeof(buf));
        if (problem && (!m->vdev_problem || strcmp(problem, m->vdev_problem) != 0)) {
                char f1[64], f2[96];

                snprintf(f1, sizeof(f1), "MEMBALLOON_VIRTIO_DEVICE=%s", m->vdev.name);
                snprintf(f2, sizeof(f2), "MEMBALLOON_DEVICE_DRIVER=%s", m->vdev.driver);
                log_struct(LOG_WARNING, MSGID_DEVICE_OWNER, FIELDS(f1, f2), "Balloon device: %s; fix: %s", problem,
                           DEVICE_FIX);
        } else if (!problem && m->vdev_problem && m->vdev_present)
                log_info("Balloon device: %s is bound to memballoon", m->vdev.name);
        free(m->vdev_problem);
        m->vdev_problem = problem ? strdup(problem) : NULL;
}

static void on_dev_retry(Timer *t, void *userdata)
{
        Manager *m = userdata;

        /* Re-armed every time: a retry that fires once is no safety net. */
        if (manager_try_shim(m) < 0)
                timer_rearm(t, DEVICE_RETRY_USEC);
}

static void manager_set_unavailable(Manager *m, int error, const char *detail)
{
        bool changed = m->shim_error != error || m->shim_detail != detail;

        if (m->shim.fd >= 0)
                manager_close_shim(m);
        m->shim_error = error;
        m->shim_detail = detail;

        if (changed) {
                _cleanup_free_ char *dev = root_path(SHIM_DEVICE_PATH);
                char f[64];

                snprintf(f, sizeof(f), "ERRNO=%d", -error);
                log_struct(LOG_WARNING, MSGID_DEVICE_MISSING, FIELDS(f),
                           "Balloon device %s unavailable: %s (%s); running degraded, will pick it up when it appears",
                           dev ? dev : SHIM_DEVICE_PATH, detail, strerror(-error));
        }
        if (!timer_armed(m->dev_retry))
                timer_rearm(m->dev_retry, DEVICE_RETRY_USEC);
        manager_notify_status(m);
}

static int on_dev_inotify(sd_event_source *s, const struct inotify_event *ev, void *userdata)
{
        Manager *m = userdata;

        if (ev->len > 0 && strcmp(ev->name, MEMBALLOON_DEVICE_NAME) == 0)
                (void) manager_try_shim(m);
        return 0;
}

static const char *fix_for(int error)
{
        switch (error) {
        case 0:
                return NULL;
        case -ENOENT:
                return "load the kernel shim: modprobe memballoon (package memballoon-dkms)";
        case -EPERM:
        case -EACCES:
                return "run memballoond as root (it needs CAP_SYS_ADMIN)";
        case -EBUSY:
                return "stop the other program using /dev/memballoon (is a second memballoond running?)";
        case -EPROTO:
                return "install matching versions of memballoond and memballoon-dkms";
        default:
                return "check that /dev/memballoon belongs to the memballoon kernel module (dmesg)";
        }
}

json_object *manager_status(Manager *m)
{
        bool avail = m->shim.fd >= 0 && balloon_attached(m->balloon);
        _cleanup_free_ char *dev = root_path(SHIM_DEVICE_PATH);
        json_object *st = json_object_new_object();
        char buf[256];
        const char *vproblem = device_problem(m, buf, sizeof(buf));

        if (!st)
                return NULL;
        status_put_string(st, SF_VERSION, PACKAGE_VERSION);
        status_put_uint(st, SF_UPTIME_SEC, (clock_now_usec() - m->start_usec) / 1000000ULL);
        status_put_string(st, SF_STATE, avail && !vproblem ? "running" : "degraded");
        status_put_string(st, SF_BALLOON_SOURCE, balloon_source_to_string(m->config.balloon.source));
        status_put_string(st, SF_BALLOON_DEVICE, dev ? dev : SHIM_DEVICE_PATH);
        status_put_string(st, SF_BALLOON_VIRTIO_DEVICE, m->vdev_present ? m->vdev.name : NULL);
        status_put_string(st, SF_BALLOON_DEVICE_DRIVER, m->vdev_present ? m->vdev.driver : NULL);
        /* The shim's own problem first; the device's owner after it.  With
         * both, the device fix (a restart) loads the shim too. */
        status_put_string(st, SF_BALLOON_PROBLEM, !avail ? m->shim_detail : vproblem);
        status_put_string(st, SF_BALLOON_FIX, !avail ? (vproblem ? DEVICE_FIX : fix_for(m->shim_error)) :
                                              vproblem ? DEVICE_FIX : NULL);
        balloon_status(m->balloon, st);
        if (m->ksm)
                ksm_status(m->ksm, st);
        else
                status_put_bool(st, SF_KSM_ENABLED, m->config.ksm.enabled);
        pressure_status(m->pressure, st);
        hotplug_status(m->hotplug, st);
        status_put_string(st, SF_CONFIG_PATH, m->config.path);
        status_put_uint(st, SF_CONFIG_LOADED_AT_UPTIME_SEC, (m->config_loaded_usec - m->start_usec) / 1000000ULL);
        status_put_string(st, SF_CONTROL_SOCKET, m->config.control.socket);
        status_put_uint(st, SF_CONTROL_CLIENTS, control_server_clients(m->control));
        return st;
}

int manager_new(Config *config, bool config_explicit, Manager **ret)
{
        Manager *m;
        int r;

        m = calloc(1, sizeof(*m));
        if (!m)
                return -ENOMEM;
        m->shim.fd = -1;
        r = sd_event_default(&m->event);
        if (r < 0) {
                free(m);
                return r;
        }
        m->config = *config;
        memset(config, 0, sizeof(*config));
        m->config_explicit = config_explicit;
        m->start_usec = m->config_loaded_usec = clock_now_usec();
        r = balloon_new(m->event, &m->config, on_balloon, m, &m->balloon);
        if (r >= 0)
                r = timer_new(m->event, "device-retry", SD_EVENT_PRIORITY_NORMAL, 100000, on_dev_retry, m,
                              &m->dev_retry);
        if (r < 0) {
                manager_free(m);
                return r;
        }
        *ret = m;
        return 0;
}

Manager *manager_free(Manager *m)
{
        if (!m)
                return NULL;
        m->control = control_server_free(m->control);
        m->ksm = ksm_free(m->ksm);
        m->pressure = pressure_free(m->pressure);
        m->hotplug = hotplug_free(m->hotplug);
        manager_close_shim(m);
        m->balloon = balloon_free(m->balloon);
        sd_event_source_disable_unref(m->dev_watch);
        timer_free(m->dev_retry);
        sd_event_unref(m->event);
        config_done(&m->config);
        free(m->last_status);
        free(m->vdev_problem);
        free(m);
        return NULL;
}

static int on_exit_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
        Manager *m = userdata;

        log_info("Received %s, stopping", strsignal((int) si->ssi_signo));
        (void) sd_notify(false, "STOPPING=1");
        manager_stop(m);
        return sd_event_exit(m->event, 0);
}

void manager_stop(Manager *m)
{
        /* By default the balloon stays: the host asked for that memory. */
        if (m->config.balloon.deflate_on_exit)
                balloon_deflate_all(m->balloon);
        else if (m->shim.fd >= 0 && balloon_kstate(m->balloon)->actual_pages > 0)
                log_info("Leaving %llu KiB in the balloon (balloon.deflate_on_exit is off)",
                         (unsigned long long) balloon_kstate(m->balloon)->actual_pages * m->shim.api.page_size / 1024);
        balloon_detach(m->balloon);
        ksm_stop(m->ksm);
}

static int on_sighup(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
        (void) manager_reload(userdata, NULL);
        return 0;
}

static ControlSettings control_settings(const Config *c)
{
        return (ControlSettings) {
                .path = c->control.socket,
                .mode = c->control.mode,
                .group = c->control.group,
                .max_clients = c->control.max_clients,
        };
}

int manager_reload(Manager *m, char **ret_error)
{
        _cleanup_free_ char *err = NULL;
        ControlSettings cs;
        Config c, old;
        int r;

        (void) sd_notifyf(false, "RELOADING=1\nMONOTONIC_USEC=%" PRIu64, clock_now_usec());
        r = config_load(m->config.path, &c, &err);
        if (r < 0) {
                log_struct(LOG_ERR, MSGID_RELOAD_FAILED, NULL,
                           "Reload failed, keeping the running configuration: %s", err ? err : strerror(-r));
                (void) sd_notify(false, "READY=1");
                if (ret_error)
                        *ret_error = TAKE_PTR(err);
                return r;
        }

        if (config_changed(&m->config, &c, "control.socket", NULL)) {
                log_notice("control.socket changed to %s; the new path takes effect after a restart",
                           c.control.socket);
                /* Keep reporting the socket we actually listen on. */
                free(c.control.socket);
                c.control.socket = strdup(m->config.control.socket);
        }
        if (config_changed(&m->config, &c, "control", NULL)) {
                cs = control_settings(&c);
                r = control_server_update(m->control, &cs);
                if (r < 0)
                        log_warning_errno(r, "Failed to apply control socket permissions: %m, ignoring");
        }

        /* Components keep a pointer to m->config; each works out what
         * changed for it from @old with config_changed(). */
        old = m->config;
        m->config = c;
        m->config_loaded_usec = clock_now_usec();
        manager_apply_log(m);
        balloon_reconfigure(m->balloon);  /* re-applies everything: cheap, idempotent */
        if (m->ksm)
                ksm_reconfigure(m->ksm, &old);
        if (m->pressure)
                pressure_reconfigure(m->pressure, &old);
        if (m->hotplug)
                hotplug_reconfigure(m->hotplug, &m->config, &old);
        config_done(&old);
        log_struct(LOG_INFO, MSGID_RELOADED, NULL, "Configuration reloaded from %s", m->config.path);
        manager_notify_status(m);
        (void) sd_notify(false, "READY=1");
        return 0;
}

int manager_start(Manager *m)
{
        ControlSettings cs = control_settings(&m->config);
        _cleanup_free_ char *devdir = NULL;
        sigset_t ss;
        int r;

        manager_apply_log(m);

        sigemptyset(&ss);
        sigaddset(&ss, SIGTERM);
        sigaddset(&ss, SIGINT);
        sigaddset(&ss, SIGHUP);
        if (sigprocmask(SIG_BLOCK, &ss, NULL) < 0)
                return log_error_errno(-errno, "Failed to block signals: %m");
        if ((r = sd_event_add_signal(m->event, NULL, SIGTERM, on_exit_signal, m)) < 0 ||
            (r = sd_event_add_signal(m->event, NULL, SIGINT, on_exit_signal, m)) < 0 ||
            (r = sd_event_add_signal(m->event, NULL, SIGHUP, on_sighup, m)) < 0)
                return log_error_errno(r, "Failed to watch signals: %m");

        /* Sends WATCHDOG=1 at half the interval when WATCHDOG_USEC is set. */
        r = sd_event_set_watchdog(m->event, true);
        if (r < 0)
                log_warning_errno(r, "Failed to enable the watchdog: %m, ignoring");

        r = control_server_new(m->event, &cs, manager_dispatch, m, &m->control);
        if (r < 0)
                return log_error_errno(r, "Failed to set up the control socket %s: %m", cs.path);

        devdir = root_path("/dev");
        if (!devdir)
                return log_oom_error();
        r = sd_event_add_inotify(m->event, &m->dev_watch, devdir, IN_CREATE | IN_ATTRIB | IN_MOVED_TO,
                                 on_dev_inotify, m);
        if (r < 0)
                log_warning_errno(r, "Cannot watch %s for the balloon device: %m; retrying every %llu s instead",
                                  devdir, DEVICE_RETRY_USEC / 1000000ULL);

        if (pressure_new(m->event, &m->config, on_pressure, m, &m->pressure) < 0 ||
            hotplug_new(m->event, &m->config, on_hotplug_pause, m, &m->hotplug) < 0)
                return log_oom_error();

        manager_refresh_device(m);
        (void) manager_try_shim(m);

        r = ksm_new(m->event, &m->config, &m->ksm);
        if (r < 0)
                return log_oom_error();
        ksm_reconfigure(m->ksm, NULL);
        return 0;
}

int manager_run(Manager *m)
{
        char f[256];
        int r;

        snprintf(f, sizeof(f), "MEMBALLOON_CONFIG=%s", m->config.path);
        log_struct(LOG_INFO, MSGID_STARTED, FIELDS(f), "memballoond %s started (config %s, control %s)",
                   PACKAGE_VERSION, m->config.path, m->config.control.socket);
        manager_notify_status(m);
        (void) sd_notify(false, "READY=1");

        r = sd_event_loop(m->event);
        if (r < 0)
                return log_error_errno(r, "Event loop failed: %m"), 1;
        log_struct(LOG_INFO, MSGID_STOPPED, NULL, "memballoond stopped");
        return r;
}
