/* tests/fuzz/fuzz_checkpoint_offsets.c - fuzz target: arbitrary bytes as
 * the body of a checkpoint offsets/N file (weir_checkpoint_parse_offsets).
 * A body that parses must hold only one-line sources, and the same entry
 * written back in the canonical layout ("v1", metadata with a reset
 * marker's conf, one line per source, "-" for none) must parse to an equal
 * entry. A failure must carry
 * a message. Nothing may crash, leak or read outside the input.
 * Single-threaded; no state kept. */
#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "stream/checkpoint.h"

static bool entries_equal(const struct weir_offset_entry *a, const struct weir_offset_entry *b)
{
    if (a->batch_watermark_ms != b->batch_watermark_ms || a->batch_timestamp_ms != b->batch_timestamp_ms ||
        a->nsources != b->nsources || (a->reset == NULL) != (b->reset == NULL) ||
        (a->reset != NULL && strcmp(a->reset, b->reset) != 0))
        return false;
    for (size_t i = 0; i < a->nsources; i++) {
        if ((a->sources[i] == NULL) != (b->sources[i] == NULL))
            return false;
        if (a->sources[i] != NULL && strcmp(a->sources[i], b->sources[i]) != 0)
            return false;
    }
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct weir_offset_entry e = {0}, again = {0};
    struct weir_error err = {0};
    struct weir_buf b;
    weir_buf_init(&b);
    int rc = weir_checkpoint_parse_offsets((const char *)data, size, "fuzz/offsets/0", &e, &err);
    if (rc != 0) {
        if (err.message[0] == '\0' || e.nsources != 0 || e.sources != NULL)
            abort();
        goto done;
    }
    if (weir_buf_printf(&b, "v1\n{\"batchWatermarkMs\":%" PRId64 ",\"batchTimestampMs\":%" PRId64,
                        e.batch_watermark_ms, e.batch_timestamp_ms) != 0)
        goto done;
    if (e.reset != NULL) { /* a marker: its description as a JSON string */
        if (e.reset[0] == '\0')
            abort(); /* an empty description is refused */
        cJSON *str = cJSON_CreateString(e.reset);
        char *text = str ? cJSON_PrintUnformatted(str) : NULL;
        int rc2 = text ? weir_buf_printf(&b, ",\"conf\":{\"weir.resetOffsets\":%s}", text) : -1;
        cJSON_free(text);
        cJSON_Delete(str);
        if (rc2 != 0)
            goto done;
    }
    if (weir_buf_append_byte(&b, '}') != 0)
        goto done;
    for (size_t i = 0; i < e.nsources; i++) {
        const char *s = e.sources[i] ? e.sources[i] : "-";
        if (strchr(s, '\n') != NULL || (e.sources[i] != NULL && strcmp(s, "-") == 0))
            abort(); /* a source is one line, and "-" means NULL */
        if (weir_buf_append_byte(&b, '\n') != 0 || weir_buf_append_str(&b, s) != 0)
            goto done;
    }
    struct weir_error err2 = {0};
    rc = weir_checkpoint_parse_offsets((const char *)b.data, b.len, "fuzz/again", &again, &err2);
    if (rc == WEIR_ENOMEM)
        goto done;
    if (rc != 0 || !entries_equal(&e, &again))
        abort(); /* what we read, written canonically, must read the same */
done:
    weir_offset_entry_clear(&again);
    weir_offset_entry_clear(&e);
    weir_buf_free(&b);
    return 0;
}
