/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Fuzz the control-request parser, and the formatter on what it accepts. */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "protocol.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        ControlRequest req = {};
        const char *msg = NULL;
        char *line;

        if (control_request_parse((const char *) data, size, &req, &msg) < 0) {
                assert(msg);
                return 0;
        }
        /* What was accepted formats to a line that parses to the same. */
        line = control_request_format(req.method, json_object_get(req.parameters));
        if (line) {
                ControlRequest again = {};
                size_t len = strlen(line);

                assert(len > 0 && line[len - 1] == '\n');
                assert(control_request_parse(line, len - 1, &again, &msg) == 0);
                assert(strcmp(again.method, req.method) == 0);
                control_request_done(&again);
                free(line);
        }
        control_request_done(&req);
        return 0;
}
