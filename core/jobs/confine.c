/* Confinement of local jobs: the options, the job's user, the bubblewrap
 * command line of a job's sandbox, and whether it can start here. */
#define _GNU_SOURCE
#include "jobs/confine.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util.h"

const char *const dsb_isolation_names[] = {"bwrap", "none", NULL};
const char *const dsb_job_net_names[] = {"host", "none", NULL};
const char *const dsb_aws_credential_names[] = {"none", "pass", NULL};

static int is(const json_t *opts, const char *key, const char *value)
{
    const char *v = json_string_value(json_object_get(opts, key));

    return v && strcmp(v, value) == 0;
}

void dsb_confine_opts_of(const json_t *opts, struct dsb_confine_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->isolation = is(opts, "isolation", "none") ? DSB_ISOLATION_NONE
                                                 : DSB_ISOLATION_BWRAP;
    o->network =
        is(opts, "network", "none") ? DSB_JOB_NET_NONE : DSB_JOB_NET_HOST;
    o->pass_aws = is(opts, "aws_credentials", "pass");
    o->run_as = json_string_value(json_object_get(opts, "run_as"));
    o->max_memory_mb =
        (long)json_integer_value(json_object_get(opts, "max_memory_mb"));
    o->entry_point_dir =
        json_string_value(json_object_get(opts, "entry_point_dir"));
    o->bwrap = json_string_value(json_object_get(opts, "bwrap"));
}

/* -------------------------------------------------------------- vectors */

int dsb_strv_push(struct dsb_strv *s, char *owned)
{
    if (!owned)
        return -1;
    if (s->n + 2 > s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 32;
        char **nv = realloc(s->v, cap * sizeof(*nv));
        if (!nv) {
            free(owned);
            return -1;
        }
        s->v = nv;
        s->cap = cap;
    }
    s->v[s->n++] = owned;
    s->v[s->n] = NULL;
    return 0;
}

int dsb_strv_add(struct dsb_strv *s, const char *str)
{
    return dsb_strv_push(s, str ? strdup(str) : NULL);
}

void dsb_strv_free(struct dsb_strv *s)
{
    for (size_t i = 0; i < s->n; i++) {
        explicit_bzero(s->v[i], strlen(s->v[i]));
        free(s->v[i]);
    }
    free(s->v);
    memset(s, 0, sizeof(*s));
}

/* ---------------------------------------------------------------- user */

static int user_missing(const char *name, struct dsb_error *err)
{
    dsb_error_set(err, DSB_E_UNAVAILABLE,
                  "jobs cannot run as user %s: no such user", name);
    if (strcmp(name, DSB_JOB_USER) == 0)
        dsb_error_hint(
            err,
            "create it (scripts/setup.sh does when run as root): useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin dsbroker-job; or name another user in run_as");
    else
        dsb_error_hint(err, "create the user, or change run_as");
    return -1;
}

/* run_as of a root broker: an existing user other than root. */
static int named_user(const char *name, struct dsb_job_user *u,
                      struct dsb_error *err)
{
    struct passwd pw, *res = NULL;
    char buf[4096];

    if (getpwnam_r(name, &pw, buf, sizeof(buf), &res) != 0 || !res)
        return user_missing(name, err);
    if (pw.pw_uid == 0) {
        dsb_error_set(err, DSB_E_UNAVAILABLE,
                      "jobs cannot run as user %s: it is root", name);
        dsb_error_hint(err, "name an unprivileged user in run_as");
        return -1;
    }
    snprintf(u->name, sizeof(u->name), "%s", name);
    u->uid = pw.pw_uid;
    u->gid = pw.pw_gid;
    u->drop = 1;
    return 0;
}

/* The broker's own user; run_as may only name it. */
static int own_user(const struct dsb_confine_opts *o, struct dsb_job_user *u,
                    struct dsb_error *err)
{
    struct passwd pw, *res = NULL;
    char buf[4096];

    u->uid = geteuid();
    u->gid = getegid();
    if (getpwuid_r(u->uid, &pw, buf, sizeof(buf), &res) == 0 && res)
        snprintf(u->name, sizeof(u->name), "%s", pw.pw_name);
    else
        snprintf(u->name, sizeof(u->name), "%u", (unsigned)u->uid);
    if (!o->run_as || strcmp(o->run_as, u->name) == 0)
        return 0;
    if (o->isolation == DSB_ISOLATION_NONE) {
        dsb_error_set(err, DSB_E_UNAVAILABLE,
                      "run_as %s takes effect only with isolation: bwrap",
                      o->run_as);
        dsb_error_hint(
            err,
            "remove run_as: with isolation: none jobs run as the broker's user");
        return -1;
    }
    dsb_error_set(err, DSB_E_UNAVAILABLE,
                  "the broker runs as %s and cannot start jobs as %s", u->name,
                  o->run_as);
    dsb_error_hint(
        err,
        "run the broker as root, or remove run_as (jobs then run as the broker's user in a user namespace)");
    return -1;
}

int dsb_confine_user(const struct dsb_confine_opts *o, struct dsb_job_user *u,
                     struct dsb_error *err)
{
    memset(u, 0, sizeof(*u));
    if (geteuid() != 0 || o->isolation == DSB_ISOLATION_NONE)
        return own_user(o, u, err);
    return named_user(o->run_as ? o->run_as : DSB_JOB_USER, u, err);
}

/* --------------------------------------------------------------- tools */

static char *executable_in(const char *dirs, const char *name)
{
    char *copy = strdup(dirs), *dir, *save = NULL, *found = NULL;

    for (dir = copy ? strtok_r(copy, ":", &save) : NULL; dir && !found;
         dir = strtok_r(NULL, ":", &save)) {
        found = *dir == '/' ? dsb_asprintf("%s/%s", dir, name) : NULL;
        if (found && access(found, X_OK) != 0) {
            free(found);
            found = NULL;
        }
    }
    free(copy);
    return found;
}

/* The system's own tools, which the sandbox shows read-only. */
#define SYSTEM_BIN "/usr/bin:/bin:/usr/sbin:/sbin"

/* bwrap: the option (an absolute path), else on PATH, else SYSTEM_BIN. */
static char *find_bwrap(const struct dsb_confine_opts *o)
{
    const char *path = getenv("PATH");
    char *p;

    if (o->bwrap)
        return o->bwrap[0] == '/' && access(o->bwrap, X_OK) == 0
                   ? strdup(o->bwrap)
                   : NULL;
    p = path ? executable_in(path, "bwrap") : NULL;
    return p ? p : executable_in(SYSTEM_BIN, "bwrap");
}

static int tool_missing(const char *name, const char *tool, const char *pkg,
                        struct dsb_error *err)
{
    dsb_error_set(err, DSB_E_UNAVAILABLE,
                  "executor %s cannot confine jobs: %s was not found", name,
                  tool);
    dsb_error_hint(
        err,
        "install %s (apt-get install %s), or set isolation: none on the executor knowingly: its jobs then run unconfined, as the broker's user, and can read what it can",
        pkg, pkg);
    return -1;
}

/* The three programs a sandbox runs, malloc'd. */
struct tools {
    char *bwrap, *setpriv, *env;
};

static void tools_free(struct tools *t)
{
    free(t->bwrap);
    free(t->setpriv);
    free(t->env);
}

static int find_tools(const struct dsb_confine_opts *o, const char *name,
                      struct tools *t, struct dsb_error *err)
{
    memset(t, 0, sizeof(*t));
    if (!(t->bwrap = find_bwrap(o)))
        return tool_missing(name, o->bwrap ? o->bwrap : "bwrap", "bubblewrap",
                            err);
    if (!(t->setpriv = executable_in(SYSTEM_BIN, "setpriv")))
        return tool_missing(name, "setpriv", "util-linux", err);
    if (!(t->env = executable_in(SYSTEM_BIN, "env")))
        return tool_missing(name, "env", "coreutils", err);
    return 0;
}

/* -------------------------------------------------------------- mounts */

enum mkind { M_READ, M_MASK_DIR, M_MASK_FILE };

struct mnt {
    char *path; /* real path */
    enum mkind kind;
    size_t depth;
};

struct mounts {
    struct mnt *m;
    size_t n, cap;
    char *roots[8]; /* the system directories bound read-only */
    size_t n_roots;
};

static void mounts_free(struct mounts *ms)
{
    for (size_t i = 0; i < ms->n; i++)
        free(ms->m[i].path);
    for (size_t i = 0; i < ms->n_roots; i++)
        free(ms->roots[i]);
    free(ms->m);
}

/* path is root or below it. */
static int under(const char *path, const char *root)
{
    size_t n = strlen(root);

    if (strcmp(root, "/") == 0)
        return 1;
    return strncmp(path, root, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

static size_t depth_of(const char *path)
{
    size_t d = 0;

    for (; *path; path++)
        d += *path == '/';
    return d;
}

/* Whether path is in a tree the sandbox shows (a system root or a read);
 * exact: only a read that is path itself counts. */
static int shown(const struct mounts *ms, const char *path, int exact)
{
    for (size_t i = 0; !exact && i < ms->n_roots; i++)
        if (under(path, ms->roots[i]))
            return 1;
    for (size_t i = 0; i < ms->n; i++)
        if (ms->m[i].kind == M_READ && (exact ? strcmp(path, ms->m[i].path) == 0
                                              : under(path, ms->m[i].path)))
            return 1;
    return 0;
}

static int add_mnt(struct mounts *ms, char *path, enum mkind kind)
{
    if (!path)
        return -1;
    if (ms->n == ms->cap) {
        size_t cap = ms->cap ? 2 * ms->cap : 16;
        struct mnt *nm = realloc(ms->m, cap * sizeof(*nm));
        if (!nm) {
            free(path);
            return -1;
        }
        ms->m = nm;
        ms->cap = cap;
    }
    ms->m[ms->n++] = (struct mnt){path, kind, depth_of(path)};
    return 0;
}

static int by_length(const void *a, const void *b)
{
    size_t la = strlen(*(char *const *)a), lb = strlen(*(char *const *)b);

    return la < lb ? -1 : la > lb;
}

/* The reads that exist, by real path, each once and none inside another
 * or inside a system root. */
static int add_reads(struct mounts *ms, const json_t *reads)
{
    size_t n = json_array_size(reads), k = 0;
    char **real = calloc(n ? n : 1, sizeof(*real));
    int rc = real ? 0 : -1;

    for (size_t i = 0; real && i < n; i++)
        if ((real[k] =
                 dsb_realpath(json_string_value(json_array_get(reads, i)))))
            k++;
    if (real)
        qsort(real, k, sizeof(*real), by_length);
    for (size_t i = 0; i < k; i++) {
        if (rc == 0 && !shown(ms, real[i], 0))
            rc = add_mnt(ms, real[i], M_READ);
        else
            free(real[i]);
    }
    free(real);
    return rc;
}

/* A path the job must not see, hidden when the sandbox would show it. */
static int add_mask(struct mounts *ms, const char *path)
{
    char *real = path ? dsb_realpath(path) : NULL;
    struct stat st;

    if (!real || !shown(ms, real, 0) || shown(ms, real, 1) ||
        stat(real, &st) != 0 || !(S_ISDIR(st.st_mode) || S_ISREG(st.st_mode))) {
        free(real);
        return 0;
    }
    return add_mnt(ms, real, S_ISDIR(st.st_mode) ? M_MASK_DIR : M_MASK_FILE);
}

char *dsb_confine_file_path(const char *s, const char *base)
{
    const char *p;
    char *rel, *path;

    if (strncmp(s, "file:", 5) != 0)
        return NULL;
    p = strncmp(s, "file://", 7) == 0 ? s + 7 : s + 5;
    rel = strndup(p, strcspn(p, "#"));
    path = rel && *rel ? dsb_path_join(base, rel) : NULL;
    free(rel);
    return path;
}

/* Masks every file: reference in v (secrets, other sources' roots). */
static int mask_file_refs(struct mounts *ms, const json_t *v,
                          const char *conf_dir)
{
    const char *k;
    json_t *x;
    size_t i;
    char *path;
    int rc = 0;

    if (json_is_string(v) &&
        (path = dsb_confine_file_path(json_string_value(v), conf_dir))) {
        rc = add_mask(ms, path);
        free(path);
    }
    json_object_foreach((json_t *)v, k, x) rc |=
        mask_file_refs(ms, x, conf_dir);
    json_array_foreach(v, i, x) rc |= mask_file_refs(ms, x, conf_dir);
    return rc;
}

/* What the configuration names that a job has no business reading. */
static int add_masks(struct mounts *ms, const struct dsb_config *cfg)
{
    static const char *const shadow[] = {"/etc/shadow", "/etc/gshadow",
                                         "/etc/shadow-", "/etc/gshadow-", NULL};
    int rc = 0;

    for (const char *const *s = shadow; *s; s++)
        rc |= add_mask(ms, *s);
    if (!cfg)
        return rc;
    rc |= add_mask(ms, cfg->dir) | add_mask(ms, cfg->plugin_dir) |
          add_mask(ms, cfg->state_dir);
    rc |= mask_file_refs(ms, cfg->broker, cfg->dir);
    for (size_t i = 0; i < cfg->n_sources; i++)
        rc |= mask_file_refs(ms, cfg->sources[i].options, cfg->dir);
    return rc;
}

/* Shallower first, so a deeper mount lands on top; at one depth reads
 * before masks. */
static int mount_order(const void *a, const void *b)
{
    const struct mnt *x = a, *y = b;

    if (x->depth != y->depth)
        return x->depth < y->depth ? -1 : 1;
    if (x->kind != y->kind)
        return x->kind < y->kind ? -1 : 1;
    return strcmp(x->path, y->path);
}

/* ------------------------------------------------------------- the argv */

static int push2(struct dsb_strv *a, const char *x, const char *y)
{
    return dsb_strv_add(a, x) | dsb_strv_add(a, y);
}

static int push3(struct dsb_strv *a, const char *x, const char *y,
                 const char *z)
{
    return dsb_strv_add(a, x) | push2(a, y, z);
}

/* bwrap 0.8 makes the parents of a bind's destination 0700: make them
 * 0755 first, so the job's user can reach what is bound. */
static int parents(struct dsb_strv *a, const char *path)
{
    char *copy = strdup(path), *dir = copy ? dirname(copy) : NULL;
    int rc = copy ? 0 : -1;

    if (dir && strcmp(dir, "/") != 0)
        rc = push3(a, "--perms", "0755", "--dir") | dsb_strv_add(a, dir);
    free(copy);
    return rc;
}

/* /usr and /etc read-only; /bin, /lib... as the symlinks or directories
 * they are here. */
static int system_mounts(struct mounts *ms, struct dsb_strv *a)
{
    static const char *const dirs[] = {"/usr",   "/etc",    "/bin",
                                       "/sbin",  "/lib",    "/lib32",
                                       "/lib64", "/libx32", NULL};
    char target[4096];
    struct stat st;
    ssize_t n;
    int rc = 0;

    for (const char *const *d = dirs; *d; d++) {
        if (lstat(*d, &st) != 0)
            continue;
        if (S_ISLNK(st.st_mode) &&
            (n = readlink(*d, target, sizeof(target) - 1)) > 0) {
            target[n] = '\0';
            rc |= push3(a, "--symlink", target, *d);
        } else if (S_ISDIR(st.st_mode) && ms->n_roots < 8) {
            rc |= push3(a, "--ro-bind", *d, *d);
            rc |= (ms->roots[ms->n_roots++] = strdup(*d)) ? 0 : -1;
        }
    }
    return rc;
}

/* A fresh /proc (of the new PID namespace), /dev, /tmp and /dev/shm. */
static int fresh_mounts(struct dsb_strv *a)
{
    return push2(a, "--proc", "/proc") | push2(a, "--dev", "/dev") |
           push3(a, "--perms", "1777", "--tmpfs") | dsb_strv_add(a, "/tmp") |
           push3(a, "--perms", "1777", "--tmpfs") | dsb_strv_add(a, "/dev/shm");
}

/* A read, bound where it is; a mask over something a shown tree holds
 * (so its parents exist). */
static int emit_mount(struct dsb_strv *a, const struct mnt *m)
{
    if (m->kind == M_READ)
        return parents(a, m->path) | push3(a, "--ro-bind", m->path, m->path);
    if (m->kind == M_MASK_DIR)
        return push2(a, "--tmpfs", m->path);
    return push3(a, "--ro-bind", "/dev/null", m->path);
}

/* Namespaces and privileges: a root broker's bwrap keeps only what
 * setpriv needs to drop to the job's user; any other's runs in a user
 * namespace that cannot nest another. */
static int ns_flags(const struct dsb_confine_opts *o,
                    const struct dsb_job_user *u, struct dsb_strv *a)
{
    int rc = push3(a, "--unshare-pid", "--unshare-ipc", "--unshare-uts") |
             push2(a, "--unshare-cgroup-try", "--die-with-parent");

    if (o->network == DSB_JOB_NET_NONE)
        rc |= dsb_strv_add(a, "--unshare-net");
    if (!u->drop)
        return rc | push2(a, "--unshare-user", "--disable-userns");
    return rc | push3(a, "--cap-drop", "ALL", "--cap-add") |
           push3(a, "CAP_SETUID", "--cap-add", "CAP_SETGID") |
           push2(a, "--cap-add", "CAP_SETPCAP");
}

/* Inside: setpriv to the job's user (no groups, no capabilities, no new
 * privileges), then env with default signals in dir, taking out the PWD
 * bwrap adds (the job's environment is exactly the broker's
 * allow-list). */
static int inner(const struct tools *t, const struct dsb_job_user *u,
                 const char *dir, struct dsb_strv *a)
{
    int rc = dsb_strv_add(a, "--");

    if (u->drop)
        rc |= dsb_strv_add(a, t->setpriv) |
              dsb_strv_push(a, dsb_asprintf("--reuid=%u", (unsigned)u->uid)) |
              dsb_strv_push(a, dsb_asprintf("--regid=%u", (unsigned)u->gid)) |
              push3(a, "--clear-groups", "--inh-caps=-all",
                    "--bounding-set=-all") |
              dsb_strv_add(a, "--no-new-privs");
    return rc | push3(a, t->env, "--default-signal", "--unset=PWD") |
           dsb_strv_push(a, dsb_asprintf("--chdir=%s", dir));
}

/* The sandbox's mounts in order: system, fresh, reads and masks, work. */
static int mounts_argv(const struct dsb_sandbox *sb, struct dsb_strv *a)
{
    struct mounts ms = {0};
    int rc = system_mounts(&ms, a) | fresh_mounts(a);

    if (rc == 0 && sb->reads)
        rc = add_reads(&ms, sb->reads);
    if (rc == 0)
        rc = add_masks(&ms, sb->cfg);
    if (rc == 0 && ms.n)
        qsort(ms.m, ms.n, sizeof(*ms.m), mount_order);
    for (size_t i = 0; rc == 0 && i < ms.n; i++)
        rc = emit_mount(a, &ms.m[i]);
    if (rc == 0 && sb->work)
        rc = parents(a, sb->work) | push3(a, "--bind", sb->work, sb->work);
    mounts_free(&ms);
    return rc;
}

static int sandbox_with(const struct dsb_sandbox *sb, const struct tools *t,
                        struct dsb_strv *a)
{
    return dsb_strv_add(a, t->bwrap) | ns_flags(sb->o, sb->user, a) |
           mounts_argv(sb, a) |
           inner(t, sb->user, sb->work ? sb->work : "/", a);
}

int dsb_sandbox_argv(const struct dsb_sandbox *sb, struct dsb_strv *argv,
                     struct dsb_error *err)
{
    struct tools t;
    int rc = find_tools(sb->o, sb->executor, &t, err);

    if (rc == 0 && sandbox_with(sb, &t, argv) != 0)
        rc = dsb_error_set(err, DSB_E_INTERNAL, "out of memory");
    tools_free(&t);
    return rc;
}

/* --------------------------------------------------------------- probe */

/* Reads what the probe printed (at most cap - 1 bytes) until it closes
 * its end or 10 s pass. */
static void drain(int fd, char *out, size_t cap)
{
    struct pollfd p = {fd, POLLIN, 0};
    size_t n = 0;
    ssize_t got;

    while (poll(&p, 1, 10000) > 0) {
        char sink[512];
        got = n + 1 < cap ? read(fd, out + n, cap - 1 - n)
                          : read(fd, sink, sizeof(sink));
        if (got <= 0 && !(got < 0 && errno == EINTR))
            break;
        if (got > 0 && n + 1 < cap)
            n += (size_t)got;
    }
    out[n] = '\0';
}

static int probe_failed(const char *name, const char *output, int status,
                        struct dsb_error *err)
{
    size_t n;

    output += strspn(output, "\n"); /* its first line that says something */
    n = strcspn(output, "\n");

    dsb_error_set(
        err, DSB_E_UNAVAILABLE,
        "executor %s cannot confine jobs: bubblewrap could not start a sandbox",
        name);
    dsb_error_detail(err, "%.*s (status %d)", (int)(n < 300 ? n : 300),
                     *output ? output : "no output", status);
    dsb_error_hint(
        err,
        "a broker that is not root needs unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1, user.max_user_namespaces > 0; on Ubuntu 24.04 also an AppArmor profile letting bwrap use them); or run the broker as root, or set isolation: none on the executor knowingly: its jobs then run unconfined");
    return -1;
}

/* Runs `true` in a sandbox like a job's (no reads, no work directory). */
static int run_probe(const struct dsb_confine_opts *o,
                     const struct dsb_job_user *u, const struct tools *t,
                     const char *name, struct dsb_error *err)
{
    struct dsb_sandbox sb = {name, o, u, NULL, NULL, NULL};
    struct dsb_strv argv = {0}, env = {0};
    struct dsb_spawn s = {0};
    int out[2] = {-1, -1}, null = open("/dev/null", O_RDONLY | O_CLOEXEC);
    int status = -1, rc = -1;
    char text[1024] = "";
    pid_t pid;

    if (null < 0 || pipe2(out, O_CLOEXEC) < 0 ||
        sandbox_with(&sb, t, &argv) != 0 || dsb_strv_add(&argv, "true") ||
        dsb_strv_add(&env, "PATH=" SYSTEM_BIN)) {
        dsb_error_set(err, DSB_E_INTERNAL, "cannot prepare the sandbox probe");
        goto fail;
    }
    s = (struct dsb_spawn){argv.v, env.v, "/", {null, out[1], out[1]}, 0, 0};
    if (dsb_spawn(&s, &pid, err) < 0)
        goto fail;
    close(out[1]);
    out[1] = -1;
    drain(out[0], text, sizeof(text));
    kill(pid, SIGKILL); /* if it hung: no-op once it exited */
    waitpid(pid, &status, 0);
    rc = WIFEXITED(status) && WEXITSTATUS(status) == 0
             ? 0
             : probe_failed(name, text, status, err);
fail:
    for (int i = 0; i < 2; i++)
        if (out[i] >= 0)
            close(out[i]);
    if (null >= 0)
        close(null);
    dsb_strv_free(&argv);
    dsb_strv_free(&env);
    return rc;
}

/* The last answers, by what a probe depends on. */
#define PROBE_CACHE 16
static struct probe_answer {
    char key[320];
    int rc;
    struct dsb_error err;
} answers[PROBE_CACHE];
static size_t n_answers;
static pthread_mutex_t answers_mu = PTHREAD_MUTEX_INITIALIZER;

static void probe_key(const struct dsb_confine_opts *o,
                      const struct dsb_job_user *u, const struct tools *t,
                      char *key, size_t cap)
{
    snprintf(key, cap, "%s|%u|%d|%d", t->bwrap, (unsigned)u->uid, u->drop,
             (int)o->network);
}

static void remember(const char *key, int rc, const struct dsb_error *err)
{
    struct probe_answer *a = NULL;

    pthread_mutex_lock(&answers_mu);
    for (size_t i = 0; !a && i < n_answers; i++)
        if (strcmp(answers[i].key, key) == 0)
            a = &answers[i];
    if (!a)
        a = &answers[n_answers < PROBE_CACHE ? n_answers++ : 0];
    snprintf(a->key, sizeof(a->key), "%s", key);
    a->rc = rc;
    a->err = *err;
    pthread_mutex_unlock(&answers_mu);
}

static int recall(const char *key, struct dsb_error *err)
{
    int rc = 1;

    pthread_mutex_lock(&answers_mu);
    for (size_t i = 0; rc == 1 && i < n_answers; i++)
        if (strcmp(answers[i].key, key) == 0) {
            rc = answers[i].rc;
            if (rc < 0)
                *err = answers[i].err;
        }
    pthread_mutex_unlock(&answers_mu);
    return rc;
}

/* fresh: always run the probe; else reuse a remembered answer. */
static int confine_check(const struct dsb_confine_opts *o, const char *name,
                         int fresh, struct dsb_error *err)
{
    struct dsb_job_user u;
    struct dsb_error perr = {0};
    struct tools t = {0};
    char key[320];
    int rc;

    if (dsb_confine_user(o, &u, err) < 0 || find_tools(o, name, &t, err) < 0) {
        tools_free(&t);
        return -1;
    }
    probe_key(o, &u, &t, key, sizeof(key));
    rc = fresh ? 1 : recall(key, err);
    if (rc == 1) {
        rc = run_probe(o, &u, &t, name, &perr);
        remember(key, rc, &perr);
        if (rc < 0)
            *err = perr;
    }
    tools_free(&t);
    return rc;
}

int dsb_confine_probe(const struct dsb_confine_opts *o, const char *name,
                      struct dsb_error *err)
{
    return confine_check(o, name, 1, err);
}

int dsb_confine_ready(const struct dsb_confine_opts *o, const char *name,
                      struct dsb_error *err)
{
    return confine_check(o, name, 0, err);
}
