/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "root.h"
#include "shim.h"

int shim_open(Shim *ret, const char **ret_detail)
{
        struct memballoon_api api = { .argsz = sizeof(api) };
        const char *detail = NULL;
        int fd, r;

        fd = root_open(SHIM_DEVICE_PATH, O_RDWR | O_NONBLOCK);
        if (fd < 0) {
                r = fd;
                switch (r) {
                case -ENOENT:
                        detail = "the memballoon kernel module is not loaded";
                        break;
                case -EPERM:
                case -EACCES:
                        detail = "opening the device needs CAP_SYS_ADMIN";
                        break;
                case -EBUSY:
                        detail = "another process holds the device for writing";
                        break;
                default:
                        detail = "the device cannot be opened";
                }
                goto fail;
        }
        if (ioctl(fd, MEMBALLOON_GET_API, &api) < 0) {
                r = -errno;
                detail = "the device does not answer MEMBALLOON_GET_API";
                if (r == -EINVAL || r == -ENOSYS)
                        r = -ENOTTY;
                close(fd);
                goto fail;
        }
        if (api.api_version != MEMBALLOON_API_VERSION) {
                close(fd);
                r = -EPROTO;
                detail = "the kernel module speaks another API version";
                goto fail;
        }
        ret->fd = fd;
        ret->api = api;
        return 0;
fail:
        if (ret_detail)
                *ret_detail = detail;
        return r;
}

void shim_close(Shim *s)
{
        if (s->fd >= 0)
                close(s->fd);
        s->fd = -1;
}

int shim_get_state(const Shim *s, struct memballoon_state *ret)
{
        struct memballoon_state st = { .argsz = sizeof(st) };

        if (ioctl(s->fd, MEMBALLOON_GET_STATE, &st) < 0)
                return -errno;
        *ret = st;
        return 0;
}

int shim_read_events(const Shim *s, struct memballoon_event *buf, unsigned max)
{
        ssize_t n;

        n = read(s->fd, buf, (size_t) max * sizeof(*buf));
        if (n < 0)
                return errno == EAGAIN ? 0 : -errno;
        return (int) ((size_t) n / sizeof(*buf));
}

const char *shim_transport_to_string(uint32_t transport)
{
        switch (transport) {
        case MEMBALLOON_TRANSPORT_VIRTIO:
                return "virtio";
        case MEMBALLOON_TRANSPORT_SIMULATE:
                return "simulate";
        default:
                return "none";
        }
}

/* ---- the ops table over the real device ------------------------------- */

static int ioctl_errno(int fd, unsigned long req, void *arg)
{
        return ioctl(fd, req, arg) < 0 ? -errno : 0;
}

static int real_get_state(void *ctx, struct memballoon_state *ret)
{
        return shim_get_state(ctx, ret);
}

static int real_batch(void *ctx, bool inflate, struct memballoon_batch *b)
{
        const Shim *s = ctx;

        b->argsz = sizeof(*b);
        return ioctl_errno(s->fd, inflate ? MEMBALLOON_INFLATE : MEMBALLOON_DEFLATE, b);
}

static int real_set_stats(void *ctx, const struct memballoon_stats *st)
{
        const Shim *s = ctx;

        return ioctl_errno(s->fd, MEMBALLOON_SET_STATS, (void *) st);
}

static int real_set_oom(void *ctx, uint64_t nr_pages)
{
        const Shim *s = ctx;
        struct memballoon_oom o = { .argsz = sizeof(o), .nr_pages = nr_pages };

        return ioctl_errno(s->fd, MEMBALLOON_SET_OOM, &o);
}

static int real_sim_set_target(void *ctx, uint64_t target_pages)
{
        const Shim *s = ctx;
        struct memballoon_sim_target t = { .argsz = sizeof(t), .target_pages = target_pages };

        return ioctl_errno(s->fd, MEMBALLOON_SIM_SET_TARGET, &t);
}

static int real_read_events(void *ctx, struct memballoon_event *buf, unsigned max)
{
        return shim_read_events(ctx, buf, max);
}

const ShimOps shim_ops = {
        .get_state = real_get_state,
        .batch = real_batch,
        .set_stats = real_set_stats,
        .set_oom = real_set_oom,
        .sim_set_target = real_sim_set_target,
        .read_events = real_read_events,
};
