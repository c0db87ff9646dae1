// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * daemon_helper: small guest-side tools for the daemon VM tests
 * (tests/vm/daemon.py), for what busybox cannot do.
 *
 *   daemon_helper state
 *       Open /dev/memballoon read-only (allowed next to the daemon, which
 *       holds the writer) and print the shim's own view, one line:
 *       "transport=virtio target_kib=N actual_kib=N total_ram_kib=N
 *        oom_freed_kib=N inflate_failures=N".
 *
 *   daemon_helper hog MIB STEP_MIB STEP_MS HOLD_MS
 *       Allocate MIB of anonymous memory, STEP_MIB every STEP_MS (a modest,
 *       steady rate), writing every page; print "holding MIB" once all of it
 *       is resident, hold it HOLD_MS, check every page still holds what was
 *       written, print "verified", exit 0.  An OOM kill shows as the shell's
 *       exit status 137.
 *
 * Exit status: 0 success, 1 failure, 2 usage.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <linux/memballoon.h>

#define MIB (1ULL << 20)

static int cmd_state(void)
{
        struct memballoon_api api = { .argsz = sizeof(api) };
        struct memballoon_state st = { .argsz = sizeof(st) };
        uint64_t ps;
        int fd = open("/dev/" MEMBALLOON_DEVICE_NAME, O_RDONLY | O_CLOEXEC);

        if (fd < 0) {
                fprintf(stderr, "daemon_helper: open /dev/%s: %s\n", MEMBALLOON_DEVICE_NAME, strerror(errno));
                return 1;
        }
        if (ioctl(fd, MEMBALLOON_GET_API, &api) < 0 || ioctl(fd, MEMBALLOON_GET_STATE, &st) < 0) {
                fprintf(stderr, "daemon_helper: ioctl: %s\n", strerror(errno));
                close(fd);
                return 1;
        }
        close(fd);
        ps = api.page_size;
        printf("transport=%s target_kib=%" PRIu64 " actual_kib=%" PRIu64 " total_ram_kib=%" PRIu64
               " oom_freed_kib=%" PRIu64 " inflate_failures=%" PRIu64 "\n",
               st.transport == MEMBALLOON_TRANSPORT_VIRTIO ? "virtio" :
               st.transport == MEMBALLOON_TRANSPORT_SIMULATE ? "simulate" : "?",
               (uint64_t) st.target_pages * ps / 1024, (uint64_t) st.actual_pages * ps / 1024,
               (uint64_t) st.total_ram_pages * ps / 1024, (uint64_t) st.oom_freed_pages * ps / 1024,
               (uint64_t) st.inflate_failures);
        return 0;
}

static void sleep_ms(uint64_t ms)
{
        struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long) (ms % 1000) * 1000000L };

        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

static uint64_t pattern(uint64_t chunk, uint64_t off)
{
        return (chunk << 40) ^ off ^ 0x686f672d74657374ULL;
}

static int cmd_hog(uint64_t mib, uint64_t step_mib, uint64_t step_ms, uint64_t hold_ms)
{
        uint64_t n = (mib + step_mib - 1) / step_mib, done = 0;
        uint8_t **chunks = calloc(n, sizeof(*chunks));

        if (!chunks || step_mib == 0)
                return 1;
        setvbuf(stdout, NULL, _IONBF, 0);
        for (uint64_t i = 0; i < n; i++) {
                uint64_t len = (i + 1 < n ? step_mib : mib - i * step_mib) * MIB;

                chunks[i] = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
                if (chunks[i] == MAP_FAILED) {
                        printf("hog: mmap after %" PRIu64 " MiB: %s\n", done, strerror(errno));
                        return 1;
                }
                for (uint64_t off = 0; off < len; off += 4096)
                        *(volatile uint64_t *) (chunks[i] + off) = pattern(i, off);
                done += len / MIB;
                if (i + 1 < n)
                        sleep_ms(step_ms);
        }
        printf("holding %" PRIu64 "\n", done);
        sleep_ms(hold_ms);
        for (uint64_t i = 0; i < n; i++) {
                uint64_t len = (i + 1 < n ? step_mib : mib - i * step_mib) * MIB;

                for (uint64_t off = 0; off < len; off += 4096)
                        if (*(volatile uint64_t *) (chunks[i] + off) != pattern(i, off)) {
                                printf("hog: chunk %" PRIu64 " offset %" PRIu64 " corrupted\n", i, off);
                                return 1;
                        }
        }
        printf("verified %" PRIu64 "\n", done);
        return 0;
}

int main(int argc, char **argv)
{
        if (argc == 2 && !strcmp(argv[1], "state"))
                return cmd_state();
        if (argc == 6 && !strcmp(argv[1], "hog"))
                return cmd_hog(strtoull(argv[2], NULL, 10), strtoull(argv[3], NULL, 10),
                               strtoull(argv[4], NULL, 10), strtoull(argv[5], NULL, 10));
        fprintf(stderr, "usage: daemon_helper state | hog MIB STEP_MIB STEP_MS HOLD_MS\n");
        return 2;
}
