/* Opaque cursors and the response budget of tool results. */
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <openssl/evp.h>

#include "mcp/mcp.h"
#include "util.h"

char *dsb_mcp_b64(const void *p, size_t n)
{
    char *out = malloc(4 * ((n + 2) / 3) + 1);

    if (out)
        EVP_EncodeBlock((unsigned char *)out, p, (int)n);
    return out;
}

char *dsb_mcp_unb64(const char *s, size_t *len)
{
    size_t n = strlen(s);
    unsigned char *out;
    int got;

    if (n == 0 || n % 4 || n > (1u << 20) || !(out = malloc(n / 4 * 3 + 1)))
        return NULL;
    got = EVP_DecodeBlock(out, (const unsigned char *)s, (int)n);
    if (got < 0) {
        free(out);
        return NULL;
    }
    /* EVP_DecodeBlock counts the padding's zero bytes */
    for (const char *e = s + n - 1; e > s && *e == '='; e--)
        got--;
    out[got] = '\0';
    *len = (size_t)got;
    return (char *)out;
}

char *dsb_mcp_cursor_make(const json_t *state)
{
    char *s = json_dumps(state, JSON_COMPACT | JSON_SORT_KEYS), *c;

    if (!s)
        return NULL;
    c = dsb_mcp_b64(s, strlen(s));
    free(s);
    return c;
}

json_t *dsb_mcp_cursor_read(const char *cursor)
{
    size_t n = 0;
    char *s = cursor ? dsb_mcp_unb64(cursor, &n) : NULL;
    json_t *j = s ? json_loadb(s, n, JSON_REJECT_DUPLICATES, NULL) : NULL;

    free(s);
    if (j && !json_is_object(j)) {
        json_decref(j);
        j = NULL;
    }
    return j;
}

/* The size of the answer: the structured content and its text copy (a
 * JSON string of the same JSON: quotes and backslashes escaped). */
static size_t answer_size(const json_t *out)
{
    char *s = json_dumps(out, JSON_COMPACT);
    size_t n = 0;

    if (!s)
        return (size_t)-1;
    for (const char *p = s; *p; p++)
        n += *p == '"' || *p == '\\' ? 3 : 2;
    free(s);
    return n;
}

/* out[list] = all[offset, offset + k). */
static void take(json_t *out, const char *list, const json_t *all,
                 size_t offset, size_t k)
{
    json_t *page = json_array();

    for (size_t i = offset; i < offset + k && i < json_array_size(all); i++)
        json_array_append(page, json_array_get(all, i));
    json_object_set_new(out, list, page);
}

int dsb_mcp_budget_list(json_t *out, const char *list, size_t offset,
                        const json_t *state, size_t max)
{
    json_t *all = json_incref(json_object_get(out, list)), *st;
    size_t n = json_array_size(all), lo = 0, hi, rest;
    char *cur;

    offset = offset < n ? offset : n;
    hi = n - offset;
    json_object_set_new(out, "truncated", json_false());
    take(out, list, all, offset, hi);
    if (answer_size(out) <= max) {
        json_decref(all);
        return 0;
    }
    json_object_set_new(out, "truncated", json_true());
    json_object_set_new(out, "next_cursor",
                        json_string("xxxxxxxxxxxxxxxxxxxx"
                                    "xxxxxxxxxxxxxxxxxxxx"
                                    "xxxxxxxxxxxxxxxxxxxx"));
    while (lo < hi) { /* the most items that fit */
        size_t mid = (lo + hi + 1) / 2;
        take(out, list, all, offset, mid);
        if (answer_size(out) <= max)
            lo = mid;
        else
            hi = mid - 1;
    }
    take(out, list, all, offset, lo);
    rest = offset + lo;
    st = state ? json_deep_copy(state) : json_object();
    json_object_set_new(st, "o", json_integer((json_int_t)rest));
    cur = dsb_mcp_cursor_make(st);
    json_decref(st);
    json_object_set_new(out, "next_cursor",
                        cur ? json_string(cur) : json_null());
    free(cur);
    json_decref(all);
    return lo ? 0 : -1;
}

/* n bytes of s from its start, fewer to end on a UTF-8 boundary. */
static size_t utf8_cut(const char *s, size_t n)
{
    while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
        n--;
    return n;
}

static void set_text(json_t *out, const char *text, const char *s, size_t n)
{
    json_object_set_new(out, text, json_stringn(s, n));
}

int dsb_mcp_budget_text(json_t *out, const char *text, size_t offset,
                        size_t max)
{
    const char *s = text ? json_string_value(json_object_get(out, text)) : NULL;
    char *all, *cur;
    size_t len, n;
    json_t *st;

    if (!text || !s) {
        json_object_set_new(out, "truncated", json_false());
        if (answer_size(out) <= max)
            return 0;
        json_object_del(out, "truncated");
        return -1;
    }
    len = strlen(s);
    offset = utf8_cut(s, offset < len ? offset : len);
    if (!(all = strdup(s)))
        return -1;
    n = len - offset;
    json_object_set_new(out, "truncated", json_false());
    set_text(out, text, all + offset, n);
    if (answer_size(out) > max) {
        json_object_set_new(out, "truncated", json_true());
        json_object_set_new(out, "next_cursor",
                            json_string("xxxxxxxxxxxxxxxx"));
        do {
            n = utf8_cut(all + offset, n * 3 / 4);
            set_text(out, text, all + offset, n);
        } while (n > 0 && answer_size(out) > max);
        st = json_pack("{s:I}", "o", (json_int_t)(offset + n));
        cur = dsb_mcp_cursor_make(st);
        json_object_set_new(out, "next_cursor", json_string(cur));
        free(cur);
        json_decref(st);
    }
    free(all);
    return 0;
}

int dsb_mcp_budget_tail(json_t *out, size_t max)
{
    json_object_set_new(out, "truncated", json_false());
    while (answer_size(out) > max) {
        const char *o = json_string_value(json_object_get(out, "stdout"));
        const char *e = json_string_value(json_object_get(out, "stderr"));
        const char *k =
            strlen(o ? o : "") > strlen(e ? e : "") ? "stdout" : "stderr";
        const char *s = json_string_value(json_object_get(out, k));
        size_t len = s ? strlen(s) : 0, cut = len / 4 + 1;
        if (!len)
            break;
        while (cut < len && ((unsigned char)s[cut] & 0xc0) == 0x80)
            cut++;
        json_object_set_new(out, k, json_string(s + (cut < len ? cut : len)));
        json_object_set_new(out, "truncated", json_true());
        json_object_set_new(out, "hint",
                            json_string("the log tail is larger than "
                                        "mcp.max_result_bytes: its beginning "
                                        "is cut; ask for fewer lines"));
    }
    return 0;
}

/* uri?cursor=C for the cursor out carries (percent-encoded), or NULL. */
static char *next_uri(const json_t *out, const char *uri)
{
    const char *cur = json_string_value(json_object_get(out, "next_cursor"));
    char *esc = cur ? curl_easy_escape(NULL, cur, 0) : NULL;
    char *s = esc ? dsb_asprintf("%s?cursor=%s", uri, esc) : NULL;

    curl_free(esc);
    return s;
}

int dsb_mcp_budget_marked(json_t *out, const char *text, size_t offset,
                          size_t max, const char *uri, const char *hint,
                          char **next)
{
    size_t room = 3 * (strlen(uri ? uri : hint) + 128);
    int cut;
    char *s = NULL;

    *next = NULL;
    /* one copy of the text, not two as in a tool's answer: twice the
     * budget as answer_size counts */
    max = max > 2 * room ? max - room : max / 2;
    if (dsb_mcp_budget_text(out, text, offset, 2 * max) < 0)
        return -1;
    cut = json_is_true(json_object_get(out, "truncated"));
    if (cut && uri && !(*next = next_uri(out, uri)))
        return -1;
    json_object_del(out, "truncated");
    json_object_del(out, "next_cursor");
    if (!cut)
        return 0;
    s = dsb_asprintf("%s\n\n[truncated at mcp.max_result_bytes: %s%s%s]\n",
                     json_string_value(json_object_get(out, text)),
                     uri ? "read " : "", uri ? *next : hint,
                     uri ? " for the rest" : "");
    if (!s)
        return -1;
    json_object_set_new(out, text, json_string(s));
    free(s);
    return 0;
}

size_t dsb_mcp_budget_of(const struct dsb_mcp_call *c)
{
    size_t max = c->st->mcp_max_result_bytes;

    return max > 1024 ? max - 1024 : 1024;
}
