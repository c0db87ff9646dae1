/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <ctype.h>
#include <errno.h>
#include <string.h>
#include <strings.h>

#include "macro.h"
#include "parse.h"

/* Parse decimal digits at *p; advances *p.  -ERANGE on overflow. */
static int parse_u64(const char **p, uint64_t *ret, unsigned *ret_digits)
{
        uint64_t v = 0;
        unsigned n = 0;

        while (**p >= '0' && **p <= '9') {
                unsigned d = (unsigned) (**p - '0');

                if (v > (UINT64_MAX - d) / 10)
                        return -ERANGE;
                v = v * 10 + d;
                (*p)++;
                n++;
        }
        *ret = v;
        *ret_digits = n;
        return 0;
}

int parse_size(const char *s, uint64_t *ret_bytes, const char **ret_msg)
{
        static const struct {
                char c;
                unsigned shift;
        } units[] = { { 'k', 10 }, { 'm', 20 }, { 'g', 30 }, { 't', 40 } };
        uint64_t whole, frac = 0, frac_div = 1, bytes;
        unsigned digits, shift = 0;
        const char *p = s;
        bool unit = false;
        int r;

        if (!s) {
                *ret_msg = "no size given";
                return -EINVAL;
        }
        while (isspace((unsigned char) *p))
                p++;
        if (*p == '-') {
                *ret_msg = "size must not be negative";
                return -EINVAL;
        }
        r = parse_u64(&p, &whole, &digits);
        if (r < 0) {
                *ret_msg = "size too large";
                return r;
        }
        if (digits == 0) {
                *ret_msg = "size must start with a number, as in 512M or 2G";
                return -EINVAL;
        }
        if (*p == '.') {
                p++;
                /* At most 6 fractional digits: "1.5G" is useful, more is noise. */
                while (*p >= '0' && *p <= '9') {
                        if (frac_div >= 1000000) {
                                *ret_msg = "too many digits after the decimal point";
                                return -EINVAL;
                        }
                        frac = frac * 10 + (uint64_t) (*p - '0');
                        frac_div *= 10;
                        p++;
                }
                if (frac_div == 1) {
                        *ret_msg = "a digit must follow the decimal point";
                        return -EINVAL;
                }
        }
        while (*p == ' ')
                p++;
        for (size_t i = 0; i < ELEMENTSOF(units); i++)
                if (tolower((unsigned char) *p) == units[i].c) {
                        shift = units[i].shift;
                        unit = true;
                        p++;
                        if (strncasecmp(p, "ib", 2) == 0)
                                p += 2;
                        else if (tolower((unsigned char) *p) == 'b')
                                p++;
                        break;
                }
        while (isspace((unsigned char) *p))
                p++;
        if (*p != '\0') {
                *ret_msg = "unknown unit (use K, M, G or T, as in 512M)";
                return -EINVAL;
        }
        if (!unit && (whole != 0 || frac != 0)) {
                *ret_msg = "size needs a unit (K, M, G or T, as in 512M)";
                return -EINVAL;
        }
        if (shift && whole > (UINT64_MAX >> shift)) {
                *ret_msg = "size too large";
                return -ERANGE;
        }
        bytes = whole << shift;
        if (frac) {
                uint64_t add = (frac << shift) / frac_div;

                if (bytes > UINT64_MAX - add) {
                        *ret_msg = "size too large";
                        return -ERANGE;
                }
                bytes += add;
        }
        *ret_bytes = bytes;
        return 0;
}

/* Split buf into lines; call fn(key, value-text) for "key<sep>value". */
typedef int (*line_fn)(const char *key, size_t keylen, const char *val, void *userdata);

static int for_each_line(const char *buf, size_t len, char sep, line_fn fn, void *userdata)
{
        const char *end = buf + len, *line = buf;

        while (line < end) {
                const char *nl = memchr(line, '\n', (size_t) (end - line));
                const char *le = nl ? nl : end;
                const char *s = memchr(line, sep, (size_t) (le - line));
                char val[64];
                size_t vlen;
                int r;

                if (s && s > line) {
                        const char *v = s + 1;

                        while (v < le && *v == ' ')
                                v++;
                        vlen = (size_t) (le - v);
                        if (vlen >= sizeof(val))
                                vlen = sizeof(val) - 1;
                        memcpy(val, v, vlen);
                        val[vlen] = '\0';
                        r = fn(line, (size_t) (s - line), val, userdata);
                        if (r < 0)
                                return r;
                }
                line = le + 1;
        }
        return 0;
}

static bool key_is(const char *key, size_t keylen, const char *name)
{
        return strlen(name) == keylen && memcmp(key, name, keylen) == 0;
}

/* A number, then optionally " kB", then nothing. */
static int value_parse(const char *val, bool kb, uint64_t *ret)
{
        const char *p = val;
        unsigned digits;
        int r;

        r = parse_u64(&p, ret, &digits);
        if (r < 0 || digits == 0)
                return -EINVAL;
        if (kb && strcmp(p, " kB") == 0)
                return 0;
        return *p == '\0' ? 0 : -EINVAL;
}

static int meminfo_line(const char *key, size_t keylen, const char *val, void *userdata)
{
        static const struct {
                const char *name;
                size_t off;
                size_t has;
        } keys[] = {
#define K(n, f) { n, offsetof(MemInfo, f), 0 }
#define KH(n, f, h) { n, offsetof(MemInfo, f), offsetof(MemInfo, h) }
                KH("MemTotal", total_kib, has_total),
                KH("MemFree", free_kib, has_free),
                KH("MemAvailable", available_kib, has_available),
                K("Buffers", buffers_kib),
                K("Cached", cached_kib),
                K("SwapCached", swap_cached_kib),
                K("HugePages_Total", hugepages_total),
                K("Hugepagesize", hugepage_size_kib),
#undef K
#undef KH
        };
        MemInfo *mi = userdata;

        for (size_t i = 0; i < ELEMENTSOF(keys); i++)
                if (key_is(key, keylen, keys[i].name)) {
                        if (value_parse(val, true, (uint64_t *) ((char *) mi + keys[i].off)) < 0)
                                return -EINVAL;
                        if (keys[i].has)
                                *(bool *) ((char *) mi + keys[i].has) = true;
                }
        return 0;
}

int meminfo_parse(const char *buf, size_t len, MemInfo *ret)
{
        MemInfo mi = {};
        int r;

        r = for_each_line(buf, len, ':', meminfo_line, &mi);
        if (r < 0)
                return r;
        if (!mi.has_total || !mi.has_free)
                return -ENODATA;
        *ret = mi;
        return 0;
}

static int vmstat_line(const char *key, size_t keylen, const char *val, void *userdata)
{
        static const struct {
                const char *name;
                size_t off;
        } keys[] = {
                { "pswpin", offsetof(VmStat, pswpin) },
                { "pswpout", offsetof(VmStat, pswpout) },
                { "pgmajfault", offsetof(VmStat, pgmajfault) },
                { "pgfault", offsetof(VmStat, pgfault) },
                { "htlb_buddy_alloc_success", offsetof(VmStat, htlb_buddy_alloc_success) },
                { "htlb_buddy_alloc_fail", offsetof(VmStat, htlb_buddy_alloc_fail) },
                { "oom_kill", offsetof(VmStat, oom_kill) },
                { "pgscan_kswapd", offsetof(VmStat, pgscan_kswapd) },
                { "pgscan_direct", offsetof(VmStat, pgscan_direct) },
                { "pgsteal_kswapd", offsetof(VmStat, pgsteal_kswapd) },
                { "pgsteal_direct", offsetof(VmStat, pgsteal_direct) },
        };
        VmStat *vs = userdata;

        for (size_t i = 0; i < ELEMENTSOF(keys); i++)
                if (key_is(key, keylen, keys[i].name))
                        return value_parse(val, false, (uint64_t *) ((char *) userdata + keys[i].off));
        /* allocstall_dma, allocstall_dma32, allocstall_normal, allocstall_movable, ... */
        if (keylen > strlen("allocstall_") && !strncmp(key, "allocstall_", strlen("allocstall_"))) {
                uint64_t v;
                int r = value_parse(val, false, &v);

                if (r < 0)
                        return r;
                if (v > UINT64_MAX - vs->allocstall)
                        return -ERANGE;
                vs->allocstall += v;
        }
        return 0;
}

int vmstat_parse(const char *buf, size_t len, VmStat *ret)
{
        VmStat vs = {};
        int r;

        r = for_each_line(buf, len, ' ', vmstat_line, &vs);
        if (r < 0)
                return r;
        *ret = vs;
        return 0;
}
