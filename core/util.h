/* Small string and path helpers shared by the core. */
#ifndef DSB_CORE_UTIL_H
#define DSB_CORE_UTIL_H

#include <stddef.h>

#include "dsbroker/plugin.h"

/* malloc'd printf; NULL when memory is exhausted. */
char *dsb_asprintf(const char *fmt, ...) DSB_PRINTF(1, 2);
/* strdup that accepts NULL (returns NULL). */
char *dsb_strdup0(const char *s);
/* Joins dir and name with one '/'; absolute names are returned as is. */
char *dsb_path_join(const char *dir, const char *name);
/* Absolute, normalised form of path (which must exist); NULL otherwise. */
char *dsb_realpath(const char *path);
/* Reads a whole file (max `limit` bytes) into a NUL-terminated buffer. */
char *dsb_read_file(const char *path, size_t limit, size_t *len);
int dsb_str_has_suffix(const char *s, const char *suffix);
/* Levenshtein distance, capped at `cap` (returns cap when >= cap). */
size_t dsb_edit_distance(const char *a, const char *b, size_t cap);

#endif
