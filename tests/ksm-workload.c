/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A KSM workload for the real-KSM test and the benchmark: map IDENTICAL MiB
 * of pages that all hold the same (non-zero) content and UNIQUE MiB of
 * pages that never match any other page, mark both MADV_MERGEABLE, and
 * hold them until SIGTERM or SIGINT.
 *
 *   ksm-workload IDENTICAL_MIB UNIQUE_MIB
 *
 * Prints "ready PID IDENTICAL_PAGES UNIQUE_PAGES" on stdout once the pages
 * are filled and registered, so a script knows when to start measuring.
 * Exit status: 0 on a clean stop, 1 on failure, 2 on bad usage.
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* A sane bound for a test machine: 64 GiB per region. */
#define REGION_MIB_MAX (64 * 1024)

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
        (void) sig;
        stop = 1;
}

static int parse_mib(const char *s, uint64_t *ret)
{
        char *end;
        unsigned long long v;

        errno = 0;
        v = strtoull(s, &end, 10);
        if (errno || end == s || *end || s[0] == '-' || v > REGION_MIB_MAX)
                return -EINVAL;
        *ret = v;
        return 0;
}

static void *map_region(size_t bytes)
{
        void *p;

        if (bytes == 0)
                return NULL;
        p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED)
                return MAP_FAILED;
        /* KSM merges 4 KiB pages; keep THP out of the way so the expected
         * numbers do not depend on khugepaged. */
        (void) madvise(p, bytes, MADV_NOHUGEPAGE);
        return p;
}

int main(int argc, char *argv[])
{
        uint64_t ident_mib, uniq_mib, page = (uint64_t) sysconf(_SC_PAGESIZE), seed;
        size_t ident_bytes, uniq_bytes;
        struct sigaction sa = { .sa_handler = on_signal };
        sigset_t block, old;
        uint8_t *ident, *uniq;

        if (argc != 3 || parse_mib(argv[1], &ident_mib) < 0 || parse_mib(argv[2], &uniq_mib) < 0) {
                fprintf(stderr, "Usage: %s IDENTICAL_MIB UNIQUE_MIB\n", argv[0]);
                return 2;
        }
        ident_bytes = (size_t) (ident_mib << 20);
        uniq_bytes = (size_t) (uniq_mib << 20);

        ident = map_region(ident_bytes);
        uniq = map_region(uniq_bytes);
        if (ident == MAP_FAILED || uniq == MAP_FAILED) {
                perror("mmap");
                return 1;
        }
        /* Identical: every byte 0x5a, so no page is a zero page. */
        if (ident)
                memset(ident, 0x5a, ident_bytes);
        /* Unique: each 8-byte word mixes the page index and a per-run seed,
         * so no two pages (in this or any other process) are equal. */
        seed = ((uint64_t) getpid() << 32) ^ (uint64_t) (uintptr_t) &seed;
        for (size_t off = 0; off < uniq_bytes; off += sizeof(uint64_t)) {
                uint64_t x = seed ^ (off * 0x9e3779b97f4a7c15ULL);

                x ^= x >> 31;
                x *= 0xbf58476d1ce4e5b9ULL;
                memcpy(uniq + off, &x, sizeof(x));
        }
        if ((ident && madvise(ident, ident_bytes, MADV_MERGEABLE) < 0) ||
            (uniq && madvise(uniq, uniq_bytes, MADV_MERGEABLE) < 0)) {
                perror("madvise(MADV_MERGEABLE)");
                return 1;
        }

        /* Block the stop signals and wait for them with sigsuspend(), so
         * one arriving between the check and the wait is not lost. */
        sigemptyset(&block);
        sigaddset(&block, SIGTERM);
        sigaddset(&block, SIGINT);
        sigprocmask(SIG_BLOCK, &block, &old);
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGINT, &sa, NULL);
        printf("ready %d %llu %llu\n", (int) getpid(), (unsigned long long) (ident_bytes / page),
               (unsigned long long) (uniq_bytes / page));
        fflush(stdout);

        while (!stop)
                sigsuspend(&old);
        return 0;
}
