/* core/cache: key encoding. */
#include <criterion/criterion.h>
#include <stdlib.h>

#include "cache.h"

static char *key_of(const char *const *parts, size_t n)
{
    struct dsb_sb key = {0};

    for (size_t i = 0; i < n; i++)
        dsb_cache_key_add(&key, parts[i]);
    return dsb_sb_take(&key);
}

/* Parts are length-prefixed: no two part lists share a key. */
Test(cache, key_parts_are_length_prefixed)
{
    const char *a[] = {"a|b", "c"}, *b[] = {"a", "b|c"}, *c[] = {NULL, ""};
    char *ka = key_of(a, 2), *kb = key_of(b, 2), *kc = key_of(c, 2);

    cr_assert_str_eq(ka, "3:a|b|1:c|");
    cr_assert_str_eq(kb, "1:a|3:b|c|");
    cr_assert_str_eq(kc, "-|0:|");
    free(ka);
    free(kb);
    free(kc);
}

/* A number is a part of its own, told from a length prefix by its '|';
 * dsb_cache_key_get reads parts back (the search walks keys so). */
Test(cache, numbers_and_parts_read_back)
{
    struct dsb_sb key = {0};
    char *k, *p;

    dsb_cache_key_add(&key, "list_tables");
    dsb_cache_key_add(&key, NULL);
    dsb_cache_key_num(&key, 250);
    dsb_cache_key_add(&key, "a:b|c");
    k = dsb_sb_take(&key);
    cr_assert_str_eq(k, "11:list_tables|-|250|5:a:b|c|");
    cr_assert_str_eq((p = dsb_cache_key_get(k, 0)), "list_tables");
    free(p);
    cr_assert_null(dsb_cache_key_get(k, 1));
    cr_assert_str_eq((p = dsb_cache_key_get(k, 2)), "250");
    free(p);
    cr_assert_str_eq((p = dsb_cache_key_get(k, 3)), "a:b|c");
    free(p);
    cr_assert_null(dsb_cache_key_get(k, 4));
    cr_assert_null(dsb_cache_key_get("x|", 0), "malformed");
    free(k);
}
