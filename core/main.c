/* dsbroker: a plugin-based data-source broker for Spark agents. */
#include <stdio.h>

#include "cli.h"
#include "util.h"

int main(int argc, char **argv)
{
    dsb_malloc_bound();
    return dsb_cli_main(argc, argv, stdout, stderr);
}
