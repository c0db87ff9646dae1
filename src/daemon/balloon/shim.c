/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "macro.h"
#include "root.h"
#include "shim.h"

/* The versions of struct memballoon_state end where the header says. */
_Static_assert(offsetof(struct memballoon_state, state_flags) == MEMBALLOON_STATE_SIZE_V1, "state v1 size");
_Static_assert(offsetof(struct memballoon_state, declined_transport) == MEMBALLOON_STATE_SIZE_V2, "state v2 size");

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

uint32_t shim_state_argsz(uint64_t features)
{
        if (features & MEMBALLOON_FEAT_STATE_V3)
                return sizeof(struct memballoon_state);
        if (features & MEMBALLOON_FEAT_STATE_V2)
                return MEMBALLOON_STATE_SIZE_V2;
        return MEMBALLOON_STATE_SIZE_V1;
}

unsigned long shim_get_state_request(uint32_t argsz)
{
        return _IOC(_IOC_READ | _IOC_WRITE, MEMBALLOON_IOC_MAGIC, _IOC_NR(MEMBALLOON_GET_STATE), argsz);
}

int shim_get_state(const Shim *s, struct memballoon_state *ret)
{
        uint32_t argsz = shim_state_argsz(s->api.features);
        struct memballoon_state st = { .argsz = argsz };
        unsigned long req = shim_get_state_request(argsz);

        if (ioctl(s->fd, req, &st) < 0) {
                /* A shim that knows GET_STATE by one number whatever the
                 * struct's size (the header's own rule for growing
                 * structs) answers the header's number. */
                if (errno != ENOTTY || req == MEMBALLOON_GET_STATE)
                        return -errno;
                if (ioctl(s->fd, MEMBALLOON_GET_STATE, &st) < 0)
                        return -errno;
        }
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
        case 0:
                return "none";
        case MEMBALLOON_TRANSPORT_VIRTIO:
                return "virtio";
        case MEMBALLOON_TRANSPORT_CMM:
                return "cmm";
        case MEMBALLOON_TRANSPORT_VMWARE:
                return "vmware";
        case MEMBALLOON_TRANSPORT_SIMULATE:
                return "simulate";
        default:
                return "unknown";
        }
}

bool shim_transport_is_host(uint32_t transport)
{
        return transport != 0 && transport != MEMBALLOON_TRANSPORT_SIMULATE;
}

const char *shim_declined_to_string(uint32_t transport, uint32_t reason, int32_t error, char *buf, size_t size)
{
        switch (reason) {
        case 0:
                return NULL;
        case MEMBALLOON_DECLINED_ABSENT:
                switch (transport) {
                case MEMBALLOON_TRANSPORT_VIRTIO:
                        return "no virtio-balloon device";
                case MEMBALLOON_TRANSPORT_CMM:
                        return "not a pSeries LPAR";
                case MEMBALLOON_TRANSPORT_VMWARE:
                        return "no VMware hypervisor";
                default:
                        return "its hypervisor is not there";
                }
        case MEMBALLOON_DECLINED_NO_CMO:
                return "hypervisor does not offer cooperative memory overcommit";
        case MEMBALLOON_DECLINED_REFUSED:
                /* An hcall return code (negative too: H_PARAMETER is -4),
                 * a VMware status or -errno: only the transport knows
                 * which, so the number as it came. */
                snprintf(buf, size, "the hypervisor refused the call (status %" PRIi32 ")", error);
                return buf;
        case MEMBALLOON_DECLINED_BUSY:
                return "another transport is bound";
        case MEMBALLOON_DECLINED_BAD_ANSWER:
                return "the hypervisor answered garbage";
        default:
                snprintf(buf, size, "declined for a reason this memballoond does not know (%" PRIu32 ")", reason);
                return buf;
        }
}

_Static_assert(MEMBALLOON_TF_2M_PAGES == 1ULL << 0 && MEMBALLOON_TF_DOORBELL == 1ULL << 1 &&
               MEMBALLOON_TF_BATCHED == 1ULL << 2 && MEMBALLOON_TF_HOST_2M == 1ULL << 3, "transport flag bits");

const char *shim_transport_flag_to_string(unsigned bit)
{
        static const char *const names[] = {
                [0] = "2m-pages",       /* MEMBALLOON_TF_2M_PAGES */
                [1] = "doorbell",       /* MEMBALLOON_TF_DOORBELL */
                [2] = "batched",        /* MEMBALLOON_TF_BATCHED */
                [3] = "host-2m",        /* MEMBALLOON_TF_HOST_2M */
        };

        return bit < ELEMENTSOF(names) ? names[bit] : NULL;
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
