/* A job's files read in bounded memory: the tail of a log, read backwards
 * from its end, and the bytes under the job's directory. */
#include "jobs/internal.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TAIL_CHUNK 16384
/* Directories nested deeper than this are not descended into. */
#define WALK_DEPTH_MAX 64

/* Reads n bytes at off (fewer at the end of the file); -1 on error. */
static ssize_t read_at(int fd, char *buf, size_t n, off_t off)
{
    size_t got = 0;

    while (got < n) {
        ssize_t r = pread(fd, buf + got, n - got, off + (off_t)got);
        if (r < 0)
            return -1;
        if (r == 0)
            break;
        got += (size_t)r;
    }
    return (ssize_t)got;
}

/* Where the last `lines` lines of a file of size bytes begin, no further
 * back than max bytes from its end; its last byte, when a newline, ends
 * the last line rather than beginning another. */
static off_t tail_start(int fd, off_t size, size_t lines, size_t max)
{
    char buf[TAIL_CHUNK];
    off_t floor = (size_t)size > max ? size - (off_t)max : 0, end = size;
    size_t seen = 0;

    while (lines && end > floor) {
        size_t n = (size_t)(end - floor) < sizeof(buf) ? (size_t)(end - floor)
                                                       : sizeof(buf);
        off_t at = end - (off_t)n;
        if (read_at(fd, buf, n, at) != (ssize_t)n)
            return floor;
        for (size_t i = n; i-- > 0;)
            if (buf[i] == '\n' && at + (off_t)i != size - 1 && ++seen == lines)
                return at + (off_t)i + 1;
        end = at;
    }
    return floor;
}

char *dsb_file_tail(const char *path, size_t lines, size_t max, size_t spare,
                    size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    struct stat st;
    char *buf = NULL;
    ssize_t got = -1;
    off_t from;

    *len = 0;
    if (fd < 0)
        return NULL;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
        from = tail_start(fd, st.st_size, lines, max);
        buf = malloc((size_t)(st.st_size - from) + spare + 1);
        if (buf)
            got = read_at(fd, buf, (size_t)(st.st_size - from), from);
    }
    close(fd);
    if (got < 0) {
        free(buf);
        return NULL;
    }
    buf[got] = '\0';
    *len = (size_t)got;
    return buf;
}

static int skipped(const char *name, const char *const *skip)
{
    if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        return 1;
    for (; skip && *skip; skip++)
        if (strcmp(name, *skip) == 0)
            return 1;
    return 0;
}

/* total plus the bytes under directory dfd (taken over and closed). */
static int64_t walk(int dfd, int depth, const char *const *skip, int64_t total,
                    int64_t stop_at)
{
    DIR *d = fdopendir(dfd);
    struct dirent *e;
    struct stat st;
    int sub;

    if (!d) {
        close(dfd);
        return total;
    }
    while (total <= stop_at && (e = readdir(d)) != NULL) {
        if (skipped(e->d_name, skip) ||
            fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
            continue;
        if (S_ISREG(st.st_mode))
            total += st.st_size;
        else if (S_ISDIR(st.st_mode) && depth < WALK_DEPTH_MAX &&
                 (sub = openat(dirfd(d), e->d_name,
                               O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
                                   O_CLOEXEC)) >= 0)
            total = walk(sub, depth + 1, NULL, total, stop_at);
    }
    closedir(d);
    return total;
}

int64_t dsb_dir_bytes(const char *dir, const char *const *skip, int64_t stop_at)
{
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

    return dfd < 0 ? 0 : walk(dfd, 0, skip, 0, stop_at);
}
