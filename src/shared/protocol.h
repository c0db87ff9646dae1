/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The control protocol between memballoonctl and memballoond.
 *
 * A Unix stream socket carries one JSON object per message, each ended by
 * a newline ('\n'); JSON text never contains a raw newline once serialised
 * by json-c, so the framing is unambiguous.
 *
 *   request:  {"method":"status","parameters":{}}
 *   success:  {"parameters":{...}}
 *   failure:  {"error":"memballoon.PermissionDenied","parameters":{"message":"..."}}
 *
 * The request parser is pure (buffer in, struct out) so it can be unit
 * tested and fuzzed.
 */
#pragma once

#include <stddef.h>

#include <json-c/json.h>

/* Requests above this size are refused and the connection is closed. */
#define CONTROL_REQUEST_MAX     (64 * 1024)
/* Nesting depth json-c may parse; deeper requests are invalid. */
#define CONTROL_JSON_DEPTH      16

#define CONTROL_ERROR_INVALID_REQUEST   "memballoon.InvalidRequest"
#define CONTROL_ERROR_METHOD_NOT_FOUND  "memballoon.MethodNotFound"
#define CONTROL_ERROR_INVALID_PARAMETER "memballoon.InvalidParameter"
#define CONTROL_ERROR_PERMISSION_DENIED "memballoon.PermissionDenied"
#define CONTROL_ERROR_TOO_LARGE         "memballoon.RequestTooLarge"
#define CONTROL_ERROR_TOO_MANY_CLIENTS  "memballoon.TooManyClients"
#define CONTROL_ERROR_FAILED            "memballoon.Failed"

typedef struct ControlRequest {
        char *method;                   /* owned */
        json_object *parameters;        /* owned reference; an object, never NULL */
} ControlRequest;

/*
 * Parse one request (without its newline).  Returns 0 and fills *ret, or
 * -EINVAL (-E2BIG when len > CONTROL_REQUEST_MAX) and stores a static
 * error message in *ret_message.  Rules: valid UTF-8 JSON, one object, no
 * trailing data, "method" a non-empty string of [A-Za-z0-9.-] at most 64
 * chars, optional "parameters" object, no other members.
 */
int control_request_parse(const char *buf, size_t len, ControlRequest *ret,
                          const char **ret_message);

void control_request_done(ControlRequest *r);

/* Build a request or reply line ("...\n", malloc'ed).  @parameters may be
 * NULL (empty object); the reference is consumed.  NULL on OOM. */
char *control_request_format(const char *method, json_object *parameters);
char *control_reply_format(json_object *parameters);
char *control_reply_error_format(const char *error, const char *message);
