/* cli/config.c - the config-driven commands: `weir run CONFIG`,
 * `weir validate CONFIG` and `weir --help-config`.
 *
 * Both commands read the whole file and parse it with stream/config (which
 * collects every problem); each error is printed on its own line to stderr
 * with its key path and position, and the exit code is 2 when there is any.
 * run then hands the config to the engine (stream/engine.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "stream/config.h"
#include "sources/source.h"
#include "stream/engine.h"
#include "stream/transform.h"

int weir_cli_load_config(const char *path, struct weir_config **out, struct weir_buf *text_out)
{
    struct weir_buf text;
    weir_buf_init(&text);
    *out = NULL;
    int rc = weir_config_read_file(path, &text);
    if (rc < 0) {
        weir_cli_error("%s: %s", path, strerror(-rc));
        weir_buf_free(&text);
        return WEIR_EXIT_USAGE;
    }
    struct weir_error_list errors;
    weir_error_list_init(&errors);
    rc = weir_config_parse((const char *)text.data, text.len, path, out, &errors);
    for (size_t i = 0; i < errors.n; i++)
        weir_cli_error("%s: %s", path, errors.items[i].message);
    if (errors.oom)
        weir_cli_error("%s: out of memory recording further errors", path);
    if (rc != 0 && errors.n == 0)
        weir_cli_error("%s: %s", path, weir_strerror(rc));
    weir_error_list_free(&errors);
    if (rc == 0 && text_out)
        *text_out = text;
    else
        weir_buf_free(&text);
    return rc == 0 ? 0 : WEIR_EXIT_USAGE;
}

/* Bind every pipeline's transform steps against its source's schema, so
 * unknown columns and type errors in where/select show up here, not at
 * `weir run`. Prints each error with its key path; returns how many. */
static int check_transforms(const char *path, const struct weir_config *cfg)
{
    int bad = 0;
    for (size_t i = 0; i < cfg->npipelines; i++) {
        const struct weir_config_pipeline *p = &cfg->pipelines[i];
        struct weir_type *schema = NULL;
        struct weir_transform *xf = NULL;
        struct weir_error err = {0};
        int rc = weir_source_schema(p, &schema, &err);
        if (rc == WEIR_ENOTFOUND) { /* inferred when the pipeline first runs */
            printf("%s: pipelines[%zu]: %s; its steps are checked then\n", path, i, err.message);
            continue;
        }
        if (rc == 0)
            rc = weir_transform_create(p, schema, "validate", NULL, &xf, &err);
        if (rc != 0) {
            bad++;
            /* transform errors start with their step ("transform[1].where: ...") */
            weir_cli_error("%s: pipelines[%zu].%s", path, i, err.message);
        }
        weir_transform_destroy(xf);
        weir_type_destroy(schema);
    }
    return bad;
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
    struct weir_config *cfg = NULL;
    int rc = weir_cli_load_config(argv[1], &cfg, NULL);
    if (rc == 0 && check_transforms(argv[1], cfg) != 0)
        rc = WEIR_EXIT_USAGE;
    if (rc == 0)
        printf("%s: ok (%zu pipeline%s)\n", argv[1], cfg->npipelines, cfg->npipelines == 1 ? "" : "s");
    weir_config_destroy(cfg);
    return rc;
}

static const char run_usage[] =
    "usage: weir run CONFIG [--once | --available-now]\n\n"
    "Run every pipeline of CONFIG until SIGTERM or SIGINT (the batches in flight finish; a second signal\n"
    "abandons them), or until the trigger is done.\n"
    "  --once            one batch per pipeline, then exit\n"
    "  --available-now   everything available at start, in batches within the limits, then exit\n"
    "Exit codes: 0 ok, 1 a pipeline failed, 2 bad usage or config.";

int weir_cli_run(int argc, char **argv)
{
    const char *path = NULL;
    int trigger = -1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            puts(run_usage);
            return WEIR_EXIT_OK;
        } else if (strcmp(argv[i], "--once") == 0 || strcmp(argv[i], "--available-now") == 0) {
            int t = argv[i][2] == 'o' ? WEIR_TRIGGER_ONCE : WEIR_TRIGGER_AVAILABLE_NOW;
            if (trigger >= 0 && trigger != t)
                return weir_cli_usage_error("weir run", "--once and --available-now exclude each other");
            trigger = t;
        } else if (argv[i][0] == '-' && argv[i][1] != 0) {
            return weir_cli_usage_error("weir run", "unknown option '%s'", argv[i]);
        } else if (path) {
            return weir_cli_usage_error("weir run", "expected exactly one CONFIG file");
        } else {
            path = argv[i];
        }
    }
    if (!path)
        return weir_cli_usage_error("weir run", "expected a CONFIG file");
    struct weir_config *cfg = NULL;
    struct weir_buf text;
    weir_buf_init(&text);
    int rc = weir_cli_load_config(path, &cfg, &text);
    if (rc == 0 && weir_cli_log_level >= 0)
        cfg->log.level = weir_cli_log_level;
    if (rc == 0 && weir_cli_log_format >= 0)
        cfg->log.format = weir_cli_log_format;
    if (rc == 0) /* the engine owns cfg; a file (not stdin) is read again at SIGHUP */
        rc = weir_engine_run(cfg, (const char *)text.data, text.len, strcmp(path, "-") ? path : NULL,
                             trigger) == 0
                 ? WEIR_EXIT_OK
                 : WEIR_EXIT_RUNTIME;
    weir_buf_free(&text);
    return rc;
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
