#include "prompt_text.h"

#include <stdint.h>
#include <string.h>

/* ------------------------------------------------------------- UTF-8 */

static size_t utf8_len(unsigned char lead)
{
    if (lead < 0x80)
        return 1;
    if (lead < 0xc0 || lead >= 0xf8)
        return 0;
    return lead < 0xe0 ? 2 : lead < 0xf0 ? 3 : 4;
}

/* The code point at s (not at its NUL) and its length in bytes.  A byte
 * that does not start a well-formed sequence (a stray continuation byte,
 * overlong, a surrogate, beyond U+10FFFF, cut short) is one U+FFFD. */
static size_t utf8_next(const char *s, uint32_t *cp)
{
    static const uint32_t least[] = {0, 0, 0x80, 0x800, 0x10000};
    const unsigned char *u = (const unsigned char *)s;
    size_t n = utf8_len(u[0]), i;
    uint32_t c = n > 1 ? u[0] & (0x7fu >> n) : u[0];

    for (i = 1; i < n && (u[i] & 0xc0) == 0x80; i++)
        c = c << 6 | (u[i] & 0x3f);
    if (n == 0 || i < n || c < least[n] || c > 0x10ffff ||
        (c >= 0xd800 && c <= 0xdfff)) {
        *cp = 0xfffd;
        return 1;
    }
    *cp = n == 1 ? u[0] : c;
    return n;
}

static void utf8_add(struct dsb_sb *b, uint32_t c)
{
    char o[4];
    size_t n;

    if (c < 0x80) {
        o[0] = (char)c;
        n = 1;
    } else if (c < 0x800) {
        o[0] = (char)(0xc0 | c >> 6);
        n = 2;
    } else if (c < 0x10000) {
        o[0] = (char)(0xe0 | c >> 12);
        n = 3;
    } else {
        o[0] = (char)(0xf0 | c >> 18);
        n = 4;
    }
    for (size_t i = 1; i < n; i++)
        o[i] = (char)(0x80 | ((c >> (6 * (n - 1 - i))) & 0x3f));
    dsb_sb_add(b, o, n);
}

/* ------------------------------------------------------ the characters */

/* Controls (C0, DEL, C1) and characters that are invisible or reorder
 * text: soft hyphen, bidi marks, embeddings, overrides and isolates,
 * zero-width characters, line and paragraph separators, word joiners and
 * invisible operators, the byte order mark, interlinear annotations and
 * the tag characters. */
static const uint32_t hidden_ranges[][2] = {
    {0x00, 0x1f},     {0x7f, 0x9f},     {0xad, 0xad},     {0x61c, 0x61c},
    {0x180e, 0x180e}, {0x200b, 0x200f}, {0x2028, 0x202e}, {0x2060, 0x2064},
    {0x2066, 0x2069}, {0xfeff, 0xfeff}, {0xfff9, 0xfffb}, {0xe0000, 0xe007f},
};

static int hidden(uint32_t c)
{
    for (size_t i = 0; i < sizeof(hidden_ranges) / sizeof(*hidden_ranges); i++)
        if (c >= hidden_ranges[i][0] && c <= hidden_ranges[i][1])
            return 1;
    return 0;
}

/* \xhh, \uhhhh or \Uhhhhhhhh: visible, and the same character in a Python
 * string literal. */
static void escape(struct dsb_sb *b, uint32_t c)
{
    if (c < 0x100)
        dsb_sb_addf(b, "\\x%02x", (unsigned)c);
    else if (c < 0x10000)
        dsb_sb_addf(b, "\\u%04x", (unsigned)c);
    else
        dsb_sb_addf(b, "\\U%08x", (unsigned)c);
}

struct walk {
    struct dsb_sb *b;
    int fold;            /* runs of TAB, LF and CR become one space */
    int quote;           /* " is escaped */
    int all_ticks;       /* every backtick is escaped, not only long runs */
    int marker;          /* a leading # > - * + is still to be looked at */
    int folded;          /* the previous character was folded */
    const char *run_end; /* end of the run of ` or ~ being written */
    int run_long;        /* that run is three or more long */
};

/* 1 when the ` or ~ at s is in a run of three or more of it. */
static int long_run(struct walk *w, const char *s)
{
    size_t n = 0;

    if (!w->run_end || s >= w->run_end) {
        while (s[n] == s[0])
            n++;
        w->run_end = s + n;
        w->run_long = n >= 3;
    }
    return w->run_long;
}

/* A heading, quote or list marker where the text starts. */
static void lead_marker(struct walk *w, uint32_t c)
{
    if (!w->marker || c == ' ')
        return;
    if (c < 0x80 && strchr("#>-*+", (int)c))
        dsb_sb_addc(w->b, '\\');
    w->marker = 0;
}

/* One character of catalog text, code point c at s. */
static void put_char(struct walk *w, const char *s, uint32_t c)
{
    int ws = c == '\t' || c == '\n' || c == '\r';

    if (w->fold && ws) {
        if (!w->folded)
            dsb_sb_addc(w->b, ' ');
        w->folded = 1;
        return;
    }
    w->folded = 0;
    lead_marker(w, c);
    if (c == '\\' || (c == '"' && w->quote)) {
        dsb_sb_addc(w->b, '\\');
        dsb_sb_addc(w->b, (char)c);
    } else if (c == '\n') {
        dsb_sb_adds(w->b, "\\n");
    } else if (hidden(c) || (c == '`' && w->all_ticks) ||
               ((c == '`' || c == '~') && long_run(w, s))) {
        escape(w->b, c);
    } else {
        utf8_add(w->b, c);
    }
}

/* Writes the first max characters of s; returns how many were left out. */
static size_t put_text(struct walk *w, const char *s, size_t max)
{
    size_t n, shown = 0, left = 0;
    uint32_t c;

    for (; *s; s += n) {
        n = utf8_next(s, &c);
        if (shown < max) {
            put_char(w, s, c);
            shown++;
        } else {
            left++;
        }
    }
    return left;
}

/* ------------------------------------------------------------ the forms */

static int plain_name(const char *s)
{
    if (!(*s == '_' || (*s >= 'a' && *s <= 'z')))
        return 0;
    for (; *s; s++)
        if (!(*s == '_' || (*s >= 'a' && *s <= 'z') ||
              (*s >= '0' && *s <= '9')))
            return 0;
    return 1;
}

static void close_comment(struct dsb_sb *b, size_t left)
{
    if (left)
        dsb_sb_addf(b, "\xe2\x80\xa6\" (%zu more character%s)", left,
                    left == 1 ? "" : "s");
    else
        dsb_sb_addc(b, '"');
}

void dsb_prompt_text(struct dsb_sb *b, const char *s, enum dsb_pt_form form)
{
    int quoted = form == DSB_PT_COMMENT || form == DSB_PT_VALUE;
    struct walk w = {.b = b,
                     .fold = 1,
                     .quote = quoted,
                     .all_ticks = form == DSB_PT_NAME,
                     .marker = form == DSB_PT_TEXT};
    size_t left;

    s = s ? s : "";
    if (form == DSB_PT_NAME && plain_name(s)) {
        dsb_sb_adds(b, s);
        return;
    }
    if (form != DSB_PT_TEXT)
        dsb_sb_addc(b, form == DSB_PT_NAME ? '`' : '"');
    left = put_text(&w, s,
                    form == DSB_PT_COMMENT ? DSB_PT_COMMENT_MAX
                    : form == DSB_PT_VALUE ? DSB_PT_VALUE_MAX
                                           : SIZE_MAX);
    if (form == DSB_PT_NAME)
        dsb_sb_addc(b, '`');
    else if (quoted)
        close_comment(b, left);
}

void dsb_py_literal(struct dsb_sb *b, const char *s)
{
    struct walk w = {.b = b, .quote = 1};

    dsb_sb_addc(b, '"');
    put_text(&w, s, SIZE_MAX);
    dsb_sb_addc(b, '"');
}
