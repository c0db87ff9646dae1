/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "macro.h"
#include "root.h"

static char *root_dir;

int root_set(const char *dir)
{
        char *copy = NULL;

        if (dir && strcmp(dir, "/") != 0) {
                size_t len;

                if (dir[0] != '/')
                        return -EINVAL;
                copy = strdup(dir);
                if (!copy)
                        return -ENOMEM;
                /* Drop trailing slashes so joining never doubles them. */
                len = strlen(copy);
                while (len > 1 && copy[len - 1] == '/')
                        copy[--len] = '\0';
        }
        free(root_dir);
        root_dir = copy;
        return 0;
}

const char *root_get(void)
{
        return root_dir ? root_dir : "/";
}

char *root_path(const char *path)
{
        char *p;

        if (!root_dir)
                return strdup(path);
        if (asprintf(&p, "%s%s", root_dir, path) < 0)
                return NULL;
        return p;
}

int root_open(const char *path, int flags)
{
        _cleanup_free_ char *p = root_path(path);
        int fd;

        if (!p)
                return -ENOMEM;
        fd = open(p, flags | O_CLOEXEC);
        return fd < 0 ? -errno : fd;
}

int root_read_file(const char *path, size_t max, char **ret, size_t *ret_size)
{
        _cleanup_close_ int fd = root_open(path, O_RDONLY);
        _cleanup_free_ char *buf = NULL;
        size_t size = 0;

        if (fd < 0)
                return fd;
        buf = malloc(max + 1);
        if (!buf)
                return -ENOMEM;
        for (;;) {
                ssize_t n = read(fd, buf + size, max + 1 - size);

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        break;
                size += (size_t) n;
                if (size > max)
                        return -EFBIG;
        }
        buf[size] = '\0';
        *ret = TAKE_PTR(buf);
        if (ret_size)
                *ret_size = size;
        return 0;
}
