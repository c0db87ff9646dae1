/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * memballoonctl: talk to memballoond over its control socket.
 * Exit status: 0 success, 1 error reply, 2 usage, 3 cannot connect.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "macro.h"
#include "protocol.h"
#include "status-format.h"

#define DEFAULT_SOCKET "/run/memballoond/control"
/* How long to wait for a reply: a reload re-reads one file, a status is
 * built from memory, so anything slower means the daemon is stuck. */
#define REPLY_TIMEOUT_MS 10000
/* Replies are bounded by the daemon; this is a generous sanity limit. */
#define REPLY_MAX (4 * 1024 * 1024)

enum { EXIT_OK = 0, EXIT_ERROR_REPLY = 1, EXIT_USAGE = 2, EXIT_CONNECT = 3 };

static void help(void)
{
        printf("Usage: memballoonctl [OPTIONS] COMMAND\n"
               "\n"
               "Query and control memballoond.\n"
               "\n"
               "Commands:\n"
               "  status [--json]   show the daemon's state (default command)\n"
               "  reload            re-read the configuration file (root only)\n"
               "  set-target SIZE   simulate mode: set the balloon's target, e.g. 512M, 2G, 0\n"
               "                    (root only)\n"
               "  reset-oom         forget the OOM debt, so the balloon may grow back at once\n"
               "                    (root only)\n"
               "  ksm [--json]      show KSM tuning in detail\n"
               "  ksm unmerge       unmerge every KSM page and pause KSM tuning (root only)\n"
               "  ksm resume        let KSM tuning run again after an unmerge (root only)\n"
               "  advance-clock USEC  tests: move a --manual-clock daemon's clock, run due timers\n"
               "\n"
               "Options:\n"
               "  -s, --socket PATH control socket (default %s)\n"
               "  -j, --json        print the raw JSON reply\n"
               "  -h, --help        show this help\n"
               "      --version     show the version\n"
               "\n"
               "Exit status: 0 success, 1 error reply, 2 usage error, 3 cannot connect.\n",
               DEFAULT_SOCKET);
}

static int connect_daemon(const char *path)
{
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd, err;
        struct stat st;

        if (strlen(path) >= sizeof(sa.sun_path)) {
                fprintf(stderr, "memballoonctl: socket path too long: %s\n", path);
                return -ENAMETOOLONG;
        }
        strcpy(sa.sun_path, path);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) {
                fprintf(stderr, "memballoonctl: socket: %s\n", strerror(errno));
                return -errno;
        }
        if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) == 0)
                return fd;
        err = errno;
        close(fd);
        switch (err) {
        case ENOENT:
                fprintf(stderr, "memballoonctl: memballoond is not running: no socket at %s\n"
                        "  (start it with 'systemctl start memballoond', or pass --socket)\n", path);
                break;
        case ECONNREFUSED:
                fprintf(stderr, "memballoonctl: memballoond is not running: %s exists but nobody listens "
                        "(stale socket from a stopped daemon)\n", path);
                break;
        case EACCES:
        case EPERM:
                fprintf(stderr, "memballoonctl: permission denied on %s: memballoond may be running, "
                        "but this user may not talk to it (see control.mode and control.group)\n", path);
                break;
        default:
                if (stat(path, &st) == 0 && !S_ISSOCK(st.st_mode))
                        fprintf(stderr, "memballoonctl: %s is not a socket\n", path);
                else
                        fprintf(stderr, "memballoonctl: cannot connect to memballoond at %s: %s\n",
                                path, strerror(err));
        }
        return -err;
}

static int send_all(int fd, const char *buf, size_t len)
{
        while (len > 0) {
                ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                buf += n;
                len -= (size_t) n;
        }
        return 0;
}

/* Read one newline-ended reply.  Returns 0 and *ret (without newline). */
static int read_reply(int fd, char **ret)
{
        _cleanup_free_ char *buf = NULL;
        size_t len = 0, cap = 0;

        for (;;) {
                struct pollfd p = { .fd = fd, .events = POLLIN };
                ssize_t n;
                char *nl;
                int r;

                r = poll(&p, 1, REPLY_TIMEOUT_MS);
                if (r < 0 && errno == EINTR)
                        continue;
                if (r < 0)
                        return -errno;
                if (r == 0)
                        return -ETIMEDOUT;
                if (cap - len < 4096) {
                        char *nb;

                        if (cap >= REPLY_MAX)
                                return -E2BIG;
                        cap = cap ? cap * 2 : 8192;
                        nb = realloc(buf, cap + 1);
                        if (!nb)
                                return -ENOMEM;
                        buf = nb;
                }
                n = recv(fd, buf + len, cap - len, 0);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                if (n == 0)
                        return -ECONNRESET;
                len += (size_t) n;
                buf[len] = '\0';
                nl = memchr(buf, '\n', len);
                if (nl) {
                        *nl = '\0';
                        *ret = TAKE_PTR(buf);
                        return 0;
                }
        }
}

/* Send a request and parse the reply.  Returns an exit code; on success
 * *ret_params holds the reply's parameters object. */
static int call(const char *socket_path, const char *method, json_object *req_params, json_object **ret_params)
{
        _cleanup_close_ int fd = -1;
        _cleanup_free_ char *req = NULL, *reply = NULL;
        json_object *o, *err, *params;
        int r;

        fd = connect_daemon(socket_path);
        if (fd < 0) {
                json_object_put(req_params);
                return EXIT_CONNECT;
        }
        req = control_request_format(method, req_params);
        if (!req) {
                fprintf(stderr, "memballoonctl: out of memory\n");
                return EXIT_ERROR_REPLY;
        }
        r = send_all(fd, req, strlen(req));
        if (r >= 0)
                r = read_reply(fd, &reply);
        if (r < 0) {
                fprintf(stderr, "memballoonctl: no reply from memballoond at %s: %s\n", socket_path,
                        r == -ETIMEDOUT ? "timed out" : strerror(-r));
                return EXIT_CONNECT;
        }
        o = json_tokener_parse(reply);
        if (!o || !json_object_is_type(o, json_type_object)) {
                fprintf(stderr, "memballoonctl: malformed reply from memballoond\n");
                json_object_put(o);
                return EXIT_ERROR_REPLY;
        }
        if (json_object_object_get_ex(o, "error", &err)) {
                json_object *msg = NULL;

                if (json_object_object_get_ex(o, "parameters", &params))
                        json_object_object_get_ex(params, "message", &msg);
                fprintf(stderr, "memballoonctl: %s: %s\n", method,
                        msg ? json_object_get_string(msg) : json_object_get_string(err));
                json_object_put(o);
                return EXIT_ERROR_REPLY;
        }
        if (!json_object_object_get_ex(o, "parameters", &params) ||
            !json_object_is_type(params, json_type_object)) {
                fprintf(stderr, "memballoonctl: reply without parameters\n");
                json_object_put(o);
                return EXIT_ERROR_REPLY;
        }
        *ret_params = json_object_get(params);
        json_object_put(o);
        return EXIT_OK;
}

int main(int argc, char *argv[])
{
        static const struct option options[] = {
                { "socket", required_argument, NULL, 's' },
                { "json", no_argument, NULL, 'j' },
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, 'V' },
                {}
        };
        const char *socket_path = DEFAULT_SOCKET, *verb = "status", *size_arg = NULL, *ksm_arg = NULL;
        json_object *params = NULL;
        bool json = false;
        int opt, r;

        /* A negative size ("set-target -1G") is a size the daemon refuses,
         * not an unknown option: take it out before getopt sees it. */
        for (int i = 1; i + 1 < argc; i++)
                if (strcmp(argv[i], "set-target") == 0 && argv[i + 1][0] == '-' &&
                    argv[i + 1][1] >= '0' && argv[i + 1][1] <= '9') {
                        size_arg = argv[i + 1];
                        memmove(&argv[i + 1], &argv[i + 2], (size_t) (argc - i - 1) * sizeof(char *));
                        argc--;
                        break;
                }

        /* Options may follow the verb ("status --json"), as users type it. */
        while ((opt = getopt_long(argc, argv, "s:jh", options, NULL)) >= 0) {
                switch (opt) {
                case 's':
                        socket_path = optarg;
                        break;
                case 'j':
                        json = true;
                        break;
                case 'h':
                        help();
                        return EXIT_OK;
                case 'V':
                        printf("memballoonctl %s\n", PACKAGE_VERSION);
                        return EXIT_OK;
                default:
                        fprintf(stderr, "Try 'memballoonctl --help'.\n");
                        return EXIT_USAGE;
                }
        }
        if (optind < argc)
                verb = argv[optind++];
        if (strcmp(verb, "set-target") == 0 && !size_arg && optind < argc)
                size_arg = argv[optind++];
        if ((strcmp(verb, "ksm") == 0 || strcmp(verb, "advance-clock") == 0) && optind < argc)
                ksm_arg = argv[optind++];
        if (size_arg && strcmp(verb, "set-target") != 0) {
                fprintf(stderr, "memballoonctl: %s: unexpected argument \"%s\"\n", verb, size_arg);
                return EXIT_USAGE;
        }
        if (optind < argc) {
                fprintf(stderr, "memballoonctl: %s: unexpected argument \"%s\"\n", verb, argv[optind]);
                return EXIT_USAGE;
        }

        if (strcmp(verb, "status") == 0) {
                r = call(socket_path, "status", NULL, &params);
                if (r != EXIT_OK)
                        return r;
                if (json)
                        printf("%s\n", json_object_to_json_string_ext(params, JSON_C_TO_STRING_PRETTY |
                                                                       JSON_C_TO_STRING_NOSLASHESCAPE));
                else
                        status_format_human(params, stdout);
        } else if (strcmp(verb, "ksm") == 0 && !ksm_arg) {
                json_object *k = NULL;

                r = call(socket_path, "status", NULL, &params);
                if (r != EXIT_OK)
                        return r;
                if (json) {
                        json_object_object_get_ex(params, "ksm", &k);
                        printf("%s\n", json_object_to_json_string_ext(k, JSON_C_TO_STRING_PRETTY |
                                                                       JSON_C_TO_STRING_NOSLASHESCAPE));
                } else
                        status_format_ksm(params, stdout);
        } else if (strcmp(verb, "ksm") == 0) {
                const char *method = strcmp(ksm_arg, "unmerge") == 0 ? "ksm-unmerge" :
                                     strcmp(ksm_arg, "resume") == 0 ? "ksm-resume" : NULL;

                if (!method) {
                        fprintf(stderr, "memballoonctl: ksm: unknown action \"%s\" (expected unmerge or resume)\n",
                                ksm_arg);
                        return EXIT_USAGE;
                }
                if (json) {
                        fprintf(stderr, "memballoonctl: ksm %s: --json is only for status\n", ksm_arg);
                        return EXIT_USAGE;
                }
                r = call(socket_path, method, NULL, &params);
                if (r != EXIT_OK)
                        return r;
                status_format_ksm(params, stdout);
        } else if (strcmp(verb, "reload") == 0) {
                if (json) {
                        fprintf(stderr, "memballoonctl: reload: --json is only for status\n");
                        return EXIT_USAGE;
                }
                r = call(socket_path, "reload", NULL, &params);
                if (r != EXIT_OK)
                        return r;
                printf("Configuration reloaded.\n");
        } else if (strcmp(verb, "set-target") == 0 || strcmp(verb, "reset-oom") == 0) {
                json_object *p = NULL;

                if (json) {
                        fprintf(stderr, "memballoonctl: %s: --json is only for status\n", verb);
                        return EXIT_USAGE;
                }
                if (strcmp(verb, "set-target") == 0) {
                        if (!size_arg) {
                                fprintf(stderr, "memballoonctl: set-target needs a size, as in 'set-target 512M'\n");
                                return EXIT_USAGE;
                        }
                        p = json_object_new_object();
                        json_object_object_add(p, "size", json_object_new_string(size_arg));
                }
                r = call(socket_path, verb, p, &params);
                if (r != EXIT_OK)
                        return r;
                status_format_human(params, stdout);
        } else if (strcmp(verb, "advance-clock") == 0) {
                /* For tests: the daemon runs with --manual-clock.  Prints
                 * the status after the timers that fell due have run. */
                json_object *p;
                char *end = NULL;
                unsigned long long usec;

                errno = 0;
                usec = ksm_arg && ksm_arg[0] >= '0' && ksm_arg[0] <= '9' ? strtoull(ksm_arg, &end, 10) : 0;
                if (!ksm_arg || !end || *end || errno) {
                        fprintf(stderr, "memballoonctl: advance-clock needs microseconds, as in 'advance-clock 1000000'\n");
                        return EXIT_USAGE;
                }
                p = json_object_new_object();
                json_object_object_add(p, "usec", json_object_new_int64((int64_t) MIN(usec, (unsigned long long) INT64_MAX)));
                r = call(socket_path, verb, p, &params);
                if (r != EXIT_OK)
                        return r;
                printf("%s\n", json_object_to_json_string_ext(params, JSON_C_TO_STRING_NOSLASHESCAPE));
        } else {
                fprintf(stderr, "memballoonctl: unknown command \"%s\"\nTry 'memballoonctl --help'.\n", verb);
                return EXIT_USAGE;
        }
        json_object_put(params);
        return EXIT_OK;
}
