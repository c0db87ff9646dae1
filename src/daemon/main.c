/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * memballoond: guest memory balloon daemon.  Runs in the foreground under
 * systemd (Type=notify); see memballoond(8).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "log.h"
#include "macro.h"
#include "manager.h"
#include "clock.h"
#include "root.h"

#define DEFAULT_CONFIG_PATH SYSCONFDIR "/memballoond.conf"

static void help(void)
{
        printf("Usage: memballoond [OPTIONS]\n"
               "\n"
               "Guest memory balloon daemon. Runs in the foreground.\n"
               "\n"
               "  -c, --config FILE        configuration file (default %s)\n"
               "      --check-config       parse and validate the configuration, print the\n"
               "                           effective values, and exit (0 valid, 1 invalid)\n"
               "      --log-target TARGET  auto, journal or console (default: log.target)\n"
               "  -h, --help               show this help\n"
               "      --version            show the version\n"
               "\n"
               "Exit status: 0 clean stop, 1 failure or invalid configuration, 2 bad usage.\n",
               DEFAULT_CONFIG_PATH);
}

enum {
        ARG_CHECK_CONFIG = 0x100,
        ARG_LOG_TARGET,
        ARG_VERSION,
        ARG_ROOT,
        ARG_MANUAL_CLOCK,
};

int main(int argc, char *argv[])
{
        static const struct option options[] = {
                { "config", required_argument, NULL, 'c' },
                { "check-config", no_argument, NULL, ARG_CHECK_CONFIG },
                { "log-target", required_argument, NULL, ARG_LOG_TARGET },
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                /* Hidden: redirect /proc, /sys and /dev, for tests. */
                { "root", required_argument, NULL, ARG_ROOT },
                /* Hidden: time moves only by "advance-clock" requests, for
                 * tests that must not race the daemon's timers. */
                { "manual-clock", no_argument, NULL, ARG_MANUAL_CLOCK },
                {}
        };
        const char *config_path = DEFAULT_CONFIG_PATH, *log_target_arg = NULL, *root = NULL;
        bool check = false, explicit_config = false;
        _cleanup_free_ char *err = NULL;
        Manager *m = NULL;
        Config c = {};
        LogTarget target;
        int opt, r;

        while ((opt = getopt_long(argc, argv, "c:h", options, NULL)) >= 0) {
                switch (opt) {
                case 'c':
                        config_path = optarg;
                        explicit_config = true;
                        break;
                case ARG_CHECK_CONFIG:
                        check = true;
                        break;
                case ARG_LOG_TARGET:
                        if (!strcmp(optarg, "auto") || !strcmp(optarg, "journal") ||
                            !strcmp(optarg, "console"))
                                log_target_arg = optarg;
                        else {
                                fprintf(stderr, "memballoond: --log-target: expected auto, journal or console, got \"%s\"\n",
                                        optarg);
                                return 2;
                        }
                        break;
                case 'h':
                        help();
                        return 0;
                case ARG_VERSION:
                        printf("memballoond %s\n", PACKAGE_VERSION);
                        return 0;
                case ARG_ROOT:
                        root = optarg;
                        break;
                case ARG_MANUAL_CLOCK:
                        clock_set_manual();
                        break;
                default:
                        fprintf(stderr, "Try 'memballoond --help'.\n");
                        return 2;
                }
        }
        if (optind < argc) {
                fprintf(stderr, "memballoond: unexpected argument \"%s\"\nTry 'memballoond --help'.\n",
                        argv[optind]);
                return 2;
        }
        if (root && root_set(root) < 0) {
                fprintf(stderr, "memballoond: --root: \"%s\" is not an absolute path\n", root);
                return 2;
        }

        r = config_load(config_path, &c, &err);
        if (r == -ENOENT && !explicit_config && !check) {
                /* No file at the default place: run on defaults, say so. */
                r = config_init_defaults(&c);
                if (r >= 0) {
                        free(c.path);
                        c.path = strdup(config_path);
                }
                if (r >= 0 && !c.path)
                        r = -ENOMEM;
                if (r < 0) {
                        fprintf(stderr, "memballoond: out of memory\n");
                        return 1;
                }
                fprintf(stderr, "memballoond: %s not found, using built-in defaults\n", config_path);
        } else if (r < 0) {
                fprintf(stderr, "%s\n", err ? err : strerror(-r));
                return 1;
        }

        if (check) {
                config_dump(&c, stdout);
                config_done(&c);
                return 0;
        }

        if (log_target_arg)
                target = !strcmp(log_target_arg, "journal") ? LOG_TARGET_JOURNAL :
                         !strcmp(log_target_arg, "console") ? LOG_TARGET_CONSOLE : LOG_TARGET_AUTO;
        else
                target = c.log.target;
        /* journal only when it is really there: nothing may be lost. */
        if (target == LOG_TARGET_CONSOLE || !log_journal_available())
                log_set_dest(LOG_DEST_CONSOLE);
        else
                log_set_dest(LOG_DEST_JOURNAL);
        log_set_max_level((int) c.log.level);

        r = manager_new(&c, explicit_config, &m);
        if (r < 0) {
                config_done(&c);
                log_error_errno(r, "Failed to set up: %m");
                return 1;
        }
        r = manager_start(m);
        if (r >= 0)
                r = manager_run(m);
        manager_free(m);
        root_set(NULL);
        return r == 0 ? 0 : 1;
}
