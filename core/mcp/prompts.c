/* MCP prompts: generate_spark_job (a session's context and the output
 * contract), debug_failed_job (a job's script, error and log tail) and
 * explore_source (how to walk a source with the tools). */
#include <stdlib.h>
#include <string.h>

#include "mcp/mcp.h"
#include "util.h"

static const char generate_text[] =
    "Write a PySpark job for this task: %s\n\n"
    "Output contract: write the result with "
    "df.coalesce(1).write.csv(os.environ['DSB_OUTPUT'], header=True) (or "
    "JSON lines to the same path), then spark.stop(). Do not print data to "
    "stdout. Submit it with submit_job (session %s), poll get_job and read "
    "get_job_result.\n\n"
    "The job must start with these lines, then the read code below "
    "verbatim (it defines one DataFrame per selected table and resolves "
    "secrets at run time; do not change it):\n\n"
    "```python\nimport os\n"
    "from pyspark.sql import SparkSession, functions as F\n"
    "spark = SparkSession.builder.getOrCreate()\n%s```\n\n"
    "What the tables hold and how to read them:\n\n%s";

static const char debug_text[] =
    "The Spark job %s (%s) did not succeed: state %s, reason: %s.\n\n"
    "Its script as it was staged:\n\n```python\n%s```\n\n"
    "The end of its stderr:\n\n```\n%s\n```\n\nThe end of its stdout:\n\n"
    "```\n%s\n```\n\nExplain the cause, then give the corrected job in "
    "full; keep the session's read code verbatim (get_spark_context).";

static const char explore_text[] =
    "Explore the data source %s for a Spark job. Use browse with source "
    "%s to list its databases, then with database (and schema) to list "
    "schemas and tables with their columns; describe_table gives one table "
    "in full and search_tables finds tables by name or comment across what "
    "you listed. Summarise which tables hold what, their keys and sizes, "
    "and which ones answer the question at hand. Its databases now: %s";

static const struct {
    const char *name, *title, *description;
    const char *arg[2], *arg_doc[2];
    const char *rest; /* where the rest is when the prompt is cut */
} prompts[] = {
    {"generate_spark_job",
     "Generate a Spark job",
     "the session's Spark context plus instructions for writing a job that "
     "follows the output contract",
     {"session", "task"},
     {"a broker session id (create_session)", "what the job must compute"},
     "read the session's resources context.md and reads.py, or "
     "get_spark_context, which page"},
    {"debug_failed_job",
     "Debug a failed job",
     "a job's script, its error and the tail of its logs",
     {"job", NULL},
     {"the job id", NULL},
     "read get_job_logs with fewer lines, or the job's log resource"},
    {"explore_source",
     "Explore a source",
     "how to walk a source with the tools, with its databases",
     {"source", NULL},
     {"a source name (list_sources)", NULL},
     "list the databases with browse, which pages"},
};
#define N_PROMPTS (sizeof(prompts) / sizeof(*prompts))

json_t *dsb_mcp_prompts_list(const struct dsb_mcp_call *c, json_t *params,
                             struct dsb_mcp_err *e)
{
    json_t *list = json_array();

    (void)c;
    (void)params;
    (void)e;
    for (size_t i = 0; i < N_PROMPTS; i++) {
        json_t *args = json_array();
        for (size_t k = 0; k < 2 && prompts[i].arg[k]; k++)
            json_array_append_new(
                args,
                json_pack("{s:s, s:s, s:b}", "name", prompts[i].arg[k],
                          "description", prompts[i].arg_doc[k], "required", 1));
        json_array_append_new(
            list, json_pack("{s:s, s:s, s:s, s:o}", "name", prompts[i].name,
                            "title", prompts[i].title, "description",
                            prompts[i].description, "arguments", args));
    }
    return json_pack("{s:o}", "prompts", list);
}

static const char *member(const json_t *o, const char *k)
{
    const char *v = json_string_value(json_object_get(o, k));

    return v ? v : "";
}

static char *generate(const struct dsb_ctx *ctx, const json_t *args,
                      struct dsb_error *err)
{
    const char *session = member(args, "session");
    int hit;
    const struct dsb_cached *v = dsb_svc_context(ctx, session, NULL, &hit, err);
    char *s = NULL;

    if (!v)
        return NULL;
    if (v->doc)
        s = dsb_asprintf(generate_text, member(args, "task"), session,
                         member(v->doc, "code"), member(v->doc, "prompt"));
    else
        *err = v->err;
    dsb_svc_release(ctx, v);
    return s;
}

static char *debug(const struct dsb_ctx *ctx, const json_t *args,
                   struct dsb_error *err)
{
    const char *id = member(args, "job");
    json_t *job = NULL, *logs = NULL;
    char *script = NULL, *s = NULL;

    if (dsb_svc_job_get(ctx, id, &job, err) == 0 &&
        dsb_svc_job_logs(ctx, id, 80, &logs, err) == 0) {
        if (dsb_svc_job_script(ctx, id, &script, err) < 0)
            script = strdup("(not kept)\n");
        s = dsb_asprintf(debug_text, id, member(job, "name"),
                         member(job, "state"), member(job, "reason"),
                         script ? script : "", member(logs, "stderr"),
                         member(logs, "stdout"));
    }
    free(script);
    json_decref(job);
    json_decref(logs);
    return s;
}

static char *explore(const struct dsb_ctx *ctx, const json_t *args,
                     struct dsb_error *err)
{
    const char *src = member(args, "source");
    struct dsb_browse b = {
        DSB_SLOT_LIST_DATABASES, src, NULL, NULL, NULL, NULL, NULL, 0};
    json_t *all = NULL, *it;
    struct dsb_sb names = {0};
    char *s = NULL;
    size_t i;

    if (dsb_svc_browse_names(ctx, &b, &all, err) < 0)
        return NULL;
    json_array_foreach(all, i, it)
    {
        const char *name = json_string_value(it);
        dsb_sb_addf(&names, "%s%s", i ? ", " : "", name ? name : "");
    }
    s = dsb_asprintf(explore_text, src, src, dsb_sb_str(&names));
    dsb_sb_free(&names);
    json_decref(all);
    return s;
}

/* The message's content {type: text, text} within the budget: a cut
 * prompt ends by saying where the rest is (a new reference, or NULL). */
static json_t *cut_to_budget(const struct dsb_mcp_call *c, const char *text,
                             const char *rest)
{
    json_t *m = json_pack("{s:s, s:s}", "type", "text", "text", text);
    char *next = NULL;

    if (m && dsb_mcp_budget_marked(m, "text", 0, dsb_mcp_budget_of(c), NULL,
                                   rest, &next) < 0) {
        json_decref(m);
        m = NULL;
    }
    return m;
}

json_t *dsb_mcp_prompts_get(const struct dsb_mcp_call *c, json_t *params,
                            struct dsb_mcp_err *e)
{
    const char *name = json_string_value(json_object_get(params, "name"));
    const json_t *args = json_object_get(params, "arguments");
    struct dsb_error err = {0};
    size_t i = 0;
    char *text;
    json_t *r;

    while (name && i < N_PROMPTS && strcmp(prompts[i].name, name) != 0)
        i++;
    if (!name || i == N_PROMPTS) {
        dsb_mcp_err_set(e, DSB_RPC_INVALID_PARAMS, "unknown prompt: %.64s",
                        name ? name : "(no name)");
        return NULL;
    }
    for (size_t k = 0; k < 2 && prompts[i].arg[k]; k++)
        if (!json_is_string(json_object_get(args, prompts[i].arg[k]))) {
            dsb_mcp_err_set(e, DSB_RPC_INVALID_PARAMS,
                            "the prompt %s needs the argument %s", name,
                            prompts[i].arg[k]);
            return NULL;
        }
    text = i == 0   ? generate(c->ctx, args, &err)
           : i == 1 ? debug(c->ctx, args, &err)
                    : explore(c->ctx, args, &err);
    if (!text) {
        dsb_mcp_err_set(e, DSB_RPC_INVALID_PARAMS, "%s", err.message);
        dsb_mcp_err_scope(e, &err);
        return NULL;
    }
    r = cut_to_budget(c, text, prompts[i].rest);
    free(text);
    if (!r) {
        dsb_mcp_err_set(e, DSB_RPC_INTERNAL, "out of memory");
        return NULL;
    }
    return json_pack("{s:s, s:[{s:s, s:o}]}", "description",
                     prompts[i].description, "messages", "role", "user",
                     "content", r);
}
