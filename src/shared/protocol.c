/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "protocol.h"

#define METHOD_MAX 64

static bool method_name_valid(const char *m)
{
        size_t n = strlen(m);

        if (n == 0 || n > METHOD_MAX)
                return false;
        for (size_t i = 0; i < n; i++) {
                char c = m[i];

                if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                      (c >= '0' && c <= '9') || c == '.' || c == '-'))
                        return false;
        }
        return true;
}

int control_request_parse(const char *buf, size_t len, ControlRequest *ret,
                          const char **ret_message)
{
        json_tokener *tok;
        json_object *obj, *method = NULL, *params = NULL;
        bool have_params = false;
        const char *msg = NULL;
        int r = -EINVAL;

        if (len > CONTROL_REQUEST_MAX) {
                *ret_message = "request too large";
                return -E2BIG;
        }
        if (len == 0) {
                *ret_message = "empty request";
                return -EINVAL;
        }
        if (memchr(buf, '\0', len)) {
                *ret_message = "request contains a NUL byte";
                return -EINVAL;
        }

        tok = json_tokener_new_ex(CONTROL_JSON_DEPTH);
        if (!tok) {
                *ret_message = "out of memory";
                return -ENOMEM;
        }
        json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
        obj = json_tokener_parse_ex(tok, buf, (int) len);
        if (!obj || json_tokener_get_error(tok) != json_tokener_success) {
                msg = json_tokener_get_error(tok) == json_tokener_continue ?
                        "request is not complete JSON" : "request is not valid JSON";
                goto out;
        }
        /* Everything after the object must be whitespace. */
        for (size_t i = json_tokener_get_parse_end(tok); i < len; i++)
                if (!strchr(" \t\r\n", buf[i])) {
                        msg = "trailing data after the JSON object";
                        goto out;
                }
        if (!json_object_is_type(obj, json_type_object)) {
                msg = "request is not a JSON object";
                goto out;
        }
        json_object_object_foreach(obj, key, val) {
                if (strcmp(key, "method") == 0)
                        method = val;
                else if (strcmp(key, "parameters") == 0) {
                        params = val;   /* NULL for a JSON null */
                        have_params = true;
                }
                else {
                        msg = "unknown member in request (allowed: method, parameters)";
                        goto out;
                }
        }
        if (!method || !json_object_is_type(method, json_type_string)) {
                msg = "\"method\" missing or not a string";
                goto out;
        }
        if (!method_name_valid(json_object_get_string(method))) {
                msg = "\"method\" is not a valid method name";
                goto out;
        }
        if (have_params && !json_object_is_type(params, json_type_object)) {
                msg = "\"parameters\" is not an object";
                goto out;
        }

        ret->method = strdup(json_object_get_string(method));
        ret->parameters = params ? json_object_get(params) : json_object_new_object();
        if (!ret->method || !ret->parameters) {
                control_request_done(ret);
                msg = "out of memory";
                r = -ENOMEM;
                goto out;
        }
        r = 0;
out:
        json_object_put(obj);
        json_tokener_free(tok);
        if (r < 0)
                *ret_message = msg;
        return r;
}

void control_request_done(ControlRequest *r)
{
        if (!r)
                return;
        free(r->method);
        json_object_put(r->parameters);
        r->method = NULL;
        r->parameters = NULL;
}

static char *format_line(json_object *o)
{
        const char *s;
        char *line = NULL;

        if (!o)
                return NULL;
        s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
        if (s && asprintf(&line, "%s\n", s) < 0)
                line = NULL;
        json_object_put(o);
        return line;
}

char *control_request_format(const char *method, json_object *parameters)
{
        json_object *o = json_object_new_object();

        if (!o) {
                json_object_put(parameters);
                return NULL;
        }
        json_object_object_add(o, "method", json_object_new_string(method));
        json_object_object_add(o, "parameters", parameters ? parameters : json_object_new_object());
        return format_line(o);
}

char *control_reply_format(json_object *parameters)
{
        json_object *o = json_object_new_object();

        if (!o) {
                json_object_put(parameters);
                return NULL;
        }
        json_object_object_add(o, "parameters", parameters ? parameters : json_object_new_object());
        return format_line(o);
}

char *control_reply_error_format(const char *error, const char *message)
{
        json_object *o = json_object_new_object(), *p = json_object_new_object();

        if (!o || !p) {
                json_object_put(o);
                json_object_put(p);
                return NULL;
        }
        json_object_object_add(p, "message", json_object_new_string(message ? message : ""));
        json_object_object_add(o, "error", json_object_new_string(error));
        json_object_object_add(o, "parameters", p);
        return format_line(o);
}
