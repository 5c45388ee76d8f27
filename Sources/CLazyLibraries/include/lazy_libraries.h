#ifndef CLARITY_HEAL_LAZY_LIBRARIES_H
#define CLARITY_HEAL_LAZY_LIBRARIES_H

#include <stddef.h>

/// The shared libraries clarity-heal opens only when a command first needs them.
enum heal_library {
    HEAL_LIBRARY_KMOD,
    HEAL_LIBRARY_MOUNT,
    HEAL_LIBRARY_BLKID,
    HEAL_LIBRARY_SYSTEMD,
    HEAL_LIBRARY_ZSTD,
    HEAL_LIBRARY_LZ4,
    HEAL_LIBRARY_ACL,
    HEAL_LIBRARY_BZIP2,
    HEAL_LIBRARY_LZMA,
};

/// The soname of `library` ("libkmod.so.2").
const char *heal_library_soname(enum heal_library library);

/// Opens `library` if it is not open yet. Returns 0, or -1 with dlerror's text in `error`.
int heal_library_load(enum heal_library library, char *error, size_t error_size);

#endif
