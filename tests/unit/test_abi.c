/* Runtime: plugins of ABI 1.0 and 1.1 side by side in one service.  The
 * fixture as a 1.1 plugin, as fixture10.so (built against the frozen 1.0
 * header) and as fixture_for10.so (today's header declaring 1.0) serve the
 * same catalog: each must give the same read specs and contexts, and only
 * the 1.1 one is handed the broker's description instead of describing the
 * table a second time. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "service_support.h"

static struct t_svc T;
static struct dsb_error err;
static char *conf, *state;

static const char *const sources[] = {"new", "old", "for10"};
static const char *const plugins[] = {"fixture", "fixture10", "fixture_for10"};

static void write_conf(void)
{
    char *data = t_src("tests/fixtures/confd-good/data/catalog.json");
    char text[8192];

    conf = t_tmpdir();
    state = t_tmpdir();
    t_broker_yaml_local(conf, state, "[fixture-net]");
    for (size_t i = 0; i < 3; i++) {
        char name[64];
        snprintf(name, sizeof(name), "%s.yaml", sources[i]);
        snprintf(text, sizeof(text), "name: %s\nplugin: %s\ndata_file: %s\n",
                 sources[i], plugins[i], data);
        t_write(conf, name, text);
    }
    free(data);
}

static void setup(void)
{
    char *dir = t_path("DSB_TEST_PLUGIN_DIR", "abi");

    write_conf();
    t_svc_open(&T, conf, dir, "test-abi");
    free(dir);
}

static void teardown(void)
{
    t_svc_close(&T);
    free(conf);
    free(state);
}

TestSuite(abi, .init = setup, .fini = teardown);

/* The fixture's counter `what` ("calls", "describes"), read by check. */
static long counter(const char *source, const char *what)
{
    json_t *out = NULL;
    long n;

    cr_assert_eq(dsb_svc_source_check(&T.ctx, source, &out, &err), 0, "%s",
                 err.message);
    n = (long)json_integer_value(json_object_get(out, what));
    json_decref(out);
    return n;
}

/* Lists the tables, selects orders into a new session, builds its
 * context: what an agent does. */
static json_t *list_select_context(const char *source)
{
    struct dsb_browse b = {.slot = DSB_SLOT_LIST_TABLES,
                           .source = source,
                           .database = "sales",
                           .schema = "public"};
    struct dsb_selection sel = {source, "sales", "public", "orders"};
    char id[DSB_SESSION_ID_MAX + 1];
    const struct dsb_cached *v;
    json_t *cx;
    int hit;

    v = dsb_svc_browse(&T.ctx, &b, &hit, &err);
    cr_assert(v && v->doc, "%s", err.message);
    dsb_svc_release(&T.ctx, v);
    cr_assert_eq(dsb_svc_session_create(&T.ctx, id, &err), 0, "%s",
                 err.message);
    cr_assert_eq(dsb_svc_select(&T.ctx, id, &sel, 1, NULL, 0, NULL, &err), 0,
                 "%s", err.message);
    v = dsb_svc_context(&T.ctx, id, NULL, &hit, &err);
    cr_assert(v && v->doc, "%s: %s", source, v ? v->err.message : err.message);
    cx = json_incref(json_array_get(json_object_get(v->doc, "tables"), 0));
    dsb_svc_release(&T.ctx, v);
    return cx;
}

/* The 1.0 plugins load beside the 1.1 one, and only the 1.1 one takes
 * the description. */
Test(abi, every_source_opens)
{
    struct dsb_broker *b = T.gen->broker;

    for (size_t i = 0; i < 3; i++)
        cr_assert_eq(dsb_broker_source(b, sources[i])->state, DSB_SOURCE_OPEN,
                     "%s", sources[i]);
    cr_assert(dsb_source_takes_described(dsb_broker_source(b, "new")));
    cr_assert_not(dsb_source_takes_described(dsb_broker_source(b, "old")));
    cr_assert_not(dsb_source_takes_described(dsb_broker_source(b, "for10")));
}

/* Listing, selecting (one describe) and building the context: the 1.1
 * plugin is not asked to describe again, the 1.0 ones describe inside
 * read_spec, and the contexts agree. */
Test(abi, a_context_after_selecting_describes_once)
{
    json_t *cx[3];

    for (size_t i = 0; i < 3; i++)
        cx[i] = list_select_context(sources[i]);
    cr_assert_eq(counter("new", "describes"), 1);
    cr_assert_eq(counter("old", "describes"), 2);
    cr_assert_eq(counter("for10", "describes"), 2);
    for (size_t i = 1; i < 3; i++) {
        cr_assert(json_equal(json_object_get(cx[0], "read"),
                             json_object_get(cx[i], "read")),
                  "%s", sources[i]);
        cr_assert(json_equal(json_object_get(cx[0], "columns"),
                             json_object_get(cx[i], "columns")),
                  "%s", sources[i]);
    }
    cr_assert_str_eq(json_string_value(json_object_get(
                         json_object_get(cx[1], "read"), "format")),
                     "csv");
    for (size_t i = 0; i < 3; i++)
        json_decref(cx[i]);
}

/* The read spec of a 1.1 plugin given a description is the one its 1.0
 * read_spec gives; a 1.0 plugin handed one ignores it. */
Test(abi, both_paths_give_the_same_read_spec)
{
    struct dsb_read_target t = {"local", "local-spark", DSB_EXEC_LOCAL_FILES};
    struct dsb_broker *b = T.gen->broker;
    json_t *desc, *a, *c;

    for (size_t i = 0; i < 3; i++) {
        struct dsb_source *s = dsb_broker_source(b, sources[i]);
        cr_assert_eq(dsb_source_describe_table(s, "sales", "public", "orders",
                                               &desc, &err),
                     0);
        cr_assert_eq(
            dsb_source_read_spec(s, "sales", "public", "orders", &t, &a, &err),
            0, "%s", err.message);
        cr_assert_eq(dsb_source_read_spec_described(
                         s, "sales", "public", "orders", desc, &t, &c, &err),
                     0, "%s", err.message);
        cr_assert(json_equal(a, c), "%s", sources[i]);
        json_decref(desc);
        json_decref(a);
        json_decref(c);
    }
    cr_assert_eq(counter("new", "describes"), 2);
    cr_assert_eq(counter("old", "describes"), 3);
}

/* A description handed over is borrowed: the cached one stays as it was
 * and is what the plugin got (the fixture refuses another table's). */
Test(abi, the_description_given_is_the_cached_one)
{
    struct dsb_selection sel = {"new", "sales", "public", "orders"};
    struct dsb_read_target t = {"local", "local-spark", DSB_EXEC_LOCAL_FILES};
    struct dsb_source *s = dsb_broker_source(T.gen->broker, "new");
    json_t *before = dsb_svc_described(&T.ctx, &sel, &err), *spec = NULL;
    json_t *after;
    int64_t until = INT64_MAX;

    cr_assert_not_null(before, "%s", err.message);
    cr_assert_eq(dsb_svc_read_spec(&T.ctx, s, &sel, &t, &until, &spec, &err), 0,
                 "%s", err.message);
    cr_assert_lt(until, INT64_MAX);
    after = dsb_svc_described(&T.ctx, &sel, &err);
    cr_assert(json_equal(before, after));
    cr_assert_eq(counter("new", "describes"), 1);
    json_decref(spec);
    spec = NULL;
    cr_assert_eq(dsb_source_read_spec_described(s, "sales", "public",
                                                "customers", before, &t, &spec,
                                                &err),
                 -1);
    cr_assert(strstr(err.message, "described \"orders\" for a read spec of "
                                  "\"customers\""),
              "%s", err.message);
    json_decref(before);
    json_decref(after);
}
