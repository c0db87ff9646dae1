/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <time.h>

#include <systemd/sd-daemon.h>

#include "config.h"
#include "log.h"
#include "macro.h"
#include "manager.h"
#include "root.h"

/* While the device is missing, retry this often even if inotify says
 * nothing (a device node may appear without an event, e.g. bind mounts). */
#define DEVICE_RETRY_USEC       (10ULL * 1000000ULL)

uint64_t manager_now_usec(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000ULL + (uint64_t) ts.tv_nsec / 1000ULL;
}

uint64_t manager_pages_to_kib(const Manager *m, uint64_t pages)
{
        return pages * (m->shim.api.page_size ? m->shim.api.page_size : 4096) / 1024;
}

static void manager_apply_log(const Manager *m)
{
        log_set_max_level((int) m->config.log.level);
}

/* Compute the STATUS= line and send it if it changed. */
void manager_notify_status(Manager *m)
{
        _cleanup_free_ char *line = NULL;
        StatusInfo s;
        int r;

        manager_status(m, &s);
        if (!s.balloon_available)
                r = asprintf(&line, "Degraded: balloon unavailable (%s); fix: %s", s.problem, s.fix);
        else
                r = asprintf(&line, "Loaned %" PRIu64 " MiB, host asks %" PRIu64 " MiB, effective target %"
                             PRIu64 " MiB (floor %" PRIu64 " MiB, %s)",
                             s.actual_kib / 1024, s.host_target_kib / 1024, s.target_kib / 1024,
                             s.min_mem_kib / 1024, s.transport);
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
        controller_stop(m);
        m->shim_io = sd_event_source_disable_unref(m->shim_io);
        shim_close(&m->shim);
}

static void manager_set_unavailable(Manager *m, int error, const char *detail);

int manager_refresh_state(Manager *m)
{
        int r;

        r = shim_get_state(&m->shim, &m->kstate);
        if (r < 0) {
                manager_set_unavailable(m, r, "MEMBALLOON_GET_STATE failed");
                return r;
        }
        return 0;
}

static int on_shim_io(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
        Manager *m = userdata;
        struct memballoon_event ev[16];
        int n, r;

        if (revents & (EPOLLERR | EPOLLHUP)) {
                manager_set_unavailable(m, -ENODEV, "the device went away");
                return 0;
        }
        n = shim_read_events(&m->shim, ev, ELEMENTSOF(ev));
        if (n < 0) {
                manager_set_unavailable(m, n, "reading events from the device failed");
                return 0;
        }
        r = manager_refresh_state(m);
        if (r < 0)
                return 0;
        for (int i = 0; i < n && m->shim.fd >= 0; i++) {
                log_debug("Shim event type=%u seq=%llu value=%llu", ev[i].type,
                          (unsigned long long) ev[i].seq, (unsigned long long) ev[i].value);
                controller_on_event(m, &ev[i]);
        }
        manager_notify_status(m);
        return 0;
}

/* Try to open the device.  Logs only when the situation changes. */
static int manager_try_shim(Manager *m)
{
        const char *detail = NULL;
        int r;

        if (m->shim.fd >= 0)
                return 0;
        r = shim_open(&m->shim, &detail);
        if (r >= 0)
                r = shim_get_state(&m->shim, &m->kstate);
        if (r >= 0)
                r = sd_event_add_io(m->event, &m->shim_io, m->shim.fd, EPOLLIN, on_shim_io, m);
        if (r < 0) {
                if (m->shim.fd >= 0)
                        manager_close_shim(m);
                manager_set_unavailable(m, r, detail ? detail : "setting up the device failed");
                return r;
        }

        m->shim_error = 0;
        m->shim_detail = NULL;
        m->dev_retry = sd_event_source_disable_unref(m->dev_retry);
        {
                char t[64], a[64];

                snprintf(t, sizeof(t), "MEMBALLOON_TARGET_KIB=%" PRIu64, manager_pages_to_kib(m, m->kstate.target_pages));
                snprintf(a, sizeof(a), "MEMBALLOON_ACTUAL_KIB=%" PRIu64, manager_pages_to_kib(m, m->kstate.actual_pages));
                log_struct(LOG_NOTICE, MSGID_DEVICE_FOUND, FIELDS(t, a),
                           "Balloon device found: transport %s, %" PRIu64 " KiB loaned, host target %" PRIu64 " KiB",
                           shim_transport_to_string(m->kstate.transport),
                           manager_pages_to_kib(m, m->kstate.actual_pages), manager_pages_to_kib(m, m->kstate.target_pages));
        }
        controller_start(m);
        manager_notify_status(m);
        return 0;
}

static int on_dev_retry(sd_event_source *s, uint64_t usec, void *userdata)
{
        Manager *m = userdata;

        if (manager_try_shim(m) < 0)
                sd_event_source_set_time_relative(s, DEVICE_RETRY_USEC);
        return 0;
}

static void manager_set_unavailable(Manager *m, int error, const char *detail)
{
        bool changed = m->shim_error != error || m->shim_detail != detail;

        if (m->shim.fd >= 0)
                manager_close_shim(m);
        m->shim_error = error;
        m->shim_detail = detail;
        memset(&m->kstate, 0, sizeof(m->kstate));

        if (changed) {
                _cleanup_free_ char *dev = root_path(SHIM_DEVICE_PATH);
                char f[64];

                snprintf(f, sizeof(f), "ERRNO=%d", -error);
                log_struct(LOG_WARNING, MSGID_DEVICE_MISSING, FIELDS(f),
                           "Balloon device %s unavailable: %s (%s); running degraded, will pick it up when it appears",
                           dev ? dev : SHIM_DEVICE_PATH, detail, strerror(-error));
        }
        if (!m->dev_retry)
                (void) sd_event_add_time_relative(m->event, &m->dev_retry, CLOCK_MONOTONIC,
                                                  DEVICE_RETRY_USEC, 0, on_dev_retry, m);
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

void manager_status(Manager *m, StatusInfo *ret)
{
        bool avail = m->shim.fd >= 0;
        static char device[4096], reason[512];
        _cleanup_free_ char *dev = root_path(SHIM_DEVICE_PATH);
        const char *why;

        snprintf(device, sizeof(device), "%s", dev ? dev : SHIM_DEVICE_PATH);

        /* Why actual differs from the host's target, most useful first. */
        if (!avail)
                why = "balloon device unavailable";
        else if (m->target.reason && m->target.target_pages != m->kstate.actual_pages)
                why = m->target.reason;
        else if (m->target.reason && m->target.target_pages != m->kstate.target_pages)
                why = m->target.reason;
        else if (m->note)
                why = m->note;
        else if (m->kstate.actual_pages != m->target.target_pages)
                why = m->state && strcmp(m->state, "deflating") == 0 ? "returning memory to the guest" :
                      "taking memory from the guest";
        else
                why = "";
        if (avail && m->note && why != m->note && why[0]) {
                snprintf(reason, sizeof(reason), "%s; %s", why, m->note);
                why = reason;
        }

        *ret = (StatusInfo) {
                .version = PACKAGE_VERSION,
                .uptime_sec = (manager_now_usec() - m->start_usec) / 1000000ULL,
                .config_path = m->config.path,
                .config_loaded_sec = (m->config_loaded_usec - m->start_usec) / 1000000ULL,
                .daemon_state = avail ? "running" : "degraded",
                .balloon_available = avail,
                .transport = avail ? shim_transport_to_string(m->kstate.transport) : "none",
                .source = balloon_source_to_string(m->config.balloon.source),
                .device = device,
                .problem = avail ? NULL : m->shim_detail,
                .fix = avail ? NULL : fix_for(m->shim_error),
                .host_target_kib = avail ? manager_pages_to_kib(m, m->kstate.target_pages) : 0,
                .target_kib = avail ? manager_pages_to_kib(m, m->target.target_pages) : 0,
                .actual_kib = avail ? manager_pages_to_kib(m, m->kstate.actual_pages) : 0,
                .total_kib = avail ? manager_pages_to_kib(m, m->kstate.total_ram_pages + m->kstate.actual_pages) : 0,
                .min_mem_kib = m->config.balloon.min_mem_mb * 1024,
                .oom_freed_kib = avail ? manager_pages_to_kib(m, m->kstate.oom_freed_pages) : 0,
                .oom_debt_kib = manager_pages_to_kib(m, m->oom_debt_pages),
                .oom_count = m->oom_count,
                .oom_last_realtime_sec = m->oom_last_realtime_usec / 1000000ULL,
                .oom_events_seen_kib = manager_pages_to_kib(m, m->oom_freed_seen_pages),
                .migrations = avail ? m->kstate.migrations : 0,
                .host_features = avail ? m->kstate.host_features : 0,
                .state = avail ? (m->state ? m->state : "idle") : "unavailable",
                .reason = why,
                .auto_enabled = m->config.auto_loan.enabled,
                .last_change_valid = m->last_change.valid,
                .last_change_kind = m->last_change.kind == STEP_INFLATE ? "inflate" : "deflate",
                .last_change_kib = manager_pages_to_kib(m, m->last_change.pages),
                .last_change_usec = m->last_change.duration_usec,
                .stats_sent = m->stats_sent,
                .ksm_enabled = m->config.ksm.enabled,
                .control_socket = m->config.control.socket,
                .control_clients = control_server_clients(m->control),
        };
        if (m->ksm)
                ksm_status(m->ksm, ret);
        {
                uint64_t now = manager_now_usec(), until = controller_pause_until(m);

                ret->psi_active = pressure_psi_active(m->pressure);
                ret->psi_problem = pressure_psi_problem(m->pressure);
                ret->memavailable_active = pressure_memavailable_active(m->pressure);
                ret->relief_below_host = !avail || controller_may_deflate_below_host(m);
                ret->pressure_count = m->pressure_count;
                ret->pressure_last_realtime_sec = m->pressure_last_realtime_usec / 1000000ULL;
                ret->pressure_freed_kib = manager_pages_to_kib(m, m->pressure_freed_pages);
                ret->pressure_last_signal = m->pressure_last_signal;
                ret->pause_remaining_ms = until > now ? (until - now) / 1000ULL : 0;
                ret->pause_reason = until <= now ? NULL :
                                    m->hotplug_pause_until_usec >= m->relief.hold_until_usec ?
                                    "memory hotplug (hotplug.delay_s)" : "back-off after memory pressure (oom.backoff_s)";
                ret->hotplug_source = hotplug_source(m->hotplug);
                ret->hotplug_events = hotplug_events(m->hotplug);
                ret->hotplug_onlined = hotplug_onlined(m->hotplug);
        }
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
        m->start_usec = m->config_loaded_usec = manager_now_usec();
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
        sd_event_source_disable_unref(m->dev_watch);
        sd_event_source_disable_unref(m->dev_retry);
        sd_event_unref(m->event);
        config_done(&m->config);
        free(m->last_status);
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
                controller_deflate_all(m);
        else if (m->shim.fd >= 0 && m->kstate.actual_pages > 0)
                log_info("Leaving %" PRIu64 " KiB in the balloon (balloon.deflate_on_exit is off)",
                         manager_pages_to_kib(m, m->kstate.actual_pages));
        controller_stop(m);
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
        Config c;
        int r;

        (void) sd_notifyf(false, "RELOADING=1\nMONOTONIC_USEC=%" PRIu64, manager_now_usec());
        r = config_load(m->config.path, &c, &err);
        if (r < 0) {
                log_struct(LOG_ERR, MSGID_RELOAD_FAILED, NULL,
                           "Reload failed, keeping the running configuration: %s", err ? err : strerror(-r));
                (void) sd_notify(false, "READY=1");
                if (ret_error)
                        *ret_error = TAKE_PTR(err);
                return r;
        }

        cs = control_settings(&c);
        r = control_server_update(m->control, &cs);
        if (r == -EBUSY) {
                log_notice("control.socket changed to %s; the new path takes effect after a restart",
                           c.control.socket);
                /* Keep reporting the socket we actually listen on. */
                free(c.control.socket);
                c.control.socket = strdup(m->config.control.socket);
        } else if (r < 0)
                log_warning_errno(r, "Failed to apply control socket permissions: %m, ignoring");

        config_done(&m->config);
        m->config = c;
        m->config_loaded_usec = manager_now_usec();
        manager_apply_log(m);
        controller_reconfigure(m);
        if (m->ksm)
                ksm_reconfigure(m->ksm);
        if (m->pressure)
                pressure_reconfigure(m->pressure, &m->config);
        if (m->hotplug)
                hotplug_reconfigure(m->hotplug, &m->config);
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

        (void) manager_try_shim(m);

        if (pressure_new(m->event, &m->config, controller_on_pressure, m, &m->pressure) < 0 ||
            hotplug_new(m->event, &m->config, controller_on_hotplug_pause, m, &m->hotplug) < 0)
                return log_oom_error();

        r = ksm_new(m->event, &m->config, &m->ksm);
        if (r < 0)
                return log_oom_error();
        ksm_reconfigure(m->ksm);
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
