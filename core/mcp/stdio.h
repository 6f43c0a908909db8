/* `dsbroker mcp` (stdio.c). */
#ifndef DSB_CORE_MCP_STDIO_H
#define DSB_CORE_MCP_STDIO_H

#include <stdio.h>

/* Relays JSON-RPC lines from in to the running broker's /mcp ($DSB_URL,
 * else broker.yaml's listen address under conf_dir; $DSB_TOKEN) and its
 * answers to out, until end of input; diagnostics go to errs.  With
 * $DSB_MCP_TRANSCRIPT, every line in ("> ") and out ("< ") is appended to
 * that file.  Exit code. */
int dsb_mcp_stdio(const char *conf_dir, FILE *in, FILE *out, FILE *errs);

#endif
