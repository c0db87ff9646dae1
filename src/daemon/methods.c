/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Control methods.  Each entry says whether it changes anything; those are
 * for root (SO_PEERCRED uid 0) and the daemon's own user only (that user
 * could ptrace the daemon anyway; under systemd it is root).  Everything
 * else is open to whoever the socket's mode and group let in.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "macro.h"
#include "manager.h"
#include "parse.h"
#include "timer.h"

typedef struct Method {
        const char *name;
        bool privileged;
        const char *const *params;      /* allowed parameter names, NULL = none */
        char *(*handler)(Manager *m, json_object *params);
} Method;

static char *method_status(Manager *m, json_object *params)
{
        manager_refresh_device(m);
        return control_reply_format(manager_status(m));
}

static char *method_reload(Manager *m, json_object *params)
{
        _cleanup_free_ char *err = NULL;
        int r;

        r = manager_reload(m, &err);
        if (r < 0) {
                _cleanup_free_ char *msg = NULL;

                if (asprintf(&msg, "reload failed, running configuration kept: %s",
                             err ? err : strerror(-r)) < 0)
                        return NULL;
                return control_reply_error_format(CONTROL_ERROR_FAILED, msg);
        }
        return control_reply_format(NULL);
}

static char *method_set_target(Manager *m, json_object *params)
{
        _cleanup_free_ char *msg = NULL;
        json_object *size;
        const char *err = NULL;
        uint64_t bytes;
        int r;

        if (!json_object_object_get_ex(params, "size", &size) || !json_object_is_type(size, json_type_string))
                return control_reply_error_format(CONTROL_ERROR_INVALID_PARAMETER,
                                                  "\"size\" must be a string such as \"512M\" or \"2G\"");
        r = parse_size(json_object_get_string(size), &bytes, &err);
        if (r < 0) {
                if (asprintf(&msg, "invalid size \"%s\": %s", json_object_get_string(size), err) < 0)
                        return NULL;
                return control_reply_error_format(CONTROL_ERROR_INVALID_PARAMETER, msg);
        }
        r = balloon_set_target(m->balloon, bytes, &msg);
        if (r < 0)
                return control_reply_error_format(r == -ERANGE ? CONTROL_ERROR_INVALID_PARAMETER : CONTROL_ERROR_FAILED,
                                                  msg ? msg : strerror(-r));
        return method_status(m, NULL);
}

static char *method_reset_oom(Manager *m, json_object *params)
{
        balloon_reset_oom(m->balloon);
        return method_status(m, NULL);
}

/* Reply with the status, or an error naming why. */
static char *ksm_reply(Manager *m, int r, const char *msg)
{
        if (r < 0)
                return control_reply_error_format(r == -EALREADY || r == -EBUSY || r == -ENODEV ?
                                                  CONTROL_ERROR_INVALID_PARAMETER : CONTROL_ERROR_FAILED,
                                                  msg ? msg : strerror(-r));
        return method_status(m, NULL);
}

static char *method_ksm_unmerge(Manager *m, json_object *params)
{
        const char *msg = NULL;
        int r = ksm_unmerge(m->ksm, &msg);

        return ksm_reply(m, r, msg);
}

static char *method_ksm_resume(Manager *m, json_object *params)
{
        const char *msg = NULL;
        int r = ksm_resume(m->ksm, &msg);

        return ksm_reply(m, r, msg);
}

/*
 * Tests only (memballoond --manual-clock): move the daemon's clock forward
 * and run every timer that falls due, then reply with the status, so a
 * test sees exactly the runs it asked for.
 */
static char *method_advance_clock(Manager *m, json_object *params)
{
        json_object *usec;
        int64_t v;
        int r;

        if (!clock_is_manual())
                return control_reply_error_format(CONTROL_ERROR_INVALID_PARAMETER,
                                                  "the daemon runs on the real clock (start it with --manual-clock)");
        if (!json_object_object_get_ex(params, "usec", &usec) || !json_object_is_type(usec, json_type_int))
                return control_reply_error_format(CONTROL_ERROR_INVALID_PARAMETER,
                                                  "\"usec\" must be an integer");
        v = json_object_get_int64(usec);
        /* One day bounds a single step: plenty for any test, and no overflow. */
        if (v < 0 || v > 86400LL * 1000000LL)
                return control_reply_error_format(CONTROL_ERROR_INVALID_PARAMETER,
                                                  "\"usec\" must be between 0 and 86400000000");
        r = timer_advance((uint64_t) v);
        if (r < 0)
                return control_reply_error_format(CONTROL_ERROR_FAILED, strerror(-r));
        manager_notify_status(m);
        return method_status(m, NULL);
}

static const char *const set_target_params[] = { "size", NULL };
static const char *const advance_clock_params[] = { "usec", NULL };

static const Method methods[] = {
        { "status", false, NULL, method_status },
        { "reload", true, NULL, method_reload },
        { "set-target", true, set_target_params, method_set_target },
        { "reset-oom", true, NULL, method_reset_oom },
        { "ksm-unmerge", true, NULL, method_ksm_unmerge },
        { "ksm-resume", true, NULL, method_ksm_resume },
        { "advance-clock", true, advance_clock_params, method_advance_clock },
};

static bool param_allowed(const Method *method, const char *key)
{
        for (const char *const *p = method->params; p && *p; p++)
                if (strcmp(*p, key) == 0)
                        return true;
        return false;
}

char *manager_dispatch(const ControlRequest *req, const struct ucred *peer, void *userdata)
{
        Manager *m = userdata;
        const Method *method = NULL;

        for (size_t i = 0; i < ELEMENTSOF(methods); i++)
                if (strcmp(methods[i].name, req->method) == 0)
                        method = &methods[i];
        if (!method)
                return control_reply_error_format(CONTROL_ERROR_METHOD_NOT_FOUND, "unknown method");

        if (method->privileged && peer->uid != 0 && peer->uid != geteuid()) {
                char u[32], p[32], me[80];

                snprintf(u, sizeof(u), "MEMBALLOON_PEER_UID=%u", (unsigned) peer->uid);
                snprintf(p, sizeof(p), "MEMBALLOON_PEER_PID=%d", (int) peer->pid);
                snprintf(me, sizeof(me), "MEMBALLOON_METHOD=%s", method->name);
                log_struct(LOG_NOTICE, MSGID_REQUEST_REFUSED, FIELDS(u, p, me),
                           "Refused \"%s\" from uid %u (pid %d): only root may change the daemon",
                           method->name, (unsigned) peer->uid, (int) peer->pid);
                return control_reply_error_format(CONTROL_ERROR_PERMISSION_DENIED,
                                                  "only root may do this");
        }
        /* Refuse unknown parameters rather than silently ignoring a typo. */
        json_object_object_foreach(req->parameters, key, val) {
                (void) val;
                if (!param_allowed(method, key)) {
                        _cleanup_free_ char *msg = NULL;

                        if (asprintf(&msg, "unknown parameter \"%.64s\" for %s", key, method->name) < 0)
                                return NULL;
                        return control_reply_error_format(CONTROL_ERROR_INVALID_PARAMETER, msg);
                }
        }

        return method->handler(m, req->parameters);
}
