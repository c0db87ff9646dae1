/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * tests/system/run's memory user: "hog MIB" allocates MIB MiB, touches
 * every page, prints "held", and keeps it until stdin reaches EOF or it
 * is killed, so the host decides how long pressure lasts.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char *argv[])
{
        size_t mib, chunk = 1 << 20;
        char c;

        if (argc != 2 || (mib = strtoul(argv[1], NULL, 10)) == 0) {
                fprintf(stderr, "usage: hog MIB\n");
                return 2;
        }
        for (size_t i = 0; i < mib; i++) {
                char *p = malloc(chunk);

                if (!p) {
                        fprintf(stderr, "hog: out of memory after %zu MiB\n", i);
                        return 1;
                }
                memset(p, 0x5a, chunk);
        }
        printf("held %zu MiB\n", mib);
        fflush(stdout);
        while (read(0, &c, 1) > 0)
                ;
        return 0;
}
