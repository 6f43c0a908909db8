/* Where a source created at run time (or a test-connection) may point:
 * broker.yaml's sources.allowed_hosts, and the cloud metadata addresses
 * refused unless a rule lists them. */
#ifndef DSB_CORE_ALLOWLIST_H
#define DSB_CORE_ALLOWLIST_H

#include <stddef.h>

#include <netinet/in.h>

/* One rule: "name", "*.suffix", "a.b.c.d", "a.b.c.d/n", "[v6]", "[v6]/n",
 * each optionally ":port". */
struct dsb_allow_rule {
    char text[256]; /* as written (for messages) */
    char name[256]; /* a name rule ("" for an address rule); "*.x" allowed */
    int family;     /* AF_INET or AF_INET6 for an address rule, else 0 */
    unsigned char addr[16];
    int prefix; /* bits */
    int port;   /* 0: any */
};

/* Parses rule into r; -1 with why (one line) when it is malformed. */
int dsb_allow_parse(const char *rule, struct dsb_allow_rule *r, char *why,
                    size_t why_len);

/*
 * 0 when host:port (port 0: unknown, any rule's port matches) may be
 * reached: some rule allows it — a name rule by the host's name, an
 * address rule by each of its addresses (host is resolved) — or rules is
 * NULL (no allow-list: anything) — and none of its addresses is a cloud
 * metadata address that no address rule of at least /16 (IPv4) or /64
 * (IPv6) lists.  -1 with why naming the host, the address, the rule that
 * refused it or that none matched.
 */
int dsb_allow_check(const struct dsb_allow_rule *rules, size_t n,
                    const char *host, int port, char *why, size_t why_len);

#endif
