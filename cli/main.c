/* cli/main.c - entry point of the `weir` command line.
 *
 * Owns: top-level argument dispatch (--help, --version, subcommands) and
 * the error/usage printing helpers of cli/cli.h. Installs weir's allocator
 * as cJSON's hooks so JSON parsing in the process goes through
 * weir_malloc, and sets glibc's malloc policy for batch work. Single-threaded.
 * Subcommands return their exit code; main never calls exit() from deep
 * inside. */
#include <malloc.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cli/cli.h"
#include "core/alloc.h"
#include "core/log.h"

static const char usage_text[] =
    "usage: weir [--help] [--version] [--log-level L] [--log-format F] <command> [<args>]\n"
    "\n"
    "weir streams data into Delta Lake tables. Commands:\n"
    "  table describe PATH     version, protocol, schema, partitions, files and size\n"
    "  table history PATH      one line per commit: version, time, operation, parameters, metrics\n"
    "  table scan PATH         print the rows as JSON lines\n"
    "  table import PATH       append JSON lines files as one commit (creates the table)\n"
    "  table checkpoint PATH   write a checkpoint of the latest version\n"
    "  table optimize PATH     compact small files (dataChange=false; appends never conflict)\n"
    "  table vacuum PATH       delete files unreferenced for longer than the retention\n"
    "  table restore PATH      make an older version the latest again (--version N)\n"
    "  run CONFIG              run the pipelines of CONFIG (--once, --available-now)\n"
    "  validate CONFIG         check a config file; print every error with its key path\n"
    "  checkpoint inspect DIR  a pipeline's checkpoint: batches, offsets, state, lock holder\n"
    "  checkpoint reset-offsets DIR --to SPEC\n"
    "                          move a Kafka pipeline to new positions (earliest, latest,\n"
    "                          timestamp:TS, offsets JSON), e.g. after a topic was re-created\n"
    "\n"
    "Run `weir table --help` and `weir checkpoint --help` for the options of each\n"
    "command and `weir --help-config` for every config option.\n"
    "Logs go to stderr: --log-format json (default, one object per line) or text,\n"
    "--log-level debug|info|warn|error (default info).\n"
    "Exit codes: 0 ok, 1 runtime failure, 2 bad usage or config.\n";

int weir_cli_log_level = -1, weir_cli_log_format = -1;

void weir_cli_error(const char *fmt, ...)
{
    va_list ap;
    fputs("weir: error: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

int weir_cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fputs("weir: error: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry '%s --help' for more information.\n", cmd);
    return WEIR_EXIT_USAGE;
}

int weir_cli_fail(const struct weir_error *err, int code)
{
    if (err != NULL && err->message[0] != '\0')
        weir_cli_error("%s", err->message);
    else
        weir_cli_error("%s", weir_strerror(code));
    return WEIR_EXIT_RUNTIME;
}

int main(int argc, char **argv)
{
    int i = 1;
    /* Batches allocate and free the same large buffers over and over: keep
     * up to 256 MiB of freed heap and serve blocks up to 32 MiB from it
     * instead of returning them to the kernel, which costs a page fault per
     * 4 KiB on reuse. The peak stays the same; after a large batch up to
     * 256 MiB of freed heap may stay resident until reused. Setting
     * GLIBC_TUNABLES hands the whole policy to glibc's tunables. */
#ifdef M_TRIM_THRESHOLD
    if (getenv("GLIBC_TUNABLES") == NULL) {
        mallopt(M_TRIM_THRESHOLD, 256 << 20);
        mallopt(M_MMAP_THRESHOLD, 32 << 20);
    }
#endif
    /* global options before the command */
    while (i < argc && strncmp(argv[i], "--log-", 6) == 0) {
        const char *opt = argv[i], *val = strchr(opt, '=');
        size_t namelen = val ? (size_t)(val - opt) : strlen(opt);
        if (val != NULL)
            val++;
        else if (i + 1 < argc)
            val = argv[++i];
        else
            return weir_cli_usage_error("weir", "%s needs a value", opt);
        if (namelen == 11 && strncmp(opt, "--log-level", namelen) == 0) {
            int level = weir_log_level_from_string(val);
            if (level < 0)
                return weir_cli_usage_error("weir", "unknown log level '%s' (debug, info, warn, error)", val);
            weir_log_set_level((enum weir_log_level)level);
            weir_cli_log_level = level;
        } else if (namelen == 12 && strncmp(opt, "--log-format", namelen) == 0) {
            if (strcmp(val, "json") == 0)
                weir_cli_log_format = WEIR_LOG_JSON;
            else if (strcmp(val, "text") == 0)
                weir_cli_log_format = WEIR_LOG_TEXT;
            else
                return weir_cli_usage_error("weir", "unknown log format '%s' (json, text)", val);
            weir_log_set_format((enum weir_log_format)weir_cli_log_format);
        } else {
            return weir_cli_usage_error("weir", "unknown option '%.*s'", (int)namelen, opt);
        }
        i++;
    }
    if (i >= argc) {
        fputs(usage_text, stderr);
        return WEIR_EXIT_USAGE;
    }
    argc -= i - 1;
    argv += i - 1;
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        fputs(usage_text, stdout);
        return WEIR_EXIT_OK;
    }
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "-V") == 0 || strcmp(cmd, "version") == 0) {
        printf("weir %s\n", WEIR_CLI_VERSION);
        return WEIR_EXIT_OK;
    }
    if (strcmp(cmd, "--help-config") == 0)
        return weir_cli_help_config();
    if (strcmp(cmd, "table") == 0)
        return weir_cli_table(argc - 1, argv + 1);
    if (strcmp(cmd, "run") == 0)
        return weir_cli_run(argc - 1, argv + 1);
    if (strcmp(cmd, "validate") == 0)
        return weir_cli_validate(argc - 1, argv + 1);
    if (strcmp(cmd, "checkpoint") == 0)
        return weir_cli_checkpoint(argc - 1, argv + 1);
    if (cmd[0] == '-')
        return weir_cli_usage_error("weir", "unknown option '%s'", cmd);
    return weir_cli_usage_error("weir", "unknown command '%s'", cmd);
}
