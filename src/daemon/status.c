/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "status.h"

static json_object *str(const char *s)
{
        return json_object_new_string(s ? s : "");
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
        json_object_object_add(root, "ksm", ksm);

        json_object_object_add(config, "path", str(s->config_path));
        json_object_object_add(config, "loaded_at_uptime_sec", json_object_new_uint64(s->config_loaded_sec));
        json_object_object_add(root, "config", config);

        json_object_object_add(control, "socket", str(s->control_socket));
        json_object_object_add(control, "clients", json_object_new_uint64(s->control_clients));
        json_object_object_add(root, "control", control);
        return root;
}
