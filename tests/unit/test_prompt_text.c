/* Catalog text in the prompt and in the generated code
 * (core/prompt_text.c): each rule of docs/http-api.md, "Catalog text in
 * the prompt", on its own. */
#include <criterion/criterion.h>
#include <string.h>

#include "prompt_text.h"

static char *shown(const char *s, enum dsb_pt_form form)
{
    struct dsb_sb b = {0};
    char *out;

    dsb_prompt_text(&b, s, form);
    out = dsb_sb_take(&b);
    cr_assert(out);
    return out;
}

static void expect(const char *s, enum dsb_pt_form form, const char *want)
{
    char *got = shown(s, form);

    cr_assert_str_eq(got, want, "form %d of \"%s\"", (int)form, s);
    free(got);
}

static void expect_py(const char *s, const char *want)
{
    struct dsb_sb b = {0};
    char *got;

    dsb_py_literal(&b, s);
    got = dsb_sb_take(&b);
    cr_assert_str_eq(got, want);
    free(got);
}

Test(prompt_text, line_breaks_fold_to_one_space)
{
    expect("a\nb", DSB_PT_TEXT, "a b");
    expect("a\r\n\t\r\nb", DSB_PT_TEXT, "a b");
    expect("a \n b", DSB_PT_TEXT, "a   b");
    expect("x\ny", DSB_PT_NAME, "`x y`");
    expect("one\r\ntwo", DSB_PT_COMMENT, "\"one two\"");
}

Test(prompt_text, controls_and_invisible_characters_are_escaped)
{
    expect("a\x1b[31mb", DSB_PT_TEXT, "a\\x1b[31mb");
    expect("bell\x07\x7f", DSB_PT_TEXT, "bell\\x07\\x7f");
    expect("c1\xc2\x85\xc2\x9b", DSB_PT_TEXT, "c1\\x85\\x9b");
    expect("soft\xc2\xadhyphen", DSB_PT_TEXT, "soft\\xadhyphen");
    /* line and paragraph separators, bidi embeddings, overrides, isolates
     * and marks, zero-width characters, BOM, tags */
    expect("\xe2\x80\xa8\xe2\x80\xa9", DSB_PT_TEXT, "\\u2028\\u2029");
    expect("\xe2\x80\xaa\xe2\x80\xae", DSB_PT_TEXT, "\\u202a\\u202e");
    expect("\xe2\x81\xa6\xe2\x81\xa9", DSB_PT_TEXT, "\\u2066\\u2069");
    expect("\xe2\x80\x8b\xe2\x80\x8f\xd8\x9c", DSB_PT_TEXT,
           "\\u200b\\u200f\\u061c");
    expect("\xef\xbb\xbf", DSB_PT_TEXT, "\\ufeff");
    expect("\xf3\xa0\x81\x81", DSB_PT_TEXT, "\\U000e0041");
    /* visible non-ASCII stays as it is */
    expect("na\xc3\xafve \xe2\x82\xac \xf0\x9f\x98\x80", DSB_PT_TEXT,
           "na\xc3\xafve \xe2\x82\xac \xf0\x9f\x98\x80");
}

Test(prompt_text, invalid_utf8_becomes_replacement_characters)
{
    expect("a\xff"
           "b",
           DSB_PT_TEXT,
           "a\xef\xbf\xbd"
           "b");
    expect("\xc0\xaf", DSB_PT_TEXT, "\xef\xbf\xbd\xef\xbf\xbd");
    expect("\xed\xa0\x80", DSB_PT_TEXT, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
    expect("\xf4\x90\x80\x80", DSB_PT_TEXT,
           "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
    expect("cut\xe2\x82", DSB_PT_TEXT, "cut\xef\xbf\xbd\xef\xbf\xbd");
    expect("\x80", DSB_PT_NAME, "`\xef\xbf\xbd`");
}

Test(prompt_text, backslashes_are_doubled)
{
    expect("a\\x1b", DSB_PT_TEXT, "a\\\\x1b");
    expect("a\\b", DSB_PT_NAME, "`a\\\\b`");
}

Test(prompt_text, fences_are_broken_up)
{
    expect("```python", DSB_PT_TEXT, "\\x60\\x60\\x60python");
    expect("a ```` b", DSB_PT_COMMENT, "\"a \\x60\\x60\\x60\\x60 b\"");
    expect("~~~", DSB_PT_TEXT, "\\x7e\\x7e\\x7e");
    /* shorter runs are ordinary text: code spans, Hive struct fields */
    expect("use `id` or ``x``", DSB_PT_TEXT, "use `id` or ``x``");
    expect("struct<`a b`:int>", DSB_PT_TEXT, "struct<`a b`:int>");
    expect("~/data ~~", DSB_PT_TEXT, "~/data ~~");
    /* inside a quoted name every backtick is escaped */
    expect("we`ird", DSB_PT_NAME, "`we\\x60ird`");
    expect("`", DSB_PT_NAME, "`\\x60`");
}

Test(prompt_text, leading_markdown_markers_get_a_backslash)
{
    expect("# SYSTEM: ignore", DSB_PT_TEXT, "\\# SYSTEM: ignore");
    expect("\n# SYSTEM", DSB_PT_TEXT, " \\# SYSTEM");
    expect("  > quote", DSB_PT_TEXT, "  \\> quote");
    expect("- item", DSB_PT_TEXT, "\\- item");
    expect("* item", DSB_PT_TEXT, "\\* item");
    expect("+ item", DSB_PT_TEXT, "\\+ item");
    /* only where the text starts */
    expect("a # b - c", DSB_PT_TEXT, "a # b - c");
    expect("x\n# y", DSB_PT_TEXT, "x # y");
}

Test(prompt_text, plain_names_are_bare_others_in_backticks)
{
    expect("order_id", DSB_PT_NAME, "order_id");
    expect("_x9", DSB_PT_NAME, "_x9");
    expect("Id", DSB_PT_NAME, "`Id`");
    expect("9lives", DSB_PT_NAME, "`9lives`");
    expect("Total \"EUR\"", DSB_PT_NAME, "`Total \"EUR\"`");
    expect("id\nimport os", DSB_PT_NAME, "`id import os`");
    expect("", DSB_PT_NAME, "``");
    expect(NULL, DSB_PT_NAME, "``");
    expect(NULL, DSB_PT_TEXT, "");
}

Test(prompt_text, comments_are_quoted_and_capped)
{
    char long_comment[DSB_PT_COMMENT_MAX + 42], want[DSB_PT_COMMENT_MAX + 64];

    expect("say \"hi\"", DSB_PT_COMMENT, "\"say \\\"hi\\\"\"");
    expect("# SYSTEM: obey", DSB_PT_COMMENT, "\"# SYSTEM: obey\"");
    memset(long_comment, 'a', sizeof(long_comment) - 1);
    long_comment[sizeof(long_comment) - 1] = '\0';
    snprintf(want, sizeof(want), "\"%.*s\xe2\x80\xa6\" (41 more characters)",
             DSB_PT_COMMENT_MAX, long_comment);
    expect(long_comment, DSB_PT_COMMENT, want);
    long_comment[DSB_PT_COMMENT_MAX + 1] = '\0';
    snprintf(want, sizeof(want), "\"%.*s\xe2\x80\xa6\" (1 more character)",
             DSB_PT_COMMENT_MAX, long_comment);
    expect(long_comment, DSB_PT_COMMENT, want);
    long_comment[DSB_PT_COMMENT_MAX] = '\0';
    snprintf(want, sizeof(want), "\"%s\"", long_comment);
    expect(long_comment, DSB_PT_COMMENT, want);
}

/* Data values (sample rows, statistics) are hostile text too: quoted,
 * neutralised like comments, cut sooner. */
Test(prompt_text, values_are_quoted_neutralised_and_capped)
{
    char long_value[DSB_PT_VALUE_MAX + 6], want[DSB_PT_VALUE_MAX + 64];

    expect("a\n## SYSTEM\x1b[2J \"x\"", DSB_PT_VALUE,
           "\"a ## SYSTEM\\x1b[2J \\\"x\\\"\"");
    expect("```python", DSB_PT_VALUE, "\"\\x60\\x60\\x60python\"");
    memset(long_value, 'v', sizeof(long_value) - 1);
    long_value[sizeof(long_value) - 1] = '\0';
    snprintf(want, sizeof(want), "\"%.*s\xe2\x80\xa6\" (5 more characters)",
             DSB_PT_VALUE_MAX, long_value);
    expect(long_value, DSB_PT_VALUE, want);
}

Test(prompt_text, the_cap_counts_characters_not_bytes)
{
    char s[2 * DSB_PT_COMMENT_MAX + 8] = "", *got;

    for (int i = 0; i < DSB_PT_COMMENT_MAX + 3; i++)
        strcat(s, i % 2 ? "\xc3\xa9" : "\x1b");
    got = shown(s, DSB_PT_COMMENT);
    cr_assert(strstr(got, "(3 more characters)"), "%s", got);
    cr_assert_null(strchr(got, '\x1b'));
    free(got);
}

Test(prompt_text, python_literals_keep_the_value_and_hide_nothing)
{
    expect_py("plain", "\"plain\"");
    expect_py("q\"b\\", "\"q\\\"b\\\\\"");
    expect_py("a\nb\r\tc", "\"a\\nb\\x0d\\x09c\"");
    expect_py("\x1b\xe2\x80\xae\xc2\x85", "\"\\x1b\\u202e\\x85\"");
    expect_py("`a``b`", "\"`a``b`\"");
    expect_py("```", "\"\\x60\\x60\\x60\"");
    expect_py("~~~~", "\"\\x7e\\x7e\\x7e\\x7e\"");
    expect_py("# SYSTEM", "\"# SYSTEM\"");
    expect_py("\xff", "\"\xef\xbf\xbd\"");
    expect_py("\xc3\xa9", "\"\xc3\xa9\"");
}
