/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Control protocol: every way a request can be refused, and round trips. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "protocol.h"
#include "test.h"

static int parse(const char *s, ControlRequest *r, const char **msg)
{
        return control_request_parse(s, strlen(s), r, msg);
}

static void expect_reject(const char *s, const char *needle)
{
        ControlRequest r = {};
        const char *msg = NULL;

        CHECK_INTEQ(parse(s, &r, &msg), -EINVAL);
        CHECK(msg && strstr(msg, needle));
        if (!msg || !strstr(msg, needle))
                fprintf(stderr, "  input %s: message \"%s\", expected \"%s\"\n", s, msg ? msg : "(null)", needle);
        CHECK(r.method == NULL && r.parameters == NULL);
}

TEST(good_requests)
{
        ControlRequest r = {};
        const char *msg = NULL;

        CHECK_INTEQ(parse("{\"method\":\"status\",\"parameters\":{}}", &r, &msg), 0);
        CHECK_STREQ(r.method, "status");
        CHECK(json_object_is_type(r.parameters, json_type_object));
        control_request_done(&r);

        /* parameters is optional and becomes an empty object */
        CHECK_INTEQ(parse("  {\"method\":\"reload\"} \r\n", &r, &msg), 0);
        CHECK_STREQ(r.method, "reload");
        CHECK_INTEQ(json_object_object_length(r.parameters), 0);
        control_request_done(&r);

        CHECK_INTEQ(parse("{\"parameters\":{\"size\":\"512M\"},\"method\":\"set-target\"}", &r, &msg), 0);
        CHECK_STREQ(json_object_get_string(json_object_object_get(r.parameters, "size")), "512M");
        control_request_done(&r);
        control_request_done(&r);       /* idempotent */
}

TEST(rejections)
{
        expect_reject("", "empty");
        expect_reject("not json", "not valid JSON");
        expect_reject("{\"method\":\"status\"", "not complete");
        expect_reject("[\"status\"]", "not a JSON object");
        expect_reject("\"status\"", "not a JSON object");
        /* json-c's strict mode itself refuses trailing data */
        expect_reject("{\"method\":\"status\"} {}", "not valid JSON");
        expect_reject("{\"method\":\"status\"} x", "not valid JSON");
        expect_reject("{\"method\":\"status\",\"params\":{}}", "unknown member");
        expect_reject("{\"parameters\":{}}", "\"method\" missing");
        expect_reject("{\"method\":42}", "\"method\" missing or not a string");
        expect_reject("{\"method\":\"\"}", "not a valid method name");
        expect_reject("{\"method\":\"sta tus\"}", "not a valid method name");
        expect_reject("{\"method\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}",
                      "not a valid method name");
        expect_reject("{\"method\":\"status\",\"parameters\":[]}", "\"parameters\" is not an object");
        expect_reject("{\"method\":\"status\",\"parameters\":null}", "\"parameters\" is not an object");
        /* json-c strict mode: no single quotes, no comments, no trailing commas */
        expect_reject("{'method':'status'}", "not valid JSON");
        expect_reject("{\"method\":\"status\",}", "not valid JSON");
        /* invalid UTF-8 inside a string */
        expect_reject("{\"method\":\"status\",\"parameters\":{\"x\":\"\xff\"}}", "not valid JSON");
}

TEST(nul_and_depth_and_size)
{
        ControlRequest r = {};
        const char *msg = NULL;
        static const char with_nul[] = "{\"method\":\"status\"}\0x";
        char deep[200];
        char *big;

        CHECK_INTEQ(control_request_parse(with_nul, sizeof(with_nul) - 1, &r, &msg), -EINVAL);
        CHECK(msg && strstr(msg, "NUL"));

        /* Nesting deeper than CONTROL_JSON_DEPTH is refused, not recursed. */
        memset(deep, 0, sizeof(deep));
        strcpy(deep, "{\"method\":\"status\",\"parameters\":{\"a\":");
        for (int i = 0; i < 40; i++)
                strcat(deep, "[");
        for (int i = 0; i < 40; i++)
                strcat(deep, "]");
        strcat(deep, "}}");
        CHECK_INTEQ(parse(deep, &r, &msg), -EINVAL);

        big = malloc(CONTROL_REQUEST_MAX + 2);
        memset(big, ' ', CONTROL_REQUEST_MAX + 1);
        big[CONTROL_REQUEST_MAX + 1] = '\0';
        CHECK_INTEQ(control_request_parse(big, CONTROL_REQUEST_MAX + 1, &r, &msg), -E2BIG);
        CHECK(msg && strstr(msg, "too large"));
        free(big);
}

TEST(format_round_trip)
{
        ControlRequest r = {};
        const char *msg = NULL;
        json_object *p = json_object_new_object();
        char *line, *err;
        json_object *o, *v;

        json_object_object_add(p, "n", json_object_new_int(5));
        line = control_request_format("status", p);
        CHECK(line && line[strlen(line) - 1] == '\n');
        CHECK(strchr(line, '\n') == line + strlen(line) - 1);
        CHECK_INTEQ(control_request_parse(line, strlen(line) - 1, &r, &msg), 0);
        CHECK_STREQ(r.method, "status");
        CHECK_INTEQ(json_object_get_int(json_object_object_get(r.parameters, "n")), 5);
        control_request_done(&r);
        free(line);

        err = control_reply_error_format(CONTROL_ERROR_PERMISSION_DENIED, "line1\nline2");
        /* A newline inside a message is escaped: framing stays intact. */
        CHECK(strchr(err, '\n') == err + strlen(err) - 1);
        o = json_tokener_parse(err);
        CHECK(o != NULL);
        CHECK(json_object_object_get_ex(o, "error", &v));
        CHECK_STREQ(json_object_get_string(v), CONTROL_ERROR_PERMISSION_DENIED);
        json_object_put(o);
        free(err);

        line = control_reply_format(NULL);
        CHECK_STREQ(line, "{\"parameters\":{}}\n");
        free(line);
}

int main(void)
{
        RUN(good_requests);
        RUN(rejections);
        RUN(nul_and_depth_and_size);
        RUN(format_round_trip);
        return test_summary();
}
