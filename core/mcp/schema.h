/* Tool arguments against a tool's input schema (schema.c). */
#ifndef DSB_CORE_MCP_SCHEMA_H
#define DSB_CORE_MCP_SCHEMA_H

#include <stddef.h>

#include <jansson.h>

/* 0 when value satisfies schema; -1 with why ("arguments.tables[0]:
 * missing required \"table\"") otherwise. */
int dsb_mcp_schema_check(const json_t *schema, const json_t *value, char *why,
                         size_t cap);

#endif
