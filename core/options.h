/* Validation of YAML nodes against declarative option tables. */
#ifndef DSB_CORE_OPTIONS_H
#define DSB_CORE_OPTIONS_H

#include <jansson.h>

#include "diag.h"
#include "dsbroker/plugin.h"
#include "yamldoc.h"

/*
 * Checks the MAP node against `table` and returns the converted options
 * (see enum dsb_opt_type), defaults applied.  Keys listed in `skip` (NULL
 * terminated, may be NULL; "*" means every unknown key) are left to the
 * caller.  Every problem is added
 * to `d` with its position; returns NULL only when the node is not a map or
 * memory is exhausted; callers check d->errors.  Scalars are interpolated
 * (${VAR}, ${VAR:-default}, $$) before conversion.
 */
json_t *dsb_options_validate(const struct dsb_ynode *map,
                             const struct dsb_option *table,
                             const char *const *skip, struct dsb_diags *d);
/* Checks a table itself (names, defaults valid for their type...);
 * problems go to `d` with `owner` as the file.  Returns 0 when sound. */
int dsb_options_check_table(const struct dsb_option *table, const char *owner,
                            struct dsb_diags *d);
/* The table as a JSON Schema (draft 2020-12) object. */
json_t *dsb_options_schema(const struct dsb_option *table);

/* ${VAR} / ${VAR:-default} / $$ expansion from the environment.
 * Returns a malloc'd string, or NULL with `why` set. */
char *dsb_interpolate(const char *in, char *why, size_t why_len);

/* The closest candidate to `word` by edit distance, or NULL when none is
 * close enough to suggest. */
const char *dsb_closest(const char *word, const char *const *candidates,
                        size_t n);

#endif
