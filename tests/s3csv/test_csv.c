/* The s3csv CSV reader and type inference, on byte buffers. */
#include <criterion/criterion.h>
#include <string.h>
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#endif

#include "s3csv.h"

static const struct s3csv_dialect rfc = {',', '"', '"', 0};
static struct s3csv_records r;

static void fini(void)
{
    s3csv_records_free(&r);
#if defined(__SANITIZE_ADDRESS__)
    cr_expect_eq(__lsan_do_recoverable_leak_check(), 0, "memory leaked");
#endif
}

TestSuite(csv, .fini = fini);

/* "a|b/c|d": records joined by '/', fields by '|'. */
static const char *flat(const struct s3csv_records *x)
{
    static char buf[4096];

    buf[0] = '\0';
    for (size_t i = 0; i < x->n; i++) {
        if (i)
            strcat(buf, "/");
        for (size_t j = 0; j < x->v[i].n; j++) {
            if (j)
                strcat(buf, "|");
            strcat(buf, x->v[i].fields[j]);
        }
    }
    return buf;
}

static const char *parse(const char *s, const struct s3csv_dialect *d,
                         int truncated)
{
    s3csv_records_free(&r);
    cr_assert_eq(s3csv_csv_parse(s, strlen(s), d, truncated, 1000, &r), 0);
    return flat(&r);
}

Test(csv, plain_quoted_and_line_endings)
{
    cr_assert_str_eq(parse("a,b\n1,2\n", &rfc, 0), "a|b/1|2");
    cr_assert_str_eq(parse("a,b\r\n1,2", &rfc, 0), "a|b/1|2");
    cr_assert_str_eq(parse("a,b\r1,2\r", &rfc, 0), "a|b/1|2");
    cr_assert_str_eq(parse("\"x, y\",\"say \"\"hi\"\"\"\n", &rfc, 0),
                     "x, y|say \"hi\"");
    cr_assert_str_eq(parse("a\n\n\nb\n", &rfc, 0), "a/b");
    cr_assert_str_eq(parse(" a , b \n", &rfc, 0), " a | b ");
    cr_assert_str_eq(parse("a,,\n", &rfc, 0), "a||");
    cr_assert_eq(r.multiline, 0);
    cr_assert_str_eq(parse("", &rfc, 0), "");
    cr_assert_eq(r.n, 0);
}

Test(csv, quoted_line_breaks_set_multiline)
{
    cr_assert_str_eq(parse("id,c\r\n1,\"two\r\nlines\"\r\n", &rfc, 0),
                     "id|c/1|two\r\nlines");
    cr_assert_eq(r.multiline, 1);
}

Test(csv, bom_is_skipped_and_reported)
{
    cr_assert_str_eq(parse("\xEF\xBB\xBF\"a\",b\n", &rfc, 0), "a|b");
    cr_assert_eq(r.bom, 1);
    parse("a,b\n", &rfc, 0);
    cr_assert_eq(r.bom, 0);
}

Test(csv, the_first_line_end_outside_quotes_is_reported)
{
    parse("a,b\n1,2\r\n", &rfc, 0);
    cr_assert_eq(r.eol, S3CSV_EOL_LF);
    parse("a,b\r\n1,2\n", &rfc, 0);
    cr_assert_eq(r.eol, S3CSV_EOL_CRLF);
    parse("a,b\r1,2\r", &rfc, 0);
    cr_assert_eq(r.eol, S3CSV_EOL_CR);
    parse("\"x\ny\",b\r\n1,2\r\n", &rfc, 0);
    cr_assert_eq(r.eol, S3CSV_EOL_CRLF);
    parse("\"x\r\ny\",b\n", &rfc, 0);
    cr_assert_eq(r.eol, S3CSV_EOL_LF);
    parse("a,b", &rfc, 0);
    cr_assert_eq(r.eol, S3CSV_EOL_LF);
}

Test(csv, bom_and_line_ends_are_noted)
{
    json_t *notes = json_array(), *cols;

    parse("\xEF\xBB\xBF"
          "a,b\r\n1,2\r\n",
          &rfc, 0);
    cols = s3csv_infer_columns(&r, notes);
    cr_assert_str_eq(json_string_value(json_array_get(notes, 0)),
                     "the file "
                     "starts with a UTF-8 byte order mark: it is not part of "
                     "the first column's name");
    cr_assert(strstr(json_string_value(json_array_get(notes, 1)), "lines end "
                                                                  "with CRLF"));
    cr_assert_eq(json_array_size(notes), 2);
    json_decref(cols), json_decref(notes);
    notes = json_array();
    parse("a,b\r1,2\r", &rfc, 0);
    cols = s3csv_infer_columns(&r, notes);
    cr_assert(strstr(json_string_value(json_array_get(notes, 0)), "a bare CR"));
    json_decref(cols), json_decref(notes);
    notes = json_array();
    parse("a,b\n1,2\n", &rfc, 0);
    cols = s3csv_infer_columns(&r, notes);
    cr_assert_eq(json_array_size(notes), 0);
    json_decref(cols), json_decref(notes);
}

Test(csv, a_cut_sample_drops_its_last_record)
{
    cr_assert_str_eq(parse("a,b\n1,2\n3,4", &rfc, 1), "a|b/1|2");
    cr_assert_str_eq(parse("a,b\n1,2\n3,4\n", &rfc, 1), "a|b/1|2/3|4");
    cr_assert_str_eq(parse("a,b\n1,\"x\ny", &rfc, 1), "a|b");
    cr_assert_str_eq(parse("a,b\n1,\"x\n", &rfc, 1), "a|b");
    cr_assert_str_eq(parse("a,b\n3,4", &rfc, 0), "a|b/3|4");
}

Test(csv, other_dialects)
{
    struct s3csv_dialect semi = {';', '\'', '\'', 0};
    struct s3csv_dialect bs = {',', '"', '\\', 0};
    struct s3csv_dialect tab = {'\t', '"', '"', 0};

    cr_assert_str_eq(parse("a;'b;c';'it''s'\n", &semi, 0), "a|b;c|it's");
    cr_assert_str_eq(parse("\"say \\\"hi\\\"\",\"back\\\\\"\n", &bs, 0),
                     "say \"hi\"|back\\");
    cr_assert_str_eq(parse("a\tb,c\n", &tab, 0), "a|b,c");
}

Test(csv, encodings)
{
    struct s3csv_dialect l1 = {',', '"', '"', 1};

    cr_assert_str_eq(parse("caf\xE9,x\n", &l1, 0), "caf\xC3\xA9|x");
    cr_assert_str_eq(parse("caf\xE9,x\n", &rfc, 0), "caf\xEF\xBF\xBD|x");
    cr_assert_str_eq(parse("\xE2\x82\xAC,\xC3\xA9\n", &rfc, 0),
                     "\xE2\x82\xAC|\xC3\xA9");
    cr_assert_str_eq(parse("\xED\xA0\x80\n", &rfc, 0),
                     "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
}

Test(csv, max_records)
{
    s3csv_records_free(&r);
    cr_assert_eq(s3csv_csv_parse("h\n1\n2\n3\n", 8, &rfc, 0, 2, &r), 0);
    cr_assert_str_eq(flat(&r), "h/1");
}

/* ------------------------------------------------------------ types */

static const char *type(const char *v)
{
    static char buf[64];
    struct s3csv_coltype t = s3csv_type_of(v);
    return s3csv_spark_type(&t, buf, sizeof(buf));
}

static const char *merged(const char *a, const char *b)
{
    static char buf[64];
    struct s3csv_coltype t = s3csv_type_of(a);

    s3csv_type_merge(&t, s3csv_type_of(b));
    return s3csv_spark_type(&t, buf, sizeof(buf));
}

Test(infer, one_value)
{
    cr_assert_str_eq(type("0"), "int");
    cr_assert_str_eq(type("-2147483648"), "int");
    cr_assert_str_eq(type("2147483648"), "bigint");
    cr_assert_str_eq(type("+42"), "int");
    cr_assert_str_eq(type("9223372036854775807"), "bigint");
    cr_assert_str_eq(type("9223372036854775808"), "decimal(19,0)");
    cr_assert_str_eq(type("12.50"), "decimal(4,2)");
    cr_assert_str_eq(type("-0.5"), "decimal(2,1)");
    cr_assert_str_eq(type("1e3"), "double");
    cr_assert_str_eq(type("1.5E-7"), "double");
    cr_assert_str_eq(type("NaN"), "double");
    cr_assert_str_eq(type("-Infinity"), "double");
    cr_assert_str_eq(type("123456789012345678901234567890.123456789"),
                     "double");
    cr_assert_str_eq(type("007"), "string");
    cr_assert_str_eq(type("1."), "string");
    cr_assert_str_eq(type(".5"), "string");
    cr_assert_str_eq(type("1,5"), "string");
    cr_assert_str_eq(type(" 1"), "string");
    cr_assert_str_eq(type("TRUE"), "boolean");
    cr_assert_str_eq(type("yes"), "string");
    cr_assert_str_eq(type("2024-02-29"), "date");
    cr_assert_str_eq(type("2023-02-29"), "string");
    cr_assert_str_eq(type("2024-13-01"), "string");
    cr_assert_str_eq(type("2024-01-01 10:00"), "timestamp");
    cr_assert_str_eq(type("2024-01-01T10:00:00.123456Z"), "timestamp");
    cr_assert_str_eq(type("2024-01-01 10:00:00+05:30"), "timestamp");
    cr_assert_str_eq(type("2024-01-01 10:00:00-0800"), "timestamp");
    cr_assert_str_eq(type("2024-01-01 25:00:00"), "string");
    cr_assert_str_eq(type("2024-01-01x"), "string");
    cr_assert_str_eq(type(""), "string");
}

Test(infer, widening)
{
    cr_assert_str_eq(merged("1", "5000000000"), "bigint");
    cr_assert_str_eq(merged("123", "1.25"), "decimal(5,2)");
    cr_assert_str_eq(merged("1.5", "2e5"), "double");
    cr_assert_str_eq(merged("5000000000", "1.5"), "decimal(11,1)");
    cr_assert_str_eq(merged("2024-01-01", "2024-01-01 10:00:00"), "timestamp");
    cr_assert_str_eq(merged("1", "true"), "string");
    cr_assert_str_eq(merged("2024-01-01", "1"), "string");
    cr_assert_str_eq(merged("2024-01-01", "2024-01-02"), "date");
    cr_assert_str_eq(merged("", "true"), "boolean");
    cr_assert_str_eq(merged("1", ""), "int");
    cr_assert_str_eq(merged("abc", "1"), "string");
}

Test(infer, columns_and_notes)
{
    json_t *notes = json_array(), *cols;
    const char *csv = "id,,ID,amount\n1,x,y,1.5\n2,,z\n";

    cr_assert_eq(s3csv_csv_parse(csv, strlen(csv), &rfc, 0, 100, &r), 0);
    cols = s3csv_infer_columns(&r, notes);
    cr_assert_eq(json_array_size(cols), 4);
    cr_assert_str_eq(
        json_string_value(json_object_get(json_array_get(cols, 1), "name")),
        "_c1");
    cr_assert_str_eq(
        json_string_value(json_object_get(json_array_get(cols, 2), "name")),
        "ID_2");
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(cols, 3),
                                                       "source_type")),
                     "decimal(2,1)");
    cr_assert_eq(json_integer_value(
                     json_object_get(json_array_get(cols, 3), "position")),
                 4);
    cr_assert(
        json_is_true(json_object_get(json_array_get(cols, 0), "nullable")));
    cr_assert_eq(json_array_size(notes), 3); /* _c1, ID_2, ragged */
    json_decref(cols);
    json_decref(notes);
}
