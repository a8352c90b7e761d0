/* cli/config.c - `weir validate CONFIG` and `weir --help-config`.
 *
 * validate reads the whole file, parses it with stream/config (which
 * collects every problem), prints one line per error to stderr with its key
 * path and position, and exits 2 when there is any (0 and "ok" otherwise).
 * Single-threaded. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "stream/config.h"

static int read_all(const char *path, struct weir_buf *out)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (f == NULL)
        return -errno;
    char chunk[65536];
    size_t n;
    int rc = 0;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        if (weir_buf_append(out, chunk, n) < 0) {
            rc = -ENOMEM;
            break;
        }
    if (rc == 0 && ferror(f))
        rc = -EIO;
    if (f != stdin)
        fclose(f);
    return rc;
}

int weir_cli_validate(int argc, char **argv)
{
    if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        puts("usage: weir validate CONFIG\n\nCheck a config file and print every error with its key path.\n"
             "Exit codes: 0 valid, 2 invalid or unreadable.");
        return WEIR_EXIT_OK;
    }
    if (argc != 2)
        return weir_cli_usage_error("weir validate", "expected exactly one CONFIG file");
    const char *path = argv[1];
    struct weir_buf text;
    weir_buf_init(&text);
    int rc = read_all(path, &text);
    if (rc < 0) {
        weir_cli_error("%s: %s", path, strerror(-rc));
        weir_buf_free(&text);
        return WEIR_EXIT_USAGE;
    }
    struct weir_error_list errors;
    weir_error_list_init(&errors);
    struct weir_config *cfg = NULL;
    rc = weir_config_parse((const char *)text.data, text.len, path, &cfg, &errors);
    for (size_t i = 0; i < errors.n; i++)
        weir_cli_error("%s: %s", path, errors.items[i].message);
    if (errors.oom)
        weir_cli_error("%s: out of memory recording further errors", path);
    if (rc == 0)
        printf("%s: ok (%zu pipeline%s)\n", path, cfg->npipelines, cfg->npipelines == 1 ? "" : "s");
    else if (errors.n == 0)
        weir_cli_error("%s: %s", path, weir_strerror(rc));
    weir_config_destroy(cfg);
    weir_error_list_free(&errors);
    weir_buf_free(&text);
    return rc == 0 ? WEIR_EXIT_OK : WEIR_EXIT_USAGE;
}

int weir_cli_help_config(void)
{
    struct weir_buf b;
    weir_buf_init(&b);
    if (weir_config_help(&b) < 0) {
        weir_buf_free(&b);
        weir_cli_error("out of memory");
        return WEIR_EXIT_RUNTIME;
    }
    fwrite(b.data, 1, b.len, stdout);
    weir_buf_free(&b);
    return WEIR_EXIT_OK;
}
