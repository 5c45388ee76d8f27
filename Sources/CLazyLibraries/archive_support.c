// What the static libarchive calls in libzstd, liblz4, libbz2, liblzma and libacl: it reads
// compressed initramfs images and keeps ACLs in backups, and neither happens on most starts.
// (libbz2 and liblzma were linked statically; opened on first use they take 57 KB off the
// compressed binary, which goes into every initramfs. dpkg needs both, so every Debian root
// has them.)
#include <bzlib.h>
#include <lz4.h>
#include <lzma.h>
#include <sys/acl.h>
#include <acl/libacl.h>
#include <zstd.h>
#include "lazy.h"

#define Z HEAL_LIBRARY_ZSTD
HEAL_LAZY(Z, size_t, ZSTD_DStreamOutSize, (void), ())
HEAL_LAZY(Z, ZSTD_DStream *, ZSTD_createDStream, (void), ())
HEAL_LAZY(Z, size_t, ZSTD_freeDStream, (ZSTD_DStream *zds), (zds))
HEAL_LAZY(Z, size_t, ZSTD_initDStream, (ZSTD_DStream *zds), (zds))
HEAL_LAZY(Z, size_t, ZSTD_decompressStream, (ZSTD_DStream *zds, ZSTD_outBuffer *output, ZSTD_inBuffer *input),
    (zds, output, input))
HEAL_LAZY(Z, unsigned, ZSTD_isError, (size_t code), (code))
HEAL_LAZY(Z, const char *, ZSTD_getErrorName, (size_t code), (code))

#define L HEAL_LIBRARY_LZ4
HEAL_LAZY(L, int, LZ4_decompress_safe, (const char *src, char *dst, int compressedSize, int dstCapacity),
    (src, dst, compressedSize, dstCapacity))
HEAL_LAZY(L, int, LZ4_decompress_safe_usingDict, (const char *src, char *dst, int srcSize, int dstCapacity,
    const char *dictStart, int dictSize), (src, dst, srcSize, dstCapacity, dictStart, dictSize))

#define A HEAL_LIBRARY_ACL
HEAL_LAZY(A, acl_t, acl_init, (int count), (count))
HEAL_LAZY(A, int, acl_free, (void *obj_p), (obj_p))
HEAL_LAZY(A, acl_t, acl_get_fd, (int fd), (fd))
HEAL_LAZY(A, acl_t, acl_get_file, (const char *path_p, acl_type_t type), (path_p, type))
HEAL_LAZY(A, int, acl_set_fd, (int fd, acl_t acl), (fd, acl))
HEAL_LAZY(A, int, acl_set_file, (const char *path_p, acl_type_t type, acl_t acl), (path_p, type, acl))
HEAL_LAZY(A, int, acl_get_entry, (acl_t acl, int entry_id, acl_entry_t *entry_p), (acl, entry_id, entry_p))
HEAL_LAZY(A, int, acl_create_entry, (acl_t *acl_p, acl_entry_t *entry_p), (acl_p, entry_p))
HEAL_LAZY(A, int, acl_get_tag_type, (acl_entry_t entry_d, acl_tag_t *tag_type_p), (entry_d, tag_type_p))
HEAL_LAZY(A, int, acl_set_tag_type, (acl_entry_t entry_d, acl_tag_t tag_type), (entry_d, tag_type))
HEAL_LAZY(A, void *, acl_get_qualifier, (acl_entry_t entry_d), (entry_d))
HEAL_LAZY(A, int, acl_set_qualifier, (acl_entry_t entry_d, const void *tag_qualifier_p), (entry_d, tag_qualifier_p))
HEAL_LAZY(A, int, acl_get_permset, (acl_entry_t entry_d, acl_permset_t *permset_p), (entry_d, permset_p))
HEAL_LAZY(A, int, acl_get_perm, (acl_permset_t permset_d, acl_perm_t perm), (permset_d, perm))
HEAL_LAZY(A, int, acl_add_perm, (acl_permset_t permset_d, acl_perm_t perm), (permset_d, perm))
HEAL_LAZY(A, int, acl_clear_perms, (acl_permset_t permset_d), (permset_d))

#define B HEAL_LIBRARY_BZIP2
HEAL_LAZY(B, int, BZ2_bzDecompressInit, (bz_stream *strm, int verbosity, int small), (strm, verbosity, small))
HEAL_LAZY(B, int, BZ2_bzDecompress, (bz_stream *strm), (strm))
HEAL_LAZY(B, int, BZ2_bzDecompressEnd, (bz_stream *strm), (strm))

#define X HEAL_LIBRARY_LZMA
HEAL_LAZY(X, lzma_ret, lzma_stream_decoder, (lzma_stream *strm, uint64_t memlimit, uint32_t flags),
    (strm, memlimit, flags))
HEAL_LAZY(X, lzma_ret, lzma_alone_decoder, (lzma_stream *strm, uint64_t memlimit), (strm, memlimit))
HEAL_LAZY(X, lzma_ret, lzma_raw_decoder, (lzma_stream *strm, const lzma_filter *filters), (strm, filters))
HEAL_LAZY(X, lzma_ret, lzma_properties_decode, (lzma_filter *filter, const lzma_allocator *allocator,
    const uint8_t *props, size_t props_size), (filter, allocator, props, props_size))
HEAL_LAZY(X, lzma_ret, lzma_code, (lzma_stream *strm, lzma_action action), (strm, action))
HEAL_LAZY_VOID(X, lzma_end, (lzma_stream *strm), (strm))
HEAL_LAZY(X, uint32_t, lzma_crc32, (const uint8_t *buf, size_t size, uint32_t crc), (buf, size, crc))
