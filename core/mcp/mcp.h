/*
 * The MCP server's protocol core (docs/mcp.md): JSON-RPC methods over the
 * service — server/discover, initialize, ping, tools, resources, prompts —
 * independent of the transport.  The Streamable HTTP front door
 * (core/http/h_mcp.c) checks headers, sessions and auth and maps errors to
 * HTTP statuses; `dsbroker mcp` (stdio.c) relays stdin/stdout to it.
 * Every tool is one service operation, called with the request's call
 * context (principal, scopes, deadline): the same checks and errors as
 * /v1.
 */
#ifndef DSB_CORE_MCP_MCP_H
#define DSB_CORE_MCP_MCP_H

#include <stddef.h>

#include <jansson.h>

#include "service/service.h"

/* JSON-RPC and MCP error codes. */
#define DSB_RPC_PARSE_ERROR -32700
#define DSB_RPC_INVALID_REQUEST -32600
#define DSB_RPC_METHOD_NOT_FOUND -32601
#define DSB_RPC_INVALID_PARAMS -32602
#define DSB_RPC_INTERNAL -32603
#define DSB_RPC_RESOURCE_NOT_FOUND -32002 /* 2025-11-25 and older */
#define DSB_RPC_HEADER_MISMATCH -32020    /* 2026-07-28 */
#define DSB_RPC_UNSUPPORTED_VERSION -32022

/* The protocol revisions served: the stateless one, then the ones with an
 * initialize handshake, newest first. */
#define DSB_MCP_MODERN "2026-07-28"
#define DSB_MCP_LEGACY_LATEST "2025-11-25"
extern const char *const dsb_mcp_legacy_versions[]; /* NULL-terminated */

/* Non-zero when v is a revision with a handshake that is served. */
int dsb_mcp_legacy_supported(const char *v);
/* ["2026-07-28", "2025-11-25", ...]: a new array. */
json_t *dsb_mcp_versions_json(void);

/* A JSON-RPC error: code, message, data (a new reference or NULL). */
struct dsb_mcp_err {
    int code;
    char message[256];
    json_t *data;
    char scope[16]; /* a scope the principal lacks (HTTP: 403) or "" */
};
void dsb_mcp_err_set(struct dsb_mcp_err *e, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Marks e as a missing scope (the front door's 403) when err is the
 * service's insufficient-scope refusal. */
void dsb_mcp_err_scope(struct dsb_mcp_err *e, const struct dsb_error *err);

/* One request's protocol state. */
struct dsb_mcp_call {
    const struct dsb_ctx *ctx;
    const struct dsb_settings *st;
    int modern;          /* 2026-07-28: results carry resultType, caching */
    const char *version; /* the revision in use (legacy: negotiated) */
    /* progress: the request's _meta.progressToken when the client takes an
     * event stream (borrowed), and the front door's sink that takes each
     * notifications/progress message (a new reference) as the tool
     * reports it, else all NULL */
    const json_t *progress_token;
    void (*progress_fn)(void *cls, json_t *note);
    void *progress_cls;
};

/* Reports progress of the call's request (nothing without a token):
 * a notifications/progress message, handed to the front door's sink at
 * once (over HTTP it reaches the client while the tool runs). */
void dsb_mcp_progress(const struct dsb_mcp_call *c, size_t done, size_t total,
                      const char *message);

/* Answers the request `method` (params may be NULL): the result, a new
 * reference, or NULL with e set.  initialize is answered by the front
 * door (it owns transport sessions) through dsb_mcp_initialize_result. */
json_t *dsb_mcp_dispatch(const struct dsb_mcp_call *c, const char *method,
                         json_t *params, struct dsb_mcp_err *e);
/* The result of initialize for the negotiated version. */
json_t *dsb_mcp_initialize_result(const char *version);
/* The version answered to an initialize that asks for requested: the
 * same when served, else the latest legacy one; NULL (e set, -32602 with
 * the supported list) when requested is not a protocol version at all. */
const char *dsb_mcp_negotiate(const json_t *requested, struct dsb_mcp_err *e);

/* A method of the protocol: the result of the request (params may be
 * NULL), a new reference, or NULL with e set.  dsb_mcp_dispatch's table
 * maps each method name to one. */
typedef json_t *dsb_mcp_method(const struct dsb_mcp_call *c, json_t *params,
                               struct dsb_mcp_err *e);

/* Tools (tools.c): tools/list, tools/call. */
dsb_mcp_method dsb_mcp_tools_list, dsb_mcp_tools_call;
/* Resources (resources.c): resources/list, resources/templates/list,
 * resources/read. */
dsb_mcp_method dsb_mcp_resources_list, dsb_mcp_templates_list,
    dsb_mcp_resources_read;
/* Prompts (prompts.c): prompts/list, prompts/get. */
dsb_mcp_method dsb_mcp_prompts_list, dsb_mcp_prompts_get;

/* Opaque cursors (cursor.c): base64url of a small JSON object. */
char *dsb_mcp_cursor_make(const json_t *state);
/* The state of a cursor (a new reference), or NULL when it is not one. */
json_t *dsb_mcp_cursor_read(const char *cursor);
/* Base64 (standard alphabet) of n bytes, malloc'd; and back (malloc'd,
 * NUL-terminated, *len set) or NULL when s is not base64. */
char *dsb_mcp_b64(const void *p, size_t n);
char *dsb_mcp_unb64(const char *s, size_t *len);

/* Fits a tools/call result into the budget: when the structured content
 * dumped twice (it is also the text) exceeds max bytes, the array member
 * `list` is cut to what fits from offset and a cursor for the rest is put
 * in "next_cursor" with "truncated": true.  state is the cursor's state
 * without the offset (borrowed; "o" is added).  0, or -1 when not even
 * one item fits (*out is then left with truncated and no items). */
int dsb_mcp_budget_list(json_t *out, const char *list, size_t offset,
                        const json_t *state, size_t max);
/* The same for the string member `text` of out, from byte offset (cut on
 * a UTF-8 boundary).  With text NULL: 0 when out fits ("truncated":
 * false), -1 when it does not (out unchanged). */
int dsb_mcp_budget_text(json_t *out, const char *text, size_t offset,
                        size_t max);
/* Resources and prompts: out's string member `text` (the whole text)
 * from byte offset, cut to the budget like dsb_mcp_budget_text; when cut
 * it ends with the line "[truncated at mcp.max_result_bytes: ...]"
 * saying how to get the rest: with uri, "read URI?cursor=C for the rest"
 * (*next gets that URI, malloc'd; the budget leaves room for it twice
 * more), else hint.  *next is NULL when nothing was cut.  No "truncated"
 * or "next_cursor" member is left in out.  0, or -1 when out of memory. */
int dsb_mcp_budget_marked(json_t *out, const char *text, size_t offset,
                          size_t max, const char *uri, const char *hint,
                          char **next);
/* The budget of one answer: mcp.max_result_bytes less the envelope's
 * share. */
size_t dsb_mcp_budget_of(const struct dsb_mcp_call *c);
/* Log tails: the beginnings of out's "stdout" and "stderr" are cut until
 * out fits ("truncated", and a hint to ask for fewer lines). */
int dsb_mcp_budget_tail(json_t *out, size_t max);

/* Transport sessions of the 2025 revisions (sessions.c): random ids bound
 * to the principal that opened them, with a negotiated version; idle ones
 * expire, the least recently used goes when the table is full. */
struct dsb_mcp_sessions;
struct dsb_mcp_sessions *dsb_mcp_sessions_new(void);
void dsb_mcp_sessions_free(struct dsb_mcp_sessions *s);
#define DSB_MCP_SESSION_ID_LEN 32
/* Opens a session: id gets DSB_MCP_SESSION_ID_LEN hex digits.  -1 when
 * out of memory or randomness. */
int dsb_mcp_session_open(struct dsb_mcp_sessions *s, const char *principal,
                         const char *version, size_t max,
                         char id[DSB_MCP_SESSION_ID_LEN + 1]);
/* 0 with the session's version copied (version[16]) when id is a live
 * session of principal (it is touched), -1 when unknown, expired or
 * another principal's. */
int dsb_mcp_session_use(struct dsb_mcp_sessions *s, const char *id,
                        const char *principal, int64_t idle_ms,
                        char version[16]);
/* Ends a session; -1 when it was not a live session of principal. */
int dsb_mcp_session_close(struct dsb_mcp_sessions *s, const char *id,
                          const char *principal);

#endif
