/* The loader refuses unsafe plugin files before dlopen, and incompatible
 * plugins with every reason before calling any slot. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "plugins.h"
#include "support.h"

static struct dsb_plugin p;
static struct dsb_error err;

static void teardown(void)
{
    dsb_plugin_unload(&p);
}

TestSuite(loader, .fini = teardown);

static int load_bad(const char *name)
{
    char rel[256];
    char *path;
    int rc;

    snprintf(rel, sizeof(rel), "bad/%s.so", name);
    path = t_path("DSB_TEST_PLUGIN_DIR", rel);
    rc = dsb_plugin_load(path, &p, &err);
    free(path);
    return rc;
}

static void refused(const char *name, const char *needle)
{
    cr_assert_eq(load_bad(name), -1, "%s was accepted", name);
    cr_assert_eq(err.code, DSB_E_CONFIG);
    cr_assert(strstr(err.message, needle) || strstr(err.detail, needle),
              "%s: expected \"%s\" in \"%s\" / \"%s\"", name, needle,
              err.message, err.detail);
    cr_assert(strstr(err.message, name), "the file is not named: %s",
              err.message);
}

Test(loader, good_plugin_loads_and_is_copied)
{
    char *path = t_path("DSB_TEST_PLUGIN_DIR", "good/fixture.so");
    json_t *desc;

    cr_assert_eq(dsb_plugin_load(path, &p, &err), 0, "%s", err.message);
    cr_assert_str_eq(p.name, "fixture");
    cr_assert_not_null(p.vt.read_spec);
    cr_assert_not_null(p.vt.read_spec_described);
    desc = dsb_plugin_describe(&p, 1);
    cr_assert_str_eq(json_string_value(json_object_get(desc, "abi")), "1.3");
    cr_assert_not_null(json_object_get(
        json_object_get(json_object_get(desc, "options"), "properties"),
        "data_file"));
    json_decref(desc);
    free(path);
}

Test(loader, wrong_major)
{
    refused("wrong_major", "broker ABI 1.3, plugin built for ABI 2.0");
    cr_assert(strstr(err.message, "rebuild the plugin"), "%s", err.message);
}

/* A newer minor is refused with the reason and both ways out. */
Test(loader, newer_minor)
{
    refused("newer_minor",
            "broker ABI 1.3, plugin built for ABI 1.4 (a "
            "newer minor may rely on slots and host services this broker "
            "lacks: upgrade the broker, or build the plugin with "
            "DSB_PLUGIN_HEADER_FOR(3))");
}

Test(loader, short_struct)
{
    refused("short_struct", "vtable is");
    cr_assert(strstr(err.message, "ABI 1.3 needs"), "%s", err.message);
}

static void load_abi(const char *name)
{
    char rel[256];
    char *path;

    snprintf(rel, sizeof(rel), "abi/%s.so", name);
    path = t_path("DSB_TEST_PLUGIN_DIR", rel);
    cr_assert_eq(dsb_plugin_load(path, &p, &err), 0, "%s: %s", name,
                 err.message);
    free(path);
}

static void abi_is(const char *want)
{
    json_t *desc = dsb_plugin_describe(&p, 0);

    cr_assert_str_eq(json_string_value(json_object_get(desc, "abi")), want);
    json_decref(desc);
}

/* A plugin compiled against the frozen 1.0 header (tests/plugins/abi10):
 * accepted, its vtable read up to the 1.0 size, the later slots NULL. */
Test(loader, abi_1_0_plugin_loads)
{
    load_abi("fixture10");
    cr_assert_eq(p.vt.abi.abi_minor, 0);
    cr_assert_eq(p.vt.abi.struct_size, DSB_PLUGIN_SIZE_1_0);
    cr_assert_lt(DSB_PLUGIN_SIZE_1_0, sizeof(struct dsb_source_plugin));
    cr_assert_not_null(p.vt.read_spec);
    cr_assert_null(p.vt.read_spec_described);
    cr_assert_null(p.vt.describe_tables);
    cr_assert_null(p.vt.check_options);
    abi_is("1.0");
}

/* Declaring 1.1 with today's header: the 1.2 slots (check_options among
 * them) go unread; declaring today's minor they are read. */
Test(loader, a_1_1_plugin_has_no_1_2_slots)
{
    load_abi("fixture_for11");
    cr_assert_eq(p.vt.abi.struct_size, DSB_PLUGIN_SIZE_1_1);
    cr_assert_not_null(p.vt.read_spec_described);
    cr_assert_null(p.vt.check_options);
    abi_is("1.1");
    dsb_plugin_unload(&p);
    load_abi("fixture");
    cr_assert_not_null(p.vt.check_options);
    abi_is("1.3");
}

/* Declaring 1.0 with today's header: the broker reads only 1.0's slots,
 * though these vtables set the 1.1 one too, whether struct_size is 1.0's
 * (DSB_PLUGIN_HEADER_FOR) or larger (any size from the minor's up). */
Test(loader, declared_minor_bounds_the_slots_read)
{
    load_abi("fixture_for10");
    cr_assert_eq(p.vt.abi.struct_size, DSB_PLUGIN_SIZE_1_0);
    cr_assert_null(p.vt.read_spec_described);
    abi_is("1.0");
    dsb_plugin_unload(&p);
    load_abi("fixture_big10");
    cr_assert_eq(p.vt.abi.struct_size, sizeof(struct dsb_source_plugin));
    cr_assert_null(p.vt.read_spec_described);
    abi_is("1.0");
}

Test(loader, bad_build_tag)
{
    refused("bad_tag", "build tag \"ptr4-be-jansson1\" differs");
}

Test(loader, bad_magic)
{
    refused("bad_magic", "bad magic 0x12345678");
}

Test(loader, null_required_slot)
{
    refused("null_slot", "required slot check is NULL");
}

Test(loader, name_must_match_file)
{
    refused("name_mismatch", "calls itself \"somebody_else\"");
}

Test(loader, bad_option_table)
{
    refused("bad_option_table", "declared twice");
}

Test(loader, missing_entry_symbol)
{
    refused("no_entry", "exports no dsb_plugin_entry() function");
    cr_assert(strstr(err.hint, "DSB_PLUGIN_EXPORT"), "%s", err.hint);
}

Test(loader, missing_file)
{
    cr_assert_eq(load_bad("does_not_exist"), -1);
    cr_assert(strstr(err.message, "No such file"), "%s", err.message);
}

static char *copy_fixture(const char *dir, mode_t mode)
{
    char *src = t_path("DSB_TEST_PLUGIN_DIR", "good/fixture.so");
    char *dst = malloc(strlen(dir) + 16), cmd[8192];

    sprintf(dst, "%s/fixture.so", dir);
    snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", src, dst);
    cr_assert_eq(system(cmd), 0);
    cr_assert_eq(chmod(dst, mode), 0);
    free(src);
    return dst;
}

Test(loader, group_writable_file_is_refused)
{
    char *dir = t_tmpdir();
    char *path = copy_fixture(dir, 0664);

    cr_assert_eq(dsb_plugin_load(path, &p, &err), -1);
    cr_assert(strstr(err.message, "writable by group or others (mode 0664)"),
              "%s", err.message);
    cr_assert(strstr(err.hint, "chmod go-w"), "%s", err.hint);
    cr_assert_eq(chmod(path, 0644), 0);
    cr_assert_eq(dsb_plugin_load(path, &p, &err), 0, "%s", err.message);
    free(path);
    free(dir);
}

Test(loader, world_writable_directory_is_refused)
{
    char *dir = t_tmpdir();
    char *path = copy_fixture(dir, 0644);
    struct dsb_plugin_set set = {0};
    struct dsb_diags d;

    cr_assert_eq(chmod(dir, 0777), 0);
    cr_assert_eq(dsb_plugin_load(path, &p, &err), -1);
    cr_assert(strstr(err.message, "refusing plugin directory"), "%s",
              err.message);
    dsb_diags_init(&d);
    cr_assert_eq(dsb_plugins_load_dir(dir, &set, 0, &d), -1);
    cr_assert_eq(set.n, 0);
    cr_assert_eq(d.errors, 1);
    dsb_diags_free(&d);
    free(path);
    free(dir);
}

/* A plugin directory without plugins loads nothing, and says nothing. */
Test(loader, empty_directory_loads_nothing)
{
    char *dir = t_tmpdir();
    struct dsb_plugin_set set = {0};
    struct dsb_diags d;

    cr_assert_eq(chmod(dir, 0755), 0);
    dsb_diags_init(&d);
    cr_assert_eq(dsb_plugins_load_dir(dir, &set, 0, &d), 0);
    cr_assert_eq(set.n, 0);
    cr_assert_eq(d.n, 0);
    dsb_plugins_unload_all(&set);
    dsb_diags_free(&d);
    free(dir);
}

static char *link_in(const char *dir, const char *target)
{
    char *link = malloc(strlen(dir) + 16);

    sprintf(link, "%s/fixture.so", dir);
    cr_assert_eq(symlink(target, link), 0);
    return link;
}

/* A link in a safe directory is judged by the file it resolves to and that
 * file's directory too. */
Test(loader, symlink_into_a_world_writable_directory_is_refused)
{
    char *safe = t_tmpdir(), *open_dir = t_tmpdir();
    char *target = copy_fixture(open_dir, 0644), *link = link_in(safe, target);

    cr_assert_eq(chmod(open_dir, 0777), 0);
    cr_assert_eq(dsb_plugin_load(link, &p, &err), -1);
    cr_assert(strstr(err.message, "refusing plugin directory"), "%s",
              err.message);
    cr_assert(strstr(err.message, open_dir), "%s", err.message);
    cr_assert(strstr(err.detail, "resolves to"), "%s", err.detail);
    cr_assert_eq(chmod(open_dir, 0755), 0);
    cr_assert_eq(dsb_plugin_load(link, &p, &err), 0, "%s", err.message);
    cr_assert_str_eq(p.path, link);
    free(target);
    free(link);
    free(safe);
    free(open_dir);
}

Test(loader, symlink_to_a_group_writable_file_is_refused)
{
    char *safe = t_tmpdir(), *other = t_tmpdir();
    char *target = copy_fixture(other, 0664), *link = link_in(safe, target);

    cr_assert_eq(dsb_plugin_load(link, &p, &err), -1);
    cr_assert(strstr(err.message, "writable by group or others (mode 0664)"),
              "%s", err.message);
    free(target);
    free(link);
    free(safe);
    free(other);
}

/* The link's own directory still counts, even with a safe target. */
Test(loader, safe_target_through_a_link_in_an_open_directory_is_refused)
{
    char *open_dir = t_tmpdir(), *other = t_tmpdir();
    char *target = copy_fixture(other, 0644), *link = link_in(open_dir, target);

    cr_assert_eq(chmod(open_dir, 0777), 0);
    cr_assert_eq(dsb_plugin_load(link, &p, &err), -1);
    cr_assert(strstr(err.message, open_dir), "%s", err.message);
    free(target);
    free(link);
    free(open_dir);
    free(other);
}

Test(loader, directory_load_keeps_the_good_and_reports_the_bad)
{
    char *dir = t_path("DSB_TEST_PLUGIN_DIR", "bad");
    struct dsb_plugin_set set = {0};
    struct dsb_diags d;

    dsb_diags_init(&d);
    cr_assert_eq(dsb_plugins_load_dir(dir, &set, 0, &d), 0);
    /* open_fails and crash_open are valid plugins: their trouble is later */
    cr_assert_eq(set.n, 2, "loaded %zu", set.n);
    cr_assert_not_null(dsb_plugins_find(&set, "open_fails"));
    cr_assert_not_null(dsb_plugins_find(&set, "crash_open"));
    cr_assert_eq(d.errors, 0);
    cr_assert_eq(d.n, 9, "warnings: %zu", d.n);
    dsb_plugins_unload_all(&set);
    dsb_diags_free(&d);
    free(dir);
}
