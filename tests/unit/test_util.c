/* core/util: randomness and clocks. */
#include <criterion/criterion.h>
#include <string.h>
#include <time.h>

#include "util.h"

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
                      (at.tv_nsec - now.tv_nsec) / 1000000, 1999);
    cr_assert_leq(at.tv_sec - now.tv_sec, 3);
}
