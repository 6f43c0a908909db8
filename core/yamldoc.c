#include "yamldoc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "util.h"

#define YAML_MAX_DEPTH 64
#define YAML_MAX_FILE (4u << 20)

struct yparse {
    yaml_parser_t parser;
    const char *file;
    struct dsb_diags *d;
    int failed;
};

static struct dsb_ynode *ynode_new(enum dsb_ykind kind, const yaml_event_t *ev,
                                   const char *file)
{
    struct dsb_ynode *n = calloc(1, sizeof(*n));

    if (!n)
        return NULL;
    n->kind = kind;
    n->line = (int)ev->start_mark.line + 1;
    n->col = (int)ev->start_mark.column + 1;
    n->file = file;
    return n;
}

void dsb_ynode_free(struct dsb_ynode *n)
{
    if (!n)
        return;
    for (size_t i = 0; i < n->n; i++) {
        if (n->keys)
            dsb_ynode_free(n->keys[i]);
        dsb_ynode_free(n->items[i]);
    }
    free(n->keys);
    free(n->items);
    free(n->value);
    free(n);
}

static int ynode_push(struct dsb_ynode *n, struct dsb_ynode *key,
                      struct dsb_ynode *item)
{
    struct dsb_ynode **ni, **nk;

    ni = realloc(n->items, (n->n + 1) * sizeof(*ni));
    if (!ni)
        return -1;
    n->items = ni;
    if (n->kind == DSB_Y_MAP) {
        nk = realloc(n->keys, (n->n + 1) * sizeof(*nk));
        if (!nk)
            return -1;
        n->keys = nk;
        n->keys[n->n] = key;
    }
    n->items[n->n++] = item;
    return 0;
}

static void yerr(struct yparse *p, int line, int col, const char *msg)
{
    dsb_diag_add(p->d, DSB_SEV_ERROR, p->file, line, col, "%s", msg);
    p->failed = 1;
}

static int next_event(struct yparse *p, yaml_event_t *ev)
{
    if (yaml_parser_parse(&p->parser, ev))
        return 0;
    dsb_diag_add(
        p->d, DSB_SEV_ERROR, p->file, (int)p->parser.problem_mark.line + 1,
        (int)p->parser.problem_mark.column + 1, "YAML syntax error: %s%s%s",
        p->parser.problem ? p->parser.problem : "malformed input",
        p->parser.context ? " " : "",
        p->parser.context ? p->parser.context : "");
    p->failed = 1;
    return -1;
}

static struct dsb_ynode *parse_node(struct yparse *p, yaml_event_t *ev,
                                    int depth);

static int check_duplicate(struct yparse *p, const struct dsb_ynode *map,
                           const struct dsb_ynode *key)
{
    for (size_t i = 0; i < map->n; i++) {
        if (strcmp(map->keys[i]->value, key->value) == 0) {
            char first[32];
            snprintf(first, sizeof(first), "%d", map->keys[i]->line);
            dsb_diag_add(p->d, DSB_SEV_ERROR, p->file, key->line, key->col,
                         "duplicate key \"%s\" (first given at line %s)",
                         key->value, first);
            return -1;
        }
    }
    return 0;
}

/* Consumes events up to the end of a mapping or sequence into n. */
static int parse_children(struct yparse *p, struct dsb_ynode *n, int depth)
{
    yaml_event_type_t end =
        n->kind == DSB_Y_MAP ? YAML_MAPPING_END_EVENT : YAML_SEQUENCE_END_EVENT;
    for (;;) {
        yaml_event_t ev;
        struct dsb_ynode *key = NULL, *val;

        if (next_event(p, &ev) < 0)
            return -1;
        if (ev.type == end) {
            yaml_event_delete(&ev);
            return 0;
        }
        if (n->kind == DSB_Y_MAP) {
            key = parse_node(p, &ev, depth + 1);
            yaml_event_delete(&ev);
            if (!key)
                return -1;
            if (key->kind != DSB_Y_SCALAR) {
                yerr(p, key->line, key->col,
                     "mapping keys must be plain names");
                dsb_ynode_free(key);
                return -1;
            }
            if (next_event(p, &ev) < 0) {
                dsb_ynode_free(key);
                return -1;
            }
        }
        val = parse_node(p, &ev, depth + 1);
        yaml_event_delete(&ev);
        if (!val || (key && check_duplicate(p, n, key) < 0) ||
            ynode_push(n, key, val) < 0) {
            p->failed = 1;
            dsb_ynode_free(key);
            dsb_ynode_free(val);
            return -1;
        }
    }
}

static struct dsb_ynode *parse_node(struct yparse *p, yaml_event_t *ev,
                                    int depth)
{
    struct dsb_ynode *n = NULL;
    int line = (int)ev->start_mark.line + 1,
        col = (int)ev->start_mark.column + 1;

    if (depth > YAML_MAX_DEPTH) {
        yerr(p, line, col, "nesting is too deep (more than 64 levels)");
        return NULL;
    }
    switch (ev->type) {
    case YAML_SCALAR_EVENT:
        n = ynode_new(DSB_Y_SCALAR, ev, p->file);
        if (!n || !(n->value = strdup((const char *)ev->data.scalar.value)))
            break;
        n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
        return n;
    case YAML_MAPPING_START_EVENT:
    case YAML_SEQUENCE_START_EVENT:
        n = ynode_new(ev->type == YAML_MAPPING_START_EVENT ? DSB_Y_MAP
                                                           : DSB_Y_SEQ,
                      ev, p->file);
        if (n && parse_children(p, n, depth) == 0)
            return n;
        break;
    case YAML_ALIAS_EVENT:
        yerr(p, line, col, "YAML aliases are not supported: repeat the value");
        break;
    default:
        yerr(p, line, col, "unexpected YAML content");
        break;
    }
    dsb_ynode_free(n);
    return NULL;
}

static struct dsb_ynode *parse_stream(struct yparse *p)
{
    struct dsb_ynode *root = NULL;
    int docs = 0;

    for (;;) {
        yaml_event_t ev;
        if (next_event(p, &ev) < 0)
            goto fail;
        if (ev.type == YAML_STREAM_END_EVENT) {
            yaml_event_delete(&ev);
            break;
        }
        if (ev.type == YAML_DOCUMENT_START_EVENT && ++docs > 1) {
            yerr(p, (int)ev.start_mark.line + 1, (int)ev.start_mark.column + 1,
                 "one YAML document per file: split this file");
            yaml_event_delete(&ev);
            goto fail;
        }
        if (ev.type == YAML_SCALAR_EVENT ||
            ev.type == YAML_MAPPING_START_EVENT ||
            ev.type == YAML_SEQUENCE_START_EVENT ||
            ev.type == YAML_ALIAS_EVENT) {
            root = parse_node(p, &ev, 0);
            if (!root) {
                yaml_event_delete(&ev);
                goto fail;
            }
        }
        yaml_event_delete(&ev);
    }
    return root;
fail:
    dsb_ynode_free(root);
    return NULL;
}

struct dsb_ynode *dsb_yaml_parse(const char *text, size_t len, const char *name,
                                 struct dsb_diags *d)
{
    struct yparse p = {.file = name, .d = d};
    struct dsb_ynode *root;

    if (!yaml_parser_initialize(&p.parser))
        return NULL;
    yaml_parser_set_input_string(&p.parser, (const unsigned char *)text, len);
    root = parse_stream(&p);
    yaml_parser_delete(&p.parser);
    if (p.failed) {
        dsb_ynode_free(root);
        return NULL;
    }
    if (!root) {
        yaml_event_t fake = {0};
        fake.start_mark.line = 0;
        root = ynode_new(DSB_Y_MAP, &fake, name);
    }
    return root;
}

struct dsb_ynode *dsb_yaml_load(const char *path, struct dsb_diags *d)
{
    size_t len;
    char *text = dsb_read_file(path, YAML_MAX_FILE, &len);
    struct dsb_ynode *root;

    if (!text) {
        dsb_diag_add(d, DSB_SEV_ERROR, path, 0, 0, "cannot read: %s",
                     errno == EFBIG ? "file larger than 4 MiB"
                                    : strerror(errno));
        return NULL;
    }
    root = dsb_yaml_parse(text, len, path, d);
    free(text);
    return root;
}

const struct dsb_ynode *dsb_ynode_get(const struct dsb_ynode *map,
                                      const char *key)
{
    if (!map || map->kind != DSB_Y_MAP)
        return NULL;
    for (size_t i = 0; i < map->n; i++)
        if (strcmp(map->keys[i]->value, key) == 0)
            return map->items[i];
    return NULL;
}

const char *dsb_ykind_name(enum dsb_ykind k)
{
    switch (k) {
    case DSB_Y_SCALAR:
        return "a value";
    case DSB_Y_MAP:
        return "a mapping";
    default:
        return "a list";
    }
}
