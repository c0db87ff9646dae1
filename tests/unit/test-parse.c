/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Sizes, /proc/meminfo and /proc/vmstat parsers on good and hostile input. */
#include <errno.h>
#include <string.h>

#include "parse.h"
#include "test.h"

static void size_ok(const char *s, uint64_t want)
{
        const char *msg = NULL;
        uint64_t v = 0;
        int r = parse_size(s, &v, &msg);

        if (r != 0 || v != want)
                fprintf(stderr, "  parse_size(\"%s\") = %d, %llu (%s)\n", s, r, (unsigned long long) v, msg ? msg : "");
        CHECK_INTEQ(r, 0);
        CHECK_INTEQ(v, want);
}

static void size_bad(const char *s, int want, const char *needle)
{
        const char *msg = NULL;
        uint64_t v = 77;
        int r = parse_size(s, &v, &msg);

        CHECK_INTEQ(r, want);
        CHECK(msg && strstr(msg, needle));
        CHECK_INTEQ(v, 77);     /* untouched */
}

TEST(sizes)
{
        size_ok("0", 0);
        size_ok("512M", 512ULL << 20);
        size_ok("2G", 2ULL << 30);
        size_ok("2g", 2ULL << 30);
        size_ok("64 MiB", 64ULL << 20);
        size_ok("4096K", 4096ULL << 10);
        size_ok("1.5G", 3ULL << 29);
        size_ok("1T", 1ULL << 40);
        size_ok(" 8MB ", 8ULL << 20);
        size_ok("0M", 0);

        size_bad("", -EINVAL, "start with a number");
        size_bad("M", -EINVAL, "start with a number");
        size_bad("-1G", -EINVAL, "negative");
        size_bad("512", -EINVAL, "needs a unit");
        size_bad("512X", -EINVAL, "unknown unit");
        size_bad("512Mx", -EINVAL, "unknown unit");
        size_bad("1.G", -EINVAL, "digit must follow");
        size_bad("1.1234567G", -EINVAL, "too many digits");
        size_bad("99999999999999999999G", -ERANGE, "too large");
        size_bad("20000000T", -ERANGE, "too large");
        size_bad(NULL, -EINVAL, "no size");
}

static const char meminfo[] =
        "MemTotal:        1014560 kB\n"
        "MemFree:          801212 kB\n"
        "MemAvailable:     850000 kB\n"
        "Buffers:            1024 kB\n"
        "Cached:            50000 kB\n"
        "SwapCached:            0 kB\n"
        "HugePages_Total:       0\n"
        "Hugepagesize:       2048 kB\n"
        "DirectMap1G:            0 kB\n";

TEST(meminfo_good)
{
        MemInfo mi;

        CHECK_INTEQ(meminfo_parse(meminfo, strlen(meminfo), &mi), 0);
        CHECK_INTEQ(mi.total_kib, 1014560);
        CHECK_INTEQ(mi.free_kib, 801212);
        CHECK_INTEQ(mi.available_kib, 850000);
        CHECK(mi.has_available);
        CHECK_INTEQ(mi.cached_kib, 50000);
        CHECK_INTEQ(mi.buffers_kib, 1024);
        CHECK_INTEQ(mi.hugepage_size_kib, 2048);
        /* Without a final newline too. */
        CHECK_INTEQ(meminfo_parse(meminfo, strlen(meminfo) - 1, &mi), 0);
        CHECK_INTEQ(mi.total_kib, 1014560);
}

TEST(meminfo_hostile)
{
        MemInfo mi = { .total_kib = 99 };

        CHECK_INTEQ(meminfo_parse("", 0, &mi), -ENODATA);
        CHECK_INTEQ(meminfo_parse("MemFree: 1 kB\n", 14, &mi), -ENODATA);
        CHECK_INTEQ(meminfo_parse("MemTotal: x kB\nMemFree: 1 kB\n", 29, &mi), -EINVAL);
        CHECK_INTEQ(meminfo_parse("MemTotal: -5 kB\nMemFree: 1 kB\n", 30, &mi), -EINVAL);
        CHECK_INTEQ(meminfo_parse("MemTotal: 99999999999999999999999 kB\nMemFree: 1 kB\n", 51, &mi), -EINVAL);
        CHECK_INTEQ(meminfo_parse("MemTotal: 5 MB\nMemFree: 1 kB\n", 29, &mi), -EINVAL);
        CHECK_INTEQ(mi.total_kib, 99);  /* untouched on error */
        /* Unknown and odd lines are skipped. */
        {
                static const char odd[] = "garbage\n:\nFoo: bar\nMemTotal: 5 kB\nMemFree: 1 kB\n";

                CHECK_INTEQ(meminfo_parse(odd, strlen(odd), &mi), 0);
        }
        CHECK_INTEQ(mi.total_kib, 5);
        /* A NUL inside is data: "\0MemFree" is not MemFree, and nothing
         * reads past the buffer. */
        CHECK_INTEQ(meminfo_parse("MemTotal: 5 kB\n\0MemFree: 1 kB\n", 30, &mi), -ENODATA);
}

TEST(vmstat)
{
        static const char v[] = "nr_free_pages 123\npswpin 10\npswpout 20\npgfault 30000\npgmajfault 40\n"
                                "htlb_buddy_alloc_success 2\nhtlb_buddy_alloc_fail 1\n";
        VmStat vs = {};

        CHECK_INTEQ(vmstat_parse(v, strlen(v), &vs), 0);
        CHECK_INTEQ(vs.pswpin, 10);
        CHECK_INTEQ(vs.pswpout, 20);
        CHECK_INTEQ(vs.pgfault, 30000);
        CHECK_INTEQ(vs.pgmajfault, 40);
        CHECK_INTEQ(vs.htlb_buddy_alloc_success, 2);
        CHECK_INTEQ(vs.htlb_buddy_alloc_fail, 1);
        CHECK_INTEQ(vs.allocstall, 0);
        {
                /* Linux 6.12's stat tags 10..15: allocstall sums the zones. */
                static const char w[] = "oom_kill 3\nallocstall_dma 1\nallocstall_dma32 2\nallocstall_normal 4\n"
                                        "allocstall_movable 8\npgscan_kswapd 100\npgscan_direct 200\n"
                                        "pgsteal_kswapd 50\npgsteal_direct 60\npgscan_khugepaged 7\n";

                CHECK_INTEQ(vmstat_parse(w, strlen(w), &vs), 0);
                CHECK_INTEQ(vs.oom_kill, 3);
                CHECK_INTEQ(vs.allocstall, 15);
                CHECK_INTEQ(vs.pgscan_kswapd, 100);
                CHECK_INTEQ(vs.pgscan_direct, 200);
                CHECK_INTEQ(vs.pgsteal_kswapd, 50);
                CHECK_INTEQ(vs.pgsteal_direct, 60);
                CHECK_INTEQ(vmstat_parse("allocstall_normal x\n", 20, &vs), -EINVAL);
                static const char big[] = "allocstall_dma 18446744073709551615\nallocstall_normal 1\n";

                CHECK_INTEQ(vmstat_parse(big, strlen(big), &vs), -ERANGE);
        }
        CHECK_INTEQ(vmstat_parse("pswpin ten\n", 11, &vs), -EINVAL);
        CHECK_INTEQ(vmstat_parse("", 0, &vs), 0);
        CHECK_INTEQ(vs.pswpin, 0);
}

int main(void)
{
        RUN(sizes);
        RUN(meminfo_good);
        RUN(meminfo_hostile);
        RUN(vmstat);
        return test_summary();
}
