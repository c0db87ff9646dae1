/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Fuzz the /proc/meminfo, /proc/vmstat and size parsers. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        char *s = malloc(size + 1);
        const char *msg;
        MemInfo mi;
        VmStat vs;
        uint64_t v;

        if (!s)
                return 0;
        memcpy(s, data, size);
        s[size] = '\0';
        (void) meminfo_parse(s, size, &mi);
        (void) vmstat_parse(s, size, &vs);
        (void) parse_size(s, &v, &msg);
        free(s);
        return 0;
}
