#include "options.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "secrets.h"
#include "util.h"

struct vctx {
    struct dsb_diags *d;
    const char *path; /* dotted key path for messages, e.g. "cache.ttl" */
};

static json_t *convert(const struct dsb_option *opt, const struct dsb_ynode *n,
                       struct vctx *c);
static json_t *validate_map(const struct dsb_ynode *map,
                            const struct dsb_option *table,
                            const char *const *skip, struct vctx *c);

#define VERR(c, n, ...)                                                        \
    dsb_diag_add((c)->d, DSB_SEV_ERROR, (n)->file, (n)->line, (n)->col,        \
                 __VA_ARGS__)

/* ------------------------------------------------------- interpolation */

static int interp_var(const char **pp, struct dsb_sb *out, char *why,
                      size_t why_len)
{
    const char *p = *pp + 2, *name = p, *def = NULL, *end;
    size_t nlen;
    const char *val;
    char var[128];

    while (isalnum((unsigned char)*p) || *p == '_')
        p++;
    nlen = (size_t)(p - name);
    if (nlen == 0 || nlen >= sizeof(var) || isdigit((unsigned char)*name)) {
        snprintf(why, why_len, "bad variable name after \"${\"");
        return -1;
    }
    if (p[0] == ':' && p[1] == '-')
        def = p + 2;
    end = strchr(p, '}');
    if (!end || (!def && end != p)) {
        snprintf(why, why_len,
                 "unterminated or malformed \"${%.*s\": use "
                 "${NAME} or ${NAME:-default}",
                 (int)nlen, name);
        return -1;
    }
    memcpy(var, name, nlen);
    var[nlen] = '\0';
    val = getenv(var);
    if ((!val || !*val) && def) {
        val = NULL;
    } else if (!val) {
        snprintf(why, why_len,
                 "environment variable %s is not set (set it, "
                 "or write ${%s:-default})",
                 var, var);
        return -1;
    }
    dsb_sb_add(out, val ? val : def, val ? strlen(val) : (size_t)(end - def));
    *pp = end + 1;
    return 0;
}

char *dsb_interpolate(const char *in, char *why, size_t why_len)
{
    struct dsb_sb out = {0};
    const char *p = in;
    char *s;

    while (*p) {
        if (p[0] == '$' && p[1] == '{') {
            if (interp_var(&p, &out, why, why_len) < 0)
                goto fail;
            continue;
        }
        if (p[0] == '$' && p[1] == '$')
            p++;
        dsb_sb_addc(&out, *p++);
    }
    if (!(s = dsb_sb_take(&out)))
        snprintf(why, why_len, "out of memory");
    return s;
fail:
    dsb_sb_free(&out);
    return NULL;
}

/* ------------------------------------------------------------ helpers */

const char *dsb_closest(const char *word, const char *const *candidates,
                        size_t n)
{
    size_t best = (size_t)-1, limit = strlen(word) / 3 + 1;
    const char *pick = NULL;

    if (limit < 2)
        limit = 2;
    for (size_t i = 0; i < n; i++) {
        size_t dist = dsb_edit_distance(word, candidates[i], limit + 1);
        if (dist <= limit && dist < best) {
            best = dist;
            pick = candidates[i];
        }
    }
    return pick;
}

static const char *type_name(enum dsb_opt_type t)
{
    static const char *const names[] = {"?",
                                        "a string",
                                        "an integer",
                                        "a number",
                                        "a boolean",
                                        "one of",
                                        "a list of strings",
                                        "a mapping of strings",
                                        "a mapping",
                                        "a list of mappings"};
    return (unsigned)t < sizeof(names) / sizeof(*names) ? names[t] : "?";
}

static const struct dsb_option *find_opt(const struct dsb_option *t,
                                         const char *name)
{
    for (; t && t->name; t++)
        if (strcmp(t->name, name) == 0)
            return t;
    return NULL;
}

static int in_list(const char *const *list, const char *s)
{
    for (; list && *list; list++)
        if (strcmp(*list, s) == 0)
            return 1;
    return 0;
}

/* Interpolated text of a scalar, or NULL with a diagnostic. */
static char *scalar_text(const struct dsb_option *opt,
                         const struct dsb_ynode *n, struct vctx *c)
{
    char why[256] = "";
    char *s;

    if (n->kind != DSB_Y_SCALAR) {
        VERR(c, n, "option \"%s\" must be %s, not %s", c->path,
             type_name(opt->type), dsb_ykind_name(n->kind));
        return NULL;
    }
    if (n->plain && (n->value[0] == '\0' || strcmp(n->value, "~") == 0 ||
                     strcmp(n->value, "null") == 0)) {
        VERR(c, n, "option \"%s\" has no value", c->path);
        return NULL;
    }
    s = dsb_interpolate(n->value, why, sizeof(why));
    if (!s)
        VERR(c, n, "option \"%s\": %s", c->path, why);
    return s;
}

/* ------------------------------------------------------------ scalars */

/* A number as people write it: whole numbers in full (100000000, not
 * %g's 1e+08), others as %g.  The range is checked before the cast: a
 * double outside long long's range (1e300, inf, nan) must not reach it. */
static const char *num_text(double v, char *buf, size_t len)
{
    if (v > -1e15 && v < 1e15 && v == (double)(long long)v)
        snprintf(buf, len, "%lld", (long long)v);
    else
        snprintf(buf, len, "%g", v);
    return buf;
}

static json_t *check_bounds(const struct dsb_option *opt, double v,
                            const struct dsb_ynode *n, struct vctx *c,
                            json_t *out)
{
    char a[32], lo[32], hi[32];

    if ((opt->flags & DSB_OPT_BOUNDED) && (v < opt->min || v > opt->max)) {
        VERR(c, n, "option \"%s\" is %s; it must be between %s and %s", c->path,
             num_text(v, a, sizeof(a)), num_text(opt->min, lo, sizeof(lo)),
             num_text(opt->max, hi, sizeof(hi)));
        json_decref(out);
        return NULL;
    }
    return out;
}

static json_t *conv_int(const struct dsb_option *opt, const char *s,
                        const struct dsb_ynode *n, struct vctx *c)
{
    char *end;
    long long v;

    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno || end == s || *end || isspace((unsigned char)*s)) {
        VERR(c, n, "option \"%s\" must be an integer, got \"%s\"", c->path, s);
        return NULL;
    }
    return check_bounds(opt, (double)v, n, c, json_integer(v));
}

static json_t *conv_double(const struct dsb_option *opt, const char *s,
                           const struct dsb_ynode *n, struct vctx *c)
{
    char *end;
    double v;

    errno = 0;
    v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v) ||
        isspace((unsigned char)*s)) {
        VERR(c, n, "option \"%s\" must be a number, got \"%s\"", c->path, s);
        return NULL;
    }
    return check_bounds(opt, v, n, c, json_real(v));
}

static json_t *conv_bool(const char *s, const struct dsb_ynode *n,
                         struct vctx *c)
{
    static const char *const yes[] = {"true", "yes", "on"};
    static const char *const no[] = {"false", "no", "off"};

    for (int i = 0; i < 3; i++) {
        if (strcasecmp(s, yes[i]) == 0)
            return json_true();
        if (strcasecmp(s, no[i]) == 0)
            return json_false();
    }
    VERR(c, n, "option \"%s\" must be true or false, got \"%s\"", c->path, s);
    return NULL;
}

static json_t *conv_enum(const struct dsb_option *opt, const char *s,
                         const struct dsb_ynode *n, struct vctx *c)
{
    char allowed[512] = "";
    size_t count = 0, used = 0;
    const char *near;

    if (in_list(opt->enum_values, s))
        return json_string(s);
    for (const char *const *e = opt->enum_values; e && *e; e++, count++)
        used += (size_t)snprintf(
            allowed + used, used < sizeof(allowed) ? sizeof(allowed) - used : 0,
            "%s%s", count ? ", " : "", *e);
    near = dsb_closest(s, opt->enum_values, count);
    VERR(c, n, "option \"%s\" must be one of %s; got \"%s\"%s%s%s", c->path,
         allowed, s, near ? " (did you mean \"" : "", near ? near : "",
         near ? "\"?)" : "");
    return NULL;
}

static json_t *conv_string(const struct dsb_option *opt, char *s,
                           const struct dsb_ynode *n, struct vctx *c)
{
    char why[256];

    if ((opt->flags & DSB_OPT_SECRET) &&
        dsb_secret_ref_check(s, why, sizeof(why)) < 0) {
        /* never echo the value: it may be the secret itself */
        VERR(c, n,
             "option \"%s\" is a secret and needs a reference "
             "(env:NAME, file:/path[#key], aws-sm:NAME[#key]), not a value: "
             "%s",
             c->path, why);
        return NULL;
    }
    return json_string(s);
}

static json_t *conv_scalar(const struct dsb_option *opt,
                           const struct dsb_ynode *n, struct vctx *c)
{
    json_t *out = NULL;
    char *s = scalar_text(opt, n, c);

    if (!s)
        return NULL;
    switch (opt->type) {
    case DSB_OPT_INT:
        out = conv_int(opt, s, n, c);
        break;
    case DSB_OPT_DOUBLE:
        out = conv_double(opt, s, n, c);
        break;
    case DSB_OPT_BOOL:
        out = conv_bool(s, n, c);
        break;
    case DSB_OPT_ENUM:
        out = conv_enum(opt, s, n, c);
        break;
    default:
        out = conv_string(opt, s, n, c);
        break;
    }
    free(s);
    return out;
}

/* --------------------------------------------------------- composites */

static json_t *conv_list(const struct dsb_option *opt,
                         const struct dsb_ynode *n, struct vctx *c)
{
    struct dsb_option item = *opt;
    json_t *arr = json_array();

    item.type = DSB_OPT_STRING;
    if (n->kind == DSB_Y_SCALAR) {
        json_t *one = conv_scalar(&item, n, c);
        if (one)
            json_array_append_new(arr, one);
        return arr;
    }
    if (n->kind != DSB_Y_SEQ) {
        VERR(c, n, "option \"%s\" must be a list of strings, not %s", c->path,
             dsb_ykind_name(n->kind));
        json_decref(arr);
        return NULL;
    }
    for (size_t i = 0; i < n->n; i++) {
        json_t *v = conv_scalar(&item, n->items[i], c);
        if (v)
            json_array_append_new(arr, v);
    }
    return arr;
}

static json_t *conv_map(const struct dsb_option *opt, const struct dsb_ynode *n,
                        struct vctx *c)
{
    struct dsb_option item = *opt;
    json_t *obj;

    item.type = DSB_OPT_STRING;
    if (n->kind != DSB_Y_MAP) {
        VERR(c, n,
             "option \"%s\" must be a mapping of names to strings, not "
             "%s",
             c->path, dsb_ykind_name(n->kind));
        return NULL;
    }
    obj = json_object();
    for (size_t i = 0; i < n->n; i++) {
        json_t *v = conv_scalar(&item, n->items[i], c);
        if (v)
            json_object_set_new(obj, n->keys[i]->value, v);
    }
    return obj;
}

static json_t *conv_object_list(const struct dsb_option *opt,
                                const struct dsb_ynode *n, struct vctx *c)
{
    json_t *arr;

    if (n->kind != DSB_Y_SEQ) {
        VERR(c, n, "option \"%s\" must be a list of mappings, not %s", c->path,
             dsb_ykind_name(n->kind));
        return NULL;
    }
    arr = json_array();
    for (size_t i = 0; i < n->n; i++) {
        char sub[256];
        struct vctx ic = {c->d, sub};
        json_t *v;

        snprintf(sub, sizeof(sub), "%s[%zu]", c->path, i);
        v = validate_map(n->items[i], opt->fields, NULL, &ic);
        if (v)
            json_array_append_new(arr, v);
    }
    return arr;
}

static json_t *convert(const struct dsb_option *opt, const struct dsb_ynode *n,
                       struct vctx *c)
{
    switch (opt->type) {
    case DSB_OPT_STRING_LIST:
        return conv_list(opt, n, c);
    case DSB_OPT_STRING_MAP:
        return conv_map(opt, n, c);
    case DSB_OPT_OBJECT:
        return validate_map(n, opt->fields, NULL, c);
    case DSB_OPT_OBJECT_LIST:
        return conv_object_list(opt, n, c);
    default:
        return conv_scalar(opt, n, c);
    }
}

/* ------------------------------------------------------------ mapping */

static void unknown_key(const struct dsb_ynode *key,
                        const struct dsb_option *table, const char *const *skip,
                        struct vctx *c)
{
    const char *names[128];
    size_t n = 0;
    const char *near;

    for (; table && table->name && n < 120; table++)
        names[n++] = table->name;
    for (; skip && *skip && n < 128; skip++)
        names[n++] = *skip;
    near = dsb_closest(key->value, names, n);
    if (near)
        VERR(c, key, "unknown key \"%s\" (did you mean \"%s\"?)", key->value,
             near);
    else
        VERR(c, key, "unknown key \"%s\"", key->value);
}

static void set_path(char *buf, size_t len, const char *parent,
                     const char *name)
{
    if (parent && *parent)
        snprintf(buf, len, "%s.%s", parent, name);
    else
        snprintf(buf, len, "%s", name);
}

static void apply_default(const struct dsb_option *opt,
                          const struct dsb_ynode *map, json_t *out,
                          struct vctx *c)
{
    struct dsb_diags dd;
    struct dsb_ynode *def;
    json_t *v = NULL;

    if (opt->flags & DSB_OPT_REQUIRED) {
        VERR(c, map, "missing required option \"%s\" (%s)", c->path,
             opt->description ? opt->description : type_name(opt->type));
        return;
    }
    if (!opt->default_value) {
        if (opt->type == DSB_OPT_OBJECT) /* sections: defaults inside */
            v = validate_map(NULL, opt->fields, NULL, c);
        if (v)
            json_object_set_new(out, opt->name, v);
        return;
    }
    dsb_diags_init(&dd);
    def = dsb_yaml_parse(opt->default_value, strlen(opt->default_value),
                         "<default>", &dd);
    if (def) {
        struct vctx dc = {&dd, c->path};
        v = convert(opt, def, &dc);
    }
    if (v && dd.errors == 0)
        json_object_set_new(out, opt->name, v);
    else
        json_decref(v);
    dsb_ynode_free(def);
    dsb_diags_free(&dd);
}

static json_t *validate_map(const struct dsb_ynode *map,
                            const struct dsb_option *table,
                            const char *const *skip, struct vctx *c)
{
    json_t *out;
    const char *parent = c->path;
    char path[256];

    if (map && map->kind != DSB_Y_MAP) {
        VERR(c, map, "%s%s%s must be a mapping of keys to values, not %s",
             parent && *parent ? "option \"" : "", parent ? parent : "",
             parent && *parent ? "\"" : "this", dsb_ykind_name(map->kind));
        return NULL;
    }
    out = json_object();
    for (size_t i = 0; map && i < map->n; i++) {
        const struct dsb_ynode *key = map->keys[i];
        const struct dsb_option *opt = find_opt(table, key->value);
        struct vctx kc = {c->d, path};
        json_t *v;

        if (in_list(skip, key->value))
            continue;
        if (!opt) {
            if (!in_list(skip, "*")) /* "*": the caller checks the rest */
                unknown_key(key, table, skip, c);
            continue;
        }
        set_path(path, sizeof(path), parent, key->value);
        v = convert(opt, map->items[i], &kc);
        if (v)
            json_object_set_new(out, opt->name, v);
    }
    for (const struct dsb_option *o = table; o && o->name; o++) {
        struct vctx kc = {c->d, path};
        if (json_object_get(out, o->name) ||
            (map && dsb_ynode_get(map, o->name)))
            continue;
        set_path(path, sizeof(path), parent, o->name);
        if (map)
            apply_default(o, map, out, &kc);
        else if (!(o->flags & DSB_OPT_REQUIRED))
            apply_default(o, NULL, out, &kc);
    }
    return out;
}

json_t *dsb_options_validate(const struct dsb_ynode *map,
                             const struct dsb_option *table,
                             const char *const *skip, struct dsb_diags *d)
{
    struct vctx c = {d, ""};
    return validate_map(map, table, skip, &c);
}

/* ------------------------------------------------------------- schema */

static json_t *schema_of(const struct dsb_option *o);

static json_t *schema_object(const struct dsb_option *table)
{
    json_t *props = json_object(), *req = json_array();

    for (const struct dsb_option *o = table; o && o->name; o++) {
        json_object_set_new(props, o->name, schema_of(o));
        if (o->flags & DSB_OPT_REQUIRED)
            json_array_append_new(req, json_string(o->name));
    }
    return json_pack("{s:s, s:o, s:o, s:b}", "type", "object", "properties",
                     props, "required", req, "additionalProperties", 0);
}

static json_t *schema_scalar(const struct dsb_option *o)
{
    static const char *const types[] = {"",       "string",  "integer",
                                        "number", "boolean", "string"};
    json_t *s = json_pack("{s:s}", "type", types[o->type]);

    if (o->type == DSB_OPT_ENUM) {
        json_t *e = json_array();
        for (const char *const *v = o->enum_values; v && *v; v++)
            json_array_append_new(e, json_string(*v));
        json_object_set_new(s, "enum", e);
    }
    if ((o->flags & DSB_OPT_BOUNDED) && o->type == DSB_OPT_INT) {
        json_object_set_new(s, "minimum", json_integer((json_int_t)o->min));
        json_object_set_new(s, "maximum", json_integer((json_int_t)o->max));
    } else if (o->flags & DSB_OPT_BOUNDED) {
        json_object_set_new(s, "minimum", json_real(o->min));
        json_object_set_new(s, "maximum", json_real(o->max));
    }
    if (o->flags & DSB_OPT_SECRET) {
        json_object_set_new(s, "pattern",
                            json_string("^(env:|file:/|aws-sm:).+"));
        json_object_set_new(s, "x-dsb-secret-reference", json_true());
    }
    return s;
}

static json_t *schema_of(const struct dsb_option *o)
{
    json_t *s;

    switch (o->type) {
    case DSB_OPT_STRING_LIST:
        s = json_pack("{s:s, s:{s:s}}", "type", "array", "items", "type",
                      "string");
        break;
    case DSB_OPT_STRING_MAP:
        s = json_pack("{s:s, s:{s:s}}", "type", "object",
                      "additionalProperties", "type", "string");
        break;
    case DSB_OPT_OBJECT:
        s = schema_object(o->fields);
        break;
    case DSB_OPT_OBJECT_LIST:
        s = json_pack("{s:s, s:o}", "type", "array", "items",
                      schema_object(o->fields));
        break;
    default:
        s = schema_scalar(o);
        break;
    }
    if (o->description)
        json_object_set_new(s, "description", json_string(o->description));
    if (o->default_value)
        json_object_set_new(s, "default", json_string(o->default_value));
    return s;
}

json_t *dsb_options_schema(const struct dsb_option *table)
{
    json_t *s = schema_object(table);
    json_object_set_new(
        s, "$schema",
        json_string("https://json-schema.org/draft/2020-12/schema"));
    return s;
}

/* --------------------------------------------------------- table check */

static const char *table_defect(const struct dsb_option *o)
{
    if (o->type == DSB_OPT_ENUM && (!o->enum_values || !o->enum_values[0]))
        return "is an enum that lists no values";
    if ((o->type == DSB_OPT_OBJECT || o->type == DSB_OPT_OBJECT_LIST) &&
        !o->fields)
        return "is a mapping with no fields";
    if ((o->flags & DSB_OPT_REQUIRED) && o->default_value)
        return "is required and has a default";
    if ((o->flags & DSB_OPT_BOUNDED) && o->min > o->max)
        return "has min > max";
    return NULL;
}

static void check_one(const struct dsb_option *o, const char *owner,
                      struct dsb_diags *d)
{
    const char *defect;

    if (o->type < DSB_OPT_STRING || o->type > DSB_OPT_OBJECT_LIST) {
        dsb_diag_add(d, DSB_SEV_ERROR, owner, 0, 0,
                     "option \"%s\" has an unknown type %d", o->name, o->type);
        return;
    }
    defect = table_defect(o);
    if (defect)
        dsb_diag_add(d, DSB_SEV_ERROR, owner, 0, 0, "option \"%s\" %s", o->name,
                     defect);
    else if (o->fields)
        dsb_options_check_table(o->fields, owner, d);
}

int dsb_options_check_table(const struct dsb_option *table, const char *owner,
                            struct dsb_diags *d)
{
    size_t before = d->errors;
    struct dsb_ynode empty = {.kind = DSB_Y_MAP, .file = owner};
    json_t *defaults;

    for (const struct dsb_option *o = table; o && o->name; o++) {
        if (find_opt(table, o->name) != o)
            dsb_diag_add(d, DSB_SEV_ERROR, owner, 0, 0,
                         "option \"%s\" is declared twice", o->name);
        else
            check_one(o, owner, d);
    }
    if (d->errors == before) {
        struct dsb_diags dd;
        dsb_diags_init(&dd);
        /* every default must convert; required ones are reported missing */
        defaults = dsb_options_validate(&empty, table, NULL, &dd);
        for (size_t i = 0; i < dd.n; i++)
            if (!strstr(dd.items[i].message, "missing required"))
                dsb_diag_add(d, DSB_SEV_ERROR, owner, 0, 0, "bad default: %s",
                             dd.items[i].message);
        json_decref(defaults);
        dsb_diags_free(&dd);
    }
    return d->errors == before ? 0 : -1;
}
