/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Replay a fuzz target over its seed corpus without libFuzzer, so
 * "make check" exercises every fuzzer.  Usage: NAME [FILE|DIR...]; with no
 * arguments it replays FUZZ_CORPUS.  Prints TAP.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int n;

static int replay_file(const char *path)
{
        FILE *f = fopen(path, "rb");
        uint8_t *buf;
        long size;

        if (!f) {
                printf("not ok %d - %s: cannot open\n", ++n, path);
                return 1;
        }
        fseek(f, 0, SEEK_END);
        size = ftell(f);
        fseek(f, 0, SEEK_SET);
        buf = malloc((size_t) size + 1);
        if (!buf || fread(buf, 1, (size_t) size, f) != (size_t) size) {
                printf("not ok %d - %s: cannot read\n", ++n, path);
                fclose(f);
                free(buf);
                return 1;
        }
        fclose(f);
        LLVMFuzzerTestOneInput(buf, (size_t) size);
        free(buf);
        /* A crash or sanitizer report aborts before this line. */
        printf("ok %d - %s\n", ++n, path);
        return 0;
}

static int replay(const char *path)
{
        struct stat st;
        struct dirent **names;
        int k, fails = 0;

        if (stat(path, &st) < 0) {
                printf("not ok %d - %s: missing\n", ++n, path);
                return 1;
        }
        if (!S_ISDIR(st.st_mode))
                return replay_file(path);
        k = scandir(path, &names, NULL, alphasort);
        if (k < 0)
                return 1;
        for (int i = 0; i < k; i++) {
                char p[4096];

                if (names[i]->d_name[0] != '.') {
                        snprintf(p, sizeof(p), "%s/%s", path, names[i]->d_name);
                        fails += replay_file(p);
                }
                free(names[i]);
        }
        free(names);
        return fails;
}

int main(int argc, char *argv[])
{
        int fails = 0;

        if (argc < 2)
                fails = replay(FUZZ_CORPUS);
        for (int i = 1; i < argc; i++)
                fails += replay(argv[i]);
        if (n == 0) {
                printf("not ok 1 - empty corpus\n");
                n = 1;
                fails = 1;
        }
        printf("1..%d\n", n);
        return fails ? 1 : 0;
}
