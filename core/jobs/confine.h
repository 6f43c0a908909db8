/*
 * Confinement of local jobs (Linux): each job runs under bubblewrap in new
 * mount, PID, IPC and UTS namespaces, as an unprivileged user, seeing the
 * system read-only plus what its executor and its session need, with its
 * own directory the only place it writes; the fork+exec that starts it
 * applies the resource limits.  docs/security.md says what a job can see
 * and touch under each isolation mode.
 */
#ifndef DSB_CORE_JOBS_CONFINE_H
#define DSB_CORE_JOBS_CONFINE_H

#include <stddef.h>
#include <sys/types.h>

#include <jansson.h>

#include "config.h"
#include "dsbroker/plugin.h"

/* The user a root broker runs jobs as unless run_as names another. */
#define DSB_JOB_USER "dsbroker-job"

enum dsb_isolation { DSB_ISOLATION_BWRAP = 0, DSB_ISOLATION_NONE };
enum dsb_job_net { DSB_JOB_NET_HOST = 0, DSB_JOB_NET_NONE };

/* The values broker.yaml's isolation, network and aws_credentials take
 * (NULL-terminated, the default first). */
extern const char *const dsb_isolation_names[];
extern const char *const dsb_job_net_names[];
extern const char *const dsb_aws_credential_names[];

/* An executor's confinement options, bound from its validated options
 * (strings borrowed from them; an absent option takes its default). */
struct dsb_confine_opts {
    enum dsb_isolation isolation;
    enum dsb_job_net network;
    const char *run_as;          /* NULL: DSB_JOB_USER as root, else own */
    long max_memory_mb;          /* 0: no limit */
    int pass_aws;                /* aws_credentials: pass */
    const char *entry_point_dir; /* NULL: no entry points */
    const char *bwrap;           /* NULL: bwrap on PATH */
};
void dsb_confine_opts_of(const json_t *opts, struct dsb_confine_opts *o);

/* A growable NULL-terminated vector of owned strings ({0} is empty). */
struct dsb_strv {
    char **v;
    size_t n, cap;
};
/* Appends owned (taken; NULL is an allocation failure): 0 or -1. */
int dsb_strv_push(struct dsb_strv *s, char *owned);
/* Appends a copy of s: 0 or -1. */
int dsb_strv_add(struct dsb_strv *s, const char *str);
/* Frees the vector, wiping each string first (environments hold
 * secrets). */
void dsb_strv_free(struct dsb_strv *s);

/* Who a job runs as. */
struct dsb_job_user {
    char name[64];
    uid_t uid;
    gid_t gid;
    int drop; /* 1: the broker is root; the job drops to uid/gid inside
               * the sandbox */
};

/*
 * The user jobs of an executor with options o run as: as root with
 * isolation bwrap, run_as (default DSB_JOB_USER), which must exist and not
 * be root; otherwise the broker's own user (run_as may then only name it).
 * 0, or -1 with err set (DSB_E_UNAVAILABLE, with a hint).
 */
int dsb_confine_user(const struct dsb_confine_opts *o, struct dsb_job_user *u,
                     struct dsb_error *err);

/* The local path of a file: URI or reference ("file:/p", "file:///p",
 * "file:rel" joined to base; a "#key" is cut), malloc'd; NULL for another
 * scheme. */
char *dsb_confine_file_path(const char *uri, const char *base);

/* What one job's sandbox shows. */
struct dsb_sandbox {
    const char *executor; /* its name, for messages */
    const struct dsb_confine_opts *o;
    const struct dsb_job_user *user;
    const struct dsb_config *cfg; /* hidden: its conf.d, plugin_dir,
                                   * state_dir and file: references */
    const char *work;             /* the job's directory, read-write */
    const json_t *reads;          /* paths the job reads (strings): Spark
                                   * and Python installs, jars, data, the
                                   * entry point directory */
};

/*
 * Appends to argv the command that runs the job's own command (the caller
 * appends it next) in the sandbox sb describes: bwrap and its options,
 * then, inside, setpriv (when the job drops to its user) and env, which
 * restores default signal handling and enters sb->work.  Paths in
 * sb->reads that do not exist are left out.  0, or -1 with err set.
 */
int dsb_sandbox_argv(const struct dsb_sandbox *sb, struct dsb_strv *argv,
                     struct dsb_error *err);

/*
 * Whether jobs of executor `name` with options o can be confined here:
 * bwrap, setpriv and env are found, the user resolves and a sandbox like a
 * job's starts.  dsb_confine_probe always tries; dsb_confine_ready reuses
 * the last answer for the same bwrap, user and network.  0, or -1 with err
 * set (DSB_E_UNAVAILABLE: what is missing and how to fix it).
 */
int dsb_confine_probe(const struct dsb_confine_opts *o, const char *name,
                      struct dsb_error *err);
int dsb_confine_ready(const struct dsb_confine_opts *o, const char *name,
                      struct dsb_error *err);

/* A process to start: everything prepared before the fork, so the child
 * only makes system calls (no allocation, no locks) until it execs. */
struct dsb_spawn {
    char *const *argv; /* argv[0]: an absolute path */
    char *const *envp;
    const char *cwd;
    int fds[3];         /* become 0, 1, 2; opened close-on-exec */
    long max_memory_mb; /* RLIMIT_AS; 0: none */
    int ignore_term;    /* SIGTERM ignored (bwrap's monitor: the job, which
                         * env resets, gets it and bwrap follows its exit) */
};

/*
 * Forks and execs s in a new process group, with no_new_privs, core dumps
 * off, umask 077, default signal handling and every other descriptor
 * closed.  *pid is the child.  0 once the exec happened, or -1 with err
 * set (which step failed and why; the child is reaped).
 */
int dsb_spawn(const struct dsb_spawn *s, pid_t *pid, struct dsb_error *err);

#endif
