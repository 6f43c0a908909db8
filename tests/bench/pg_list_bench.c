/*
 * Benchmark driver (not a test): lists every table, with all columns, of
 * one schema through the real broker and postgres.so, page after page, in
 * a fresh broker per run (cold: no pooled connection, no cache).
 *
 *   pg_list_bench CONF_DIR SOURCE DATABASE SCHEMA [RUNS]
 *     prints "run N: T ms, X tables, Y columns" per run and "median T ms"
 *   pg_list_bench --sql
 *     prints the plugin's tables query (for psql in the same run)
 *   pg_list_bench --page
 *     prints the page size the plugin lists with (PG_MAX_PAGE)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker.h"
#include "util.h"
#include "../../plugins/postgres/pg_sql.h"

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

    return (x > y) - (x < y);
}

/* One cold listing; returns its time in microseconds, -1 on error. */
static int64_t run_once(const char *conf, const char *source, const char *db,
                        const char *schema, size_t *tables, size_t *columns)
{
    struct dsb_broker_opts o = {.conf_dir = conf,
                                .plugin_dir = getenv("DSB_PLUGIN_DIR")};
    struct dsb_diags d;
    struct dsb_broker *b;
    struct dsb_error err;
    char *token = NULL;
    int64_t t0, t = -1;

    dsb_diags_init(&d);
    b = dsb_broker_start(&o, &d);
    if (!b || d.errors) {
        dsb_diags_print(&d, stderr);
        goto fail;
    }
    *tables = *columns = 0;
    t0 = dsb_monotonic_us();
    do {
        struct dsb_list_request r = {db, schema, NULL, 0, token};
        json_t *out = NULL, *x;
        size_t i;
        if (dsb_source_list_tables(dsb_broker_source(b, source), &r, &out,
                                   &err) < 0) {
            fprintf(stderr, "list_tables: %s\n", err.message);
            goto fail;
        }
        json_array_foreach(json_object_get(out, "items"), i, x)
        {
            (*tables)++;
            *columns += json_array_size(json_object_get(x, "columns"));
        }
        free(token);
        x = json_object_get(out, "next_page_token");
        token = json_is_string(x) ? strdup(json_string_value(x)) : NULL;
        json_decref(out);
    } while (token);
    t = dsb_monotonic_us() - t0;
fail:
    free(token);
    dsb_broker_stop(b);
    dsb_diags_free(&d);
    return t;
}

int main(int argc, char **argv)
{
    int64_t times[64];
    int runs;
    size_t tables = 0, columns = 0;

    if (argc == 2 && !strcmp(argv[1], "--sql")) {
        puts(PG_SQL_TABLES);
        return 0;
    }
    if (argc == 2 && !strcmp(argv[1], "--page")) {
        printf("%d\n", PG_MAX_PAGE);
        return 0;
    }
    if (argc < 5) {
        fprintf(stderr, "usage: pg_list_bench CONF_DIR SOURCE DATABASE "
                        "SCHEMA [RUNS] | --sql | --page\n");
        return 2;
    }
    runs = argc > 5 ? atoi(argv[5]) : 5;
    runs = runs < 1 ? 1 : runs > 64 ? 64 : runs;
    for (int i = 0; i < runs; i++) {
        if ((times[i] = run_once(argv[1], argv[2], argv[3], argv[4], &tables,
                                 &columns)) < 0)
            return 1;
        printf("run %d: %.1f ms, %zu tables, %zu columns\n", i + 1,
               (double)times[i] / 1000.0, tables, columns);
    }
    qsort(times, (size_t)runs, sizeof(times[0]), cmp_i64);
    printf("median %.1f ms\n", (double)times[runs / 2] / 1000.0);
    return 0;
}
