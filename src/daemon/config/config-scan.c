/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The config file's second lexer: see config-scan.h. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config-scan.h"
#include "macro.h"

void scan_done(Scan *s)
{
        free(s->ints);
        free(s->names);
        free(s->scopes);
        free(s->stack);
}

/*
 * Make room for one more element in a growing array: returns the (maybe
 * moved) array, or NULL with the old one intact.
 */
static void *grow_array(void *array, size_t *allocated, size_t n, size_t size)
{
        void *p;
        size_t m;

        if (n < *allocated)
                return array;
        m = MAX(*allocated * 2, (size_t) 16);
        p = reallocarray(array, m, size);
        if (p)
                *allocated = m;
        return p;
}

#define GROW(s, field)                                                          \
        ({                                                                      \
                void *_g = grow_array((s)->field, &(s)->allocated_##field,      \
                                      (s)->n_##field, sizeof(*(s)->field));     \
                if (_g)                                                         \
                        (s)->field = _g;                                        \
                _g ? 0 : -ENOMEM;                                               \
        })

static bool is_hex_digit(char c)
{
        return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static bool is_name_char(char c)
{
        return is_alpha(c) || is_digit(c) || c == '-' || c == '_' || c == '*';
}

static size_t span(const char *p, bool (*accept)(char))
{
        size_t n = 0;
        while (accept(p[n]))
                n++;
        return n;
}

/* Past "[eE][-+]?[0-9]+" at p, or p itself if there is no exponent. */
static const char *skip_exponent(const char *p)
{
        const char *q = p;

        if (*q != 'e' && *q != 'E')
                return p;
        q++;
        if (*q == '+' || *q == '-')
                q++;
        return is_digit(*q) ? q + span(q, is_digit) : p;
}

/*
 * Length of the number token that libconfig's scanner (flex, longest match)
 * reads at p, 0 if none.  Its patterns:
 *   integer   [-+]?[0-9]+           integer64 [-+]?[0-9]+L(L)?
 *   hex       0[Xx][0-9A-Fa-f]+     hex64     0[Xx][0-9A-Fa-f]+L(L)?
 *   float     [-+]?[0-9]*\.[0-9]*([eE][-+]?[0-9]+)?
 *           | [-+]?[0-9]+(\.[0-9]*)?[eE][-+]?[0-9]+
 * lit is filled for integers; lit->len stays 0 for a float.
 */
static size_t scan_number(const char *p, IntLiteral *lit)
{
        const char *s = p, *d, *f;
        size_t n_digits, best = 0;

        *lit = (IntLiteral) {};

        /* A hex literal is always longer than the "0" any other pattern takes. */
        if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X') && is_hex_digit(p[2])) {
                s = p + 2 + span(p + 2, is_hex_digit);
                lit->hex = true;
                if (*s == 'L') {
                        lit->wide = true;
                        s += s[1] == 'L' ? 2 : 1;
                }
                lit->text = p;
                lit->len = s - p;
                return lit->len;
        }

        if (*s == '+' || *s == '-')
                s++;
        n_digits = span(s, is_digit);
        d = s + n_digits;
        if (n_digits > 0) {
                const char *e = d;
                if (*e == 'L') {
                        lit->wide = true;
                        e += e[1] == 'L' ? 2 : 1;
                }
                lit->text = p;
                lit->len = best = e - p;
        }

        f = d;
        if (*f == '.') {
                f++;
                f += span(f, is_digit);
                f = skip_exponent(f);
        } else if (n_digits > 0)
                f = skip_exponent(d);   /* the second float form needs the exponent */
        if (f != d && (size_t) (f - p) > best) {
                *lit = (IntLiteral) {};
                best = f - p;
        }
        return best;
}

/* What the last token was, to tell "name = {" (a named group) from "( {". */
typedef enum ScanPrev {
        PREV_OTHER,
        PREV_NAME,
        PREV_EQUALS,            /* "=" or ":" right after a name */
} ScanPrev;

/*
 * Collect integer literals and setting names (with their groups) in
 * document order.  Refuses @include before libconfig would open the file.
 * Returns 0, -ENOMEM, or -EINVAL with *ret_line set for @include.
 */
int scan_text(const char *text, Scan *s, unsigned *ret_line)
{
        ScanPrev prev = PREV_OTHER;
        size_t last_name = SIZE_MAX;
        unsigned line = 1;
        const char *p = text;

        if (GROW(s, scopes) < 0)
                return -ENOMEM;
        s->scopes[s->n_scopes++] = (Scope) { .parent = SIZE_MAX, .name = SIZE_MAX };

        while (*p) {
                char c = *p;

                if (c == '\n') {
                        line++;
                        p++;
                } else if (c == ' ' || c == '\t' || c == '\r' || c == '\f') {
                        p++;
                } else if (c == '#' || (c == '/' && p[1] == '/')) {
                        p += strcspn(p, "\n");
                } else if (c == '/' && p[1] == '*') {
                        p += 2;
                        while (*p && !(p[0] == '*' && p[1] == '/')) {
                                if (*p == '\n')
                                        line++;
                                p++;
                        }
                        if (*p)
                                p += 2;
                } else if (c == '"') {
                        p++;
                        while (*p && *p != '"') {
                                if (p[0] == '\\' && (p[1] == '"' || p[1] == '\\')) {
                                        p += 2;
                                        continue;
                                }
                                if (*p == '\n')
                                        line++;
                                p++;
                        }
                        if (*p)
                                p++;
                        prev = PREV_OTHER;
                } else if (c == '@' && strncmp(p, "@include", 8) == 0) {
                        *ret_line = line;
                        return -EINVAL;
                } else if (is_alpha(c) || c == '*') {
                        /* name: [A-Za-z*][-A-Za-z0-9_*]*, digits in it are no numbers */
                        size_t n = 1 + span(p + 1, is_name_char);

                        if ((n == 4 && strncasecmp(p, "true", 4) == 0) ||
                            (n == 5 && strncasecmp(p, "false", 5) == 0))
                                prev = PREV_OTHER;      /* a boolean value */
                        else {
                                if (GROW(s, names) < 0)
                                        return -ENOMEM;
                                last_name = s->n_names;
                                s->names[s->n_names++] = (NameToken) {
                                        .text = p,
                                        .len = n,
                                        .line = line,
                                        .scope = s->n_stack > 0 ? s->stack[s->n_stack - 1] : 0,
                                };
                                prev = PREV_NAME;
                        }
                        p += n;
                } else if (c == '=' || c == ':') {
                        prev = prev == PREV_NAME ? PREV_EQUALS : PREV_OTHER;
                        p++;
                } else if (c == '{') {
                        if (GROW(s, scopes) < 0 || GROW(s, stack) < 0)
                                return -ENOMEM;
                        s->scopes[s->n_scopes] = (Scope) {
                                .parent = s->n_stack > 0 ? s->stack[s->n_stack - 1] : 0,
                                .name = prev == PREV_EQUALS ? last_name : SIZE_MAX,
                        };
                        s->stack[s->n_stack++] = s->n_scopes++;
                        prev = PREV_OTHER;
                        p++;
                } else if (c == '}') {
                        if (s->n_stack > 0)
                                s->n_stack--;
                        prev = PREV_OTHER;
                        p++;
                } else if (is_digit(c) || c == '-' || c == '+' || c == '.') {
                        IntLiteral lit;
                        size_t n = scan_number(p, &lit);

                        prev = PREV_OTHER;
                        if (n == 0) {
                                p++;    /* garbage: libconfig reports the syntax error */
                                continue;
                        }
                        if (lit.len > 0) {
                                if (GROW(s, ints) < 0)
                                        return -ENOMEM;
                                s->ints[s->n_ints++] = lit;
                        }
                        p += n;
                } else {
                        prev = PREV_OTHER;
                        p++;
                }
        }
        return 0;
}

/*
 * The setting name on @line that repeats an earlier name in the same group:
 * what libconfig's "duplicate setting name" is about.  SIZE_MAX if none.
 */
size_t scan_find_duplicate(const Scan *s, unsigned line)
{
        for (size_t i = 0; i < s->n_names; i++) {
                const NameToken *a = &s->names[i];

                if (a->line != line)
                        continue;
                for (size_t j = 0; j < i; j++) {
                        const NameToken *b = &s->names[j];
                        if (b->scope == a->scope && b->len == a->len && memcmp(a->text, b->text, a->len) == 0)
                                return i;
                }
        }
        return SIZE_MAX;
}

/* "group.key" for a name token: its enclosing named groups, outermost first. */
void scan_format_name(const Scan *s, size_t name, char *buf, size_t size)
{
        size_t chain[8], n = 0, used = 0;
        bool truncated = false;

        chain[n++] = name;
        for (size_t sc = s->names[name].scope; sc != SIZE_MAX && s->scopes[sc].parent != SIZE_MAX;
             sc = s->scopes[sc].parent) {
                if (n == ELEMENTSOF(chain)) {
                        truncated = true;
                        break;
                }
                /* An unnamed group (in a list) shows as "()". */
                chain[n++] = s->scopes[sc].name;
        }

        buf[0] = '\0';
        if (truncated)
                used = (size_t) snprintf(buf, size, "...");
        while (n > 0 && used < size) {
                size_t t = chain[--n];
                int k;

                if (t == SIZE_MAX)
                        k = snprintf(buf + used, size - used, "%s()", used ? "." : "");
                else
                        k = snprintf(buf + used, size - used, "%s%.*s", used ? "." : "",
                                     (int) MIN(s->names[t].len, (size_t) 64), s->names[t].text);
                if (k < 0)
                        break;
                used += (size_t) k;
        }
}

