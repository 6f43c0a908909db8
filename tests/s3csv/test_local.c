/* s3csv on local roots through the broker: layout, names, types, notes,
 * paging, read specs per executor, errors and symlinks. */
#include <sys/stat.h>
#include <unistd.h>

#include "context.h"
#include "s3csv_test.h"

static char *conf;

static void setup(void)
{
    char *comma = s3t_data("test-data/s3csv/comma");
    char *semi = s3t_data("test-data/s3csv/semi");
    char yaml[8192];

    conf = t_tmpdir();
    snprintf(yaml, sizeof(yaml),
             "name: csv\nplugin: s3csv\nnetwork: local\n"
             "roots: [\"file://%s/\"]\n",
             comma);
    t_write(conf, "csv.yaml", yaml);
    snprintf(yaml, sizeof(yaml),
             "name: semi\nplugin: s3csv\nnetwork: local\n"
             "delimiter: \";\"\nroots: [\"file://%s\"]\n",
             semi);
    t_write(conf, "semi.yaml", yaml);
    s3t_start(conf, NULL);
    free(comma);
    free(semi);
}

static void teardown(void)
{
    s3t_stop();
    free(conf);
}

TestSuite(s3csv_local, .init = setup, .fini = teardown);

static const struct dsb_read_target local_t = {"local", "local-spark",
                                               DSB_EXEC_LOCAL_FILES};
static const struct dsb_read_target emr_t = {
    "standard", "emr-serverless", DSB_EXEC_S3_NATIVE | DSB_EXEC_GLUE_CATALOG};

Test(s3csv_local, databases_and_schemas)
{
    struct dsb_list_request r = {0};
    json_t *out;

    cr_assert_eq(
        dsb_source_list_databases(dsb_broker_source(b, "csv"), &r, &out, &err),
        0, "%s", err.message);
    cr_assert_str_eq(s3t_names(out), "comma");
    json_decref(out);
    r.database = "comma";
    cr_assert_eq(
        dsb_source_list_schemas(dsb_broker_source(b, "csv"), &r, &out, &err), 0,
        "%s", err.message);
    cr_assert_str_eq(s3t_names(out), "default,quirks,sales");
    json_decref(out);
    cr_assert_eq(dsb_source_check(dsb_broker_source(b, "csv"), &out, &err), 0,
                 "%s", err.message);
    cr_assert(json_is_true(json_object_get(out, "ok")));
    json_decref(out);
}

Test(s3csv_local, sales_tables_types_and_the_folder_of_parts)
{
    json_t *out = s3t_tables("csv", "comma", "sales");
    const json_t *ev, *orders;
    long long size = 0;
    char line[128];

    cr_assert_str_eq(s3t_names(out), "customers,events,orders");
    orders = s3t_item(out, "orders");
    cr_assert_str_eq(s3t_cols(orders),
                     "order_id:int,customer:string,"
                     "amount:decimal(6,3),placed_on:date,updated_at:timestamp,"
                     "paid:boolean,big:bigint,ratio:double,zip:string");
    cr_assert_str_eq(json_string_value(json_object_get(
                         json_array_get(json_object_get(orders, "columns"), 1),
                         "source_type")),
                     "string");
    cr_assert(json_is_null(json_object_get(orders, "row_estimate")));
    cr_assert_str_eq(s3t_cols(s3t_item(out, "customers")),
                     "id:int,name:string,since:date");
    cr_assert_str_eq(json_string_value(json_object_get(
                         s3t_item(out, "customers"), "compression")),
                     "gzip");
    ev = s3t_item(out, "events");
    cr_assert_str_eq(json_string_value(json_object_get(ev, "kind")), "folder");
    cr_assert_eq(json_integer_value(json_object_get(ev, "parts")), 1500);
    for (int i = 0; i < 1500; i++)
        size += snprintf(line, sizeof(line),
                         "event_id,kind\n%d,click\n"
                         "%d,view\n",
                         2 * i, 2 * i + 1);
    cr_assert_eq(json_integer_value(json_object_get(ev, "size_bytes")), size);
    cr_assert_str_eq(s3t_cols(ev), "event_id:int,kind:string");
    cr_assert(s3t_has_note(json_object_get(ev, "notes"),
                           "1 files in the "
                           "folder are not read"));
    json_decref(out);
}

Test(s3csv_local, quirks_names_and_notes)
{
    json_t *out = s3t_tables("csv", "comma", "quirks");
    const json_t *t;

    cr_assert_str_eq(s3t_names(out), "Dup,bad_parts,bom,crlf,dup_2,dupes,"
                                     "empty,header_only,mixed");
    cr_assert_str_eq(s3t_cols(s3t_item(out, "bom")),
                     "Full Name:string,"
                     "Age (years):int,say \"hi\":string");
    cr_assert_str_eq(s3t_cols(s3t_item(out, "crlf")), "id:int,"
                                                      "comment:string");
    t = s3t_item(out, "empty");
    cr_assert_str_eq(s3t_cols(t), "");
    cr_assert(s3t_has_note(json_object_get(t, "notes"), "the file is empty"));
    t = s3t_item(out, "header_only");
    cr_assert_str_eq(s3t_cols(t), "a:string,b:string,c:string");
    cr_assert(s3t_has_note(json_object_get(t, "notes"), "no data rows"));
    t = s3t_item(out, "dupes");
    cr_assert_str_eq(s3t_cols(t), "id:int,name:string,_c2:string,"
                                  "Name_2:string,name_3:string");
    cr_assert(s3t_has_note(json_object_get(t, "notes"),
                           "column 3 has no "
                           "header name: named _c2"));
    cr_assert(s3t_has_note(json_object_get(t, "notes"),
                           "duplicate column "
                           "name \"name\": column 5 named name_3"));
    t = s3t_item(out, "mixed");
    cr_assert_str_eq(s3t_cols(t),
                     "i_l:bigint,i_dec:decimal(3,2),"
                     "dec_dbl:double,d_ts:timestamp,i_s:string,nulls:string,"
                     "lead0:string,ragged:string");
    cr_assert(s3t_has_note(json_object_get(t, "notes"),
                           "1 of 2 sampled rows "
                           "have a different number of fields"));
    cr_assert(s3t_has_note(json_object_get(s3t_item(out, "dup_2"), "notes"),
                           "named dup_2 because \"dup\" is taken"));
    json_decref(out);
}

Test(s3csv_local, bom_and_crlf_are_noted)
{
    json_t *out = s3t_tables("csv", "comma", "quirks"), *spec;
    const json_t *bom = json_object_get(s3t_item(out, "bom"), "notes");
    const json_t *crlf = json_object_get(s3t_item(out, "crlf"), "notes");
    const json_t *plain = json_object_get(s3t_item(out, "dupes"), "notes");

    cr_assert(s3t_has_note(bom,
                           "the file starts with a UTF-8 byte order "
                           "mark: it is not part of the first column's name"));
    cr_assert(!s3t_has_note(bom, "CRLF"));
    cr_assert(s3t_has_note(crlf, "lines end with CRLF (Windows)"));
    cr_assert(!s3t_has_note(crlf, "byte order mark"));
    cr_assert(!s3t_has_note(plain, "byte order mark") &&
              !s3t_has_note(plain, "lines end with"));
    json_decref(out);
    /* the read spec's notes (the agent's prompt) carry them too */
    cr_assert_eq(dsb_source_read_spec(dsb_broker_source(b, "csv"), "comma",
                                      "quirks", "bom", &local_t, &spec, &err),
                 0, "%s", err.message);
    cr_assert(s3t_has_note(json_object_get(spec, "notes"), "byte order mark"));
    json_decref(spec);
}

Test(s3csv_local, default_schema_and_semicolons)
{
    json_t *out = s3t_tables("csv", "comma", "default");

    cr_assert_str_eq(s3t_names(out), "top");
    cr_assert_str_eq(s3t_cols(s3t_item(out, "top")), "k:string,v:int");
    json_decref(out);
    out = s3t_tables("semi", "semi", "eu");
    cr_assert_str_eq(s3t_names(out), "plain,prices");
    cr_assert_str_eq(s3t_cols(s3t_item(out, "prices")),
                     "product:string,"
                     "price:string,note; with semicolon:string");
    cr_assert_str_eq(s3t_cols(s3t_item(out, "plain")), "x:int,y:int");
    json_decref(out);
}

Test(s3csv_local, an_empty_schema_folder_lists_no_tables)
{
    struct dsb_list_request r = {"semi", NULL, NULL, 0, NULL};
    json_t *out;

    cr_assert_eq(
        dsb_source_list_schemas(dsb_broker_source(b, "semi"), &r, &out, &err),
        0, "%s", err.message);
    cr_assert_str_eq(s3t_names(out), "done,eu,void");
    json_decref(out);
    out = s3t_tables("semi", "semi", "void");
    cr_assert_eq(json_array_size(json_object_get(out, "items")), 0);
    cr_assert(json_is_null(json_object_get(out, "next_page_token")));
    json_decref(out);
    out = s3t_tables("semi", "semi", "done");
    cr_assert_eq(json_array_size(json_object_get(out, "items")), 0);
    json_decref(out);
}

Test(s3csv_local, pages_and_filters)
{
    struct dsb_list_request r = {"comma", "quirks", NULL, 4, NULL};
    struct dsb_source *s = dsb_broker_source(b, "csv");
    json_t *p1, *p2, *p3;

    cr_assert_eq(dsb_source_list_tables(s, &r, &p1, &err), 0, "%s",
                 err.message);
    cr_assert_str_eq(s3t_names(p1), "Dup,bad_parts,bom,crlf");
    r.page_token = json_string_value(json_object_get(p1, "next_page_token"));
    cr_assert_eq(dsb_source_list_tables(s, &r, &p2, &err), 0);
    cr_assert_str_eq(s3t_names(p2), "dup_2,dupes,empty,header_only");
    r.page_token = json_string_value(json_object_get(p2, "next_page_token"));
    cr_assert_eq(dsb_source_list_tables(s, &r, &p3, &err), 0);
    cr_assert_str_eq(s3t_names(p3), "mixed");
    cr_assert(json_is_null(json_object_get(p3, "next_page_token")));
    json_decref(p1), json_decref(p2), json_decref(p3);
    r = (struct dsb_list_request){"comma", "quirks", "DUP", 0, NULL};
    cr_assert_eq(dsb_source_list_tables(s, &r, &p1, &err), 0);
    cr_assert_str_eq(s3t_names(p1), "Dup,dup_2,dupes");
    json_decref(p1);
    r.page_token = "x1";
    cr_assert_eq(dsb_source_list_tables(s, &r, &p1, &err), -1);
    cr_assert_eq(err.code, DSB_E_INVALID);
}

Test(s3csv_local, read_spec_on_the_local_executor)
{
    char *dir = s3t_data("test-data/s3csv/comma"), want[4200];
    json_t *out;
    const json_t *o;

    cr_assert_eq(dsb_source_read_spec(dsb_broker_source(b, "csv"), "comma",
                                      "sales", "orders", &local_t, &out, &err),
                 0, "%s", err.message);
    snprintf(want, sizeof(want), "file://%s/sales/orders.csv", dir);
    cr_assert_str_eq(json_string_value(json_object_get(out, "path")), want);
    cr_assert_str_eq(json_string_value(json_object_get(out, "format")), "csv");
    cr_assert_str_eq(json_string_value(json_object_get(out, "qualified_name")),
                     "comma.sales.orders");
    o = json_object_get(out, "options");
    cr_assert_str_eq(json_string_value(json_object_get(o, "header")), "true");
    cr_assert_str_eq(json_string_value(json_object_get(o, "delimiter")), ",");
    cr_assert_str_eq(json_string_value(json_object_get(o, "escape")), "\"");
    cr_assert_str_eq(json_string_value(json_object_get(o, "encoding")),
                     "UTF-8");
    cr_assert_null(json_object_get(o, "inferSchema"));
    cr_assert_str_eq(json_string_value(json_object_get(out, "schema_ddl")),
                     "`order_id` int, `customer` string, `amount` "
                     "decimal(6,3), `placed_on` date, `updated_at` timestamp, "
                     "`paid` boolean, `big` bigint, `ratio` double, `zip` "
                     "string");
    cr_assert_str_eq(json_string_value(json_object_get(out, "network")),
                     "local");
    json_decref(out);
    free(dir);
}

Test(s3csv_local, read_spec_of_folders_and_multiline)
{
    json_t *out;
    const char *path;

    cr_assert_eq(dsb_source_read_spec(dsb_broker_source(b, "csv"), "comma",
                                      "sales", "events", &local_t, &out, &err),
                 0, "%s", err.message);
    path = json_string_value(json_object_get(out, "path"));
    cr_assert(strstr(path, "/comma/sales/events/") &&
                  path[strlen(path) - 1] == '/',
              "%s", path);
    cr_assert_str_eq(json_string_value(json_object_get(
                         json_object_get(out, "options"), "pathGlobFilter")),
                     "*.{csv,CSV}");
    cr_assert(s3t_has_note(json_object_get(out, "notes"),
                           "headers of 100 of "
                           "1500 parts were compared"));
    json_decref(out);
    cr_assert_eq(dsb_source_read_spec(dsb_broker_source(b, "csv"), "comma",
                                      "quirks", "crlf", &local_t, &out, &err),
                 0, "%s", err.message);
    cr_assert_str_eq(json_string_value(json_object_get(
                         json_object_get(out, "options"), "multiLine")),
                     "true");
    json_decref(out);
}

Test(s3csv_local, unreadable_tables_say_why)
{
    struct dsb_source *s;
    json_t *out;

    s = dsb_broker_source(b, "csv");
    cr_assert_eq(dsb_source_read_spec(s, "comma", "quirks", "bad_parts",
                                      &local_t, &out, &err),
                 -1);
    cr_assert_eq(err.code, DSB_E_CONFLICT);
    cr_assert(strstr(err.message, "do not share one header"), "%s",
              err.message);
    out = s3t_describe("csv", "comma", "quirks", "bad_parts");
    cr_assert(s3t_has_note(json_object_get(out, "notes"), "p2.csv has a "
                                                          "different header"));
    json_decref(out);
    cr_assert_eq(dsb_source_read_spec(s, "comma", "quirks", "empty", &local_t,
                                      &out, &err),
                 -1);
    cr_assert_eq(err.code, DSB_E_INVALID);
    cr_assert_eq(
        dsb_source_read_spec(s, "comma", "sales", "orders", &emr_t, &out, &err),
        -1);
    cr_assert_eq(err.code, DSB_E_UNSUPPORTED);
    cr_assert(strstr(err.message, "executor standard (emr-serverless) cannot "
                                  "read this machine's files"),
              "%s", err.message);
}

Test(s3csv_local, missing_objects_are_not_found)
{
    struct dsb_list_request r = {"nope", NULL, NULL, 0, NULL};
    struct dsb_source *s = dsb_broker_source(b, "csv");
    json_t *out;

    cr_assert_eq(dsb_source_list_schemas(s, &r, &out, &err), -1);
    cr_assert_eq(err.code, DSB_E_NOT_FOUND);
    r = (struct dsb_list_request){"comma", "nope", NULL, 0, NULL};
    cr_assert_eq(dsb_source_list_tables(s, &r, &out, &err), -1);
    cr_assert_eq(err.code, DSB_E_NOT_FOUND);
    cr_assert(strstr(err.message, "schema \"nope\" does not exist"), "%s",
              err.message);
    r.schema = "../sales";
    cr_assert_eq(dsb_source_list_tables(s, &r, &out, &err), -1);
    cr_assert_eq(err.code, DSB_E_NOT_FOUND);
    cr_assert_eq(
        dsb_source_describe_table(s, "comma", "sales", "nope", &out, &err), -1);
    cr_assert_eq(err.code, DSB_E_NOT_FOUND);
}

Test(s3csv_local, symlinks_do_not_leave_the_root)
{
    char *root = t_tmpdir(), *conf2 = t_tmpdir(), p[4300], yaml[4400];
    json_t *out;

    s3t_stop();
    snprintf(p, sizeof(p), "%s/s", root);
    mkdir(p, 0755);
    t_write(root, "s/in.csv", "a\n1\n");
    snprintf(p, sizeof(p), "%s/s/escape", root);
    cr_assert_eq(symlink("/etc", p), 0);
    snprintf(p, sizeof(p), "%s/s/alias.csv", root);
    cr_assert_eq(symlink("in.csv", p), 0);
    snprintf(yaml, sizeof(yaml),
             "name: l\nplugin: s3csv\nroots: "
             "[\"file://%s\"]\n",
             root);
    t_write(conf2, "l.yaml", yaml);
    s3t_start(conf2, NULL);
    out = s3t_tables("l", strrchr(root, '/') + 1, "s");
    cr_assert_str_eq(s3t_names(out), "alias,in");
    json_decref(out);
    free(root);
    free(conf2);
}

/* A symlink named rel in dir pointing at target. */
static void link_at(const char *dir, const char *rel, const char *target)
{
    char p[4300];

    snprintf(p, sizeof(p), "%s/%s", dir, rel);
    unlink(p);
    cr_assert_eq(symlink(target, p), 0, "symlink %s", p);
}

static void mkdir_at(const char *dir, const char *rel)
{
    char p[4300];

    snprintf(p, sizeof(p), "%s/%s", dir, rel);
    cr_assert_eq(mkdir(p, 0755), 0, "mkdir %s", p);
}

/* err is the refusal of something leading outside the root. */
static void assert_outside(const char *what)
{
    cr_assert_eq(err.code, DSB_E_PERMISSION, "%s: %d %s", what, err.code,
                 err.message);
    cr_assert(strstr(err.message, "leads outside the root"), "%s: %s", what,
              err.message);
    cr_assert(strstr(err.hint, "add their directory as a root"), "%s: %s", what,
              err.hint);
}

/* root: in/{t.csv, parts/{p1.csv, p0.csv -> ../t.csv, p2.csv -> OUT},
 * tlink -> OUT, flink.csv -> OUT/secret.csv}, alias -> in, out -> OUT and
 * swap -> in; OUT (outside the root) holds secret.csv and t.csv. */
static void outside_tree(const char *root, const char *out)
{
    char p[4300];

    t_write(out, "secret.csv", "password\nhunter2\n");
    t_write(out, "t.csv", "a\n2\n");
    mkdir_at(root, "in");
    mkdir_at(root, "in/parts");
    t_write(root, "in/t.csv", "a\n1\n");
    t_write(root, "in/parts/p1.csv", "a\n1\n");
    link_at(root, "in/parts/p0.csv", "../t.csv");
    snprintf(p, sizeof(p), "%s/secret.csv", out);
    link_at(root, "in/parts/p2.csv", p);
    link_at(root, "in/flink.csv", p);
    link_at(root, "in/tlink", out);
    link_at(root, "out", out);
    link_at(root, "alias", "in");
    link_at(root, "swap", "in");
}

Test(s3csv_local, symlinks_leaving_the_root_are_refused_at_every_level)
{
    char *root = t_tmpdir(), *out = t_tmpdir(), *conf2 = t_tmpdir();
    char yaml[4400];
    const char *db = strrchr(root, '/') + 1;
    struct dsb_list_request r = {db, NULL, NULL, 0, NULL};
    struct dsb_selection sel = {"l", db, "out", "secret"};
    struct dsb_source *s;
    json_t *o, *desc;

    s3t_stop();
    outside_tree(root, out);
    snprintf(yaml, sizeof(yaml),
             "name: l\nplugin: s3csv\nnetwork: local\n"
             "roots: [\"file://%s\"]\n",
             root);
    t_write(conf2, "l.yaml", yaml);
    s3t_start(conf2, NULL);
    s = dsb_broker_source(b, "l");
    /* listings: only what stays inside, symlinks inside included */
    cr_assert_eq(dsb_source_list_schemas(s, &r, &o, &err), 0, "%s",
                 err.message);
    cr_assert_str_eq(s3t_names(o), "alias,in,swap");
    json_decref(o);
    o = s3t_tables("l", db, "alias");
    cr_assert_str_eq(s3t_names(o), "parts,t");
    cr_assert_eq(
        json_integer_value(json_object_get(s3t_item(o, "parts"), "parts")), 2);
    json_decref(o);
    /* schema level, by name */
    r.schema = "out";
    cr_assert_eq(dsb_source_list_tables(s, &r, &o, &err), -1);
    assert_outside("list tables");
    cr_assert_eq(dsb_source_describe_table(s, db, "out", "secret", &o, &err),
                 -1);
    assert_outside("describe");
    cr_assert_eq(
        dsb_source_read_spec(s, db, "out", "secret", &local_t, &o, &err), -1);
    assert_outside("read spec");
    cr_assert_eq(dsb_context_build(b, &sel, 1, NULL, NULL, &o, &err), -1);
    assert_outside("context");
    /* table and part-file levels: not there */
    cr_assert_eq(dsb_source_describe_table(s, db, "in", "tlink", &o, &err), -1);
    cr_assert_eq(err.code, DSB_E_NOT_FOUND);
    cr_assert_eq(dsb_source_describe_table(s, db, "in", "flink", &o, &err), -1);
    cr_assert_eq(err.code, DSB_E_NOT_FOUND);
    /* a description made while swap/ led inside is not a way out later */
    desc = s3t_describe("l", db, "swap", "t");
    link_at(root, "swap", out);
    cr_assert_eq(dsb_source_read_spec_described(s, db, "swap", "t", desc,
                                                &local_t, &o, &err),
                 -1);
    assert_outside("read spec described");
    json_decref(desc);
    free(root), free(out), free(conf2);
}

Test(s3csv_local, sample_data_through_a_relative_root)
{
    char *top = t_tmpdir(), *src = t_src("scripts/sample-data"), p[4300];
    char conf2[4300];
    json_t *out;

    s3t_stop();
    snprintf(p, sizeof(p), "%s/data", top);
    cr_assert_eq(symlink(src, p), 0);
    snprintf(conf2, sizeof(conf2), "%s/conf.d", top);
    cr_assert_eq(mkdir(conf2, 0755), 0);
    t_write(conf2, "sample.yaml",
            "name: sample\nplugin: s3csv\n"
            "network: local\nroots: [\"file:../data/\"]\n");
    s3t_start(conf2, NULL);
    out = s3t_tables("sample", "data", "retail");
    cr_assert_str_eq(s3t_names(out), "customers,orders");
    cr_assert_str_eq(s3t_cols(s3t_item(out, "customers")),
                     "customer_id:int,"
                     "name:string,email:string,country:string,"
                     "signup_date:date,is_active:boolean");
    cr_assert_str_eq(s3t_cols(s3t_item(out, "orders")),
                     "order_id:int,"
                     "customer_id:int,order_date:date,status:string,"
                     "amount:decimal(6,2),currency:string,"
                     "shipped_at:timestamp");
    json_decref(out);
    free(top);
    free(src);
}

/* Every table of every schema: read_spec and the ABI 1.1 read_spec given
 * the table's description agree, per executor (folders, gzip, CRLF, BOM,
 * mismatched parts and empty files included). */
Test(s3csv_local, both_read_spec_paths_agree)
{
    static const char *const schemas[] = {"default", "quirks", "sales"};
    const struct dsb_read_target *targets[] = {&local_t, &emr_t};
    struct dsb_source *s = dsb_broker_source(b, "csv");
    json_t *t;

    for (size_t i = 0; i < 3; i++) {
        json_t *out = s3t_tables("csv", "comma", schemas[i]);
        const json_t *it;
        size_t k;
        json_array_foreach(json_object_get(out, "items"), k,
                           it) for (size_t j = 0; j < 2; j++)
            t_same_read_spec(s, "comma", schemas[i],
                             json_string_value(json_object_get(it, "name")),
                             targets[j]);
        json_decref(out);
    }
    t_same_read_spec(dsb_broker_source(b, "semi"), "semi", "eu", "prices",
                     &local_t);
    /* what the read spec needs is in the description, not in a listing */
    t = s3t_describe("csv", "comma", "quirks", "bad_parts");
    cr_assert(json_is_true(json_object_get(t, "header_mismatch")));
    cr_assert_str_eq(json_string_value(json_object_get(
                         json_object_get(t, "csv_options"), "delimiter")),
                     ",");
    json_decref(t);
    t = s3t_tables("csv", "comma", "quirks");
    cr_assert_null(json_object_get(s3t_item(t, "bad_parts"), "csv_options"));
    json_decref(t);
}
