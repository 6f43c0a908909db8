/*
 * bare_mhd: the baseline of the HTTP benchmark.  Serves one file's bytes as
 * application/json at every URL with the same libmicrohttpd setup as the
 * broker (core/http/server.c: internal polling thread, epoll, thread pool,
 * ITC, suspend/resume allowed, the default limits and timeouts, TCP_NODELAY
 * on every connection), answering on the second call as the broker does.
 * Usage: bare_mhd FILE PORT THREADS
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <unistd.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <microhttpd.h>

static char *body;
static size_t body_len;

static enum MHD_Result serve(void *cls, struct MHD_Connection *c,
                             const char *url, const char *method,
                             const char *version, const char *upload,
                             size_t *upload_size, void **con_cls)
{
    struct MHD_Response *r;
    enum MHD_Result rc;

    (void)cls, (void)url, (void)method, (void)version, (void)upload;
    (void)upload_size;
    if (!*con_cls) {
        *con_cls = (void *)1;
        return MHD_YES;
    }
    r = MHD_create_response_from_buffer(body_len, body, MHD_RESPMEM_MUST_COPY);
    MHD_add_response_header(r, "Content-Type", "application/json");
    MHD_add_response_header(r, "ETag", "\"0123456789abcdef\"");
    rc = MHD_queue_response(c, 200, r);
    MHD_destroy_response(r);
    return rc;
}

static void on_connection(void *cls, struct MHD_Connection *c,
                          void **socket_ctx,
                          enum MHD_ConnectionNotificationCode toe)
{
    const union MHD_ConnectionInfo *ci;
    int one = 1;

    (void)cls, (void)socket_ctx;
    if (toe != MHD_CONNECTION_NOTIFY_STARTED)
        return;
    ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (ci)
        setsockopt(ci->connect_fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

int main(int argc, char **argv)
{
    FILE *f;
    long n;
    struct MHD_Daemon *d;
    sigset_t set;
    int sig;

    if (argc != 4)
        return 2;
    f = fopen(argv[1], "rb");
    if (!f || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0)
        return 1;
    rewind(f);
    body = malloc((size_t)n + 1);
    body_len = fread(body, 1, (size_t)n, f);
    fclose(f);
    /* the values are broker.yaml's defaults (core/config.c) */
    d = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC |
            MHD_ALLOW_SUSPEND_RESUME,
        (uint16_t)atoi(argv[2]), NULL, NULL, serve, NULL,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned)atoi(argv[3]),
        MHD_OPTION_CONNECTION_LIMIT, 512u, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
        64u, MHD_OPTION_CONNECTION_TIMEOUT, 30u,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)32768,
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, NULL, MHD_OPTION_END);
    if (!d)
        return 1;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    sigwait(&set, &sig);
    MHD_stop_daemon(d);
    free(body);
    return 0;
}
