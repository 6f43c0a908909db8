/* core/cache: key encoding, lean answers. */
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

/* A document of n one-item-array members: about 20n bytes serialised. */
static int load_big(void *ctx, json_t **out, struct dsb_error *err)
{
    json_t *items = json_array();

    (void)err;
    for (size_t i = 0; i < *(size_t *)ctx; i++)
        json_array_append_new(items, json_pack("{s:i}", "name", (int)i));
    *out = json_pack("{s:o}", "items", items);
    return 0;
}

static int count_visit(void *ctx, const char *source, const char *key,
                       const json_t *doc)
{
    (void)source;
    (void)key;
    *(size_t *)ctx += json_array_size(json_object_get(doc, "items"));
    return 0;
}

/* A large lean answer keeps its body only; its document is parsed back
 * when asked for, and the walk over the cache still sees it.  A small one,
 * or one not asked lean, keeps its document.  The cache counts the bytes
 * it holds. */
Test(cache, lean_answers_keep_only_their_body)
{
    struct dsb_cache *c = dsb_cache_new(10, 60000, 0);
    size_t big = 40000, small = 10, seen = 0;
    const struct dsb_cached *lb, *ls, *fb;
    struct dsb_cache_stats st;
    json_t *doc;
    int hit;

    lb = dsb_cache_get_lean(c, "s", "big", load_big, &big, &hit);
    ls = dsb_cache_get_lean(c, "s", "small", load_big, &small, &hit);
    fb = dsb_cache_get(c, "s", "full", load_big, &big, &hit);
    cr_assert(lb->len >= DSB_CACHE_LEAN_BYTES && lb->body);
    cr_assert_null(lb->doc);
    cr_assert_not_null(ls->doc);
    cr_assert_not_null(fb->doc);
    doc = dsb_cached_doc(lb);
    cr_assert(json_equal(doc, fb->doc));
    json_decref(doc);
    dsb_cache_foreach(c, NULL, count_visit, &seen);
    cr_assert_eq(seen, 2 * big + small);
    dsb_cache_stats(c, &st);
    cr_assert_eq(st.bytes, lb->len + ls->len + fb->len);
    dsb_cache_flush(c, "s"); /* held entries stay valid, uncounted */
    dsb_cache_stats(c, &st);
    cr_assert_eq(st.bytes, 0);
    cr_assert_not_null(lb->body);
    dsb_cache_release(c, lb);
    dsb_cache_release(c, ls);
    dsb_cache_release(c, fb);
    dsb_cache_free(c);
}
