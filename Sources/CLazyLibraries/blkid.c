#include <blkid/blkid.h>
#include "lazy.h"

#define B HEAL_LIBRARY_BLKID
HEAL_LAZY(B, blkid_probe, blkid_new_probe_from_filename, (const char *filename), (filename))
HEAL_LAZY_VOID(B, blkid_free_probe, (blkid_probe pr), (pr))
HEAL_LAZY(B, int, blkid_do_safeprobe, (blkid_probe pr), (pr))
HEAL_LAZY(B, int, blkid_parse_tag_string, (const char *token, char **ret_type, char **ret_val), (token, ret_type, ret_val))
HEAL_LAZY(B, int, blkid_probe_enable_partitions, (blkid_probe pr, int enable), (pr, enable))
HEAL_LAZY(B, int, blkid_probe_enable_superblocks, (blkid_probe pr, int enable), (pr, enable))
HEAL_LAZY(B, int, blkid_probe_set_partitions_flags, (blkid_probe pr, int flags), (pr, flags))
HEAL_LAZY(B, int, blkid_probe_set_superblocks_flags, (blkid_probe pr, int flags), (pr, flags))
HEAL_LAZY(B, int, blkid_probe_numof_values, (blkid_probe pr), (pr))
HEAL_LAZY(B, int, blkid_probe_get_value, (blkid_probe pr, int num, const char **name, const char **data, size_t *len),
    (pr, num, name, data, len))
