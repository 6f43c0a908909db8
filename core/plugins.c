#include "plugins.h"

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "options.h"
#include "util.h"

/* Size of struct dsb_source_plugin at each minor of ABI major 1: the part
 * of a plugin's vtable the broker reads is its declared minor's. */
static const size_t abi1_sizes[] = {DSB_PLUGIN_SIZE_1_0, DSB_PLUGIN_SIZE_1_1,
                                    DSB_PLUGIN_SIZE_1_2, DSB_PLUGIN_SIZE_1_3};

_Static_assert(sizeof(abi1_sizes) / sizeof(*abi1_sizes) == DSB_ABI_MINOR + 1,
               "every minor of major 1 has its vtable size in abi1_sizes");
_Static_assert(DSB_PLUGIN_SIZE_1_3 == sizeof(struct dsb_source_plugin),
               "a slot was appended without a DSB_PLUGIN_SIZE_1_N for its "
               "minor");

/* Keys of a source file that belong to the core, not to a plugin. */
static const char *const core_keys[] = {"name",        "plugin",  "network",
                                        "description", "enabled", NULL};

struct reasons {
    char text[1024];
    size_t len;
    int n;
};

static void reason(struct reasons *r, const char *fmt, ...) DSB_PRINTF(2, 3);
static void reason(struct reasons *r, const char *fmt, ...)
{
    va_list ap;

    if (r->len + 3 >= sizeof(r->text))
        return;
    if (r->n++)
        r->len +=
            (size_t)snprintf(r->text + r->len, sizeof(r->text) - r->len, "; ");
    va_start(ap, fmt);
    r->len +=
        (size_t)vsnprintf(r->text + r->len, sizeof(r->text) - r->len, fmt, ap);
    va_end(ap);
    if (r->len >= sizeof(r->text))
        r->len = sizeof(r->text) - 1;
}

static int unsafe_mode(const char *path, int want_dir, struct dsb_error *err)
{
    struct stat st;

    if (stat(path, &st) < 0)
        return dsb_error_set(err, DSB_E_CONFIG, "cannot use %s: %s", path,
                             strerror(errno));
    if (want_dir ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode))
        return dsb_error_set(err, DSB_E_CONFIG, "%s is not a %s", path,
                             want_dir ? "directory" : "regular file");
    if (st.st_mode & (S_IWGRP | S_IWOTH)) {
        dsb_error_set(err, DSB_E_CONFIG,
                      "refusing %s %s: writable by group or "
                      "others (mode %04o)",
                      want_dir ? "plugin directory" : "plugin", path,
                      (unsigned)(st.st_mode & 07777));
        dsb_error_hint(err,
                       "anyone who can write it can run code in the "
                       "broker: chmod go-w %s",
                       path);
        return -1;
    }
    return 0;
}

static void check_header(const struct dsb_abi_header *h, struct reasons *r)
{
    if (h->magic != DSB_PLUGIN_MAGIC) {
        reason(r, "bad magic 0x%08x (not a dsbroker plugin vtable)", h->magic);
        return;
    }
    if (h->abi_major != DSB_ABI_MAJOR)
        reason(r,
               "broker ABI %d.%d, plugin built for ABI %u.%u (majors "
               "differ: rebuild the plugin against this broker's header)",
               DSB_ABI_MAJOR, DSB_ABI_MINOR, h->abi_major, h->abi_minor);
    else if (h->abi_minor > DSB_ABI_MINOR)
        reason(r,
               "broker ABI %d.%d, plugin built for ABI %u.%u (a newer "
               "minor may rely on slots and host services this broker lacks: "
               "upgrade the broker, or build the plugin with "
               "DSB_PLUGIN_HEADER_FOR(%d))",
               DSB_ABI_MAJOR, DSB_ABI_MINOR, h->abi_major, h->abi_minor,
               DSB_ABI_MINOR);
    else if (h->struct_size < abi1_sizes[h->abi_minor])
        reason(r,
               "vtable is %u bytes, ABI %u.%u needs %zu (built with a "
               "different header?)",
               h->struct_size, h->abi_major, h->abi_minor,
               abi1_sizes[h->abi_minor]);
    if (!h->build_tag || strcmp(h->build_tag, DSB_BUILD_TAG) != 0)
        reason(r, "build tag \"%s\" differs from the broker's \"%s\"",
               h->build_tag ? h->build_tag : "(none)", DSB_BUILD_TAG);
}

static void check_slots(const struct dsb_source_plugin *vt, const char *stem,
                        struct reasons *r)
{
    static const char *const names[] = {
        "open",        "close",          "check",    "list_databases",
        "list_tables", "describe_table", "read_spec"};
    const void *slots[] = {(void *)vt->open,        (void *)vt->close,
                           (void *)vt->check,       (void *)vt->list_databases,
                           (void *)vt->list_tables, (void *)vt->describe_table,
                           (void *)vt->read_spec};

    if (!vt->name || strcmp(vt->name, stem) != 0)
        reason(r, "plugin calls itself \"%s\" but the file is %s.so",
               vt->name ? vt->name : "(null)", stem);
    if (!vt->version)
        reason(r, "no version");
    for (size_t i = 0; i < sizeof(slots) / sizeof(*slots); i++)
        if (!slots[i])
            reason(r, "required slot %s is NULL", names[i]);
    if (vt->flags & DSB_SRC_FLAT_SCHEMA ? !vt->flat_schema : !vt->list_schemas)
        reason(r, "neither list_schemas nor DSB_SRC_FLAT_SCHEMA with a "
                  "flat_schema name");
}

static void check_options(const struct dsb_source_plugin *vt, struct reasons *r)
{
    struct dsb_diags d;

    dsb_diags_init(&d);
    for (const struct dsb_option *o = vt->options; o && o->name; o++)
        for (const char *const *k = core_keys; *k; k++)
            if (strcmp(o->name, *k) == 0)
                reason(r, "option \"%s\" clashes with the core key", o->name);
    if (dsb_options_check_table(vt->options, vt->name, &d) < 0)
        for (size_t i = 0; i < d.n; i++)
            reason(r, "%s", d.items[i].message);
    dsb_diags_free(&d);
}

static char *file_stem(const char *path)
{
    const char *base = strrchr(path, '/');
    char *stem = strdup(base ? base + 1 : path);

    if (stem && dsb_str_has_suffix(stem, ".so"))
        stem[strlen(stem) - 3] = '\0';
    return stem;
}

static int dir_of_is_safe(const char *path, struct dsb_error *err)
{
    char *copy = strdup(path);
    int rc;

    if (!copy)
        return dsb_error_set(err, DSB_E_INTERNAL, "out of memory");
    rc = unsafe_mode(dirname(copy), 1, err);
    free(copy);
    return rc;
}

/* The directory holding path (a link, maybe), the file it resolves to and
 * that file's directory must all be closed to group and others: any of
 * them writable lets someone else swap the code.  *resolved: the real
 * path, malloc'd, for dlopen (so the file checked is the file loaded). */
static int path_is_safe(const char *path, char **resolved,
                        struct dsb_error *err)
{
    *resolved = NULL;
    if (dir_of_is_safe(path, err) < 0)
        return -1;
    *resolved = realpath(path, NULL);
    if (!*resolved)
        return dsb_error_set(err, DSB_E_CONFIG, "cannot use %s: %s", path,
                             strerror(errno));
    if (unsafe_mode(*resolved, 0, err) == 0 &&
        dir_of_is_safe(*resolved, err) == 0)
        return 0;
    if (strcmp(*resolved, path) != 0)
        dsb_error_detail(err, "%s resolves to %s", path, *resolved);
    free(*resolved);
    *resolved = NULL;
    return -1;
}

/* Opens the file and returns its vtable pointer; only the entry runs. */
static const struct dsb_source_plugin *enter(const char *path, const char *real,
                                             void **dl, struct dsb_error *err)
{
    dsb_plugin_entry_fn entry;
    const struct dsb_source_plugin *vt;

    *dl = dlopen(real, RTLD_NOW | RTLD_LOCAL);
    if (!*dl) {
        dsb_error_set(err, DSB_E_CONFIG, "cannot load plugin %s", path);
        dsb_error_detail(err, "%s", dlerror());
        return NULL;
    }
    *(void **)&entry = dlsym(*dl, DSB_PLUGIN_ENTRY_SYMBOL);
    if (!entry) {
        dsb_error_set(err, DSB_E_CONFIG,
                      "refusing plugin %s: it exports no "
                      "%s() function",
                      path, DSB_PLUGIN_ENTRY_SYMBOL);
        dsb_error_hint(err, "a plugin defines DSB_PLUGIN_EXPORT const struct "
                            "dsb_source_plugin *dsb_plugin_entry(void)");
        return NULL;
    }
    vt = entry();
    if (!vt)
        dsb_error_set(err, DSB_E_CONFIG,
                      "refusing plugin %s: %s() returned "
                      "NULL",
                      path, DSB_PLUGIN_ENTRY_SYMBOL);
    return vt;
}

static int verify(const struct dsb_source_plugin *vt, const char *path,
                  struct dsb_plugin *out, struct dsb_error *err)
{
    struct reasons r = {0};
    char *stem = file_stem(path);
    size_t copy;

    check_header(&vt->abi, &r);
    if (r.n == 0) {
        /* the declared minor's slots; later ones stay NULL */
        copy = abi1_sizes[vt->abi.abi_minor];
        memset(&out->vt, 0, sizeof(out->vt));
        memcpy(&out->vt, vt, copy);
        check_slots(&out->vt, stem ? stem : "", &r);
    }
    if (r.n == 0)
        check_options(&out->vt, &r);
    free(stem);
    if (r.n == 0)
        return 0;
    dsb_error_set(err, DSB_E_CONFIG, "refusing plugin %s: %s", path, r.text);
    return -1;
}

int dsb_plugin_load(const char *path, struct dsb_plugin *out,
                    struct dsb_error *err)
{
    const struct dsb_source_plugin *vt;
    char *real = NULL;

    memset(out, 0, sizeof(*out));
    if (path_is_safe(path, &real, err) < 0)
        return -1;
    vt = enter(path, real, &out->dl, err);
    if (!vt || verify(vt, path, out, err) < 0)
        goto fail;
    out->name = strdup(out->vt.name);
    out->path = strdup(path);
    if (!out->name || !out->path) {
        dsb_error_set(err, DSB_E_INTERNAL, "out of memory");
        goto fail;
    }
    free(real);
    return 0;
fail:
    free(real);
    dsb_plugin_unload(out);
    return -1;
}

void dsb_plugin_unload(struct dsb_plugin *p)
{
    if (p->dl)
        dlclose(p->dl);
    free(p->name);
    free(p->path);
    memset(p, 0, sizeof(*p));
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted "*.so" names in dir; NULL with a diagnostic when unreadable. */
static char **list_so(const char *dir, size_t *count, struct dsb_diags *d)
{
    DIR *dh = opendir(dir);
    struct dirent *e;
    char **names = NULL;
    size_t n = 0;

    if (!dh) {
        dsb_diag_add(d, DSB_SEV_ERROR, dir, 0, 0,
                     "cannot read the plugin "
                     "directory: %s",
                     strerror(errno));
        return NULL;
    }
    while ((e = readdir(dh)) != NULL) {
        char **nn;
        if (!dsb_str_has_suffix(e->d_name, ".so") || e->d_name[0] == '.')
            continue;
        nn = realloc(names, (n + 1) * sizeof(*nn));
        if (!nn)
            break;
        names = nn;
        names[n++] = dsb_path_join(dir, e->d_name);
    }
    closedir(dh);
    if (n > 1) /* qsort must not get NULL: an empty directory */
        qsort(names, n, sizeof(*names), by_name);
    *count = n;
    return names ? names : calloc(1, sizeof(char *));
}

int dsb_plugins_load_dir(const char *dir, struct dsb_plugin_set *set,
                         int strict, struct dsb_diags *d)
{
    struct dsb_error err;
    size_t n = 0;
    char **files;

    if (unsafe_mode(dir, 1, &err) < 0) {
        dsb_diag_add(d, DSB_SEV_ERROR, NULL, 0, 0, "%s%s%s", err.message,
                     err.hint[0] ? "; " : "", err.hint);
        return -1;
    }
    files = list_so(dir, &n, d);
    if (!files)
        return -1;
    for (size_t i = 0; i < n; i++) {
        struct dsb_plugin p;
        struct dsb_plugin *grown;
        if (!files[i] || dsb_plugin_load(files[i], &p, &err) < 0) {
            dsb_diag_add(d, strict ? DSB_SEV_ERROR : DSB_SEV_WARNING, NULL, 0,
                         0, "%s%s%s", err.message, err.detail[0] ? ": " : "",
                         err.detail);
        } else if ((grown = realloc(set->items, (set->n + 1) * sizeof(p)))) {
            set->items = grown;
            set->items[set->n++] = p;
        } else {
            dsb_plugin_unload(&p);
        }
        free(files[i]);
    }
    free(files);
    return 0;
}

const struct dsb_plugin *dsb_plugins_find(const struct dsb_plugin_set *set,
                                          const char *name)
{
    for (size_t i = 0; i < set->n; i++)
        if (strcmp(set->items[i].name, name) == 0)
            return &set->items[i];
    return NULL;
}

void dsb_plugins_unload_all(struct dsb_plugin_set *set)
{
    for (size_t i = 0; i < set->n; i++)
        dsb_plugin_unload(&set->items[i]);
    free(set->items);
    memset(set, 0, sizeof(*set));
}

json_t *dsb_plugin_describe(const struct dsb_plugin *p, int with_schema)
{
    char abi[32];
    json_t *o;

    snprintf(abi, sizeof(abi), "%u.%u", p->vt.abi.abi_major,
             p->vt.abi.abi_minor);
    o = json_pack("{s:s, s:s, s:s, s:s, s:s?, s:s?}", "name", p->name,
                  "version", p->vt.version, "abi", abi, "path", p->path,
                  "description", p->vt.description, "default_network",
                  p->vt.default_network);
    if (p->vt.flags & DSB_SRC_FLAT_SCHEMA)
        json_object_set_new(o, "flat_schema", json_string(p->vt.flat_schema));
    if (with_schema)
        json_object_set_new(o, "options", dsb_options_schema(p->vt.options));
    return o;
}
