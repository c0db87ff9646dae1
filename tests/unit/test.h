/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Minimal test harness for memballoond unit tests.
 *
 *   TEST(name) { ... CHECK(expr); CHECK_STREQ(a, b); ... }
 *   int main(void) { RUN(name); ...; return test_summary(); }
 *
 * Output is TAP: "ok N - NAME" / "not ok N - NAME", failing checks on
 * stderr, and the plan "1..N" at the end.  The
 * program exits 0 when all passed, 1 otherwise (automake's exit-code driver).
 */
#pragma once

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static int test_failed_checks;
static int test_total, test_failures;

#define TEST(name) static void test_##name(void)

#define CHECK(expr)                                                             \
        do {                                                                    \
                if (!(expr)) {                                                  \
                        fprintf(stderr, "  %s:%d: check failed: %s\n",          \
                                __FILE__, __LINE__, #expr);                     \
                        test_failed_checks++;                                   \
                }                                                               \
        } while (0)

#define CHECK_STREQ(a, b)                                                       \
        do {                                                                    \
                const char *_a = (a), *_b = (b);                                \
                if (!_a || !_b || strcmp(_a, _b) != 0) {                        \
                        fprintf(stderr, "  %s:%d: \"%s\" != \"%s\"\n",          \
                                __FILE__, __LINE__, _a ? _a : "(null)",         \
                                _b ? _b : "(null)");                            \
                        test_failed_checks++;                                   \
                }                                                               \
        } while (0)

#define CHECK_INTEQ(a, b)                                                       \
        do {                                                                    \
                long long _a = (long long)(a), _b = (long long)(b);             \
                if (_a != _b) {                                                 \
                        fprintf(stderr, "  %s:%d: %s == %lld, expected %lld\n", \
                                __FILE__, __LINE__, #a, _a, _b);                \
                        test_failed_checks++;                                   \
                }                                                               \
        } while (0)

#define RUN(name)                                                               \
        do {                                                                    \
                test_failed_checks = 0;                                         \
                test_##name();                                                  \
                test_total++;                                                   \
                if (test_failed_checks) {                                       \
                        test_failures++;                                        \
                        printf("not ok %d - %s\n", test_total, #name);          \
                } else                                                          \
                        printf("ok %d - %s\n", test_total, #name);              \
        } while (0)

static inline int test_summary(void)
{
        /* TAP plan at the end, as automake's tap-driver.sh allows. */
        printf("1..%d\n", test_total);
        printf("# %d tests, %d failed\n", test_total, test_failures);
        return test_failures ? 1 : 0;
}
