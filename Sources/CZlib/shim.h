#include <zlib.h>

// inflateInit2 is a macro Swift cannot import; it passes the header's version and the
// stream's size, which the library checks against its own.
static inline int heal_inflate_init2(z_streamp stream, int window_bits) {
    return inflateInit2(stream, window_bits);
}
