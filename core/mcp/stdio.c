/* `dsbroker mcp`: the MCP stdio transport, for desktop agents that launch
 * servers as processes.  Each line on stdin is one JSON-RPC message,
 * relayed to a running broker's /mcp ($DSB_URL, $DSB_TOKEN) with the
 * headers Streamable HTTP asks for; each answer is one line on stdout.
 * An answer the broker streams (text/event-stream: a tool's progress
 * notifications, then its result) is relayed event by event as it
 * arrives, so the agent sees progress while the tool runs.
 * The broker does the protocol, so both generations behave as over HTTP;
 * what the transport adds: the 2025 session id and version kept from
 * initialize, HTTP refusals turned into JSON-RPC errors, the session
 * ended at end of input.  Nothing but JSON-RPC goes to stdout. */
#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "jobs/cli_jobs.h"
#include "mcp/mcp.h"
#include "mcp/stdio.h"
#include "util.h"

struct relay {
    char *url; /* .../mcp */
    const char *token;
    char sid[128];    /* the 2025 transport session, or "" */
    char version[16]; /* its negotiated version */
    FILE *transcript; /* $DSB_MCP_TRANSCRIPT, or NULL */
};

struct reply {
    long status;
    struct dsb_sb body; /* a JSON answer, or the unparsed tail of a stream */
    char sid[128];
    CURL *curl;
    int kind;           /* 0: not known yet, 1: JSON, 2: event stream */
    struct dsb_sb data; /* the data lines of the event being read */
    size_t emitted;     /* messages relayed from the stream */
    struct relay *rl;
    FILE *out;
};

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
    struct reply *r = ud;
    size_t len = size * n, k = strlen("Mcp-Session-Id:");

    if (len > k && strncasecmp(p, "Mcp-Session-Id:", k) == 0) {
        const char *v = p + k;
        size_t vl = len - k;
        while (vl && (*v == ' ' || *v == '\t'))
            v++, vl--;
        while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n'))
            vl--;
        if (vl < sizeof(r->sid))
            snprintf(r->sid, sizeof(r->sid), "%.*s", (int)vl, v);
    }
    return len;
}

/* A header value as Streamable HTTP carries it: as is when it is plain
 * visible ASCII, else in the =?base64?...?= form (malloc'd). */
static char *mirrored(const char *v)
{
    size_t n = strlen(v);
    int plain = n > 0 && v[0] != ' ' && v[n - 1] != ' ' &&
                strncmp(v, "=?base64?", 9) != 0;
    char *b, *out;

    for (const unsigned char *p = (const unsigned char *)v; plain && *p; p++)
        plain = *p >= 0x20 && *p < 0x7f;
    if (plain)
        return dsb_asprintf("%s", v);
    b = dsb_mcp_b64(v, n);
    out = b ? dsb_asprintf("=?base64?%s?=", b) : NULL;
    free(b);
    return out;
}

static struct curl_slist *add(struct curl_slist *h, const char *name,
                              const char *v)
{
    char *line = dsb_asprintf("%s: %s", name, v);

    if (line)
        h = curl_slist_append(h, line);
    free(line);
    return h;
}

/* The headers of one message (m may be NULL: not JSON). */
static struct curl_slist *headers_of(const struct relay *rl, const json_t *m)
{
    const json_t *p = json_object_get(m, "params");
    const char *mv = json_string_value(
        json_object_get(json_object_get(p, "_meta"),
                        "io.modelcontextprotocol/protocolVersion"));
    const char *method = json_string_value(json_object_get(m, "method"));
    const char *name = json_string_value(json_object_get(p, "name"));
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: "
                                                   "application/json");
    char *v;

    h = curl_slist_append(h, "Accept: application/json, text/event-stream");
    if (rl->token && *rl->token) {
        v = dsb_asprintf("Bearer %s", rl->token);
        h = add(h, "Authorization", v ? v : "");
        free(v);
    }
    if (method && strcmp(method, "resources/read") == 0)
        name = json_string_value(json_object_get(p, "uri"));
    if (mv) { /* 2026-07-28: the mirrored headers */
        h = add(h, "MCP-Protocol-Version", mv);
        h = add(h, "Mcp-Method", method ? method : "");
        if (name && (v = mirrored(name))) {
            h = add(h, "Mcp-Name", v);
            free(v);
        }
        return h;
    }
    if (rl->sid[0] && !(method && strcmp(method, "initialize") == 0)) {
        h = add(h, "Mcp-Session-Id", rl->sid);
        h = add(h, "MCP-Protocol-Version", rl->version);
    }
    return h;
}

static void emit(struct relay *rl, FILE *out, const char *line)
{
    fprintf(out, "%s\n", line);
    fflush(out);
    if (rl->transcript)
        fprintf(rl->transcript, "< %s\n", line);
}

/* One line of an event stream (without its end of line): data lines
 * gather, a blank line relays the event's message.  Other fields (event,
 * id, retry) and comments change nothing here. */
static void event_line(struct reply *r, const char *p, size_t n)
{
    json_t *m;
    char *one;

    if (n == 0) {
        if (!r->data.len)
            return;
        /* a message on several data lines is put back on one */
        m = memchr(r->data.p, '\n', r->data.len)
                ? json_loadb(r->data.p, r->data.len, 0, NULL)
                : NULL;
        one = m ? json_dumps(m, JSON_COMPACT) : NULL;
        if (!r->data.oom)
            emit(r->rl, r->out, one ? one : dsb_sb_str(&r->data));
        r->emitted++;
        free(one);
        json_decref(m);
        r->data.len = 0;
        return;
    }
    if (n < 5 || memcmp(p, "data:", 5) != 0)
        return;
    p += 5, n -= 5;
    if (n && *p == ' ')
        p++, n--;
    if (r->data.len)
        dsb_sb_addc(&r->data, '\n');
    dsb_sb_add(&r->data, p, n);
}

/* The body as it arrives: a JSON answer is collected; an event stream
 * is relayed line by line. */
static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    struct reply *r = ud;
    size_t len = size * n, start = 0;
    char *ct = NULL;

    if (!r->kind) {
        curl_easy_getinfo(r->curl, CURLINFO_CONTENT_TYPE, &ct);
        r->kind = ct && strncasecmp(ct, "text/event-stream", 17) == 0 ? 2 : 1;
    }
    dsb_sb_add(&r->body, p, len);
    if (r->body.oom)
        return 0;
    if (r->kind == 1)
        return len;
    for (size_t i = 0; i < r->body.len; i++) {
        if (r->body.p[i] != '\n')
            continue;
        size_t e = i > start && r->body.p[i - 1] == '\r' ? i - 1 : i;
        event_line(r, r->body.p + start, e - start);
        start = i + 1;
    }
    memmove(r->body.p, r->body.p + start, r->body.len - start);
    r->body.len -= start;
    r->body.p[r->body.len] = '\0';
    return len;
}

static void perform(const char *url, const char *method, const char *body,
                    struct curl_slist *h, struct reply *r, FILE *errs)
{
    CURL *c = curl_easy_init();
    CURLcode rc;

    if (!c) {
        r->status = 0;
        return;
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    r->curl = c;
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    if (body)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    rc = curl_easy_perform(c);
    if (r->kind == 2) { /* a last line, or event, left unterminated */
        if (r->body.len)
            event_line(r, r->body.p, r->body.len);
        event_line(r, "", 0);
        r->body.len = 0;
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    if (rc != CURLE_OK) {
        fprintf(errs, "dsbroker mcp: %s: %s\n", url, curl_easy_strerror(rc));
        r->status = 0;
    }
    curl_easy_cleanup(c);
}

/* The answer of a refusal without a JSON-RPC body (401, 413, the broker
 * unreachable) to a request: a JSON-RPC error. */
static void refusal(struct relay *rl, FILE *out, const json_t *id,
                    const struct reply *r)
{
    json_t *problem = r->body.p ? json_loads(r->body.p, 0, NULL) : NULL;
    const char *msg = json_string_value(json_object_get(problem, "message"));
    json_t *e =
        json_pack("{s:s, s:O, s:{s:i, s:s, s:{s:i, s:O*}}}", "jsonrpc", "2.0",
                  "id", id, "error", "code", DSB_RPC_INTERNAL, "message",
                  msg         ? msg
                  : r->status ? "the broker refused the message"
                              : "the broker is unreachable",
                  "data", "status", (int)r->status, "problem", problem);
    char *s = e ? json_dumps(e, JSON_COMPACT) : NULL;

    if (s)
        emit(rl, out, s);
    free(s);
    json_decref(e);
    json_decref(problem);
}

/* After initialize: the session and version to send from now on. */
static void keep_session(struct relay *rl, const json_t *m,
                         const struct reply *r)
{
    json_t *res = r->body.p ? json_loads(r->body.p, 0, NULL) : NULL;
    const char *v = json_string_value(
        json_object_get(json_object_get(res, "result"), "protocolVersion"));

    if (v && r->sid[0] &&
        strcmp(json_string_value(json_object_get(m, "method")), "initialize") ==
            0) {
        snprintf(rl->sid, sizeof(rl->sid), "%s", r->sid);
        snprintf(rl->version, sizeof(rl->version), "%s", v);
    }
    json_decref(res);
}

static void relay_line(struct relay *rl, const char *line, FILE *out,
                       FILE *errs)
{
    json_t *m = json_loads(line, 0, NULL);
    const json_t *id = json_object_get(m, "id");
    struct curl_slist *h = headers_of(rl, json_is_object(m) ? m : NULL);
    struct reply r = {.rl = rl, .out = out};
    int rpc_body;

    if (rl->transcript)
        fprintf(rl->transcript, "> %s\n", line);
    perform(rl->url, "POST", line, h, &r, errs);
    curl_slist_free_all(h);
    rpc_body = r.kind == 1 && r.body.p && r.body.p[0] == '{' &&
               strstr(r.body.p, "\"jsonrpc\"") != NULL;
    if (r.status == 200 && json_is_string(json_object_get(m, "method")))
        keep_session(rl, m, &r);
    if (rpc_body)
        emit(rl, out, r.body.p);
    else if (id && r.status != 202 && !(r.kind == 2 && r.emitted))
        refusal(rl, out, id, &r);
    dsb_sb_free(&r.body);
    dsb_sb_free(&r.data);
    json_decref(m);
}

static void end_session(struct relay *rl, FILE *out, FILE *errs)
{
    struct curl_slist *h = headers_of(rl, NULL);
    struct reply r = {.rl = rl, .out = out};

    if (rl->sid[0])
        perform(rl->url, "DELETE", NULL, h, &r, errs);
    curl_slist_free_all(h);
    dsb_sb_free(&r.body);
    dsb_sb_free(&r.data);
}

int dsb_mcp_stdio(const char *conf_dir, FILE *in, FILE *out, FILE *errs)
{
    struct relay rl = {0};
    char *base = dsb_cli_base_url(conf_dir), *line = NULL;
    const char *tpath = getenv("DSB_MCP_TRANSCRIPT");
    size_t cap = 0;
    ssize_t n;

    rl.url = base ? dsb_asprintf("%s/mcp", base) : NULL;
    free(base);
    if (!rl.url)
        return 1;
    rl.token = getenv("DSB_TOKEN");
    rl.transcript = tpath && *tpath ? fopen(tpath, "a") : NULL;
    if (rl.transcript)
        setvbuf(rl.transcript, NULL, _IOLBF, 0);
    while ((n = getline(&line, &cap, in)) >= 0) {
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = '\0';
        if (n > 0)
            relay_line(&rl, line, out, errs);
    }
    end_session(&rl, out, errs);
    if (rl.transcript)
        fclose(rl.transcript);
    free(line);
    free(rl.url);
    return 0;
}
