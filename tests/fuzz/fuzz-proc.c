/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Fuzz the /proc/meminfo, /proc/vmstat, size and KSM input parsers. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ksm-parse.h"
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
        /* The KSM parsers take a length: give them the raw bytes, NULs
         * and all, not the terminated copy. */
        {
                const char *raw = (const char *) data;
                KsmAdvisorMode mode;
                PsiMemory psi;
                ProcStat st;
                int64_t i;

                (void) ksm_parse_uint(raw, size, &v);
                (void) ksm_parse_int(raw, size, &i);
                (void) ksm_parse_advisor_mode(raw, size, &mode);
                (void) proc_stat_parse(raw, size, &st);
                (void) proc_statm_parse_rss(raw, size, &v);
                (void) proc_cmdline_is_ksmtuned_qemu(raw, size);
                (void) psi_parse(raw, size, &psi);
        }
        free(s);
        return 0;
}
