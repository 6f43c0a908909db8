/* A small reader for the AWS shared config and credentials files (INI). */
#ifndef DSB_CORE_AWS_INI_H
#define DSB_CORE_AWS_INI_H

#include <stddef.h>

/* The keys of one section; values may be secrets (wiped on free). */
struct dsb_ini_section {
    int found;
    size_t n;
    char **keys;   /* lower-case, as botocore's configparser */
    char **values; /* trimmed */
};

/*
 * Reads section `name` of the file at path.  Rules: "[name]" headers
 * (surrounding blanks ignored), "key = value" or "key: value" lines, '#'
 * and ';' start comment lines, indented lines continue a nested value and
 * are skipped.  A missing file is an empty result (found = 0, returns 0);
 * -1 when the file exists but cannot be read or memory is exhausted.
 */
int dsb_ini_read_section(const char *path, const char *name,
                         struct dsb_ini_section *out);
/* The value of key (lower-case) or NULL. */
const char *dsb_ini_get(const struct dsb_ini_section *s, const char *key);
void dsb_ini_section_free(struct dsb_ini_section *s);

#endif
