/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The KSM policy's parsers on good and hostile input: sysfs values,
 * advisor_mode, /proc/<pid>/stat, statm, cmdline and PSI. */
#include <errno.h>
#include <string.h>

#include "ksm-parse.h"
#include "macro.h"
#include "test.h"

#define S(x) (x), (sizeof(x) - 1)

TEST(uint_values)
{
        uint64_t v = 7;

        CHECK_INTEQ(ksm_parse_uint(S("0\n"), &v), 0);
        CHECK_INTEQ(v, 0);
        CHECK_INTEQ(ksm_parse_uint(S("1250\n"), &v), 0);
        CHECK_INTEQ(v, 1250);
        CHECK_INTEQ(ksm_parse_uint(S("18446744073709551615"), &v), 0);
        CHECK(v == UINT64_MAX);
        v = 7;
        CHECK_INTEQ(ksm_parse_uint(S("18446744073709551616\n"), &v), -ERANGE);
        CHECK_INTEQ(ksm_parse_uint(S("99999999999999999999999999\n"), &v), -ERANGE);
        CHECK_INTEQ(ksm_parse_uint(S(""), &v), -EINVAL);
        CHECK_INTEQ(ksm_parse_uint(S("\n"), &v), -EINVAL);
        CHECK_INTEQ(ksm_parse_uint(S("-1\n"), &v), -EINVAL);
        CHECK_INTEQ(ksm_parse_uint(S("+1\n"), &v), -EINVAL);
        CHECK_INTEQ(ksm_parse_uint(S(" 1\n"), &v), -EINVAL);
        CHECK_INTEQ(ksm_parse_uint(S("12abc\n"), &v), -EINVAL);
        CHECK_INTEQ(ksm_parse_uint(S("1 2\n"), &v), -EINVAL);
        CHECK_INTEQ(ksm_parse_uint(S("0x10\n"), &v), -EINVAL);
        CHECK_INTEQ(ksm_parse_uint("12\0" "34", 5, &v), -EINVAL);
        CHECK_INTEQ(v, 7);      /* untouched on failure */
        /* not NUL-terminated: only len bytes count */
        CHECK_INTEQ(ksm_parse_uint("123456", 3, &v), 0);
        CHECK_INTEQ(v, 123);
}

TEST(int_values)
{
        int64_t v = 7;

        CHECK_INTEQ(ksm_parse_int(S("282270848\n"), &v), 0);
        CHECK_INTEQ(v, 282270848);
        CHECK_INTEQ(ksm_parse_int(S("-4096\n"), &v), 0);
        CHECK_INTEQ(v, -4096);
        CHECK_INTEQ(ksm_parse_int(S("-9223372036854775808\n"), &v), 0);
        CHECK(v == INT64_MIN);
        CHECK_INTEQ(ksm_parse_int(S("9223372036854775807\n"), &v), 0);
        CHECK(v == INT64_MAX);
        v = 7;
        CHECK_INTEQ(ksm_parse_int(S("9223372036854775808\n"), &v), -ERANGE);
        CHECK_INTEQ(ksm_parse_int(S("-9223372036854775809\n"), &v), -ERANGE);
        CHECK_INTEQ(ksm_parse_int(S("-\n"), &v), -EINVAL);
        CHECK_INTEQ(ksm_parse_int(S("--1\n"), &v), -EINVAL);
        CHECK_INTEQ(v, 7);
}

TEST(advisor_mode)
{
        KsmAdvisorMode m = KSM_ADVISOR_OTHER;

        CHECK_INTEQ(ksm_parse_advisor_mode(S("[none] scan-time\n"), &m), 0);
        CHECK_INTEQ(m, KSM_ADVISOR_NONE);
        CHECK_INTEQ(ksm_parse_advisor_mode(S("none [scan-time]\n"), &m), 0);
        CHECK_INTEQ(m, KSM_ADVISOR_SCAN_TIME);
        CHECK_INTEQ(ksm_parse_advisor_mode(S("none scan-time [future]\n"), &m), 0);
        CHECK_INTEQ(m, KSM_ADVISOR_OTHER);
        /* a bare word: what a test tree holds after memballoond wrote it */
        CHECK_INTEQ(ksm_parse_advisor_mode(S("scan-time\n"), &m), 0);
        CHECK_INTEQ(m, KSM_ADVISOR_SCAN_TIME);
        m = KSM_ADVISOR_NONE;
        CHECK_INTEQ(ksm_parse_advisor_mode(S("none scan-time\n"), &m), -EINVAL);
        CHECK_INTEQ(ksm_parse_advisor_mode(S(" \n"), &m), -EINVAL);
        CHECK_INTEQ(ksm_parse_advisor_mode(S("[none] [scan-time]\n"), &m), -EINVAL);
        CHECK_INTEQ(ksm_parse_advisor_mode(S("[] none\n"), &m), -EINVAL);
        CHECK_INTEQ(ksm_parse_advisor_mode(S("[none scan-time\n"), &m), -EINVAL);
        CHECK_INTEQ(ksm_parse_advisor_mode(S("none] scan-time\n"), &m), -EINVAL);
        CHECK_INTEQ(ksm_parse_advisor_mode(S("][none\n"), &m), -EINVAL);
        CHECK_INTEQ(ksm_parse_advisor_mode(S("[no ne]\n"), &m), -EINVAL);
        CHECK_INTEQ(ksm_parse_advisor_mode("[no\0ne]", 7, &m), -EINVAL);
        CHECK_INTEQ(ksm_parse_advisor_mode(S(""), &m), -EINVAL);
        CHECK_INTEQ(m, KSM_ADVISOR_NONE);
        /* a prefix is not the mode */
        CHECK_INTEQ(ksm_parse_advisor_mode(S("[nonesuch]\n"), &m), 0);
        CHECK_INTEQ(m, KSM_ADVISOR_OTHER);
}

/* A real line from this machine's ksmd (Linux 6.18). */
static const char ksmd_stat[] =
        "37 (ksmd) S 2 0 0 0 -1 2097216 0 0 0 0 1234 5678 0 0 25 5 1 0 25 0 0 "
        "18446744073709551615 0 0 0 0 0 0 0 2147483647 0 1 0 0 17 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n";

TEST(pid_stat)
{
        ProcStat st = {};

        CHECK_INTEQ(proc_stat_parse(S(ksmd_stat), &st), 0);
        CHECK_INTEQ(st.pid, 37);
        CHECK_STREQ(st.comm, "ksmd");
        CHECK_INTEQ(st.state, 'S');
        CHECK_INTEQ(st.ppid, 2);
        CHECK_INTEQ(st.flags, 2097216);
        CHECK(st.flags & PROC_PF_KTHREAD);
        CHECK_INTEQ(st.utime_ticks, 1234);
        CHECK_INTEQ(st.stime_ticks, 5678);

        /* comm with spaces, parentheses and a newline: the last ')' wins */
        CHECK_INTEQ(proc_stat_parse(S("4242 (a) b) (c\nd) R 1 2 3 4 5 6 7 8 9 10 11 12 13\n"), &st), 0);
        CHECK_STREQ(st.comm, "a) b) (c\nd");
        CHECK_INTEQ(st.state, 'R');
        CHECK_INTEQ(st.ppid, 1);
        CHECK_INTEQ(st.flags, 6);
        CHECK_INTEQ(st.utime_ticks, 11);
        CHECK_INTEQ(st.stime_ticks, 12);
        /* a user process calling itself "ksmd) S 2" cannot fake the fields */
        CHECK_INTEQ(proc_stat_parse(S("999 (ksmd) S 2 0) S 1 0 0 0 -1 4194560 0 0 0 0 1 1 0\n"), &st), 0);
        CHECK_STREQ(st.comm, "ksmd) S 2 0");
        CHECK(!(st.flags & PROC_PF_KTHREAD));
        /* empty comm is legal */
        CHECK_INTEQ(proc_stat_parse(S("5 () S 1 0 0 0 -1 0 0 0 0 0 3 4\n"), &st), 0);
        CHECK_STREQ(st.comm, "");
        CHECK_INTEQ(st.utime_ticks + st.stime_ticks, 7);
}

TEST(pid_stat_hostile)
{
        ProcStat st = { .pid = 77 };
        static const char *const bad[] = {
                "",
                "37",
                "37 ",
                "37 (ksmd",
                "37 ksmd) S 2",
                "(ksmd) S 2 0 0 0 -1 0 0 0 0 0 1 2",
                "-37 (ksmd) S 2 0 0 0 -1 0 0 0 0 0 1 2",
                "0 (ksmd) S 2 0 0 0 -1 0 0 0 0 0 1 2",
                "99999999999 (ksmd) S 2 0 0 0 -1 0 0 0 0 0 1 2",
                "37 (ksmd) S 2 0 0 0 -1 0 0 0 0 0 1",                 /* no stime */
                "37 (ksmd) S 2 0 0 0 -1 0 0 0 0 0 1 x",
                "37 (ksmd) S 2 0 0 0 -1 0 0 0 0 0 -1 2",              /* negative utime */
                "37 (ksmd) S 2 0 0 0 -1 -5 0 0 0 0 1 2",              /* negative flags */
                "37 (ksmd) S -2 0 0 0 -1 0 0 0 0 0 1 2",
                "37 (ksmd)S 2 0 0 0 -1 0 0 0 0 0 1 2",
                "37 (ksmd) S 2 0 0 0 -1 0 0 0 0 0 99999999999999999999999 2",
                "37 (ksmd) S 2 0 0 0 -1 0 0 0 0 0 1 2x",
                "37 (ksmd) S 2 0 0 0 -1 0 0 0 0 0 1 2) S 3",          /* last ')' is later */
                "37 (0123456789012345678901234567890123456789012345678901234567890123456789) S 2 0 0 0 0 0 0 0 0 0 1 2",
        };

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                int r = proc_stat_parse(bad[i], strlen(bad[i]), &st);

                if (r >= 0)
                        fprintf(stderr, "  accepted: \"%s\"\n", bad[i]);
                CHECK(r < 0);
        }
        /* NUL inside comm */
        CHECK(proc_stat_parse("37 (ks\0md) S 2 0 0 0 -1 0 0 0 0 0 1 2", 37, &st) < 0);
        CHECK_INTEQ(st.pid, 77);        /* untouched */
}

TEST(statm)
{
        uint64_t rss = 9;

        CHECK_INTEQ(proc_statm_parse_rss(S("123456 7890 100 1 0 2000 0\n"), &rss), 0);
        CHECK_INTEQ(rss, 7890);
        CHECK_INTEQ(proc_statm_parse_rss(S("1 2"), &rss), 0);
        CHECK_INTEQ(rss, 2);
        rss = 9;
        CHECK_INTEQ(proc_statm_parse_rss(S("123456\n"), &rss), -EINVAL);
        CHECK_INTEQ(proc_statm_parse_rss(S("1 -2 3\n"), &rss), -EINVAL);
        CHECK_INTEQ(proc_statm_parse_rss(S("1 2x 3\n"), &rss), -EINVAL);
        CHECK_INTEQ(proc_statm_parse_rss(S("x 2 3\n"), &rss), -EINVAL);
        CHECK_INTEQ(proc_statm_parse_rss(S("1 99999999999999999999999\n"), &rss), -ERANGE);
        CHECK_INTEQ(rss, 9);
}

TEST(cmdline)
{
        /* pgrep -f '^qemu-system.*-enable-kvm' on "argv joined by spaces" */
        CHECK(proc_cmdline_is_ksmtuned_qemu(S("qemu-system-x86_64\0-m\0" "1024\0-enable-kvm\0")));
        CHECK(proc_cmdline_is_ksmtuned_qemu(S("qemu-system-aarch64\0--enable-kvm\0")));
        CHECK(proc_cmdline_is_ksmtuned_qemu(S("qemu-system-enable-kvm")));
        CHECK(proc_cmdline_is_ksmtuned_qemu(S("qemu-system-x86_64\0-name\0guest-enable-kvmish\0")));
        /* libvirt's absolute path does not match: ksmtuned's own quirk */
        CHECK(!proc_cmdline_is_ksmtuned_qemu(S("/usr/bin/qemu-system-x86_64\0-enable-kvm\0")));
        CHECK(!proc_cmdline_is_ksmtuned_qemu(S("qemu-system-x86_64\0-accel\0tcg\0")));
        CHECK(!proc_cmdline_is_ksmtuned_qemu(S("qemu-system-x86_64\0-enable\0-kvm\0")));
        CHECK(!proc_cmdline_is_ksmtuned_qemu(S("qemu-kvm\0-enable-kvm\0")));
        CHECK(!proc_cmdline_is_ksmtuned_qemu(S("")));
        CHECK(!proc_cmdline_is_ksmtuned_qemu(S("qemu-system")));
        CHECK(!proc_cmdline_is_ksmtuned_qemu(S("qemu-system-enable-kv")));
}

static const char psi_text[] =
        "some avg10=1.50 avg60=0.25 avg300=0.00 total=123456\n"
        "full avg10=0.75 avg60=0.00 avg300=0.00 total=6543\n";

TEST(psi)
{
        PsiMemory p = {};

        CHECK_INTEQ(psi_parse(S(psi_text), &p), 0);
        CHECK(p.some_avg10 > 1.49 && p.some_avg10 < 1.51);
        CHECK(p.some_avg60 > 0.24 && p.some_avg60 < 0.26);
        CHECK_INTEQ(p.some_total_usec, 123456);
        CHECK(p.has_full);
        CHECK(p.full_avg10 > 0.74 && p.full_avg10 < 0.76);
        CHECK_INTEQ(p.full_total_usec, 6543);

        /* "some" alone (CPU PSI before 5.13 has no "full"); unknown lines skipped */
        CHECK_INTEQ(psi_parse(S("some avg10=100.00 avg60=0 avg300=0 total=0\nfuture x=1\n"), &p), 0);
        CHECK(!p.has_full);
        CHECK(p.some_avg10 > 99.9);
        CHECK_INTEQ(psi_parse(S("something else\nsome avg10=0.00 avg60=0.00 avg300=0.00 total=0"), &p), 0);
}

TEST(psi_hostile)
{
        PsiMemory p = { .some_total_usec = 42 };
        static const char *const bad[] = {
                "",
                "full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n",
                "some\n",
                "some avg10=0.00\n",
                "some avg10=0.00 avg60=0.00 avg300=0.00\n",
                "some avg10=0.00 avg60=0.00 avg300=0.00 total=\n",
                "some avg10=-1.00 avg60=0.00 avg300=0.00 total=0\n",
                "some avg10=100.01 avg60=0.00 avg300=0.00 total=0\n",
                "some avg10=101 avg60=0.00 avg300=0.00 total=0\n",
                "some avg10=1. avg60=0.00 avg300=0.00 total=0\n",
                "some avg10=1.0000001 avg60=0.00 avg300=0.00 total=0\n",
                "some avg60=0.00 avg10=0.00 avg300=0.00 total=0\n",
                "some avg10=0.00 avg60=0.00 avg300=0.00 total=0 extra\n",
                "some avg10=0.00 avg60=0.00 avg300=0.00 total=99999999999999999999999\n",
                "some avg10=0.00 avg60=0.00 avg300=0.00 total=0\nsome avg10=0.00 avg60=0.00 avg300=0.00 total=0\n",
                "some avg10=0.00 avg60=0.00 avg300=0.00 total=0\nfull avg10=x avg60=0.00 avg300=0.00 total=0\n",
                "some avg10=1e5 avg60=0.00 avg300=0.00 total=0\n",
        };

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                int r = psi_parse(bad[i], strlen(bad[i]), &p);

                if (r >= 0)
                        fprintf(stderr, "  accepted: \"%s\"\n", bad[i]);
                CHECK(r < 0);
        }
        CHECK(psi_parse("some avg10=0.00 avg60=0.00\0avg300=0.00 total=0\n", 47, &p) < 0);
        CHECK_INTEQ(p.some_total_usec, 42);
}

int main(void)
{
        RUN(uint_values);
        RUN(int_values);
        RUN(advisor_mode);
        RUN(pid_stat);
        RUN(pid_stat_hostile);
        RUN(statm);
        RUN(cmdline);
        RUN(psi);
        RUN(psi_hostile);
        return test_summary();
}
