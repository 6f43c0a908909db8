/* core/util: clocks. */
#include <criterion/criterion.h>
#include <string.h>
#include <time.h>

#include "util.h"

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
