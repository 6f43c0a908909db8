/* A vtable that ends after its name, as a header from before the slots
 * existed would produce: the loader must refuse it without reading on. */
#include "dsbroker/plugin.h"

struct short_vtable {
    struct dsb_abi_header abi;
    const char *name;
};

static const struct short_vtable short_plugin = {
    {DSB_PLUGIN_MAGIC, DSB_ABI_MAJOR, DSB_ABI_MINOR,
     (uint32_t)sizeof(struct short_vtable), 0, DSB_BUILD_TAG},
    "short_struct"};

DSB_PLUGIN_EXPORT const struct dsb_source_plugin *dsb_plugin_entry(void);
DSB_PLUGIN_EXPORT const struct dsb_source_plugin *dsb_plugin_entry(void)
{
    return (const struct dsb_source_plugin *)(const void *)&short_plugin;
}
