/* The two ways a plugin answers a read spec must agree: read_spec (ABI 1.0,
 * the plugin describes the table itself) and read_spec_described (ABI 1.1,
 * given the describe_table answer the broker holds). */
#ifndef DSB_TESTS_READ_SPEC_PATHS_H
#define DSB_TESTS_READ_SPEC_PATHS_H

#include <stdlib.h>

#include <criterion/criterion.h>

#include "broker.h"

/* The same JSON, or the same error, both ways; a table that cannot be
 * described never reaches read_spec_described (the broker reports the
 * describe's error), so read_spec must fail the same way.  s must have the
 * 1.1 slot. */
static inline void t_same_read_spec(struct dsb_source *s, const char *db,
                                    const char *schema, const char *table,
                                    const struct dsb_read_target *t)
{
    struct dsb_error e0, e1, e2;
    json_t *desc = NULL, *a = NULL, *c = NULL;
    int r1, r2;
    char *da, *dc;

    cr_assert(dsb_source_takes_described(s), "no read_spec_described");
    r1 = dsb_source_read_spec(s, db, schema, table, t, &a, &e1);
    if (dsb_source_describe_table(s, db, schema, table, &desc, &e0) < 0) {
        cr_assert_eq(r1, -1, "%s.%s.%s: read, not described", db, schema,
                     table);
        cr_assert_eq(e1.code, e0.code, "%s: %s", e1.message, e0.message);
        return;
    }
    r2 = dsb_source_read_spec_described(s, db, schema, table, desc, t, &c, &e2);
    cr_assert_eq(r1, r2, "%s.%s.%s: %s / %s", db, schema, table,
                 r1 ? e1.message : "ok", r2 ? e2.message : "ok");
    if (r1 == 0) {
        da = json_dumps(a, JSON_SORT_KEYS);
        dc = json_dumps(c, JSON_SORT_KEYS);
        cr_assert(json_equal(a, c), "%s.%s.%s:\n1.0: %s\n1.1: %s", db, schema,
                  table, da, dc);
        free(da);
        free(dc);
    } else {
        cr_assert_eq(e1.code, e2.code, "%s / %s", e1.message, e2.message);
        cr_assert_str_eq(e1.message, e2.message);
        cr_assert_str_eq(e1.hint, e2.hint);
    }
    json_decref(desc);
    json_decref(a);
    json_decref(c);
}

#endif
