/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * tests/system/run: the shim's own view of the balloon, MEMBALLOON_GET_STATE
 * on a read-only descriptor of /dev/memballoon (memballoond holds the
 * writer).  Prints "transport=N target_kib=N actual_kib=N".
 */
#include <fcntl.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/memballoon.h>

int main(void)
{
        struct memballoon_api api = { .argsz = sizeof(api) };
        struct memballoon_state st = { .argsz = sizeof(st) };
        int fd = open("/dev/memballoon", O_RDONLY | O_CLOEXEC);

        if (fd < 0 || ioctl(fd, MEMBALLOON_GET_API, &api) < 0 || ioctl(fd, MEMBALLOON_GET_STATE, &st) < 0) {
                perror("mb-state");
                return 1;
        }
        printf("transport=%u target_kib=%llu actual_kib=%llu\n", st.transport,
               (unsigned long long) st.target_pages * api.page_size / 1024,
               (unsigned long long) st.actual_pages * api.page_size / 1024);
        close(fd);
        return 0;
}
