/* Command-line front end (dsbroker COMMAND ...). */
#ifndef DSB_CORE_CLI_H
#define DSB_CORE_CLI_H

#include <stdio.h>

/* Exit codes. */
#define DSB_EXIT_OK 0
#define DSB_EXIT_FAIL 1  /* the command ran and found problems */
#define DSB_EXIT_USAGE 2 /* bad command line */

/* Runs one command line; output to out/errs.  Returns the exit code. */
int dsb_cli_main(int argc, char **argv, FILE *out, FILE *errs);

#endif
