#include "diag.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

void dsb_diags_init(struct dsb_diags *d)
{
    memset(d, 0, sizeof(*d));
}

void dsb_diags_free(struct dsb_diags *d)
{
    for (size_t i = 0; i < d->n; i++) {
        free(d->items[i].file);
        free(d->items[i].message);
    }
    free(d->items);
    memset(d, 0, sizeof(*d));
}

void dsb_diag_add(struct dsb_diags *d, enum dsb_severity sev, const char *file,
                  int line, int col, const char *fmt, ...)
{
    struct dsb_diag *it;
    char msg[1024];
    va_list ap;

    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 16;
        struct dsb_diag *ni = realloc(d->items, cap * sizeof(*ni));
        if (!ni)
            return;
        d->items = ni;
        d->cap = cap;
    }
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    it = &d->items[d->n++];
    it->severity = sev;
    it->file = dsb_strdup0(file);
    it->line = line;
    it->col = col;
    it->message = strdup(msg);
    if (sev == DSB_SEV_ERROR)
        d->errors++;
}

void dsb_diags_print(const struct dsb_diags *d, FILE *out)
{
    for (size_t i = 0; i < d->n; i++) {
        const struct dsb_diag *it = &d->items[i];
        const char *sev = it->severity == DSB_SEV_ERROR ? "error" : "warning";
        if (it->file && it->line)
            fprintf(out, "%s:%d:%d: %s: %s\n", it->file, it->line, it->col, sev,
                    it->message);
        else if (it->file)
            fprintf(out, "%s: %s: %s\n", it->file, sev, it->message);
        else
            fprintf(out, "%s: %s\n", sev, it->message);
    }
}

long dsb_diags_find(const struct dsb_diags *d, const char *file_suffix,
                    int line, const char *needle)
{
    for (size_t i = 0; i < d->n; i++) {
        const struct dsb_diag *it = &d->items[i];
        if (file_suffix &&
            (!it->file || !dsb_str_has_suffix(it->file, file_suffix)))
            continue;
        if (line && it->line != line)
            continue;
        if (needle && !strstr(it->message, needle))
            continue;
        return (long)i;
    }
    return -1;
}
