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

/* ---- arguments (cli/args.c) ---- */

/* A subcommand's arguments, argv[i] the one being looked at. */
struct weir_cli_args {
    int argc;
    char **argv;
    int i;
    const char *cmd; /* "weir table scan" for messages */
};
/* Is argv[i] the option `name` ("--limit" or "--limit=5")? Sets *val to the
 * value (next argument or after '='); returns -1 when the value is missing. */
int weir_cli_opt_value(struct weir_cli_args *a, const char *name, const char **val);
/* What a command's loop ends with: --help (prints `usage`), an unknown
 * option, or its one positional argument (*arg; a second one is an error).
 * 0 to go on, 1 after the help (exit OK), -1 after a usage error put its
 * code in *exit_code. */
int weir_cli_last_arg(struct weir_cli_args *a, const char *usage, const char **arg, int *exit_code);
/* Is argv[i] the option `name` with a whole number >= 0 ("--limit 5")?
 * Returns 0 when it is another argument, 1 when *out was set, and -1 after a
 * usage error ("<name> needs <need>") put its exit code in *exit_code. */
int weir_cli_opt_count(struct weir_cli_args *a, const char *name, const char *need, int64_t *out,
                       int *exit_code);
/* A whole decimal number, nothing else. */
bool weir_cli_parse_i64(const char *s, int64_t *out);
/* A time given as milliseconds since the epoch or ISO-8601
 * ("2024-01-02T03:04:05Z"; rounded up to the millisecond): 0 or WEIR_EPARSE. */
int weir_cli_parse_time(const char *s, int64_t *ms);
/* "2024-01-02T03:04:05.123Z" (UTC, milliseconds). */
void weir_cli_format_ms(int64_t ms, char buf[48]);
struct weir_buf;
/* Appends s as a JSON string, or null when NULL: 0 or WEIR_ENOMEM. */
int weir_cli_json_str(struct weir_buf *o, const char *s);

/* ---- commands ---- */

struct weir_config;
/* Read and parse the config file `path`, printing every error with its key
 * path: 0 with *out set (and the text in *text_out when not NULL), or the
 * exit code WEIR_EXIT_USAGE. */
int weir_cli_load_config(const char *path, struct weir_config **out, struct weir_buf *text_out);

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
/* `weir checkpoint inspect|reset-offsets ...`: argv[0] is "checkpoint". */
int weir_cli_checkpoint(int argc, char **argv);

#endif
