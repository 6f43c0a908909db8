/* Tool arguments checked against the tool's own input schema
 * (tools.json): the JSON Schema keywords that file uses — type,
 * properties, required, additionalProperties: false, items, enum,
 * minLength, minItems, minimum, maximum. */
#include <stdio.h>
#include <string.h>

#include "mcp/schema.h"

static int fail(char *why, size_t cap, const char *at, const char *what)
{
    snprintf(why, cap, "%s: %s", at, what);
    return -1;
}

static int type_ok(const json_t *v, const char *t)
{
    if (strcmp(t, "object") == 0)
        return json_is_object(v);
    if (strcmp(t, "array") == 0)
        return json_is_array(v);
    if (strcmp(t, "string") == 0)
        return json_is_string(v);
    if (strcmp(t, "boolean") == 0)
        return json_is_boolean(v);
    if (strcmp(t, "integer") == 0)
        return json_is_integer(v) ||
               (json_is_real(v) &&
                json_real_value(v) == (double)(long long)json_real_value(v));
    if (strcmp(t, "null") == 0)
        return json_is_null(v);
    return 1;
}

static int bounds_ok(const json_t *s, const json_t *v, const char *at,
                     char *why, size_t cap)
{
    const json_t *e = json_object_get(s, "enum"), *x;
    size_t i, n = 0;
    char msg[96];
    int in = !e;

    json_array_foreach(e, i, x) in |= json_equal((json_t *)x, (json_t *)v);
    if (!in)
        return fail(why, cap, at, "not one of the allowed values");
    if (json_is_number(v) && json_object_get(s, "minimum") &&
        json_number_value(v) < json_number_value(json_object_get(s, "minimum")))
        return fail(why, cap, at, "below the minimum");
    if (json_is_number(v) && json_object_get(s, "maximum") &&
        json_number_value(v) > json_number_value(json_object_get(s, "maximum")))
        return fail(why, cap, at, "above the maximum");
    n = json_is_string(v)  ? strlen(json_string_value(v))
        : json_is_array(v) ? json_array_size(v)
                           : 0;
    x = json_object_get(s, json_is_string(v) ? "minLength" : "minItems");
    if ((json_is_string(v) || json_is_array(v)) && x &&
        (json_int_t)n < json_integer_value(x)) {
        snprintf(msg, sizeof(msg), "shorter than %lld",
                 (long long)json_integer_value(x));
        return fail(why, cap, at, msg);
    }
    return 0;
}

static int check(const json_t *s, const json_t *v, const char *at, char *why,
                 size_t cap);

static int check_object(const json_t *s, const json_t *v, const char *at,
                        char *why, size_t cap)
{
    const json_t *props = json_object_get(s, "properties"), *x;
    const char *k;
    char sub[256];
    size_t i;

    json_array_foreach(json_object_get(s, "required"), i, x)
    {
        if (json_object_get(v, json_string_value(x)))
            continue;
        snprintf(sub, sizeof(sub), "missing required \"%s\"",
                 json_string_value(x));
        return fail(why, cap, at, sub);
    }
    json_object_foreach((json_t *)v, k, x)
    {
        const json_t *ps = json_object_get(props, k);
        snprintf(sub, sizeof(sub), "%s.%.64s", at, k);
        if (!ps && json_is_false(json_object_get(s, "additionalProperties")))
            return fail(why, cap, sub, "unknown argument");
        if (ps && check(ps, x, sub, why, cap) < 0)
            return -1;
    }
    return 0;
}

static int check(const json_t *s, const json_t *v, const char *at, char *why,
                 size_t cap)
{
    const json_t *t = json_object_get(s, "type"), *x;
    char sub[256], msg[96];
    int ok = !t;
    size_t i;

    if (json_is_string(t))
        ok = type_ok(v, json_string_value(t));
    json_array_foreach(t, i, x) ok |= type_ok(v, json_string_value(x));
    if (!ok) {
        snprintf(msg, sizeof(msg), "must be of type %s",
                 json_is_string(t) ? json_string_value(t) : "as listed");
        return fail(why, cap, at, msg);
    }
    if (bounds_ok(s, v, at, why, cap) < 0)
        return -1;
    if (json_is_object(v))
        return check_object(s, v, at, why, cap);
    json_array_foreach(json_is_array(v) ? v : NULL, i, x)
    {
        snprintf(sub, sizeof(sub), "%s[%zu]", at, i);
        if (json_object_get(s, "items") &&
            check(json_object_get(s, "items"), x, sub, why, cap) < 0)
            return -1;
    }
    return 0;
}

int dsb_mcp_schema_check(const json_t *schema, const json_t *value, char *why,
                         size_t cap)
{
    return check(schema, value, "arguments", why, cap);
}
