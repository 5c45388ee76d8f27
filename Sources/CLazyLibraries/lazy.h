// Forwarders that open a shared library on first use.
//
// Linked normally, libkmod, libmount, libblkid and libsystemd (with libcrypto, libgcrypt,
// libselinux and pcre2 behind them) are loaded, relocated and initialised on every start,
// which is most of what `detect --quick` costs on the boot path, where none of them is used;
// libzstd, liblz4 and libacl (what the static libarchive calls) cost 0.15 ms more.
// So the binary does not link them: each function clarity-heal calls is defined here with
// the prototype of the library's own header (the compiler checks it), and resolves the real
// function with dlopen/dlsym the first time it is called. systemd does the same for its
// optional libraries (src/shared/dlfcn-util.h).
#ifndef CLARITY_HEAL_LAZY_H
#define CLARITY_HEAL_LAZY_H

#include "lazy_libraries.h"

/// The address of `symbol` in `library`; on failure a message and exit status 3 (failed
/// safely): the Swift wrappers call heal_library_load first and throw, so this is only
/// reached by a call no wrapper guarded.
void *heal_library_symbol(enum heal_library library, const char *symbol);

#define HEAL_LAZY_RESOLVE(library, name)                                                   \
    static __typeof__(&name) real;                                                         \
    __typeof__(&name) fn = __atomic_load_n(&real, __ATOMIC_ACQUIRE);                       \
    if (!fn) {                                                                             \
        fn = (__typeof__(&name))heal_library_symbol(library, #name);                      \
        __atomic_store_n(&real, fn, __ATOMIC_RELEASE);                                     \
    }

/// Defines `name` as a forwarder to the library's function of the same prototype.
#define HEAL_LAZY(library, ret, name, params, args)                                        \
    ret name params {                                                                      \
        HEAL_LAZY_RESOLVE(library, name)                                                   \
        return fn args;                                                                    \
    }

/// The same for a function that returns nothing.
#define HEAL_LAZY_VOID(library, name, params, args)                                        \
    void name params {                                                                     \
        HEAL_LAZY_RESOLVE(library, name)                                                   \
        fn args;                                                                           \
    }

#endif
