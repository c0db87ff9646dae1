// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * daemon_helper: small guest-side tools for the daemon VM tests
 * (tests/vm/daemon.py), for what busybox cannot do.
 *
 *   daemon_helper state
 *       Open /dev/memballoon read-only (allowed next to the daemon, which
 *       holds the writer) and print the shim's own view, one line:
 *       "transport=virtio|simulate|cmm|vmware target_kib=N actual_kib=N total_ram_kib=N
 *        oom_freed_kib=N inflate_failures=N".
 *
 *   daemon_helper hog MIB STEP_MIB STEP_MS HOLD_MS
 *       Allocate MIB of anonymous memory, STEP_MIB every STEP_MS (a modest,
 *       steady rate), writing every page; print "holding MIB" once all of it
 *       is resident, hold it HOLD_MS, check every page still holds what was
 *       written, print "verified", exit 0.  An OOM kill shows as the shell's
 *       exit status 137.
 *
 *   daemon_helper workload MIB HOLD_MS PSI_SOME_MS PSI_WINDOW_MS POLL_MS
 *       The pressure tests' workload (tests/vm/pressure.py).  A child
 *       allocates MIB of anonymous memory as fast as it can, writing every
 *       page, holds it HOLD_MS, checks every page and exits 0.  The parent
 *       (OOM-proof, oom_score_adj -1000) times it, takes the growth of
 *       /proc/pressure/memory "total=" (some, full) over it, and meanwhile
 *       watches every POLL_MS: its own PSI trigger "some PSI_SOME_MS in
 *       PSI_WINDOW_MS" (the same as the daemon's, so it fires when the
 *       daemon's does), the shim's GET_STATE (balloon size, OOM notifier
 *       releases) when /dev/memballoon exists, and /proc/vmstat
 *       balloon_deflate (any balloon driver).  One line of k=v results:
 *       times in ms from the start (-1: never), t0_us the start on
 *       CLOCK_MONOTONIC (as "stamp" prints it).  Exit status: the child's,
 *       or 128 + signal if it was killed.
 *
 *   daemon_helper stamp
 *       Copy stdin to stdout, each line prefixed "[SEC.USEC] " with the
 *       CLOCK_MONOTONIC time its first byte arrived (memlocked, SCHED_FIFO
 *       when allowed, so it does not lag behind the writer under pressure).
 *
 *   daemon_helper watch POLL_MS
 *       Poll the shim's GET_STATE every POLL_MS and print
 *       "SEC.USEC actual_kib oom_freed_kib" whenever either changes (same
 *       clock, memlocked, SCHED_FIFO), until killed.
 *
 * Exit status: 0 success, 1 failure, 2 usage.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
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
               " oom_freed_kib=%" PRIu64 " oom_events=%" PRIu64 " inflate_failures=%" PRIu64 "\n",
               st.transport == MEMBALLOON_TRANSPORT_VIRTIO ? "virtio" :
               st.transport == MEMBALLOON_TRANSPORT_SIMULATE ? "simulate" :
               st.transport == MEMBALLOON_TRANSPORT_CMM ? "cmm" :
               st.transport == MEMBALLOON_TRANSPORT_VMWARE ? "vmware" : "?",
               (uint64_t) st.target_pages * ps / 1024, (uint64_t) st.actual_pages * ps / 1024,
               (uint64_t) st.total_ram_pages * ps / 1024, (uint64_t) st.oom_freed_pages * ps / 1024,
               (uint64_t) st.oom_events, (uint64_t) st.inflate_failures);
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

/* ---- pressure tests: workload, stamp, watch ------------------------------ */

static uint64_t mono_us(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000ULL + (uint64_t) ts.tv_nsec / 1000ULL;
}

/* Keep a watcher responsive when memory is short: never page it out, and
 * run it ahead of the workload.  Both are best effort. */
static void make_prompt(void)
{
        struct sched_param sp = { .sched_priority = 10 };

        (void) mlockall(MCL_CURRENT | MCL_FUTURE);
        (void) sched_setscheduler(0, SCHED_FIFO, &sp);
}

static ssize_t read_file(const char *path, char *buf, size_t size)
{
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        ssize_t n, len = 0;

        if (fd < 0)
                return -1;
        while ((size_t) len + 1 < size && (n = read(fd, buf + len, size - 1 - (size_t) len)) > 0)
                len += n;
        close(fd);
        buf[len] = '\0';
        return len;
}

/* /proc/pressure/memory "some ... total=N" and "full ... total=N", in us. */
static int psi_totals(uint64_t *some, uint64_t *full)
{
        char buf[512], *p;

        *some = *full = 0;
        if (read_file("/proc/pressure/memory", buf, sizeof(buf)) <= 0)
                return -1;
        p = strstr(buf, "some");
        if (p && (p = strstr(p, "total=")))
                *some = strtoull(p + 6, NULL, 10);
        p = strstr(buf, "full");
        if (p && (p = strstr(p, "total=")))
                *full = strtoull(p + 6, NULL, 10);
        return 0;
}

static uint64_t vmstat_value(const char *key)
{
        static char buf[16384];
        size_t kl = strlen(key);
        char *p = buf;

        if (read_file("/proc/vmstat", buf, sizeof(buf)) <= 0)
                return 0;
        while (p && *p) {
                if (!strncmp(p, key, kl) && p[kl] == ' ')
                        return strtoull(p + kl + 1, NULL, 10);
                p = strchr(p, '\n');
                if (p)
                        p++;
        }
        return 0;
}

struct shim {
        int fd;
        uint64_t page_size;
};

static void shim_open(struct shim *sh)
{
        struct memballoon_api api = { .argsz = sizeof(api) };

        sh->fd = open("/dev/" MEMBALLOON_DEVICE_NAME, O_RDONLY | O_CLOEXEC);
        sh->page_size = 4096;
        if (sh->fd >= 0 && ioctl(sh->fd, MEMBALLOON_GET_API, &api) == 0 && api.page_size)
                sh->page_size = api.page_size;
}

static int shim_get(const struct shim *sh, uint64_t *actual_kib, uint64_t *oom_kib, uint64_t *oom_events)
{
        struct memballoon_state st = { .argsz = sizeof(st) };

        if (sh->fd < 0 || ioctl(sh->fd, MEMBALLOON_GET_STATE, &st) < 0)
                return -1;
        *actual_kib = st.actual_pages * sh->page_size / 1024;
        *oom_kib = st.oom_freed_pages * sh->page_size / 1024;
        if (oom_events)
                *oom_events = st.oom_events;
        return 0;
}

static int workload_child(uint64_t mib, uint64_t hold_ms, int wfd)
{
        const uint64_t step = 16;
        uint64_t n = (mib + step - 1) / step;
        uint8_t **chunks = calloc(n, sizeof(*chunks));
        uint64_t t;

        if (!chunks)
                return 1;
        for (uint64_t i = 0; i < n; i++) {
                uint64_t len = (i + 1 < n ? step : mib - i * step) * MIB;

                chunks[i] = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
                if (chunks[i] == MAP_FAILED)
                        return 1;
                for (uint64_t off = 0; off < len; off += 4096)
                        *(volatile uint64_t *) (chunks[i] + off) = pattern(i, off);
        }
        t = mono_us();
        if (write(wfd, &t, sizeof(t)) != sizeof(t))
                return 1;
        sleep_ms(hold_ms);
        for (uint64_t i = 0; i < n; i++) {
                uint64_t len = (i + 1 < n ? step : mib - i * step) * MIB;

                for (uint64_t off = 0; off < len; off += 4096)
                        if (*(volatile uint64_t *) (chunks[i] + off) != pattern(i, off))
                                return 3;
        }
        return 0;
}

#define MS_SINCE(t0, t) ((t) ? (int64_t) (((t) - (t0)) / 1000) : -1)

static int cmd_workload(uint64_t mib, uint64_t hold_ms, uint64_t some_ms, uint64_t window_ms, uint64_t poll_ms)
{
        uint64_t some0, full0, some1, full1, t0, t_touched = 0, t_end, t_psi = 0, t_shrink = 0, t_dshrink = 0,
                 t_oshrink = 0, t_vmdefl = 0, psi_events = 0;
        uint64_t act0 = 0, oom0 = 0, oev0 = 0, act = 0, oom = 0, oev = 0, act_min = 0, vm0, vm = 0;
        int pfd[2], psi_fd, status = 0, rc;
        bool have_shim;
        struct shim sh;
        char trig[64];
        pid_t pid;
        FILE *f;

        setvbuf(stdout, NULL, _IONBF, 0);
        f = fopen("/proc/self/oom_score_adj", "w");
        if (f) {
                fputs("-1000", f);
                fclose(f);
        }
        make_prompt();
        shim_open(&sh);
        have_shim = shim_get(&sh, &act0, &oom0, &oev0) == 0;
        act = act_min = act0;
        oom = oom0;
        oev = oev0;
        vm0 = vmstat_value("balloon_deflate");
        psi_fd = open("/proc/pressure/memory", O_RDWR | O_NONBLOCK | O_CLOEXEC);
        snprintf(trig, sizeof(trig), "some %" PRIu64 " %" PRIu64, some_ms * 1000, window_ms * 1000);
        if (psi_fd >= 0 && write(psi_fd, trig, strlen(trig) + 1) < 0) {
                close(psi_fd);
                psi_fd = -1;
        }
        if (pipe(pfd) < 0)
                return 1;
        psi_totals(&some0, &full0);
        t0 = mono_us();
        pid = fork();
        if (pid < 0)
                return 1;
        if (pid == 0) {
                struct sched_param sp = { .sched_priority = 0 };

                munlockall();
                sched_setscheduler(0, SCHED_OTHER, &sp);
                f = fopen("/proc/self/oom_score_adj", "w");
                if (f) {
                        fputs("0", f);
                        fclose(f);
                }
                close(pfd[0]);
                _exit(workload_child(mib, hold_ms, pfd[1]));
        }
        close(pfd[1]);
        for (;;) {
                struct pollfd pf[2] = { { .fd = pfd[0], .events = POLLIN }, { .fd = psi_fd, .events = POLLPRI } };
                uint64_t now;
                int n = poll(pf, psi_fd >= 0 ? 2 : 1, (int) poll_ms);

                now = mono_us();
                if (n > 0 && (pf[0].revents & POLLIN)) {
                        uint64_t t;

                        if (read(pfd[0], &t, sizeof(t)) == sizeof(t))
                                t_touched = t;
                        else
                                pf[0].fd = -1;
                }
                if (n > 0 && psi_fd >= 0 && (pf[1].revents & POLLPRI)) {
                        psi_events++;
                        if (!t_psi)
                                t_psi = now;
                }
                if (have_shim && shim_get(&sh, &act, &oom, &oev) == 0) {
                        if (act < act_min)
                                act_min = act;
                        if (!t_shrink && act < act0)
                                t_shrink = now;
                        if (!t_oshrink && oom > oom0)
                                t_oshrink = now;
                        /* Shrunk by more than the notifier released: a daemon step. */
                        if (!t_dshrink && act0 > act && act0 - act > oom - oom0)
                                t_dshrink = now;
                }
                vm = vmstat_value("balloon_deflate");
                if (!t_vmdefl && vm > vm0)
                        t_vmdefl = now;
                rc = waitpid(pid, &status, WNOHANG);
                if (rc == pid)
                        break;
                if (rc < 0 && errno != EINTR)
                        return 1;
        }
        t_end = mono_us();
        psi_totals(&some1, &full1);
        rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        printf("workload mib=%" PRIu64 " rc=%d t0_us=%" PRIu64 " touched_ms=%" PRId64 " total_ms=%" PRId64
               " psi_some_us=%" PRIu64 " psi_full_us=%" PRIu64 " psi_trigger=%s psi_events=%" PRIu64
               " psi_first_ms=%" PRId64 " shrink_first_ms=%" PRId64 " daemon_shrink_first_ms=%" PRId64
               " oom_shrink_first_ms=%" PRId64 " vmstat_deflate_first_ms=%" PRId64 " vmstat_deflated_kib=%" PRIu64
               " shim=%d balloon_before_kib=%" PRIu64 " balloon_min_kib=%" PRIu64 " balloon_after_kib=%" PRIu64
               " oom_freed_kib=%" PRIu64 " oom_events=%" PRIu64 "\n",
               mib, rc, t0, MS_SINCE(t0, t_touched), MS_SINCE(t0, t_end), some1 - some0, full1 - full0,
               psi_fd >= 0 ? "yes" : "no", psi_events, MS_SINCE(t0, t_psi), MS_SINCE(t0, t_shrink),
               MS_SINCE(t0, t_dshrink), MS_SINCE(t0, t_oshrink), MS_SINCE(t0, t_vmdefl), (vm - vm0) * 4,
               have_shim, act0, act_min, act, oom - oom0, oev - oev0);
        return rc;
}

static int cmd_stamp(void)
{
        char buf[4096];
        char out[4096 + 64];
        bool at_start = true;
        uint64_t t = 0;
        ssize_t n;

        make_prompt();
        while ((n = read(0, buf, sizeof(buf))) != 0) {
                size_t o = 0;

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return 1;
                }
                for (ssize_t i = 0; i < n; i++) {
                        if (at_start) {
                                t = mono_us();
                                o += (size_t) snprintf(out + o, sizeof(out) - o, "[%" PRIu64 ".%06" PRIu64 "] ",
                                                       t / 1000000, t % 1000000);
                                at_start = false;
                        }
                        out[o++] = buf[i];
                        if (buf[i] == '\n')
                                at_start = true;
                        if (o > sizeof(out) - 64 || i + 1 == n) {
                                if (write(1, out, o) < 0)
                                        return 1;
                                o = 0;
                        }
                }
        }
        return 0;
}

static int cmd_watch(uint64_t poll_ms)
{
        uint64_t act, oom, last_act = UINT64_MAX, last_oom = UINT64_MAX;
        struct shim sh;

        make_prompt();
        setvbuf(stdout, NULL, _IOLBF, 0);
        shim_open(&sh);
        if (sh.fd < 0) {
                fprintf(stderr, "daemon_helper: open /dev/%s: %s\n", MEMBALLOON_DEVICE_NAME, strerror(errno));
                return 1;
        }
        for (;;) {
                if (shim_get(&sh, &act, &oom, NULL) == 0 && (act != last_act || oom != last_oom)) {
                        uint64_t t = mono_us();

                        printf("%" PRIu64 ".%06" PRIu64 " %" PRIu64 " %" PRIu64 "\n", t / 1000000, t % 1000000,
                               act, oom);
                        last_act = act;
                        last_oom = oom;
                }
                sleep_ms(poll_ms);
        }
}

int main(int argc, char **argv)
{
        if (argc == 2 && !strcmp(argv[1], "state"))
                return cmd_state();
        if (argc == 6 && !strcmp(argv[1], "hog"))
                return cmd_hog(strtoull(argv[2], NULL, 10), strtoull(argv[3], NULL, 10),
                               strtoull(argv[4], NULL, 10), strtoull(argv[5], NULL, 10));
        if (argc == 7 && !strcmp(argv[1], "workload"))
                return cmd_workload(strtoull(argv[2], NULL, 10), strtoull(argv[3], NULL, 10),
                                    strtoull(argv[4], NULL, 10), strtoull(argv[5], NULL, 10),
                                    strtoull(argv[6], NULL, 10) ? strtoull(argv[6], NULL, 10) : 1);
        if (argc == 2 && !strcmp(argv[1], "stamp"))
                return cmd_stamp();
        if (argc == 3 && !strcmp(argv[1], "watch"))
                return cmd_watch(strtoull(argv[2], NULL, 10) ? strtoull(argv[2], NULL, 10) : 1);
        fprintf(stderr, "usage: daemon_helper state | hog MIB STEP_MIB STEP_MS HOLD_MS |\n"
                "       workload MIB HOLD_MS PSI_SOME_MS PSI_WINDOW_MS POLL_MS | stamp | watch POLL_MS\n");
        return 2;
}
