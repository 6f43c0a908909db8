/* Counters and latency histograms (Prometheus text in core/http/metrics.c):
 * the service records plugin calls and cache answers, front doors their
 * requests. */
#ifndef DSB_CORE_METRICS_H
#define DSB_CORE_METRICS_H

#include <stdint.h>

struct dsb_metrics;

struct dsb_metrics *dsb_metrics_new(void);
void dsb_metrics_free(struct dsb_metrics *m);
void dsb_metrics_plugin(struct dsb_metrics *m, const char *source,
                        const char *slot, int64_t us, int failed);
void dsb_metrics_cache(struct dsb_metrics *m, int hit);

#endif
