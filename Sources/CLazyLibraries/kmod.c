#include <libkmod.h>
#include "lazy.h"

#define K HEAL_LIBRARY_KMOD
HEAL_LAZY(K, struct kmod_ctx *, kmod_new, (const char *dirname, const char * const *config_paths), (dirname, config_paths))
HEAL_LAZY(K, struct kmod_ctx *, kmod_unref, (struct kmod_ctx *ctx), (ctx))
HEAL_LAZY(K, int, kmod_load_resources, (struct kmod_ctx *ctx), (ctx))
HEAL_LAZY(K, int, kmod_validate_resources, (struct kmod_ctx *ctx), (ctx))
HEAL_LAZY_VOID(K, kmod_set_log_priority, (struct kmod_ctx *ctx, int priority), (ctx, priority))
HEAL_LAZY_VOID(K, kmod_set_log_fn, (struct kmod_ctx *ctx,
    void (*log_fn)(void *log_data, int priority, const char *file, int line, const char *fn, const char *format, va_list args),
    const void *data), (ctx, log_fn, data))
HEAL_LAZY(K, struct kmod_list *, kmod_list_next, (const struct kmod_list *list, const struct kmod_list *curr), (list, curr))
HEAL_LAZY(K, int, kmod_module_new_from_name, (struct kmod_ctx *ctx, const char *name, struct kmod_module **mod), (ctx, name, mod))
HEAL_LAZY(K, int, kmod_module_new_from_lookup, (struct kmod_ctx *ctx, const char *given_alias, struct kmod_list **list), (ctx, given_alias, list))
HEAL_LAZY(K, struct kmod_module *, kmod_module_unref, (struct kmod_module *mod), (mod))
HEAL_LAZY(K, int, kmod_module_unref_list, (struct kmod_list *list), (list))
HEAL_LAZY(K, struct kmod_module *, kmod_module_get_module, (const struct kmod_list *entry), (entry))
HEAL_LAZY(K, struct kmod_list *, kmod_module_get_dependencies, (const struct kmod_module *mod), (mod))
HEAL_LAZY(K, int, kmod_module_get_softdeps, (const struct kmod_module *mod, struct kmod_list **pre, struct kmod_list **post), (mod, pre, post))
HEAL_LAZY(K, const char *, kmod_module_get_name, (const struct kmod_module *mod), (mod))
HEAL_LAZY(K, const char *, kmod_module_get_path, (const struct kmod_module *mod), (mod))
