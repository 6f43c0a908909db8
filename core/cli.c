#include "cli.h"
#include "sdnotify.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "aws/aws.h"
#include "broker.h"
#include "http/server.h"
#include "mcp/stdio.h"
#include "config.h"
#include "jobs/cli_jobs.h"
#include "log.h"
#include "options.h"
#include "plugins.h"
#include "secrets.h"
#include "store.h"
#include "util.h"

#ifndef DSB_VERSION
#define DSB_VERSION "0.0.0"
#endif

struct cli {
    const char *conf_dir;
    const char *plugin_dir;
    const char *listen, *port_file;
    int schema, json, connect, latest;
    FILE *out, *errs;
};

static const char usage_text[] =
    "usage: dsbroker [-c DIR] [-P DIR] COMMAND [OPTIONS]\n"
    "\n"
    "Commands:\n"
    "  check-config [--connect]  validate conf.d; report every problem as\n"
    "                            file:line:col (exit 1 if any); --connect\n"
    "                            also opens and checks each source\n"
    "  plugins [--schema]        loaded plugins as JSON; --schema adds each\n"
    "                            plugin's options as JSON Schema\n"
    "  sources [--json]          configured sources: plugin, network, state\n"
    "  routes                    the HTTP API's routes\n"
    "  serve [--listen ADDR:PORT] [--port-file FILE]\n"
    "                            run the HTTP API (SIGHUP reloads conf.d,\n"
    "                            SIGTERM stops after requests in flight);\n"
    "                            port 0 picks a free port, written to FILE\n"
    "  context SESSION           a running broker's Spark context of SESSION\n"
    "  submit SESSION FILE.py    submit FILE.py as a job of SESSION to a\n"
    "                            running broker ($DSB_URL, else listen)\n"
    "  verify [--json] [--latest] SESSION\n"
    "                            verify the reads of SESSION's context on\n"
    "                            its executor (a job; waits for it); one\n"
    "                            line per table, exit 1 unless all are ok;\n"
    "                            --latest shows the last verification of\n"
    "                            the current context without a new one\n"
    "  mcp                       the MCP server on stdin/stdout, relayed to\n"
    "                            a running broker's /mcp ($DSB_URL,\n"
    "                            $DSB_TOKEN)\n"
    "  copy-state STATE_DIR      copy the SQLite store of STATE_DIR (its\n"
    "                            sessions, selections, jobs and queue)\n"
    "                            into the empty PostgreSQL store\n"
    "                            broker.yaml names (state.store:\n"
    "                            postgresql); stop the broker first\n"
    "\n"
    "Options:\n"
    "  -c, --config DIR   configuration directory (default: $DSB_CONF_DIR,\n"
    "                     else ./conf.d, else /etc/dsbroker/conf.d)\n"
    "  -P, --plugin-dir DIR  plugin directory (default: $DSB_PLUGIN_DIR, else\n"
    "                     broker.yaml's plugin_dir, else beside the binary)\n"
    "  -h, --help         this text\n"
    "  -V, --version      version and plugin ABI\n"
    "\n"
    "Exit status: 0 success, 1 problems found, 2 bad command line.\n";

static const char *default_conf_dir(void)
{
    const char *env = getenv("DSB_CONF_DIR");

    if (env && *env)
        return env;
    if (access("conf.d", F_OK) == 0)
        return "conf.d";
    return "/etc/dsbroker/conf.d";
}

static struct dsb_broker *start(struct cli *c, int preflight,
                                struct dsb_diags *d)
{
    struct dsb_broker_opts o = {.conf_dir = c->conf_dir,
                                .plugin_dir = c->plugin_dir,
                                .preflight = preflight};
    return dsb_broker_start(&o, d);
}

/* Loads config and plugins without opening any source. */
static struct dsb_config *load_only(struct cli *c, struct dsb_plugin_set *ps,
                                    struct dsb_diags *d)
{
    struct dsb_config *cfg =
        dsb_config_load_broker(c->conf_dir, c->plugin_dir, d);
    if (cfg && cfg->dir && cfg->plugin_dir)
        dsb_plugins_load_dir(cfg->plugin_dir, ps, 0, d);
    if (cfg)
        dsb_config_load_sources(cfg, ps, d);
    return cfg;
}

static int report_checks(struct cli *c, struct dsb_broker *b)
{
    int bad = 0;

    for (size_t i = 0; i < b->n_sources; i++) {
        struct dsb_source *s = &b->sources[i];
        struct dsb_error err;
        json_t *out = NULL;

        if (s->state == DSB_SOURCE_DISABLED)
            continue;
        if (dsb_source_check(s, &out, &err) < 0) {
            fprintf(c->out, "%s: source %s: check failed: %s%s%s\n",
                    s->conf->file, s->conf->name, err.message,
                    err.hint[0] ? " (hint: " : "", err.hint[0] ? err.hint : "");
            bad = 1;
        } else {
            fprintf(c->out, "%s: source %s: ok\n", s->conf->file,
                    s->conf->name);
        }
        json_decref(out);
    }
    return bad;
}

static int cmd_check_config(struct cli *c, char **operands)
{
    struct dsb_diags d;
    struct dsb_plugin_set ps = {0};
    struct dsb_config *cfg;
    int rc = DSB_EXIT_OK;

    (void)operands;
    dsb_diags_init(&d);
    cfg = load_only(c, &ps, &d);
    dsb_diags_print(&d, c->out);
    if (d.errors) {
        fprintf(c->out, "%s: %zu error%s\n", c->conf_dir, d.errors,
                d.errors == 1 ? "" : "s");
        rc = DSB_EXIT_FAIL;
    } else {
        fprintf(c->out, "%s: ok (%zu source%s, %zu executor%s, %zu plugin%s)\n",
                cfg->dir, cfg->n_sources, cfg->n_sources == 1 ? "" : "s",
                cfg->n_executors, cfg->n_executors == 1 ? "" : "s", ps.n,
                ps.n == 1 ? "" : "s");
    }
    dsb_config_free(cfg);
    dsb_plugins_unload_all(&ps);
    if (rc == DSB_EXIT_OK && c->connect) {
        struct dsb_broker *b;
        dsb_diags_free(&d);
        b = start(c, 1, &d);
        rc = !b || report_checks(c, b) ? DSB_EXIT_FAIL : DSB_EXIT_OK;
        dsb_broker_stop(b);
    }
    dsb_diags_free(&d);
    return rc;
}

static int cmd_plugins(struct cli *c, char **operands)
{
    struct dsb_diags d;
    struct dsb_plugin_set ps = {0};
    struct dsb_config *cfg;
    json_t *arr = json_array();

    (void)operands;
    dsb_diags_init(&d);
    cfg = dsb_config_load_broker(c->conf_dir, c->plugin_dir, &d);
    if (cfg && cfg->plugin_dir)
        dsb_plugins_load_dir(cfg->plugin_dir, &ps, 0, &d);
    dsb_diags_print(&d, c->errs);
    for (size_t i = 0; i < ps.n; i++)
        json_array_append_new(arr,
                              dsb_plugin_describe(&ps.items[i], c->schema));
    json_dumpf(arr, c->out, JSON_INDENT(2) | JSON_SORT_KEYS);
    fputc('\n', c->out);
    json_decref(arr);
    dsb_plugins_unload_all(&ps);
    dsb_config_free(cfg);
    dsb_diags_free(&d);
    return ps.n || !d.errors ? DSB_EXIT_OK : DSB_EXIT_FAIL;
}

static const char *state_name(const struct dsb_source_conf *s,
                              const struct dsb_plugin_set *ps)
{
    if (!s->enabled)
        return "disabled";
    return dsb_plugins_find(ps, s->plugin) ? "enabled" : "plugin-missing";
}

static int cmd_sources(struct cli *c, char **operands)
{
    struct dsb_diags d;
    struct dsb_plugin_set ps = {0};
    struct dsb_config *cfg;
    json_t *arr = json_array();

    (void)operands;
    dsb_diags_init(&d);
    cfg = load_only(c, &ps, &d);
    dsb_diags_print(&d, c->errs);
    if (!c->json)
        fprintf(c->out, "%-24s %-12s %-16s %-10s %s\n", "NAME", "PLUGIN",
                "NETWORK", "STATE", "DESCRIPTION");
    for (size_t i = 0; cfg && i < cfg->n_sources; i++) {
        const struct dsb_source_conf *s = &cfg->sources[i];
        const char *net =
            dsb_source_network(s, dsb_plugins_find(&ps, s->plugin));
        if (c->json)
            json_array_append_new(
                arr,
                json_pack("{s:s, s:s, s:s, s:s, s:s?}", "name", s->name,
                          "plugin", s->plugin, "network", net, "state",
                          state_name(s, &ps), "description", s->description));
        else
            fprintf(c->out, "%-24s %-12s %-16s %-10s %s\n", s->name, s->plugin,
                    net, state_name(s, &ps),
                    s->description ? s->description : "");
    }
    if (c->json) {
        json_dumpf(arr, c->out, JSON_INDENT(2));
        fputc('\n', c->out);
    }
    json_decref(arr);
    dsb_config_free(cfg);
    dsb_plugins_unload_all(&ps);
    {
        int rc = d.errors ? DSB_EXIT_FAIL : DSB_EXIT_OK;
        dsb_diags_free(&d);
        return rc;
    }
}

/* state with a STATUS line to the service manager, if any (sdnotify.h);
 * a socket that refuses it is logged once a state, never fatal. */
static void notify_manager(struct dsb_server *srv, const char *state)
{
    char msg[160];

    snprintf(msg, sizeof(msg), "%s\nSTATUS=serving on port %d", state,
             dsb_server_port(srv));
    if (dsb_sd_notify(msg) < 0)
        dsb_logf(DSB_LOG_WARN, NULL,
                 "could not notify the service manager ($NOTIFY_SOCKET): %s",
                 strerror(errno));
}

static int cmd_serve(struct cli *c, char **operands)
{
    struct dsb_server_opts o = {.conf_dir = c->conf_dir,
                                .plugin_dir = c->plugin_dir,
                                .listen = c->listen,
                                .port_file = c->port_file,
                                .preflight = 1};
    struct dsb_diags d;
    struct dsb_server *srv;
    sigset_t set;
    int sig = 0;

    (void)operands;
    /* signals are taken by sigwait below, in every thread */
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    dsb_diags_init(&d);
    srv = dsb_server_start(&o, &d);
    if (srv) /* warnings only: in the log's format (JSON lines too) */
        dsb_log_diags(&d);
    else
        dsb_diags_print(&d, c->errs);
    dsb_diags_free(&d);
    if (!srv)
        return DSB_EXIT_FAIL;
    dsb_logf(DSB_LOG_INFO, NULL, "dsbroker %s serving on port %d", DSB_VERSION,
             dsb_server_port(srv));
    notify_manager(srv, "READY=1");
    while (sigwait(&set, &sig) == 0 && sig == SIGHUP) {
        dsb_sd_notify_reloading();
        dsb_server_reload(srv);
        notify_manager(srv, "READY=1");
    }
    dsb_logf(DSB_LOG_INFO, NULL,
             "stopping on signal %d: finishing requests "
             "in flight",
             sig);
    dsb_sd_notify("STOPPING=1\nSTATUS=finishing requests in flight");
    dsb_server_stop(srv, -1);
    return DSB_EXIT_OK;
}

static int parse_flags(struct cli *c, int argc, char **argv, FILE *errs)
{
    static const struct option longs[] = {
        {"config", required_argument, 0, 'c'},
        {"plugin-dir", required_argument, 0, 'P'},
        {"schema", no_argument, 0, 's'},
        {"json", no_argument, 0, 'j'},
        {"connect", no_argument, 0, 'k'},
        {"latest", no_argument, 0, 'L'},
        {"listen", required_argument, 0, 'l'},
        {"port-file", required_argument, 0, 'p'},
        {"help", no_argument, 0, 'h'},
        {"version", no_argument, 0, 'V'},
        {0, 0, 0, 0}};
    int ch;

    optind = 1;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, "+c:P:hV", longs, NULL)) != -1) {
        switch (ch) {
        case 'c':
            c->conf_dir = optarg;
            break;
        case 'P':
            c->plugin_dir = optarg;
            break;
        case 's':
            c->schema = 1;
            break;
        case 'j':
            c->json = 1;
            break;
        case 'k':
            c->connect = 1;
            break;
        case 'L':
            c->latest = 1;
            break;
        case 'l':
            c->listen = optarg;
            break;
        case 'p':
            c->port_file = optarg;
            break;
        case 'h':
            return 'h';
        case 'V':
            return 'V';
        default:
            fprintf(errs,
                    "dsbroker: unknown or incomplete option \"%s\"; see "
                    "dsbroker --help\n",
                    argv[optind - 1]);
            return '?';
        }
    }
    return 0;
}

static int cmd_routes(struct cli *c, char **operands)
{
    (void)operands;
    dsb_http_routes_print(c->out);
    return DSB_EXIT_OK;
}

static int cmd_context(struct cli *c, char **operands)
{
    return dsb_cli_context(c->conf_dir, operands[0], c->out, c->errs);
}

static int cmd_submit(struct cli *c, char **operands)
{
    return dsb_cli_submit(c->conf_dir, operands[0], operands[1], c->out,
                          c->errs);
}

static int cmd_verify(struct cli *c, char **operands)
{
    return dsb_cli_verify(c->conf_dir, operands[0], c->json, c->latest, c->out,
                          c->errs);
}

/* copy-state STATE_DIR: the SQLite store of STATE_DIR into the
 * PostgreSQL store broker.yaml names (state_copy.c). */
static int cmd_copy_state(struct cli *c, char **operands)
{
    struct dsb_diags d;
    struct dsb_config *cfg;
    struct dsb_aws_options ao;
    struct dsb_aws *aws = NULL;
    struct dsb_secrets *sec = NULL;
    struct dsb_store_conf sc = {0};
    struct dsb_error err = {0};
    char *password = NULL;
    int rc = DSB_EXIT_FAIL;

    dsb_diags_init(&d);
    cfg = dsb_config_load_broker(c->conf_dir, c->plugin_dir, &d);
    dsb_diags_print(&d, c->errs);
    if (!cfg || d.errors)
        goto done;
    if (!cfg->settings.state_pg) {
        fprintf(c->errs,
                "dsbroker: copy-state: broker.yaml keeps state in SQLite; "
                "set state.store: postgresql, state.url and state.password "
                "to the store to copy into first\n");
        goto done;
    }
    dsb_aws_options_of(json_object_get(cfg->broker, "aws"), &ao);
    if (!(aws = dsb_aws_new(&ao, &err)) || !(sec = dsb_secrets_new(0)))
        goto fail;
    dsb_secrets_set_aws_backend(sec, dsb_aws_secret_fetch, aws);
    if (cfg->settings.state_password_ref &&
        dsb_secrets_get(sec, cfg->settings.state_password_ref, &password,
                        &err) < 0)
        goto fail;
    sc.url = cfg->settings.state_url;
    sc.password = password;
    if (dsb_state_copy(operands[0], &sc, c->out, &err) == 0) {
        rc = DSB_EXIT_OK;
        goto done;
    }
fail:
    fprintf(c->errs, "dsbroker: copy-state: %s%s%s%s%s%s\n",
            err.message[0] ? err.message : "out of memory",
            err.detail[0] ? ": " : "", err.detail,
            err.hint[0] ? " (hint: " : "", err.hint, err.hint[0] ? ")" : "");
done:
    dsb_secret_value_free(password);
    dsb_secrets_free(sec);
    dsb_aws_free(aws);
    dsb_config_free(cfg);
    dsb_diags_free(&d);
    return rc;
}

static int cmd_mcp(struct cli *c, char **operands)
{
    (void)operands;
    return dsb_mcp_stdio(c->conf_dir, stdin, c->out, c->errs);
}

static const struct command {
    const char *name, *operands; /* operands as usage shows them */
    int n_operands;
    int (*run)(struct cli *c, char **operands);
} commands[] = {
    {"check-config", "", 0, cmd_check_config},
    {"plugins", "", 0, cmd_plugins},
    {"sources", "", 0, cmd_sources},
    {"routes", "", 0, cmd_routes},
    {"serve", "", 0, cmd_serve},
    {"context", " SESSION", 1, cmd_context},
    {"submit", " SESSION FILE.py", 2, cmd_submit},
    {"verify", " [--json] [--latest] SESSION", 1, cmd_verify},
    {"mcp", "", 0, cmd_mcp},
    {"copy-state", " STATE_DIR", 1, cmd_copy_state},
};

static int run_command(struct cli *c, const char *cmd, char **operands,
                       int n_operands)
{
    size_t i, n = sizeof(commands) / sizeof(commands[0]);

    for (i = 0; i < n && strcmp(commands[i].name, cmd) != 0; i++)
        ;
    if (i == n) {
        fprintf(c->errs, "dsbroker: unknown command \"%s\"; commands:", cmd);
        for (i = 0; i < n; i++)
            fprintf(c->errs, "%s %s", i ? "," : "", commands[i].name);
        fputs(" (see dsbroker --help)\n", c->errs);
        return DSB_EXIT_USAGE;
    }
    if (n_operands != commands[i].n_operands) {
        fprintf(c->errs, "dsbroker: usage: dsbroker %s%s\n", commands[i].name,
                commands[i].operands);
        return DSB_EXIT_USAGE;
    }
    return commands[i].run(c, operands);
}

int dsb_cli_main(int argc, char **argv, FILE *out, FILE *errs)
{
    struct cli c = {0};
    const char *cmd;
    int flag, ci, ai;

    c.out = out;
    c.errs = errs;
    c.plugin_dir = getenv("DSB_PLUGIN_DIR");
    if (c.plugin_dir && !*c.plugin_dir)
        c.plugin_dir = NULL;
    flag = parse_flags(&c, argc, argv, errs);
    /* flags may also follow the command: parse the rest once more */
    cmd = flag == 0 && optind < argc ? argv[optind] : NULL;
    ci = optind;
    ai = argc; /* first operand after the command */
    if (cmd && flag == 0 && optind + 1 < argc) {
        flag = parse_flags(&c, argc - optind, argv + optind, errs);
        ai = ci + optind;
    }
    if (flag == 'h' || flag == 'V') {
        if (flag == 'h')
            fputs(usage_text, out);
        else
            fprintf(out, "dsbroker %s (plugin ABI %d.%d, %s)\n", DSB_VERSION,
                    DSB_ABI_MAJOR, DSB_ABI_MINOR, DSB_BUILD_TAG);
        return DSB_EXIT_OK;
    }
    if (flag)
        return DSB_EXIT_USAGE;
    if (!cmd) {
        fputs(usage_text, errs);
        return DSB_EXIT_USAGE;
    }
    if (!c.conf_dir)
        c.conf_dir = default_conf_dir();
    return run_command(&c, cmd, argv + ai, argc - ai);
}
