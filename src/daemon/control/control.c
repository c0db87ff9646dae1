/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "control.h"
#include "log.h"
#include "timer.h"
#include "macro.h"

/* Bytes read from one client per wakeup: bounds the work one client can
 * cause before the loop serves others. */
#define CLIENT_READ_CHUNK       4096
/* A client that sends nothing complete for this long is dropped. */
#define CLIENT_IDLE_USEC        (30ULL * 1000000ULL)
/* A client that does not read its replies is dropped past this backlog. */
#define CLIENT_OUTBUF_MAX       (1024 * 1024)

typedef struct Client Client;

struct ControlServer {
        sd_event *event;
        int fd;
        bool owned;             /* we bound it: unlink on exit */
        char *path;
        sd_event_source *accept_source;
        ControlDispatchFn dispatch;
        void *userdata;
        uint32_t max_clients;
        unsigned n_clients;
        Client *clients;
};

struct Client {
        ControlServer *server;
        Client *next, *prev;
        int fd;
        struct ucred cred;
        sd_event_source *io;
        Timer *idle;
        char *in;
        size_t in_len;
        char *out;
        size_t out_len;
        bool closing;           /* close once out is flushed */
};

static void client_free(Client *c)
{
        ControlServer *s;

        if (!c)
                return;
        s = c->server;
        if (c->prev)
                c->prev->next = c->next;
        else if (s->clients == c)
                s->clients = c->next;
        if (c->next)
                c->next->prev = c->prev;
        s->n_clients--;
        sd_event_source_disable_unref(c->io);
        timer_free(c->idle);
        if (c->fd >= 0)
                close(c->fd);
        free(c->in);
        free(c->out);
        free(c);
}

static int client_update_events(Client *c)
{
        uint32_t ev = c->closing ? 0 : EPOLLIN;

        if (c->out_len > 0)
                ev |= EPOLLOUT;
        if (ev == 0) {
                client_free(c);
                return -ECONNRESET;
        }
        return sd_event_source_set_io_events(c->io, ev);
}

static int client_flush(Client *c)
{
        while (c->out_len > 0) {
                ssize_t n = send(c->fd, c->out, c->out_len, MSG_NOSIGNAL | MSG_DONTWAIT);

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN)
                                break;
                        return -errno;
                }
                memmove(c->out, c->out + n, c->out_len - (size_t) n);
                c->out_len -= (size_t) n;
        }
        return 0;
}

static int client_queue(Client *c, char *line)
{
        size_t len;
        char *p;

        if (!line)
                return -ENOMEM;
        len = strlen(line);
        if (c->out_len + len > CLIENT_OUTBUF_MAX) {
                free(line);
                return -ENOBUFS;
        }
        p = realloc(c->out, c->out_len + len);
        if (!p) {
                free(line);
                return -ENOMEM;
        }
        memcpy(p + c->out_len, line, len);
        c->out = p;
        c->out_len += len;
        free(line);
        return 0;
}

static int client_handle_line(Client *c, const char *line, size_t len)
{
        ControlRequest req = {};
        const char *msg = NULL;
        int r;

        r = control_request_parse(line, len, &req, &msg);
        if (r < 0) {
                log_debug("Control: rejected request from pid %d: %s", (int) c->cred.pid, msg);
                return client_queue(c, control_reply_error_format(
                        r == -E2BIG ? CONTROL_ERROR_TOO_LARGE : CONTROL_ERROR_INVALID_REQUEST, msg));
        }
        r = client_queue(c, c->server->dispatch(&req, &c->cred, c->server->userdata));
        control_request_done(&req);
        return r;
}

/* Handle every complete line in the input buffer. */
static int client_process(Client *c, bool eof)
{
        size_t start = 0;
        int r = 0;

        for (;;) {
                char *nl = memchr(c->in + start, '\n', c->in_len - start);
                size_t len;

                if (!nl)
                        break;
                len = (size_t) (nl - (c->in + start));
                /* Blank lines are keep-alives, not requests. */
                if (len > 0) {
                        r = client_handle_line(c, c->in + start, len);
                        if (r < 0)
                                return r;
                }
                start += len + 1;
        }
        memmove(c->in, c->in + start, c->in_len - start);
        c->in_len -= start;

        if (c->in_len > CONTROL_REQUEST_MAX) {
                /* No newline within the limit: refuse and hang up. */
                c->in_len = 0;
                c->closing = true;
                return client_queue(c, control_reply_error_format(
                        CONTROL_ERROR_TOO_LARGE, "request larger than 65536 bytes"));
        }
        if (eof) {
                /* A final request without newline is still a request. */
                if (c->in_len > 0)
                        r = client_handle_line(c, c->in, c->in_len);
                c->in_len = 0;
                c->closing = true;
        }
        return r;
}

static int client_on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
        Client *c = userdata;
        bool eof = false;
        int r;

        if (revents & EPOLLIN) {
                char *p = realloc(c->in, c->in_len + CLIENT_READ_CHUNK);
                ssize_t n;

                if (!p)
                        goto drop;
                c->in = p;
                n = recv(fd, c->in + c->in_len, CLIENT_READ_CHUNK, MSG_DONTWAIT);
                if (n < 0 && errno != EAGAIN && errno != EINTR)
                        goto drop;
                if (n == 0)
                        eof = true;
                if (n > 0) {
                        c->in_len += (size_t) n;
                        timer_rearm(c->idle, CLIENT_IDLE_USEC);
                }
                if (client_process(c, eof) < 0)
                        goto drop;
        } else if (revents & (EPOLLHUP | EPOLLERR)) {
                goto drop;
        }

        if (client_flush(c) < 0)
                goto drop;
        r = client_update_events(c);
        (void) r;
        return 0;
drop:
        client_free(c);
        return 0;
}

static void client_on_idle(Timer *t, void *userdata)
{
        Client *c = userdata;

        log_debug("Control: dropping idle client pid %d", (int) c->cred.pid);
        client_free(c);
}

static int server_on_accept(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
        ControlServer *srv = userdata;
        _cleanup_close_ int cfd = -1;
        socklen_t len;
        Client *c;
        int r;

        cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (cfd < 0) {
                if (errno != EAGAIN && errno != EINTR)
                        log_warning_errno(-errno, "Control: accept failed: %m, ignoring");
                return 0;
        }
        if (srv->n_clients >= srv->max_clients) {
                _cleanup_free_ char *line = control_reply_error_format(
                        CONTROL_ERROR_TOO_MANY_CLIENTS, "too many clients connected, try again");

                if (line)
                        (void) send(cfd, line, strlen(line), MSG_NOSIGNAL | MSG_DONTWAIT);
                return 0;
        }

        c = calloc(1, sizeof(*c));
        if (!c)
                return 0;
        c->server = srv;
        c->fd = -1;
        c->next = srv->clients;
        if (srv->clients)
                srv->clients->prev = c;
        srv->clients = c;
        srv->n_clients++;

        len = sizeof(c->cred);
        if (getsockopt(cfd, SOL_SOCKET, SO_PEERCRED, &c->cred, &len) < 0) {
                log_warning_errno(-errno, "Control: SO_PEERCRED failed: %m, dropping client");
                client_free(c);
                return 0;
        }
        c->fd = TAKE_FD(cfd);
        r = sd_event_add_io(srv->event, &c->io, c->fd, EPOLLIN, client_on_io, c);
        /* 100 ms accuracy: the idle limit is 30 s. */
        if (r >= 0)
                r = timer_new(srv->event, "control-idle", SD_EVENT_PRIORITY_NORMAL, 100000, client_on_idle, c,
                              &c->idle);
        if (r >= 0) {
                timer_set_real_clock(c->idle);
                timer_rearm(c->idle, CLIENT_IDLE_USEC);
        }
        if (r < 0) {
                log_warning_errno(r, "Control: cannot watch client: %m, dropping it");
                client_free(c);
        }
        return 0;
}

static int socket_apply_perms(const char *path, uint32_t mode, const char *group)
{
        if (chmod(path, mode) < 0)
                return -errno;
        if (group && group[0]) {
                struct group *gr = getgrnam(group);

                if (!gr)
                        return -ESRCH;
                if (chown(path, (uid_t) -1, gr->gr_gid) < 0)
                        return -errno;
        }
        return 0;
}

static int mkdir_parents(const char *path)
{
        _cleanup_free_ char *dir = strdup(path);
        char *p;

        if (!dir)
                return -ENOMEM;
        p = strrchr(dir, '/');
        if (!p || p == dir)
                return 0;
        *p = '\0';
        for (p = dir + 1; *p; p++) {
                if (*p != '/')
                        continue;
                *p = '\0';
                if (mkdir(dir, 0755) < 0 && errno != EEXIST)
                        return -errno;
                *p = '/';
        }
        if (mkdir(dir, 0755) < 0 && errno != EEXIST)
                return -errno;
        return 0;
}

static int socket_bind_new(const char *path, uint32_t mode, const char *group, int *ret_fd)
{
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        _cleanup_close_ int fd = -1;
        mode_t old;
        int r;

        if (strlen(path) >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        strcpy(sa.sun_path, path);

        r = mkdir_parents(path);
        if (r < 0)
                return log_error_errno(r, "Failed to create the directory of %s: %m", path);

        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;

        /* A socket file left by a crashed daemon is removed; a live one is
         * another daemon's and is left alone. */
        if (access(path, F_OK) == 0) {
                _cleanup_close_ int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
                struct stat st;

                if (probe >= 0 && connect(probe, (struct sockaddr *) &sa, sizeof(sa)) == 0)
                        return log_error_errno(-EADDRINUSE,
                                               "Another memballoond is already listening on %s", path);
                if (lstat(path, &st) == 0 && !S_ISSOCK(st.st_mode))
                        return log_error_errno(-EEXIST, "%s exists and is not a socket, refusing to remove it", path);
                (void) unlink(path);
        }

        /* Bind with a restrictive umask so the socket never exists with a
         * looser mode than configured, even for a moment. */
        old = umask(0177);
        r = bind(fd, (struct sockaddr *) &sa, sizeof(sa));
        umask(old);
        if (r < 0)
                return log_error_errno(-errno, "Failed to bind %s: %m", path);
        r = socket_apply_perms(path, mode, group);
        if (r == -ESRCH)
                return log_error_errno(r, "control.group \"%s\": no such group", group);
        if (r < 0)
                return log_error_errno(r, "Failed to set permissions of %s: %m", path);
        if (listen(fd, 64) < 0)
                return log_error_errno(-errno, "Failed to listen on %s: %m", path);
        *ret_fd = TAKE_FD(fd);
        return 0;
}

int control_server_new(sd_event *event, const ControlSettings *s, ControlDispatchFn dispatch,
                       void *userdata, ControlServer **ret)
{
        ControlServer *srv;
        int n, r;

        srv = calloc(1, sizeof(*srv));
        if (!srv)
                return -ENOMEM;
        srv->fd = -1;
        srv->event = sd_event_ref(event);
        srv->dispatch = dispatch;
        srv->userdata = userdata;
        srv->max_clients = s->max_clients;
        srv->path = strdup(s->path);
        if (!srv->path) {
                r = -ENOMEM;
                goto fail;
        }

        n = sd_listen_fds(true);
        if (n > 1) {
                r = log_error_errno(-EINVAL, "Received %d sockets from systemd, expected one", n);
                goto fail;
        }
        if (n == 1 && sd_is_socket_unix(SD_LISTEN_FDS_START, SOCK_STREAM, 1, NULL, 0) > 0) {
                srv->fd = SD_LISTEN_FDS_START;
                (void) fcntl(srv->fd, F_SETFL, fcntl(srv->fd, F_GETFL) | O_NONBLOCK);
                log_debug("Control: using the socket passed by systemd");
        } else {
                r = socket_bind_new(s->path, s->mode, s->group, &srv->fd);
                if (r < 0)
                        goto fail;
                srv->owned = true;
        }

        r = sd_event_add_io(event, &srv->accept_source, srv->fd, EPOLLIN, server_on_accept, srv);
        if (r < 0)
                goto fail;
        *ret = srv;
        return 0;
fail:
        control_server_free(srv);
        return r;
}

int control_server_update(ControlServer *srv, const ControlSettings *s)
{
        if (strcmp(srv->path, s->path) != 0)
                return -EBUSY;
        srv->max_clients = s->max_clients;
        if (!srv->owned)
                return 0;
        return socket_apply_perms(srv->path, s->mode, s->group);
}

ControlServer *control_server_free(ControlServer *srv)
{
        if (!srv)
                return NULL;
        while (srv->clients)
                client_free(srv->clients);
        sd_event_source_disable_unref(srv->accept_source);
        if (srv->fd >= 0)
                close(srv->fd);
        if (srv->owned)
                (void) unlink(srv->path);
        free(srv->path);
        sd_event_unref(srv->event);
        free(srv);
        return NULL;
}

unsigned control_server_clients(const ControlServer *srv)
{
        return srv ? srv->n_clients : 0;
}
