/* Small helpers shared by the core: strings and the string builder, paths,
 * randomness and the clocks. */
#ifndef DSB_CORE_UTIL_H
#define DSB_CORE_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "dsbroker/plugin.h"

/* malloc'd printf; NULL when memory is exhausted. */
char *dsb_asprintf(const char *fmt, ...) DSB_PRINTF(1, 2);
/* strdup that accepts NULL (returns NULL). */
char *dsb_strdup0(const char *s);
/* Joins dir and name with one '/'; absolute names are returned as is. */
char *dsb_path_join(const char *dir, const char *name);
/* Absolute, normalised form of path (which must exist); NULL otherwise. */
char *dsb_realpath(const char *path);
/* Reads a whole file (max `limit` bytes) into a NUL-terminated buffer. */
char *dsb_read_file(const char *path, size_t limit, size_t *len);
/* The same from an open descriptor (read from where it is; fd stays
 * open). */
char *dsb_read_fd(int fd, size_t limit, size_t *len);
int dsb_str_has_suffix(const char *s, const char *suffix);
/* Levenshtein distance, capped at `cap` (returns cap when >= cap). */
size_t dsb_edit_distance(const char *a, const char *b, size_t cap);

/* ---------------------------------------------------------- string builder
 * The core's one growable string.  Zero-initialise it ({0}), add to it,
 * then take the string or free the builder.  p is NUL-terminated once
 * something was added.  The first allocation failure latches `oom` (later
 * adds do nothing), so callers check once at the end.  Memory the builder
 * lets go of is wiped first: it may hold credentials (SigV4 keys, tokens,
 * interpolated settings). */
struct dsb_sb {
    char *p;
    size_t len;
    size_t cap;
    int oom;
};

void dsb_sb_add(struct dsb_sb *b, const void *s, size_t n);
void dsb_sb_adds(struct dsb_sb *b, const char *s);
void dsb_sb_addc(struct dsb_sb *b, char c);
void dsb_sb_addf(struct dsb_sb *b, const char *fmt, ...) DSB_PRINTF(2, 3);
/* The string so far, borrowed ("" before anything was added). */
const char *dsb_sb_str(const struct dsb_sb *b);
/* Takes the string (malloc'd, "" when nothing was added; the caller frees
 * it) and empties the builder.  After an allocation failure: NULL, and the
 * builder is freed. */
char *dsb_sb_take(struct dsb_sb *b);
/* Wipes and frees what the builder holds; it is empty again. */
void dsb_sb_free(struct dsb_sb *b);

/* ------------------------------------------------------------ randomness
 * The core's one source of random bytes: getrandom(2). */

/* Fills buf with n random bytes (retried on EINTR and short reads).
 * Returns 0, or -1 with errno set (ENOSYS: the kernel has no getrandom). */
int dsb_random_bytes(void *buf, size_t n);
/* n random bytes as 2n lower-case hex digits and a NUL (out holds 2n + 1
 * bytes).  Returns 0, or -1 with errno set and out "". */
int dsb_random_hex(char *out, size_t n);

/* ------------------------------------------------------------------ memory
 * glibc keeps what a thread freed in that thread's arena (up to 8 arenas a
 * core), so a broker that built a large answer on each of its call threads
 * held the peak of every one of them: RSS crept by ~170 MB a round of cold
 * listings of a 10,000-table schema and was never given back. */

/* Bounds the malloc arenas to DSB_MALLOC_ARENAS and maps blocks of
 * DSB_MALLOC_MMAP_BYTES or more on their own, unless the environment
 * sets MALLOC_ARENA_MAX or GLIBC_TUNABLES.  Call before any thread starts;
 * nothing where the C library is not glibc. */
#define DSB_MALLOC_ARENAS 2
#define DSB_MALLOC_MMAP_BYTES (1 << 20) /* blocks this large: own mappings */
void dsb_malloc_bound(void);
/* Gives free heap pages back to the system (malloc_trim); takes a few
 * milliseconds on a large heap: never on a request path. */
void dsb_malloc_trim(void);

/* ------------------------------------------------------------------ clocks
 * The core reads the time only through these. */

/* Milliseconds since the Unix epoch (CLOCK_REALTIME): the time of day, for
 * timestamps that are stored or shown. */
int64_t dsb_wall_ms(void);
/* Monotonic milliseconds and microseconds: durations, deadlines, expiry. */
int64_t dsb_monotonic_ms(void);
int64_t dsb_monotonic_us(void);
/* *at = ms from now on `clock` (the clock the condition variable waits on:
 * CLOCK_REALTIME unless its attributes say CLOCK_MONOTONIC), the absolute
 * time pthread_cond_timedwait takes. */
void dsb_clock_after(clockid_t clock, int64_t ms, struct timespec *at);

#define DSB_ISO_TIME_LEN 32
/* A wall time as "YYYY-MM-DDTHH:MM:SS.mmmZ" (UTC, milliseconds). */
void dsb_iso_time(int64_t wall_ms, char out[DSB_ISO_TIME_LEN]);

#endif
