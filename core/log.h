/* core/log.h - structured logging to stderr.
 *
 * One JSON object per line by default ({"time","level","pipeline","batch",
 * "msg"}), or plain text for people. WEIR_LOG checks the level before it
 * evaluates its arguments. Thread-safe: each line is formatted into a local
 * buffer and written with one write(2). */
#ifndef WEIR_CORE_LOG_H
#define WEIR_CORE_LOG_H

#include <stdint.h>

enum weir_log_level { WEIR_LOG_DEBUG = 0, WEIR_LOG_INFO, WEIR_LOG_WARN, WEIR_LOG_ERROR };
enum weir_log_format { WEIR_LOG_JSON = 0, WEIR_LOG_TEXT };

extern int weir_log_min_level;

void weir_log_set_level(enum weir_log_level level);
void weir_log_set_format(enum weir_log_format format);
/* Returns -1 on an unknown name ("debug", "info", "warn", "error"). */
int weir_log_level_from_string(const char *s);

/* pipeline may be NULL; batch < 0 means "no batch". */
void weir_log_write(enum weir_log_level level, const char *pipeline, int64_t batch, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* One line carrying a JSON value: {"time",..,"msg":msg,"<key>":<json>} (or
 * "msg key=json" as text). `json` must be valid JSON; it is never
 * truncated. pipeline and msg must not need JSON escaping (names are
 * [A-Za-z0-9_.-]). */
void weir_log_json(enum weir_log_level level, const char *pipeline, int64_t batch, const char *msg,
                   const char *key, const char *json);

#define WEIR_LOG(level, pipeline, batch, ...)                          \
    do {                                                               \
        if ((int)(level) >= weir_log_min_level)                        \
            weir_log_write((level), (pipeline), (batch), __VA_ARGS__); \
    } while (0)
#define WEIR_DEBUG(...) WEIR_LOG(WEIR_LOG_DEBUG, NULL, -1, __VA_ARGS__)
#define WEIR_INFO(...)  WEIR_LOG(WEIR_LOG_INFO, NULL, -1, __VA_ARGS__)
#define WEIR_WARN(...)  WEIR_LOG(WEIR_LOG_WARN, NULL, -1, __VA_ARGS__)
#define WEIR_ERROR(...) WEIR_LOG(WEIR_LOG_ERROR, NULL, -1, __VA_ARGS__)

#endif
