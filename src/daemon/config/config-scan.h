/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The config file's second lexer.
 *
 * libconfig 1.5 cannot tell us the integer literals as written, nor which
 * key a "duplicate setting name" is about.  scan_text() walks the text the
 * way libconfig's flex scanner does (same comments, strings, names and
 * number patterns) and records both.  It is only ever used to explain what
 * libconfig parsed; config.c checks that the two agree.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

typedef struct IntLiteral {
        const char *text;       /* points into the parsed buffer */
        size_t len;
        bool hex;               /* 0x... */
        bool wide;              /* L or LL suffix: libconfig's int64 */
} IntLiteral;

typedef struct NameToken {
        const char *text;       /* points into the parsed buffer */
        size_t len;
        unsigned line;
        size_t scope;           /* index into Scan.scopes */
} NameToken;

typedef struct Scope {
        size_t parent;          /* SIZE_MAX for the root */
        size_t name;            /* NameToken naming this group, SIZE_MAX if none */
} Scope;

typedef struct Scan {
        IntLiteral *ints;
        size_t n_ints, allocated_ints;
        NameToken *names;
        size_t n_names, allocated_names;
        Scope *scopes;
        size_t n_scopes, allocated_scopes;
        size_t *stack;          /* open scopes, innermost last */
        size_t n_stack, allocated_stack;
} Scan;

/* Character classes as libconfig's scanner has them. */
static inline bool is_digit(char c)
{
        return c >= '0' && c <= '9';
}

static inline bool is_alpha(char c)
{
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

void scan_done(Scan *s);

/* Collect integer literals and setting names (with their groups) in
 * document order.  Refuses @include before libconfig would open the file.
 * Returns 0, -ENOMEM, or -EINVAL with *ret_line set for @include. */
int scan_text(const char *text, Scan *s, unsigned *ret_line);

/* The setting name on @line that repeats an earlier name in the same group:
 * what libconfig's "duplicate setting name" is about.  SIZE_MAX if none. */
size_t scan_find_duplicate(const Scan *s, unsigned line);

/* "group.key" for a name token: its enclosing named groups, outermost first. */
void scan_format_name(const Scan *s, size_t name, char *buf, size_t size);
