/* sinks/console.c - the console sink: rows as JSON lines on stdout.
 *
 * For trying a pipeline out. Each micro-batch is buffered and written with
 * one header line ("-- batch N: R rows") on commit, so an aborted batch
 * prints nothing. stdout keeps no record of what it printed: a batch
 * replayed after a crash is printed again (at-least-once). */
#include <stdio.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "formats/json.h"
#include "sinks/sink.h"

struct console_sink {
    struct weir_sink base;
    struct weir_buf out;
    int64_t batch, rows;
};

static int cs_begin(struct weir_sink *base, int64_t batch_id, const struct weir_type *schema, bool *already,
                    struct weir_error *err)
{
    struct console_sink *s = (struct console_sink *)base;
    (void)schema;
    (void)err;
    *already = false;
    s->out.len = 0;
    s->batch = batch_id;
    s->rows = 0;
    return 0;
}

static int cs_write(struct weir_sink *base, const struct weir_batch *b, struct weir_error *err)
{
    struct console_sink *s = (struct console_sink *)base;
    s->rows += (int64_t)b->nrows;
    return weir_json_encode_batch(b, &s->out, err);
}

static int cs_commit(struct weir_sink *base, struct weir_sink_result *res, struct weir_error *err)
{
    struct console_sink *s = (struct console_sink *)base;
    res->rows = s->rows;
    res->files = res->bytes = 0;
    res->version = -1;
    res->skipped = false;
    printf("-- batch %lld: %lld rows\n", (long long)s->batch, (long long)s->rows);
    if ((s->out.len && fwrite(s->out.data, 1, s->out.len, stdout) != s->out.len) || fflush(stdout) != 0)
        return weir_error_set(err, WEIR_EIO, "console sink: writing to stdout failed");
    s->out.len = 0;
    return 0;
}

static void cs_abort(struct weir_sink *base)
{
    ((struct console_sink *)base)->out.len = 0;
}

static void cs_destroy(struct weir_sink *base)
{
    struct console_sink *s = (struct console_sink *)base;
    weir_buf_free(&s->out);
    weir_free(base->description);
    weir_free(s);
}

static const struct weir_sink_ops console_ops = {
    .begin = cs_begin,
    .write = cs_write,
    .commit = cs_commit,
    .abort = cs_abort,
    .destroy = cs_destroy,
};

int weir_sink_console_create(const char *pipeline, struct weir_sink **out, struct weir_error *err)
{
    struct console_sink *s = weir_calloc(1, sizeof(*s));
    *out = NULL;
    if (!s || !(s->base.description = weir_asprintf("ConsoleSink"))) {
        weir_free(s);
        return weir_error_set(err, WEIR_ENOMEM, "out of memory");
    }
    weir_buf_init(&s->out);
    s->base.ops = &console_ops;
    s->base.pipeline = pipeline;
    *out = &s->base;
    return 0;
}
