/* Diagnostics: every configuration problem of a run, with its position. */
#ifndef DSB_CORE_DIAG_H
#define DSB_CORE_DIAG_H

#include <stddef.h>
#include <stdio.h>

#include "dsbroker/plugin.h"

enum dsb_severity { DSB_SEV_ERROR = 0, DSB_SEV_WARNING = 1 };

struct dsb_diag {
    enum dsb_severity severity;
    char *file; /* may be NULL */
    int line;   /* 1-based, 0 = unknown */
    int col;    /* 1-based, 0 = unknown */
    char *message;
};

struct dsb_diags {
    struct dsb_diag *items;
    size_t n, cap;
    size_t errors;
};

void dsb_diags_init(struct dsb_diags *d);
void dsb_diags_free(struct dsb_diags *d);
void dsb_diag_add(struct dsb_diags *d, enum dsb_severity sev, const char *file,
                  int line, int col, const char *fmt, ...) DSB_PRINTF(6, 7);
/* Prints "file:line:col: error: message" lines, in the order added. */
void dsb_diags_print(const struct dsb_diags *d, FILE *out);
/* Index of the first diagnostic whose message contains `needle` and whose
 * position matches (0 = any), or -1. For tests and callers. */
long dsb_diags_find(const struct dsb_diags *d, const char *file_suffix,
                    int line, const char *needle);

#endif
