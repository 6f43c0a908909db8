/* Internal to the context builder (core/context.c) and its prompt
 * (core/context_prompt.c). */
#ifndef DSB_CORE_CONTEXT_INT_H
#define DSB_CORE_CONTEXT_INT_H

#include <stddef.h>

#include <jansson.h>

#include "context.h"

/* One selected table while its context is built. */
struct dsb_ctx_item {
    const struct dsb_selection *sel;
    struct dsb_source *src;
    json_t *spec; /* read spec (read-only) */
    char var[128];
    char *code; /* the snippet, without the secret helper */
};

/* Sizes of the prompt (broker.yaml context.*); 0: no limit. */
struct dsb_prompt_limits {
    size_t max_prompt_chars;
    size_t max_table_prompt_chars;
};

/*
 * The join paths between the items: a new array of {"from": END, "to":
 * END, "constraint": name} for each foreign key of an item's read spec
 * whose referenced table is also an item (of the same source, else of a
 * source of the same plugin naming the same database, schema and table),
 * END = {"variable", "source", "database", "schema", "table", "columns"};
 * composite keys keep their column order.
 */
json_t *dsb_context_join_paths(const struct dsb_ctx_item *items, size_t n);

/*
 * The prompt of the items (borrowed) for route r, malloc'd (NULL when
 * memory ran out).  Past the limits, tables are shown with less detail in
 * a fixed order (sample rows, column statistics, comments and notes, the
 * snippet, then trailing columns), each table saying what it left out and
 * where to get it; names, types and keys come first and go last.
 * left_out (an array) gets {"variable", "left_out": [...], "columns_shown"}
 * for each table that left something out.
 */
char *dsb_context_prompt(const struct dsb_route_choice *r,
                         const struct dsb_ctx_item *items, size_t n,
                         const json_t *join_paths,
                         const struct dsb_prompt_limits *lim, json_t *left_out);

#endif
