/* Starting a job's process: fork, then only system calls until exec (the
 * broker is multi-threaded: the child must not allocate or take a lock
 * another thread may have held at the fork). */
#define _GNU_SOURCE
#include "jobs/confine.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* What the child reports through the pipe when a step fails. */
enum step { STEP_SESSION = 1, STEP_FDS, STEP_DIR, STEP_LIMITS, STEP_EXEC };

struct report {
    int step, error;
};

static const char *step_name(int step)
{
    static const char *const names[] = {
        "", "setsid", "descriptors", "working directory", "limits", "exec"};

    return step > 0 && step <= STEP_EXEC ? names[step] : "failed";
}

static void child_fail(int report, int step)
{
    struct report r = {step, errno};

    (void)!write(report, &r, sizeof(r));
    _exit(127);
}

/* Default handling for every signal (the broker's handlers and ignored
 * signals are not the job's), SIGTERM ignored on request, none blocked. */
static void child_signals(int ignore_term)
{
    struct sigaction sa = {.sa_handler = SIG_DFL};
    sigset_t none;

    sigemptyset(&sa.sa_mask);
    for (int s = 1; s < NSIG; s++)
        if (s != SIGKILL && s != SIGSTOP)
            sigaction(s, &sa, NULL); /* EINVAL for libc's own: ignored */
    if (ignore_term) {
        sa.sa_handler = SIG_IGN;
        sigaction(SIGTERM, &sa, NULL);
    }
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
}

/* fds[] onto 0, 1, 2 (through copies above 2, so none is overwritten
 * before it is copied); every other descriptor closed at exec. */
static int child_fds(const int *fds)
{
    int tmp[3];
    struct rlimit nofile;

    for (int i = 0; i < 3; i++)
        if ((tmp[i] = fcntl(fds[i], F_DUPFD, 3)) < 0)
            return -1;
    for (int i = 0; i < 3; i++)
        if (dup2(tmp[i], i) < 0)
            return -1;
    if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) == 0)
        return 0;
    if (getrlimit(RLIMIT_NOFILE, &nofile) < 0)
        return -1;
    for (rlim_t fd = 3; fd < nofile.rlim_cur && fd < 1048576; fd++)
        fcntl((int)fd, F_SETFD, FD_CLOEXEC);
    return 0;
}

static int child_limits(long max_memory_mb)
{
    struct rlimit core = {0, 0}, as;

    if (setrlimit(RLIMIT_CORE, &core) < 0)
        return -1;
    if (max_memory_mb <= 0)
        return 0;
    as.rlim_cur = as.rlim_max = (rlim_t)max_memory_mb << 20;
    return setrlimit(RLIMIT_AS, &as);
}

/* A new session (no controlling terminal to push input into, and a
 * process group of its own that the tracker signals), then the rest. */
static void child(const struct dsb_spawn *s, int report)
{
    if (setsid() < 0)
        child_fail(report, STEP_SESSION);
    child_signals(s->ignore_term);
    if (child_fds(s->fds) < 0)
        child_fail(report, STEP_FDS);
    if (chdir(s->cwd) < 0)
        child_fail(report, STEP_DIR);
    umask(077);
    if (child_limits(s->max_memory_mb) < 0 ||
        prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        child_fail(report, STEP_LIMITS);
    execve(s->argv[0], s->argv, s->envp);
    child_fail(report, STEP_EXEC);
}

int dsb_spawn(const struct dsb_spawn *s, pid_t *pid, struct dsb_error *err)
{
    struct report r = {0, 0};
    int p[2];
    ssize_t n;

    if (pipe2(p, O_CLOEXEC) < 0)
        return dsb_error_set(err, DSB_E_INTERNAL, "cannot start %s: %s",
                             s->argv[0], strerror(errno));
    *pid = fork();
    if (*pid == 0)
        child(s, p[1]);
    close(p[1]);
    if (*pid < 0) {
        close(p[0]);
        return dsb_error_set(err, DSB_E_INTERNAL, "cannot start %s: %s",
                             s->argv[0], strerror(errno));
    }
    do /* end of file: the exec closed the pipe */
        n = read(p[0], &r, sizeof(r));
    while (n < 0 && errno == EINTR);
    close(p[0]);
    if (n != (ssize_t)sizeof(r))
        return 0;
    waitpid(*pid, NULL, 0);
    return dsb_error_set(err, DSB_E_UNAVAILABLE, "cannot start %s (%s): %s",
                         s->argv[0], step_name(r.step), strerror(r.error));
}
