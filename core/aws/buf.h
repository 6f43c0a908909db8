/* SigV4 percent-encoding into a string builder, and wiping secrets;
 * internal to core/aws. */
#ifndef DSB_CORE_AWS_BUF_H
#define DSB_CORE_AWS_BUF_H

#include "util.h"

/* Appends s percent-encoded the SigV4 way: everything but A-Z a-z 0-9 - _ . ~
 * (and '/' when keep_slash) becomes an upper-case %XX. */
void dsb_aws_uri_encode(struct dsb_sb *b, const char *s, int keep_slash);

/* Wipes and frees a string that may hold a secret.  NULL is a no-op. */
void dsb_aws_wipe_free(char *s);

#endif
