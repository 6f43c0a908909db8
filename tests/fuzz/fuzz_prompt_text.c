/* Catalog text in the prompt and the code (core/prompt_text.c): the input
 * (up to its first NUL) in every form must come out well-formed UTF-8 with
 * no raw control, C1 or bidi character and no run of three backticks or
 * tildes; a name bare only when plain, else in backticks with none inside;
 * a comment closed by its only unescaped quote; text not starting with a
 * Markdown marker; and the Python literal must decode back to the input
 * (when the input is well-formed UTF-8).  A violation aborts. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "prompt_text.h"

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "fuzz_prompt_text: %s\n", #cond);                  \
            abort();                                                           \
        }                                                                      \
    } while (0)

/* The code point at s and its length; 0 when not well-formed. */
static size_t next_cp(const unsigned char *s, unsigned long *cp)
{
    size_t n = s[0] < 0x80   ? 1
               : s[0] < 0xc2 ? 0
               : s[0] < 0xe0 ? 2
               : s[0] < 0xf0 ? 3
               : s[0] < 0xf5 ? 4
                             : 0;
    unsigned long c = n == 1 ? s[0] : s[0] & (0x7fu >> n);

    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        c = c << 6 | (s[i] & 0x3f);
    }
    if (n == 0 || (n == 3 && c < 0x800) || (n == 4 && c < 0x10000) ||
        c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
        return 0;
    *cp = c;
    return n;
}

static int utf8_ok(const char *s)
{
    unsigned long c;
    size_t n;

    for (; *s; s += n)
        if ((n = next_cp((const unsigned char *)s, &c)) == 0)
            return 0;
    return 1;
}

static int shown_raw(unsigned long c)
{
    return c < 0x20 || (c >= 0x7f && c <= 0x9f) || c == 0xad || c == 0x61c ||
           c == 0x180e || (c >= 0x200b && c <= 0x200f) ||
           (c >= 0x2028 && c <= 0x202e) || (c >= 0x2060 && c <= 0x2064) ||
           (c >= 0x2066 && c <= 0x2069) || c == 0xfeff ||
           (c >= 0xfff9 && c <= 0xfffb) || (c >= 0xe0000 && c <= 0xe007f);
}

/* Every form's common guarantees. */
static void check_clean(const char *out)
{
    unsigned long c;
    size_t n;

    CHECK(utf8_ok(out));
    for (const char *p = out; *p; p += n) {
        n = next_cp((const unsigned char *)p, &c);
        CHECK(!shown_raw(c));
    }
    CHECK(!strstr(out, "```") && !strstr(out, "~~~"));
}

static char *form(const char *in, enum dsb_pt_form f)
{
    struct dsb_sb b = {0};
    char *out;

    dsb_prompt_text(&b, in, f);
    out = dsb_sb_take(&b);
    CHECK(out);
    check_clean(out);
    return out;
}

static void check_name(const char *out)
{
    size_t n = strlen(out);

    if (out[0] == '`')
        CHECK(n >= 2 && out[n - 1] == '`' && !memchr(out + 1, '`', n - 2));
    else
        CHECK(n > 0 && (out[0] < '0' || out[0] > '9') &&
              strspn(out, "abcdefghijklmnopqrstuvwxyz0123456789_") == n);
}

/* Characters as the prompt counts them: an invalid byte is one. */
static size_t chars(const char *s)
{
    unsigned long c;
    size_t n, k = 0;

    for (; *s; s += n ? n : 1, k++)
        n = next_cp((const unsigned char *)s, &c);
    return k;
}

/* The closing quote is the only unescaped one: at the end, or after an
 * ellipsis and before " (N more character[s])" when the input is longer
 * than the cap. */
static void check_comment(const char *out, const char *in)
{
    size_t total = chars(in), left = total - DSB_PT_COMMENT_MAX;
    const char *p = out + 1;
    char want[64] = "";

    CHECK(out[0] == '"');
    while (*p && *p != '"')
        p += *p == '\\' && p[1] ? 2 : 1;
    CHECK(*p == '"');
    if (total > DSB_PT_COMMENT_MAX) {
        snprintf(want, sizeof(want), " (%zu more character%s)", left,
                 left == 1 ? "" : "s");
        CHECK(p - out >= 4 && memcmp(p - 3, "\xe2\x80\xa6", 3) == 0);
    }
    CHECK(strcmp(p + 1, want) == 0);
}

static void check_text(const char *out)
{
    const char *p = out + strspn(out, " ");

    CHECK(!*p || !strchr("#>-*+", *p));
}

/* Decodes the literal's escapes (\\ \" \n \xhh \uhhhh \Uhhhhhhhh). */
static size_t unescape(const char *p, unsigned long *cp)
{
    static const int digits[256] = {['x'] = 2, ['u'] = 4, ['U'] = 8};
    int n = digits[(unsigned char)p[1]];
    char hex[9] = {0};

    if (!n) {
        CHECK(p[1] == '\\' || p[1] == '"' || p[1] == 'n');
        *cp = p[1] == 'n' ? '\n' : (unsigned char)p[1];
        return 2;
    }
    memcpy(hex, p + 2, (size_t)n);
    CHECK(strspn(hex, "0123456789abcdef") == (size_t)n);
    *cp = strtoul(hex, NULL, 16);
    return 2 + (size_t)n;
}

static void add_utf8(char **o, unsigned long c)
{
    static const unsigned char lead[] = {0, 0, 0xc0, 0xe0, 0xf0};
    unsigned char *u = (unsigned char *)*o;
    int n = c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4;

    u[0] = (unsigned char)(n == 1 ? c : lead[n] | (c >> (6 * (n - 1))));
    for (int i = 1; i < n; i++)
        u[i] = (unsigned char)(0x80 | ((c >> (6 * (n - 1 - i))) & 0x3f));
    *o += n;
}

static void check_literal(const char *in)
{
    struct dsb_sb b = {0};
    char *out, *back, *o;
    unsigned long c;
    size_t len;

    dsb_py_literal(&b, in);
    out = dsb_sb_take(&b);
    CHECK(out && out[0] == '"');
    check_clean(out);
    len = strlen(out);
    CHECK(len >= 2 && out[len - 1] == '"');
    back = o = malloc(len * 4 + 1);
    CHECK(back);
    for (const char *p = out + 1; p < out + len - 1;) {
        CHECK(*p != '"');
        p += *p == '\\' ? unescape(p, &c)
                        : next_cp((const unsigned char *)p, &c);
        add_utf8(&o, c);
    }
    *o = '\0';
    CHECK(!utf8_ok(in) || strcmp(back, in) == 0);
    free(back);
    free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *in = malloc(size + 1), *out;

    if (!in)
        return 0;
    memcpy(in, data, size);
    in[size] = '\0';
    check_name(out = form(in, DSB_PT_NAME));
    free(out);
    check_comment(out = form(in, DSB_PT_COMMENT), in);
    free(out);
    check_text(out = form(in, DSB_PT_TEXT));
    free(out);
    check_literal(in);
    free(in);
    return 0;
}
