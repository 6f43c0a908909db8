/*
 * dsbroker source plugin ABI — the one header a plugin includes.
 *
 * A plugin is a shared object that exports exactly one function:
 *
 *     DSB_PLUGIN_EXPORT const struct dsb_source_plugin *dsb_plugin_entry(void);
 *
 * It returns a pointer to a static, constant vtable whose first member is a
 * struct dsb_abi_header filled by DSB_PLUGIN_HEADER; DSB_PLUGIN_DEFINE(vt)
 * writes that function.  The broker checks the file's permissions before
 * dlopen (which runs the file's ELF constructors: keep a plugin free of
 * them), then calls the entry function and checks that header (magic, ABI
 * major, ABI minor, struct size, build tag) before any slot, refusing an
 * incompatible plugin with the reason.
 *
 * Versions: one rule for the vtable and the host table.
 *   - A plugin declares the ABI it was built for.  DSB_PLUGIN_HEADER
 *     declares this header's DSB_ABI_MAJOR.DSB_ABI_MINOR and vtable size;
 *     DSB_PLUGIN_HEADER_FOR(m) declares an older minor m of the same major
 *     (and m's vtable size), for a plugin that must also load into brokers
 *     of minor m.
 *   - The broker loads a plugin of its own major whose minor is not newer
 *     than its own: every older minor is accepted, a newer one is refused
 *     ("broker ABI 1.1, plugin built for ABI 1.2").  Any change that is not
 *     an append bumps the major.
 *   - The broker reads the vtable of the declared minor (struct_size must
 *     be at least that minor's size) into a zeroed struct of its own size:
 *     a slot of a later minor is NULL there, and NULL means "not supported"
 *     for optional slots.
 *   - The host table the broker hands over is at least the declared
 *     minor's: its slots up to that minor may be called without a check.
 *     Only a plugin declaring an older minor than its header's can see host
 *     slots of later minors; it calls one only when DSB_HOST_HAS(host, slot)
 *     is true (host->size covers it).
 *
 * Structs across the boundary, for all of major 1:
 *   - May grow, only at the end, in blocks commented with the minor that
 *     added them ("ABI 1.1+"): struct dsb_source_plugin (the vtable; its
 *     header says its size) and struct dsb_host (host->size says its size).
 *   - Frozen: every other struct.  They carry no size, and one side
 *     allocates what the other reads or writes, or arrays of them are walked
 *     by stride: struct dsb_abi_header (read before anything is known),
 *     dsb_error (the broker's buffer, cleared by the plugin's inline
 *     dsb_error_set with its own sizeof), dsb_option and dsb_kv (plugin
 *     arrays the broker walks), dsb_source_info, dsb_list_request and
 *     dsb_read_target (broker structs the plugin reads), dsb_aws_request and
 *     dsb_aws_response (plugin structs the broker reads and fills).  New
 *     information comes as a new slot or host slot; new error codes, option
 *     types and flag bits come as new values, for plugins declaring the
 *     minor that added them (a plugin ignores DSB_EXEC_* bits it does not
 *     know).
 *   - The end of this header pins the 1.0 layout of all of them.
 *   - JSON shapes grow by new keys; readers ignore keys they do not know.
 *
 * Ownership, for every slot below:
 *   - Inputs are borrowed: valid for the duration of the call only.
 *   - JSON outputs (json_t **out) are new references the broker takes over.
 *   - Strings a plugin keeps beyond a call must be copied by the plugin.
 *   - Memory from host->arena_alloc belongs to the call and is freed by the
 *     broker when the call's request ends.
 *   - Nothing is freed across the boundary by the other side, except where a
 *     slot says so (secret values are released with host->secret_free).
 *
 * Threads: the broker may call slots of one instance from several threads at
 * once.  An instance must protect its own shared state (pools, caches).
 */
#ifndef DSBROKER_PLUGIN_H
#define DSBROKER_PLUGIN_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ ABI */

#define DSB_ABI_MAJOR 1
#define DSB_ABI_MINOR 3
#define DSB_PLUGIN_MAGIC 0x50425344u /* "DSBP" little-endian */

#define DSB_STR_(x) #x
#define DSB_STR(x) DSB_STR_(x)

/*
 * The build tag names what must match between broker and plugin beyond the
 * ABI numbers: pointer width, byte order and the jansson major version whose
 * json_t crosses the boundary.
 */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define DSB_BUILD_ENDIAN "be"
#else
#define DSB_BUILD_ENDIAN "le"
#endif
#define DSB_BUILD_TAG                                                          \
    "ptr" DSB_STR(__SIZEOF_POINTER__) "-" DSB_BUILD_ENDIAN "-jansson" DSB_STR( \
        JANSSON_MAJOR_VERSION)

#if defined(__GNUC__)
#define DSB_PLUGIN_EXPORT __attribute__((visibility("default")))
#define DSB_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#define DSB_PLUGIN_EXPORT
#define DSB_PRINTF(fmt, args)
#endif

/* Name of the one symbol every plugin exports. */
#define DSB_PLUGIN_ENTRY_SYMBOL "dsb_plugin_entry"

struct dsb_abi_header {
    uint32_t magic;        /* DSB_PLUGIN_MAGIC */
    uint16_t abi_major;    /* DSB_ABI_MAJOR the plugin was built with */
    uint16_t abi_minor;    /* DSB_ABI_MINOR the plugin was built with */
    uint32_t struct_size;  /* sizeof(struct dsb_source_plugin) at build */
    uint32_t reserved;     /* zero */
    const char *build_tag; /* DSB_BUILD_TAG at build */
};

/* Fills the header; use as the first initialiser of a dsb_source_plugin. */
#define DSB_PLUGIN_HEADER                                                      \
    {                                                                          \
        DSB_PLUGIN_MAGIC, DSB_ABI_MAJOR, DSB_ABI_MINOR,                        \
            (uint32_t)sizeof(struct dsb_source_plugin), 0, DSB_BUILD_TAG       \
    }

/* The header of a plugin that declares the older minor `minor` (a literal:
 * 0 for ABI 1.0) so that brokers of that minor load it too: the broker
 * reads only that minor's slots, and host slots of later minors need
 * DSB_HOST_HAS. */
#define DSB_PLUGIN_HEADER_FOR(minor)                                           \
    {                                                                          \
        DSB_PLUGIN_MAGIC, DSB_ABI_MAJOR, (minor),                              \
            (uint32_t)DSB_PLUGIN_SIZE_1_##minor, 0, DSB_BUILD_TAG              \
    }

/* Where a member ends: a struct's size at the minor whose last member it
 * is. */
#define DSB_END_OF(type, member)                                               \
    (offsetof(type, member) + sizeof(((type *)0)->member))

/* Size of struct dsb_source_plugin at each minor of major 1. */
#define DSB_PLUGIN_SIZE_1_0 DSB_END_OF(struct dsb_source_plugin, read_spec)
#define DSB_PLUGIN_SIZE_1_1                                                    \
    DSB_END_OF(struct dsb_source_plugin, read_spec_described)
#define DSB_PLUGIN_SIZE_1_2 DSB_END_OF(struct dsb_source_plugin, check_options)
#define DSB_PLUGIN_SIZE_1_3                                                    \
    DSB_END_OF(struct dsb_source_plugin, list_tables_json)
/* Size of struct dsb_host at each minor of major 1. */
#define DSB_HOST_SIZE_1_0 DSB_END_OF(struct dsb_host, aws_s3a_conf)
#define DSB_HOST_SIZE_1_1 DSB_END_OF(struct dsb_host, call_aws_request)
#define DSB_HOST_SIZE_1_2 DSB_HOST_SIZE_1_1 /* 1.2 added no host slot */
#define DSB_HOST_SIZE_1_3 DSB_HOST_SIZE_1_1 /* nor did 1.3 */

/* Non-zero when the broker's host table has `slot` (a member name), for a
 * plugin declaring an older minor than the one that added the slot. */
#define DSB_HOST_HAS(h, slot)                                                  \
    ((h)->size >= DSB_END_OF(struct dsb_host, slot) && (h)->slot != NULL)

/* A compile-time check that also compiles where C11 is missing. */
#if defined(__cplusplus) && __cplusplus >= 201103L
#define DSB_ABI_PIN(cond, why) static_assert(cond, why)
#elif defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L
#define DSB_ABI_PIN(cond, why) _Static_assert(cond, why)
#else
#define DSB_ABI_PIN(cond, why) extern int dsb_abi_pin_[(cond) ? 1 : -1]
#endif

#ifdef __cplusplus
#define DSB_EXTERN_C extern "C"
#else
#define DSB_EXTERN_C
#endif

/*
 * Defines the plugin's one exported function, returning &vt (the static
 * const struct dsb_source_plugin whose .abi is DSB_PLUGIN_HEADER):
 *
 *     static const struct dsb_source_plugin myplug = {...};
 *     DSB_PLUGIN_DEFINE(myplug);
 */
#define DSB_PLUGIN_DEFINE(vt)                                                  \
    DSB_EXTERN_C DSB_PLUGIN_EXPORT const struct dsb_source_plugin *            \
    dsb_plugin_entry(void);                                                    \
    DSB_EXTERN_C DSB_PLUGIN_EXPORT const struct dsb_source_plugin *            \
    dsb_plugin_entry(void)                                                     \
    {                                                                          \
        return &(vt);                                                          \
    }                                                                          \
    DSB_ABI_PIN(sizeof(vt) >= DSB_PLUGIN_SIZE_1_0,                             \
                "DSB_PLUGIN_DEFINE takes the vtable itself")

/* --------------------------------------------------------------- errors */

/*
 * Error codes.  The broker maps each to an HTTP status (in parentheses) and a
 * problem+json body carrying message, detail and hint.
 */
enum dsb_err_code {
    DSB_OK = 0,
    DSB_E_INVALID = 1,      /* caller gave a bad argument (400) */
    DSB_E_NOT_FOUND = 2,    /* database, schema, table, secret missing (404) */
    DSB_E_PERMISSION = 3,   /* the source refused access to an object (403) */
    DSB_E_AUTH = 4,         /* the broker's credentials were refused (502) */
    DSB_E_UNAVAILABLE = 5,  /* source unreachable, down, refusing (503) */
    DSB_E_TIMEOUT = 6,      /* source did not answer in time (504) */
    DSB_E_UPSTREAM = 7,     /* source answered with an error (502) */
    DSB_E_THROTTLED = 8,    /* source asked us to slow down (429) */
    DSB_E_CONFLICT = 9,     /* state conflict (409) */
    DSB_E_UNSUPPORTED = 10, /* the plugin does not do this (501) */
    DSB_E_CONFIG = 11,      /* the source's configuration is wrong (500) */
    DSB_E_INTERNAL = 12,    /* a bug or resource exhaustion (500) */
};

/*
 * An error value, in a buffer the caller owns.  Messages are lower-case, one
 * line, and never contain a secret value or a function name.
 *   message  what went wrong, e.g. "relation \"public.x\" does not exist"
 *   detail   more context, e.g. the server's DETAIL line
 *   hint     what to do about it
 *   upstream the source's own code: a SQLSTATE, an AWS error code
 */
struct dsb_error {
    int code;      /* enum dsb_err_code */
    int retryable; /* non-zero when the same call may succeed later */
    char upstream[64];
    char message[512];
    char detail[1024];
    char hint[512];
};

static inline void dsb_error_clear(struct dsb_error *err)
{
    if (err)
        memset(err, 0, sizeof(*err));
}

/* Sets code and message (printf-style); clears the other fields.  Returns -1
 * so a slot can end with `return dsb_error_set(err, ...);`. */
static inline int dsb_error_set(struct dsb_error *err, int code,
                                const char *fmt, ...) DSB_PRINTF(3, 4);
static inline int dsb_error_set(struct dsb_error *err, int code,
                                const char *fmt, ...)
{
    va_list ap;
    if (!err)
        return -1;
    memset(err, 0, sizeof(*err));
    err->code = code;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
    va_end(ap);
    return -1;
}

static inline void dsb_error_detail(struct dsb_error *err, const char *fmt, ...)
    DSB_PRINTF(2, 3);
static inline void dsb_error_detail(struct dsb_error *err, const char *fmt, ...)
{
    va_list ap;
    if (!err)
        return;
    va_start(ap, fmt);
    vsnprintf(err->detail, sizeof(err->detail), fmt, ap);
    va_end(ap);
}

static inline void dsb_error_hint(struct dsb_error *err, const char *fmt, ...)
    DSB_PRINTF(2, 3);
static inline void dsb_error_hint(struct dsb_error *err, const char *fmt, ...)
{
    va_list ap;
    if (!err)
        return;
    va_start(ap, fmt);
    vsnprintf(err->hint, sizeof(err->hint), fmt, ap);
    va_end(ap);
}

/* -------------------------------------------------------------- options */

/*
 * Option types.  The broker parses the YAML, checks every value against the
 * table and hands the plugin a JSON object with the converted values:
 *   STRING, ENUM, SECRET-flagged  -> JSON string
 *   INT                           -> JSON integer (YAML int only; no "12abc")
 *   DOUBLE                        -> JSON real
 *   BOOL                          -> JSON true/false (true/false/yes/no/on/off)
 *   STRING_LIST                   -> JSON array of strings (a lone scalar is
 *                                    accepted as a one-item list)
 *   STRING_MAP                    -> JSON object of string values
 *   OBJECT                        -> JSON object checked against `fields`
 *   OBJECT_LIST                   -> JSON array of such objects
 * Options that are absent and have no default are absent from the object.
 */
enum dsb_opt_type {
    DSB_OPT_STRING = 1,
    DSB_OPT_INT = 2,
    DSB_OPT_DOUBLE = 3,
    DSB_OPT_BOOL = 4,
    DSB_OPT_ENUM = 5,
    DSB_OPT_STRING_LIST = 6,
    DSB_OPT_STRING_MAP = 7,
    DSB_OPT_OBJECT = 8,
    DSB_OPT_OBJECT_LIST = 9,
};

#define DSB_OPT_REQUIRED 0x1u /* must be given (a default makes no sense) */
#define DSB_OPT_SECRET 0x2u   /* value must be a secret reference */
#define DSB_OPT_BOUNDED 0x4u  /* INT/DOUBLE: min <= value <= max */

/*
 * One option.  Tables end with an entry whose name is NULL.
 * default_value is YAML text ("5432", "true", "[a, b]"), NULL for none.
 * A SECRET option holds a reference, never a value:
 *   env:NAME            the environment variable NAME
 *   file:/abs/path      the file's content (trailing newline dropped)
 *   file:/abs/path#key  a key of the JSON object in that file
 *   aws-sm:ID[#key]     an AWS Secrets Manager secret (name or ARN)
 * The plugin resolves it when it needs the value, with host->secret_get.
 */
struct dsb_option {
    const char *name;
    enum dsb_opt_type type;
    unsigned flags;
    const char *default_value;
    double min, max;                 /* with DSB_OPT_BOUNDED */
    const char *const *enum_values;  /* ENUM: NULL-terminated */
    const struct dsb_option *fields; /* OBJECT, OBJECT_LIST */
    const char *description;
};

/* Table-building helpers; a table ends with DSB_OPTION_END. */
#define DSB_OPTION_STRING(name, flags, def, desc)                              \
    {                                                                          \
        (name), DSB_OPT_STRING, (flags), (def), 0, 0, NULL, NULL, (desc)       \
    }
#define DSB_OPTION_SECRET(name, flags, desc)                                   \
    {                                                                          \
        (name), DSB_OPT_STRING, (flags) | DSB_OPT_SECRET, NULL, 0, 0, NULL,    \
            NULL, (desc)                                                       \
    }
#define DSB_OPTION_INT(name, flags, def, lo, hi, desc)                         \
    {                                                                          \
        (name), DSB_OPT_INT, (flags) | DSB_OPT_BOUNDED, (def), (lo), (hi),     \
            NULL, NULL, (desc)                                                 \
    }
#define DSB_OPTION_DOUBLE(name, flags, def, lo, hi, desc)                      \
    {                                                                          \
        (name), DSB_OPT_DOUBLE, (flags) | DSB_OPT_BOUNDED, (def), (lo), (hi),  \
            NULL, NULL, (desc)                                                 \
    }
#define DSB_OPTION_BOOL(name, def, desc)                                       \
    {                                                                          \
        (name), DSB_OPT_BOOL, 0, (def), 0, 0, NULL, NULL, (desc)               \
    }
#define DSB_OPTION_ENUM(name, flags, def, values, desc)                        \
    {                                                                          \
        (name), DSB_OPT_ENUM, (flags), (def), 0, 0, (values), NULL, (desc)     \
    }
#define DSB_OPTION_LIST(name, flags, def, desc)                                \
    {                                                                          \
        (name), DSB_OPT_STRING_LIST, (flags), (def), 0, 0, NULL, NULL, (desc)  \
    }
#define DSB_OPTION_MAP(name, flags, desc)                                      \
    {                                                                          \
        (name), DSB_OPT_STRING_MAP, (flags), NULL, 0, 0, NULL, NULL, (desc)    \
    }
#define DSB_OPTION_OBJECT(name, fields, desc)                                  \
    {                                                                          \
        (name), DSB_OPT_OBJECT, 0, NULL, 0, 0, NULL, (fields), (desc)          \
    }
#define DSB_OPTION_OBJECT_LIST(name, flags, def, fields, desc)                 \
    {                                                                          \
        (name), DSB_OPT_OBJECT_LIST, (flags), (def), 0, 0, NULL, (fields),     \
            (desc)                                                             \
    }
#define DSB_OPTION_END                                                         \
    {                                                                          \
        NULL, 0, 0, NULL, 0, 0, NULL, NULL, NULL                               \
    }

/* ------------------------------------------------------------ host side */

enum dsb_log_level {
    DSB_LOG_ERROR = 0,
    DSB_LOG_WARN = 1,
    DSB_LOG_INFO = 2,
    DSB_LOG_DEBUG = 3,
};

/* One call into a plugin slot: its arena, deadline and request id. */
struct dsb_call;

struct dsb_kv {
    const char *key;
    const char *value;
};

/*
 * An AWS request, signed by the broker (SigV4) and sent with its retry policy.
 * Strings are borrowed.  path and query values are raw (not percent-encoded):
 * the broker encodes them for the wire and for the signature.
 */
struct dsb_aws_request {
    const char *service;      /* signing name: "s3", "glue", ... */
    const char *region;       /* NULL: the broker's region */
    const char *endpoint_url; /* NULL: the broker's aws.endpoint_url, then
                                 AWS_ENDPOINT_URL_<SVC>, AWS_ENDPOINT_URL,
                                 then AWS's own endpoint */
    const char *method;       /* "GET", "POST", ... */
    const char *path;         /* "/" or "/bucket/key" */
    const struct dsb_kv *query;
    size_t n_query;
    const struct dsb_kv *headers; /* e.g. X-Amz-Target, Content-Type, Range */
    size_t n_headers;
    const void *body;
    size_t body_len;
    long timeout_ms; /* 0: the broker's default */
};

/* A response; release with host->aws_response_free. */
struct dsb_aws_response {
    long status;
    char *body; /* NUL-terminated after body_len bytes */
    size_t body_len;
    char request_id[128];
    char error_type[128]; /* X-Amzn-ErrorType header, "" when absent */
};

/*
 * Services the broker hands to each plugin instance.  Every function takes
 * the host pointer it was reached through, which identifies the instance
 * (so log lines get their "[plugin:source]" prefix without the plugin's help).
 */
struct dsb_host {
    uint32_t size; /* sizeof(struct dsb_host) in the broker */
    uint16_t abi_major;
    uint16_t abi_minor;

    /* Logs one line.  Secret values the broker knows are redacted. */
    void (*log)(const struct dsb_host *h, enum dsb_log_level level,
                const char *fmt, ...) DSB_PRINTF(3, 4);
    /* Non-zero when a line at `level` would be written. */
    int (*log_enabled)(const struct dsb_host *h, enum dsb_log_level level);

    /* Memory owned by the call; freed by the broker when the call ends.
     * Returns NULL only when memory is exhausted. */
    void *(*arena_alloc)(struct dsb_call *call, size_t size);
    char *(*arena_strdup)(struct dsb_call *call, const char *s);

    /* Milliseconds: wall clock (Unix epoch) and a monotonic clock. */
    int64_t (*now_ms)(void);
    int64_t (*monotonic_ms)(void);
    /* Monotonic deadline of the call in ms; 0 means none. */
    int64_t (*call_deadline_ms)(const struct dsb_call *call);

    /*
     * Resolves a secret reference (see struct dsb_option) into a new
     * NUL-terminated string the plugin must give back with secret_free,
     * which wipes it.  Values are cached by the broker with a TTL.
     * Errors: DSB_E_NOT_FOUND, DSB_E_CONFIG (bad reference), DSB_E_AUTH,
     * DSB_E_UNAVAILABLE.  The reference, never the value, appears in errors.
     */
    int (*secret_get)(const struct dsb_host *h, const char *ref, char **value,
                      struct dsb_error *err);
    void (*secret_free)(const struct dsb_host *h, char *value);
    /* Drops the cached value, e.g. after the source refused it (rotation). */
    void (*secret_invalidate)(const struct dsb_host *h, const char *ref);

    /* Sends a signed AWS request (credentials, region, endpoint overrides,
     * retries handled by the broker).  Returns 0 when a response arrived,
     * whatever its status; -1 with err set when none did. */
    int (*aws_request)(const struct dsb_host *h,
                       const struct dsb_aws_request *req,
                       struct dsb_aws_response *resp, struct dsb_error *err);
    void (*aws_response_free)(const struct dsb_host *h,
                              struct dsb_aws_response *resp);
    /* Maps an AWS error response (JSON or XML) into err; returns -1. */
    int (*aws_error)(const struct dsb_host *h,
                     const struct dsb_aws_response *resp,
                     struct dsb_error *err);
    /* Spark settings (spark.hadoop.fs.s3a.*: endpoint, path-style access,
     * TLS, region) under which s3a:// reaches S3 the way the broker does:
     * endpoint_url (a source option; NULL: the broker's own resolution,
     * including AWS_ENDPOINT_URL_S3) and region (NULL: the broker's).
     * Empty when AWS's defaults apply.  New reference; NULL on exhaustion. */
    json_t *(*aws_s3a_conf)(const struct dsb_host *h, const char *endpoint_url,
                            const char *region);

    /* ABI 1.1+: a plugin declaring 1.0 checks DSB_HOST_HAS first. */

    /* As log, for a line written on behalf of a call: the line carries the
     * call's request id, so an operator can follow one request from the
     * access log into the plugin (DSB_CALL_INFO and friends). */
    void (*call_log)(const struct dsb_host *h, const struct dsb_call *call,
                     enum dsb_log_level level, const char *fmt, ...)
        DSB_PRINTF(4, 5);
    /* As aws_request, within the call: attempts, backoff and each request's
     * timeout stop at the call's deadline (call_deadline_ms).  aws_request,
     * which knows no call, is bounded by the AWS client's own timeouts
     * (aws.timeout_ms, aws.max_attempts) only. */
    int (*call_aws_request)(const struct dsb_host *h, struct dsb_call *call,
                            const struct dsb_aws_request *req,
                            struct dsb_aws_response *resp,
                            struct dsb_error *err);

    /* ABI 1.2+ host slots go here (1.2 and 1.3 added none). */
};

#define DSB_LOG(h, lvl, ...)                                                   \
    do {                                                                       \
        if ((h)->log_enabled((h), (lvl)))                                      \
            (h)->log((h), (lvl), __VA_ARGS__);                                 \
    } while (0)
/* A line on behalf of call (ABI 1.1+: the request id is in it); through
 * log when the broker's host table has no call_log. */
#define DSB_CALL_LOG(h, call, lvl, ...)                                        \
    do {                                                                       \
        if (!(h)->log_enabled((h), (lvl)))                                     \
            break;                                                             \
        if (DSB_HOST_HAS(h, call_log))                                         \
            (h)->call_log((h), (call), (lvl), __VA_ARGS__);                    \
        else                                                                   \
            (h)->log((h), (lvl), __VA_ARGS__);                                 \
    } while (0)
#define DSB_CALL_ERROR(h, c, ...) DSB_CALL_LOG(h, c, DSB_LOG_ERROR, __VA_ARGS__)
#define DSB_CALL_WARN(h, c, ...) DSB_CALL_LOG(h, c, DSB_LOG_WARN, __VA_ARGS__)
#define DSB_CALL_INFO(h, c, ...) DSB_CALL_LOG(h, c, DSB_LOG_INFO, __VA_ARGS__)
#define DSB_CALL_DEBUG(h, c, ...) DSB_CALL_LOG(h, c, DSB_LOG_DEBUG, __VA_ARGS__)
#define DSB_ERROR(h, ...) DSB_LOG(h, DSB_LOG_ERROR, __VA_ARGS__)
#define DSB_WARN(h, ...) DSB_LOG(h, DSB_LOG_WARN, __VA_ARGS__)
#define DSB_INFO(h, ...) DSB_LOG(h, DSB_LOG_INFO, __VA_ARGS__)
#define DSB_DEBUG(h, ...) DSB_LOG(h, DSB_LOG_DEBUG, __VA_ARGS__)

/* ------------------------------------------------------------- requests */

/* What the broker knows of a configured source; borrowed for the instance's
 * whole life (valid until close returns). */
struct dsb_source_info {
    const char *name;    /* source name from conf.d */
    const char *network; /* effective network */
    const char *description;
    const char *config_file; /* conf.d file that declared it */
    const char *config_dir;  /* conf.d directory, for relative paths */
};

/*
 * A listing request.  Levels above the one listed are set, the others NULL.
 * name_filter: case-insensitive substring of the name, NULL for all.
 * page_size: 0 means "all" (the plugin may still page at its own maximum).
 * page_token: NULL for the first page, else the next_page_token returned by
 * the previous page (opaque to the broker).
 */
struct dsb_list_request {
    const char *database;
    const char *schema;
    const char *name_filter;
    size_t page_size;
    const char *page_token;
};

/* Where a read spec will run, so the plugin can choose how to read. */
#define DSB_EXEC_GLUE_CATALOG 0x1u /* Glue Data Catalog is the metastore */
#define DSB_EXEC_S3A 0x2u          /* s3a:// is configured (local Spark) */
#define DSB_EXEC_S3_NATIVE 0x4u    /* s3:// works (EMR) */
#define DSB_EXEC_LOCAL_FILES 0x8u  /* the broker's local files are visible */

struct dsb_read_target {
    const char *executor;      /* executor name from broker.yaml */
    const char *executor_type; /* "local-spark", "emr-serverless" */
    unsigned caps;             /* DSB_EXEC_* */
};

/* How the source maps onto the broker's three levels. */
#define DSB_SRC_FLAT_SCHEMA                                                    \
    0x1u /* one schema per database, named flat_schema */

/* ------------------------------------------------------------ the vtable */

/*
 * JSON shapes of slot outputs (extra keys are allowed and passed through):
 *
 * check            {"ok": true, "server_version": "...", "latency_ms": 1.2,
 *                   ...}
 * list_databases   {"items": [{"name": "...", "comment": "..."}],
 *                   "next_page_token": null | "..."}
 * list_schemas     same shape as list_databases
 * list_tables      {"items": [TABLE], "next_page_token": null | "..."}
 * describe_table   TABLE
 *   TABLE = {"name", "kind" ("table", "view", "materialized_view",
 *            "partitioned_table", "foreign_table", "external_table", "file",
 *            "folder"), "comment", "row_estimate" (int or null),
 *            "size_bytes" (int or null), "primary_key": [names],
 *            "columns": [COLUMN]}
 *   COLUMN = {"name", "position" (1-based), "source_type", "spark_type",
 *             "nullable", "default" (string or null), "comment"}
 *   Optional keys of a TABLE (a description may have them where the source
 *   has the information; a listing need not):
 *     "unique_keys": [[names in key order]],
 *     "foreign_keys": [{"name", "columns": [names in key order],
 *                       "references": {"database", "schema", "table",
 *                                      "columns": [names]}}],
 *     "sample_rows": {"columns": [names], "rows": [[values]], "source"
 *                     (how they were read, e.g. "first_rows"), "as_of"
 *                     (UTC ISO 8601), "limit", "error" (instead of rows)}
 *   and of a COLUMN:
 *     "masked": true (mask_columns names it: no value of it anywhere),
 *     "stats": {"null_fraction", "distinct_count", "min", "max",
 *               "most_common": [{"value", "frequency"}], "source" (e.g.
 *               "pg_stats"), "as_of", "estimate": true}.
 *   A plugin offering samples or statistics declares the options
 *   sample_rows (INT), column_stats (BOOL) and mask_columns
 *   (STRING_LIST of fnmatch globs on column names, case-insensitive), reads
 *   no value of a masked column, and the broker strips any that comes back
 *   (stats, sample values) before it is cached.
 * read_spec        {"qualified_name", "format" ("jdbc", "csv", "table",
 *                   "parquet", ...), "path" (for path formats) or null,
 *                   "options": {name: string}, "secret_options": {name:
 *                   secret reference}, "columns": [COLUMN],
 *                   "primary_key": [...], "row_estimate", "size_bytes",
 *                   "spark_submit": {"jars": [...], "conf": {k: v}},
 *                   "notes": [strings for the agent's prompt],
 *                   and the TABLE's "unique_keys", "foreign_keys",
 *                   "sample_rows" when it has them}
 *                   The broker adds "network".
 *
 * Every slot returns 0 on success, -1 with err set on failure.  `inst` is the
 * pointer open stored; `call` carries the arena and deadline.
 *
 * Ownership common to the query slots (check .. describe_tables):
 *   - Inputs (req and its strings, database/schema/table, target) are
 *     borrowed for the call; copy what you keep.
 *   - *out is NULL on entry.  On success set it to a new JSON reference (one
 *     refcount the broker takes over: do not decref it or keep a borrowed
 *     pointer into it afterwards).  On failure the broker decrefs whatever
 *     *out holds, so either leave it NULL or hand it over too.
 *   - The call's arena (host->arena_alloc) is freed by the broker as soon as
 *     the slot returns: nothing in *out may point into it (jansson copies
 *     strings given to json_string and friends, so arena strings may be
 *     used to build *out).
 *   - err is the broker's buffer, valid for the call; the broker redacts
 *     known secret values from it before anyone sees it.
 */
struct dsb_source_plugin {
    struct dsb_abi_header abi; /* DSB_PLUGIN_HEADER */

    const char *name;                 /* "postgres"; must match the file name */
    const char *version;              /* the plugin's own version, "1.0.0" */
    const char *description;          /* one line */
    const struct dsb_option *options; /* NULL-name terminated */
    const char *default_network;      /* used when conf.d names none */
    unsigned flags;                   /* DSB_SRC_* */
    const char *flat_schema;          /* with DSB_SRC_FLAT_SCHEMA */

    /*
     * Creates an instance.  `options` is the validated option object
     * (borrowed: copy what you keep); `info` and `host` live until close.
     * Should not block on the network: connect lazily, check in `check`.
     * *inst is the plugin's own: passed back to every slot and freed only
     * by close.  On failure close is not called: free what open made.
     * open may also run once in a forked child (a preflight) whose
     * instance is closed there.  Required.
     */
    int (*open)(const struct dsb_host *host, const struct dsb_source_info *info,
                const json_t *options, void **inst, struct dsb_error *err);
    /* Frees the instance and everything it owns; no slot of it runs
     * afterwards.  Required. */
    void (*close)(void *inst);

    /* Tests the connection; *out: a new reference to the "check" object
     * above, taken by the broker.  Required. */
    int (*check)(void *inst, struct dsb_call *call, json_t **out,
                 struct dsb_error *err);
    /* One page of databases; req borrowed; *out: a new reference to the
     * listing object (next_page_token copied by the broker, opaque to it).
     * Required. */
    int (*list_databases)(void *inst, struct dsb_call *call,
                          const struct dsb_list_request *req, json_t **out,
                          struct dsb_error *err);
    /* One page of schemas of req->database; req borrowed; *out: a new
     * reference to the listing object, taken by the broker.  Required
     * unless DSB_SRC_FLAT_SCHEMA (the broker then answers by itself). */
    int (*list_schemas)(void *inst, struct dsb_call *call,
                        const struct dsb_list_request *req, json_t **out,
                        struct dsb_error *err);
    /* One page of tables of req->database/req->schema, each with all its
     * columns; req borrowed; *out: a new reference to the listing object,
     * taken by the broker.  Required. */
    int (*list_tables)(void *inst, struct dsb_call *call,
                       const struct dsb_list_request *req, json_t **out,
                       struct dsb_error *err);
    /* One table; the names are borrowed; *out: a new reference to a
     * TABLE object, taken by the broker.  DSB_E_NOT_FOUND
     * when it does not exist.  Required. */
    int (*describe_table)(void *inst, struct dsb_call *call,
                          const char *database, const char *schema,
                          const char *table, json_t **out,
                          struct dsb_error *err);
    /* How Spark on `target` reads the table; names and target borrowed;
     * *out: a new reference to a read_spec object, taken by the broker
     * (which adds "network").  Secret values never go into it: only
     * references, in "secret_options".  Required. */
    int (*read_spec)(void *inst, struct dsb_call *call, const char *database,
                     const char *schema, const char *table,
                     const struct dsb_read_target *target, json_t **out,
                     struct dsb_error *err);

    /* ABI 1.1+ */

    /*
     * read_spec for a table the broker has already described, so the
     * plugin need not describe it a second time.  `described` is the TABLE
     * object this plugin's describe_table returned for the same database,
     * schema and table, extra keys included (a listing's item is never
     * passed), taken from the broker's metadata cache: it may be as old as
     * the source's cache TTL, and the broker's read spec goes stale no later
     * than it.  Never NULL: without a description the broker calls
     * read_spec.  It is borrowed for the call and must not be modified;
     * parts of it may be put into *out by new reference (json_incref, "O"
     * in json_pack).  Names, target, *out and errors as read_spec, and the
     * result must be the one read_spec gives for that description.  A
     * plugin that finds keys it needs missing from `described` may
     * describe the table itself.  Optional: NULL means the broker always
     * calls read_spec.
     */
    int (*read_spec_described)(void *inst, struct dsb_call *call,
                               const char *database, const char *schema,
                               const char *table, const json_t *described,
                               const struct dsb_read_target *target,
                               json_t **out, struct dsb_error *err);

    /* ABI 1.2+ */

    /*
     * Several tables of one schema in one round trip to the source: for
     * each of tables[0..n) (n >= 1, distinct names, borrowed) that exists,
     * the TABLE describe_table gives for it, as {"items": [TABLE]} in any
     * order (a listing object without "next_page_token"); a name that does
     * not exist is left out, not an error.  The broker calls it when a
     * session or context needs descriptions it does not hold, and caches
     * each item as that table's describe_table answer (so the item must be
     * exactly that answer, extra keys included).  Database and schema
     * errors as describe_table.  Ownership as the query slots.  Optional:
     * NULL means the broker calls describe_table once a table.
     */
    int (*describe_tables)(void *inst, struct dsb_call *call,
                           const char *database, const char *schema,
                           const char *const *tables, size_t n, json_t **out,
                           struct dsb_error *err);

    /*
     * Refuses, at check time, options that open would refuse later and
     * that the option table cannot express (a root's form, one character
     * where a string is typed, two options that exclude each other).
     * `options` is the validated option object open would get (borrowed,
     * not to be modified); nothing else is known yet: no instance, no host,
     * no source info (a path relative to conf.d cannot be resolved).  It
     * must not block, touch the network or the disk, or resolve a secret.
     * Returns 0 when open would accept them, else -1 with err set (code
     * DSB_E_CONFIG; message and hint as open gives them) and *key the name
     * of the top-level option at fault (a string that lives as long as the
     * plugin is loaded, such as a literal), or NULL when no one option is;
     * the broker adds the file and line of that key.  The broker calls it
     * wherever a source is validated (check-config, startup, reload, the
     * managed sources of /v1/sources) after the option table passed, and
     * before open.  Optional: NULL means only the table is checked.
     */
    int (*check_options)(const json_t *options, const char **key,
                         struct dsb_error *err);

    /* ABI 1.3+ */

    /*
     * list_tables written as JSON text, for sources whose listings are
     * wide: the compact serialisation (JSON_COMPACT, keys in the order
     * list_tables gives them) of exactly the listing object list_tables
     * returns for the same request, written through write(bytes, n,
     * write_ctx).  write is jansson's json_dump_callback_t (hand it to
     * json_dump_callback as is); a non-zero return means the broker takes
     * no more: stop and fail.  *next_page_token (NULL on entry) is set to
     * the text's next_page_token when it has one, a string of the call's
     * arena (host->arena_strdup), so that the broker can ask for the next
     * page ahead of its client without parsing the text.  The broker
     * caches and serves these bytes with no tree between the catalog and
     * the client, and does not parse them to check their shape (that is
     * the cost the slot saves): a plugin offers the slot only for text its
     * tests compare with list_tables.  req, paging and errors as
     * list_tables; on failure what was written is dropped.  Optional: NULL
     * means the broker calls list_tables.
     */
    int (*list_tables_json)(void *inst, struct dsb_call *call,
                            const struct dsb_list_request *req,
                            json_dump_callback_t write, void *write_ctx,
                            const char **next_page_token,
                            struct dsb_error *err);

    /* ABI 1.4+ slots go here. */
};

/* The entry function's type. */
typedef const struct dsb_source_plugin *(*dsb_plugin_entry_fn)(void);

/* ------------------------------------------------------------ ABI pins */

/*
 * What ABI 1.0 means, and where each later minor's block starts, checked
 * wherever this header is compiled (the broker and every plugin), in units
 * of a pointer's size (DSB_P_) so that it holds for each build tag (ptr4,
 * ptr8).  Appending a 1.N slot changes none of it; a struct edited in
 * place, or a plugin built with packing or alignment flags that change the
 * layout, fails here.  Never edit a pin: a layout change is a new major.
 * A new minor adds its own pin.
 */
#define DSB_P_ sizeof(void *)
DSB_ABI_PIN(sizeof(struct dsb_abi_header) == 16 + DSB_P_ &&
                offsetof(struct dsb_abi_header, build_tag) == 16,
            "struct dsb_abi_header is frozen");
DSB_ABI_PIN(DSB_PLUGIN_SIZE_1_0 == 16 + 16 * DSB_P_ &&
                offsetof(struct dsb_source_plugin, name) == 16 + DSB_P_ &&
                offsetof(struct dsb_source_plugin, flags) == 16 + 6 * DSB_P_ &&
                offsetof(struct dsb_source_plugin, open) == 16 + 8 * DSB_P_,
            "the ABI 1.0 part of struct dsb_source_plugin is frozen");
DSB_ABI_PIN(offsetof(struct dsb_source_plugin, read_spec_described) ==
                    DSB_PLUGIN_SIZE_1_0 &&
                DSB_PLUGIN_SIZE_1_1 == 16 + 17 * DSB_P_,
            "the ABI 1.1 block starts where ABI 1.0 ended");
DSB_ABI_PIN(offsetof(struct dsb_source_plugin, describe_tables) ==
                    DSB_PLUGIN_SIZE_1_1 &&
                DSB_PLUGIN_SIZE_1_2 == 16 + 19 * DSB_P_,
            "the ABI 1.2 block starts where ABI 1.1 ended");
DSB_ABI_PIN(offsetof(struct dsb_source_plugin, list_tables_json) ==
                    DSB_PLUGIN_SIZE_1_2 &&
                DSB_PLUGIN_SIZE_1_3 == 16 + 20 * DSB_P_,
            "the ABI 1.3 block starts where ABI 1.2 ended");
DSB_ABI_PIN(DSB_HOST_SIZE_1_0 == 8 + 14 * DSB_P_ &&
                offsetof(struct dsb_host, log) == 8,
            "the ABI 1.0 part of struct dsb_host is frozen");
DSB_ABI_PIN(offsetof(struct dsb_host, call_log) == DSB_HOST_SIZE_1_0 &&
                DSB_HOST_SIZE_1_1 == 8 + 16 * DSB_P_,
            "the ABI 1.1 block of struct dsb_host starts where 1.0 ended");
DSB_ABI_PIN(sizeof(struct dsb_error) == 2120 &&
                offsetof(struct dsb_error, message) == 72 &&
                offsetof(struct dsb_error, hint) == 1608,
            "struct dsb_error is frozen");
DSB_ABI_PIN(sizeof(struct dsb_option) == 24 + 5 * DSB_P_ &&
                offsetof(struct dsb_option, min) == 8 + 2 * DSB_P_,
            "struct dsb_option is frozen");
DSB_ABI_PIN(sizeof(struct dsb_kv) == 2 * DSB_P_, "struct dsb_kv is frozen");
DSB_ABI_PIN(sizeof(struct dsb_aws_request) == 12 * DSB_P_ &&
                offsetof(struct dsb_aws_request, timeout_ms) == 11 * DSB_P_,
            "struct dsb_aws_request is frozen");
DSB_ABI_PIN(sizeof(struct dsb_aws_response) == 256 + 3 * DSB_P_ &&
                offsetof(struct dsb_aws_response, request_id) == 3 * DSB_P_,
            "struct dsb_aws_response is frozen");
DSB_ABI_PIN(sizeof(struct dsb_source_info) == 5 * DSB_P_,
            "struct dsb_source_info is frozen");
DSB_ABI_PIN(sizeof(struct dsb_list_request) == 5 * DSB_P_,
            "struct dsb_list_request is frozen");
DSB_ABI_PIN(sizeof(struct dsb_read_target) == 3 * DSB_P_ &&
                offsetof(struct dsb_read_target, caps) == 2 * DSB_P_,
            "struct dsb_read_target is frozen");

#ifdef __cplusplus
}
#endif

#endif /* DSBROKER_PLUGIN_H */
