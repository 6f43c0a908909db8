/* Reader for ~/.aws/config and ~/.aws/credentials. */
#include "aws/ini.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws/buf.h"

/* Trims blanks at both ends in place; returns the new start. */
static char *trim(char *s)
{
    char *e;

    while (*s == ' ' || *s == '\t')
        s++;
    e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = '\0';
    return s;
}

/* "[ name ]" -> 1 when it names `name`, 0 for another section, -1 if the
 * line is not a header. */
static int header_is(char *line, const char *name)
{
    char *end;

    if (line[0] != '[')
        return -1;
    end = strrchr(line, ']');
    if (!end)
        return -1;
    *end = '\0';
    return strcmp(trim(line + 1), name) == 0;
}

static int add_pair(struct dsb_ini_section *s, char *line)
{
    char *sep = line + strcspn(line, "=:"), *k, **keys, **values;
    size_t i;

    if (!*sep)
        return 0; /* not a key line: ignored, as botocore would fail it */
    *sep = '\0';
    k = trim(line);
    for (i = 0; k[i]; i++)
        k[i] = (char)tolower((unsigned char)k[i]);
    keys = realloc(s->keys, (s->n + 1) * sizeof(*keys));
    if (keys)
        s->keys = keys;
    values = realloc(s->values, (s->n + 1) * sizeof(*values));
    if (values)
        s->values = values;
    if (!keys || !values)
        return -1;
    s->keys[s->n] = strdup(k);
    s->values[s->n] = strdup(trim(sep + 1));
    if (!s->keys[s->n] || !s->values[s->n]) {
        free(s->keys[s->n]);
        dsb_aws_wipe_free(s->values[s->n]);
        return -1;
    }
    s->n++;
    return 0;
}

static int parse_line(struct dsb_ini_section *s, char *line, const char *name,
                      int *inside)
{
    char *t = trim(line);
    int h;

    if (!*t || *t == '#' || *t == ';')
        return 0;
    h = header_is(t, name);
    if (h >= 0) {
        *inside = h;
        s->found |= h;
        return 0;
    }
    if (!*inside || line[0] == ' ' || line[0] == '\t')
        return 0; /* other section, or a nested value's sub-line */
    return add_pair(s, t);
}

int dsb_ini_read_section(const char *path, const char *name,
                         struct dsb_ini_section *out)
{
    FILE *f;
    char *line = NULL;
    size_t cap = 0;
    int inside = 0, rc = 0;

    memset(out, 0, sizeof(*out));
    f = fopen(path, "r");
    if (!f)
        return errno == ENOENT || errno == ENOTDIR ? 0 : -1;
    while (rc == 0 && getline(&line, &cap, f) >= 0)
        rc = parse_line(out, line, name, &inside);
    if (ferror(f))
        rc = -1;
    if (line) {
        memset(line, 0, cap);
        free(line);
    }
    fclose(f);
    if (rc < 0)
        dsb_ini_section_free(out);
    return rc;
}

const char *dsb_ini_get(const struct dsb_ini_section *s, const char *key)
{
    size_t i;

    /* The last occurrence wins, as in configparser's non-strict reading. */
    for (i = s->n; i > 0; i--)
        if (strcmp(s->keys[i - 1], key) == 0)
            return s->values[i - 1];
    return NULL;
}

void dsb_ini_section_free(struct dsb_ini_section *s)
{
    size_t i;

    for (i = 0; i < s->n; i++) {
        free(s->keys[i]);
        dsb_aws_wipe_free(s->values[i]);
    }
    free(s->keys);
    free(s->values);
    memset(s, 0, sizeof(*s));
}
