/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <string.h>

#include "ksm-parse.h"
#include "macro.h"

static bool is_space(char c)
{
        return c == ' ' || c == '\t' || c == '\n';
}

/* Decimal digits in [*p, end); advances *p.  -EINVAL without a digit,
 * -ERANGE on overflow. */
static int scan_u64(const char **p, const char *end, uint64_t *ret)
{
        uint64_t v = 0;
        const char *s = *p;

        while (s < end && *s >= '0' && *s <= '9') {
                unsigned d = (unsigned) (*s - '0');

                if (v > (UINT64_MAX - d) / 10)
                        return -ERANGE;
                v = v * 10 + d;
                s++;
        }
        if (s == *p)
                return -EINVAL;
        *p = s;
        *ret = v;
        return 0;
}

static int scan_i64(const char **p, const char *end, int64_t *ret)
{
        const char *s = *p;
        bool neg = false;
        uint64_t v;
        int r;

        if (s < end && *s == '-') {
                neg = true;
                s++;
        }
        r = scan_u64(&s, end, &v);
        if (r < 0)
                return r;
        if (neg ? v > (uint64_t) INT64_MAX + 1 : v > (uint64_t) INT64_MAX)
                return -ERANGE;
        *ret = neg ? (v == (uint64_t) INT64_MAX + 1 ? INT64_MIN : -(int64_t) v) : (int64_t) v;
        *p = s;
        return 0;
}

static bool only_space(const char *p, const char *end)
{
        for (; p < end; p++)
                if (!is_space(*p))
                        return false;
        return true;
}

int ksm_parse_uint(const char *buf, size_t len, uint64_t *ret)
{
        const char *p = buf, *end = buf + len;
        uint64_t v;
        int r;

        r = scan_u64(&p, end, &v);
        if (r < 0)
                return r;
        if (!only_space(p, end))
                return -EINVAL;
        *ret = v;
        return 0;
}

int ksm_parse_int(const char *buf, size_t len, int64_t *ret)
{
        const char *p = buf, *end = buf + len;
        int64_t v;
        int r;

        r = scan_i64(&p, end, &v);
        if (r < 0)
                return r;
        if (!only_space(p, end))
                return -EINVAL;
        *ret = v;
        return 0;
}

int ksm_parse_advisor_mode(const char *buf, size_t len, KsmAdvisorMode *ret)
{
        const char *end = buf + len, *open = NULL, *close = NULL, *name, *name_end;

        for (const char *p = buf; p < end; p++) {
                if (*p == '[') {
                        if (open)
                                return -EINVAL;         /* two selections */
                        open = p;
                } else if (*p == ']') {
                        if (!open || close)
                                return -EINVAL;
                        close = p;
                } else if (*p == '\0')
                        return -EINVAL;
        }
        if (open && close) {
                name = open + 1;
                name_end = close;
        } else if (!open) {
                /* One bare word: a test tree's file after memballoond
                 * wrote the mode into it (the kernel always brackets). */
                name = buf;
                name_end = end;
                while (name_end > name && is_space(name_end[-1]))
                        name_end--;
        } else
                return -EINVAL;
        if (name_end == name)
                return -EINVAL;
        for (const char *p = name; p < name_end; p++)
                if (is_space(*p))
                        return -EINVAL;
        if ((size_t) (name_end - name) == strlen("none") && memcmp(name, "none", 4) == 0)
                *ret = KSM_ADVISOR_NONE;
        else if ((size_t) (name_end - name) == strlen("scan-time") && memcmp(name, "scan-time", 9) == 0)
                *ret = KSM_ADVISOR_SCAN_TIME;
        else
                *ret = KSM_ADVISOR_OTHER;
        return 0;
}

/* Skip one or more spaces; -EINVAL if there is none. */
static int skip_sep(const char **p, const char *end)
{
        if (*p >= end || **p != ' ')
                return -EINVAL;
        while (*p < end && **p == ' ')
                (*p)++;
        return 0;
}

int proc_stat_parse(const char *buf, size_t len, ProcStat *ret)
{
        const char *end = buf + len, *p = buf, *open, *close = NULL;
        ProcStat s = {};
        uint64_t v;
        int r;

        /* pid */
        r = scan_u64(&p, end, &v);
        if (r < 0)
                return r;
        if (v == 0 || v > INT32_MAX)
                return -EINVAL;
        s.pid = (int) v;
        if (p >= end || *p != ' ' || p + 1 >= end || p[1] != '(')
                return -EINVAL;
        open = p + 1;
        for (const char *q = open + 1; q < end; q++)
                if (*q == ')')
                        close = q;
        if (!close)
                return -EINVAL;
        /* The kernel's comm is at most TASK_COMM_LEN - 1 = 15 bytes; accept
         * up to our buffer, refuse more rather than truncate silently. */
        if ((size_t) (close - open - 1) >= sizeof(s.comm))
                return -EINVAL;
        memcpy(s.comm, open + 1, (size_t) (close - open - 1));
        if (memchr(s.comm, '\0', (size_t) (close - open - 1)))
                return -EINVAL;

        p = close + 1;
        /* 3 state */
        if (skip_sep(&p, end) < 0 || p >= end || is_space(*p))
                return -EINVAL;
        s.state = *p++;
        /* 4 ppid; signed in principle, 0 for kthreadd's parent */
        {
                int64_t ppid;

                if (skip_sep(&p, end) < 0)
                        return -EINVAL;
                r = scan_i64(&p, end, &ppid);
                if (r < 0)
                        return r;
                if (ppid < 0 || ppid > INT32_MAX)
                        return -EINVAL;
                s.ppid = (int) ppid;
        }
        /* 5 pgrp .. 15 stime: we keep 9 flags, 14 utime, 15 stime. */
        for (int field = 5; field <= 15; field++) {
                int64_t x;

                if (skip_sep(&p, end) < 0)
                        return -EINVAL;
                /* tty_nr (7) and tpgid (8) may be negative. */
                r = scan_i64(&p, end, &x);
                if (r < 0)
                        return r;
                if (field == 9 || field == 14 || field == 15) {
                        if (x < 0)
                                return -EINVAL;
                        if (field == 9)
                                s.flags = (uint64_t) x;
                        else if (field == 14)
                                s.utime_ticks = (uint64_t) x;
                        else
                                s.stime_ticks = (uint64_t) x;
                }
        }
        if (p < end && !is_space(*p))
                return -EINVAL;
        *ret = s;
        return 0;
}

int proc_statm_parse_rss(const char *buf, size_t len, uint64_t *ret_pages)
{
        const char *p = buf, *end = buf + len;
        uint64_t size, rss;
        int r;

        r = scan_u64(&p, end, &size);
        if (r < 0)
                return r;
        if (skip_sep(&p, end) < 0)
                return -EINVAL;
        r = scan_u64(&p, end, &rss);
        if (r < 0)
                return r;
        if (p < end && !is_space(*p))
                return -EINVAL;
        *ret_pages = rss;
        return 0;
}

bool proc_cmdline_is_ksmtuned_qemu(const char *buf, size_t len)
{
        static const char prefix[] = "qemu-system", needle[] = "-enable-kvm";
        const size_t plen = sizeof(prefix) - 1, nlen = sizeof(needle) - 1;

        /* pgrep joins the NUL-separated arguments with spaces; neither the
         * prefix nor the needle contains a space, so a NUL and a space are
         * the same to us: compare with NULs read as spaces. */
        if (len < plen + nlen || memcmp(buf, prefix, plen) != 0)
                return false;
        for (size_t i = plen; i + nlen <= len; i++) {
                size_t k = 0;

                while (k < nlen && buf[i + k] == needle[k])
                        k++;
                if (k == nlen)
                        return true;
        }
        return false;
}

/* Parse "avg10=X avg60=Y avg300=Z total=T" after "some"/"full". */
static int psi_parse_line(const char *p, const char *end, double avg[3], uint64_t *total)
{
        static const char *const keys[] = { "avg10=", "avg60=", "avg300=", "total=" };

        for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
                size_t klen = strlen(keys[i]);
                uint64_t whole, frac = 0;
                unsigned frac_digits = 0;
                int r;

                if (skip_sep(&p, end) < 0)
                        return -EINVAL;
                if ((size_t) (end - p) < klen || memcmp(p, keys[i], klen) != 0)
                        return -EINVAL;
                p += klen;
                r = scan_u64(&p, end, &whole);
                if (r < 0)
                        return r;
                if (i == 3) {
                        *total = whole;
                        break;
                }
                /* The kernel prints "%lu.%02lu"; accept up to 6 digits. */
                if (p < end && *p == '.') {
                        p++;
                        while (p < end && *p >= '0' && *p <= '9') {
                                if (++frac_digits > 6)
                                        return -EINVAL;
                                frac = frac * 10 + (uint64_t) (*p - '0');
                                p++;
                        }
                        if (frac_digits == 0)
                                return -EINVAL;
                }
                if (whole > 100)
                        return -ERANGE;
                avg[i] = (double) whole;
                if (frac_digits) {
                        double div = 1;

                        for (unsigned k = 0; k < frac_digits; k++)
                                div *= 10;
                        avg[i] += (double) frac / div;
                }
                if (avg[i] > 100.0)
                        return -ERANGE;
        }
        return only_space(p, end) ? 0 : -EINVAL;
}

/* "some ..." or "full ...": the word, then a space. */
static bool psi_line_is(const char *line, const char *le, const char *word)
{
        size_t n = strlen(word);

        return (size_t) (le - line) > n && memcmp(line, word, n) == 0 && line[n] == ' ';
}

int psi_parse(const char *buf, size_t len, PsiMemory *ret)
{
        const char *end = buf + len, *line = buf;
        PsiMemory psi = {};
        bool has_some = false;

        while (line < end) {
                const char *nl = memchr(line, '\n', (size_t) (end - line));
                const char *le = nl ? nl : end;
                double avg[3] = {};
                uint64_t total = 0;
                int r;

                if (memchr(line, '\0', (size_t) (le - line)))
                        return -EINVAL;
                if (psi_line_is(line, le, "some")) {
                        if (has_some)
                                return -EINVAL;
                        r = psi_parse_line(line + 4, le, avg, &total);
                        if (r < 0)
                                return r;
                        psi.some_avg10 = avg[0];
                        psi.some_avg60 = avg[1];
                        psi.some_avg300 = avg[2];
                        psi.some_total_usec = total;
                        has_some = true;
                } else if (psi_line_is(line, le, "full")) {
                        if (psi.has_full)
                                return -EINVAL;
                        r = psi_parse_line(line + 4, le, avg, &total);
                        if (r < 0)
                                return r;
                        psi.full_avg10 = avg[0];
                        psi.full_avg60 = avg[1];
                        psi.full_avg300 = avg[2];
                        psi.full_total_usec = total;
                        psi.has_full = true;
                }
                line = le + 1;
        }
        if (!has_some)
                return -EINVAL;
        *ret = psi;
        return 0;
}
