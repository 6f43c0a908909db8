/* Server limits seen from raw sockets: an oversized request head, the
 * per-address connection limit and the idle-connection timeout (libcurl
 * cannot hold idle or half-sent connections). */
#define _GNU_SOURCE /* POLLRDHUP */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>

#include "util.h"
#include "http_support.h"

static char *conf_dir;

/* Starts the server on a copy of the fixture edited by a sed script. */
static void start_with(const char *sed)
{
    char cmd[8192], *src = t_src("tests/fixtures/confd-http");

    conf_dir = t_tmpdir();
    snprintf(cmd, sizeof(cmd), "cp -r %s/. %s/ && sed -i '%s' %s/broker.yaml",
             src, conf_dir, sed, conf_dir);
    cr_assert_eq(system(cmd), 0);
    t_start(conf_dir);
    free(src);
}

static void setup(void)
{
    t_http_env();
}

static void teardown(void)
{
    if (t_srv)
        t_stop();
    free(conf_dir);
    conf_dir = NULL;
}

TestSuite(limits, .init = setup, .fini = teardown, .timeout = 90);

/* A connected socket to the server; reads time out after timeout_s. */
static int dial(int timeout_s)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    struct timeval tv = {timeout_s, 0};
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    cr_assert(fd >= 0);
    sa.sin_port = htons((uint16_t)dsb_server_port(t_srv));
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0, "%s",
                 strerror(errno));
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    return fd;
}

static void send_all(int fd, const char *data, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, data, n, MSG_NOSIGNAL);
        if (w <= 0)
            return; /* the server closed: the reply tells */
        data += w;
        n -= (size_t)w;
    }
}

/* Reads one response (head and Content-Length body) into buf; returns its
 * length, 0 when the server closed without one, -1 on a read timeout. */
static long read_response(int fd, char *buf, size_t cap)
{
    size_t len = 0;
    char *end;

    buf[0] = '\0';
    for (;;) {
        ssize_t n = recv(fd, buf + len, cap - 1 - len, 0);
        if (n < 0)
            return errno == EAGAIN || errno == EWOULDBLOCK ? -1 : 0;
        if (n == 0)
            return (long)len;
        t_canary_keep("http-raw", buf + len, (size_t)n);
        len += (size_t)n;
        buf[len] = '\0';
        end = strstr(buf, "\r\n\r\n");
        if (end) {
            const char *cl = strstr(buf, "\r\nContent-Length:");
            size_t body = cl ? strtoul(cl + 17, NULL, 10) : 0;
            if (len >= (size_t)(end + 4 - buf) + body || len == cap - 1)
                return (long)len;
        }
    }
}

static long get_healthz(int fd, char *buf, size_t cap)
{
    static const char req[] = "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n";

    send_all(fd, req, sizeof(req) - 1);
    return read_response(fd, buf, cap);
}

/* GET /healthz with an X-Big header of n bytes, on a new connection;
 * the response's length (see read_response), the connection in *fdp. */
static long get_with_header(size_t n, char *buf, size_t cap, int *fdp)
{
    static const char head[] = "GET /healthz HTTP/1.1\r\nHost: t\r\nX-Big: ";
    char *req = malloc(sizeof(head) + n + 4);
    long rc;

    memcpy(req, head, sizeof(head) - 1);
    memset(req + sizeof(head) - 1, 'a', n);
    memcpy(req + sizeof(head) - 1 + n, "\r\n\r\n", 4);
    *fdp = dial(20);
    send_all(*fdp, req, sizeof(head) - 1 + n + 4);
    rc = read_response(*fdp, buf, cap);
    free(req);
    return rc;
}

/* A request head larger than limits.max_header_bytes (32 KiB here) gets
 * libmicrohttpd's 431 and the connection is closed; a 20 KB head is
 * served. */
Test(limits, oversized_request_head_is_431)
{
    char buf[8192];
    int fd;

    start_with("s/^limits:$/limits:\\n  max_header_bytes: 32768/");
    cr_assert_gt(get_with_header(40000, buf, sizeof(buf), &fd), 0, "no answer");
    cr_assert(strncmp(buf, "HTTP/1.1 431 ", 13) == 0, "%.200s", buf);
    cr_assert_eq(read_response(fd, buf, sizeof(buf)), 0,
                 "the connection stayed open");
    close(fd);
    cr_assert_gt(get_with_header(20000, buf, sizeof(buf), &fd), 0, "no answer");
    cr_assert(strncmp(buf, "HTTP/1.1 200 ", 13) == 0, "%.200s", buf);
    close(fd);
}

/* With max_connections_per_ip: 3, three kept-alive connections are served
 * and a fourth is closed without an answer; once one of the three goes, a
 * new one is served again. */
Test(limits, connections_per_address_are_limited)
{
    char buf[8192];
    int fd[3], extra, served = 0;

    start_with("s/^limits:$/limits:\\n  max_connections_per_ip: 3/");
    for (int i = 0; i < 3; i++) {
        fd[i] = dial(20);
        cr_assert_gt(get_healthz(fd[i], buf, sizeof(buf)), 0);
        cr_assert(strncmp(buf, "HTTP/1.1 200 ", 13) == 0, "%.200s", buf);
    }
    extra = dial(20);
    cr_assert_eq(get_healthz(extra, buf, sizeof(buf)), 0,
                 "a fourth connection was served: %.200s", buf);
    close(extra);
    /* the three are still served */
    for (int i = 0; i < 3; i++) {
        cr_assert_gt(get_healthz(fd[i], buf, sizeof(buf)), 0);
        cr_assert(strncmp(buf, "HTTP/1.1 200 ", 13) == 0, "%.200s", buf);
    }
    close(fd[0]);
    /* the server notices the close asynchronously: retry for a while */
    for (int i = 0; i < 200 && !served; i++) {
        extra = dial(20);
        served = get_healthz(extra, buf, sizeof(buf)) > 0 &&
                 strncmp(buf, "HTTP/1.1 200 ", 13) == 0;
        close(extra);
        if (!served)
            usleep(50000);
    }
    cr_assert(served, "a connection freed by a close was not reusable");
    close(fd[1]);
    close(fd[2]);
}

/* With connection_timeout_seconds: 1, a connection that sends nothing is
 * closed by the server (within the timeout plus a generous 10 s), and so
 * is a kept-alive one after its answer. */
Test(limits, idle_connections_are_closed)
{
    char buf[8192];
    int64_t t0;
    int fd;

    start_with("s/connection_timeout_seconds: .*/"
               "connection_timeout_seconds: 1/");
    fd = dial(11);
    t0 = dsb_monotonic_ms();
    cr_assert_eq(read_response(fd, buf, sizeof(buf)), 0,
                 "the idle connection was not closed: %.200s", buf);
    cr_assert_geq(dsb_monotonic_ms() - t0, 500, "closed before the timeout");
    close(fd);
    fd = dial(11);
    cr_assert_gt(get_healthz(fd, buf, sizeof(buf)), 0);
    cr_assert(strncmp(buf, "HTTP/1.1 200 ", 13) == 0, "%.200s", buf);
    cr_assert_eq(read_response(fd, buf, sizeof(buf)), 0,
                 "the kept-alive connection was not closed");
    close(fd);
}

/* Sends line on fd, then waits up to a second for the server to close it;
 * 1 when it did (reading end of file or an error), 0 when still open. */
static int trickle(int fd, const char *line)
{
    struct pollfd p = {fd, POLLIN | POLLRDHUP, 0};
    char buf[512];

    send_all(fd, line, strlen(line));
    if (poll(&p, 1, 1000) <= 0)
        return 0;
    return recv(fd, buf, sizeof(buf), MSG_DONTWAIT) <= 0;
}

/* Trickles a header line a second (or a body byte, after a head announcing
 * a body) on every fd[0..n) until the server closes them all; returns the
 * milliseconds from t0 (taken before the connections were opened) that
 * took, failing after limit_ms. */
static int64_t trickle_until_closed(const int *fd, int n, int64_t t0,
                                    int64_t limit_ms)
{
    int open = n, closed[8] = {0};

    while (open > 0) {
        cr_assert_lt(dsb_monotonic_ms() - t0, limit_ms,
                     "%d trickling "
                     "connection(s) still open after %lld ms",
                     open, (long long)limit_ms);
        for (int i = 0; i < n; i++)
            if (!closed[i] && trickle(fd[i], i % 2 ? "x" : "X-Slow: 1\r\n")) {
                closed[i] = 1;
                open--;
            }
    }
    return dsb_monotonic_ms() - t0;
}

/* With receive_timeout_seconds: 2 and an idle timeout of 10 s, clients
 * sending a header line (or a body byte) each second are cut at the
 * receive deadline, well before the idle timeout could ever act; while they
 * trickle they hold the per-address limit (2 here), once cut a new
 * connection from the same address is served; normal requests, kept-alive
 * ones included, are unaffected. */
Test(limits, trickling_clients_are_cut_at_the_receive_deadline)
{
    static const char body_head[] = "POST /v1/sessions HTTP/1.1\r\nHost: t\r\n"
                                    "Content-Type: application/json\r\n"
                                    "Content-Length: 100\r\n\r\n";
    char buf[8192];
    int fd[2], extra, served = 0;
    int64_t took, t0;

    start_with("s/^limits:$/limits:\\n  receive_timeout_seconds: 2\\n"
               "  max_connections_per_ip: 2/");
    /* from before the accepts: a loaded machine may take long to get to
     * the first trickle, but the server cannot cut before its deadline */
    t0 = dsb_monotonic_ms();
    fd[0] = dial(20);
    fd[1] = dial(20);
    send_all(fd[0], "GET /healthz HTTP/1.1\r\n", 23);
    send_all(fd[1], body_head, sizeof(body_head) - 1);
    extra = dial(20);
    cr_assert_eq(get_healthz(extra, buf, sizeof(buf)), 0,
                 "a third connection was served while two trickled");
    close(extra);
    took = trickle_until_closed(fd, 2, t0, 10000);
    cr_assert_geq(took, 2000, "cut after %lld ms, before the 2 s deadline",
                  (long long)took);
    close(fd[0]);
    close(fd[1]);
    /* the server releases the address's slots asynchronously */
    for (int i = 0; i < 100 && !served; i++) {
        extra = dial(20);
        served = get_healthz(extra, buf, sizeof(buf)) > 0 &&
                 strncmp(buf, "HTTP/1.1 200 ", 13) == 0;
        close(extra);
        if (!served)
            usleep(50000);
    }
    cr_assert(served, "the trickling connections still hold the limit");
    /* a kept-alive client is unaffected (checked last: a connection
     * closed before the trickles would hold its slot until the server
     * releases it, and the third dial above could take that slot) */
    fd[0] = dial(20);
    for (int i = 0; i < 2; i++) {
        cr_assert_gt(get_healthz(fd[0], buf, sizeof(buf)), 0);
        cr_assert(strncmp(buf, "HTTP/1.1 200 ", 13) == 0, "%.200s", buf);
    }
    close(fd[0]);
}
