#include "allowlist.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

/* Cloud instance metadata and credential endpoints (AWS IMDS, ECS and EKS
 * credentials, Alibaba); GCP's and Azure's are 169.254.169.254 too. */
static const char *const metadata_addrs[] = {"169.254.169.254",
                                             "169.254.170.2",
                                             "169.254.170.23",
                                             "100.100.100.200",
                                             "fd00:ec2::254",
                                             "fd00:ec2::23",
                                             NULL};

#define MAX_ADDRS 16

struct addr {
    int family;
    unsigned char b[16];
    char text[INET6_ADDRSTRLEN];
};

static int port_of(const char *s, int *port)
{
    char *end;
    long v = strtol(s, &end, 10);

    if (!isdigit((unsigned char)*s) || *end || v < 1 || v > 65535)
        return -1;
    *port = (int)v;
    return 0;
}

static int prefix_of(char *s, int max, int *prefix)
{
    char *slash = strchr(s, '/'), *end;
    long v;

    *prefix = max;
    if (!slash)
        return 0;
    *slash = '\0';
    v = strtol(slash + 1, &end, 10);
    if (!isdigit((unsigned char)slash[1]) || *end || v < 0 || v > max)
        return -1;
    *prefix = (int)v;
    return 0;
}

static int name_ok(const char *s)
{
    const char *p = strncmp(s, "*.", 2) == 0 ? s + 2 : s;

    return *p &&
           strspn(p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                     "0123456789.-") == strlen(p);
}

/* The host part of r (port already cut off). */
static int parse_host(char *h, int bracket, struct dsb_allow_rule *r)
{
    if (bracket) {
        r->family = AF_INET6;
        return prefix_of(h, 128, &r->prefix) < 0 ||
                       inet_pton(AF_INET6, h, r->addr) != 1
                   ? -1
                   : 0;
    }
    if (prefix_of(h, 32, &r->prefix) < 0)
        return -1;
    if (inet_pton(AF_INET, h, r->addr) == 1) {
        r->family = AF_INET;
        return 0;
    }
    if (r->prefix != 32 || !name_ok(h))
        return -1;
    snprintf(r->name, sizeof(r->name), "%s", h);
    return 0;
}

int dsb_allow_parse(const char *rule, struct dsb_allow_rule *r, char *why,
                    size_t why_len)
{
    char buf[256], *port = NULL, *h = buf;
    int bracket = rule[0] == '[';

    memset(r, 0, sizeof(*r));
    if (strlen(rule) >= sizeof(buf))
        goto bad;
    snprintf(r->text, sizeof(r->text), "%s", rule);
    snprintf(buf, sizeof(buf), "%s", rule);
    if (bracket) { /* [v6][/n][:port] -> "v6[/n]" and the port */
        char *close = strchr(buf, ']');
        if (!close || (close[1] && close[1] != '/' && close[1] != ':'))
            goto bad;
        port = strchr(close + 1, ':');
        if (port)
            *port++ = '\0';
        memmove(close, close + 1, strlen(close + 1) + 1);
        h = buf + 1;
        if (port && port_of(port, &r->port) < 0)
            goto bad;
        port = NULL;
    } else {
        port = strchr(buf, ':');
    }
    if (port) {
        *port++ = '\0';
        if (port_of(port, &r->port) < 0)
            goto bad;
    }
    if (parse_host(h, bracket, r) == 0)
        return 0;
bad:
    snprintf(why, why_len,
             "\"%.200s\" is not a host rule: write a name (db.example.com, "
             "*.example.com), an address or CIDR (10.0.0.0/8, [fd00::]/8), "
             "each optionally with :port",
             rule);
    return -1;
}

static int in_prefix(const unsigned char *a, const unsigned char *net, int bits)
{
    int whole = bits / 8, rest = bits % 8;

    if (memcmp(a, net, (size_t)whole) != 0)
        return 0;
    return !rest || ((a[whole] ^ net[whole]) & (0xff << (8 - rest))) == 0;
}

static int rule_has_addr(const struct dsb_allow_rule *r, const struct addr *a)
{
    return r->family == a->family && in_prefix(a->b, r->addr, r->prefix);
}

static int name_matches(const struct dsb_allow_rule *r, const char *host)
{
    size_t nh = strlen(host), ns;

    if (!r->name[0])
        return 0;
    if (strncmp(r->name, "*.", 2) != 0)
        return strcasecmp(r->name, host) == 0;
    ns = strlen(r->name + 1); /* ".suffix" */
    return nh > ns && strcasecmp(host + nh - ns, r->name + 1) == 0;
}

static void addr_set(struct addr *a, int family, const void *bytes)
{
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0,    0,
                                             0, 0, 0, 0, 0xff, 0xff};

    a->family = family;
    memset(a->b, 0, sizeof(a->b));
    memcpy(a->b, bytes, family == AF_INET ? 4 : 16);
    if (family == AF_INET6 && memcmp(a->b, mapped, 12) == 0) {
        memmove(a->b, a->b + 12, 4); /* ::ffff:a.b.c.d is a.b.c.d */
        memset(a->b + 4, 0, 12);
        a->family = AF_INET;
    }
    inet_ntop(a->family, a->b, a->text, sizeof(a->text));
}

/* The host's addresses (a literal, or resolved); how many. */
static size_t addrs_of(const char *host, struct addr *out)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL, *ai;
    unsigned char b[16];
    char h[256];
    size_t n = 0;

    snprintf(h, sizeof(h), "%s", host);
    if (h[0] == '[' && h[strlen(h) - 1] == ']') {
        memmove(h, h + 1, strlen(h));
        h[strlen(h) - 1] = '\0';
    }
    if (inet_pton(AF_INET, h, b) == 1 || inet_pton(AF_INET6, h, b) == 1) {
        addr_set(out, strchr(h, ':') ? AF_INET6 : AF_INET, b);
        return 1;
    }
    if (getaddrinfo(h, NULL, &hints, &res) != 0)
        return 0;
    for (ai = res; ai && n < MAX_ADDRS; ai = ai->ai_next) {
        if (ai->ai_family == AF_INET)
            addr_set(&out[n++], AF_INET,
                     &((struct sockaddr_in *)ai->ai_addr)->sin_addr);
        else if (ai->ai_family == AF_INET6)
            addr_set(&out[n++], AF_INET6,
                     &((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr);
    }
    freeaddrinfo(res);
    return n;
}

static int is_metadata(const struct addr *a)
{
    for (size_t i = 0; metadata_addrs[i]; i++) {
        struct addr m;
        unsigned char b[16];
        int fam = strchr(metadata_addrs[i], ':') ? AF_INET6 : AF_INET;
        inet_pton(fam, metadata_addrs[i], b);
        addr_set(&m, fam, b);
        if (m.family == a->family && memcmp(m.b, a->b, 16) == 0)
            return 1;
    }
    return 0;
}

static int port_ok(const struct dsb_allow_rule *r, int port)
{
    return !r->port || !port || r->port == port;
}

/* A metadata address is listed by an address rule of /16 or narrower. */
static int metadata_listed(const struct dsb_allow_rule *rules, size_t n,
                           const struct addr *a, int port)
{
    for (size_t i = 0; rules && i < n; i++)
        if (rule_has_addr(&rules[i], a) && port_ok(&rules[i], port) &&
            rules[i].prefix >= (a->family == AF_INET ? 16 : 64))
            return 1;
    return 0;
}

/* The rule allowing the host by name or the address, or NULL; *near gets
 * a rule that matched all but the port. */
static const struct dsb_allow_rule *allowing(const struct dsb_allow_rule *rules,
                                             size_t n, const char *host,
                                             const struct addr *a, int port,
                                             const struct dsb_allow_rule **near)
{
    for (size_t i = 0; i < n; i++) {
        const struct dsb_allow_rule *r = &rules[i];
        if (!name_matches(r, host) && !(a && rule_has_addr(r, a)))
            continue;
        if (port_ok(r, port))
            return r;
        *near = r;
    }
    return NULL;
}

static int refuse(const char *host, int port, const struct addr *a,
                  const struct dsb_allow_rule *near, char *why, size_t n)
{
    char at[80] = "";

    if (a && strcmp(a->text, host) != 0)
        snprintf(at, sizeof(at), " (%s)", a->text);
    if (near)
        snprintf(why, n,
                 "host \"%.200s\"%s port %d is refused: rule \"%s\" of "
                 "sources.allowed_hosts allows port %d only",
                 host, at, port, near->text, near->port);
    else
        snprintf(why, n,
                 "host \"%.200s\"%s is refused: it matches no rule of "
                 "sources.allowed_hosts",
                 host, at);
    return -1;
}

int dsb_allow_check(const struct dsb_allow_rule *rules, size_t n,
                    const char *host, int port, char *why, size_t why_len)
{
    struct addr a[MAX_ADDRS];
    size_t na = addrs_of(host, a);
    const struct dsb_allow_rule *near = NULL, *by_name;

    for (size_t i = 0; i < na; i++)
        if (is_metadata(&a[i]) && !metadata_listed(rules, n, &a[i], port)) {
            snprintf(why, why_len,
                     "host \"%.200s\" (%s) is refused: a cloud metadata "
                     "address, which only a rule of sources.allowed_hosts "
                     "naming it (/16 or narrower) allows",
                     host, a[i].text);
            return -1;
        }
    if (!rules)
        return 0;
    by_name = allowing(rules, n, host, NULL, port, &near);
    if (by_name)
        return 0;
    if (na == 0)
        return refuse(host, port, NULL, near, why, why_len);
    for (size_t i = 0; i < na; i++)
        if (!allowing(rules, n, host, &a[i], port, &near))
            return refuse(host, port, &a[i], near, why, why_len);
    return 0;
}
