/* `dsbroker context SESSION` and `dsbroker submit SESSION FILE.py`: clients
 * of a running broker's HTTP API (base URL: $DSB_URL, else broker.yaml's
 * listen address). */
#ifndef DSB_CORE_JOBS_CLI_JOBS_H
#define DSB_CORE_JOBS_CLI_JOBS_H

#include <stddef.h>
#include <stdio.h>

struct dsb_sb;

/* The broker's base URL without a trailing '/' (malloc'd): $DSB_URL, else
 * http:// and broker.yaml's listen address. */
char *dsb_cli_base_url(const char *conf_dir);
/* A libcurl write callback appending to a struct dsb_sb (ud). */
size_t dsb_cli_collect(char *p, size_t size, size_t n, void *ud);
/* One request to a running broker ($DSB_TOKEN as the bearer token; a POST
 * when post is not NULL), its body into *body.  The HTTP status, or 0
 * when no answer came (the reason is written to errs). */
long dsb_cli_fetch(const char *url, const char *post, struct dsb_sb *body,
                   FILE *errs);

/* BASE/v1/sessions/SESSION/WHAT, SESSION %-encoded (malloc'd). */
char *dsb_cli_session_url(const char *conf_dir, const char *session,
                          const char *what);

/* GET /v1/sessions/SESSION/context; prints the JSON.  Exit code. */
int dsb_cli_context(const char *conf_dir, const char *session, FILE *out,
                    FILE *errs);
/* POST /v1/sessions/SESSION/jobs {"code": FILE's text, "name": FILE's
 * base name}; prints the job (with its route).  Exit code. */
int dsb_cli_submit(const char *conf_dir, const char *session, const char *file,
                   FILE *out, FILE *errs);

/* `dsbroker verify SESSION`: POST /v1/sessions/SESSION/context/verify
 * (latest: none, only the latest verification of the current context),
 * then GET it until it is no longer pending or running; prints one line
 * per table (ok, DIFFERS with each difference, ERROR with the error), or
 * with json the answer as JSON.  Exit code: 0 when every table is ok, 1
 * otherwise (or when the call failed). */
int dsb_cli_verify(const char *conf_dir, const char *session, int json,
                   int latest, FILE *out, FILE *errs);

#endif
