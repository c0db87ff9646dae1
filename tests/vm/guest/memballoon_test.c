// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * memballoon_test: the guest side of the VM tests (tests/vm/run).
 *
 * Drives /dev/memballoon with raw ioctls, no daemon.  Each subcommand is one
 * scenario; the host harness boots a fresh guest per scenario and passes the
 * subcommand on the kernel command line (see tests/vm/guest/init).
 *
 *   abi             one test per rejected call of the ABI, kselftest style
 *   simulate        no device: 256 MiB in and out, MemTotal exact
 *   roundtrip       follow the host's target down by 512 MiB and back
 *   stats           SET_STATS values reach the host; a STATS event arrives
 *   migration       fragment + compact_memory: balloon pages migrate
 *   oom             a child allocates past free memory, the OOM notifier
 *                   deflates
 *   unload          rmmod with pages loaned returns them
 *   unplug          the device is hot-unplugged with pages loaned, then a
 *                   new one is plugged in
 *   offline MIB     balloon pages in a hotplugged DIMM move out when it
 *                   goes offline
 *   compare MIB     inflate/deflate MIB for the stock-vs-shim comparison
 *
 * Talking to the host (tests/vm/harness.py has the other half):
 *   stdout (the console):  "@@ READY tag args", "@@ KV k=v", "@@ ERROR text",
 *                          "@@ SKIP text"; everything else is a log.
 *   /dev/ttyS1:            the host answers READY with "GO tag".
 *   "@@ READY target BYTES" asks the host to set the virtio balloon so that
 *   BYTES are ballooned (QMP balloon to RAM - BYTES).
 *
 * The program exits 0 when every check passed.  It must never print the
 * strings the host greps for kernel trouble (see KERNEL_PROBLEM_RE).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <linux/capability.h>
#include <linux/memballoon.h>

#define DEV_PATH "/dev/" MEMBALLOON_DEVICE_NAME
#define CTL_TTY "/dev/ttyS1"
#define MIB (1ULL << 20)
#define NSEC_PER_SEC 1000000000ULL
/* Generous: a 512 MiB inflate takes ~1 s under TCG (VM-TESTING.md). */
#define FOLLOW_TIMEOUT_MS 90000
#define HOST_TIMEOUT_MS 120000

/* ------------------------------------------------------------------------ */
/* Output                                                                    */

static int n_errors;

/* One write(2) per line, so kernel messages interleave less with ours. */
__attribute__((format(printf, 1, 2)))
static void out(const char *fmt, ...)
{
        char buf[1024];
        va_list ap;
        int n;

        va_start(ap, fmt);
        n = vsnprintf(buf, sizeof(buf) - 1, fmt, ap);
        va_end(ap);
        if (n < 0)
                return;
        if (n > (int) sizeof(buf) - 2)
                n = sizeof(buf) - 2;
        buf[n++] = '\n';
        (void) !write(STDOUT_FILENO, buf, n);
}

#define ERROR(fmt, ...)                                                         \
        do {                                                                    \
                n_errors++;                                                     \
                out("@@ ERROR %s:%d: " fmt, __func__, __LINE__, ##__VA_ARGS__);\
        } while (0)

#define BASENAME (strrchr("/" __FILE__, '/') + 1)

/* A failed CHECK is recorded and the scenario goes on. */
#define CHECK(cond, fmt, ...)                                                   \
        do {                                                                    \
                if (!(cond))                                                    \
                        ERROR("%s: " fmt, #cond, ##__VA_ARGS__);                \
        } while (0)

/* A failed REQUIRE ends the program. */
#define REQUIRE(cond, fmt, ...)                                                 \
        do {                                                                    \
                if (!(cond)) {                                                  \
                        ERROR("%s: " fmt, #cond, ##__VA_ARGS__);                \
                        exit(1);                                                \
                }                                                               \
        } while (0)

static const char *errname(long r)
{
        static char buf[32];

        switch (-r) {
        case 0: return "0";
        case EPERM: return "-EPERM";
        case ENOENT: return "-ENOENT";
        case EBADF: return "-EBADF";
        case EAGAIN: return "-EAGAIN";
        case ENOMEM: return "-ENOMEM";
        case EACCES: return "-EACCES";
        case EFAULT: return "-EFAULT";
        case EBUSY: return "-EBUSY";
        case ENODEV: return "-ENODEV";
        case EINVAL: return "-EINVAL";
        case ENOTTY: return "-ENOTTY";
        case E2BIG: return "-E2BIG";
        case EOPNOTSUPP: return "-EOPNOTSUPP";
        case ENXIO: return "-ENXIO";
        case EIO: return "-EIO";
        }
        snprintf(buf, sizeof(buf), "%ld", r);
        return buf;
}

/* ------------------------------------------------------------------------ */
/* Small helpers                                                             */

static uint64_t now_ns(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * NSEC_PER_SEC + ts.tv_nsec;
}

static void closep(int *fd)
{
        if (*fd >= 0)
                close(*fd);
}
#define _cleanup_close_ __attribute__((cleanup(closep)))

/* ioctl returning 0/positive or -errno. */
static long xioctl(int fd, unsigned long cmd, void *arg)
{
        long r = ioctl(fd, cmd, arg);

        return r < 0 ? -errno : r;
}

static long xread(int fd, void *buf, size_t n)
{
        ssize_t r = read(fd, buf, n);

        return r < 0 ? -errno : r;
}

static int mb_open(int flags)
{
        int fd = open(DEV_PATH, flags | O_CLOEXEC);

        return fd < 0 ? -errno : fd;
}

/* kB value of @key in /proc/meminfo. */
static uint64_t meminfo_kb(const char *key)
{
        char line[256];
        size_t klen = strlen(key);
        uint64_t v = 0;
        FILE *f = fopen("/proc/meminfo", "re");

        REQUIRE(f, "fopen /proc/meminfo: %m");
        while (fgets(line, sizeof(line), f))
                if (!strncmp(line, key, klen) && line[klen] == ':') {
                        v = strtoull(line + klen + 1, NULL, 10);
                        break;
                }
        fclose(f);
        return v;
}

static int write_file(const char *path, const char *s)
{
        int fd = open(path, O_WRONLY | O_CLOEXEC), r = 0;

        if (fd < 0)
                return -errno;
        if (write(fd, s, strlen(s)) < 0)
                r = -errno;
        close(fd);
        return r;
}

static uint64_t vmstat(const char *key)
{
        char name[128];
        unsigned long long v;
        uint64_t ret = 0;
        FILE *f = fopen("/proc/vmstat", "re");

        if (!f)
                return 0;
        while (fscanf(f, "%127s %llu", name, &v) == 2)
                if (!strcmp(name, key))
                        ret = v;
        fclose(f);
        return ret;
}

/*
 * Allocate and touch @bytes of anonymous memory (so it is resident on the
 * host too), optionally write a pattern and read it back, then free it.
 */
static int touch_mem(uint64_t bytes, bool verify)
{
        uint8_t *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
                          MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
        int r = 0;

        if (p == MAP_FAILED)
                return -errno;
        if (verify) {
                for (uint64_t off = 0; off < bytes; off += 4096)
                        *(volatile uint64_t *) (p + off) = off ^ 0x6d62616c6c6f6f6eULL;
                for (uint64_t off = 0; off < bytes; off += 4096)
                        if (*(volatile uint64_t *) (p + off) != (off ^ 0x6d62616c6c6f6f6eULL)) {
                                r = -EIO;
                                break;
                        }
        }
        munmap(p, bytes);
        return r;
}

/* ------------------------------------------------------------------------ */
/* The host channel                                                          */

static int ctl_fd = -1;

static void ctl_open(void)
{
        struct termios t;

        ctl_fd = open(CTL_TTY, O_RDWR | O_NOCTTY | O_CLOEXEC);
        REQUIRE(ctl_fd >= 0, "open %s: %m", CTL_TTY);
        REQUIRE(tcgetattr(ctl_fd, &t) == 0, "tcgetattr: %m");
        cfmakeraw(&t);
        REQUIRE(tcsetattr(ctl_fd, TCSANOW, &t) == 0, "tcsetattr: %m");
}

/*
 * Print "@@ READY tag [args]" and block until the host answers "GO tag".
 * The host only writes after it saw READY, so nothing is lost while the
 * port is closed.
 */
__attribute__((format(printf, 2, 3)))
static void host_wait(const char *tag, const char *fmt, ...)
{
        char args[256] = "", line[512];
        size_t len = 0;
        uint64_t end = now_ns() + HOST_TIMEOUT_MS * 1000000ULL;
        va_list ap;

        if (ctl_fd < 0)
                ctl_open();
        if (fmt) {
                va_start(ap, fmt);
                vsnprintf(args, sizeof(args), fmt, ap);
                va_end(ap);
        }
        out("@@ READY %s%s%s", tag, *args ? " " : "", args);
        for (;;) {
                struct pollfd p = { .fd = ctl_fd, .events = POLLIN };
                uint64_t now = now_ns();
                char c;

                REQUIRE(now < end, "no GO %s from the host", tag);
                if (poll(&p, 1, (end - now) / 1000000 + 1) <= 0)
                        continue;
                if (read(ctl_fd, &c, 1) != 1)
                        continue;
                if (c == '\r')
                        continue;
                if (c != '\n') {
                        if (len < sizeof(line) - 1)
                                line[len++] = c;
                        continue;
                }
                line[len] = 0;
                len = 0;
                if (!strncmp(line, "GO ", 3) && !strncmp(line + 3, tag, strlen(tag)) &&
                    (line[3 + strlen(tag)] == 0 || line[3 + strlen(tag)] == ' '))
                        return;
                out("# ignoring host line '%s' while waiting for GO %s", line, tag);
        }
}

/* ------------------------------------------------------------------------ */
/* Shim wrappers                                                             */

static struct memballoon_api api;
static uint64_t page_size = 4096;

static long get_api(int fd, struct memballoon_api *a)
{
        memset(a, 0, sizeof(*a));
        a->argsz = sizeof(*a);
        return xioctl(fd, MEMBALLOON_GET_API, a);
}

static long get_state(int fd, struct memballoon_state *s)
{
        memset(s, 0, sizeof(*s));
        s->argsz = sizeof(*s);
        return xioctl(fd, MEMBALLOON_GET_STATE, s);
}

static struct memballoon_state state_or_die(int fd)
{
        struct memballoon_state s;
        long r = get_state(fd, &s);

        REQUIRE(r == 0, "GET_STATE: %s", errname(r));
        return s;
}

static long batch(int fd, unsigned long cmd, uint64_t nr, struct memballoon_batch *b)
{
        memset(b, 0, sizeof(*b));
        b->argsz = sizeof(*b);
        b->nr_pages = nr;
        return xioctl(fd, cmd, b);
}

static long sim_set_target(int fd, uint64_t pages)
{
        struct memballoon_sim_target t = {
                .argsz = sizeof(t), .target_pages = pages,
        };

        return xioctl(fd, MEMBALLOON_SIM_SET_TARGET, &t);
}

/* Open the writer and fetch the API; exits on failure. */
static int open_writer(void)
{
        int fd = mb_open(O_RDWR | O_NONBLOCK);
        long r;

        REQUIRE(fd >= 0, "open %s: %s", DEV_PATH, errname(fd));
        r = get_api(fd, &api);
        REQUIRE(r == 0, "GET_API: %s", errname(r));
        REQUIRE(api.api_version == MEMBALLOON_API_VERSION, "api_version %u", api.api_version);
        page_size = api.page_size;
        REQUIRE(page_size == (uint64_t) sysconf(_SC_PAGESIZE), "page_size %" PRIu64, page_size);
        REQUIRE(api.max_batch_pages > 0, "max_batch_pages 0");
        return fd;
}

/* Events: every read goes through here so counts and seq are tracked. */
static unsigned ev_count[8];
static uint64_t ev_last_value[8];
static uint64_t ev_oom_sum;
static uint64_t ev_last_seq;
static bool ev_seq_started;
static unsigned ev_gaps;

struct follow {
        uint64_t inflate_ns, deflate_ns;        /* time inside the ioctls */
        uint64_t target_ns;                     /* time_ns of the last TARGET event */
        uint64_t done_ns;
        unsigned nomem_stops, ioctls;
};

static void note_event(const struct memballoon_event *e, struct follow *f)
{
        if (e->reserved)
                ERROR("event reserved %u", e->reserved);
        if (ev_seq_started && e->seq != ev_last_seq + 1) {
                if (e->seq <= ev_last_seq)
                        ERROR("event seq went from %" PRIu64 " to %" PRIu64,
                              (uint64_t) ev_last_seq, (uint64_t) e->seq);
                ev_gaps++;
        }
        ev_seq_started = true;
        ev_last_seq = e->seq;
        if (e->type < 8) {
                ev_count[e->type]++;
                ev_last_value[e->type] = e->value;
        } else {
                ERROR("unknown event type %u", e->type);
        }
        if (e->type == MEMBALLOON_EVENT_OOM)
                ev_oom_sum += e->value;
        if (e->type == MEMBALLOON_EVENT_TARGET && f)
                f->target_ns = e->time_ns;
        if (e->time_ns > now_ns())
                ERROR("event time_ns in the future");
}

/* Read every queued event (fd must be O_NONBLOCK); returns how many. */
static int drain_events(int fd, struct follow *f)
{
        struct memballoon_event ev[8];
        int n = 0;

        for (;;) {
                long r = xread(fd, ev, sizeof(ev));

                if (r == -EAGAIN)
                        return n;
                if (r < 0) {
                        ERROR("read events: %s", errname(r));
                        return n;
                }
                if (r == 0 || r % sizeof(ev[0])) {
                        ERROR("read returned %ld bytes, not whole events", r);
                        return n;
                }
                for (long i = 0; i < r / (long) sizeof(ev[0]); i++, n++)
                        note_event(&ev[i], f);
        }
}

/* Wait up to @ms for an event of @type (reading everything on the way). */
static bool wait_event(int fd, uint32_t type, int ms)
{
        unsigned before = ev_count[type];
        uint64_t end = now_ns() + ms * 1000000ULL;

        for (;;) {
                struct pollfd p = { .fd = fd, .events = POLLIN };
                uint64_t now;

                drain_events(fd, NULL);
                if (ev_count[type] > before)
                        return true;
                now = now_ns();
                if (now >= end)
                        return false;
                poll(&p, 1, (end - now) / 1000000 + 1);
        }
}

#define ANY_TARGET UINT64_MAX

/*
 * What the daemon will do, minimally: move actual to the host's target in
 * max_batch_pages steps, sleeping in poll() for events in between, until
 * target == @want (or any nonzero target for ANY_TARGET) and actual equals
 * it.  Returns 0, or -ETIMEDOUT.
 */
static int follow_until(int fd, uint64_t want, int timeout_ms, struct follow *f)
{
        uint64_t end = now_ns() + (uint64_t) timeout_ms * 1000000ULL;
        struct follow dummy = {};

        if (!f)
                f = &dummy;
        for (;;) {
                struct memballoon_state s;
                struct memballoon_batch b;
                struct pollfd p = { .fd = fd, .events = POLLIN };
                uint64_t t, now;
                long r;

                drain_events(fd, f);
                s = state_or_die(fd);
                if (s.actual_pages != s.target_pages) {
                        bool up = s.actual_pages < s.target_pages;
                        uint64_t n = up ? s.target_pages - s.actual_pages :
                                          s.actual_pages - s.target_pages;

                        if (n > api.max_batch_pages)
                                n = api.max_batch_pages;
                        t = now_ns();
                        r = batch(fd, up ? MEMBALLOON_INFLATE : MEMBALLOON_DEFLATE, n, &b);
                        t = now_ns() - t;
                        f->ioctls++;
                        *(up ? &f->inflate_ns : &f->deflate_ns) += t;
                        REQUIRE(r == 0, "%s %" PRIu64 ": %s", up ? "INFLATE" : "DEFLATE",
                                n, errname(r));
                        if (b.stop_reason != MEMBALLOON_STOP_DONE) {
                                f->nomem_stops++;
                                if (f->nomem_stops < 5 || f->nomem_stops % 100 == 0)
                                        out("# %s stopped after %llu of %llu pages, reason %u",
                                            up ? "INFLATE" : "DEFLATE",
                                            (unsigned long long) b.done_pages,
                                            (unsigned long long) n, b.stop_reason);
                                usleep(20000);
                        }
                        if (now_ns() < end)
                                continue;
                }
                if (s.actual_pages == s.target_pages &&
                    (want == ANY_TARGET ? s.target_pages != 0 : s.target_pages == want)) {
                        f->done_ns = now_ns();
                        return 0;
                }
                now = now_ns();
                if (now >= end) {
                        ERROR("follow: target %llu actual %llu, wanted target %lld",
                              (unsigned long long) s.target_pages,
                              (unsigned long long) s.actual_pages,
                              want == ANY_TARGET ? -1LL : (long long) want);
                        return -ETIMEDOUT;
                }
                poll(&p, 1, 200);
        }
}

/* The fake CMO hypervisor's controls (tests/vm/fakehost/fake_cmm.c). */
#define FAKE_PARAMS "/sys/module/memballoon_fakehost/parameters/"
#define SHIM_PARAMS "/sys/module/memballoon/parameters/"

static void fake_set(const char *name, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));

static void fake_set(const char *name, const char *fmt, ...)
{
        char path[256], val[64];
        va_list ap;
        int r;

        va_start(ap, fmt);
        vsnprintf(val, sizeof(val), fmt, ap);
        va_end(ap);
        snprintf(path, sizeof(path), FAKE_PARAMS "%s", name);
        r = write_file(path, val);
        REQUIRE(r == 0, "write %s to %s: %s", val, path, errname(r));
}

/*
 * Make the target @pages: directly in simulate mode, by asking the host in
 * virtio mode, by setting the fake CMO hypervisor's wish with cmm (the
 * shim reads it at its next poll).  Does not inflate.
 */
static void request_target(int fd, uint64_t pages)
{
        struct memballoon_state s = state_or_die(fd);

        if (s.transport == MEMBALLOON_TRANSPORT_CMM) {
                fake_set("cmm_target_bytes", "%" PRIu64, pages * page_size);
        } else if (s.transport == MEMBALLOON_TRANSPORT_SIMULATE) {
                long r = sim_set_target(fd, pages);

                REQUIRE(r == 0, "SIM_SET_TARGET %" PRIu64 ": %s", pages, errname(r));
        } else {
                host_wait("target", "%" PRIu64, pages * page_size);
        }
}

static int set_target(int fd, uint64_t pages, struct follow *f)
{
        request_target(fd, pages);
        return follow_until(fd, pages, FOLLOW_TIMEOUT_MS, f);
}

static void print_state(const char *what, int fd)
{
        struct memballoon_state s = state_or_die(fd);

        out("# %s: transport %u target %llu actual %llu totalram %llu oom_freed %llu "
            "oom_nr %llu migrations %llu inflate_failures %llu dropped %llu oom_events %llu "
            "host_features %#llx", what, s.transport,
            (unsigned long long) s.target_pages, (unsigned long long) s.actual_pages,
            (unsigned long long) s.total_ram_pages, (unsigned long long) s.oom_freed_pages,
            (unsigned long long) s.oom_nr_pages, (unsigned long long) s.migrations,
            (unsigned long long) s.inflate_failures, (unsigned long long) s.events_dropped,
            (unsigned long long) s.oom_events, (unsigned long long) s.host_features);
}

/* ------------------------------------------------------------------------ */
/* A tiny kselftest-style harness for the ABI tests                          */

struct test {
        char name[64];
        void (*fn)(const void *arg);
        const void *arg;
};

static struct test tests[256];
static unsigned n_tests;
static int test_failed;

static void test_register(const char *name, void (*fn)(const void *), const void *arg)
{
        if (n_tests >= sizeof(tests) / sizeof(tests[0]))
                abort();
        snprintf(tests[n_tests].name, sizeof(tests[n_tests].name), "%s", name);
        tests[n_tests].fn = fn;
        tests[n_tests].arg = arg;
        n_tests++;
}

#define TEST(name)                                                              \
        static void test_##name(const void *arg);                               \
        __attribute__((constructor)) static void test_register_##name(void)     \
        {                                                                       \
                test_register(#name, test_##name, NULL);                        \
        }                                                                       \
        static void test_##name(const void *arg __attribute__((unused)))

#define EXPECT(cond, fmt, ...)                                                  \
        do {                                                                    \
                if (!(cond)) {                                                  \
                        test_failed++;                                          \
                        out("#   %s:%d: %s: " fmt, BASENAME, __LINE__, #cond,   \
                            ##__VA_ARGS__);                                     \
                }                                                               \
        } while (0)

/* expr returns 0/positive or -errno; want is 0 or -EFOO. */
#define EXPECT_RET(expr, want)                                                  \
        do {                                                                    \
                long _r = (expr), _w = (want);                                  \
                if (_r != _w) {                                                 \
                        test_failed++;                                          \
                        out("#   %s:%d: %s = %s, expected %s", BASENAME,        \
                            __LINE__, #expr, errname(_r), errname(_w));         \
                }                                                               \
        } while (0)

/* Like EXPECT but ends the test. */
#define ASSERT(cond, fmt, ...)                                                  \
        do {                                                                    \
                if (!(cond)) {                                                  \
                        test_failed++;                                          \
                        out("#   %s:%d: %s: " fmt, BASENAME, __LINE__, #cond,   \
                            ##__VA_ARGS__);                                     \
                        return;                                                 \
                }                                                               \
        } while (0)

static int run_tests(void)
{
        unsigned failed = 0;

        out("TAP version 13");
        out("1..%u", n_tests);
        for (unsigned i = 0; i < n_tests; i++) {
                test_failed = 0;
                tests[i].fn(tests[i].arg);
                if (test_failed) {
                        failed++;
                        out("not ok %u %s", i + 1, tests[i].name);
                } else {
                        out("ok %u %s", i + 1, tests[i].name);
                }
        }
        out("# %u tests, %u failed", n_tests, failed);
        out("@@ KV abi_tests=%u abi_failed=%u", n_tests, failed);
        return failed ? 1 : 0;
}

/* ------------------------------------------------------------------------ */
/* ABI tests                                                                 */

/*
 * Every ioctl with its v1 size and a way to fill valid arguments; the
 * generic argsz/flags/mode tests are registered for each of them.
 */
struct ioc {
        const char *name;
        unsigned long cmd;
        uint32_t size;          /* version 1: the smallest argsz accepted */
        uint32_t ksize;         /* what the module knows (0: = size) */
        bool mutating;          /* writer only (-EBADF on O_RDONLY) */
        void (*fill)(void *arg);
        void (*undo)(int fd);   /* undo a successful call */
};

static void fill_batch(void *p)
{
        ((struct memballoon_batch *) p)->nr_pages = 1;
}

static void fill_oom(void *p)
{
        ((struct memballoon_oom *) p)->nr_pages = MEMBALLOON_OOM_DEFAULT_BYTES / page_size;
}

static void undo_inflate(int fd)
{
        struct memballoon_batch b;

        batch(fd, MEMBALLOON_DEFLATE, 1, &b);
}

static const struct ioc iocs[] = {
        { "GET_API", MEMBALLOON_GET_API, sizeof(struct memballoon_api), 0, false, NULL, NULL },
        { "GET_STATE", MEMBALLOON_GET_STATE, MEMBALLOON_STATE_SIZE_V1,
          sizeof(struct memballoon_state), false, NULL, NULL },
        { "INFLATE", MEMBALLOON_INFLATE, sizeof(struct memballoon_batch), 0, true, fill_batch,
          undo_inflate },
        { "DEFLATE", MEMBALLOON_DEFLATE, sizeof(struct memballoon_batch), 0, true, fill_batch,
          NULL },
        { "SET_STATS", MEMBALLOON_SET_STATS, sizeof(struct memballoon_stats), 0, true, NULL,
          NULL },
        { "SET_OOM", MEMBALLOON_SET_OOM, sizeof(struct memballoon_oom), 0, true, fill_oom, NULL },
        { "SIM_SET_TARGET", MEMBALLOON_SIM_SET_TARGET, sizeof(struct memballoon_sim_target), 0,
          true, NULL, NULL },
};

static uint32_t ioc_ksize(const struct ioc *c)
{
        return c->ksize ? c->ksize : c->size;
}
#define N_IOCS (sizeof(iocs) / sizeof(iocs[0]))

/* Bigger than MEMBALLOON_ARGSZ_MAX so any argsz the tests use is readable. */
static uint8_t argbuf[2 * MEMBALLOON_ARGSZ_MAX] __attribute__((aligned(8)));

static void *arg_prep(const struct ioc *c, uint32_t argsz)
{
        memset(argbuf, 0, sizeof(argbuf));
        if (c->fill)
                c->fill(argbuf);
        memcpy(argbuf, &argsz, sizeof(argsz));  /* argsz is always first */
        return argbuf;
}

static void set_flags(uint32_t flags)
{
        memcpy(argbuf + 4, &flags, sizeof(flags));  /* flags is always second */
}

static int writer(void)
{
        int fd = mb_open(O_RDWR | O_NONBLOCK);

        if (fd < 0)
                out("#   open O_RDWR: %s", errname(fd));
        return fd;
}

static void t_valid(const void *a)
{
        const struct ioc *c = a;
        _cleanup_close_ int fd = writer();

        ASSERT(fd >= 0, "no writer");
        EXPECT_RET(xioctl(fd, c->cmd, arg_prep(c, c->size)), 0);
        if (c->undo)
                c->undo(fd);
}

static void t_argsz_too_small(const void *a)
{
        const struct ioc *c = a;
        _cleanup_close_ int fd = writer();

        ASSERT(fd >= 0, "no writer");
        EXPECT_RET(xioctl(fd, c->cmd, arg_prep(c, 0)), -EINVAL);
        EXPECT_RET(xioctl(fd, c->cmd, arg_prep(c, 8)), -EINVAL);
        EXPECT_RET(xioctl(fd, c->cmd, arg_prep(c, c->size - 1)), -EINVAL);
}

static void t_argsz_too_big(const void *a)
{
        const struct ioc *c = a;
        _cleanup_close_ int fd = writer();

        ASSERT(fd >= 0, "no writer");
        EXPECT_RET(xioctl(fd, c->cmd, arg_prep(c, MEMBALLOON_ARGSZ_MAX + 1)), -EINVAL);
        EXPECT_RET(xioctl(fd, c->cmd, arg_prep(c, MEMBALLOON_ARGSZ_MAX + 8)), -EINVAL);
        EXPECT_RET(xioctl(fd, c->cmd, arg_prep(c, UINT32_MAX)), -EINVAL);
}

static void t_argsz_tail_nonzero(const void *a)
{
        const struct ioc *c = a;
        uint32_t k = ioc_ksize(c);
        _cleanup_close_ int fd = writer();

        ASSERT(fd >= 0, "no writer");
        arg_prep(c, k + 8);
        argbuf[k + 7] = 1;
        EXPECT_RET(xioctl(fd, c->cmd, argbuf), -E2BIG);
        arg_prep(c, MEMBALLOON_ARGSZ_MAX);
        argbuf[MEMBALLOON_ARGSZ_MAX - 1] = 0x80;
        EXPECT_RET(xioctl(fd, c->cmd, argbuf), -E2BIG);
        arg_prep(c, k + 1);
        argbuf[k] = 0xff;
        EXPECT_RET(xioctl(fd, c->cmd, argbuf), -E2BIG);
}

static void t_argsz_tail_zero(const void *a)
{
        const struct ioc *c = a;
        _cleanup_close_ int fd = writer();

        ASSERT(fd >= 0, "no writer");
        EXPECT_RET(xioctl(fd, c->cmd, arg_prep(c, ioc_ksize(c) + 8)), 0);
        if (c->undo)
                c->undo(fd);
        EXPECT_RET(xioctl(fd, c->cmd, arg_prep(c, MEMBALLOON_ARGSZ_MAX)), 0);
        if (c->undo)
                c->undo(fd);
}

static void t_flags_unknown(const void *a)
{
        const struct ioc *c = a;
        _cleanup_close_ int fd = writer();

        ASSERT(fd >= 0, "no writer");
        arg_prep(c, c->size);
        set_flags(1);
        EXPECT_RET(xioctl(fd, c->cmd, argbuf), -EINVAL);
        arg_prep(c, c->size);
        set_flags(1U << 31);
        EXPECT_RET(xioctl(fd, c->cmd, argbuf), -EINVAL);
}

/* Mutating calls on an O_RDONLY fd get -EBADF; queries work there. */
static void t_rdonly(const void *a)
{
        const struct ioc *c = a;
        _cleanup_close_ int fd = mb_open(O_RDONLY);

        ASSERT(fd >= 0, "open O_RDONLY: %s", errname(fd));
        EXPECT_RET(xioctl(fd, c->cmd, arg_prep(c, c->size)), c->mutating ? -EBADF : 0);
}

struct reserved_case {
        const char *name;
        const struct ioc *ioc;
        size_t off;             /* offset of the reserved __u32 */
};

static const struct reserved_case reserved_cases[] = {
        { "GET_STATE_reserved0", &iocs[1], offsetof(struct memballoon_state, reserved0) },
        { "GET_STATE_reserved1", &iocs[1], offsetof(struct memballoon_state, reserved1) },
        { "INFLATE_reserved0", &iocs[2], offsetof(struct memballoon_batch, reserved0) },
        { "DEFLATE_reserved0", &iocs[3], offsetof(struct memballoon_batch, reserved0) },
        { "SET_STATS_reserved0", &iocs[4], offsetof(struct memballoon_stats, reserved0) },
        { "SET_STATS_stat_reserved", &iocs[4],
          offsetof(struct memballoon_stats, stats[0].reserved) },
};

static void t_reserved(const void *a)
{
        const struct reserved_case *rc = a;
        _cleanup_close_ int fd = writer();
        uint32_t one = 1;

        ASSERT(fd >= 0, "no writer");
        arg_prep(rc->ioc, ioc_ksize(rc->ioc));
        if (rc->ioc->cmd == MEMBALLOON_SET_STATS) {
                /* One valid entry so stats[0] is in use. */
                struct memballoon_stats *st = (void *) argbuf;

                st->nr_stats = 1;
                st->stats[0].tag = MEMBALLOON_S_MEMFREE;
                st->stats[0].val = 1;
        }
        memcpy(argbuf + rc->off, &one, sizeof(one));
        EXPECT_RET(xioctl(fd, rc->ioc->cmd, argbuf), -EINVAL);
        one = 0x80000000;
        memcpy(argbuf + rc->off, &one, sizeof(one));
        EXPECT_RET(xioctl(fd, rc->ioc->cmd, argbuf), -EINVAL);
}

__attribute__((constructor)) static void register_generic_tests(void)
{
        static const struct {
                const char *suffix;
                void (*fn)(const void *);
        } kinds[] = {
                { "valid", t_valid },
                { "argsz_too_small", t_argsz_too_small },
                { "argsz_too_big", t_argsz_too_big },
                { "argsz_tail_nonzero", t_argsz_tail_nonzero },
                { "argsz_tail_zero", t_argsz_tail_zero },
                { "flags_unknown", t_flags_unknown },
                { "rdonly_fd", t_rdonly },
        };
        char name[64];

        for (size_t i = 0; i < N_IOCS; i++)
                for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
                        snprintf(name, sizeof(name), "%s_%s", iocs[i].name, kinds[k].suffix);
                        test_register(name, kinds[k].fn, &iocs[i]);
                }
        for (size_t i = 0; i < sizeof(reserved_cases) / sizeof(reserved_cases[0]); i++)
                test_register(reserved_cases[i].name, t_reserved, &reserved_cases[i]);
}

TEST(get_api_sanity)
{
        _cleanup_close_ int fd = mb_open(O_RDONLY);
        struct memballoon_api a;

        ASSERT(fd >= 0, "open: %s", errname(fd));
        EXPECT_RET(get_api(fd, &a), 0);
        EXPECT(a.argsz == sizeof(a), "argsz %u", a.argsz);
        EXPECT(a.flags == 0, "flags %u", a.flags);
        EXPECT(a.api_version == MEMBALLOON_API_VERSION, "api_version %u", a.api_version);
        EXPECT(a.page_size == (uint32_t) sysconf(_SC_PAGESIZE), "page_size %u", a.page_size);
        /* Bits 0..6: the seven ioctls of version 1. */
        EXPECT((a.ioctls & 0x7f) == 0x7f, "ioctls %#llx", (unsigned long long) a.ioctls);
        EXPECT(a.event_size == sizeof(struct memballoon_event), "event_size %u", a.event_size);
        EXPECT(a.max_batch_pages >= 1, "max_batch_pages %u", a.max_batch_pages);
        EXPECT(a.features & MEMBALLOON_FEAT_SIMULATE, "features %#llx",
               (unsigned long long) a.features);
        out("#   api: features %#llx ioctls %#llx max_batch_pages %u",
            (unsigned long long) a.features, (unsigned long long) a.ioctls, a.max_batch_pages);
}

TEST(get_state_simulate)
{
        _cleanup_close_ int fd = mb_open(O_RDONLY);
        struct memballoon_state s;
        uint64_t memtotal;

        ASSERT(fd >= 0, "open: %s", errname(fd));
        EXPECT_RET(get_state(fd, &s), 0);
        memtotal = meminfo_kb("MemTotal");
        EXPECT(s.transport == MEMBALLOON_TRANSPORT_SIMULATE, "transport %u", s.transport);
        EXPECT(s.reserved0 == 0, "reserved0 %u", s.reserved0);
        EXPECT(s.host_features == 0, "host_features %#llx", (unsigned long long) s.host_features);
        EXPECT(s.actual_pages == 0, "actual %llu", (unsigned long long) s.actual_pages);
        EXPECT(s.total_ram_pages * page_size / 1024 == memtotal,
               "total_ram_pages %llu vs MemTotal %llu kB",
               (unsigned long long) s.total_ram_pages, (unsigned long long) memtotal);
        EXPECT(s.oom_nr_pages == MEMBALLOON_OOM_DEFAULT_BYTES / page_size,
               "oom_nr_pages %llu", (unsigned long long) s.oom_nr_pages);
}

TEST(unknown_command)
{
        _cleanup_close_ int fd = writer();
        struct memballoon_api a = { .argsz = sizeof(a) };
        uint64_t small = 0;

        ASSERT(fd >= 0, "no writer");
        EXPECT_RET(xioctl(fd, _IOWR(MEMBALLOON_IOC_MAGIC, 0x07, struct memballoon_api), &a),
                   -ENOTTY);
        EXPECT_RET(xioctl(fd, _IOWR(MEMBALLOON_IOC_MAGIC, 0xff, struct memballoon_api), &a),
                   -ENOTTY);
        EXPECT_RET(xioctl(fd, _IOWR(MEMBALLOON_IOC_MAGIC + 1, 0x00, struct memballoon_api), &a),
                   -ENOTTY);
        /* Same number, different size or direction: a different command. */
        EXPECT_RET(xioctl(fd, _IOWR(MEMBALLOON_IOC_MAGIC, 0x00, uint64_t), &small), -ENOTTY);
        EXPECT_RET(xioctl(fd, _IO(MEMBALLOON_IOC_MAGIC, 0x00), &a), -ENOTTY);
        EXPECT_RET(xioctl(fd, 0, NULL), -ENOTTY);
}

TEST(second_writer_busy)
{
        _cleanup_close_ int w1 = writer(), r1 = mb_open(O_RDONLY);
        int w2, r2;

        ASSERT(w1 >= 0, "no writer");
        EXPECT(r1 >= 0, "reader next to the writer: %s", errname(r1));
        EXPECT_RET(w2 = mb_open(O_RDWR), -EBUSY);
        if (w2 >= 0)
                close(w2);
        EXPECT_RET(w2 = mb_open(O_WRONLY), -EBUSY);
        if (w2 >= 0)
                close(w2);
        r2 = mb_open(O_RDONLY);
        EXPECT(r2 >= 0, "second reader: %s", errname(r2));
        if (r2 >= 0)
                close(r2);
        close(w1);
        w1 = -1;
        w2 = mb_open(O_RDWR);
        EXPECT(w2 >= 0, "writer after the first closed: %s", errname(w2));
        if (w2 >= 0)
                close(w2);
}

/* Child: drop privileges by @how, open both ways, exit with a bitmask. */
static int unpriv_child(int how)
{
        int r, bad = 0;

        if (how == 0) {
                if (setgroups(0, NULL) || setgid(65534) || setuid(65534))
                        return 100;
        } else {
                /* Stay uid 0 but drop CAP_SYS_ADMIN from every set. */
                struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
                struct __user_cap_data_struct d[2];

                if (syscall(SYS_capget, &h, d))
                        return 101;
                d[CAP_SYS_ADMIN / 32].effective &= ~(1U << (CAP_SYS_ADMIN % 32));
                d[CAP_SYS_ADMIN / 32].permitted &= ~(1U << (CAP_SYS_ADMIN % 32));
                d[CAP_SYS_ADMIN / 32].inheritable &= ~(1U << (CAP_SYS_ADMIN % 32));
                if (syscall(SYS_capset, &h, d))
                        return 102;
        }
        r = mb_open(O_RDONLY);
        if (r != -EPERM) {
                out("#   unprivileged O_RDONLY open: %s, expected -EPERM", errname(r));
                bad |= 1;
        }
        r = mb_open(O_RDWR);
        if (r != -EPERM) {
                out("#   unprivileged O_RDWR open: %s, expected -EPERM", errname(r));
                bad |= 2;
        }
        return bad;
}

static void expect_unpriv(int how)
{
        struct stat st;
        pid_t pid;
        int status;

        ASSERT(stat(DEV_PATH, &st) == 0, "stat: %m");
        /* Let file permissions pass so the driver's own check is tested. */
        ASSERT(chmod(DEV_PATH, 0666) == 0, "chmod: %m");
        pid = fork();
        if (pid == 0)
                _exit(unpriv_child(how));
        ASSERT(pid > 0, "fork: %m");
        waitpid(pid, &status, 0);
        chmod(DEV_PATH, st.st_mode & 07777);
        EXPECT(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %#x", status);
}

TEST(open_unprivileged_uid_nobody)
{
        expect_unpriv(0);
}

TEST(open_root_without_cap_sys_admin)
{
        expect_unpriv(1);
}

TEST(read_rdonly_fd)
{
        _cleanup_close_ int fd = mb_open(O_RDONLY | O_NONBLOCK);
        struct memballoon_event ev;

        ASSERT(fd >= 0, "open: %s", errname(fd));
        EXPECT_RET(xread(fd, &ev, sizeof(ev)), -EBADF);
}

TEST(read_buffer_too_small)
{
        _cleanup_close_ int fd = writer();
        struct memballoon_event ev[2];

        ASSERT(fd >= 0, "no writer");
        EXPECT_RET(xread(fd, ev, sizeof(ev[0]) - 1), -EINVAL);
        EXPECT_RET(xread(fd, ev, 1), -EINVAL);
        EXPECT_RET(xread(fd, ev, 0), -EINVAL);
}

TEST(read_nonblock_empty)
{
        _cleanup_close_ int fd = writer();
        struct memballoon_event ev;

        ASSERT(fd >= 0, "no writer");
        drain_events(fd, NULL);
        EXPECT_RET(xread(fd, &ev, sizeof(ev)), -EAGAIN);
}

TEST(inflate_deflate_nr_pages_zero)
{
        _cleanup_close_ int fd = writer();
        struct memballoon_batch b;

        ASSERT(fd >= 0, "no writer");
        EXPECT_RET(batch(fd, MEMBALLOON_INFLATE, 0, &b), -EINVAL);
        EXPECT_RET(batch(fd, MEMBALLOON_DEFLATE, 0, &b), -EINVAL);
}

TEST(inflate_deflate_above_max_batch)
{
        _cleanup_close_ int fd = writer();
        struct memballoon_batch b;

        ASSERT(fd >= 0, "no writer");
        EXPECT_RET(batch(fd, MEMBALLOON_INFLATE, (uint64_t) api.max_batch_pages + 1, &b), -EINVAL);
        EXPECT_RET(batch(fd, MEMBALLOON_DEFLATE, (uint64_t) api.max_batch_pages + 1, &b), -EINVAL);
        EXPECT_RET(batch(fd, MEMBALLOON_INFLATE, UINT64_MAX, &b), -EINVAL);
        EXPECT_RET(batch(fd, MEMBALLOON_INFLATE, 1ULL << 32, &b), -EINVAL);
}

/* An argument the shim cannot write its result into: -EFAULT, and no
 * page moved (the step is not taken and then reported as a failure). */
TEST(inflate_deflate_readonly_arg)
{
        _cleanup_close_ int fd = writer();
        struct memballoon_state s0, s1;
        struct memballoon_batch *ro;
        uint64_t m0 = meminfo_kb("MemTotal");

        ASSERT(fd >= 0, "no writer");
        ro = mmap(NULL, page_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        ASSERT(ro != MAP_FAILED, "mmap: %s", strerror(errno));
        memset(ro, 0, sizeof(*ro));
        ro->argsz = sizeof(*ro);
        ro->nr_pages = 16;
        ASSERT(mprotect(ro, page_size, PROT_READ) == 0, "mprotect: %s", strerror(errno));
        ASSERT(get_state(fd, &s0) == 0, "GET_STATE");
        EXPECT_RET(xioctl(fd, MEMBALLOON_INFLATE, ro), -EFAULT);
        ASSERT(get_state(fd, &s1) == 0, "GET_STATE");
        EXPECT(s1.actual_pages == s0.actual_pages, "INFLATE moved %lld pages before its -EFAULT",
               (long long) (s1.actual_pages - s0.actual_pages));
        EXPECT(meminfo_kb("MemTotal") == m0, "MemTotal changed");
        ASSERT(mprotect(ro, page_size, PROT_READ | PROT_WRITE) == 0, "mprotect: %s", strerror(errno));
        EXPECT_RET(xioctl(fd, MEMBALLOON_INFLATE, ro), 0);
        EXPECT(ro->done_pages == 16, "done %llu", (unsigned long long) ro->done_pages);
        ro->argsz = sizeof(*ro);
        ro->flags = 0;
        ro->nr_pages = 16;
        ro->reserved0 = 0;
        ASSERT(mprotect(ro, page_size, PROT_READ) == 0, "mprotect: %s", strerror(errno));
        EXPECT_RET(xioctl(fd, MEMBALLOON_DEFLATE, ro), -EFAULT);
        ASSERT(get_state(fd, &s1) == 0, "GET_STATE");
        EXPECT(s1.actual_pages == s0.actual_pages + 16, "DEFLATE moved pages before its -EFAULT: "
               "actual %llu, want %llu", (unsigned long long) s1.actual_pages,
               (unsigned long long) (s0.actual_pages + 16));
        ASSERT(mprotect(ro, page_size, PROT_READ | PROT_WRITE) == 0, "mprotect: %s", strerror(errno));
        EXPECT_RET(xioctl(fd, MEMBALLOON_DEFLATE, ro), 0);
        EXPECT(meminfo_kb("MemTotal") == m0, "MemTotal not restored");
        munmap(ro, page_size);
}

TEST(inflate_deflate_batch_results)
{
        _cleanup_close_ int fd = writer();
        struct memballoon_batch b;
        uint64_t m0 = meminfo_kb("MemTotal");
        /* A full batch, but no more than 256 MiB (64 KiB pages: 4 GiB). */
        uint64_t n = api.max_batch_pages;

        if (n * page_size > 256 * MIB)
                n = 256 * MIB / page_size;

        ASSERT(fd >= 0, "no writer");
        EXPECT_RET(batch(fd, MEMBALLOON_INFLATE, n, &b), 0);
        EXPECT(b.done_pages == n && b.actual_pages == n &&
               b.stop_reason == MEMBALLOON_STOP_DONE && b.reserved0 == 0,
               "done %llu actual %llu stop %u", (unsigned long long) b.done_pages,
               (unsigned long long) b.actual_pages, b.stop_reason);
        EXPECT(m0 - meminfo_kb("MemTotal") == n * page_size / 1024,
               "MemTotal dropped by %llu kB", (unsigned long long) (m0 - meminfo_kb("MemTotal")));
        EXPECT_RET(batch(fd, MEMBALLOON_DEFLATE, n, &b), 0);
        EXPECT(b.done_pages == n && b.actual_pages == 0 &&
               b.stop_reason == MEMBALLOON_STOP_DONE, "done %llu actual %llu stop %u",
               (unsigned long long) b.done_pages, (unsigned long long) b.actual_pages,
               b.stop_reason);
        EXPECT_RET(batch(fd, MEMBALLOON_DEFLATE, 1, &b), 0);
        EXPECT(b.done_pages == 0 && b.stop_reason == MEMBALLOON_STOP_EMPTY,
               "deflate on empty: done %llu stop %u", (unsigned long long) b.done_pages,
               b.stop_reason);
        EXPECT(meminfo_kb("MemTotal") == m0, "MemTotal not restored");
}

static long set_stats(int fd, struct memballoon_stats *st)
{
        st->argsz = sizeof(*st);
        return xioctl(fd, MEMBALLOON_SET_STATS, st);
}

TEST(set_stats_bad_tag)
{
        _cleanup_close_ int fd = writer();
        struct memballoon_stats st = { .nr_stats = 1 };

        ASSERT(fd >= 0, "no writer");
        st.stats[0].tag = MEMBALLOON_S_NR;
        EXPECT_RET(set_stats(fd, &st), -EINVAL);
        st.stats[0].tag = UINT32_MAX;
        EXPECT_RET(set_stats(fd, &st), -EINVAL);
}

TEST(set_stats_duplicate_tag)
{
        _cleanup_close_ int fd = writer();
        struct memballoon_stats st = { .nr_stats = 3 };

        ASSERT(fd >= 0, "no writer");
        st.stats[0].tag = MEMBALLOON_S_MEMFREE;
        st.stats[1].tag = MEMBALLOON_S_MEMTOT;
        st.stats[2].tag = MEMBALLOON_S_MEMFREE;
        EXPECT_RET(set_stats(fd, &st), -EINVAL);
}

TEST(set_stats_too_many)
{
        _cleanup_close_ int fd = writer();
        struct memballoon_stats st = { .nr_stats = MEMBALLOON_MAX_STATS + 1 };

        ASSERT(fd >= 0, "no writer");
        EXPECT_RET(set_stats(fd, &st), -EINVAL);
        st.nr_stats = UINT32_MAX;
        EXPECT_RET(set_stats(fd, &st), -EINVAL);
}

TEST(set_stats_unused_entry_nonzero)
{
        _cleanup_close_ int fd = writer();
        struct memballoon_stats st = { .nr_stats = 1 };

        ASSERT(fd >= 0, "no writer");
        st.stats[0].tag = MEMBALLOON_S_MEMFREE;
        st.stats[1].val = 5;
        EXPECT_RET(set_stats(fd, &st), -EINVAL);
}

/*
 * A version-1 caller (argsz 96) gets exactly 96 bytes back: the bytes after
 * them are not written.  A version-2 caller gets the new fields.
 */
TEST(get_state_v1_and_v2_callers)
{
        _cleanup_close_ int fd = mb_open(O_RDONLY);
        struct memballoon_state v2;
        uint8_t buf[sizeof(struct memballoon_state) + 64];
        struct memballoon_state *v1 = (void *) buf;

        ASSERT(fd >= 0, "open: %s", errname(fd));
        memset(buf, 0, sizeof(buf));
        memset(buf + MEMBALLOON_STATE_SIZE_V1, 0xa5, sizeof(buf) - MEMBALLOON_STATE_SIZE_V1);
        v1->argsz = MEMBALLOON_STATE_SIZE_V1;
        /* The tail past argsz is not the module's business: 0xa5 is fine. */
        EXPECT_RET(xioctl(fd, MEMBALLOON_GET_STATE, buf), 0);
        for (size_t i = MEMBALLOON_STATE_SIZE_V1; i < sizeof(buf); i++)
                if (buf[i] != 0xa5) {
                        EXPECT(false, "byte %zu past a v1 argsz written (%#x)", i, buf[i]);
                        break;
                }
        EXPECT(v1->transport == MEMBALLOON_TRANSPORT_SIMULATE, "v1 transport %u", v1->transport);
        EXPECT(v1->total_ram_pages > 0, "v1 total_ram_pages 0");
        EXPECT_RET(get_state(fd, &v2), 0);
        EXPECT(v2.argsz == sizeof(v2), "argsz %u", v2.argsz);
        EXPECT(v2.transport == v1->transport && v2.oom_nr_pages == v1->oom_nr_pages,
               "v1 and v2 disagree");
        EXPECT(v2.reserved1 == 0, "reserved1 %u", v2.reserved1);
        /*
         * Simulate mode: loaned pages leave MemTotal; no host to break; no
         * host's consent needed to take pages back.
         */
        EXPECT(v2.state_flags == MEMBALLOON_STATE_F_DEFLATE_BELOW_TARGET,
               "state_flags %#x", v2.state_flags);
        EXPECT(v2.stats_requests == 0 && v2.stats_late == 0 && v2.oom_busy == 0,
               "counters %llu %llu %llu", (unsigned long long) v2.stats_requests,
               (unsigned long long) v2.stats_late, (unsigned long long) v2.oom_busy);
}

/*
 * A version-2 caller (argsz 128) gets nothing past oom_busy; a version-3
 * caller gets the transport's facts.  Simulate mode: the unit is the
 * kernel's page, no flags, no resets, nothing refused.  Only a transport
 * that looked for its hypervisor can have declined: on amd64 the vmware
 * one (not VMware: ABSENT), on pSeries the cmm one, else none.
 */
TEST(get_state_v2_and_v3_callers)
{
        _cleanup_close_ int fd = mb_open(O_RDONLY);
        struct memballoon_state v3;
        uint8_t buf[sizeof(struct memballoon_state) + 64];
        struct memballoon_state *v2 = (void *) buf;

        ASSERT(fd >= 0, "open: %s", errname(fd));
        memset(buf, 0, sizeof(buf));
        memset(buf + MEMBALLOON_STATE_SIZE_V2, 0xa5, sizeof(buf) - MEMBALLOON_STATE_SIZE_V2);
        v2->argsz = MEMBALLOON_STATE_SIZE_V2;
        EXPECT_RET(xioctl(fd, MEMBALLOON_GET_STATE, buf), 0);
        for (size_t i = MEMBALLOON_STATE_SIZE_V2; i < sizeof(buf); i++)
                if (buf[i] != 0xa5) {
                        EXPECT(false, "byte %zu past a v2 argsz written (%#x)", i, buf[i]);
                        break;
                }
        EXPECT_RET(get_state(fd, &v3), 0);
        EXPECT(v3.transport == v2->transport && v3.state_flags == v2->state_flags,
               "v2 and v3 disagree");
        EXPECT(v3.host_page_size == (uint32_t) sysconf(_SC_PAGESIZE), "host_page_size %u",
               v3.host_page_size);
        EXPECT(v3.transport_flags == 0 && v3.host_resets == 0 && v3.refused_pages == 0,
               "flags %#llx resets %llu refused %llu", (unsigned long long) v3.transport_flags,
               (unsigned long long) v3.host_resets, (unsigned long long) v3.refused_pages);
        EXPECT(v3.declined_transport == 0 ||
               v3.declined_transport == MEMBALLOON_TRANSPORT_CMM ||
               v3.declined_transport == MEMBALLOON_TRANSPORT_VMWARE,
               "declined_transport %u", v3.declined_transport);
        EXPECT((v3.declined_transport == 0) == (v3.declined_reason == 0),
               "declined_transport %u, reason %u", v3.declined_transport, v3.declined_reason);
}

/*
 * GET_STATE's number: the header's (version-1 size), the one builds before
 * STATE_V3 used (version-2 size), and the whole current struct's all reach
 * it; argsz decides what is filled.  A size field below version 1's, or
 * another direction, is an unknown command.
 */
TEST(get_state_numbers)
{
        _cleanup_close_ int fd = mb_open(O_RDONLY);
        const unsigned long rw = _IOC_READ | _IOC_WRITE;
        const unsigned long nums[] = {
                MEMBALLOON_GET_STATE,
                _IOC(rw, MEMBALLOON_IOC_MAGIC, 0x01, MEMBALLOON_STATE_SIZE_V2),
                _IOC(rw, MEMBALLOON_IOC_MAGIC, 0x01, sizeof(struct memballoon_state)),
        };
        struct memballoon_state st;

        ASSERT(fd >= 0, "open: %s", errname(fd));
        EXPECT(_IOC_SIZE(MEMBALLOON_GET_STATE) == MEMBALLOON_STATE_SIZE_V1,
               "the header's GET_STATE encodes size %u", (unsigned) _IOC_SIZE(MEMBALLOON_GET_STATE));
        for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
                memset(&st, 0, sizeof(st));
                st.argsz = sizeof(st);
                EXPECT_RET(xioctl(fd, nums[i], &st), 0);
                EXPECT(st.host_page_size != 0, "number %#lx: v3 fields not filled", nums[i]);
        }
        memset(&st, 0, sizeof(st));
        st.argsz = sizeof(st);
        EXPECT_RET(xioctl(fd, _IOC(rw, MEMBALLOON_IOC_MAGIC, 0x01, MEMBALLOON_STATE_SIZE_V1 - 8), &st),
                   -ENOTTY);
        EXPECT_RET(xioctl(fd, _IOC(_IOC_READ, MEMBALLOON_IOC_MAGIC, 0x01, MEMBALLOON_STATE_SIZE_V1), &st),
                   -ENOTTY);
        EXPECT_RET(xioctl(fd, _IOC(rw, MEMBALLOON_IOC_MAGIC + 1, 0x01, MEMBALLOON_STATE_SIZE_V1), &st),
                   -ENOTTY);
}

TEST(get_api_v2_features)
{
        _cleanup_close_ int fd = mb_open(O_RDONLY);
        struct memballoon_api a;
        const uint64_t want = MEMBALLOON_FEAT_STATE_V2 | MEMBALLOON_FEAT_STATS_16 |
                              MEMBALLOON_FEAT_STATS_HOLD | MEMBALLOON_FEAT_STATE_V3;

        ASSERT(fd >= 0, "open: %s", errname(fd));
        EXPECT_RET(get_api(fd, &a), 0);
        EXPECT((a.features & want) == want, "features %#llx", (unsigned long long) a.features);
}

/* A version-1 caller's stats (tags 0..9 only) are still accepted. */
TEST(set_stats_v1_tags)
{
        _cleanup_close_ int fd = writer();
        struct memballoon_stats st = { .nr_stats = MEMBALLOON_S_NR_V1 };

        ASSERT(fd >= 0, "no writer");
        for (unsigned i = 0; i < MEMBALLOON_S_NR_V1; i++) {
                st.stats[i].tag = i;
                st.stats[i].val = i * 3;
        }
        EXPECT_RET(set_stats(fd, &st), 0);
        st.nr_stats = 1;
        memset(st.stats, 0, sizeof(st.stats));
        st.stats[0].tag = MEMBALLOON_S_DIRECT_RECLAIMS;
        EXPECT_RET(set_stats(fd, &st), 0);
}

TEST(set_stats_all_tags)
{
        _cleanup_close_ int fd = writer();
        struct memballoon_stats st = { .nr_stats = MEMBALLOON_S_NR };

        ASSERT(fd >= 0, "no writer");
        for (unsigned i = 0; i < MEMBALLOON_S_NR; i++) {
                st.stats[i].tag = MEMBALLOON_S_NR - 1 - i;
                st.stats[i].val = i;
        }
        EXPECT_RET(set_stats(fd, &st), 0);
        st.nr_stats = 0;
        memset(st.stats, 0, sizeof(st.stats));
        EXPECT_RET(set_stats(fd, &st), 0);
}

static long set_oom(int fd, uint64_t pages)
{
        struct memballoon_oom o = { .argsz = sizeof(o), .nr_pages = pages };

        return xioctl(fd, MEMBALLOON_SET_OOM, &o);
}

TEST(set_oom_above_max)
{
        _cleanup_close_ int fd = writer();
        uint64_t max = MEMBALLOON_OOM_MAX_BYTES / page_size;
        struct memballoon_state s;

        ASSERT(fd >= 0, "no writer");
        EXPECT_RET(set_oom(fd, max + 1), -EINVAL);
        EXPECT_RET(set_oom(fd, UINT64_MAX), -EINVAL);
        EXPECT_RET(set_oom(fd, max), 0);
        EXPECT_RET(get_state(fd, &s), 0);
        EXPECT(s.oom_nr_pages == max, "oom_nr_pages %llu", (unsigned long long) s.oom_nr_pages);
        EXPECT_RET(set_oom(fd, 0), 0);
        EXPECT_RET(get_state(fd, &s), 0);
        EXPECT(s.oom_nr_pages == 0, "oom_nr_pages %llu", (unsigned long long) s.oom_nr_pages);
        EXPECT_RET(set_oom(fd, MEMBALLOON_OOM_DEFAULT_BYTES / page_size), 0);
}

TEST(sim_set_target_above_ram)
{
        _cleanup_close_ int fd = writer();
        struct memballoon_state s;
        uint64_t ram;

        ASSERT(fd >= 0, "no writer");
        EXPECT_RET(get_state(fd, &s), 0);
        ram = s.total_ram_pages + s.actual_pages;
        EXPECT_RET(sim_set_target(fd, ram + 1), -EINVAL);
        EXPECT_RET(sim_set_target(fd, UINT64_MAX), -EINVAL);
        EXPECT_RET(sim_set_target(fd, ram), 0);
        EXPECT_RET(sim_set_target(fd, 0), 0);
        drain_events(fd, NULL);
}

TEST(events_target_poll_and_coalesce)
{
        _cleanup_close_ int fd = writer();
        struct memballoon_event ev[4];
        struct pollfd p;
        uint64_t t0 = now_ns();
        long r;

        ASSERT(fd >= 0, "no writer");
        drain_events(fd, NULL);
        p = (struct pollfd) { .fd = fd, .events = POLLIN };
        EXPECT(poll(&p, 1, 0) == 0, "POLLIN with nothing queued (revents %#x)", p.revents);
        EXPECT_RET(sim_set_target(fd, 100), 0);
        EXPECT_RET(sim_set_target(fd, 200), 0);
        p.revents = 0;
        EXPECT(poll(&p, 1, 1000) == 1 && (p.revents & POLLIN), "no POLLIN after a target");
        r = xread(fd, ev, sizeof(ev));
        ASSERT(r == (long) sizeof(ev[0]), "read %s (expected one coalesced event)", errname(r));
        EXPECT(ev[0].type == MEMBALLOON_EVENT_TARGET && ev[0].value == 200 &&
               ev[0].reserved == 0, "type %u value %llu", ev[0].type,
               (unsigned long long) ev[0].value);
        EXPECT(ev[0].time_ns >= t0 && ev[0].time_ns <= now_ns(), "time_ns not CLOCK_MONOTONIC");
        EXPECT_RET(sim_set_target(fd, 0), 0);
        r = xread(fd, ev, sizeof(ev));
        ASSERT(r == (long) sizeof(ev[0]), "read %s", errname(r));
        EXPECT(ev[0].value == 0, "value %llu", (unsigned long long) ev[0].value);
}

TEST(state_survives_writer_close)
{
        struct memballoon_batch b;
        struct memballoon_state s;
        int fd = writer();

        ASSERT(fd >= 0, "no writer");
        EXPECT_RET(batch(fd, MEMBALLOON_INFLATE, 3, &b), 0);
        close(fd);
        fd = writer();
        ASSERT(fd >= 0, "no writer");
        EXPECT_RET(get_state(fd, &s), 0);
        EXPECT(s.actual_pages == 3, "actual %llu after reopen",
               (unsigned long long) s.actual_pages);
        EXPECT_RET(batch(fd, MEMBALLOON_DEFLATE, 3, &b), 0);
        close(fd);
}

TEST(writer_released_when_process_exits)
{
        pid_t pid = fork();
        int status, fd;

        ASSERT(pid >= 0, "fork: %m");
        if (pid == 0) {
                int w = mb_open(O_RDWR);

                _exit(w >= 0 ? 0 : 1);  /* exit without close() */
        }
        waitpid(pid, &status, 0);
        EXPECT(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child could not open");
        fd = mb_open(O_RDWR);
        EXPECT(fd >= 0, "writer after the child died: %s", errname(fd));
        if (fd >= 0)
                close(fd);
}

/*
 * SIGKILL a writer in the middle of a big INFLATE: the call stops
 * (STOP_SIGNAL inside the kernel), and the balloon's count still matches
 * what left MemTotal.
 */
TEST(inflate_killed_writer_consistent)
{
        uint64_t m0 = meminfo_kb("MemTotal"), m1;
        struct memballoon_state s;
        struct memballoon_batch b;
        pid_t pid;
        int fd, status;

        pid = fork();
        ASSERT(pid >= 0, "fork: %m");
        if (pid == 0) {
                int w = mb_open(O_RDWR);
                struct memballoon_batch cb;

                if (w < 0)
                        _exit(1);
                for (;;)
                        batch(w, MEMBALLOON_INFLATE, api.max_batch_pages, &cb);
        }
        usleep(300000);
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        EXPECT(WIFSIGNALED(status), "child status %#x", status);
        fd = writer();
        ASSERT(fd >= 0, "no writer after the kill");
        EXPECT_RET(get_state(fd, &s), 0);
        m1 = meminfo_kb("MemTotal");
        out("#   killed writer left %llu pages", (unsigned long long) s.actual_pages);
        EXPECT(s.actual_pages > 0, "nothing inflated in 300 ms");
        EXPECT((m0 - m1) == s.actual_pages * page_size / 1024,
               "MemTotal dropped %llu kB, actual %llu pages", (unsigned long long) (m0 - m1),
               (unsigned long long) s.actual_pages);
        while (s.actual_pages > 0) {
                uint64_t n = s.actual_pages < api.max_batch_pages ? s.actual_pages :
                             api.max_batch_pages;

                EXPECT_RET(batch(fd, MEMBALLOON_DEFLATE, n, &b), 0);
                if (b.done_pages == 0)
                        break;
                s.actual_pages = b.actual_pages;
        }
        EXPECT(meminfo_kb("MemTotal") == m0, "MemTotal not restored");
        close(fd);
}

static int cmd_abi(void)
{
        _cleanup_close_ int fd = mb_open(O_RDONLY);
        long r;

        REQUIRE(fd >= 0, "open %s: %s", DEV_PATH, errname(fd));
        r = get_api(fd, &api);
        REQUIRE(r == 0, "GET_API: %s", errname(r));
        page_size = api.page_size ? api.page_size : 4096;
        return run_tests();
}

/* ------------------------------------------------------------------------ */
/* Scenarios                                                                 */

static int cmd_simulate(void)
{
        int fd = open_writer();
        struct memballoon_state s = state_or_die(fd);
        uint64_t pages = 256 * MIB / page_size, m0, m1;
        struct follow f = {};

        REQUIRE(s.transport == MEMBALLOON_TRANSPORT_SIMULATE, "transport %u", s.transport);
        m0 = meminfo_kb("MemTotal");
        CHECK(set_target(fd, pages, &f) == 0, "inflate to 256 MiB");
        m1 = meminfo_kb("MemTotal");
        CHECK(m0 - m1 == 256 * 1024, "MemTotal %llu -> %llu kB", (unsigned long long) m0,
              (unsigned long long) m1);
        s = state_or_die(fd);
        CHECK(s.actual_pages == pages && s.target_pages == pages, "actual %llu target %llu",
              (unsigned long long) s.actual_pages, (unsigned long long) s.target_pages);
        CHECK(s.total_ram_pages * page_size / 1024 == m1, "total_ram_pages %llu",
              (unsigned long long) s.total_ram_pages);
        CHECK(ev_count[MEMBALLOON_EVENT_TARGET] >= 1 &&
              ev_last_value[MEMBALLOON_EVENT_TARGET] == pages, "TARGET events %u last %llu",
              ev_count[MEMBALLOON_EVENT_TARGET],
              (unsigned long long) ev_last_value[MEMBALLOON_EVENT_TARGET]);
        out("@@ KV inflate_ms=%llu ioctls=%u", (unsigned long long) f.inflate_ns / 1000000,
            f.ioctls);

        /* The balloon stays when the writer closes; a new one resyncs. */
        close(fd);
        CHECK(meminfo_kb("MemTotal") == m1, "MemTotal changed on close");
        fd = open_writer();
        s = state_or_die(fd);
        CHECK(s.actual_pages == pages, "actual %llu after reopen",
              (unsigned long long) s.actual_pages);

        CHECK(set_target(fd, 0, &f) == 0, "deflate to 0");
        CHECK(meminfo_kb("MemTotal") == m0, "MemTotal %llu kB, expected %llu",
              (unsigned long long) meminfo_kb("MemTotal"), (unsigned long long) m0);
        s = state_or_die(fd);
        CHECK(s.actual_pages == 0, "actual %llu", (unsigned long long) s.actual_pages);
        out("@@ KV deflate_ms=%llu", (unsigned long long) f.deflate_ns / 1000000);
        close(fd);
        return n_errors ? 1 : 0;
}

/* Touch most of free memory so it is resident on the host. */
static void touch_free(uint64_t leave_mib)
{
        uint64_t avail = meminfo_kb("MemAvailable") * 1024;
        uint64_t bytes = avail > (leave_mib + 64) * MIB ? avail - leave_mib * MIB : 64 * MIB;
        int r;

        bytes &= ~(MIB - 1);
        r = touch_mem(bytes, false);
        CHECK(r == 0, "touch %llu MiB: %s", (unsigned long long) (bytes / MIB), errname(r));
        out("# touched %llu MiB", (unsigned long long) (bytes / MIB));
}

static int cmd_roundtrip(void)
{
        int fd = open_writer();
        struct memballoon_state s = state_or_die(fd);
        uint64_t pages = 512 * MIB / page_size, m0, m1, t0;
        struct follow fi = {}, fd_ = {};
        long r;

        REQUIRE(s.transport == MEMBALLOON_TRANSPORT_VIRTIO, "transport %u", s.transport);
        CHECK(s.host_features & (1ULL << MEMBALLOON_HOST_F_STATS_VQ),
              "host_features %#llx lack STATS_VQ", (unsigned long long) s.host_features);
        CHECK(s.target_pages == 0 && s.actual_pages == 0, "target %llu actual %llu at start",
              (unsigned long long) s.target_pages, (unsigned long long) s.actual_pages);
        r = sim_set_target(fd, 1);
        CHECK(r == -EOPNOTSUPP, "SIM_SET_TARGET with a device: %s", errname(r));
        m0 = meminfo_kb("MemTotal");
        touch_free(64);
        host_wait("touched", NULL);
        t0 = now_ns();
        CHECK(follow_until(fd, ANY_TARGET, FOLLOW_TIMEOUT_MS, &fi) == 0, "inflate");
        s = state_or_die(fd);
        CHECK(s.target_pages == pages && s.actual_pages == pages, "target %llu actual %llu",
              (unsigned long long) s.target_pages, (unsigned long long) s.actual_pages);
        m1 = meminfo_kb("MemTotal");
        CHECK(m0 - m1 == 512 * 1024, "MemTotal %llu -> %llu kB", (unsigned long long) m0,
              (unsigned long long) m1);
        out("@@ KV inflate_ms=%llu wait_ms=%llu ioctls=%u",
            (unsigned long long) fi.inflate_ns / 1000000,
            (unsigned long long) (fi.done_ns - t0) / 1000000, fi.ioctls);
        host_wait("inflated", NULL);
        CHECK(follow_until(fd, 0, FOLLOW_TIMEOUT_MS, &fd_) == 0, "deflate");
        CHECK(meminfo_kb("MemTotal") == m0, "MemTotal %llu kB, expected %llu",
              (unsigned long long) meminfo_kb("MemTotal"), (unsigned long long) m0);
        out("@@ KV deflate_ms=%llu", (unsigned long long) fd_.deflate_ns / 1000000);
        host_wait("deflated", NULL);
        /* The memory is usable again. */
        {
                uint64_t avail = meminfo_kb("MemAvailable") * 1024;

                CHECK(avail > 512 * MIB + 64 * MIB, "MemAvailable %llu MiB",
                      (unsigned long long) (avail / MIB));
                r = touch_mem((avail - 64 * MIB) & ~(MIB - 1), true);
                CHECK(r == 0, "allocate+touch after deflate: %s", errname(r));
        }
        CHECK(ev_count[MEMBALLOON_EVENT_TARGET] >= 1, "no TARGET event seen");
        out("@@ KV target_events=%u", ev_count[MEMBALLOON_EVENT_TARGET]);
        close(fd);
        return n_errors ? 1 : 0;
}

/* Keep in sync with stat_value() in harness.py. */
static uint64_t stats_value(unsigned tag)
{
        return 0x5EED0000ULL + tag * 0x1111ULL + 7;
}

static int cmd_stats(void)
{
        int fd = open_writer();
        struct memballoon_stats st = { .nr_stats = MEMBALLOON_S_NR };
        unsigned before;
        long r;

        drain_events(fd, NULL);
        for (unsigned i = 0; i < MEMBALLOON_S_NR; i++) {
                st.stats[i].tag = i;
                st.stats[i].val = stats_value(i);
        }
        r = set_stats(fd, &st);
        REQUIRE(r == 0, "SET_STATS: %s", errname(r));
        before = ev_count[MEMBALLOON_EVENT_STATS];
        host_wait("stats-set", NULL);
        CHECK(wait_event(fd, MEMBALLOON_EVENT_STATS, 30000), "no STATS event within 30 s");
        out("# STATS events: %u (before enabling polling: %u)",
            ev_count[MEMBALLOON_EVENT_STATS], before);
        host_wait("stats-event", NULL);

        /*
         * Nobody answered those requests, so each went back after the hold
         * with the values set before.  Now answer each request with figures
         * "read" after it came: the host must see the new ones in the same
         * round, not one polling interval later.
         */
        for (unsigned k = 1; k <= 3; k++) {
                drain_events(fd, NULL);
                host_wait("fresh-request", "%u", k);
                /* The host asks now (maybe more than once): answer each at once. */
                CHECK(wait_event(fd, MEMBALLOON_EVENT_STATS, 60000), "no STATS event for round %u", k);
                st.stats[MEMBALLOON_S_MINFLT].val = 1000 + k;
                r = set_stats(fd, &st);
                CHECK(r == 0, "SET_STATS: %s", errname(r));
                host_wait("fresh-answered", "%u", 1000 + k);
        }
        {
                struct memballoon_state s = state_or_die(fd);

                out("@@ KV stats_requests=%llu stats_late=%llu",
                    (unsigned long long) s.stats_requests, (unsigned long long) s.stats_late);
                CHECK(s.stats_requests >= 4, "stats_requests %llu",
                      (unsigned long long) s.stats_requests);
                CHECK(s.stats_late >= 1, "stats_late %llu: the unanswered requests were not late",
                      (unsigned long long) s.stats_late);
        }
        close(fd);
        return n_errors ? 1 : 0;
}

/*
 * Interleave user pages and balloon pages in 1 MiB steps, then free the
 * user pages: the balloon's pages end up spread over the zone with free
 * holes above them, which is what compaction migrates into.
 */
static void fragment(int fd, uint64_t pages, uint64_t user_bytes)
{
        uint64_t chunk_pages = MIB / page_size, done = 0;
        size_t n_chunks = user_bytes / MIB, i = 0;
        void **chunks = calloc(n_chunks + 1, sizeof(void *));

        REQUIRE(chunks, "calloc");
        while (done < pages) {
                struct memballoon_batch b;
                uint64_t n = pages - done < chunk_pages ? pages - done : chunk_pages;
                long r;

                if (i < n_chunks) {
                        chunks[i] = mmap(NULL, MIB, PROT_READ | PROT_WRITE,
                                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
                        REQUIRE(chunks[i] != MAP_FAILED, "mmap: %m");
                        i++;
                }
                if (n > api.max_batch_pages)
                        n = api.max_batch_pages;
                r = batch(fd, MEMBALLOON_INFLATE, n, &b);
                REQUIRE(r == 0, "INFLATE: %s", errname(r));
                if (b.done_pages == 0) {
                        out("# INFLATE stopped (reason %u) at %llu pages", b.stop_reason,
                            (unsigned long long) done);
                        break;
                }
                done += b.done_pages;
        }
        while (i > 0)
                munmap(chunks[--i], MIB);
        free(chunks);
}

static int do_migration(int fd);
static void cmm_compare(int fd, const char *what);

static int cmd_migration(void)
{
        int fd = open_writer();

        /* Debian's kernels have BALLOON_COMPACTION=y: no excuse to skip. */
        REQUIRE(api.features & MEMBALLOON_FEAT_COMPACTION,
                "shim reports no FEAT_COMPACTION (features %#llx)",
                (unsigned long long) api.features);
        return do_migration(fd);
}

static int do_migration(int fd)
{
        struct memballoon_state s = state_or_die(fd);
        uint64_t avail = meminfo_kb("MemAvailable") * 1024, m0 = meminfo_kb("MemTotal");
        uint64_t pages = (avail / 100 * 45) / page_size, user = avail / 100 * 40;
        uint64_t migr = 0;
        int round;

        request_target(fd, pages);
        fragment(fd, pages, user);
        s = state_or_die(fd);
        CHECK(s.actual_pages == pages, "inflated %llu of %llu pages",
              (unsigned long long) s.actual_pages, (unsigned long long) pages);
        out("# balloon %llu MiB interleaved with %llu MiB of user pages (freed)",
            (unsigned long long) (s.actual_pages * page_size / MIB),
            (unsigned long long) (user / MIB));
        for (round = 1; round <= 6; round++) {
                uint64_t before = vmstat("compact_migrate_scanned");
                int r = write_file("/proc/sys/vm/compact_memory", "1");

                CHECK(r == 0, "compact_memory: %s", errname(r));
                usleep(100000);
                drain_events(fd, NULL);
                s = state_or_die(fd);
                migr = s.migrations;
                out("# round %d: migrations %llu, compact_migrate_scanned +%llu, "
                    "compact_isolated %llu, MIGRATED events %u", round,
                    (unsigned long long) migr,
                    (unsigned long long) (vmstat("compact_migrate_scanned") - before),
                    (unsigned long long) vmstat("compact_isolated"),
                    ev_count[MEMBALLOON_EVENT_MIGRATED]);
                if (migr > 0 && ev_count[MEMBALLOON_EVENT_MIGRATED])
                        break;
                if (round % 2 == 0) {
                        /* Shuffle: give half back, refragment, compact again. */
                        request_target(fd, pages / 2);
                        CHECK(follow_until(fd, pages / 2, FOLLOW_TIMEOUT_MS, NULL) == 0,
                              "deflate half");
                        request_target(fd, pages);
                        fragment(fd, pages - pages / 2, user / 2);
                }
        }
        if (round > 6)
                round = 6;
        out("@@ KV migrations=%llu rounds=%d migrated_events=%u", (unsigned long long) migr,
            round, ev_count[MEMBALLOON_EVENT_MIGRATED]);
        CHECK(migr > 0, "no balloon page migrated after %d compaction rounds "
              "(compact_memory written, balloon %llu MiB fragmented by freed user pages)",
              round, (unsigned long long) (pages * page_size / MIB));
        CHECK(ev_count[MEMBALLOON_EVENT_MIGRATED] > 0, "no MIGRATED event");
        CHECK(ev_last_value[MEMBALLOON_EVENT_MIGRATED] <= migr, "MIGRATED value %llu > %llu",
              (unsigned long long) ev_last_value[MEMBALLOON_EVENT_MIGRATED],
              (unsigned long long) migr);
        s = state_or_die(fd);
        CHECK(s.actual_pages == pages, "actual %llu after migration, expected %llu",
              (unsigned long long) s.actual_pages, (unsigned long long) pages);
        if (s.transport == MEMBALLOON_TRANSPORT_VIRTIO)
                host_wait("migrated", "%llu", (unsigned long long) (s.actual_pages * page_size));
        if (s.transport == MEMBALLOON_TRANSPORT_CMM)
                cmm_compare(fd, "after compaction");
        /* Migrated pages must still deflate cleanly. */
        CHECK(set_target(fd, 0, NULL) == 0, "deflate after migration");
        CHECK(meminfo_kb("MemTotal") == m0, "MemTotal %llu kB, expected %llu",
              (unsigned long long) meminfo_kb("MemTotal"), (unsigned long long) m0);
        print_state("end", fd);
        close(fd);
        return n_errors ? 1 : 0;
}

/* Child of cmd_oom: allocate and touch @bytes, 4 MiB at a time. */
static int oom_child(uint64_t bytes)
{
        for (uint64_t done = 0; done < bytes; done += 4 * MIB) {
                char *p = mmap(NULL, 4 * MIB, PROT_READ | PROT_WRITE,
                               MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

                if (p == MAP_FAILED)
                        return 2;
                for (size_t off = 0; off < 4 * MIB; off += 4096)
                        p[off] = 1;
        }
        return 0;
}

static int do_oom(int fd);

static int cmd_oom(void)
{
        int fd = open_writer();

        REQUIRE(api.features & MEMBALLOON_FEAT_OOM_NOTIFIER,
                "shim reports no FEAT_OOM_NOTIFIER (features %#llx)",
                (unsigned long long) api.features);
        return do_oom(fd);
}

static int do_oom(int fd)
{
        struct memballoon_state s = state_or_die(fd);
        bool virtio = s.transport == MEMBALLOON_TRANSPORT_VIRTIO;
        /* virtio spec 5.5.6.1: without DEFLATE_ON_OOM the host's pages stay. */
        bool release = !virtio || (s.host_features & (1ULL << MEMBALLOON_HOST_F_DEFLATE_ON_OOM));
        uint64_t avail, pages, want, freed;
        char child[64];
        pid_t pid;
        int status;

        out("# OOM notifier expected to %s (transport %u, host_features %#llx)",
            release ? "release pages" : "keep the balloon", s.transport,
            (unsigned long long) s.host_features);
        CHECK(s.oom_nr_pages == MEMBALLOON_OOM_DEFAULT_BYTES / page_size, "oom_nr_pages %llu",
              (unsigned long long) s.oom_nr_pages);
        avail = meminfo_kb("MemAvailable") * 1024;
        pages = (avail - 96 * MIB) / page_size;
        CHECK(set_target(fd, pages, NULL) == 0, "inflate");
        drain_events(fd, NULL);
        print_state("inflated", fd);
        want = meminfo_kb("MemAvailable") * 1024 + 160 * MIB;
        out("# child allocates %llu MiB, MemFree %llu MiB, balloon %llu MiB",
            (unsigned long long) (want / MIB),
            (unsigned long long) (meminfo_kb("MemFree") / 1024),
            (unsigned long long) (pages * page_size / MIB));
        pid = fork();
        REQUIRE(pid >= 0, "fork: %m");
        if (pid == 0)
                _exit(oom_child(want));
        REQUIRE(waitpid(pid, &status, 0) == pid, "waitpid: %m");
        if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
                snprintf(child, sizeof(child), "survived");
        else if (WIFSIGNALED(status))
                snprintf(child, sizeof(child), "killed-by-signal-%d", WTERMSIG(status));
        else
                snprintf(child, sizeof(child), "exit-%d", WEXITSTATUS(status));
        if (release)
                CHECK(wait_event(fd, MEMBALLOON_EVENT_OOM, 2000), "no OOM event");
        drain_events(fd, NULL);
        s = state_or_die(fd);
        print_state("after child", fd);
        freed = s.oom_freed_pages;
        out("@@ KV child=%s oom_freed_mib=%llu oom_events=%llu oom_event_reads=%u",
            child, (unsigned long long) (freed * page_size / MIB),
            (unsigned long long) s.oom_events, ev_count[MEMBALLOON_EVENT_OOM]);
        if (release) {
                CHECK(freed > 0, "oom_freed_pages is 0 (child %s)", child);
                CHECK(s.oom_events > 0, "oom_events is 0");
        } else {
                CHECK(freed == 0 && s.oom_events == 0 && !ev_count[MEMBALLOON_EVENT_OOM],
                      "released %llu pages without DEFLATE_ON_OOM", (unsigned long long) freed);
                CHECK(WIFSIGNALED(status), "child %s: the OOM killer should have run", child);
        }
        CHECK(s.actual_pages + freed == pages, "actual %llu + freed %llu != %llu",
              (unsigned long long) s.actual_pages, (unsigned long long) freed,
              (unsigned long long) pages);
        CHECK(ev_oom_sum == freed || ev_gaps, "OOM event values sum to %llu, freed %llu",
              (unsigned long long) ev_oom_sum, (unsigned long long) freed);
        if (virtio)
                host_wait("after-oom", "%llu", (unsigned long long) (s.actual_pages * page_size));
        if (s.transport == MEMBALLOON_TRANSPORT_CMM)
                cmm_compare(fd, "after the OOM notifier");
        CHECK(set_target(fd, 0, NULL) == 0, "deflate the rest");
        close(fd);
        return n_errors ? 1 : 0;
}

static int cmd_unload(void)
{
        int fd = open_writer();
        uint64_t m0 = meminfo_kb("MemTotal"), pages = 256 * MIB / page_size;
        int r;

        CHECK(set_target(fd, pages, NULL) == 0, "inflate");
        CHECK(m0 - meminfo_kb("MemTotal") == 256 * 1024, "MemTotal dropped by %llu kB",
              (unsigned long long) (m0 - meminfo_kb("MemTotal")));
        print_state("before rmmod", fd);
        close(fd);
        r = system("rmmod memballoon");
        REQUIRE(r == 0, "rmmod memballoon: status %#x", r);
        CHECK(meminfo_kb("MemTotal") == m0, "MemTotal %llu kB after rmmod, expected %llu",
              (unsigned long long) meminfo_kb("MemTotal"), (unsigned long long) m0);
        CHECK(access(DEV_PATH, F_OK) != 0, "%s still exists", DEV_PATH);
        host_wait("unloaded", NULL);
        return n_errors ? 1 : 0;
}

/*
 * The device goes away (host device_del, guest ACPI eject) while pages are
 * loaned: the shim must give them all back and fall back to simulate mode,
 * with the writer's fd still working.
 */
static int cmd_unplug(void)
{
        int fd = open_writer();
        uint64_t m0 = meminfo_kb("MemTotal"), pages = 256 * MIB / page_size;
        uint64_t end, t0;
        struct memballoon_state s;

        CHECK(set_target(fd, pages, NULL) == 0, "inflate");
        CHECK(m0 - meminfo_kb("MemTotal") == 256 * 1024, "MemTotal dropped by %llu kB",
              (unsigned long long) (m0 - meminfo_kb("MemTotal")));
        drain_events(fd, NULL);
        host_wait("unplug", NULL);
        t0 = now_ns();
        end = t0 + 20 * NSEC_PER_SEC;
        for (;;) {
                s = state_or_die(fd);
                if (s.transport == MEMBALLOON_TRANSPORT_SIMULATE || now_ns() > end)
                        break;
                wait_event(fd, MEMBALLOON_EVENT_TARGET, 200);
        }
        drain_events(fd, NULL);
        print_state("after unplug", fd);
        CHECK(s.transport == MEMBALLOON_TRANSPORT_SIMULATE, "transport %u 20 s after unplug",
              s.transport);
        CHECK(s.actual_pages == 0 && s.target_pages == 0, "actual %llu target %llu",
              (unsigned long long) s.actual_pages, (unsigned long long) s.target_pages);
        CHECK(s.host_features == 0, "host_features %#llx", (unsigned long long) s.host_features);
        CHECK(meminfo_kb("MemTotal") == m0, "MemTotal %llu kB after unplug, expected %llu",
              (unsigned long long) meminfo_kb("MemTotal"), (unsigned long long) m0);
        CHECK(ev_count[MEMBALLOON_EVENT_TARGET] > 0 && ev_last_value[MEMBALLOON_EVENT_TARGET] == 0,
              "TARGET events %u, last value %llu", ev_count[MEMBALLOON_EVENT_TARGET],
              (unsigned long long) ev_last_value[MEMBALLOON_EVENT_TARGET]);
        out("@@ KV unplug_ms=%llu", (unsigned long long) (now_ns() - t0) / 1000000);
        /* The same fd keeps working, now in simulate mode. */
        CHECK(set_target(fd, 1024, NULL) == 0, "inflate in simulate mode after unplug");
        CHECK(m0 - meminfo_kb("MemTotal") == 1024 * page_size / 1024, "MemTotal %llu kB",
              (unsigned long long) meminfo_kb("MemTotal"));

        /* A new device: simulate pages go back, the host's target rules. */
        host_wait("replug", NULL);
        end = now_ns() + 20 * NSEC_PER_SEC;
        for (;;) {
                s = state_or_die(fd);
                if (s.transport == MEMBALLOON_TRANSPORT_VIRTIO || now_ns() > end)
                        break;
                wait_event(fd, MEMBALLOON_EVENT_TARGET, 200);
        }
        print_state("after replug", fd);
        CHECK(s.transport == MEMBALLOON_TRANSPORT_VIRTIO, "transport %u 20 s after device_add",
              s.transport);
        CHECK(s.actual_pages == 0, "actual %llu after attach (simulate pages kept?)",
              (unsigned long long) s.actual_pages);
        CHECK(meminfo_kb("MemTotal") == m0, "MemTotal %llu kB after attach, expected %llu",
              (unsigned long long) meminfo_kb("MemTotal"), (unsigned long long) m0);
        CHECK(set_target(fd, 64 * MIB / page_size, NULL) == 0, "inflate on the new device");
        s = state_or_die(fd);
        host_wait("replugged", "%llu", (unsigned long long) (s.actual_pages * page_size));
        CHECK(set_target(fd, 0, NULL) == 0, "deflate on the new device");
        close(fd);
        return n_errors ? 1 : 0;
}

/* "managed" pages of zone @zone on node 0 (from /proc/zoneinfo). */
static uint64_t zone_managed(const char *zone)
{
        char line[256], cur[32] = "";
        unsigned long long v;
        uint64_t ret = 0;
        FILE *f = fopen("/proc/zoneinfo", "re");

        REQUIRE(f, "fopen /proc/zoneinfo: %m");
        while (fgets(line, sizeof(line), f)) {
                if (sscanf(line, "Node 0, zone %31s", cur) == 1)
                        continue;
                if (!strcmp(cur, zone) && sscanf(line, " managed %llu", &v) == 1)
                        ret = v;
        }
        fclose(f);
        return ret;
}

static int block_state(unsigned nr, char *buf, size_t n)
{
        char path[96];
        ssize_t r;
        int fd;

        snprintf(path, sizeof(path), "/sys/devices/system/memory/memory%u/state", nr);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        r = read(fd, buf, n - 1);
        close(fd);
        if (r < 0)
                return -errno;
        buf[r] = 0;
        buf[strcspn(buf, "\n")] = 0;
        return 0;
}

static int block_set(unsigned nr, const char *state)
{
        char path[96];

        snprintf(path, sizeof(path), "/sys/devices/system/memory/memory%u/state", nr);
        return write_file(path, state);
}

/*
 * A hotplugged DIMM onlined as ZONE_MOVABLE takes balloon pages (they are
 * movable allocations); offlining it must migrate them out through the
 * shim's migratepage, with the per-zone managed counts fixed up so that
 * MemTotal comes out exact.
 */
static int cmd_offline(uint64_t dimm_mib)
{
        int fd = open_writer();
        uint64_t m0 = meminfo_kb("MemTotal"), block, pages = 400 * MIB / page_size;
        uint64_t mov0, mov1, migr0, end, nblocks;
        unsigned blocks[64], n = 0;
        struct memballoon_state s;
        char buf[64];
        FILE *f;

        f = fopen("/sys/devices/system/memory/block_size_bytes", "re");
        REQUIRE(f && fscanf(f, "%" SCNx64, &block) == 1, "block_size_bytes");
        fclose(f);
        nblocks = dimm_mib * MIB / block;
        REQUIRE(nblocks > 0 && nblocks <= 64, "%llu blocks", (unsigned long long) nblocks);
        host_wait("hotplug", NULL);
        /* The new blocks appear offline (Debian: auto_online_blocks=offline). */
        end = now_ns() + 20 * NSEC_PER_SEC;
        while (n < nblocks && now_ns() < end) {
                n = 0;
                for (unsigned i = 0; i < 4096 && n < 64; i++)
                        if (block_state(i, buf, sizeof(buf)) == 0 && !strcmp(buf, "offline"))
                                blocks[n++] = i;
                if (n < nblocks)
                        usleep(100000);
        }
        REQUIRE(n == nblocks, "%u offline memory blocks after hotplug, expected %llu", n,
                (unsigned long long) nblocks);
        for (unsigned i = 0; i < n; i++)
                REQUIRE(block_set(blocks[i], "online_movable") == 0, "online memory%u",
                        blocks[i]);
        CHECK(meminfo_kb("MemTotal") == m0 + dimm_mib * 1024, "MemTotal %llu kB after online",
              (unsigned long long) meminfo_kb("MemTotal"));
        mov0 = zone_managed("Movable");
        CHECK(set_target(fd, pages, NULL) == 0, "inflate");
        mov1 = zone_managed("Movable");
        out("# balloon %llu MiB, %llu MiB of it in ZONE_MOVABLE (the DIMM)",
            (unsigned long long) (pages * page_size / MIB),
            (unsigned long long) ((mov0 - mov1) * page_size / MIB));
        REQUIRE(mov0 > mov1, "no balloon page landed in ZONE_MOVABLE, nothing to test");
        migr0 = state_or_die(fd).migrations;
        for (unsigned i = 0; i < n; i++) {
                int r = -EBUSY;

                for (int tries = 0; tries < 5 && r; tries++)
                        if ((r = block_set(blocks[i], "offline")))
                                usleep(200000);
                CHECK(r == 0, "offline memory%u: %s", blocks[i], errname(r));
        }
        drain_events(fd, NULL);
        s = state_or_die(fd);
        print_state("after offline", fd);
        out("@@ KV movable_ballooned=%llu migrations=%llu",
            (unsigned long long) (mov0 - mov1), (unsigned long long) (s.migrations - migr0));
        CHECK(s.actual_pages == pages, "actual %llu, expected %llu",
              (unsigned long long) s.actual_pages, (unsigned long long) pages);
        CHECK(s.migrations - migr0 >= mov0 - mov1, "%llu migrations for %llu pages in the DIMM",
              (unsigned long long) (s.migrations - migr0), (unsigned long long) (mov0 - mov1));
        CHECK(m0 - meminfo_kb("MemTotal") == pages * page_size / 1024,
              "MemTotal %llu kB after offline, expected %llu",
              (unsigned long long) meminfo_kb("MemTotal"),
              (unsigned long long) (m0 - pages * page_size / 1024));
        if (s.transport == MEMBALLOON_TRANSPORT_VIRTIO)
                host_wait("offlined", "%llu", (unsigned long long) (s.actual_pages * page_size));
        CHECK(set_target(fd, 0, NULL) == 0, "deflate");
        CHECK(meminfo_kb("MemTotal") == m0, "MemTotal %llu kB at the end, expected %llu",
              (unsigned long long) meminfo_kb("MemTotal"), (unsigned long long) m0);
        close(fd);
        return n_errors ? 1 : 0;
}

/*
 * compare MIB: the guest half of one leg.  Stock driver (no /dev/memballoon):
 * the host balloons and measures, the guest checks MemTotal.  Shim: follow
 * the target and time the ioctls (virtio), or set the target itself
 * (simulate).
 */
static int cmd_compare(uint64_t mib)
{
        uint64_t bytes = mib * MIB, m0 = meminfo_kb("MemTotal"), avail;
        struct follow fi = {}, fd_ = {};
        struct memballoon_state s;
        uint64_t t0;
        int fd;

        avail = meminfo_kb("MemAvailable") * 1024;
        /* Make the pages resident on the host first (VM-TESTING.md measured
         * after 600 MiB resident for 512 MiB). */
        if (touch_mem(((bytes + 128 * MIB) < avail - 64 * MIB ? bytes + 128 * MIB :
                       avail - 64 * MIB) & ~(MIB - 1), false))
                ERROR("touch failed");
        if (access(DEV_PATH, F_OK) != 0) {
                host_wait("touched", NULL);
                host_wait("inflated", NULL);
                CHECK(m0 - meminfo_kb("MemTotal") == bytes / 1024,
                      "stock: MemTotal dropped by %llu kB",
                      (unsigned long long) (m0 - meminfo_kb("MemTotal")));
                host_wait("deflate", NULL);
                host_wait("deflated", NULL);
                CHECK(meminfo_kb("MemTotal") == m0, "stock: MemTotal not restored");
                return n_errors ? 1 : 0;
        }
        fd = open_writer();
        drain_events(fd, NULL);         /* the TARGET 0 queued at probe */
        s = state_or_die(fd);
        if (s.transport == MEMBALLOON_TRANSPORT_VIRTIO) {
                host_wait("touched", NULL);
                CHECK(follow_until(fd, bytes / page_size, FOLLOW_TIMEOUT_MS, &fi) == 0,
                      "inflate");
                host_wait("inflated", NULL);
                host_wait("deflate", NULL);
                CHECK(follow_until(fd, 0, FOLLOW_TIMEOUT_MS, &fd_) == 0, "deflate");
                out("@@ KV guest_inflate_ns=%llu guest_deflate_ns=%llu "
                    "e2e_inflate_ns=%llu e2e_deflate_ns=%llu inflate_ioctls=%u deflate_ioctls=%u",
                    (unsigned long long) fi.inflate_ns, (unsigned long long) fd_.deflate_ns,
                    (unsigned long long) (fi.target_ns ? fi.done_ns - fi.target_ns : 0),
                    (unsigned long long) (fd_.target_ns ? fd_.done_ns - fd_.target_ns : 0),
                    fi.ioctls, fd_.ioctls);
                host_wait("deflated", NULL);
        } else {
                t0 = now_ns();
                CHECK(set_target(fd, bytes / page_size, &fi) == 0, "inflate");
                fi.done_ns -= t0;
                t0 = now_ns();
                CHECK(set_target(fd, 0, &fd_) == 0, "deflate");
                fd_.done_ns -= t0;
                out("@@ KV guest_inflate_ns=%llu guest_deflate_ns=%llu "
                    "e2e_inflate_ns=%llu e2e_deflate_ns=%llu inflate_ioctls=%u deflate_ioctls=%u",
                    (unsigned long long) fi.inflate_ns, (unsigned long long) fd_.deflate_ns,
                    (unsigned long long) fi.done_ns, (unsigned long long) fd_.done_ns,
                    fi.ioctls, fd_.ioctls);
        }
        CHECK(meminfo_kb("MemTotal") == m0, "MemTotal not restored");
        close(fd);
        return n_errors ? 1 : 0;
}

/* ------------------------------------------------------------------------ */
/* The virtio spec's rules, kept by the driver itself (issue 10)            */

static uint64_t host_target_bytes(int fd)
{
        return state_or_die(fd).target_pages * page_size;
}

/*
 * Without DEFLATE_ON_OOM the module must refuse to go below the host's
 * target (virtio spec 5.5.6.1), whatever a writer asks.
 */
static int cmd_hosttarget(void)
{
        int fd = open_writer();
        uint64_t t = 256 * MIB / page_size, extra = 64 * MIB / page_size;
        struct memballoon_state s = state_or_die(fd);
        struct memballoon_batch b;
        long r;

        REQUIRE(s.transport == MEMBALLOON_TRANSPORT_VIRTIO, "transport %u", s.transport);
        REQUIRE(!(s.host_features & (1ULL << MEMBALLOON_HOST_F_DEFLATE_ON_OOM)),
                "the device offers DEFLATE_ON_OOM");
        CHECK(!(s.state_flags & MEMBALLOON_STATE_F_BALLOON_IN_TOTALRAM),
              "state_flags %#x: loaned pages must leave MemTotal without DEFLATE_ON_OOM",
              s.state_flags);
        CHECK(set_target(fd, t, NULL) == 0, "inflate to the host's target");
        drain_events(fd, NULL);

        r = batch(fd, MEMBALLOON_DEFLATE, 1, &b);
        CHECK(r == 0, "DEFLATE 1 at the target: %s", errname(r));
        CHECK(b.done_pages == 0 && b.stop_reason == MEMBALLOON_STOP_HOST_TARGET &&
              b.actual_pages == t, "DEFLATE 1 at the target: done %llu reason %u actual %llu",
              (unsigned long long) b.done_pages, b.stop_reason,
              (unsigned long long) b.actual_pages);

        r = batch(fd, MEMBALLOON_INFLATE, extra, &b);
        CHECK(r == 0 && b.done_pages == extra, "INFLATE above the target: %s, done %llu",
              errname(r), (unsigned long long) b.done_pages);
        r = batch(fd, MEMBALLOON_DEFLATE, 2 * extra, &b);
        CHECK(r == 0, "DEFLATE past the target: %s", errname(r));
        CHECK(b.done_pages == extra && b.stop_reason == MEMBALLOON_STOP_HOST_TARGET &&
              b.actual_pages == t,
              "DEFLATE %llu from target+%llu: done %llu reason %u actual %llu (want %llu, %u, %llu)",
              (unsigned long long) (2 * extra), (unsigned long long) extra,
              (unsigned long long) b.done_pages, b.stop_reason,
              (unsigned long long) b.actual_pages, (unsigned long long) extra,
              MEMBALLOON_STOP_HOST_TARGET, (unsigned long long) t);
        r = batch(fd, MEMBALLOON_DEFLATE, api.max_batch_pages, &b);
        CHECK(r == 0 && b.done_pages == 0 && b.stop_reason == MEMBALLOON_STOP_HOST_TARGET,
              "DEFLATE max at the target: %s done %llu reason %u", errname(r),
              (unsigned long long) b.done_pages, b.stop_reason);
        s = state_or_die(fd);
        CHECK(s.actual_pages == t, "actual %llu, target %llu",
              (unsigned long long) s.actual_pages, (unsigned long long) t);
        host_wait("at-target", "%llu", (unsigned long long) (t * page_size));

        /* The host lowers its target: now the pages may go. */
        CHECK(set_target(fd, 0, NULL) == 0, "deflate after the host lowered its target");
        s = state_or_die(fd);
        CHECK(s.actual_pages == 0, "actual %llu", (unsigned long long) s.actual_pages);
        CHECK(host_target_bytes(fd) == 0, "target not 0");
        close(fd);
        return n_errors ? 1 : 0;
}

/* Child of cmd_doo: one mapping of @bytes, touched page by page. */
static int big_child(uint64_t bytes)
{
        char *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

        if (p == MAP_FAILED) {
                out("# child: mmap %llu MiB: %m", (unsigned long long) (bytes / MIB));
                return 3;
        }
        for (uint64_t off = 0; off < bytes; off += 4096)
                p[off] = 1;
        return 0;
}

/*
 * With DEFLATE_ON_OOM the balloon is memory the guest may take back, so
 * loaned pages stay in MemTotal, as with the stock driver, and one
 * allocation larger than what is left outside the balloon passes the
 * overcommit heuristic; touching it then deflates through the OOM
 * notifier (the libvirt autodeflate='on', setmem 450M, malloc case).
 */
static int cmd_doo(void)
{
        int fd = open_writer();
        struct memballoon_state s = state_or_die(fd);
        uint64_t m0 = meminfo_kb("MemTotal") * 1024, a0 = meminfo_kb("MemAvailable") * 1024;
        uint64_t pages, want, m1, a1;
        char mode[16] = "";
        int status, fdo;
        pid_t pid;

        REQUIRE(s.transport == MEMBALLOON_TRANSPORT_VIRTIO, "transport %u", s.transport);
        REQUIRE(s.host_features & (1ULL << MEMBALLOON_HOST_F_DEFLATE_ON_OOM),
                "the device does not offer DEFLATE_ON_OOM");
        CHECK(s.state_flags & MEMBALLOON_STATE_F_BALLOON_IN_TOTALRAM,
              "state_flags %#x: no BALLOON_IN_TOTALRAM with DEFLATE_ON_OOM", s.state_flags);
        fdo = open("/proc/sys/vm/overcommit_memory", O_RDONLY);
        if (fdo >= 0) {
                ssize_t n = read(fdo, mode, sizeof(mode) - 1);

                mode[n > 0 ? n : 0] = 0;
                close(fdo);
        }
        REQUIRE(mode[0] == '0', "vm.overcommit_memory is '%s', the test needs 0", mode);

        /* The host leaves the guest 450 MiB. */
        pages = (m0 - 450 * MIB) / page_size;
        CHECK(set_target(fd, pages, NULL) == 0, "inflate");
        drain_events(fd, NULL);
        m1 = meminfo_kb("MemTotal") * 1024;
        a1 = meminfo_kb("MemAvailable") * 1024;
        s = state_or_die(fd);
        out("# balloon %llu MiB: MemTotal %llu -> %llu MiB, MemAvailable %llu -> %llu MiB, "
            "total_ram_pages %llu", (unsigned long long) (pages * page_size / MIB),
            (unsigned long long) (m0 / MIB), (unsigned long long) (m1 / MIB),
            (unsigned long long) (a0 / MIB), (unsigned long long) (a1 / MIB),
            (unsigned long long) s.total_ram_pages);
        CHECK(m1 == m0, "MemTotal %llu kB with the balloon, %llu kB before: loaned pages must "
              "stay counted with DEFLATE_ON_OOM", (unsigned long long) (m1 / 1024),
              (unsigned long long) (m0 / 1024));
        CHECK(a0 - a1 >= pages * page_size * 9 / 10, "MemAvailable fell by only %llu MiB",
              (unsigned long long) ((a0 - a1) / MIB));
        CHECK(s.total_ram_pages * page_size == m0, "total_ram_pages %llu, MemTotal %llu kB",
              (unsigned long long) s.total_ram_pages, (unsigned long long) (m0 / 1024));

        /* More than the guest has outside the balloon. */
        want = m0 - pages * page_size + 64 * MIB;
        out("# child maps and touches %llu MiB in one mapping", (unsigned long long) (want / MIB));
        pid = fork();
        REQUIRE(pid >= 0, "fork: %m");
        if (pid == 0)
                _exit(big_child(want));
        REQUIRE(waitpid(pid, &status, 0) == pid, "waitpid: %m");
        drain_events(fd, NULL);
        s = state_or_die(fd);
        out("@@ KV child_status=%d oom_freed_mib=%llu oom_events=%llu", status,
            (unsigned long long) (s.oom_freed_pages * page_size / MIB),
            (unsigned long long) s.oom_events);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0,
              "child status %#x (3: mmap refused, as when MemTotal drops)", status);
        CHECK(s.oom_freed_pages > 0, "the OOM notifier released nothing");
        CHECK(meminfo_kb("MemTotal") * 1024 == m0, "MemTotal changed after the OOM releases");
        host_wait("after-oom", "%llu", (unsigned long long) (s.actual_pages * page_size));
        CHECK(set_target(fd, 0, NULL) == 0, "deflate the rest");
        CHECK(meminfo_kb("MemTotal") * 1024 == m0, "MemTotal changed after deflating");
        close(fd);
        return n_errors ? 1 : 0;
}

/* ------------------------------------------------------------------------ */
/* A device that vanishes or stops answering mid-step (issue 10)            */

/* The PCI address of the virtio-balloon function, e.g. "0000:01:00.0". */
static int find_balloon_pci(char *bdf, size_t n)
{
        static const char *const ids[] = { "0x1002", "0x1045" };
        char path[256], buf[32];

        for (unsigned bus = 0; bus < 8; bus++)
                for (unsigned dev = 0; dev < 32; dev++) {
                        int f;
                        ssize_t len;

                        snprintf(path, sizeof(path), "/sys/bus/pci/devices/0000:%02x:%02x.0/device",
                                 bus, dev);
                        f = open(path, O_RDONLY);
                        if (f < 0)
                                continue;
                        len = read(f, buf, sizeof(buf) - 1);
                        close(f);
                        if (len <= 0)
                                continue;
                        buf[len] = 0;
                        for (unsigned i = 0; i < 2; i++)
                                if (!strncmp(buf, ids[i], 6)) {
                                        snprintf(bdf, n, "0000:%02x:%02x.0", bus, dev);
                                        return 0;
                                }
                }
        return -ENOENT;
}

/* The bridge above @bdf, from the sysfs path. */
static int parent_bridge(const char *bdf, char *out_bdf, size_t n)
{
        char path[256], real[PATH_MAX], *slash;

        snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s", bdf);
        if (!realpath(path, real))
                return -errno;
        slash = strrchr(real, '/');
        if (!slash)
                return -EINVAL;
        *slash = 0;
        slash = strrchr(real, '/');
        if (!slash || strlen(slash + 1) != 12)
                return -ENOENT;
        snprintf(out_bdf, n, "%s", slash + 1);
        return 0;
}

/* Offset of the PCI Express capability in @cfg, or -1. */
static int pcie_cap(int cfg)
{
        uint8_t ptr, id;
        unsigned hops = 0;

        if (pread(cfg, &ptr, 1, 0x34) != 1)
                return -1;
        while (ptr && hops++ < 48) {
                if (pread(cfg, &id, 1, ptr) != 1)
                        return -1;
                if (id == 0x10)
                        return ptr;
                if (pread(cfg, &ptr, 1, ptr + 1) != 1)
                        return -1;
        }
        return -1;
}

/*
 * Turn the slot's power off behind pciehp's back: QEMU detaches the device
 * at once, and it stops answering.  pciehp then sees the card gone but the
 * slot already off, and leaves the driver bound (a silent host).  With
 * @restore the power control goes straight back on: pciehp then finds an
 * empty slot that it thinks is powered, and does a surprise removal
 * (the device is marked disconnected, virtio_break_device(), remove()).
 */
static int slot_power_off(const char *port, bool restore)
{
        char path[256];
        uint16_t ctl, off;
        int cfg, cap;

        snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/config", port);
        cfg = open(path, O_RDWR);
        if (cfg < 0)
                return -errno;
        cap = pcie_cap(cfg);
        if (cap < 0 || pread(cfg, &ctl, 2, cap + 0x18) != 2) {
                close(cfg);
                return -EIO;
        }
        out("# %s: slot control %#06x", port, ctl);
        off = ctl | 1u << 10 | 3u << 8;    /* power controller and indicator off */
        /*
         * With @restore, hold the hotplug interrupt (HPIE) until the power
         * is back on, or pciehp would look at the slot in between.
         */
        if (restore)
                off &= ~(1u << 5);
        if (pwrite(cfg, &off, 2, cap + 0x18) != 2) {
                close(cfg);
                return -errno;
        }
        /*
         * The device is gone now; a second later every step in flight is
         * waiting for it (they kick it every few milliseconds).  Only then
         * does pciehp hear of it.
         */
        if (restore)
                usleep(1000000);
        if (restore && pwrite(cfg, &ctl, 2, cap + 0x18) != 2) {
                close(cfg);
                return -errno;
        }
        close(cfg);
        return 0;
}

/* Child: small steps up and down until the device stops answering. */
static int stepper_child(int fd, uint64_t nr)
{
        struct memballoon_batch b;
        unsigned long steps = 0;

        for (;;) {
                long r = batch(fd, (steps & 1) ? MEMBALLOON_DEFLATE : MEMBALLOON_INFLATE, nr, &b);

                if (r) {
                        out("# stepper: %s after %lu steps", errname(r), steps);
                        return 11;
                }
                steps++;
                if (b.stop_reason == MEMBALLOON_STOP_HOST) {
                        out("# stepper: STOP_HOST after %lu steps", steps);
                        return 10;
                }
                if (state_or_die(fd).transport != MEMBALLOON_TRANSPORT_VIRTIO) {
                        out("# stepper: the device went away between steps (%lu steps)", steps);
                        return 12;
                }
                if (b.stop_reason == MEMBALLOON_STOP_EMPTY && !(steps & 1))
                        continue;
        }
}

static bool wait_state(int fd, bool (*ok)(const struct memballoon_state *), int ms)
{
        uint64_t end = now_ns() + (uint64_t) ms * 1000000ULL;

        for (;;) {
                struct memballoon_state s = state_or_die(fd);

                if (ok(&s))
                        return true;
                if (now_ns() > end)
                        return false;
                usleep(20000);
        }
}

static bool is_simulate(const struct memballoon_state *s)
{
        return s->transport == MEMBALLOON_TRANSPORT_SIMULATE;
}

static bool is_broken(const struct memballoon_state *s)
{
        return s->state_flags & MEMBALLOON_STATE_F_HOST_BROKEN;
}

/*
 * Mode "removed": the slot loses power while steps are in flight and the
 * host then deletes the device (surprise removal): the step in flight must
 * give up, remove() must finish, every page comes back.
 * Mode "silent": the slot loses power and nothing removes the device: the
 * host just stops answering.  A step in flight holds the balloon lock
 * until MEMBALLOON_HOST_TIMEOUT_MS; an OOM meanwhile must not wait for it.
 */
static int cmd_vanish(const char *mode)
{
        int fd = open_writer();
        uint64_t m0 = meminfo_kb("MemTotal"), t0;
        char bdf[32], port[32];
        struct memballoon_state s;
        int status, r;
        pid_t pid, sentinel;

        REQUIRE(find_balloon_pci(bdf, sizeof(bdf)) == 0, "no virtio-balloon PCI function");
        REQUIRE(parent_bridge(bdf, port, sizeof(port)) == 0, "no bridge above %s", bdf);
        out("# balloon %s behind port %s", bdf, port);
        CHECK(set_target(fd, 128 * MIB / page_size, NULL) == 0, "inflate");
        drain_events(fd, NULL);

        /* Diagnosis only: if this hangs, show the blocked tasks on the console. */
        sentinel = fork();
        REQUIRE(sentinel >= 0, "fork: %m");
        if (sentinel == 0) {
                close(fd);      /* or rmmod would find the module busy */
                sleep(60);
                write_file("/proc/sysrq-trigger", "8");
                write_file("/proc/sysrq-trigger", "w");
                _exit(0);
        }
        pid = fork();
        REQUIRE(pid >= 0, "fork: %m");
        if (pid == 0)
                _exit(stepper_child(fd, 64 * MIB / page_size));
        usleep(300000);         /* let it step a while; any moment will do */
        t0 = now_ns();
        r = slot_power_off(port, !strcmp(mode, "removed"));
        REQUIRE(r == 0, "slot power off: %s", errname(r));
        if (!strcmp(mode, "removed"))
                host_wait("powered-off", NULL);         /* the host deletes the device */

        if (!strcmp(mode, "silent")) {
                pid_t oom;
                uint64_t t_oom;

                /* The OOM path while a step waits for the silent host. */
                usleep(200000);
                oom = fork();
                REQUIRE(oom >= 0, "fork: %m");
                if (oom == 0)
                        _exit(oom_child(meminfo_kb("MemAvailable") * 1024 + 128 * MIB));
                REQUIRE(waitpid(oom, &status, 0) == oom, "waitpid: %m");
                t_oom = now_ns();
                s = state_or_die(fd);
                out("@@ KV oom_child_status=%d oom_busy=%llu oom_s=%.1f", status,
                    (unsigned long long) s.oom_busy, (t_oom - t0) / 1e9);
                CHECK(WIFSIGNALED(status), "the OOM child was not killed (status %#x)", status);
                CHECK(s.oom_busy > 0 || is_broken(&s),
                      "oom_busy 0 and host not broken: the notifier never found the lock busy");
                CHECK(wait_state(fd, is_broken, MEMBALLOON_HOST_TIMEOUT_MS + 30000),
                      "HOST_BROKEN never set");
        }
        REQUIRE(waitpid(pid, &status, 0) == pid, "waitpid: %m");
        out("@@ KV stepper_status=%d stepper_s=%.1f", status, (now_ns() - t0) / 1e9);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 10,
              "stepper status %#x: expected it to stop with STOP_HOST", status);
        drain_events(fd, NULL);
        CHECK(ev_count[MEMBALLOON_EVENT_HOST] > 0, "no HOST event");
        if (!strcmp(mode, "removed")) {
                CHECK(wait_state(fd, is_simulate, 60000), "still on virtio: remove() never ran");
                s = state_or_die(fd);
                CHECK(s.actual_pages == 0, "actual %llu after removal",
                      (unsigned long long) s.actual_pages);
                CHECK(meminfo_kb("MemTotal") == m0, "MemTotal %llu kB after removal, %llu before",
                      (unsigned long long) meminfo_kb("MemTotal"), (unsigned long long) m0);
        } else {
                struct memballoon_batch b;

                s = state_or_die(fd);
                CHECK(is_broken(&s), "state_flags %#x", s.state_flags);
                r = batch(fd, MEMBALLOON_DEFLATE, 1, &b);
                CHECK(r == 0 && b.stop_reason == MEMBALLOON_STOP_HOST && b.done_pages == 0,
                      "DEFLATE on a silent host: %s reason %u done %llu", errname(r),
                      b.stop_reason, (unsigned long long) b.done_pages);
                r = batch(fd, MEMBALLOON_INFLATE, 1, &b);
                CHECK(r == 0 && b.stop_reason == MEMBALLOON_STOP_HOST && b.done_pages == 0,
                      "INFLATE on a silent host: %s reason %u done %llu", errname(r),
                      b.stop_reason, (unsigned long long) b.done_pages);
                close(fd);
                /* Unloading must not hang: the device is reset, the pages come back. */
                r = system("rmmod memballoon");
                CHECK(r == 0, "rmmod memballoon: status %#x", r);
                CHECK(meminfo_kb("MemTotal") == m0, "MemTotal %llu kB after rmmod, %llu before",
                      (unsigned long long) meminfo_kb("MemTotal"), (unsigned long long) m0);
                kill(sentinel, SIGKILL);
                return n_errors ? 1 : 0;
        }
        kill(sentinel, SIGKILL);
        close(fd);
        return n_errors ? 1 : 0;
}

/* ------------------------------------------------------------------------ */
/* pSeries CMO (the cmm transport), real and fake hypervisor                 */

#define KPF_OFFLINE_BIT 23      /* include/uapi/linux/kernel-page-flags.h */
#define FAKE_DEBUGFS "/sys/kernel/debug/memballoon_fakehost/"
#define HOOKS_KO "/lib/modules/memballoon-hooks.ko"
#define FAKE_KO "/lib/modules/memballoon_fakehost.ko"

static uint8_t *offline_base;   /* PageOffline pages before the balloon */
static uint64_t offline_base_n;

/* PFNs whose /proc/kpageflags say PageOffline (balloon pages): a byte map. */
static uint8_t *offline_pfns(uint64_t *ret_n, uint64_t *ret_count)
{
        int fd = open("/proc/kpageflags", O_RDONLY | O_CLOEXEC);
        uint64_t buf[4096], n = 0, count = 0, cap = 1 << 16;
        uint8_t *map = calloc(cap, 1);
        ssize_t r;

        REQUIRE(fd >= 0, "open /proc/kpageflags: %m");
        REQUIRE(map, "calloc");
        while ((r = read(fd, buf, sizeof(buf))) > 0) {
                for (ssize_t i = 0; i < r / 8; i++, n++) {
                        if (n >= cap) {
                                map = realloc(map, cap * 2);
                                REQUIRE(map, "realloc");
                                memset(map + cap, 0, cap);
                                cap *= 2;
                        }
                        map[n] = (buf[i] >> KPF_OFFLINE_BIT) & 1;
                        count += map[n];
                }
        }
        REQUIRE(r == 0, "read /proc/kpageflags: %m");
        close(fd);
        *ret_n = n;
        *ret_count = count;
        return map;
}

/* One counter from the fake host's cmm_stats line; -1 if absent. */
static int64_t fake_stat(const char *key)
{
        char line[1024], *p;
        size_t klen = strlen(key);
        FILE *f = fopen(FAKE_DEBUGFS "cmm_stats", "re");
        int64_t v = -1;

        REQUIRE(f, "open " FAKE_DEBUGFS "cmm_stats: %m");
        REQUIRE(fgets(line, sizeof(line), f), "read cmm_stats");
        fclose(f);
        for (p = line; (p = strstr(p, key)); p += klen)
                if ((p == line || p[-1] == ' ') && p[klen] == '=') {
                        v = strtoll(p + klen + 1, NULL, 10);
                        break;
                }
        return v;
}

static uint64_t shim_param(const char *name)
{
        char path[256], buf[64] = "";
        int fd;

        snprintf(path, sizeof(path), SHIM_PARAMS "%s", name);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        REQUIRE(fd >= 0, "open %s: %m", path);
        REQUIRE(read(fd, buf, sizeof(buf) - 1) > 0, "read %s: %m", path);
        close(fd);
        return strtoull(buf, NULL, 10);
}

/*
 * The fake host's lent set must be exactly the shim's balloon: every
 * balloon page (PageOffline in /proc/kpageflags, less those offline
 * before the balloon existed) lent whole (PAGE_SIZE / CMO page size CMO
 * pages), nothing else lent, no protocol anomaly, and the count equal to
 * GET_STATE's actual_pages.
 */
static void cmm_compare(int fd, const char *what)
{
        struct memballoon_state s = state_or_die(fd);
        uint64_t npfn, noff, units, unit, pages, partial, pfn, n, host = 0;
        uint64_t missing = 0, extra = 0, bad_units = 0, balloon = 0;
        uint8_t *map = offline_pfns(&npfn, &noff);
        FILE *f = fopen(FAKE_DEBUGFS "cmm_loaned", "re");
        int64_t anomalies = fake_stat("anomalies");

        REQUIRE(f, "open " FAKE_DEBUGFS "cmm_loaned: %m");
        REQUIRE(fscanf(f, "units %" SCNu64 " unit %" SCNu64 " pages %" SCNu64
                       " partial %" SCNu64, &units, &unit, &pages, &partial) == 4,
                "cmm_loaned header");
        for (pfn = 0; pfn < npfn; pfn++)
                if (offline_base && pfn < offline_base_n && offline_base[pfn])
                        map[pfn] = 0;
                else
                        balloon += map[pfn];
        while (fscanf(f, "%" SCNu64 " %" SCNu64, &pfn, &n) == 2) {
                host++;
                if (n != page_size / unit)
                        bad_units++;
                if (pfn < npfn && map[pfn])
                        map[pfn] = 2;
                else
                        extra++;
        }
        fclose(f);
        for (pfn = 0; pfn < npfn; pfn++)
                missing += map[pfn] == 1;
        free(map);
        out("# views %s: shim actual %llu, balloon pages %llu; host lent %llu pages "
            "(%llu CMO pages of %llu), partial %llu, missing %llu, extra %llu, anomalies %lld",
            what, (unsigned long long) s.actual_pages, (unsigned long long) balloon,
            (unsigned long long) host, (unsigned long long) units,
            (unsigned long long) unit, (unsigned long long) partial,
            (unsigned long long) missing, (unsigned long long) extra, (long long) anomalies);
        CHECK(balloon == s.actual_pages, "%s: %llu PageOffline pages, actual %llu", what,
              (unsigned long long) balloon, (unsigned long long) s.actual_pages);
        CHECK(host == s.actual_pages && !missing && !extra,
              "%s: host lent %llu pages, shim holds %llu (%llu not lent, %llu lent but not "
              "in the balloon)", what, (unsigned long long) host,
              (unsigned long long) s.actual_pages, (unsigned long long) missing,
              (unsigned long long) extra);
        CHECK(!partial && !bad_units && units * unit == s.actual_pages * page_size,
              "%s: %llu pages lent in part, %llu CMO pages lent for %llu pages", what,
              (unsigned long long) (partial + bad_units), (unsigned long long) units,
              (unsigned long long) s.actual_pages);
        CHECK(anomalies == 0, "%s: %lld protocol anomalies at the fake host", what,
              (long long) anomalies);
}

/* Wait until GET_STATE's target is @pages (the shim polls the host). */
static bool wait_target(int fd, uint64_t pages, int ms)
{
        uint64_t end = now_ns() + ms * 1000000ULL;
        struct memballoon_state s;

        for (;;) {
                drain_events(fd, NULL);
                s = state_or_die(fd);
                if (s.target_pages == pages)
                        return true;
                if (now_ns() > end) {
                        ERROR("target %llu pages, expected %llu",
                              (unsigned long long) s.target_pages,
                              (unsigned long long) pages);
                        return false;
                }
                usleep(20000);
        }
}

static void expect_declined(int fd, const char *what, uint32_t transport, uint32_t reason,
                            int32_t error)
{
        struct memballoon_state s = state_or_die(fd);

        out("# %s: transport %u, declined transport %u reason %u error %d", what,
            s.transport, s.declined_transport, s.declined_reason, s.declined_error);
        CHECK(s.declined_transport == MEMBALLOON_TRANSPORT_CMM &&
              s.declined_reason == reason && s.declined_error == error,
              "%s: declined %u/%u/%d, expected %u/%u/%d", what, s.declined_transport,
              s.declined_reason, s.declined_error, MEMBALLOON_TRANSPORT_CMM, reason, error);
        CHECK(s.transport == transport, "%s: transport %u, expected %u", what, s.transport,
              transport);
}

/* The fake host's views are in debugfs. */
static void mount_debugfs(void)
{
        int r = mount("debugfs", "/sys/kernel/debug", "debugfs", 0, NULL);

        REQUIRE(r == 0 || errno == EBUSY, "mount debugfs: %m");
}

static void sh(const char *cmd)
{
        int r = system(cmd);

        REQUIRE(r == 0, "%s: status %#x", cmd, r);
}

/* Probe the fake again after changing its controls. */
static void fake_reprobe(void)
{
        fake_set("cmm_reprobe", "1");
}

/*
 * QEMU's pseries has no CMO: the cmm transport declines at load (NO_CMO),
 * virtio keeps the balloon.  Then through the fake host every other
 * decline: H_GET_MPP failing (REFUSED, its code), another transport bound
 * (BUSY), an unusable CMO page size (BAD_ANSWER); virtio works throughout.
 */
static int cmd_cmm_refused(void)
{
        uint64_t m0;
        int fd;

        mount_debugfs();
        /* The packaged build first, then the one with the test hooks. */
        sh("insmod /lib/modules/memballoon.ko");
        fd = open_writer();
        REQUIRE(api.features & MEMBALLOON_FEAT_CMM, "no FEAT_CMM on pSeries (features %#llx)",
                (unsigned long long) api.features);
        REQUIRE(api.features & MEMBALLOON_FEAT_STATE_V3, "no FEAT_STATE_V3");
        expect_declined(fd, "memballoon.ko loaded", MEMBALLOON_TRANSPORT_VIRTIO,
                        MEMBALLOON_DECLINED_NO_CMO, 0);
        CHECK(system("dmesg | grep -q 'cmm: hypervisor does not offer cooperative memory "
                     "overcommit'") == 0, "no NO_CMO line in the kernel log");
        close(fd);
        sh("rmmod memballoon");
        sh("insmod " HOOKS_KO);
        fd = open_writer();
        m0 = meminfo_kb("MemTotal");
        expect_declined(fd, "hooks build loaded", MEMBALLOON_TRANSPORT_VIRTIO,
                        MEMBALLOON_DECLINED_NO_CMO, 0);
        /* The fallback works: a round trip with the virtio device. */
        CHECK(set_target(fd, 256 * MIB / page_size, NULL) == 0, "virtio inflate");
        host_wait("virtio", "%llu", 256 * MIB);
        CHECK(set_target(fd, 0, NULL) == 0, "virtio deflate");
        host_wait("virtio", "0");

        sh("insmod " FAKE_KO " cmm_mpp_error=-1 cmm_target_bytes=67108864");
        expect_declined(fd, "fake host, H_GET_MPP fails", MEMBALLOON_TRANSPORT_VIRTIO,
                        MEMBALLOON_DECLINED_REFUSED, -1);
        fake_set("cmm_mpp_error", "0");
        fake_reprobe();
        expect_declined(fd, "fake host answers, virtio bound", MEMBALLOON_TRANSPORT_VIRTIO,
                        MEMBALLOON_DECLINED_BUSY, -EBUSY);
        fake_set("cmm_page_size", "3000");
        fake_reprobe();
        expect_declined(fd, "fake host, CMO page size 3000", MEMBALLOON_TRANSPORT_VIRTIO,
                        MEMBALLOON_DECLINED_BAD_ANSWER, -EINVAL);
        fake_set("cmm_page_size", "4096");
        fake_set("cmm_has_cmo", "0");
        fake_reprobe();
        expect_declined(fd, "fake host without CMO", MEMBALLOON_TRANSPORT_VIRTIO,
                        MEMBALLOON_DECLINED_NO_CMO, 0);
        CHECK(fake_stat("loans") == 0 && fake_stat("actives") == 0,
              "the fake host saw H_PAGE_INIT while it never bound");
        sh("rmmod memballoon_fakehost");
        expect_declined(fd, "fake host gone, real one probed", MEMBALLOON_TRANSPORT_VIRTIO,
                        MEMBALLOON_DECLINED_NO_CMO, 0);
        /* virtio still works. */
        CHECK(set_target(fd, 64 * MIB / page_size, NULL) == 0, "virtio inflate again");
        host_wait("virtio", "%llu", 64 * MIB);
        CHECK(set_target(fd, 0, NULL) == 0, "virtio deflate again");
        host_wait("virtio", "0");
        CHECK(meminfo_kb("MemTotal") == m0, "MemTotal %llu kB, expected %llu",
              (unsigned long long) meminfo_kb("MemTotal"), (unsigned long long) m0);
        close(fd);
        sh("rmmod memballoon");
        return n_errors ? 1 : 0;
}

/* Set the fake's wish to @bytes and wait for the shim's target @pages. */
static void cmm_want(int fd, const char *bytes, uint64_t pages)
{
        fake_set("cmm_target_bytes", "%s", bytes);
        wait_target(fd, pages, 10000);
}

static int cmd_cmm_fakehost(void)
{
        uint64_t m0, ram, pages, n;
        struct memballoon_state s;
        struct memballoon_batch b;
        char buf[64];
        int fd, r;

        mount_debugfs();
        offline_base = offline_pfns(&offline_base_n, &n);
        out("# %llu pages PageOffline before the balloon", (unsigned long long) n);
        /*
         * The loan request is read every 100 ms instead of every second.
         * The hooks build probes the real (CMO-less) hypervisor at load,
         * the fake host binds it when it loads.
         */
        sh("insmod " HOOKS_KO " cmm_poll_ms=100");
        sh("insmod " FAKE_KO);
        fd = open_writer();
        m0 = meminfo_kb("MemTotal");
        s = state_or_die(fd);
        REQUIRE(s.transport == MEMBALLOON_TRANSPORT_CMM, "transport %u, not cmm (declined "
                "%u/%u/%d)", s.transport, s.declined_transport, s.declined_reason,
                s.declined_error);
        CHECK(s.host_page_size == 4096, "host_page_size %u", s.host_page_size);
        CHECK(!(s.state_flags & MEMBALLOON_STATE_F_BALLOON_IN_TOTALRAM),
              "loaned pages counted in MemTotal");
        CHECK(s.state_flags & MEMBALLOON_STATE_F_DEFLATE_BELOW_TARGET,
              "cmm must allow deflating below the target");
        cmm_compare(fd, "bound");

        out("# loan and reclaim");
        CHECK(set_target(fd, 256 * MIB / page_size, NULL) == 0, "loan 256 MiB");
        CHECK(m0 - meminfo_kb("MemTotal") == 256 * 1024, "MemTotal dropped by %llu kB",
              (unsigned long long) (m0 - meminfo_kb("MemTotal")));
        cmm_compare(fd, "lent 256 MiB");
        CHECK(set_target(fd, 64 * MIB / page_size, NULL) == 0, "reclaim to 64 MiB");
        cmm_compare(fd, "back to 64 MiB");

        out("# a loan request that is not whole CMO pages: rounded up, counted once");
        n = shim_param("cmm_bad_answers");
        pages = (100 * MIB + 1000 + page_size - 1) / page_size;
        snprintf(buf, sizeof(buf), "%llu", 100 * MIB + 1000);
        cmm_want(fd, buf, pages);
        CHECK(follow_until(fd, pages, FOLLOW_TIMEOUT_MS, NULL) == 0, "follow 100 MiB + 1000");
        usleep(500000);         /* a few polls: the balloon settles */
        s = state_or_die(fd);
        CHECK(s.target_pages == pages && s.actual_pages == pages, "target %llu actual %llu",
              (unsigned long long) s.target_pages, (unsigned long long) s.actual_pages);
        CHECK(shim_param("cmm_bad_answers") == n + 1, "cmm_bad_answers %llu, expected %llu",
              (unsigned long long) shim_param("cmm_bad_answers"), (unsigned long long) n + 1);
        cmm_compare(fd, "100 MiB + 1000 bytes");

        out("# refused loans: every 101st H_PAGE_SET_LOANED");
        n = s.refused_pages;
        fake_set("cmm_refuse_every", "101");
        CHECK(set_target(fd, 160 * MIB / page_size, NULL) == 0, "loan with refusals");
        fake_set("cmm_refuse_every", "0");
        s = state_or_die(fd);
        out("# refused_pages %llu, fake refused_loans %lld", (unsigned long long) s.refused_pages,
            (long long) fake_stat("refused_loans"));
        CHECK(s.refused_pages > n && fake_stat("refused_loans") > 0, "no page was refused");
        cmm_compare(fd, "after refused loans");

        out("# refused returns: every 53rd H_PAGE_SET_ACTIVE");
        fake_set("cmm_refuse_active_every", "53");
        CHECK(set_target(fd, 32 * MIB / page_size, NULL) == 0, "reclaim with refusals");
        fake_set("cmm_refuse_active_every", "0");
        CHECK(fake_stat("refused_actives") > 0, "no return was refused");
        cmm_compare(fd, "after refused returns");

        out("# a loan request above the guest's RAM: clamped, counted");
        n = shim_param("cmm_target_clamps");
        s = state_or_die(fd);
        ram = s.total_ram_pages + s.actual_pages;
        cmm_want(fd, "8589934592", ram);
        CHECK(shim_param("cmm_target_clamps") == n + 1, "cmm_target_clamps %llu, expected %llu",
              (unsigned long long) shim_param("cmm_target_clamps"), (unsigned long long) n + 1);
        cmm_compare(fd, "clamped target, not followed");

        out("# garbage: the host asks back more than it has");
        n = shim_param("cmm_bad_answers");
        cmm_want(fd, "-1073741824", 0);
        CHECK(shim_param("cmm_bad_answers") == n + 1, "negative request not counted");
        CHECK(follow_until(fd, 0, FOLLOW_TIMEOUT_MS, NULL) == 0, "deflate to 0");
        cmm_compare(fd, "empty");

        out("# H_GET_MPP fails while bound: the target stays");
        cmm_want(fd, "33554432", 32 * MIB / page_size);
        n = shim_param("cmm_mpp_failures");
        fake_set("cmm_mpp_error", "-4");
        fake_set("cmm_target_bytes", "%llu", 48 * MIB);
        usleep(500000);
        CHECK(shim_param("cmm_mpp_failures") > n, "no H_GET_MPP failure counted");
        CHECK(state_or_die(fd).target_pages == 32 * MIB / page_size, "target moved");
        fake_set("cmm_mpp_error", "0");
        wait_target(fd, 48 * MIB / page_size, 10000);
        CHECK(follow_until(fd, 48 * MIB / page_size, FOLLOW_TIMEOUT_MS, NULL) == 0, "follow");
        cmm_compare(fd, "after H_GET_MPP errors");
        CHECK(set_target(fd, 0, NULL) == 0, "deflate");

        out("# compaction while lent");
        r = do_migration(fd);   /* closes fd; compares after compaction */
        fd = open_writer();
        cmm_compare(fd, "after the migration scenario");

        out("# OOM while lent");
        r = do_oom(fd);         /* closes fd; compares after the notifier */
        fd = open_writer();
        cmm_compare(fd, "after the OOM scenario");

        out("# the transport goes away with pages lent: all back, host told");
        CHECK(set_target(fd, 128 * MIB / page_size, NULL) == 0, "loan 128 MiB");
        cmm_compare(fd, "before the drop");
        fake_set("cmm_reprobe", "0");
        s = state_or_die(fd);
        CHECK(s.transport == MEMBALLOON_TRANSPORT_SIMULATE && s.actual_pages == 0,
              "after the drop: transport %u, actual %llu", s.transport,
              (unsigned long long) s.actual_pages);
        CHECK(fake_stat("units") == 0, "the host still has %lld CMO pages",
              (long long) fake_stat("units"));
        CHECK(meminfo_kb("MemTotal") == m0, "MemTotal %llu kB after the drop, expected %llu",
              (unsigned long long) meminfo_kb("MemTotal"), (unsigned long long) m0);
        fake_reprobe();
        s = state_or_die(fd);
        REQUIRE(s.transport == MEMBALLOON_TRANSPORT_CMM, "rebind: transport %u", s.transport);

        out("# the host stops answering");
        CHECK(set_target(fd, 128 * MIB / page_size, NULL) == 0, "loan 128 MiB");
        cmm_compare(fd, "before the stall");
        fake_set("cmm_stall", "1");
        CHECK(wait_event(fd, MEMBALLOON_EVENT_HOST, 30000), "no HOST event within 30 s");
        s = state_or_die(fd);
        CHECK(s.state_flags & MEMBALLOON_STATE_F_HOST_BROKEN, "not HOST_BROKEN");
        r = batch(fd, MEMBALLOON_INFLATE, 1, &b);
        CHECK(r == 0 && b.stop_reason == MEMBALLOON_STOP_HOST && b.done_pages == 0,
              "INFLATE on a silent host: %s, stop %u, done %llu", errname(r), b.stop_reason,
              (unsigned long long) b.done_pages);
        n = shim_param("cmm_overruled");
        pages = s.actual_pages;
        fake_set("cmm_reprobe", "0");
        s = state_or_die(fd);
        CHECK(s.transport == MEMBALLOON_TRANSPORT_SIMULATE && s.actual_pages == 0,
              "after dropping a silent host: transport %u, actual %llu", s.transport,
              (unsigned long long) s.actual_pages);
        CHECK(shim_param("cmm_overruled") == n + pages, "cmm_overruled %llu, expected %llu",
              (unsigned long long) shim_param("cmm_overruled"),
              (unsigned long long) (n + pages));
        CHECK(fake_stat("units") == (int64_t) (pages * page_size / 4096),
              "the silent host holds %lld CMO pages, was told of %llu pages",
              (long long) fake_stat("units"), (unsigned long long) pages);
        CHECK(meminfo_kb("MemTotal") == m0, "MemTotal %llu kB after the drop, expected %llu",
              (unsigned long long) meminfo_kb("MemTotal"), (unsigned long long) m0);
        CHECK(fake_stat("anomalies") == 0, "protocol anomalies");

        out("# unload");
        close(fd);
        sh("rmmod memballoon_fakehost");
        sh("rmmod memballoon");
        (void) r;
        return n_errors ? 1 : 0;
}

/*
 * For the daemon scenarios on the fake CMO host: compare its lent set
 * with the balloon while memballoond holds the writer (read-only open).
 */
static int cmd_cmm_compare(const char *what)
{
        _cleanup_close_ int fd = mb_open(O_RDONLY);
        long r;

        REQUIRE(fd >= 0, "open %s: %s", DEV_PATH, errname(fd));
        r = get_api(fd, &api);
        REQUIRE(r == 0, "GET_API: %s", errname(r));
        page_size = api.page_size;
        mount_debugfs();
        cmm_compare(fd, what);
        return n_errors ? 1 : 0;
}

int main(int argc, char **argv)
{
        const char *cmd = argc > 1 ? argv[1] : "";

        setvbuf(stdout, NULL, _IONBF, 0);
        signal(SIGPIPE, SIG_IGN);
        if (!strcmp(cmd, "abi"))
                return cmd_abi();
        if (!strcmp(cmd, "simulate"))
                return cmd_simulate();
        if (!strcmp(cmd, "roundtrip"))
                return cmd_roundtrip();
        if (!strcmp(cmd, "stats"))
                return cmd_stats();
        if (!strcmp(cmd, "migration"))
                return cmd_migration();
        if (!strcmp(cmd, "oom"))
                return cmd_oom();
        if (!strcmp(cmd, "unload"))
                return cmd_unload();
        if (!strcmp(cmd, "unplug"))
                return cmd_unplug();
        if (!strcmp(cmd, "hosttarget"))
                return cmd_hosttarget();
        if (!strcmp(cmd, "doo"))
                return cmd_doo();
        if (!strcmp(cmd, "vanish"))
                return cmd_vanish(argc > 2 ? argv[2] : "removed");
        if (!strcmp(cmd, "offline"))
                return cmd_offline(argc > 2 ? strtoull(argv[2], NULL, 10) : 256);
        if (!strcmp(cmd, "cmm-refused"))
                return cmd_cmm_refused();
        if (!strcmp(cmd, "cmm-fakehost"))
                return cmd_cmm_fakehost();
        if (!strcmp(cmd, "cmm-compare"))
                return cmd_cmm_compare(argc > 2 ? argv[2] : "now");
        if (!strcmp(cmd, "compare"))
                return cmd_compare(argc > 2 ? strtoull(argv[2], NULL, 10) : 512);
        /* Harness self-tests (tests/vm/run --selftest). */
        if (!strcmp(cmd, "selftest-kmsg")) {
                /* A fake kernel complaint the host must catch on the console. */
                int r = write_file("/dev/kmsg",
                                   "<4>" "WARN" "ING: harness self-test, not a real warning\n");

                return r ? 1 : 0;
        }
        if (!strcmp(cmd, "selftest-oops"))
                return write_file("/proc/sysrq-trigger", "c") ? 1 : 0;
        if (!strcmp(cmd, "selftest-hang")) {
                for (;;)
                        pause();
        }
        if (!strcmp(cmd, "touch"))
                return touch_mem((argc > 2 ? strtoull(argv[2], NULL, 10) : 64) * MIB, true) ? 1 : 0;
        fprintf(stderr, "usage: %s abi|simulate|roundtrip|stats|migration|oom|unload|"
                "compare MIB|touch MIB\n", argv[0]);
        return 2;
}
