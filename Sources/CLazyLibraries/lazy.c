#include "lazy.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char *const sonames[] = {
    [HEAL_LIBRARY_KMOD] = "libkmod.so.2",
    [HEAL_LIBRARY_MOUNT] = "libmount.so.1",
    [HEAL_LIBRARY_BLKID] = "libblkid.so.1",
    [HEAL_LIBRARY_SYSTEMD] = "libsystemd.so.0",
    [HEAL_LIBRARY_ZSTD] = "libzstd.so.1",
    [HEAL_LIBRARY_LZ4] = "liblz4.so.1",
    [HEAL_LIBRARY_ACL] = "libacl.so.1",
    [HEAL_LIBRARY_BZIP2] = "libbz2.so.1.0",
    [HEAL_LIBRARY_LZMA] = "liblzma.so.5",
};

static void *handles[sizeof sonames / sizeof *sonames];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

const char *heal_library_soname(enum heal_library library) {
    return sonames[library];
}

static void *open_library(enum heal_library library, char *error, size_t error_size) {
    pthread_mutex_lock(&lock);
    void *handle = handles[library];
    if (!handle) {
        handle = dlopen(sonames[library], RTLD_NOW | RTLD_LOCAL);
        if (handle) {
            handles[library] = handle;
        } else if (error_size > 0) {
            const char *reason = dlerror();
            snprintf(error, error_size, "%s", reason ? reason : "unknown error");
        }
    }
    pthread_mutex_unlock(&lock);
    return handle;
}

int heal_library_load(enum heal_library library, char *error, size_t error_size) {
    return open_library(library, error, error_size) ? 0 : -1;
}

void *heal_library_symbol(enum heal_library library, const char *symbol) {
    char error[512] = "";
    void *handle = open_library(library, error, sizeof error);
    void *address = handle ? dlsym(handle, symbol) : NULL;
    if (!address) {
        if (handle) snprintf(error, sizeof error, "%s has no %s", sonames[library], symbol);
        dprintf(2, "clarity-heal: cannot load %s: %s\n", sonames[library], error);
        _exit(3);
    }
    return address;
}
