/* cli/cli.h - pieces of the `weir` command line shared between its files.
 *
 * Exit codes (DESIGN.md): 0 ok, 1 runtime failure, 2 bad usage or config.
 * Errors go to stderr as "weir: error: <message>"; results go to stdout. */
#ifndef WEIR_CLI_CLI_H
#define WEIR_CLI_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

#define WEIR_EXIT_OK      0
#define WEIR_EXIT_RUNTIME 1
#define WEIR_EXIT_USAGE   2

#define WEIR_CLI_VERSION "0.1.0"

/* Print "weir: error: <formatted>" to stderr. */
void weir_cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Print a usage error and the hint to run `<cmd> --help`; returns WEIR_EXIT_USAGE. */
int weir_cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Print err's message (or the code's text) as a runtime error; returns WEIR_EXIT_RUNTIME. */
int weir_cli_fail(const struct weir_error *err, int code);

/* `weir table ...`: argv[0] is "table". Returns the exit code. */
int weir_cli_table(int argc, char **argv);
/* `weir run CONFIG [--once|--available-now]`: argv[0] is "run". */
int weir_cli_run(int argc, char **argv);
/* --log-level / --log-format given before the command (-1: not given);
 * they win over the config file's log block. */
extern int weir_cli_log_level, weir_cli_log_format;
/* `weir validate CONFIG`: argv[0] is "validate". */
int weir_cli_validate(int argc, char **argv);
/* `weir --help-config`: every config option with type, default and meaning. */
int weir_cli_help_config(void);

#endif
