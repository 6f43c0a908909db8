/* core/util: the string builder, randomness and clocks. */
#include <stdint.h>
#include <criterion/criterion.h>
#include <string.h>
#include <time.h>

#include "util.h"

Test(util, builder_appends_and_hands_over)
{
    struct dsb_sb b = {0};
    char *s;

    cr_assert_str_eq(dsb_sb_str(&b), "");
    dsb_sb_adds(&b, "ab");
    dsb_sb_addc(&b, 'c');
    dsb_sb_add(&b, "d\0e", 3);
    dsb_sb_addf(&b, "-%d-%s", 42, "x");
    cr_assert_eq(b.len, 11);
    cr_assert_eq(memcmp(b.p, "abcd\0e-42-x", 12), 0);
    for (int i = 0; i < 1000; i++)
        dsb_sb_addc(&b, 'z');
    cr_assert_eq(b.len, 1011);
    cr_assert_eq(b.p[1011], '\0');
    s = dsb_sb_take(&b);
    cr_assert_eq(b.p, NULL);
    cr_assert_eq(b.len, 0);
    cr_assert_eq(s[1010], 'z');
    free(s);
    s = dsb_sb_take(&b);
    cr_assert_str_eq(s, "", "an empty builder hands over \"\"");
    free(s);
}

/* A failed allocation latches: nothing more is added, take says NULL. */
Test(util, builder_latches_a_failed_allocation)
{
    struct dsb_sb b = {0};

    dsb_sb_adds(&b, "kept");
    dsb_sb_add(&b, "x", SIZE_MAX - 2);
    cr_assert(b.oom);
    dsb_sb_adds(&b, "more");
    cr_assert_str_eq(dsb_sb_str(&b), "kept");
    cr_assert_null(dsb_sb_take(&b));
    cr_assert_null(b.p);
    cr_assert_eq(b.oom, 0, "take frees and resets the builder");
}

/* 2n lower-case hex digits, also past the 32-byte chunks it reads in. */
Test(util, random_hex_has_the_asked_length_and_varies)
{
    char a[2 * 40 + 1], b[2 * 40 + 1];

    memset(a, 'x', sizeof(a));
    cr_assert_eq(dsb_random_hex(a, 40), 0);
    cr_assert_eq(strlen(a), 80);
    cr_assert_eq(strspn(a, "0123456789abcdef"), 80, "%s", a);
    cr_assert_eq(dsb_random_hex(b, 40), 0);
    cr_assert_str_neq(a, b);
    cr_assert_eq(dsb_random_hex(a, 0), 0);
    cr_assert_str_eq(a, "");
}

Test(util, random_bytes_fill_the_buffer)
{
    unsigned char buf[4096] = {0};
    size_t zeros = 0;

    cr_assert_eq(dsb_random_bytes(buf, sizeof(buf)), 0);
    for (size_t i = 0; i < sizeof(buf); i++)
        zeros += buf[i] == 0;
    cr_assert_lt(zeros, 64, "%zu zero bytes of 4096", zeros);
}

Test(util, iso_time_is_utc_with_milliseconds)
{
    char ts[DSB_ISO_TIME_LEN];

    dsb_iso_time(0, ts);
    cr_assert_str_eq(ts, "1970-01-01T00:00:00.000Z");
    dsb_iso_time(1700000000123, ts);
    cr_assert_str_eq(ts, "2023-11-14T22:13:20.123Z");
    dsb_iso_time(4102444799999, ts);
    cr_assert_str_eq(ts, "2099-12-31T23:59:59.999Z");
}

Test(util, wall_clock_is_the_time_of_day)
{
    int64_t before = (int64_t)time(NULL) * 1000, now = dsb_wall_ms();

    cr_assert_geq(now, before);
    cr_assert_lt(now, before + 2000, "%lld vs %lld", (long long)now,
                 (long long)before);
}

Test(util, monotonic_clock_does_not_go_back)
{
    int64_t us = dsb_monotonic_us(), ms = dsb_monotonic_ms();

    cr_assert_geq(ms, us / 1000);
    cr_assert_geq(dsb_monotonic_us(), us);
}

Test(util, clock_after_carries_nanoseconds)
{
    struct timespec now, at;

    clock_gettime(CLOCK_MONOTONIC, &now);
    dsb_clock_after(CLOCK_MONOTONIC, 1999, &at);
    cr_assert_lt(at.tv_nsec, 1000000000L);
    cr_assert_geq(at.tv_nsec, 0);
    cr_assert_geq((int64_t)(at.tv_sec - now.tv_sec) * 1000 +
                      (at.tv_nsec - now.tv_nsec) / 1000000,
                  1999);
    cr_assert_leq(at.tv_sec - now.tv_sec, 3);
}
