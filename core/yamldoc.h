/* A YAML document as a tree of nodes that remember where they came from. */
#ifndef DSB_CORE_YAMLDOC_H
#define DSB_CORE_YAMLDOC_H

#include <stddef.h>

#include "diag.h"

enum dsb_ykind { DSB_Y_SCALAR, DSB_Y_MAP, DSB_Y_SEQ };

struct dsb_ynode {
    enum dsb_ykind kind;
    int line, col; /* 1-based position of the node's start */
    const char *file;
    char *value;              /* SCALAR: the text */
    int plain;                /* SCALAR: written without quotes */
    size_t n;                 /* MAP: pairs; SEQ: items */
    struct dsb_ynode **keys;  /* MAP: scalar keys */
    struct dsb_ynode **items; /* MAP: values; SEQ: items */
};

/* Parses one YAML document.  Syntax errors, aliases, non-scalar keys and
 * duplicate keys are added to `d` with their position; NULL on a syntax
 * error.  An empty document gives an empty map.  `name` is the file name
 * used in diagnostics (the tree keeps a pointer to its own copy). */
struct dsb_ynode *dsb_yaml_parse(const char *text, size_t len, const char *name,
                                 struct dsb_diags *d);
/* Reads and parses a file; a read error is a diagnostic. */
struct dsb_ynode *dsb_yaml_load(const char *path, struct dsb_diags *d);
void dsb_ynode_free(struct dsb_ynode *n);
/* The value under key in a MAP node, or NULL. */
const struct dsb_ynode *dsb_ynode_get(const struct dsb_ynode *map,
                                      const char *key);
const char *dsb_ykind_name(enum dsb_ykind k);

#endif
