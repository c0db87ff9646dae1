/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The control socket server: accepts connections, frames newline-ended JSON
 * requests, enforces size, client-count and idle limits, and hands each
 * parsed request to a dispatch callback together with the peer's
 * credentials.  It knows nothing of the methods themselves.
 */
#pragma once

#include <stdint.h>
#include <sys/socket.h>

#include <systemd/sd-event.h>

#include "protocol.h"

typedef struct ControlServer ControlServer;

/*
 * Handle one request from a peer.  Returns a malloc'ed reply line (from
 * control_reply_format() or control_reply_error_format()); NULL means out of
 * memory and the connection is closed.
 */
typedef char *(*ControlDispatchFn)(const ControlRequest *req, const struct ucred *peer, void *userdata);

typedef struct ControlSettings {
        const char *path;       /* socket path */
        uint32_t mode;          /* file mode of the socket */
        const char *group;      /* "" or a group name */
        uint32_t max_clients;
} ControlSettings;

/*
 * Start serving.  Uses a socket passed by systemd (sd_listen_fds) if there
 * is one, else creates the runtime directory and binds @s->path, refusing
 * to steal the socket of another running daemon (-EADDRINUSE).  Returns 0
 * or -errno; *ret_error gets a message (static or NULL).
 */
int control_server_new(sd_event *event, const ControlSettings *s, ControlDispatchFn dispatch,
                       void *userdata, ControlServer **ret);

/* Apply a new mode, group and client limit to the live socket.  The path
 * cannot change while running; returns -EBUSY if asked to. */
int control_server_update(ControlServer *srv, const ControlSettings *s);

/* Close every connection and the socket; unlink it if we created it. */
ControlServer *control_server_free(ControlServer *srv);

unsigned control_server_clients(const ControlServer *srv);
