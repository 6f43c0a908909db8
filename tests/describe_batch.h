/* describe_tables (ABI 1.2) must give, for each name it finds, exactly the
 * answer describe_table gives: the broker caches the items as those. */
#ifndef DSB_TESTS_DESCRIBE_BATCH_H
#define DSB_TESTS_DESCRIBE_BATCH_H

#include <criterion/criterion.h>

#include "broker.h"

/* The names describe_tables found among names[0..n) of db.schema, in the
 * order it gave them, comma-separated (static buffer), each item checked
 * against describe_table. */
static inline const char *t_describe_batch(struct dsb_source *s, const char *db,
                                           const char *schema,
                                           const char *const *names, size_t n)
{
    static char found[4096];
    struct dsb_slot_args a = {.slot = DSB_SLOT_DESCRIBE_TABLES,
                              .database = db,
                              .schema = schema,
                              .tables = names,
                              .n_tables = n};
    struct dsb_error e;
    json_t *out = NULL, *t, *one = NULL;
    size_t i, len = 0;

    cr_assert_eq(dsb_source_call(s, &a, "t", 0, &out, &e), 0, "%s", e.message);
    found[0] = '\0';
    json_array_foreach(json_object_get(out, "items"), i, t)
    {
        const char *name = json_string_value(json_object_get(t, "name"));
        cr_assert_eq(dsb_source_describe_table(s, db, schema, name, &one, &e),
                     0, "%s: %s", name, e.message);
        cr_assert(json_equal(t, one), "%s differs from its describe", name);
        json_decref(one);
        len += (size_t)snprintf(found + len, sizeof(found) - len, "%s%s",
                                i ? "," : "", name);
        cr_assert_lt(len, sizeof(found));
    }
    json_decref(out);
    return found;
}

#endif
