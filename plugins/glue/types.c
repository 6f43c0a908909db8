/* Hive type strings (as Glue stores them) to Spark DDL types:
 *   tinyint smallint int/integer bigint float double boolean string binary
 *   date timestamp                        -> the same name
 *   char(n) varchar(n)                    -> string (Spark reads them so)
 *   decimal, decimal(p), decimal(p,s)     -> decimal(10,0) / (p,0) / (p,s)
 *   array<T> map<K,V> struct<n:T,...>     -> the same, recursively; odd
 *                                            field names are back-quoted
 * Anything else (uniontype, interval...) does not parse. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "glue.h"

struct glue_tp {
    const char *s;
    char *out;
    size_t len, cap;
    int bad;
    int depth;
};

static void tp_put(struct glue_tp *p, const char *s, size_t n)
{
    char *g;

    if (p->bad)
        return;
    if (p->len + n + 1 > p->cap) {
        size_t cap = (p->len + n + 1) * 2;
        if (!(g = realloc(p->out, cap))) {
            p->bad = 1;
            return;
        }
        p->out = g;
        p->cap = cap;
    }
    memcpy(p->out + p->len, s, n);
    p->len += n;
    p->out[p->len] = '\0';
}

static void tp_puts(struct glue_tp *p, const char *s)
{
    tp_put(p, s, strlen(s));
}

static void tp_ws(struct glue_tp *p)
{
    while (isspace((unsigned char)*p->s))
        p->s++;
}

static int tp_eat(struct glue_tp *p, char c)
{
    tp_ws(p);
    if (*p->s != c)
        return p->bad = 1, 0;
    p->s++;
    return 1;
}

/* A word of letters, digits and '_' into w (lower-cased). */
static size_t tp_word(struct glue_tp *p, char *w, size_t cap)
{
    size_t n = 0;

    tp_ws(p);
    while ((isalnum((unsigned char)*p->s) || *p->s == '_') && n + 1 < cap)
        w[n++] = (char)tolower((unsigned char)*p->s++);
    w[n] = '\0';
    return n;
}

static long tp_number(struct glue_tp *p)
{
    char *end;
    long v;

    tp_ws(p);
    v = strtol(p->s, &end, 10);
    if (end == p->s || v < 0 || v > 100000)
        return p->bad = 1, -1;
    p->s = end;
    return v;
}

static void tp_type(struct glue_tp *p);

static void tp_decimal(struct glue_tp *p)
{
    long prec = 10, scale = 0;
    char buf[64];

    tp_ws(p);
    if (*p->s == '(') {
        p->s++;
        prec = tp_number(p);
        tp_ws(p);
        if (*p->s == ',') {
            p->s++;
            scale = tp_number(p);
        }
        tp_eat(p, ')');
    }
    if (prec < 1 || prec > 38 || scale > prec)
        p->bad = 1;
    snprintf(buf, sizeof(buf), "decimal(%ld,%ld)", prec, scale);
    tp_puts(p, buf);
}

/* Reads a field name, `quoted` (with `` inside) or bare up to ':', into
 * name (unquoted, trailing blanks dropped); its length, 0 when none. */
static size_t tp_read_name(struct glue_tp *p, char *name, size_t cap)
{
    size_t n = 0;
    int quoted;

    tp_ws(p);
    quoted = *p->s == '`';
    p->s += quoted;
    while (*p->s && n + 1 < cap) {
        if (quoted && p->s[0] == '`' && p->s[1] != '`')
            break;
        if (!quoted && strchr(":,<>", *p->s))
            break;
        p->s += quoted && *p->s == '`'; /* `` stands for ` */
        name[n++] = *p->s++;
    }
    if (quoted && !tp_eat(p, '`'))
        return 0;
    while (!quoted && n > 0 && isspace((unsigned char)name[n - 1]))
        n--;
    name[n] = '\0';
    return n;
}

/* A struct field name, back-quoted unless it is a plain identifier. */
static void tp_field_name(struct glue_tp *p)
{
    char name[512];
    size_t n = tp_read_name(p, name, sizeof(name));
    int plain = n > 0;

    if (!n)
        p->bad = 1;
    for (size_t i = 0; i < n; i++)
        plain &= isalnum((unsigned char)name[i]) || name[i] == '_';
    if (!plain)
        tp_puts(p, "`");
    for (size_t i = 0; i < n; i++)
        tp_put(p, name[i] == '`' ? "``" : &name[i], name[i] == '`' ? 2 : 1);
    if (!plain)
        tp_puts(p, "`");
}

static void tp_struct(struct glue_tp *p)
{
    tp_puts(p, "struct<");
    tp_eat(p, '<');
    for (int first = 1; !p->bad; first = 0) {
        tp_ws(p);
        if (!first && *p->s == '>')
            break;
        if (!first && !tp_eat(p, ','))
            break;
        if (!first)
            tp_puts(p, ",");
        tp_field_name(p);
        tp_eat(p, ':');
        tp_puts(p, ":");
        tp_type(p);
    }
    tp_eat(p, '>');
    tp_puts(p, ">");
}

/* array<T> and map<K,V>. */
static void tp_container(struct glue_tp *p, const char *w)
{
    tp_puts(p, w);
    tp_puts(p, "<");
    tp_eat(p, '<');
    tp_type(p);
    if (!strcmp(w, "map")) {
        tp_eat(p, ',');
        tp_puts(p, ",");
        tp_type(p);
    }
    tp_eat(p, '>');
    tp_puts(p, ">");
}

static const char *tp_primitive(const char *w)
{
    static const char *const same[] = {
        "tinyint", "smallint", "int",    "bigint", "float",     "double",
        "boolean", "string",   "binary", "date",   "timestamp", NULL};

    for (size_t i = 0; same[i]; i++)
        if (!strcmp(w, same[i]))
            return same[i];
    if (!strcmp(w, "integer"))
        return "int";
    if (!strcmp(w, "long"))
        return "bigint";
    return NULL;
}

static void tp_type(struct glue_tp *p)
{
    char w[32];
    const char *prim;

    if (++p->depth > 64 || !tp_word(p, w, sizeof(w)))
        p->bad = 1;
    else if ((prim = tp_primitive(w)) != NULL)
        tp_puts(p, prim);
    else if (!strcmp(w, "char") || !strcmp(w, "varchar")) {
        tp_ws(p);
        if (*p->s == '(' && (p->s++, tp_number(p) >= 0))
            tp_eat(p, ')');
        tp_puts(p, "string");
    } else if (!strcmp(w, "decimal") || !strcmp(w, "numeric"))
        tp_decimal(p);
    else if (!strcmp(w, "array") || !strcmp(w, "map"))
        tp_container(p, w);
    else if (!strcmp(w, "struct"))
        tp_struct(p);
    else
        p->bad = 1;
    p->depth--;
}

char *glue_spark_type(const char *hive)
{
    struct glue_tp p = {hive ? hive : "", NULL, 0, 0, 0, 0};

    tp_type(&p);
    tp_ws(&p);
    if (*p.s)
        p.bad = 1;
    if (p.bad) {
        free(p.out);
        return NULL;
    }
    return p.out;
}
