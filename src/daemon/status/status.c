/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <math.h>

#include "status.h"

static json_object *str(const char *s)
{
        return json_object_new_string(s ? s : "");
}

/* JSON has no Infinity or NaN; json-c would print them anyway. */
static json_object *num(double d)
{
        return json_object_new_double(isfinite(d) ? d : 0);
}

json_object *status_to_json(const StatusInfo *s)
{
        json_object *root = json_object_new_object();
        json_object *balloon = json_object_new_object();
        json_object *ksm = json_object_new_object();
        json_object *config = json_object_new_object();
        json_object *control = json_object_new_object();

        if (!root || !balloon || !ksm || !config || !control) {
                json_object_put(root);
                json_object_put(balloon);
                json_object_put(ksm);
                json_object_put(config);
                json_object_put(control);
                return NULL;
        }

        json_object_object_add(root, "version", str(s->version));
        json_object_object_add(root, "uptime_sec", json_object_new_uint64(s->uptime_sec));
        json_object_object_add(root, "state", str(s->daemon_state));

        json_object_object_add(balloon, "available", json_object_new_boolean(s->balloon_available));
        json_object_object_add(balloon, "transport", str(s->transport));
        json_object_object_add(balloon, "source", str(s->source));
        json_object_object_add(balloon, "device", str(s->device));
        json_object_object_add(balloon, "problem", str(s->problem));
        json_object_object_add(balloon, "fix", str(s->fix));
        json_object_object_add(balloon, "host_target_kib", json_object_new_uint64(s->host_target_kib));
        json_object_object_add(balloon, "target_kib", json_object_new_uint64(s->target_kib));
        json_object_object_add(balloon, "actual_kib", json_object_new_uint64(s->actual_kib));
        json_object_object_add(balloon, "total_kib", json_object_new_uint64(s->total_kib));
        json_object_object_add(balloon, "min_mem_kib", json_object_new_uint64(s->min_mem_kib));
        json_object_object_add(balloon, "oom_freed_kib", json_object_new_uint64(s->oom_freed_kib));
        json_object_object_add(balloon, "oom_debt_kib", json_object_new_uint64(s->oom_debt_kib));
        json_object_object_add(balloon, "auto_loan", json_object_new_boolean(s->auto_enabled));
        json_object_object_add(balloon, "stats_sent", json_object_new_uint64(s->stats_sent));
        json_object_object_add(balloon, "migrations", json_object_new_uint64(s->migrations));
        json_object_object_add(balloon, "host_features", json_object_new_uint64(s->host_features));
        json_object_object_add(balloon, "state", str(s->state));
        json_object_object_add(balloon, "reason", str(s->reason));
        if (s->last_change_valid) {
                json_object *lc = json_object_new_object();
                double secs = (double) s->last_change_usec / 1e6;

                if (lc) {
                        json_object_object_add(lc, "kind", str(s->last_change_kind));
                        json_object_object_add(lc, "kib", json_object_new_uint64(s->last_change_kib));
                        json_object_object_add(lc, "duration_ms", json_object_new_uint64(s->last_change_usec / 1000));
                        json_object_object_add(lc, "rate_mib_per_sec",
                                               json_object_new_double(secs > 0 ? (double) s->last_change_kib / 1024.0 / secs : 0));
                        json_object_object_add(balloon, "last_change", lc);
                }
        }
        json_object_object_add(root, "balloon", balloon);

        {
                json_object *oom = json_object_new_object();

                if (oom) {
                        json_object_object_add(oom, "count", json_object_new_uint64(s->oom_count));
                        json_object_object_add(oom, "last_realtime_sec", json_object_new_uint64(s->oom_last_realtime_sec));
                        json_object_object_add(oom, "freed_kib", json_object_new_uint64(s->oom_events_seen_kib));
                        json_object_object_add(oom, "debt_kib", json_object_new_uint64(s->oom_debt_kib));
                        json_object_object_add(root, "oom", oom);
                }
        }

        json_object_object_add(ksm, "enabled", json_object_new_boolean(s->ksm_enabled));
        json_object_object_add(ksm, "available", json_object_new_boolean(s->ksm.available));
        json_object_object_add(ksm, "active", json_object_new_boolean(s->ksm.active));
        json_object_object_add(ksm, "paused", json_object_new_boolean(s->ksm.paused));
        json_object_object_add(ksm, "mode", str(s->ksm.mode));
        json_object_object_add(ksm, "state", str(s->ksm.state));
        json_object_object_add(ksm, "reason", str(s->ksm.reason));
        json_object_object_add(ksm, "problem", str(s->ksm.problem));
        json_object_object_add(ksm, "run", json_object_new_uint64(s->ksm.run));
        json_object_object_add(ksm, "pages_to_scan", json_object_new_uint64(s->ksm.pages_to_scan));
        json_object_object_add(ksm, "sleep_millisecs", json_object_new_uint64(s->ksm.sleep_millisecs));
        json_object_object_add(ksm, "pages_sharing", json_object_new_uint64(s->ksm.pages_sharing));
        json_object_object_add(ksm, "pages_shared", json_object_new_uint64(s->ksm.pages_shared));
        json_object_object_add(ksm, "pages_unshared", json_object_new_uint64(s->ksm.pages_unshared));
        json_object_object_add(ksm, "pages_volatile", json_object_new_uint64(s->ksm.pages_volatile));
        json_object_object_add(ksm, "full_scans", json_object_new_uint64(s->ksm.full_scans));
        json_object_object_add(ksm, "saved_kib", json_object_new_uint64(s->ksm.saved_kib));
        /* general_profit is signed; absent before Linux 6.1. */
        if (s->ksm.has_profit)
                json_object_object_add(ksm, "profit_kib", json_object_new_int64(s->ksm.profit_kib));
        json_object_object_add(ksm, "ksmd_cpu_percent", num(s->ksm.has_cpu ? s->ksm.ksmd_cpu_percent : 0));
        json_object_object_add(ksm, "yield_mib_per_cpu_s", num(s->ksm.has_cpu ? s->ksm.yield_mib_per_cpu_s : 0));
        json_object_object_add(ksm, "max_cpu_percent", json_object_new_uint64(s->ksm.max_cpu_percent));
        json_object_object_add(ksm, "interval_s", json_object_new_uint64(s->ksm.interval_s));
        json_object_object_add(ksm, "mem_available_kib", json_object_new_uint64(s->ksm.mem_available_kib));
        json_object_object_add(ksm, "threshold_kib", json_object_new_uint64(s->ksm.threshold_kib));
        if (s->ksm.has_psi)
                json_object_object_add(ksm, "psi_some_avg10", num(s->ksm.psi_some_avg10));
        json_object_object_add(ksm, "last_run_age_sec", json_object_new_uint64(s->ksm.last_run_age_sec));
        json_object_object_add(ksm, "policy_runs", json_object_new_uint64(s->ksm.policy_runs));
        json_object_object_add(ksm, "next_probe_sec", json_object_new_uint64(s->ksm.next_probe_sec));
        json_object_object_add(root, "ksm", ksm);

        {
                json_object *pr = json_object_new_object(), *sig = json_object_new_array(), *pause = json_object_new_object(),
                            *hp = json_object_new_object();

                if (pr && sig && pause && hp) {
                        if (s->psi_active)
                                json_object_array_add(sig, json_object_new_string("psi"));
                        if (s->memavailable_active)
                                json_object_array_add(sig, json_object_new_string("memavailable"));
                        json_object_object_add(pr, "signals", sig);
                        json_object_object_add(pr, "psi_problem", str(s->psi_problem));
                        json_object_object_add(pr, "memavailable_polling", json_object_new_boolean(s->memavailable_polling));
                        json_object_object_add(pr, "relief_below_host", json_object_new_boolean(s->relief_below_host));
                        json_object_object_add(pr, "relief_note", str(s->relief_below_host ? "" :
                                "the host did not offer deflate-on-oom: pressure relief returns only pages loaned "
                                "beyond the host's target; enable with QEMU -device virtio-balloon-pci,deflate-on-oom=on "
                                "or libvirt <memballoon model='virtio' autodeflate='on'>"));
                        json_object_object_add(pr, "count", json_object_new_uint64(s->pressure_count));
                        json_object_object_add(pr, "last_realtime_sec", json_object_new_uint64(s->pressure_last_realtime_sec));
                        json_object_object_add(pr, "last_signal", str(s->pressure_last_signal));
                        json_object_object_add(pr, "freed_kib", json_object_new_uint64(s->pressure_freed_kib));
                        json_object_object_add(pr, "last_need_kib", json_object_new_uint64(s->pressure_need_kib));
                        json_object_object_add(root, "pressure", pr);
                        json_object_object_add(pause, "active", json_object_new_boolean(s->pause_remaining_ms > 0));
                        json_object_object_add(pause, "remaining_ms", json_object_new_uint64(s->pause_remaining_ms));
                        json_object_object_add(pause, "reason", str(s->pause_reason));
                        json_object_object_add(balloon, "pause", json_object_get(pause));
                        json_object_put(pause);
                        json_object_object_add(hp, "source", str(s->hotplug_source));
                        json_object_object_add(hp, "events", json_object_new_uint64(s->hotplug_events));
                        json_object_object_add(hp, "onlined", json_object_new_uint64(s->hotplug_onlined));
                        json_object_object_add(root, "hotplug", hp);
                } else {
                        json_object_put(pr);
                        json_object_put(sig);
                        json_object_put(pause);
                        json_object_put(hp);
                }
        }

        json_object_object_add(config, "path", str(s->config_path));
        json_object_object_add(config, "loaded_at_uptime_sec", json_object_new_uint64(s->config_loaded_sec));
        json_object_object_add(root, "config", config);

        json_object_object_add(control, "socket", str(s->control_socket));
        json_object_object_add(control, "clients", json_object_new_uint64(s->control_clients));
        json_object_object_add(root, "control", control);
        return root;
}
