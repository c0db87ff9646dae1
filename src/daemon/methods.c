/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Control methods.  Each entry says whether it changes anything; those are
 * for root only (SO_PEERCRED uid 0), everything else is open to whoever the
 * socket's mode and group let in.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "macro.h"
#include "manager.h"

typedef struct Method {
        const char *name;
        bool privileged;
        char *(*handler)(Manager *m, json_object *params);
} Method;

static char *method_status(Manager *m, json_object *params)
{
        StatusInfo s;

        manager_status(m, &s);
        return control_reply_format(status_to_json(&s));
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

static const Method methods[] = {
        { "status", false, method_status },
        { "reload", true, method_reload },
};

char *manager_dispatch(const ControlRequest *req, const struct ucred *peer, void *userdata)
{
        Manager *m = userdata;
        const Method *method = NULL;

        for (size_t i = 0; i < ELEMENTSOF(methods); i++)
                if (strcmp(methods[i].name, req->method) == 0)
                        method = &methods[i];
        if (!method)
                return control_reply_error_format(CONTROL_ERROR_METHOD_NOT_FOUND, "unknown method");

        /* None of today's methods take parameters; refuse any, rather than
         * silently ignoring a typo. */
        if (json_object_object_length(req->parameters) > 0)
                return control_reply_error_format(CONTROL_ERROR_INVALID_PARAMETER,
                                                  "this method takes no parameters");

        if (method->privileged && peer->uid != 0) {
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
        return method->handler(m, req->parameters);
}
