/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The one seam for /proc, /sys and /dev.  Every such path the daemon opens
 * is an absolute path joined to a root directory, "/" in production; tests
 * point it at a fixture tree (memballoond --root DIR).
 */
#pragma once

#include <stddef.h>

/* Set the root directory (absolute path, copied).  NULL or "/" resets.
 * Returns 0 or -EINVAL/-ENOMEM. */
int root_set(const char *dir);

/* The current root, "/" by default. */
const char *root_get(void);

/* Join @path (absolute) to the root.  Returns a malloc'ed string or NULL
 * on allocation failure. */
char *root_path(const char *path);

/* open(2) of root_path(path).  Returns an fd or -errno. */
int root_open(const char *path, int flags);

/*
 * Read a whole (small) file below the root into a NUL-terminated buffer.
 * At most @max bytes are read; a bigger file gives -EFBIG.  Returns 0 and
 * ret and ret_size, or -errno.
 */
int root_read_file(const char *path, size_t max, char **ret, size_t *ret_size);
