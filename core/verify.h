/* Verified reads: a Spark program that runs each table's read of a context
 * as rendered without reading rows (core/verify.py), and the comparison of
 * the schemas it resolved with the catalog's columns.  Pure functions over
 * JSON: the service (core/service/verify_ops.c) submits the program as a
 * job and compares its output. */
#ifndef DSB_CORE_VERIFY_H
#define DSB_CORE_VERIFY_H

#include <jansson.h>

/* The "purpose" kind of a verification job (the job record's
 * "purpose": {"kind", "context_etag"}). */
#define DSB_VERIFY_KIND "verify-context"

/*
 * The PySpark program verifying every table of ctx (a context as
 * dsb_context_build makes it, borrowed): the _dsb_secret prelude, the
 * verifier of core/verify.py, and one call with each table's variable,
 * snippet and read (format, path, options, secret references — never a
 * value) as a Python literal.  It writes one JSON line per table to
 * $DSB_OUTPUT.  malloc'd; NULL when memory is exhausted.
 */
char *dsb_verify_code(const json_t *ctx);

/*
 * The report of a verification: for each table of ctx, its result in
 * result (the job's output as dsb_jobs_result gives it: columns "index"
 * and "result", borrowed) compared with its catalog columns:
 * {"ok", "summary": {"ok", "differs", "error"}, "tables": [{"source",
 * "database", "schema", "table", "variable", "ok", "status" ("ok",
 * "differs" or "error"), "resolved_by" ("read", "header", "footer"),
 * "resolved_schema": [{"name", "type", "nullable"}], "differences": [{"kind"
 * ("missing", "extra", "type", "position"), "column", ..., "message"}],
 * "error":
 * {"kind", "class", "sqlstate", "condition", "message"}}]}.  A new
 * reference; NULL when memory is exhausted.
 */
json_t *dsb_verify_report(const json_t *ctx, const json_t *result);

/* A Spark type string in one canonical spelling for comparison (lower
 * case, no blanks, synonyms such as integer -> int and varchar(n) ->
 * string replaced): buf receives it (truncated to cap). */
void dsb_verify_type_norm(const char *type, char *buf, size_t cap);

#endif
