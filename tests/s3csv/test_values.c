/* s3csv values from the sample it reads anyway: sample rows and per-column
 * statistics of the sample, opt-in, and masked columns whose values reach
 * no output (a canary, also left for tests/secrets-scan); the context's
 * prompt shows them as data. */
#include <sys/stat.h>
#include <unistd.h>

#include "context.h"
#include "s3csv_test.h"
#include "util.h"

#define CANARY "dsbCanaryCsvMail5c8e"

static char *conf, *root;

static void setup(void)
{
    char yaml[8192], *dir;

    conf = t_tmpdir();
    root = t_tmpdir();
    dir = dsb_asprintf("%s/vals", root);
    mkdir(dir, 0755);
    t_write(dir, "orders.csv",
            "id,Email,region,amount,day\n"
            "1," CANARY "1@x.com,south,10.5,2024-01-03\n"
            "2," CANARY "2@x.com,north,,2024-01-01\n"
            "3," CANARY "3@x.com,south,7,2024-02-01\n"
            "4," CANARY "4@x.com,south,2.25,\n");
    snprintf(yaml, sizeof(yaml),
             "name: vals\nplugin: s3csv\nnetwork: local\n"
             "roots: [\"file://%s/\"]\nsample_rows: 2\ncolumn_stats: true\n"
             "mask_columns: [\"*EMAIL*\"]\n",
             dir);
    t_write(conf, "vals.yaml", yaml);
    s3t_start(conf, NULL);
    free(dir);
}

static void teardown(void)
{
    s3t_stop();
    free(conf);
    free(root);
}

TestSuite(s3csv_values, .init = setup, .fini = teardown);

/* No canary in o; o is kept for the secret scan. */
static void no_canary(const char *kind, const json_t *o)
{
    const char *dir = getenv("DSB_CANARY_DIR");
    char *text = json_dumps(o, JSON_ENCODE_ANY), path[4200];
    FILE *f;

    cr_assert_null(strstr(text, CANARY), "%s shows a masked value", kind);
    if (dir && *dir) {
        snprintf(path, sizeof(path), "%s/canaries", dir);
        mkdir(path, 0755);
        snprintf(path, sizeof(path), "%s/canaries/s3csv-values.txt", dir);
        if ((f = fopen(path, "w"))) {
            fprintf(f, "%s\n", CANARY);
            fclose(f);
        }
        snprintf(path, sizeof(path), "%s/captures", dir);
        mkdir(path, 0755);
        snprintf(path, sizeof(path), "%s/captures/s3csv-%s-%d", dir, kind,
                 (int)getpid());
        if ((f = fopen(path, "w"))) {
            fputs(text, f);
            fclose(f);
        }
    }
    free(text);
}

static const json_t *col(const json_t *t, const char *name)
{
    const json_t *c;
    size_t i;

    json_array_foreach(
        json_object_get(t, "columns"), i,
        c) if (!strcmp(json_string_value(json_object_get(c, "name")),
                       name)) return c;
    cr_assert_fail("no column %s", name);
    return NULL;
}

static void same(const json_t *got, const char *want)
{
    json_t *w = json_loads(want, JSON_DECODE_ANY, NULL);
    char *g = json_dumps(got, JSON_COMPACT | JSON_ENCODE_ANY);

    cr_assert(json_equal(got, w), "got %s, want %s", g, want);
    free(g);
    json_decref(w);
}

Test(s3csv_values, statistics_and_samples_of_the_sample)
{
    json_t *t = s3t_describe("vals", "vals", "default", "orders");
    const json_t *region = json_object_get(col(t, "region"), "stats");
    const json_t *amount = json_object_get(col(t, "amount"), "stats");
    const json_t *day = json_object_get(col(t, "day"), "stats");
    const json_t *sr = json_object_get(t, "sample_rows");

    no_canary("describe", t);
    cr_assert_str_eq(json_string_value(json_object_get(region, "source")),
                     "csv_sample");
    same(json_object_get(region, "distinct_count"), "2");
    same(json_object_get(region, "most_common"),
         "[{\"value\": \"south\", \"frequency\": 0.75}]");
    same(json_object_get(amount, "null_fraction"), "0.25");
    same(json_object_get(amount, "min"), "\"2.25\"");
    same(json_object_get(amount, "max"), "\"10.5\"");
    same(json_object_get(day, "min"), "\"2024-01-01\"");
    same(json_object_get(day, "max"), "\"2024-02-01\"");
    same(json_object_get(sr, "columns"),
         "[\"id\", \"region\", \"amount\", \"day\"]");
    same(json_object_get(sr, "rows"), "[[\"1\", \"south\", \"10.5\", "
                                      "\"2024-01-03\"], [\"2\", \"north\", "
                                      "null, \"2024-01-01\"]]");
    cr_assert(json_is_true(json_object_get(col(t, "Email"), "masked")));
    cr_assert_null(json_object_get(col(t, "Email"), "stats"));
    json_decref(t);
}

Test(s3csv_values, the_context_shows_them_and_no_masked_value)
{
    struct dsb_selection sel = {"vals", "vals", "default", "orders"};
    json_t *cx = NULL;
    const char *prompt;

    cr_assert_eq(dsb_context_build(b, &sel, 1, NULL, NULL, &cx, &err), 0, "%s",
                 err.message);
    no_canary("context", cx);
    prompt = json_string_value(json_object_get(cx, "prompt"));
    cr_assert_not_null(strstr(prompt, "Column statistics are estimates "
                                      "(source csv_sample"),
                       "%s", prompt);
    cr_assert_not_null(strstr(prompt, "Sample rows (2, source csv_sample"));
    cr_assert_not_null(strstr(prompt, "`Email`  string  (source type string, "
                                      "nullable) | values masked by the "
                                      "operator"),
                       "%s", prompt);
    json_decref(cx);
}
