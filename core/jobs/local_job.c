/* What one local-spark job gets: its entry point, an environment built
 * from an allow-list, and the paths its sandbox shows read-only. */
#include "jobs/local.h"

#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "aws/aws.h"
#include "aws/credentials.h"
#include "util.h"

/* --------------------------------------------------------- entry point */

static int runnable_name(const char *path)
{
    return dsb_str_has_suffix(path, ".py") || dsb_str_has_suffix(path, ".jar");
}

/* real is dir or below it. */
static int inside(const char *real, const char *dir)
{
    size_t n = strlen(dir);

    return strncmp(real, dir, n) == 0 && (dir[n - 1] == '/' || real[n] == '/');
}

static int regular(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* Why the entry point given (with its real path, NULL when it does not
 * exist) is refused, or NULL. */
static const char *entry_problem(const char *given, const char *real,
                                 const char *dir)
{
    if (!runnable_name(given) || (real && !runnable_name(real)))
        return "is not a .py or .jar file";
    if (!real)
        return "does not exist";
    if (!inside(real, dir))
        return "leads outside entry_point_dir";
    return regular(real) ? NULL : "is not a regular file";
}

char *dsb_local_entry_point(const struct dsb_confine_opts *co,
                            const char *executor, const char *given,
                            struct dsb_error *err)
{
    char *dir, *path, *real;
    const char *why;

    if (!co->entry_point_dir) {
        dsb_error_set(err, DSB_E_INVALID, "executor %s takes no entry points",
                      executor);
        dsb_error_hint(
            err,
            "send code, or set entry_point_dir on the executor in broker.yaml to a directory of job files");
        return NULL;
    }
    dir = dsb_realpath(co->entry_point_dir);
    path = dir ? dsb_path_join(dir, given) : NULL;
    real = path ? dsb_realpath(path) : NULL;
    why = dir ? entry_problem(given, real, dir) : "does not exist";
    if (why) {
        dsb_error_set(err, DSB_E_INVALID, "entry point %s %s", given, why);
        dsb_error_hint(
            err,
            "executor %s runs .py and .jar files under %s; send code to run anything else",
            executor, co->entry_point_dir);
        free(real);
        real = NULL;
    }
    free(dir);
    free(path);
    return real;
}

/* --------------------------------------------------------- environment */

/* The broker's variables a job gets when they are set. */
static const char *const passed[] = {"PATH",      "LANG",       "LC_ALL",
                                     "JAVA_HOME", "SPARK_HOME", NULL};

#define DEFAULT_PATH "/usr/local/bin:/usr/bin:/bin"

static int add_var(struct dsb_strv *e, const char *name, const char *value)
{
    return value ? dsb_strv_push(e, dsb_asprintf("%s=%s", name, value)) : 0;
}

/* Resolves the job's secret references into DSB_SECRET_n variables and
 * DSB_SECRET_MAP (reference -> variable name). */
static int add_secrets(struct dsb_jobs *j, const json_t *doc,
                       struct dsb_strv *e, struct dsb_error *err)
{
    json_t *map = json_object(), *ref;
    char *value = NULL, *text;
    size_t i;
    int rc = 0;

    json_array_foreach(json_object_get(doc, "secret_refs"), i, ref)
    {
        char name[32];
        snprintf(name, sizeof(name), "DSB_SECRET_%zu", i);
        if (!j->o.secrets) {
            rc = dsb_error_set(err, DSB_E_CONFIG,
                               "no secret resolver for the job's references");
            break;
        }
        if (dsb_secrets_get(j->o.secrets, json_string_value(ref), &value, err) <
            0) {
            rc = -1;
            break;
        }
        rc |= add_var(e, name, value);
        dsb_secret_value_free(value);
        json_object_set_new(map, json_string_value(ref), json_string(name));
    }
    text = json_dumps(map, JSON_COMPACT);
    if (rc == 0 && add_var(e, "DSB_SECRET_MAP", text) < 0)
        rc = dsb_error_set(err, DSB_E_INTERNAL, "out of memory");
    free(text);
    json_decref(map);
    return rc;
}

/* aws_credentials: pass — the broker's own credentials, for s3a reads. */
static int add_aws(struct dsb_jobs *j, struct dsb_strv *e,
                   struct dsb_error *err)
{
    struct dsb_aws *aws = dsb_jobs_aws(j, err);
    struct dsb_aws_creds c = {0};
    int rc;

    if (!aws || dsb_aws_credentials(aws, &c, err) < 0)
        return -1;
    rc = add_var(e, "AWS_ACCESS_KEY_ID", c.access_key) |
         add_var(e, "AWS_SECRET_ACCESS_KEY", c.secret_key) |
         add_var(e, "AWS_SESSION_TOKEN", c.session_token) |
         add_var(e, "AWS_REGION", dsb_aws_region(aws));
    dsb_aws_creds_clear(&c);
    return rc ? dsb_error_set(err, DSB_E_INTERNAL, "out of memory") : 0;
}

int dsb_local_env(struct dsb_jobs *j, const json_t *doc,
                  const struct dsb_confine_opts *co, const char *py,
                  const char *home, const char *local_ip, struct dsb_strv *e,
                  struct dsb_error *err)
{
    int rc = 0;

    for (const char *const *p = passed; *p; p++)
        rc |= add_var(e, *p, getenv(*p));
    if (!getenv("PATH"))
        rc |= add_var(e, "PATH", DEFAULT_PATH);
    if (!getenv("LANG") && !getenv("LC_ALL"))
        rc |= add_var(e, "LANG", "C.UTF-8");
    rc |= add_var(e, "HOME", home) | add_var(e, "SPARK_LOCAL_IP", local_ip) |
          add_var(e, "DSB_OUTPUT", dsb_job_str(doc, "output", "uri")) |
          add_var(e, "DSB_JOB_ID", dsb_job_str(doc, "id", NULL)) |
          add_var(e, "DSB_SESSION_ID", dsb_job_str(doc, "session_id", NULL)) |
          add_var(e, "PYSPARK_PYTHON", py);
    if (rc)
        return dsb_error_set(err, DSB_E_INTERNAL, "out of memory");
    if (add_secrets(j, doc, e, err) < 0)
        return -1;
    return co->pass_aws ? add_aws(j, e, err) : 0;
}

/* --------------------------------------------------------------- reads */

/* The directory an executable is installed in: the parent of its bin/,
 * else the directory holding it. */
static void add_install(json_t *reads, const char *exe)
{
    char *copy = exe ? strdup(exe) : NULL, *dir = copy ? dirname(copy) : NULL;
    const char *base = dir ? strrchr(dir, '/') : NULL;

    if (base && strcmp(base, "/bin") == 0 && base != dir)
        *(char *)base = '\0';
    if (dir && strcmp(dir, "/") != 0)
        json_array_append_new(reads, json_string(dir));
    free(copy);
}

static void add_path(json_t *reads, const char *path)
{
    if (path && *path)
        json_array_append_new(reads, json_string(path));
}

/* The local paths the read specs name (file: URIs). */
static void add_spec_paths(json_t *reads, const json_t *specs)
{
    const json_t *spec;
    size_t i;

    json_array_foreach(specs, i, spec)
    {
        const char *p = json_string_value(json_object_get(spec, "path"));
        char *local = p ? dsb_confine_file_path(p, NULL) : NULL;
        add_path(reads, local);
        free(local);
    }
}

json_t *dsb_local_reads(const json_t *doc, const json_t *read_specs,
                        const char *bin, const char *py, const char *entry_dir)
{
    json_t *reads = json_array(), *jar;
    char *real_py = py ? dsb_realpath(py) : NULL;
    size_t i;

    add_install(reads, bin);
    add_install(reads, py);
    add_install(reads, real_py);
    add_path(reads, getenv("SPARK_HOME"));
    add_path(reads, getenv("JAVA_HOME"));
    json_array_foreach(
        json_object_get(json_object_get(doc, "spark_submit"), "jars"), i,
        jar) if (json_is_string(jar) && json_string_value(jar)[0] == '/')
        add_path(reads, json_string_value(jar));
    add_spec_paths(reads, read_specs);
    add_path(reads, entry_dir);
    free(real_py);
    return reads;
}
