/* cli/args.c - argument and output helpers shared by the commands of the
 * `weir` command line (cli/cli.h): options with values, counts, times,
 * times printed for people, JSON strings. Single-threaded; nothing global. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/buf.h"
#include "formats/json.h"

int weir_cli_last_arg(struct weir_cli_args *a, const char *usage, const char **arg, int *exit_code)
{
    const char *s = a->argv[a->i];
    if (strcmp(s, "--help") == 0 || strcmp(s, "-h") == 0) {
        fputs(usage, stdout);
        return 1;
    }
    if (s[0] == '-' && s[1] != '\0') {
        *exit_code = weir_cli_usage_error(a->cmd, "unknown option '%s'", s);
        return -1;
    }
    if (*arg != NULL) {
        *exit_code = weir_cli_usage_error(a->cmd, "unexpected argument '%s'", s);
        return -1;
    }
    *arg = s;
    return 0;
}

int weir_cli_opt_value(struct weir_cli_args *a, const char *name, const char **val)
{
    const char *s = a->argv[a->i];
    size_t n = strlen(name);
    if (strncmp(s, name, n) != 0)
        return 0;
    if (s[n] == '=') {
        *val = s + n + 1;
        return 1;
    }
    if (s[n] != '\0')
        return 0;
    if (a->i + 1 >= a->argc)
        return -1;
    *val = a->argv[++a->i];
    return 1;
}

bool weir_cli_parse_i64(const char *s, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0')
        return false;
    *out = v;
    return true;
}

int weir_cli_opt_count(struct weir_cli_args *a, const char *name, const char *need, int64_t *out,
                       int *exit_code)
{
    const char *val;
    int m = weir_cli_opt_value(a, name, &val);
    if (m == 0)
        return 0;
    if (m < 0 || !weir_cli_parse_i64(val, out) || *out < 0) {
        *exit_code = weir_cli_usage_error(a->cmd, "%s needs %s", name, need);
        return -1;
    }
    return 1;
}

int weir_cli_parse_time(const char *s, int64_t *ms)
{
    int64_t v;
    bool zone;
    if (weir_cli_parse_i64(s, &v)) {
        *ms = v;
        return 0;
    }
    if (weir_json_parse_timestamp(s, strlen(s), &v, &zone) != 0)
        return WEIR_EPARSE;
    /* round up to the millisecond so an event at exactly TS is included */
    *ms = v / 1000 + (v % 1000 > 0);
    return 0;
}

void weir_cli_format_ms(int64_t ms, char buf[48])
{
    char tmp[40];
    size_t n = weir_json_format_timestamp(ms * 1000, false, tmp);
    /* keep milliseconds: drop the last three micro digits */
    if (n >= 3)
        tmp[n - 3] = '\0';
    snprintf(buf, 48, "%sZ", tmp);
}

int weir_cli_json_str(struct weir_buf *o, const char *s)
{
    return s == NULL ? weir_buf_append_str(o, "null") : weir_json_append_string(o, s, strlen(s));
}
