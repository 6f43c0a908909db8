/* Filling struct dsb_host for one source instance. */
#ifndef DSB_CORE_HOST_H
#define DSB_CORE_HOST_H

#include "broker.h"

/* Fills hi for source `source` of `plugin`; log lines get "plugin:source". */
void dsb_host_init(struct dsb_host_impl *hi, struct dsb_broker *b,
                   const char *plugin, const char *source);
/* Fills the AWS slots (core/host_aws.c). */
void dsb_host_init_aws(struct dsb_host *h);

#endif
