#include <libkmod.h>
#include <stdarg.h>
#include <stdio.h>

// kmod_list_foreach is a macro Swift cannot import: Swift loops with kmod_list_next.

// libkmod logs through a printf-style callback with a va_list; Swift cannot format one,
// so this shim formats the message and hands the finished line to a Swift callback.
typedef void (*heal_kmod_line_fn)(void *data, int priority, const char *line);

struct heal_kmod_log_sink {
    heal_kmod_line_fn fn;
    void *data;
};

static inline void heal_kmod_log_trampoline(void *data, int priority, const char *file,
                                            int line, const char *fn, const char *format,
                                            va_list args) {
    (void)file; (void)line; (void)fn;
    struct heal_kmod_log_sink *sink = (struct heal_kmod_log_sink *)data;
    char buffer[512];
    vsnprintf(buffer, sizeof buffer, format, args);
    sink->fn(sink->data, priority, buffer);
}

/// Routes libkmod's log lines to `sink` (which must outlive the context).
static inline void heal_kmod_set_log_sink(struct kmod_ctx *ctx, struct heal_kmod_log_sink *sink) {
    kmod_set_log_fn(ctx, heal_kmod_log_trampoline, sink);
}
