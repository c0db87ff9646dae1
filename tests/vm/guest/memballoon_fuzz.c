// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * memballoon_fuzz: the guest half of the "fuzz" VM scenario (issue 10).
 *
 *   memballoon_fuzz fuzz [--seed N] [--calls N] [--writers N] [--min-seconds S]
 *
 * Several forked writers share the one writer fd of /dev/memballoon (and a
 * read-only fd) and make random and boundary calls: every ioctl with argsz
 * 0, 1, too small, the v1 and v2 sizes, a zero or non-zero tail, the
 * maximum and beyond; every flag bit and unknown ones; non-zero reserved
 * fields; page counts, targets and stats at and past their limits; NULL,
 * unmapped, kernel, misaligned, read-only and page-straddling pointers;
 * unknown ioctl numbers; read() and poll() of the event stream; opens that
 * must get -EBUSY; and short valid sequences (inflate then deflate, stats
 * then state, target then events, a GET_STATE argsz sweep).  Meanwhile a
 * child writes /proc/sys/vm/compact_memory in a loop, another forks memory
 * hogs that allocate until the OOM killer takes them (every other process
 * here has oom_score_adj -1000), one more polls and reads events, and the
 * host unplugs and replugs the virtio-balloon device (tests/vm/fuzz.py).
 *
 * Each call's expected outcome follows from include/uapi/linux/memballoon.h
 * alone: the set of errnos its violations allow (the order the module
 * checks them in is not part of the contract), -EFAULT for a pointer the
 * call cannot read or (for _IOWR) write, 0 for a valid call (-EOPNOTSUPP
 * too for SIM_SET_TARGET, whose answer depends on the transport of the
 * moment).  Any other result is printed with the call.  Successful results
 * are checked for sanity, failed calls must leave the argument untouched,
 * and no call may write beyond argsz.
 *
 * Reproducible: writer i draws from a splitmix64 stream seeded from (seed,
 * i), and which call it makes never depends on results, so a seed gives
 * the same calls, the same per-command counts and the same sequence hash.
 * Results (and so the errno counts) depend on timing.
 *
 * Protocol with the host as in memballoon_test.c: "@@ READY tag" / "GO tag"
 * on /dev/ttyS1, "@@ KV", "@@ ERROR".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
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
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <linux/memballoon.h>

#define DEV_PATH "/dev/" MEMBALLOON_DEVICE_NAME
#define CTL_TTY "/dev/ttyS1"
#define MIB (1ULL << 20)
#define NSEC_PER_SEC 1000000000ULL
#define HOST_TIMEOUT_MS 120000
/* Printed bad calls per writer; all are counted. */
#define MAX_PRINTED 10
/* Bytes after argsz that must stay as we left them. */
#define CANARY_LEN 64
#define CANARY 0xa5
/*
 * The hog's nice value.  At 0 it shares the CPU with four busy writers and
 * rarely got to the OOM killer within a run (0-1 kills); at -10 it got
 * there every ~12 s but slowed the writers by half.
 */
#define HOG_NICE (-5)
/* A final inflate whose size the host must see exactly: 16 MiB. */
#define FINAL_BYTES (16 * MIB)

/* ------------------------------------------------------------------------ */
/* Output and the host channel (as in memballoon_test.c)                     */

static int n_errors;

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
                out("@@ ERROR " fmt, ##__VA_ARGS__);                            \
        } while (0)

#define REQUIRE(cond, fmt, ...)                                                 \
        do {                                                                    \
                if (!(cond)) {                                                  \
                        ERROR("%s: " fmt, #cond, ##__VA_ARGS__);                \
                        exit(1);                                                \
                }                                                               \
        } while (0)

static uint64_t now_ns(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * NSEC_PER_SEC + ts.tv_nsec;
}

static const char *errname(long r)
{
        static char buf[32];

        switch (-r) {
        case 0: return "0";
        case EPERM: return "-EPERM";
        case EINTR: return "-EINTR";
        case EBADF: return "-EBADF";
        case EAGAIN: return "-EAGAIN";
        case ENOMEM: return "-ENOMEM";
        case EFAULT: return "-EFAULT";
        case EBUSY: return "-EBUSY";
        case ENODEV: return "-ENODEV";
        case EINVAL: return "-EINVAL";
        case ENOTTY: return "-ENOTTY";
        case E2BIG: return "-E2BIG";
        case EOPNOTSUPP: return "-EOPNOTSUPP";
        case EIO: return "-EIO";
        }
        snprintf(buf, sizeof(buf), "%ld", r);
        return buf;
}

static long xioctl(int fd, unsigned long cmd, void *arg)
{
        long r = ioctl(fd, cmd, arg);

        return r < 0 ? -errno : r;
}

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

static int ctl_fd = -1;

__attribute__((format(printf, 2, 3)))
static void host_wait(const char *tag, const char *fmt, ...)
{
        char args[256] = "", line[512];
        size_t len = 0;
        uint64_t end = now_ns() + HOST_TIMEOUT_MS * 1000000ULL;
        va_list ap;

        if (ctl_fd < 0) {
                struct termios t;

                ctl_fd = open(CTL_TTY, O_RDWR | O_NOCTTY | O_CLOEXEC);
                REQUIRE(ctl_fd >= 0, "open %s: %m", CTL_TTY);
                REQUIRE(tcgetattr(ctl_fd, &t) == 0, "tcgetattr: %m");
                cfmakeraw(&t);
                REQUIRE(tcsetattr(ctl_fd, TCSANOW, &t) == 0, "tcsetattr: %m");
        }
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
                if (read(ctl_fd, &c, 1) != 1 || c == '\r')
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
        }
}

/* ------------------------------------------------------------------------ */
/* PRNG: splitmix64, one stream per process                                  */

struct rng {
        uint64_t s;
};

static uint64_t rnd(struct rng *r)
{
        uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);

        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        return z ^ (z >> 31);
}

/* Uniform enough in [0, n) for fuzzing (n is small against 2^64). */
static uint64_t below(struct rng *r, uint64_t n)
{
        return n ? rnd(r) % n : 0;
}

/* [lo, hi] */
static uint64_t range(struct rng *r, uint64_t lo, uint64_t hi)
{
        return lo + below(r, hi - lo + 1);
}

static bool permille(struct rng *r, unsigned p)
{
        return below(r, 1000) < p;
}

/* The seed of child stream @i: independent of every other child's. */
static uint64_t derive(uint64_t seed, uint64_t i)
{
        struct rng r = { seed ^ (0xd1b54a32d192ed03ULL * (i + 1)) };

        rnd(&r);
        return rnd(&r);
}

/* Pick an index from a weight table. */
static unsigned pick(struct rng *r, const unsigned *w, unsigned n)
{
        unsigned total = 0, x;

        for (unsigned i = 0; i < n; i++)
                total += w[i];
        x = below(r, total);
        for (unsigned i = 0; i < n; i++) {
                if (x < w[i])
                        return i;
                x -= w[i];
        }
        return n - 1;
}
#define PICK(r, w) pick(r, w, sizeof(w) / sizeof(w[0]))

/* ------------------------------------------------------------------------ */
/* What is being fuzzed                                                      */

enum {
        OP_GET_API, OP_GET_STATE, OP_INFLATE, OP_DEFLATE, OP_SET_STATS, OP_SET_OOM,
        OP_SIM_SET_TARGET, OP_UNKNOWN, OP_READ, OP_POLL, OP_OPEN, N_OPS,
        OP_SEQ = N_OPS,         /* a short valid sequence of the above */
};

static const char *const op_names[N_OPS] = {
        "GET_API", "GET_STATE", "INFLATE", "DEFLATE", "SET_STATS", "SET_OOM",
        "SIM_SET_TARGET", "UNKNOWN", "READ", "POLL", "OPEN",
};

/* Per mille of the draws (OP_SEQ last). */
static const unsigned op_weight[N_OPS + 1] = {
        70, 110, 140, 140, 120, 70, 70, 110, 70, 40, 20, 40,
};

struct cmdinfo {
        unsigned long cmd;
        uint32_t minsz;         /* version 1: the smallest argsz accepted */
        uint32_t ksize;         /* what this header (and the module) knows */
        bool out;               /* _IOWR: the module writes the struct back */
        bool mutating;          /* writer only, else -EBADF */
};

static const struct cmdinfo cmds[] = {
        [OP_GET_API] = { MEMBALLOON_GET_API, sizeof(struct memballoon_api),
                         sizeof(struct memballoon_api), true, false },
        [OP_GET_STATE] = { MEMBALLOON_GET_STATE, MEMBALLOON_STATE_SIZE_V1,
                           sizeof(struct memballoon_state), true, false },
        [OP_INFLATE] = { MEMBALLOON_INFLATE, sizeof(struct memballoon_batch),
                         sizeof(struct memballoon_batch), true, true },
        [OP_DEFLATE] = { MEMBALLOON_DEFLATE, sizeof(struct memballoon_batch),
                         sizeof(struct memballoon_batch), true, true },
        [OP_SET_STATS] = { MEMBALLOON_SET_STATS, sizeof(struct memballoon_stats),
                           sizeof(struct memballoon_stats), false, true },
        [OP_SET_OOM] = { MEMBALLOON_SET_OOM, sizeof(struct memballoon_oom),
                         sizeof(struct memballoon_oom), false, true },
        [OP_SIM_SET_TARGET] = { MEMBALLOON_SIM_SET_TARGET,
                                sizeof(struct memballoon_sim_target),
                                sizeof(struct memballoon_sim_target), false, true },
};
#define N_CMDS (sizeof(cmds) / sizeof(cmds[0]))

/* Results as bits, for "which of these may it return". */
enum {
        RES_OK = 1 << 0, RES_EINVAL = 1 << 1, RES_E2BIG = 1 << 2, RES_EFAULT = 1 << 3,
        RES_EBADF = 1 << 4, RES_EOPNOTSUPP = 1 << 5, RES_ENOTTY = 1 << 6, RES_EAGAIN = 1 << 7,
        RES_EBUSY = 1 << 8, N_RES = 9,
};
static const char *const res_names[N_RES] = {
        "ok", "EINVAL", "E2BIG", "EFAULT", "EBADF", "EOPNOTSUPP", "ENOTTY", "EAGAIN", "EBUSY",
};

static unsigned xbit(long r)
{
        if (r >= 0)
                return RES_OK;
        switch (-r) {
        case EINVAL: return RES_EINVAL;
        case E2BIG: return RES_E2BIG;
        case EFAULT: return RES_EFAULT;
        case EBADF: return RES_EBADF;
        case EOPNOTSUPP: return RES_EOPNOTSUPP;
        case ENOTTY: return RES_ENOTTY;
        case EAGAIN: return RES_EAGAIN;
        case EBUSY: return RES_EBUSY;
        }
        return 0;       /* undocumented: never allowed */
}

static const char *xset(unsigned m)
{
        static char buf[128];
        size_t n = 0;

        buf[0] = 0;
        for (unsigned i = 0; i < N_RES; i++)
                if (m & (1U << i))
                        n += snprintf(buf + n, sizeof(buf) - n, "%s%s", n ? "|" : "",
                                      res_names[i]);
        return buf;
}

/* Pointer kinds. */
enum {
        P_OK, P_MISALIGNED, P_STRADDLE, P_RO, P_RO_STRADDLE, P_NULL, P_UNMAPPED, P_KERNEL,
        N_PTR,
};
static const char *const ptr_names[N_PTR] = {
        "ok", "misaligned", "straddle", "ro", "ro-straddle", "null", "unmapped", "kernel",
};
static const unsigned ptr_weight[N_PTR] = { 840, 40, 30, 40, 10, 15, 15, 10 };

/* Shared with the parent: one per writer. */
struct wres {
        uint64_t count[N_OPS];
        uint64_t result[N_RES + 1];       /* last: undocumented */
        uint64_t bad;
        uint64_t hash;
        uint64_t inflated, deflated;    /* pages, from successful calls */
        uint64_t stop[8];
        uint64_t events;
        uint64_t transports[3];         /* GET_STATE successes per transport */
        uint64_t ns;
        uint64_t op_ns[N_OPS + 1], op_draws[N_OPS + 1];       /* time per drawn op */
        uint64_t infl_ns[4], infl_calls[4], infl_max_ns[4];    /* valid INFLATEs by size */
        bool done;
};

/* Shared: what the helpers did. */
struct hres {
        uint64_t compactions, compact_errors;
        uint64_t hogs, hogs_killed;
        uint64_t reader_polls, reader_reads, reader_events, transport_changes;
};

/* Set up once in the parent, inherited. */
static struct memballoon_api api;
static uint64_t page_size, ram0_pages, oom_max_pages;
static unsigned stats_tags;     /* tags SET_STATS accepts */
static int wfd = -1, rfd = -1;
static uint64_t seed;
/*
 * The writers pace themselves so that a run lasts at least this long: the
 * host needs time for a few unplug/replug cycles (2-6 s each).  Under TCG
 * 10^5 calls take longer anyway; with KVM they would be over in seconds.
 * Pacing changes when calls are made, never which.
 */
static uint64_t min_run_ns = 20 * NSEC_PER_SEC;

/* ------------------------------------------------------------------------ */
/* One writer                                                                */

struct writer {
        unsigned id;
        struct rng r;
        struct wres *res;
        uint8_t *rw, *ro;       /* two views of one memfd, each followed by a guard */
        size_t span;
        uint64_t left, nr;      /* calls left, calls made */
        uint64_t last_seq;
        unsigned printed;
};

static void hash_in(struct writer *w, uint64_t v)
{
        /* FNV-1a over the 8 bytes. */
        for (int i = 0; i < 8; i++) {
                w->res->hash ^= (v >> (8 * i)) & 0xff;
                w->res->hash *= 0x100000001b3ULL;
        }
}

static bool take_call(struct writer *w, unsigned op)
{
        if (!w->left)
                return false;
        w->left--;
        w->nr++;
        w->res->count[op]++;
        hash_in(w, op);
        return true;
}

__attribute__((format(printf, 3, 4)))
static void bad_call(struct writer *w, const char *what, const char *fmt, ...)
{
        char buf[768];
        va_list ap;

        w->res->bad++;
        if (w->printed++ >= MAX_PRINTED)
                return;
        va_start(ap, fmt);
        vsnprintf(buf, sizeof(buf), fmt, ap);
        va_end(ap);
        out("@@ ERROR fuzz seed %" PRIu64 " writer %u call %" PRIu64 " %s: %s", seed, w->id,
            w->nr, what, buf);
}

static void count_result(struct writer *w, long r)
{
        unsigned b = xbit(r);

        w->res->result[b ? (unsigned) __builtin_ctz(b) : N_RES]++;
}

static const char *hexdump(const uint8_t *p, size_t n)
{
        static char buf[2 * 64 + 4];
        size_t i;

        if (n > 64)
                n = 64;
        for (i = 0; i < n; i++)
                sprintf(buf + 2 * i, "%02x", p[i]);
        buf[2 * i] = 0;
        return buf;
}

/* How a known command's argument was made. */
struct arg {
        uint32_t argsz;
        unsigned ptr;
        size_t off;             /* from the view's start (views only) */
        bool tail_nonzero;      /* a non-zero byte in [ksize, argsz) */
        uint8_t loc[MEMBALLOON_ARGSZ_MAX + CANARY_LEN + 16];
        size_t len;             /* bytes of loc written to the view */
        uint8_t kview[sizeof(struct memballoon_stats)]; /* what the module sees */
};

static uint32_t pick_argsz(struct writer *w, const struct cmdinfo *ci)
{
        static const unsigned wt[] = { 320, 100, 80, 40, 40, 30, 20, 40, 30, 30, 20, 30, 20, 20 };
        struct rng *r = &w->r;

        switch (PICK(r, wt)) {
        case 0: return ci->minsz;                               /* exact v1 */
        case 1: return ci->ksize;                               /* exact v2 */
        case 2: return range(r, ci->minsz, ci->ksize);          /* v1..v2 */
        case 3: return ci->ksize + range(r, 1, CANARY_LEN);     /* a small tail */
        case 4: return range(r, ci->ksize, MEMBALLOON_ARGSZ_MAX);
        case 5: return MEMBALLOON_ARGSZ_MAX;
        case 6: return 0;
        case 7: return 1;
        case 8: return ci->minsz - 1;
        case 9: return range(r, 2, ci->minsz - 1);
        case 10: return MEMBALLOON_ARGSZ_MAX + 1;
        case 11: return UINT32_MAX;
        case 12: return range(r, MEMBALLOON_ARGSZ_MAX + 2, UINT32_MAX);
        default: return 8;                                      /* the head only */
        }
}

static uint32_t pick_flags(struct writer *w)
{
        struct rng *r = &w->r;
        unsigned k = below(r, 1000);

        if (k < 800)
                return 0;
        if (k < 930)
                return 1U << below(r, 32);
        if (k < 980)
                return (uint32_t) rnd(r) | 1;
        return UINT32_MAX;
}

/* A reserved __u32: usually 0. */
static uint32_t pick_reserved(struct writer *w, bool valid)
{
        struct rng *r = &w->r;

        if (valid || !permille(r, 50))
                return 0;
        switch (below(r, 3)) {
        case 0: return 1;
        case 1: return 0x80000000U;
        default: return (uint32_t) rnd(r) | 1;
        }
}

static uint64_t pick_batch_nr(struct writer *w, bool valid, bool inflate)
{
        /* Deflates are bigger on average, so the balloon keeps coming back down. */
        /*
         * Inflates cost most of a run: with the OOM hog and compaction
         * running, allocating a page takes ~150 us under TCG (a full
         * max_batch_pages inflate, 256 MiB, 4-14 s).  Measured per run of
         * 10^5 calls, in writer seconds: 1-16 pages 7 s, 17-256 45 s,
         * 257-4096 at 3% of the inflates 74 s, 4 full batches 47 s.  So
         * few big ones: 257-4096 at 1.5%, about 5 full batches.
         */
        static const unsigned wi[] = { 2000, 3500, 2150, 150, 5, 600, 600, 400, 300, 295 };
        static const unsigned wd[] = { 1500, 2500, 2000, 1500, 100, 600, 600, 400, 300, 500 };
        struct rng *r = &w->r;
        unsigned k = inflate ? PICK(r, wi) : PICK(r, wd);
        uint64_t max = api.max_batch_pages;

        if (valid && k > 3)
                k = 1;
        switch (k) {
        case 0: return 1;
        case 1: return range(r, 2, inflate ? 16 : 64);
        case 2: return range(r, inflate ? 17 : 65, inflate ? 256 : 1024);
        case 3: return range(r, inflate ? 257 : 1025, inflate ? 4096 : 16384);
        case 4: return max;
        case 5: return 0;
        case 6: return max + 1;
        case 7: return 1ULL << 32;
        case 8: return UINT64_MAX;
        default: return rnd(r) | (1ULL << 63);
        }
}

/*
 * Fill @a->loc with the argument of @op and decide its argsz and pointer.
 * valid: a call the header says succeeds (SIM_SET_TARGET: 0 or
 * -EOPNOTSUPP).  @argsz_force: use this argsz (0: draw one).
 */
static void make_arg(struct writer *w, unsigned op, bool valid, uint32_t argsz_force,
                     struct arg *a)
{
        const struct cmdinfo *ci = &cmds[op];
        struct rng *r = &w->r;
        uint32_t argsz = argsz_force ? argsz_force : valid ? ci->minsz : pick_argsz(w, ci);
        size_t used = argsz <= MEMBALLOON_ARGSZ_MAX ? argsz : 0;
        uint8_t *p = a->loc;
        uint32_t flags = valid ? 0 : pick_flags(w);

        if (used < ci->ksize)
                used = ci->ksize;
        a->argsz = argsz;
        a->len = used + CANARY_LEN;
        memset(p, 0, used);
        memcpy(p, &argsz, 4);
        memcpy(p + 4, &flags, 4);

        switch (op) {
        case OP_GET_API: {
                struct memballoon_api *x = (void *) p;

                if (!valid && permille(r, 100)) {       /* out fields: ignored on input */
                        x->api_version = rnd(r);
                        x->features = rnd(r);
                        x->max_batch_pages = rnd(r);
                }
                break;
        }
        case OP_GET_STATE: {
                struct memballoon_state *x = (void *) p;

                x->reserved0 = pick_reserved(w, valid);
                x->reserved1 = pick_reserved(w, valid);
                if (!valid && permille(r, 100)) {
                        x->actual_pages = rnd(r);
                        x->state_flags = rnd(r);
                        x->oom_busy = rnd(r);
                }
                break;
        }
        case OP_INFLATE:
        case OP_DEFLATE: {
                struct memballoon_batch *x = (void *) p;

                x->nr_pages = pick_batch_nr(w, valid, op == OP_INFLATE);
                x->reserved0 = pick_reserved(w, valid);
                if (!valid && permille(r, 100)) {
                        x->done_pages = rnd(r);
                        x->actual_pages = rnd(r);
                        x->stop_reason = rnd(r);
                }
                break;
        }
        case OP_SET_STATS: {
                struct memballoon_stats *x = (void *) p;
                unsigned tags[MEMBALLOON_MAX_STATS], n = below(r, stats_tags + 1);

                for (unsigned i = 0; i < MEMBALLOON_MAX_STATS; i++)
                        tags[i] = i;
                for (unsigned i = stats_tags; i > 1; i--) {     /* shuffle */
                        unsigned j = below(r, i), t = tags[i - 1];

                        tags[i - 1] = tags[j];
                        tags[j] = t;
                }
                x->nr_stats = n;
                for (unsigned i = 0; i < n; i++) {
                        x->stats[i].tag = tags[i];
                        x->stats[i].val = rnd(r);
                }
                x->reserved0 = pick_reserved(w, valid);
                if (valid || !permille(r, 300))
                        break;
                switch (below(r, 7)) {
                case 0: x->nr_stats = MEMBALLOON_MAX_STATS + 1; break;
                case 1: x->nr_stats = range(r, MEMBALLOON_MAX_STATS + 2, UINT32_MAX); break;
                case 2:                                         /* a duplicate tag */
                        if (n >= 2) {
                                unsigned i = below(r, n), j = (i + 1 + below(r, n - 1)) % n;

                                x->stats[i].tag = x->stats[j].tag;
                        }
                        break;
                case 3:                                         /* an unknown tag */
                        if (n)
                                x->stats[below(r, n)].tag = permille(r, 500) ? MEMBALLOON_S_NR :
                                                            (uint32_t) rnd(r);
                        break;
                case 4:                                         /* unused entry not zero */
                        if (n < MEMBALLOON_MAX_STATS) {
                                unsigned i = range(r, n, MEMBALLOON_MAX_STATS - 1);

                                if (permille(r, 500))
                                        x->stats[i].tag = range(r, 1, 15);
                                else
                                        x->stats[i].val = rnd(r) | 1;
                        }
                        break;
                case 5:                                         /* entry reserved */
                        x->stats[below(r, MEMBALLOON_MAX_STATS)].reserved = rnd(r) | 1;
                        break;
                default:
                        x->nr_stats = n ? n - 1 : 0;            /* last entry now unused */
                        break;
                }
                break;
        }
        case OP_SET_OOM: {
                struct memballoon_oom *x = (void *) p;
                static const unsigned wt[] = { 100, 100, 200, 100, 250, 100, 80, 70 };
                unsigned k = PICK(r, wt);

                if (valid && k > 4)
                        k = 2;
                switch (k) {
                case 0: x->nr_pages = 0; break;
                case 1: x->nr_pages = 1; break;
                case 2: x->nr_pages = MEMBALLOON_OOM_DEFAULT_BYTES / page_size; break;
                case 3: x->nr_pages = oom_max_pages; break;
                case 4: x->nr_pages = range(r, 2, oom_max_pages); break;
                case 5: x->nr_pages = oom_max_pages + 1; break;
                case 6: x->nr_pages = UINT64_MAX; break;
                default: x->nr_pages = rnd(r) | (1ULL << 63); break;
                }
                break;
        }
        case OP_SIM_SET_TARGET: {
                struct memballoon_sim_target *x = (void *) p;
                static const unsigned wt[] = { 200, 150, 250, 100, 100, 100, 100 };
                unsigned k = PICK(r, wt);

                if (valid && k > 3)
                        k = 2;
                switch (k) {
                case 0: x->target_pages = 0; break;
                case 1: x->target_pages = 1; break;
                case 2: x->target_pages = below(r, ram0_pages / 4); break;
                case 3: x->target_pages = ram0_pages; break;
                case 4: x->target_pages = ram0_pages + 1; break;
                case 5: x->target_pages = ram0_pages + 1 + below(r, 1ULL << 40); break;
                default: x->target_pages = UINT64_MAX; break;
                }
                break;
        }
        }

        /* The tail after what we know: zero, or with one non-zero byte. */
        a->tail_nonzero = false;
        if (argsz > ci->ksize && argsz <= MEMBALLOON_ARGSZ_MAX && !valid && permille(r, 350)) {
                p[range(r, ci->ksize, argsz - 1)] = range(r, 1, 255);
                a->tail_nonzero = true;
        }
        /* Bytes past argsz (ours too): not the module's to read or write. */
        if (used == ci->ksize && argsz < ci->ksize)
                memset(p + argsz, CANARY, ci->ksize - argsz);
        memset(p + used, CANARY, CANARY_LEN);
        if (argsz <= MEMBALLOON_ARGSZ_MAX && argsz >= ci->ksize)
                memset(p + argsz, CANARY, used + CANARY_LEN - argsz);

        /* What copy_struct_from_user() gives the module. */
        memset(a->kview, 0, sizeof(a->kview));
        memcpy(a->kview, p, argsz < ci->ksize ? argsz : ci->ksize);

        a->ptr = valid ? P_OK : PICK(r, ptr_weight);
        a->off = 0;
        if (a->ptr == P_MISALIGNED) {
                a->off = range(r, 1, 7);
        } else if (a->ptr == P_STRADDLE || a->ptr == P_RO_STRADDLE) {
                size_t n = argsz >= 2 && argsz <= MEMBALLOON_ARGSZ_MAX ? argsz : ci->ksize;

                /* Starts 1..n-1 bytes before the guard page. */
                a->off = w->span - range(r, 1, n - 1);
        }
        hash_in(w, argsz);
        hash_in(w, ((uint64_t) a->ptr << 32) | a->off);
        hash_in(w, a->tail_nonzero);
        for (size_t i = 0; i < sizeof(a->kview); i += 8) {
                uint64_t v;

                memcpy(&v, a->kview + i, 8);
                hash_in(w, v);
        }
}

static bool in_view(unsigned ptr)
{
        return ptr <= P_RO_STRADDLE;
}

static void *arg_ptr(struct writer *w, struct arg *a)
{
        switch (a->ptr) {
        case P_RO:
        case P_RO_STRADDLE:
                return w->ro + a->off;
        case P_NULL:
                return NULL;
        case P_UNMAPPED:
                return w->rw + w->span + (rnd(&w->r) % page_size);
        case P_KERNEL:
                /* x86-64's direct map; above TASK_SIZE on every 64-bit arch. */
                return (void *) (0xffff888000000000ULL + (rnd(&w->r) & 0xfffffff8ULL));
        default:
                return w->rw + a->off;
        }
}

/* Whether the first @n bytes at the argument can be read / written. */
static bool readable(struct writer *w, const struct arg *a, size_t n)
{
        return in_view(a->ptr) && a->off + n <= w->span;
}

static bool writable(struct writer *w, const struct arg *a, size_t n)
{
        return readable(w, a, n) && a->ptr != P_RO && a->ptr != P_RO_STRADDLE;
}

/* Field violations of a validated argument (the module's view). */
static bool fields_invalid(unsigned op, const uint8_t *kv)
{
        switch (op) {
        case OP_GET_STATE: {
                const struct memballoon_state *x = (const void *) kv;

                return x->reserved0 || x->reserved1;
        }
        case OP_INFLATE:
        case OP_DEFLATE: {
                const struct memballoon_batch *x = (const void *) kv;

                return x->reserved0 || x->nr_pages < 1 || x->nr_pages > api.max_batch_pages;
        }
        case OP_SET_STATS: {
                const struct memballoon_stats *x = (const void *) kv;
                unsigned seen = 0;

                if (x->reserved0 || x->nr_stats > MEMBALLOON_MAX_STATS)
                        return true;
                for (unsigned i = 0; i < MEMBALLOON_MAX_STATS; i++) {
                        const struct memballoon_stat *s = &x->stats[i];

                        if (s->reserved)
                                return true;
                        if (i >= x->nr_stats) {
                                if (s->tag || s->val)
                                        return true;
                                continue;
                        }
                        if (s->tag >= stats_tags || (seen & (1U << s->tag)))
                                return true;
                        seen |= 1U << s->tag;
                }
                return false;
        }
        case OP_SET_OOM: {
                const struct memballoon_oom *x = (const void *) kv;

                return x->nr_pages > oom_max_pages;
        }
        }
        return false;
}

/* The results the header allows for this call. */
static unsigned expect_known(struct writer *w, unsigned op, bool reader, const struct arg *a)
{
        const struct cmdinfo *ci = &cmds[op];
        uint32_t argsz = a->argsz, flags;
        unsigned m = 0;

        if (ci->mutating && reader)
                return RES_EBADF;
        if (!readable(w, a, 4))
                return RES_EFAULT;
        if (argsz < ci->minsz || argsz > MEMBALLOON_ARGSZ_MAX)
                return RES_EINVAL;
        if (!readable(w, a, argsz))
                m |= RES_EFAULT;
        if (a->tail_nonzero)
                m |= RES_E2BIG;
        memcpy(&flags, a->kview + 4, 4);
        if (flags || fields_invalid(op, a->kview))
                m |= RES_EINVAL;
        if (m)
                return m;
        if (op == OP_SIM_SET_TARGET) {
                const struct memballoon_sim_target *x = (const void *) a->kview;

                return RES_EOPNOTSUPP | (x->target_pages <= ram0_pages ? RES_OK : RES_EINVAL);
        }
        if (ci->out && !writable(w, a, op == OP_GET_STATE && argsz < ci->ksize ? argsz :
                                 ci->ksize))
                return RES_EFAULT;
        return RES_OK;
}

/* Sanity of what a successful call wrote back; "" if fine. */
static const char *check_output(struct writer *w, unsigned op, const struct arg *a,
                                const uint8_t *p)
{
        static char why[160];
        uint32_t argsz, flags;

        memcpy(&argsz, p, 4);
        memcpy(&flags, p + 4, 4);
        if (argsz != a->argsz || flags)
                return "argsz or flags changed";
        switch (op) {
        case OP_GET_API: {
                const struct memballoon_api *x = (const void *) p;

                if (x->api_version != api.api_version || x->page_size != api.page_size ||
                    x->features != api.features || x->ioctls != api.ioctls ||
                    x->max_batch_pages != api.max_batch_pages ||
                    x->event_size != api.event_size)
                        return "GET_API answer differs from the first one";
                break;
        }
        case OP_GET_STATE: {
                struct memballoon_state x;

                memset(&x, 0, sizeof(x));
                memcpy(&x, p, a->argsz < sizeof(x) ? a->argsz : sizeof(x));
                if (x.transport != MEMBALLOON_TRANSPORT_SIMULATE &&
                    x.transport != MEMBALLOON_TRANSPORT_VIRTIO)
                        return "transport unknown";
                w->res->transports[x.transport]++;
                if (x.reserved0 || x.reserved1)
                        return "reserved field not 0";
                if (x.transport == MEMBALLOON_TRANSPORT_SIMULATE && x.host_features)
                        return "host_features in simulate mode";
                if (x.actual_pages > ram0_pages || x.total_ram_pages > ram0_pages ||
                    !x.total_ram_pages) {
                        snprintf(why, sizeof(why), "actual %llu total_ram %llu, RAM %llu pages",
                                 (unsigned long long) x.actual_pages,
                                 (unsigned long long) x.total_ram_pages,
                                 (unsigned long long) ram0_pages);
                        return why;
                }
                if (a->argsz >= offsetof(struct memballoon_state, reserved1) &&
                    (x.state_flags & ~(MEMBALLOON_STATE_F_BALLOON_IN_TOTALRAM |
                                       MEMBALLOON_STATE_F_HOST_BROKEN |
                                       MEMBALLOON_STATE_F_DEFLATE_BELOW_TARGET)))
                        return "unknown state_flags";
                if (x.oom_nr_pages > oom_max_pages)
                        return "oom_nr_pages above the maximum";
                break;
        }
        case OP_INFLATE:
        case OP_DEFLATE: {
                const struct memballoon_batch *x = (const void *) p;
                const struct memballoon_batch *in = (const void *) a->kview;
                bool infl = op == OP_INFLATE;
                uint32_t s = x->stop_reason;
                bool ok_reason = infl ? (s == MEMBALLOON_STOP_DONE || s == MEMBALLOON_STOP_NOMEM ||
                                         s == MEMBALLOON_STOP_SIGNAL ||
                                         s == MEMBALLOON_STOP_OFFLINE ||
                                         s == MEMBALLOON_STOP_HOST) :
                                        (s == MEMBALLOON_STOP_DONE || s == MEMBALLOON_STOP_EMPTY ||
                                         s == MEMBALLOON_STOP_HOST_TARGET ||
                                         s == MEMBALLOON_STOP_SIGNAL ||
                                         s == MEMBALLOON_STOP_HOST);

                if (!ok_reason || x->reserved0 || x->nr_pages != in->nr_pages ||
                    x->done_pages > in->nr_pages ||
                    (s == MEMBALLOON_STOP_DONE) != (x->done_pages == in->nr_pages) ||
                    x->actual_pages > ram0_pages) {
                        snprintf(why, sizeof(why), "nr %llu done %llu actual %llu stop %u "
                                 "reserved0 %u", (unsigned long long) x->nr_pages,
                                 (unsigned long long) x->done_pages,
                                 (unsigned long long) x->actual_pages, s, x->reserved0);
                        return why;
                }
                *(infl ? &w->res->inflated : &w->res->deflated) += x->done_pages;
                w->res->stop[s & 7]++;
                break;
        }
        }
        return "";
}

static void call_known(struct writer *w, unsigned op, bool valid, uint32_t argsz_force)
{
        static struct arg a;
        const struct cmdinfo *ci = &cmds[op];
        bool reader;
        unsigned want;
        uint8_t *view;
        void *uptr;
        uint64_t t;
        size_t n;
        long r;

        if (!take_call(w, op))
                return;
        reader = !valid && permille(&w->r, 60);
        hash_in(w, reader);
        make_arg(w, op, valid, argsz_force, &a);
        uptr = arg_ptr(w, &a);
        view = w->rw + a.off;
        n = 0;
        if (in_view(a.ptr)) {
                n = a.len < w->span - a.off ? a.len : w->span - a.off;
                memcpy(view, a.loc, n);
        }
        want = expect_known(w, op, reader, &a);
        t = now_ns();
        r = xioctl(reader ? rfd : wfd, ci->cmd, uptr);
        t = now_ns() - t;
        count_result(w, r);
        if (op == OP_INFLATE && r == 0) {
                const struct memballoon_batch *x = (const void *) a.kview;
                unsigned k = x->nr_pages <= 16 ? 0 : x->nr_pages <= 256 ? 1 :
                             x->nr_pages < api.max_batch_pages ? 2 : 3;

                w->res->infl_ns[k] += t;
                w->res->infl_calls[k]++;
                if (t > w->res->infl_max_ns[k])
                        w->res->infl_max_ns[k] = t;
        }
        if (!(xbit(r) & want)) {
                bad_call(w, "wrong result", "%s (cmd %#lx) fd %s argsz %u ptr %s+%zu%s "
                         "arg %s -> %s, header allows %s", op_names[op], ci->cmd,
                         reader ? "rdonly" : "writer", a.argsz, ptr_names[a.ptr], a.off,
                         a.tail_nonzero ? " tail!=0" : "",
                         hexdump(a.kview, a.argsz < ci->ksize ? a.argsz : ci->ksize),
                         errname(r), xset(want));
                return;
        }
        if (!n)
                return;
        if (r != 0 && r != -EFAULT && memcmp(view, a.loc, n)) {
                bad_call(w, "failed call wrote its argument", "%s argsz %u ptr %s -> %s",
                         op_names[op], a.argsz, ptr_names[a.ptr], errname(r));
                return;
        }
        if (r != 0)
                return;
        if (!ci->out) {
                if (memcmp(view, a.loc, n))
                        bad_call(w, "_IOW call wrote its argument", "%s", op_names[op]);
                return;
        }
        /* Success: argsz <= MEMBALLOON_ARGSZ_MAX, nothing written past it. */
        if (a.argsz < n && memcmp(view + a.argsz, a.loc + a.argsz, n - a.argsz)) {
                bad_call(w, "wrote past argsz", "%s argsz %u", op_names[op], a.argsz);
                return;
        }
        {
                const char *why = check_output(w, op, &a, view);

                if (*why)
                        bad_call(w, "bad output", "%s argsz %u arg %s: %s", op_names[op],
                                 a.argsz, hexdump(a.kview, 48), why);
        }
}

/* Types do_vfs_ioctl() answers itself before the driver sees the call. */
static bool vfs_type(unsigned type, unsigned nr)
{
        return type == 0x54 /* 'T' FIOCLEX... */ || type == 0x58 /* 'X' FIFREEZE */ ||
               type == 0x66 /* 'f' FS_IOC_* */ || type == 0x94 /* FICLONE */ ||
               type == 0x15 /* FS_IOC_GETFSUUID */ || (type == 0 && (nr == 1 || nr == 2));
}

/* GET_STATE answers to any size field from version 1's up (the header). */
static bool is_get_state(unsigned long cmd)
{
        return _IOC_TYPE(cmd) == MEMBALLOON_IOC_MAGIC && _IOC_NR(cmd) == _IOC_NR(MEMBALLOON_GET_STATE) &&
               _IOC_DIR(cmd) == (_IOC_READ | _IOC_WRITE) && _IOC_SIZE(cmd) >= MEMBALLOON_STATE_SIZE_V1;
}

static bool is_known(unsigned long cmd)
{
        if (is_get_state(cmd))
                return true;
        for (unsigned i = 0; i < N_CMDS; i++)
                if (cmds[i].cmd == cmd)
                        return true;
        return false;
}

static void call_unknown(struct writer *w)
{
        struct rng *r = &w->r;
        unsigned type = MEMBALLOON_IOC_MAGIC, nr, dir = below(r, 4), size = below(r, 1 << 14);
        unsigned long cmd;
        static struct arg a;
        void *uptr;
        long r2;

        if (!take_call(w, OP_UNKNOWN))
                return;
        switch (below(r, 5)) {
        case 0:                 /* our type, a number past the last */
                nr = range(r, 7, 255);
                break;
        case 1:                 /* a known number with another size or direction */
                nr = below(r, N_CMDS);
                if (permille(r, 500))
                        size = _IOC_SIZE(cmds[nr].cmd) + (permille(r, 500) ? 8 : -8);
                break;
        case 2:                 /* someone else's type */
                do {
                        type = below(r, 256);
                        nr = below(r, 256);
                } while (vfs_type(type, nr) || type == MEMBALLOON_IOC_MAGIC);
                break;
        case 3:                 /* small numbers, 0 first */
                type = 0;
                nr = permille(r, 300) ? 0 : range(r, 3, 255);
                dir = 0;
                size = 0;
                break;
        default:
                do {
                        cmd = (uint32_t) rnd(r);
                        type = _IOC_TYPE(cmd);
                        nr = _IOC_NR(cmd);
                        dir = _IOC_DIR(cmd);
                        size = _IOC_SIZE(cmd);
                } while (vfs_type(type, nr));
                break;
        }
        cmd = _IOC(dir, type, nr, size);
        if (is_get_state(cmd))
                cmd = _IOC(_IOC_READ, type, nr, size);  /* another direction */
        else if (is_known(cmd))
                cmd ^= 1UL << _IOC_SIZESHIFT;   /* size +-1: another command */
        hash_in(w, cmd);
        make_arg(w, below(r, N_CMDS), false, 0, &a);
        uptr = arg_ptr(w, &a);
        if (in_view(a.ptr))
                memcpy(w->rw + a.off, a.loc, a.len < w->span - a.off ? a.len : w->span - a.off);
        r2 = xioctl(permille(r, 100) ? rfd : wfd, cmd, uptr);
        count_result(w, r2);
        if (r2 != -ENOTTY)
                bad_call(w, "unknown ioctl", "cmd %#lx (type %#x nr %u dir %u size %u) "
                         "ptr %s -> %s, header says ENOTTY", cmd, type, nr, dir, size,
                         ptr_names[a.ptr], errname(r2));
}

static void check_events(struct writer *w, const struct memballoon_event *ev, size_t n,
                         uint64_t *last_seq)
{
        uint64_t now = now_ns();

        for (size_t i = 0; i < n; i++) {
                if (ev[i].type < MEMBALLOON_EVENT_TARGET || ev[i].type > MEMBALLOON_EVENT_HOST ||
                    ev[i].reserved || ev[i].seq <= *last_seq || ev[i].time_ns > now)
                        bad_call(w, "bad event", "type %u reserved %u seq %llu (last %llu) "
                                 "time_ns %llu now %llu", ev[i].type, ev[i].reserved,
                                 (unsigned long long) ev[i].seq, (unsigned long long) *last_seq,
                                 (unsigned long long) ev[i].time_ns, (unsigned long long) now);
                *last_seq = ev[i].seq;
        }
}

static void call_read(struct writer *w, bool valid)
{
        static const size_t sizes[] = { 0, 1, 31, 32, 33, 64, 100, 256, 2048, 4096, 1 << 20 };
        static const unsigned wt[] = { 40, 40, 60, 250, 60, 150, 60, 150, 60, 80, 50 };
        const size_t esz = sizeof(struct memballoon_event);
        struct rng *r = &w->r;
        size_t count = valid ? 256 : sizes[PICK(r, wt)];
        unsigned ptr = valid ? P_OK : PICK(r, ptr_weight);
        bool reader = !valid && permille(r, 80);
        size_t off = 0, room;
        unsigned want;
        uint8_t *buf;
        long n;

        if (!take_call(w, OP_READ))
                return;
        if (ptr == P_MISALIGNED)
                off = range(r, 1, 7);
        else if (ptr == P_STRADDLE || ptr == P_RO_STRADDLE)
                off = w->span - range(r, 1, 3 * esz);
        hash_in(w, count);
        hash_in(w, ((uint64_t) ptr << 32) | off);
        hash_in(w, reader);
        switch (ptr) {
        case P_RO: case P_RO_STRADDLE: buf = w->ro + off; break;
        case P_NULL: buf = NULL; break;
        case P_UNMAPPED: buf = w->rw + w->span; break;
        case P_KERNEL: buf = (uint8_t *) 0xffff888000000000ULL; break;
        default: buf = w->rw + off; break;
        }
        room = ptr == P_OK || ptr == P_MISALIGNED || ptr == P_STRADDLE ? w->span - off : 0;
        if (ptr == P_KERNEL)
                want = RES_EFAULT;      /* vfs_read(): access_ok() comes first */
        else if (reader)
                want = RES_EBADF;
        else if (count < esz)
                want = RES_EINVAL;
        else if (room >= count || room >= 64 * esz)     /* the queue holds 64 at most */
                want = RES_OK | RES_EAGAIN;
        else
                want = RES_OK | RES_EAGAIN | RES_EFAULT;      /* events popped then lost */
        n = read(reader ? rfd : wfd, buf, count);
        if (n < 0)
                n = -errno;
        count_result(w, n);
        if (!(xbit(n) & want) || (n > 0 && ((size_t) n % esz || (size_t) n > count ||
                                            (size_t) n > room))) {
                bad_call(w, "read", "fd %s count %zu buf %s+%zu -> %s, header allows %s",
                         reader ? "rdonly" : "writer", count, ptr_names[ptr], off, errname(n),
                         xset(want));
                return;
        }
        if (n > 0) {
                w->res->events += n / esz;
                check_events(w, (const void *) buf, n / esz, &w->last_seq);
        }
}

static void call_poll(struct writer *w)
{
        static const short evs[] = { POLLIN, POLLIN | POLLOUT, POLLPRI, POLLRDNORM, 0,
                                     POLLIN | POLLPRI | POLLOUT | POLLRDNORM };
        struct rng *r = &w->r;
        bool reader = permille(r, 150);
        struct pollfd p = { .fd = reader ? rfd : wfd, .events = evs[below(r, 6)] };
        int n;

        if (!take_call(w, OP_POLL))
                return;
        hash_in(w, ((uint64_t) reader << 16) | (uint16_t) p.events);
        n = poll(&p, 1, 0);
        count_result(w, n < 0 ? -errno : 0);
        if (n < 0 || n > 1 ||
            (reader ? !(p.revents & POLLERR) : (p.revents & ~(POLLIN | POLLRDNORM)) != 0))
                bad_call(w, "poll", "fd %s events %#x -> %d revents %#x",
                         reader ? "rdonly" : "writer", p.events, n, p.revents);
}

static void call_open(struct writer *w)
{
        static const int modes[] = { O_RDONLY, O_RDWR, O_WRONLY, O_RDONLY | O_NONBLOCK,
                                     O_RDWR | O_NONBLOCK };
        int mode = modes[below(&w->r, 5)], fd;
        long r;

        if (!take_call(w, OP_OPEN))
                return;
        hash_in(w, mode);
        fd = open(DEV_PATH, mode | O_CLOEXEC);
        r = fd < 0 ? -errno : 0;
        count_result(w, r);
        /* The parent holds the writer for the whole run. */
        if ((mode & O_ACCMODE) == O_RDONLY ? r != 0 : r != -EBUSY)
                bad_call(w, "open", "mode %#x -> %s", mode, errname(r));
        if (fd >= 0)
                close(fd);
}

/* A few valid calls in a row, the way a daemon makes them. */
static void call_sequence(struct writer *w)
{
        static const uint32_t sweep[] = {
                MEMBALLOON_STATE_SIZE_V1 - 1, MEMBALLOON_STATE_SIZE_V1,
                MEMBALLOON_STATE_SIZE_V1 + 1, MEMBALLOON_STATE_SIZE_V1 + 4,
                offsetof(struct memballoon_state, reserved1) + 4,
                sizeof(struct memballoon_state) - 1, sizeof(struct memballoon_state),
                sizeof(struct memballoon_state) + 1,
        };
        unsigned k = below(&w->r, 4);

        hash_in(w, 0x5e9 + k);
        switch (k) {
        case 0:
                call_known(w, OP_INFLATE, true, 0);
                call_known(w, OP_GET_STATE, true, sizeof(struct memballoon_state));
                call_known(w, OP_DEFLATE, true, 0);
                break;
        case 1:
                call_known(w, OP_SET_STATS, true, 0);
                call_known(w, OP_GET_STATE, true, MEMBALLOON_STATE_SIZE_V1);
                call_known(w, OP_GET_STATE, true, sizeof(struct memballoon_state));
                break;
        case 2:
                call_known(w, OP_SIM_SET_TARGET, true, 0);
                call_poll(w);
                call_read(w, true);
                break;
        default:
                for (unsigned i = 0; i < sizeof(sweep) / sizeof(sweep[0]); i++)
                        call_known(w, OP_GET_STATE, i > 0 && i < 7, sweep[i]);
                break;
        }
}

static int writer_main(unsigned id, uint64_t calls, struct wres *res)
{
        struct writer w = {
                .id = id, .r = { derive(seed, id) }, .res = res, .left = calls,
                .span = 2 * page_size,
        };
        uint64_t t0 = now_ns();
        uint8_t *base;
        int mfd;

        res->hash = 0xcbf29ce484222325ULL;
        /* [rw view][guard][ro view][guard], both views of one memfd. */
        mfd = memfd_create("fuzz-arg", MFD_CLOEXEC);
        REQUIRE(mfd >= 0, "memfd_create: %m");
        REQUIRE(ftruncate(mfd, w.span) == 0, "ftruncate: %m");
        base = mmap(NULL, 2 * (w.span + page_size), PROT_NONE,
                    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        REQUIRE(base != MAP_FAILED, "mmap: %m");
        w.rw = mmap(base, w.span, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, mfd, 0);
        w.ro = mmap(base + w.span + page_size, w.span, PROT_READ, MAP_SHARED | MAP_FIXED,
                    mfd, 0);
        REQUIRE(w.rw != MAP_FAILED && w.ro != MAP_FAILED, "mmap views: %m");

        while (w.left) {
                unsigned op = PICK(&w.r, op_weight);
                uint64_t t = now_ns();

                if (w.nr % 256 == 0) {
                        uint64_t due = t0 + (unsigned __int128) min_run_ns * w.nr / calls;

                        if (t < due) {
                                usleep((due - t) / 1000);
                                t = now_ns();
                        }
                }

                if (op < N_CMDS)
                        call_known(&w, op, false, 0);
                else if (op == OP_UNKNOWN)
                        call_unknown(&w);
                else if (op == OP_READ)
                        call_read(&w, false);
                else if (op == OP_POLL)
                        call_poll(&w);
                else if (op == OP_OPEN)
                        call_open(&w);
                else
                        call_sequence(&w);
                res->op_ns[op] += now_ns() - t;
                res->op_draws[op]++;
        }
        res->ns = now_ns() - t0;
        res->done = true;
        return 0;
}

/* ------------------------------------------------------------------------ */
/* What races the writers                                                    */

static volatile sig_atomic_t stop;

static void on_term(int sig)
{
        (void) sig;
        stop = 1;
}

static void catch_term(void)
{
        struct sigaction sa = { .sa_handler = on_term };

        sigaction(SIGTERM, &sa, NULL);  /* no SA_RESTART: waits return EINTR */
}

static void compactor_main(struct hres *h, uint64_t s)
{
        struct rng r = { s };

        catch_term();
        while (!stop) {
                if (write_file("/proc/sys/vm/compact_memory", "1"))
                        h->compact_errors++;
                h->compactions++;
                usleep(range(&r, 20, 200) * 1000);
        }
}

/*
 * Allocate until the OOM killer takes us.  MAP_POPULATE faults the pages
 * in inside the kernel, much faster under TCG than one trap per page: as a
 * plain loop of page touches the hog took ~30 s to reach the OOM killer
 * behind the writers (one OOM kill per run); so it takes 5-10 s.
 */
static void hog_child(void)
{
        write_file("/proc/self/oom_score_adj", "1000");
        setpriority(PRIO_PROCESS, 0, HOG_NICE);
        for (;;)
                if (mmap(NULL, 32 * MIB, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0) == MAP_FAILED)
                        usleep(1000);
}

static void hog_main(struct hres *h, uint64_t s)
{
        struct rng r = { s };

        setpgid(0, 0);
        while (!stop) {
                int status;
                pid_t pid = fork();

                if (pid == 0)
                        hog_child();
                if (pid < 0) {
                        usleep(100000);
                        continue;
                }
                h->hogs++;
                if (waitpid(pid, &status, 0) == pid && WIFSIGNALED(status) &&
                    WTERMSIG(status) == SIGKILL)
                        h->hogs_killed++;
                usleep(range(&r, 100, 700) * 1000);
        }
}

static void reader_main(struct hres *h)
{
        struct memballoon_event ev[16];
        uint64_t last = 0, t0 = now_ns();
        uint32_t transport = MEMBALLOON_TRANSPORT_VIRTIO;

        catch_term();
        while (!stop) {
                struct pollfd p = { .fd = wfd, .events = POLLIN };
                struct memballoon_state s = { .argsz = sizeof(s) };
                ssize_t n;

                /* Log each transport change: how long the device was away. */
                if (!xioctl(rfd, MEMBALLOON_GET_STATE, &s) && s.transport != transport) {
                        out("fuzz: %.2f s: transport %s", (now_ns() - t0) / 1e9,
                            s.transport == MEMBALLOON_TRANSPORT_VIRTIO ? "virtio" : "simulate");
                        transport = s.transport;
                        h->transport_changes++;
                }

                h->reader_polls++;
                if (poll(&p, 1, 100) <= 0)
                        continue;
                n = read(wfd, ev, sizeof(ev));
                h->reader_reads++;
                if (n < 0) {
                        if (errno != EAGAIN)
                                ERROR("fuzz event reader: read: %m");
                        continue;
                }
                if (n == 0 || n % sizeof(ev[0])) {
                        ERROR("fuzz event reader: read %zd bytes", n);
                        continue;
                }
                for (size_t i = 0; i < n / sizeof(ev[0]); i++) {
                        if (ev[i].seq <= last || ev[i].reserved ||
                            ev[i].type < MEMBALLOON_EVENT_TARGET || ev[i].type > MEMBALLOON_EVENT_HOST)
                                ERROR("fuzz event reader: type %u seq %llu after %llu",
                                      ev[i].type, (unsigned long long) ev[i].seq,
                                      (unsigned long long) last);
                        last = ev[i].seq;
                }
                h->reader_events += n / sizeof(ev[0]);
        }
}

static pid_t spawn(void (*fn)(struct hres *, uint64_t), struct hres *h, uint64_t s)
{
        pid_t pid = fork();

        REQUIRE(pid >= 0, "fork: %m");
        if (pid == 0) {
                fn(h, s);
                _exit(n_errors ? 1 : 0);
        }
        return pid;
}

static void reader_entry(struct hres *h, uint64_t s)
{
        (void) s;
        reader_main(h);
}

static void stop_child(pid_t pid, const char *what)
{
        int status;

        kill(pid, SIGTERM);
        if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status))
                ERROR("fuzz %s: status %#x", what, status);
}

/* ------------------------------------------------------------------------ */
/* The run                                                                   */

static struct memballoon_state get_state(void)
{
        struct memballoon_state s = { .argsz = sizeof(s) };
        long r = xioctl(wfd, MEMBALLOON_GET_STATE, &s);

        REQUIRE(r == 0, "GET_STATE: %s", errname(r));
        return s;
}

/* DEFLATE until the balloon is empty; false if it does not empty. */
static bool empty_balloon(void)
{
        uint64_t end = now_ns() + 60 * NSEC_PER_SEC;

        for (;;) {
                struct memballoon_batch b = { .argsz = sizeof(b),
                                              .nr_pages = api.max_batch_pages };
                long r = xioctl(wfd, MEMBALLOON_DEFLATE, &b);

                if (r) {
                        ERROR("fuzz: final DEFLATE: %s", errname(r));
                        return false;
                }
                if (b.actual_pages == 0 && get_state().actual_pages == 0)
                        return true;
                if (now_ns() > end) {
                        ERROR("fuzz: balloon still %llu pages after 60 s of DEFLATE (stop %u)",
                              (unsigned long long) b.actual_pages, b.stop_reason);
                        return false;
                }
                if (b.done_pages == 0)
                        usleep(10000);
        }
}

static uint64_t memtotal_before_load(void)
{
        FILE *f = fopen("/run/mbt-memtotal-before-load", "re");
        unsigned long long v = 0;

        if (!f)
                return 0;
        if (fscanf(f, "MemTotal: %llu", &v) != 1)
                v = 0;
        fclose(f);
        return v;
}

static void print_counts(const char *what, const uint64_t *c, const char *const *names,
                         unsigned n)
{
        char buf[768];
        size_t len = 0;

        for (unsigned i = 0; i < n; i++)
                len += snprintf(buf + len, sizeof(buf) - len, " %s=%llu", names[i],
                                (unsigned long long) c[i]);
        out("fuzz %s%s", what, buf);
}

static int cmd_fuzz(uint64_t calls, unsigned writers)
{
        struct wres *res;
        struct hres *h;
        pid_t pids[64], compactor, hog, reader;
        uint64_t m0, mpre, t0, elapsed, total[N_OPS] = {}, results[N_RES + 1] = {};
        uint64_t bad = 0, hash = 0xcbf29ce484222325ULL, inflated = 0, deflated = 0, ev = 0;
        uint64_t stops[8] = {}, transports[3] = {}, final_pages;
        struct memballoon_state s;
        long r;

        REQUIRE(writers >= 1 && writers <= 64, "writers %u", writers);
        out("fuzz seed %" PRIu64 " calls %" PRIu64 " writers %u", seed, calls, writers);
        REQUIRE(write_file("/proc/self/oom_score_adj", "-1000") == 0,
                "oom_score_adj -1000: %m");
        wfd = open(DEV_PATH, O_RDWR | O_NONBLOCK | O_CLOEXEC);
        REQUIRE(wfd >= 0, "open %s O_RDWR: %m", DEV_PATH);
        rfd = open(DEV_PATH, O_RDONLY | O_CLOEXEC);
        REQUIRE(rfd >= 0, "open %s O_RDONLY: %m", DEV_PATH);
        api.argsz = sizeof(api);
        r = xioctl(wfd, MEMBALLOON_GET_API, &api);
        REQUIRE(r == 0, "GET_API: %s", errname(r));
        page_size = api.page_size;
        REQUIRE(page_size == (uint64_t) sysconf(_SC_PAGESIZE), "page_size %" PRIu64, page_size);
        REQUIRE(api.max_batch_pages > 0, "max_batch_pages 0");
        oom_max_pages = MEMBALLOON_OOM_MAX_BYTES / page_size;
        stats_tags = api.features & MEMBALLOON_FEAT_STATS_16 ? MEMBALLOON_S_NR :
                     MEMBALLOON_S_NR_V1;
        s = get_state();
        REQUIRE(s.transport == MEMBALLOON_TRANSPORT_VIRTIO, "transport %u at start", s.transport);
        REQUIRE(s.actual_pages == 0, "balloon %llu pages at start",
                (unsigned long long) s.actual_pages);
        ram0_pages = s.total_ram_pages;
        m0 = meminfo_kb("MemTotal");
        mpre = memtotal_before_load();
        out("fuzz: MemTotal %llu kB (before the module loaded: %llu kB), %llu pages of %llu "
            "bytes, max_batch_pages %u, host_features %#llx", (unsigned long long) m0,
            (unsigned long long) mpre, (unsigned long long) ram0_pages,
            (unsigned long long) page_size, api.max_batch_pages,
            (unsigned long long) s.host_features);
        if (mpre && mpre != m0)
                ERROR("fuzz: MemTotal %llu kB at start, %llu kB before the module loaded",
                      (unsigned long long) m0, (unsigned long long) mpre);

        res = mmap(NULL, sizeof(*res) * writers + sizeof(*h), PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        REQUIRE(res != MAP_FAILED, "mmap: %m");
        h = (struct hres *) (res + writers);

        host_wait("fuzz-start", "%" PRIu64, seed);
        /* Helpers draw from streams after the writers'. */
        compactor = spawn(compactor_main, h, derive(seed, 1000));
        hog = spawn(hog_main, h, derive(seed, 1001));
        setpgid(hog, hog);      /* whoever runs first: see hog_main() */
        reader = spawn(reader_entry, h, 0);
        t0 = now_ns();
        for (unsigned i = 0; i < writers; i++) {
                uint64_t n = calls / writers + (i < calls % writers);

                pids[i] = fork();
                REQUIRE(pids[i] >= 0, "fork: %m");
                if (pids[i] == 0)
                        _exit(writer_main(i, n, &res[i]) || n_errors ? 1 : 0);
        }
        for (unsigned i = 0; i < writers; i++) {
                int status;

                REQUIRE(waitpid(pids[i], &status, 0) == pids[i], "waitpid: %m");
                if (!WIFEXITED(status) || WEXITSTATUS(status) || !res[i].done)
                        ERROR("fuzz writer %u: status %#x", i, status);
                out("fuzz writer %u: %llu calls in %.1f s, %llu bad", i,
                    (unsigned long long) (calls / writers + (i < calls % writers)),
                    res[i].ns / 1e9, (unsigned long long) res[i].bad);
        }
        elapsed = now_ns() - t0;
        /* The hog and its child: a process group, which SIGKILL ends at once. */
        kill(-hog, SIGKILL);
        waitpid(hog, NULL, 0);
        stop_child(compactor, "compactor");
        stop_child(reader, "event reader");

        for (unsigned i = 0; i < writers; i++) {
                for (unsigned k = 0; k < N_OPS; k++)
                        total[k] += res[i].count[k];
                for (unsigned k = 0; k <= N_RES; k++)
                        results[k] += res[i].result[k];
                for (unsigned k = 0; k < 8; k++)
                        stops[k] += res[i].stop[k];
                for (unsigned k = 0; k < 3; k++)
                        transports[k] += res[i].transports[k];
                bad += res[i].bad;
                inflated += res[i].inflated;
                deflated += res[i].deflated;
                ev += res[i].events;
                for (int b = 0; b < 8; b++) {
                        hash ^= (res[i].hash >> (8 * b)) & 0xff;
                        hash *= 0x100000001b3ULL;
                }
        }
        {
                static const char *const rn[N_RES + 1] = {
                        "ok", "EINVAL", "E2BIG", "EFAULT", "EBADF", "EOPNOTSUPP", "ENOTTY",
                        "EAGAIN", "EBUSY", "other",
                };
                static const char *const sn[8] = {
                        "DONE", "NOMEM", "SIGNAL", "OFFLINE", "EMPTY", "HOST_TARGET", "HOST",
                        "?",
                };
                uint64_t sum = 0;

                for (unsigned k = 0; k < N_OPS; k++)
                        sum += total[k];
                out("fuzz seed %" PRIu64 ": %llu calls in %.1f s guest time (%.1f us/call), "
                    "%llu bad, sequence hash %016llx", seed, (unsigned long long) sum,
                    elapsed / 1e9, elapsed / 1e3 / (sum ? sum : 1), (unsigned long long) bad,
                    (unsigned long long) hash);
                print_counts("counts", total, op_names, N_OPS);
                print_counts("results", results, rn, N_RES + 1);
                print_counts("batch stops", stops, sn, 7);
                {
                        char buf[512];
                        size_t len = 0;

                        for (unsigned k = 0; k <= N_OPS; k++) {
                                uint64_t t = 0, d = 0;

                                for (unsigned i = 0; i < writers; i++) {
                                        t += res[i].op_ns[k];
                                        d += res[i].op_draws[k];
                                }
                                len += snprintf(buf + len, sizeof(buf) - len, " %s=%.0f",
                                                k < N_OPS ? op_names[k] : "SEQ",
                                                d ? t / 1e3 / d : 0.0);
                        }
                        out("fuzz us per draw (wall, in the writer)%s", buf);
                        len = 0;
                        for (unsigned k = 0; k < 4; k++) {
                                static const char *const kn[] = {
                                        "1-16", "17-256", "257-max", "max" };
                                uint64_t t = 0, c = 0, m = 0;

                                for (unsigned i = 0; i < writers; i++) {
                                        t += res[i].infl_ns[k];
                                        c += res[i].infl_calls[k];
                                        if (res[i].infl_max_ns[k] > m)
                                                m = res[i].infl_max_ns[k];
                                }
                                len += snprintf(buf + len, sizeof(buf) - len,
                                                " %s: %llu calls %.1f s (max %.0f ms);", kn[k],
                                                (unsigned long long) c, t / 1e9, m / 1e6);
                        }
                        out("fuzz successful INFLATEs by pages:%s", buf);
                }
                out("fuzz: inflated %llu deflated %llu pages; %llu events read by writers, "
                    "%llu by the reader (%llu reads); GET_STATE saw simulate %llu, virtio %llu; "
                    "%llu compact_memory writes (%llu failed); %llu hogs, %llu OOM-killed; "
                    "%llu transport changes",
                    (unsigned long long) inflated, (unsigned long long) deflated,
                    (unsigned long long) ev, (unsigned long long) h->reader_events,
                    (unsigned long long) h->reader_reads,
                    (unsigned long long) transports[1], (unsigned long long) transports[2],
                    (unsigned long long) h->compactions, (unsigned long long) h->compact_errors,
                    (unsigned long long) h->hogs, (unsigned long long) h->hogs_killed,
                    (unsigned long long) h->transport_changes);
                out("@@ KV fuzz_seed=%" PRIu64 " fuzz_calls=%llu fuzz_bad=%llu fuzz_ms=%llu "
                    "fuzz_hash=%016llx fuzz_hogs_killed=%llu fuzz_compactions=%llu "
                    "fuzz_simulate_seen=%llu", seed, (unsigned long long) sum,
                    (unsigned long long) bad, (unsigned long long) (elapsed / 1000000),
                    (unsigned long long) hash, (unsigned long long) h->hogs_killed,
                    (unsigned long long) h->compactions, (unsigned long long) transports[1]);
                if (bad)
                        ERROR("fuzz seed %" PRIu64 ": %llu calls got a result the header does "
                              "not allow (first ones above)", seed, (unsigned long long) bad);
                if (sum != calls)
                        ERROR("fuzz: %llu calls made, %llu asked", (unsigned long long) sum,
                              (unsigned long long) calls);
        }

        /* The end: the host makes sure a device is there, target 0. */
        host_wait("fuzz-done", "%llu", (unsigned long long) elapsed / 1000000);
        {
                uint64_t end = now_ns() + 30 * NSEC_PER_SEC;

                while ((s = get_state()).transport != MEMBALLOON_TRANSPORT_VIRTIO &&
                       now_ns() < end)
                        usleep(50000);
                REQUIRE(s.transport == MEMBALLOON_TRANSPORT_VIRTIO,
                        "no virtio device 30 s after the host's last device_add");
        }
        print_counts("state after", (const uint64_t *) &s.target_pages,
                     (const char *const[]) { "target", "actual", "total_ram", "oom_freed",
                                             "oom_nr", "migrations", "inflate_failures",
                                             "events_dropped", "oom_events" }, 9);
        REQUIRE(!(s.state_flags & MEMBALLOON_STATE_F_HOST_BROKEN), "host broken at the end");
        if (empty_balloon()) {
                s = get_state();
                if (meminfo_kb("MemTotal") != m0)
                        ERROR("fuzz: MemTotal %llu kB with the balloon empty, %llu kB before",
                              (unsigned long long) meminfo_kb("MemTotal"),
                              (unsigned long long) m0);
                if (s.total_ram_pages != ram0_pages)
                        ERROR("fuzz: total_ram_pages %llu with the balloon empty, %llu before",
                              (unsigned long long) s.total_ram_pages,
                              (unsigned long long) ram0_pages);
        }
        /* A known size the host must see exactly, then empty again. */
        final_pages = FINAL_BYTES / page_size;
        {
                struct memballoon_batch b = { .argsz = sizeof(b), .nr_pages = final_pages };

                r = xioctl(wfd, MEMBALLOON_INFLATE, &b);
                REQUIRE(r == 0 && b.done_pages == final_pages,
                        "INFLATE %llu: %s, done %llu stop %u", (unsigned long long) final_pages,
                        errname(r), (unsigned long long) b.done_pages, b.stop_reason);
        }
        s = get_state();
        REQUIRE(s.actual_pages == final_pages, "actual %llu", (unsigned long long) s.actual_pages);
        {
                uint64_t want = s.state_flags & MEMBALLOON_STATE_F_BALLOON_IN_TOTALRAM ? m0 :
                                m0 - FINAL_BYTES / 1024;

                if (meminfo_kb("MemTotal") != want)
                        ERROR("fuzz: MemTotal %llu kB with %llu MiB loaned (state_flags %#x), "
                              "expected %llu", (unsigned long long) meminfo_kb("MemTotal"),
                              (unsigned long long) (FINAL_BYTES / MIB), s.state_flags,
                              (unsigned long long) want);
        }
        host_wait("fuzz-final", "%llu", (unsigned long long) (s.actual_pages * page_size));
        if (empty_balloon() && meminfo_kb("MemTotal") != m0)
                ERROR("fuzz: MemTotal %llu kB at the end, %llu kB before",
                      (unsigned long long) meminfo_kb("MemTotal"), (unsigned long long) m0);
        s = get_state();
        host_wait("fuzz-empty", "%llu", (unsigned long long) (s.actual_pages * page_size));
        out("@@ KV fuzz_memtotal_kb=%llu fuzz_memtotal_before_kb=%llu",
            (unsigned long long) meminfo_kb("MemTotal"), (unsigned long long) m0);
        return n_errors ? 1 : 0;
}

int main(int argc, char **argv)
{
        uint64_t calls = 100000;
        unsigned writers = 4;
        bool have_seed = false;

        setvbuf(stdout, NULL, _IONBF, 0);
        signal(SIGPIPE, SIG_IGN);
        if (argc < 2 || strcmp(argv[1], "fuzz")) {
                fprintf(stderr, "usage: %s fuzz [--seed N] [--calls N] [--writers N] "
                        "[--min-seconds S]\n",
                        argv[0]);
                return 2;
        }
        for (int i = 2; i + 1 < argc; i += 2) {
                if (!strcmp(argv[i], "--seed")) {
                        seed = strtoull(argv[i + 1], NULL, 0);
                        have_seed = true;
                } else if (!strcmp(argv[i], "--calls")) {
                        calls = strtoull(argv[i + 1], NULL, 0);
                } else if (!strcmp(argv[i], "--min-seconds")) {
                        min_run_ns = strtoull(argv[i + 1], NULL, 0) * NSEC_PER_SEC;
                } else if (!strcmp(argv[i], "--writers")) {
                        writers = strtoul(argv[i + 1], NULL, 0);
                } else {
                        fprintf(stderr, "unknown option %s\n", argv[i]);
                        return 2;
                }
        }
        if (!have_seed)
                REQUIRE(getrandom(&seed, sizeof(seed), 0) == sizeof(seed), "getrandom: %m");
        return cmd_fuzz(calls, writers);
}
