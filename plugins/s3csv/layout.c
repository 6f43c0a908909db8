/* Roots, schemas and tables from object listings (see docs/sources/s3csv.md):
 *   root (s3://bucket/prefix/ or file:///dir/)  -> a database
 *   first-level folder                          -> a schema ("default" holds
 *                                                  the files of the root)
 *   NAME.csv / NAME.csv.gz in a schema          -> table NAME (kind "file")
 *   folder NAME/ of .csv/.csv.gz parts          -> table NAME (kind "folder")
 */
#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "s3csv.h"

#define LAYOUT_DEFAULT_SCHEMA "default"

int s3csv_is_csv(const char *name)
{
    size_t n = strlen(name);

    return (n > 4 && !strcasecmp(name + n - 4, ".csv")) ||
           (n > 7 && !strcasecmp(name + n - 7, ".csv.gz"));
}

/* ------------------------------------------------------------ roots */

static int layout_bucket_ok(const char *b, size_t n)
{
    if (n < 3 || n > 63)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!islower((unsigned char)b[i]) && !isdigit((unsigned char)b[i]) &&
            b[i] != '-' && b[i] != '.')
            return 0;
    return 1;
}

/* s3://bucket[/prefix[/]]: name "bucket" or "bucket_pre_fix". */
static int layout_s3_root(struct s3csv_root *r, const char *uri, char *name,
                          size_t nn)
{
    const char *b = uri + 5, *slash = strchr(b, '/');
    size_t bn = slash ? (size_t)(slash - b) : strlen(b), pn;
    const char *pre = slash ? slash + 1 : "";

    if (!layout_bucket_ok(b, bn) || strstr(pre, "//") || strstr(pre, ".."))
        return -1;
    pn = strlen(pre);
    r->is_s3 = 1;
    r->bucket = strndup(b, bn);
    r->prefix = malloc(pn + 2);
    if (!r->bucket || !r->prefix)
        return -2;
    snprintf(r->prefix, pn + 2, "%s%s", pre,
             pn && pre[pn - 1] != '/' ? "/" : "");
    snprintf(name, nn, "%s%s%s", r->bucket, pn ? "_" : "", r->prefix);
    for (char *p = name; *p; p++)
        if (*p == '/')
            *p = '_';
    if (pn && name[strlen(name) - 1] == '_')
        name[strlen(name) - 1] = '\0';
    return 0;
}

/* file:///abs/dir or file:rel/dir (relative to conf.d): name = basename. */
static int layout_local_root(struct s3csv_root *r, const char *uri,
                             const char *confdir, char *name, size_t nn)
{
    char path[PATH_MAX];
    const char *p = uri + 5, *base;
    size_t n;

    if (!strncmp(p, "//", 2) && p[2] != '/')
        return -1; /* file://host/... */
    if (!strncmp(p, "//", 2))
        p += 2;
    if (*p == '/')
        snprintf(path, sizeof(path), "%s", p);
    else
        snprintf(path, sizeof(path), "%s/%s", confdir ? confdir : ".", p);
    while ((n = strlen(path)) > 1 && path[n - 1] == '/')
        path[n - 1] = '\0';
    if (!*p || !strcmp(path, "/"))
        return -1;
    base = strrchr(path, '/');
    if ((size_t)snprintf(name, nn, "%s", base ? base + 1 : path) >= nn)
        return -1; /* a folder name longer than a database name may be */
    return (r->dir = strdup(path)) ? 0 : -2;
}

static int layout_name_taken(const struct s3csv_inst *in, const char *name)
{
    for (size_t i = 0; i < in->n_roots; i++)
        if (!strcasecmp(in->roots[i].name, name))
            return 1;
    return 0;
}

/* Parses one root into in->roots[in->n_roots]. */
static int layout_root(struct s3csv_inst *in, const char *uri,
                       struct dsb_error *err)
{
    struct s3csv_root *r = &in->roots[in->n_roots];
    char name[1100], uniq[1200];
    int rc = -1, k = 2;

    if (!strncmp(uri, "s3://", 5))
        rc = layout_s3_root(r, uri, name, sizeof(name));
    else if (!strncmp(uri, "file:", 5))
        rc = layout_local_root(r, uri, in->info ? in->info->config_dir : NULL,
                               name, sizeof(name));
    in->n_roots++; /* so s3csv_roots_free releases it */
    if (rc == -2)
        return dsb_error_set(err, DSB_E_INTERNAL, "out of memory");
    if (rc < 0) {
        dsb_error_set(err, DSB_E_CONFIG, "invalid root \"%s\"", uri);
        dsb_error_hint(err, "use s3://bucket/prefix/ with a valid bucket "
                            "name, file:///absolute/dir/ or file:dir/ "
                            "relative to conf.d");
        return -1;
    }
    snprintf(uniq, sizeof(uniq), "%s", name);
    in->n_roots--;
    while (layout_name_taken(in, uniq))
        snprintf(uniq, sizeof(uniq), "%s_%d", name, k++);
    in->n_roots++;
    r->name = strdup(uniq);
    r->uri = strdup(uri);
    return r->name && r->uri
               ? 0
               : dsb_error_set(err, DSB_E_INTERNAL, "out of memory");
}

int s3csv_roots_parse(struct s3csv_inst *in, const json_t *roots,
                      struct dsb_error *err)
{
    size_t i, n = json_array_size(roots);
    const json_t *v;

    if (n == 0)
        return dsb_error_set(err, DSB_E_CONFIG, "roots is empty");
    in->roots = calloc(n, sizeof(*in->roots));
    if (!in->roots)
        return dsb_error_set(err, DSB_E_INTERNAL, "out of memory");
    json_array_foreach(roots, i, v) if (layout_root(in, json_string_value(v),
                                                    err) < 0) return -1;
    return 0;
}

void s3csv_roots_free(struct s3csv_inst *in)
{
    for (size_t i = 0; i < in->n_roots; i++) {
        struct s3csv_root *r = &in->roots[i];
        free(r->name), free(r->uri), free(r->bucket), free(r->prefix);
        free(r->dir);
    }
    free(in->roots);
    in->roots = NULL;
    in->n_roots = 0;
}

const struct s3csv_root *s3csv_root_find(const struct s3csv_inst *in,
                                         const char *db, struct dsb_error *err)
{
    for (size_t i = 0; db && i < in->n_roots; i++)
        if (!strcmp(in->roots[i].name, db))
            return &in->roots[i];
    dsb_error_set(err, DSB_E_NOT_FOUND, "database \"%s\" does not exist",
                  db ? db : "");
    dsb_error_hint(err, "list the databases of this source: each root is one");
    return NULL;
}

/* ---------------------------------------------------------- schemas */

static int layout_has_csv(const struct s3csv_listing *l)
{
    for (size_t i = 0; i < l->n_objs; i++)
        if (s3csv_is_csv(l->objs[i].key))
            return 1;
    return 0;
}

static int layout_has_dir(const struct s3csv_listing *l, const char *name)
{
    for (size_t i = 0; i < l->n_dirs; i++)
        if (!strcmp(l->dirs[i], name))
            return 1;
    return 0;
}

int s3csv_schemas(const struct s3csv_inst *in, const struct s3csv_root *root,
                  json_t **names, struct dsb_error *err)
{
    struct s3csv_listing l;
    int dflt;

    if (s3csv_list(in, root, "", 0, &l, err) < 0)
        return -1;
    *names = json_array();
    dflt = layout_has_csv(&l) && !layout_has_dir(&l, LAYOUT_DEFAULT_SCHEMA);
    for (size_t i = 0, done = !dflt; i < l.n_dirs || !done;) {
        if (!done &&
            (i == l.n_dirs || strcmp(LAYOUT_DEFAULT_SCHEMA, l.dirs[i]) < 0)) {
            json_array_append_new(*names, json_string(LAYOUT_DEFAULT_SCHEMA));
            done = 1;
        } else {
            json_array_append_new(*names, json_string(l.dirs[i++]));
        }
    }
    s3csv_listing_free(&l);
    return 0;
}

/* ----------------------------------------------------------- tables */

static void layout_table_free(struct s3csv_table *t)
{
    free(t->name);
    free(t->key);
    free(t->renamed_from);
}

void s3csv_tables_free(struct s3csv_tables *t)
{
    for (size_t i = 0; i < t->n; i++)
        layout_table_free(&t->v[i]);
    free(t->v);
    s3csv_listing_free(&t->listing);
    memset(t, 0, sizeof(*t));
}

/* NAME.csv[.gz] -> NAME (malloc'd). */
static char *layout_strip_ext(const char *file)
{
    size_t n = strlen(file);

    n -= (n > 7 && !strcasecmp(file + n - 7, ".csv.gz")) ? 7 : 4;
    return strndup(file, n);
}

static void layout_count_part(struct s3csv_table *t, const struct s3csv_obj *o)
{
    size_t n = strlen(o->key);

    t->n_parts++;
    /* sizes come from the endpoint: never negative, the sum saturates */
    if (o->size > 0)
        t->size = o->size > INT64_MAX - t->size ? INT64_MAX : t->size + o->size;
    if (n > 3 && !strcasecmp(o->key + n - 3, ".gz"))
        t->gz = 1;
    else
        t->plain = 1;
}

/*
 * Adds the table that starts at objs[i] (keys relative to the root, `skip`
 * bytes of schema folder before the table's own path); returns how many
 * objects it covers.  A folder without parts adds no table.
 */
static size_t layout_take(struct s3csv_tables *ts, size_t i, size_t skip)
{
    struct s3csv_obj *o = ts->listing.objs;
    const char *rel = o[i].key + skip, *slash = strchr(rel, '/');
    struct s3csv_table *t = &ts->v[ts->n];
    size_t j = i, fl;

    memset(t, 0, sizeof(*t));
    if (!slash) {
        if (!s3csv_is_csv(rel) || !(t->name = layout_strip_ext(rel)))
            return 1;
        t->key = strdup(o[i].key);
        t->parts = &o[i];
        t->n_range = 1;
        layout_count_part(t, &o[i]);
        if (t->key)
            ts->n++;
        else
            layout_table_free(t);
        return 1;
    }
    fl = (size_t)(slash - rel) + 1; /* "name/" */
    t->parts = &o[i];
    for (; j < ts->listing.n_objs && strlen(o[j].key) >= skip + fl &&
           !strncmp(o[j].key + skip, rel, fl);
         j++)
        if (!strchr(o[j].key + skip + fl, '/') && s3csv_is_csv(o[j].key))
            layout_count_part(t, &o[j]);
        else
            t->ignored++;
    t->folder = 1;
    t->n_range = j - i;
    if (t->n_parts && (t->name = strndup(rel, fl - 1)) &&
        (t->key = strndup(o[i].key, skip + fl)))
        ts->n++;
    else
        layout_table_free(t);
    return j - i;
}

static int layout_cmp_table(const void *a, const void *b)
{
    const struct s3csv_table *x = a, *y = b;
    int c = strcmp(x->name, y->name);

    return c ? c : strcmp(x->key, y->key);
}

/* Names unique case-insensitively: a later "Sales" becomes "Sales_2". */
static int layout_uniq(struct s3csv_tables *ts)
{
    char buf[1200];

    for (size_t i = 1; i < ts->n; i++) {
        int k = 2, clash = 0;
        for (size_t j = 0; j < i && !clash; j++)
            clash = !strcasecmp(ts->v[j].name, ts->v[i].name);
        if (!clash)
            continue;
        for (clash = 1; clash; k++) {
            snprintf(buf, sizeof(buf), "%s_%d", ts->v[i].name, k);
            clash = 0;
            for (size_t j = 0; j < ts->n && !clash; j++)
                clash = !strcasecmp(ts->v[j].name, buf);
        }
        ts->v[i].renamed_from = ts->v[i].name;
        if (!(ts->v[i].name = strdup(buf)))
            return -1;
    }
    qsort(ts->v, ts->n, sizeof(*ts->v), layout_cmp_table);
    return 0;
}

const struct s3csv_obj *s3csv_table_next_part(const struct s3csv_table *t,
                                              size_t *cursor)
{
    size_t kl = strlen(t->key);

    while (*cursor < t->n_range) {
        const struct s3csv_obj *o = &t->parts[(*cursor)++];
        if (!t->folder || (!strchr(o->key + kl, '/') && s3csv_is_csv(o->key)))
            return o;
    }
    return NULL;
}

static int layout_schema_missing(const struct s3csv_root *root,
                                 const char *schema, struct dsb_error *err)
{
    dsb_error_set(err, DSB_E_NOT_FOUND,
                  "schema \"%s\" does not exist in "
                  "database \"%s\"",
                  schema, root->name);
    dsb_error_hint(err,
                   "schemas are the first-level folders of %s; files "
                   "directly under it are in schema \"default\"",
                   root->uri);
    return -1;
}

/* Moves the objects of b to the end of a; -1 on exhaustion. */
static int layout_append(struct s3csv_listing *a, struct s3csv_listing *b)
{
    for (size_t i = 0; i < b->n_objs; i++) {
        if (s3csv_listing_add(a, b->objs[i].key, strlen(b->objs[i].key),
                              b->objs[i].size) < 0)
            return -1;
    }
    a->pages += b->pages;
    a->n_unlisted += b->n_unlisted;
    s3csv_listing_free(b);
    return 0;
}

/* The objects of schema "default": files of the root and folder default/. */
static int layout_list_default(const struct s3csv_inst *in,
                               const struct s3csv_root *root,
                               struct s3csv_listing *l, struct dsb_error *err)
{
    struct s3csv_listing sub;
    int has_dir;

    if (s3csv_list(in, root, "", 0, l, err) < 0)
        return -1;
    has_dir = layout_has_dir(l, LAYOUT_DEFAULT_SCHEMA);
    if (!has_dir && !layout_has_csv(l))
        return layout_schema_missing(root, LAYOUT_DEFAULT_SCHEMA, err);
    if (!has_dir)
        return 0;
    if (s3csv_list(in, root, LAYOUT_DEFAULT_SCHEMA "/", 1, &sub, err) < 0)
        return -1;
    if (layout_append(l, &sub) < 0) {
        s3csv_listing_free(&sub);
        return dsb_error_set(err, DSB_E_INTERNAL, "out of memory");
    }
    return 0;
}

static int layout_list_schema(const struct s3csv_inst *in,
                              const struct s3csv_root *root, const char *schema,
                              struct s3csv_listing *l, struct dsb_error *err)
{
    char sub[1100];

    if (!*schema || strchr(schema, '/') || schema[0] == '.' ||
        schema[0] == '_' || strlen(schema) > 1000)
        return layout_schema_missing(root, schema, err);
    if (!strcmp(schema, LAYOUT_DEFAULT_SCHEMA))
        return layout_list_default(in, root, l, err);
    snprintf(sub, sizeof(sub), "%s/", schema);
    if (s3csv_list(in, root, sub, 1, l, err) < 0)
        return err->code == DSB_E_NOT_FOUND && !root->is_s3
                   ? layout_schema_missing(root, schema, err)
                   : -1;
    /* S3 has no folders: a schema exists when some key starts with it, be
     * it only a folder marker ("void/"), as a local directory exists empty */
    if (root->is_s3 && l->n_objs == 0 && l->n_unlisted == 0)
        return layout_schema_missing(root, schema, err);
    return 0;
}

/* 1 when key k is in the listing of schema (skip: its length + 1). */
static int layout_in_schema(const char *k, const char *schema, size_t skip,
                            int dflt)
{
    if (dflt && !strchr(k, '/'))
        return 1;
    return strncmp(k, schema, skip - 1) == 0 && k[skip - 1] == '/';
}

/* An endpoint may answer keys outside the prefix asked for: drops them, so
 * every key left is at least "schema/" long. */
static void layout_keep_schema(struct s3csv_listing *l, const char *schema,
                               size_t skip, int dflt)
{
    size_t n = 0;

    for (size_t i = 0; i < l->n_objs; i++)
        if (layout_in_schema(l->objs[i].key, schema, skip, dflt))
            l->objs[n++] = l->objs[i];
        else
            free(l->objs[i].key);
    l->n_objs = n;
}

int s3csv_tables_of(const struct s3csv_inst *in, const struct s3csv_root *root,
                    const char *schema, struct s3csv_tables *out,
                    struct dsb_error *err)
{
    size_t i = 0, skip = strlen(schema) + 1;
    int dflt = !strcmp(schema, LAYOUT_DEFAULT_SCHEMA);

    memset(out, 0, sizeof(*out));
    if (layout_list_schema(in, root, schema, &out->listing, err) < 0)
        goto fail;
    out->v = calloc(out->listing.n_objs + 1, sizeof(*out->v));
    layout_keep_schema(&out->listing, schema, skip, dflt);
    while (out->v && i < out->listing.n_objs) {
        const char *k = out->listing.objs[i].key;
        i += layout_take(out, i, dflt && !strchr(k, '/') ? 0 : skip);
    }
    if (out->v)
        qsort(out->v, out->n, sizeof(*out->v), layout_cmp_table);
    if (!out->v || layout_uniq(out) < 0) {
        dsb_error_set(err, DSB_E_INTERNAL, "out of memory");
        goto fail;
    }
    return 0;
fail:
    s3csv_tables_free(out);
    return -1;
}
