/* The spark-submit executor type (spark.c): what its tests reach. */
#ifndef DSB_CORE_JOBS_SPARK_H
#define DSB_CORE_JOBS_SPARK_H

#include <jansson.h>

#include "jobs/internal.h"

/* The kind of cluster a master URL names. */
enum dsb_spark_kind {
    DSB_SPARK_NONE = 0,   /* not a cluster master (local[N], a typo...) */
    DSB_SPARK_STANDALONE, /* spark://HOST:PORT[,HOST:PORT...] */
    DSB_SPARK_K8S,        /* k8s://https://API-SERVER */
    DSB_SPARK_YARN,       /* yarn */
};

enum dsb_spark_kind dsb_spark_kind_of(const char *master);

/* deploy_mode's values, NULL-terminated. */
extern const char *const dsb_spark_deploy_modes[];

/* The standalone master's web UI (malloc'd, no trailing slash): option
 * master_ui_url, else http://HOST:8080 of the first master in the URL;
 * NULL for other kinds. */
char *dsb_spark_master_ui(const json_t *opts);

/* The state of application app_id in a master's /json/ answer (its
 * activeapps or completedapps), borrowed; NULL when it is not listed. */
const char *dsb_spark_app_state(const json_t *status, const char *app_id);

/* Non-zero for a state after which a standalone application never
 * changes: FINISHED, FAILED, KILLED. */
int dsb_spark_app_final(const char *state);

/* The application id in a driver's log ("... with app ID app-..."), the
 * last one; malloc'd or NULL. */
char *dsb_spark_app_id_in(const char *text);

#endif
