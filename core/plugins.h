/* Plugin loader: dlopen, ABI checks before any plugin code runs. */
#ifndef DSB_CORE_PLUGINS_H
#define DSB_CORE_PLUGINS_H

#include <stddef.h>

#include "diag.h"
#include "dsbroker/plugin.h"

struct dsb_plugin {
    char *name;                  /* vt.name */
    char *path;                  /* file it was loaded from */
    void *dl;                    /* dlopen handle */
    struct dsb_source_plugin vt; /* the declared minor's part of the
                                    plugin's vtable, zero-extended */
};

struct dsb_plugin_set {
    struct dsb_plugin *items;
    size_t n;
};

/*
 * Loads one plugin file.  Refuses (DSB_E_CONFIG, with every reason in the
 * message/detail) a file or directory writable by group or others, a file
 * without the entry symbol, and a vtable whose magic, ABI major, minor,
 * struct size or build tag do not fit this broker, or that lacks a required
 * slot.  Accepted: the broker's major with a minor not newer than its own
 * and a struct_size at least that minor's vtable size; out->vt then holds
 * that minor's slots, later ones NULL.  The permission checks (the file's
 * directory and, through symbolic links, the real file and its directory)
 * come before dlopen, which loads the real path and runs the file's ELF
 * constructors; the ABI checks then come after the entry function and
 * before any slot.
 */
int dsb_plugin_load(const char *path, struct dsb_plugin *out,
                    struct dsb_error *err);
void dsb_plugin_unload(struct dsb_plugin *p);

/* Loads every "*.so" in dir (sorted by name).  Each refused file becomes a
 * warning in `d` (an error when `strict`).  Returns 0 unless dir itself
 * cannot be read or is unsafe (then an error in `d` and -1). */
int dsb_plugins_load_dir(const char *dir, struct dsb_plugin_set *set,
                         int strict, struct dsb_diags *d);
const struct dsb_plugin *dsb_plugins_find(const struct dsb_plugin_set *set,
                                          const char *name);
void dsb_plugins_unload_all(struct dsb_plugin_set *set);

/* JSON description: name, version, abi, path, description, options schema. */
json_t *dsb_plugin_describe(const struct dsb_plugin *p, int with_schema);

#endif
