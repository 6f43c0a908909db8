/* dsbroker: a plugin-based data-source broker for Spark agents. */
#include <stdio.h>

#include "cli.h"

int main(int argc, char **argv)
{
    return dsb_cli_main(argc, argv, stdout, stderr);
}
