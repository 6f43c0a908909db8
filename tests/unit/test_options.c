/* YAML positions, option validation and interpolation. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "diag.h"
#include "options.h"
#include "yamldoc.h"

static const char *const modes[] = {"fast", "slow", NULL};
static const struct dsb_option inner[] = {
    DSB_OPTION_STRING("host", DSB_OPT_REQUIRED, NULL, "host name"),
    DSB_OPTION_INT("port", 0, "80", 1, 65535, "port"), DSB_OPTION_END};
static const struct dsb_option table[] = {
    DSB_OPTION_STRING("hostname", DSB_OPT_REQUIRED, NULL, "server"),
    DSB_OPTION_INT("port", 0, "5432", 1, 65535, "TCP port"),
    DSB_OPTION_DOUBLE("ratio", 0, "0.5", 0, 1, "fraction"),
    DSB_OPTION_BOOL("tls", "true", "use TLS"),
    DSB_OPTION_ENUM("mode", 0, "fast", modes, "speed"),
    DSB_OPTION_LIST("tags", 0, "[x, y]", "tags"),
    DSB_OPTION_MAP("labels", 0, "labels"),
    DSB_OPTION_SECRET("password", 0, "password reference"),
    DSB_OPTION_OBJECT("endpoint", inner, "endpoint"),
    DSB_OPTION_OBJECT_LIST("replicas", 0, "[]", inner, "replicas"),
    DSB_OPTION_END};

static struct dsb_diags d;
static struct dsb_ynode *doc;

static void setup(void)
{
    dsb_diags_init(&d);
    doc = NULL;
}

static void teardown(void)
{
    dsb_ynode_free(doc);
    dsb_diags_free(&d);
}

TestSuite(options, .init = setup, .fini = teardown);

static json_t *validate(const char *yaml)
{
    dsb_ynode_free(doc);
    doc = dsb_yaml_parse(yaml, strlen(yaml), "t.yaml", &d);
    cr_assert_not_null(doc, "parse failed: %s", d.n ? d.items[0].message : "?");
    return dsb_options_validate(doc, table, NULL, &d);
}

static void expect_diag(int line, int col, const char *needle)
{
    long i = dsb_diags_find(&d, "t.yaml", line, needle);
    cr_assert(i >= 0,
              "no diagnostic at line %d containing \"%s\" (have %zu, "
              "first: %d:%d %s)",
              line, needle, d.n, d.n ? d.items[0].line : 0,
              d.n ? d.items[0].col : 0, d.n ? d.items[0].message : "");
    cr_assert_eq(d.items[i].col, col, "column of \"%s\": %d, expected %d",
                 needle, d.items[i].col, col);
}

Test(options, converts_every_type_and_applies_defaults)
{
    json_t *o =
        validate("hostname: db\nratio: 0.25\ntls: off\nmode: slow\n"
                 "labels: {a: b}\npassword: env:PW\n"
                 "endpoint: {host: h}\nreplicas: [{host: r, port: 1}]\n");
    cr_assert_eq(d.errors, 0, "%s", d.n ? d.items[0].message : "");
    cr_assert_str_eq(json_string_value(json_object_get(o, "hostname")), "db");
    cr_assert_eq(json_integer_value(json_object_get(o, "port")), 5432);
    cr_assert_float_eq(json_real_value(json_object_get(o, "ratio")), 0.25,
                       1e-9);
    cr_assert(json_is_false(json_object_get(o, "tls")));
    cr_assert_str_eq(json_string_value(json_object_get(o, "mode")), "slow");
    cr_assert_eq(json_array_size(json_object_get(o, "tags")), 2);
    cr_assert_str_eq(
        json_string_value(json_object_get(json_object_get(o, "labels"), "a")),
        "b");
    cr_assert_eq(json_integer_value(
                     json_object_get(json_object_get(o, "endpoint"), "port")),
                 80);
    cr_assert_eq(
        json_integer_value(json_object_get(
            json_array_get(json_object_get(o, "replicas"), 0), "port")),
        1);
    json_decref(o);
}

Test(options, unknown_key_suggests_the_closest)
{
    json_decref(validate("hostnme: db\n"));
    expect_diag(1, 1, "unknown key \"hostnme\" (did you mean \"hostname\"?)");
    expect_diag(1, 1, "missing required option \"hostname\"");
}

Test(options, integers_are_parsed_strictly)
{
    json_decref(validate("hostname: db\nport: 54x2\n"));
    expect_diag(2, 7, "\"port\" must be an integer, got \"54x2\"");
    cr_assert_eq(d.errors, 1);
}

Test(options, bounds_and_enums_are_checked)
{
    json_decref(validate("hostname: db\nport: 70000\nratio: -1\nmode: fats\n"));
    expect_diag(2, 7, "between 1 and 65535");
    expect_diag(3, 8, "between 0 and 1");
    expect_diag(4, 7,
                "one of fast, slow; got \"fats\" (did you mean \"fast\"?)");
}

/* A value past long long's range is written as %g, never cast (UBSan
 * caught the cast in the fuzz stage). */
Test(options, huge_values_are_reported_not_cast)
{
    json_decref(validate("hostname: db\nratio: 1e300\n"));
    expect_diag(2, 8, "\"ratio\" is 1e+300; it must be between 0 and 1");
    json_decref(validate("hostname: db\nratio: -1e300\n"));
    expect_diag(2, 8, "\"ratio\" is -1e+300; it must be between 0 and 1");
}

Test(options, booleans_and_shapes)
{
    json_decref(validate("hostname: [a]\ntls: maybe\ntags: {a: 1}\n"));
    expect_diag(1, 11, "\"hostname\" must be a string, not a list");
    expect_diag(2, 6, "must be true or false, got \"maybe\"");
    expect_diag(3, 7, "must be a list of strings, not a mapping");
}

Test(options, nested_errors_carry_the_key_path)
{
    json_decref(validate("hostname: db\nendpoint:\n  port: 0\n"
                         "replicas:\n  - port: 2\n"));
    expect_diag(3, 9, "\"endpoint.port\" is 0");
    expect_diag(3, 3, "missing required option \"endpoint.host\"");
    expect_diag(5, 5, "missing required option \"replicas[0].host\"");
}

Test(options, secret_options_take_references_and_never_echo_values)
{
    json_decref(validate("hostname: db\npassword: s3cr3t-value\n"));
    expect_diag(2, 11, "\"password\" is a secret and needs a reference");
    for (size_t i = 0; i < d.n; i++)
        cr_assert_null(strstr(d.items[i].message, "s3cr3t"),
                       "the value leaked: %s", d.items[i].message);
}

Test(options, scalars_are_interpolated)
{
    json_t *o;

    setenv("DSB_T_HOST", "from-env", 1);
    unsetenv("DSB_T_UNSET");
    o = validate("hostname: ${DSB_T_HOST}.x\nport: ${DSB_T_UNSET:-6543}\n"
                 "labels: {cost: $$5}\n");
    cr_assert_eq(d.errors, 0, "%s", d.n ? d.items[0].message : "");
    cr_assert_str_eq(json_string_value(json_object_get(o, "hostname")),
                     "from-env.x");
    cr_assert_eq(json_integer_value(json_object_get(o, "port")), 6543);
    cr_assert_str_eq(json_string_value(
                         json_object_get(json_object_get(o, "labels"), "cost")),
                     "$5");
    json_decref(o);
}

Test(options, unset_variables_are_errors)
{
    unsetenv("DSB_T_UNSET");
    json_decref(validate("hostname: ${DSB_T_UNSET}\n"));
    expect_diag(1, 11, "environment variable DSB_T_UNSET is not set");
}

Test(options, interpolation_syntax)
{
    char why[128];
    char *s;

    setenv("DSB_T_EMPTY", "", 1);
    s = dsb_interpolate("${DSB_T_EMPTY:-dflt}", why, sizeof(why));
    cr_assert_str_eq(s, "dflt");
    free(s);
    s = dsb_interpolate("a$b $$ $", why, sizeof(why));
    cr_assert_str_eq(s, "a$b $ $");
    free(s);
    cr_assert_null(dsb_interpolate("${OPEN", why, sizeof(why)));
    cr_assert(strstr(why, "unterminated"), "%s", why);
    cr_assert_null(dsb_interpolate("${1X}", why, sizeof(why)));
    cr_assert_null(dsb_interpolate("${A B}", why, sizeof(why)));
}

Test(options, yaml_errors_have_positions)
{
    doc = dsb_yaml_parse("a: 1\nb: [1, 2\n", 13, "t.yaml", &d);
    cr_assert_null(doc);
    cr_assert_eq(d.errors, 1);
    cr_assert(strstr(d.items[0].message, "YAML syntax error"), "%s",
              d.items[0].message);
    cr_assert_eq(d.items[0].line, 3);
}

Test(options, duplicate_keys_aliases_and_documents_are_refused)
{
    const char *dup = "a: 1\nb: 2\na: 3\n";
    const char *alias = "a: &x 1\nb: *x\n";
    const char *docs = "a: 1\n---\nb: 2\n";

    cr_assert_null(dsb_yaml_parse(dup, strlen(dup), "t.yaml", &d));
    expect_diag(3, 1, "duplicate key \"a\" (first given at line 1)");
    cr_assert_null(dsb_yaml_parse(alias, strlen(alias), "t.yaml", &d));
    expect_diag(2, 4, "aliases are not supported");
    cr_assert_null(dsb_yaml_parse(docs, strlen(docs), "t.yaml", &d));
    expect_diag(2, 1, "one YAML document per file");
}

Test(options, empty_document_is_an_empty_map)
{
    doc = dsb_yaml_parse("# nothing\n", 10, "t.yaml", &d);
    cr_assert_not_null(doc);
    cr_assert_eq(doc->kind, DSB_Y_MAP);
    cr_assert_eq(doc->n, 0);
}

Test(options, schema_describes_the_table)
{
    json_t *s = dsb_options_schema(table);
    json_t *props = json_object_get(s, "properties");

    cr_assert_str_eq(json_string_value(json_object_get(
                         json_object_get(props, "port"), "type")),
                     "integer");
    /* an integer option's bounds are integers, as its type says */
    cr_assert_eq(json_integer_value(json_object_get(
                     json_object_get(props, "port"), "maximum")),
                 65535);
    cr_assert(json_is_true(json_object_get(json_object_get(props, "password"),
                                           "x-dsb-secret-reference")));
    cr_assert_eq(json_array_size(
                     json_object_get(json_object_get(props, "mode"), "enum")),
                 2);
    cr_assert_str_eq(
        json_string_value(json_array_get(json_object_get(s, "required"), 0)),
        "hostname");
    cr_assert(json_is_false(json_object_get(s, "additionalProperties")));
    json_decref(s);
}

Test(options, tables_are_checked)
{
    static const struct dsb_option bad[] = {
        DSB_OPTION_INT("n", 0, "many", 0, 10, "bad default"),
        DSB_OPTION_ENUM("e", 0, NULL, NULL, "no values"),
        DSB_OPTION_STRING("n", 0, NULL, "twice"), DSB_OPTION_END};
    cr_assert_eq(dsb_options_check_table(table, "ok", &d), 0);
    cr_assert_eq(dsb_options_check_table(bad, "bad", &d), -1);
    cr_assert(dsb_diags_find(&d, "bad", 0, "declared twice") >= 0);
    cr_assert(dsb_diags_find(&d, "bad", 0, "lists no values") >= 0);
}

Test(options, closest_needs_to_be_close)
{
    const char *c[] = {"hostname", "port", "sslmode"};
    cr_assert_str_eq(dsb_closest("hostnme", c, 3), "hostname");
    cr_assert_str_eq(dsb_closest("ssl_mode", c, 3), "sslmode");
    cr_assert_null(dsb_closest("completely", c, 3));
}
