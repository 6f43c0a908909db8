/* sources.allowed_hosts: rules, matching, metadata addresses, and the
 * rule each refusal names. */
#include <criterion/criterion.h>
#include <string.h>

#include "allowlist.h"

static struct dsb_allow_rule rules[8];
static char why[512];

static size_t parse(const char *const *texts)
{
    size_t n = 0;

    for (; texts[n]; n++)
        cr_assert_eq(dsb_allow_parse(texts[n], &rules[n], why, sizeof(why)), 0,
                     "%s: %s", texts[n], why);
    return n;
}

Test(allowlist, rules_parse_or_say_what_to_write)
{
    static const char *const bad[] = {
        "",   "10.0.0.0/33", "a b",    "[::1", "host:0",
        "*.", "db:65536",    "[::1]x", "h/8",  "10.0.0.1/"};

    parse((const char *const[]){"db.example.com", "*.example.com:5432",
                                "10.0.0.0/8", "127.0.0.1:5432", "[::1]",
                                "[fd00::]/8:5432", NULL});
    cr_assert_eq(rules[1].port, 5432);
    cr_assert_eq(rules[2].prefix, 8);
    cr_assert_eq(rules[5].prefix, 8);
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        cr_assert_eq(dsb_allow_parse(bad[i], &rules[0], why, sizeof(why)), -1,
                     "%s", bad[i]);
        cr_assert(strstr(why, "is not a host rule"), "%s", why);
    }
}

Test(allowlist, without_a_list_only_metadata_is_refused)
{
    cr_assert_eq(dsb_allow_check(NULL, 0, "127.0.0.1", 5432, why, sizeof(why)),
                 0);
    cr_assert_eq(
        dsb_allow_check(NULL, 0, "169.254.169.254", 80, why, sizeof(why)), -1);
    cr_assert(strstr(why, "cloud metadata address"), "%s", why);
    cr_assert_eq(
        dsb_allow_check(NULL, 0, "[fd00:ec2::254]", 80, why, sizeof(why)), -1);
    cr_assert_eq(dsb_allow_check(NULL, 0, "::ffff:169.254.169.254", 80, why,
                                 sizeof(why)),
                 -1, "an IPv4-mapped address is the IPv4 one");
    cr_assert_eq(
        dsb_allow_check(NULL, 0, "169.254.170.2", 80, why, sizeof(why)), -1);
}

Test(allowlist, rules_allow_and_refusals_name_the_rule)
{
    size_t n =
        parse((const char *const[]){"127.0.0.0/8:5432", "localhost", NULL});

    cr_assert_eq(dsb_allow_check(rules, n, "127.0.0.1", 5432, why, sizeof(why)),
                 0);
    cr_assert_eq(dsb_allow_check(rules, n, "127.0.0.1", 5433, why, sizeof(why)),
                 -1);
    cr_assert(strstr(why, "rule \"127.0.0.0/8:5432\"") &&
                  strstr(why, "allows port 5432 only"),
              "%s", why);
    cr_assert_eq(dsb_allow_check(rules, n, "10.1.2.3", 5432, why, sizeof(why)),
                 -1);
    cr_assert(strstr(why, "matches no rule of sources.allowed_hosts"), "%s",
              why);
    /* a name rule allows the name, whatever it resolves to */
    cr_assert_eq(dsb_allow_check(rules, n, "LOCALHOST", 1, why, sizeof(why)), 0,
                 "%s", why);
    /* an empty list allows nothing */
    cr_assert_eq(dsb_allow_check(rules, 0, "127.0.0.1", 5432, why, sizeof(why)),
                 -1);
}

Test(allowlist, metadata_only_when_listed_narrowly)
{
    size_t n = parse((const char *const[]){"0.0.0.0/0", NULL});

    cr_assert_eq(
        dsb_allow_check(rules, n, "169.254.169.254", 80, why, sizeof(why)), -1,
        "0.0.0.0/0 does not list a metadata address");
    n = parse((const char *const[]){"169.254.169.254:80", NULL});
    cr_assert_eq(
        dsb_allow_check(rules, n, "169.254.169.254", 80, why, sizeof(why)), 0,
        "%s", why);
}
