#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

char *dsb_asprintf(const char *fmt, ...)
{
    va_list ap;
    int n;
    char *out;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return NULL;
    out = malloc((size_t)n + 1);
    if (!out)
        return NULL;
    va_start(ap, fmt);
    vsnprintf(out, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return out;
}

char *dsb_strdup0(const char *s)
{
    return s ? strdup(s) : NULL;
}

char *dsb_path_join(const char *dir, const char *name)
{
    size_t n;

    if (name[0] == '/' || !dir || !dir[0])
        return strdup(name);
    n = strlen(dir);
    return dsb_asprintf("%s%s%s", dir, dir[n - 1] == '/' ? "" : "/", name);
}

char *dsb_realpath(const char *path)
{
    return realpath(path, NULL);
}

/* The rest of f (closed), as dsb_read_file. */
static char *read_stream(FILE *f, size_t limit, size_t *len)
{
    char *buf = NULL;
    size_t cap = 0, n = 0;

    if (!f)
        return NULL;
    for (;;) {
        if (n + 4096 + 1 > cap) {
            char *nb;
            cap = cap ? cap * 2 : 8192;
            nb = realloc(buf, cap);
            if (!nb)
                goto fail;
            buf = nb;
        }
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (n > limit) {
            errno = EFBIG;
            goto fail;
        }
        if (got == 0)
            break;
    }
    if (ferror(f))
        goto fail;
    fclose(f);
    buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
fail:
    free(buf);
    fclose(f);
    return NULL;
}

char *dsb_read_file(const char *path, size_t limit, size_t *len)
{
    return read_stream(fopen(path, "rb"), limit, len);
}

char *dsb_read_fd(int fd, size_t limit, size_t *len)
{
    int copy = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    FILE *f = copy >= 0 ? fdopen(copy, "rb") : NULL;

    if (!f && copy >= 0)
        close(copy);
    return read_stream(f, limit, len);
}

int dsb_str_has_suffix(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

size_t dsb_edit_distance(const char *a, const char *b, size_t cap)
{
    size_t la = strlen(a), lb = strlen(b), row[64], i, j;

    if (lb >= 63 || la >= 63)
        return cap;
    for (j = 0; j <= lb; j++)
        row[j] = j;
    for (i = 1; i <= la; i++) {
        size_t diag = row[0], best;
        row[0] = i;
        best = row[0];
        for (j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
            size_t v = diag + cost;
            if (up + 1 < v)
                v = up + 1;
            if (row[j - 1] + 1 < v)
                v = row[j - 1] + 1;
            row[j] = v;
            diag = up;
            if (v < best)
                best = v;
        }
        if (best >= cap)
            return cap;
    }
    return row[lb] < cap ? row[lb] : cap;
}

/* -------------------------------------------------------- string builder */

static int sb_reserve(struct dsb_sb *b, size_t extra)
{
    size_t need, cap;
    char *p;

    if (b->oom)
        return -1;
    if (extra >= SIZE_MAX / 2 - b->len) {
        b->oom = 1;
        return -1;
    }
    need = b->len + extra + 1;
    if (need <= b->cap)
        return 0;
    cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap *= 2;
    if (!(p = malloc(cap))) {
        b->oom = 1;
        return -1;
    }
    if (b->p) {
        memcpy(p, b->p, b->len + 1);
        explicit_bzero(b->p, b->cap);
        free(b->p);
    }
    b->p = p;
    b->cap = cap;
    return 0;
}

void dsb_sb_add(struct dsb_sb *b, const void *s, size_t n)
{
    if (sb_reserve(b, n) < 0)
        return;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void dsb_sb_adds(struct dsb_sb *b, const char *s)
{
    dsb_sb_add(b, s, strlen(s));
}

void dsb_sb_addc(struct dsb_sb *b, char c)
{
    dsb_sb_add(b, &c, 1);
}

void dsb_sb_addf(struct dsb_sb *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || sb_reserve(b, (size_t)n) < 0) {
        b->oom = 1;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

const char *dsb_sb_str(const struct dsb_sb *b)
{
    return b->p ? b->p : "";
}

char *dsb_sb_take(struct dsb_sb *b)
{
    char *p;

    if (!b->p && sb_reserve(b, 0) == 0)
        b->p[0] = '\0';
    if (b->oom) {
        dsb_sb_free(b);
        return NULL;
    }
    p = b->p;
    memset(b, 0, sizeof(*b));
    return p;
}

void dsb_sb_free(struct dsb_sb *b)
{
    if (b->p) {
        explicit_bzero(b->p, b->cap);
        free(b->p);
    }
    memset(b, 0, sizeof(*b));
}

/* ------------------------------------------------------------ randomness */

int dsb_random_bytes(void *buf, size_t n)
{
    unsigned char *p = buf;

    while (n > 0) {
        ssize_t got = getrandom(p, n, 0);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0) {
            if (got == 0)
                errno = EIO;
            return -1;
        }
        p += got;
        n -= (size_t)got;
    }
    return 0;
}

int dsb_random_hex(char *out, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    unsigned char b[32];

    for (size_t done = 0, k; done < n; done += k) {
        k = n - done < sizeof(b) ? n - done : sizeof(b);
        if (dsb_random_bytes(b, k) < 0) {
            out[0] = '\0';
            return -1;
        }
        for (size_t i = 0; i < k; i++) {
            out[2 * (done + i)] = digits[b[i] >> 4];
            out[2 * (done + i) + 1] = digits[b[i] & 15];
        }
    }
    out[2 * n] = '\0';
    return 0;
}

/* ------------------------------------------------------------------ clocks */

static int64_t clock_us(clockid_t clock)
{
    struct timespec ts;

    clock_gettime(clock, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t dsb_wall_ms(void)
{
    return clock_us(CLOCK_REALTIME) / 1000;
}

int64_t dsb_monotonic_us(void)
{
    return clock_us(CLOCK_MONOTONIC);
}

int64_t dsb_monotonic_ms(void)
{
    return dsb_monotonic_us() / 1000;
}

void dsb_clock_after(clockid_t clock, int64_t ms, struct timespec *at)
{
    clock_gettime(clock, at);
    at->tv_sec += (time_t)(ms / 1000);
    at->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (at->tv_nsec >= 1000000000L) {
        at->tv_sec++;
        at->tv_nsec -= 1000000000L;
    }
}

/* Days since 1970-01-01 to a civil date (proleptic Gregorian; Howard
 * Hinnant's algorithm): gmtime_r would take glibc's time-zone lock, and the
 * logger stamps every line. */
static void civil(int64_t days, int *y, int *m, int *d)
{
    int64_t z = days + 719468, era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;

    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = (int)(yoe + era * 400 + (*m <= 2));
}

/* v as exactly `width` digits at p; returns p + width. */
static char *digits(char *p, int64_t v, int width)
{
    for (int i = width - 1; i >= 0; i--, v /= 10)
        p[i] = (char)('0' + v % 10);
    return p + width;
}

void dsb_iso_time(int64_t wall_ms, char out[DSB_ISO_TIME_LEN])
{
    int64_t ms = (wall_ms % 1000 + 1000) % 1000, s = (wall_ms - ms) / 1000;
    int64_t sod = (s % 86400 + 86400) % 86400;
    int y, mo, d;
    char *p = out;

    civil((s - sod) / 86400, &y, &mo, &d);
    if (y < 0 || y > 9999) {
        snprintf(out, DSB_ISO_TIME_LEN, "(year %d)", y);
        return;
    }
    p = digits(p, y, 4);
    *p++ = '-';
    p = digits(p, mo, 2);
    *p++ = '-';
    p = digits(p, d, 2);
    *p++ = 'T';
    p = digits(p, sod / 3600, 2);
    *p++ = ':';
    p = digits(p, sod / 60 % 60, 2);
    *p++ = ':';
    p = digits(p, sod % 60, 2);
    *p++ = '.';
    p = digits(p, ms, 3);
    *p++ = 'Z';
    *p = '\0';
}

void dsb_malloc_bound(void)
{
#ifdef __GLIBC__
    if (getenv("MALLOC_ARENA_MAX") || getenv("GLIBC_TUNABLES"))
        return;
    mallopt(M_ARENA_MAX, DSB_MALLOC_ARENAS);
    /* fixed: glibc otherwise raises it to the largest block freed, and
     * answers of megabytes then stay in the heap after they are sent */
    mallopt(M_MMAP_THRESHOLD, DSB_MALLOC_MMAP_BYTES);
#endif
}

void dsb_malloc_trim(void)
{
#ifdef __GLIBC__
    malloc_trim(0);
#endif
}
