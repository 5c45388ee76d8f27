#include <libmount/libmount.h>
#include "lazy.h"

#define M HEAL_LIBRARY_MOUNT
HEAL_LAZY(M, struct libmnt_table *, mnt_new_table, (void), ())
HEAL_LAZY_VOID(M, mnt_unref_table, (struct libmnt_table *tb), (tb))
HEAL_LAZY(M, int, mnt_table_parse_file, (struct libmnt_table *tb, const char *filename), (tb, filename))
HEAL_LAZY(M, int, mnt_table_parse_fstab, (struct libmnt_table *tb, const char *filename), (tb, filename))
HEAL_LAZY(M, int, mnt_table_set_parser_errcb, (struct libmnt_table *tb,
    int (*cb)(struct libmnt_table *tb, const char *filename, int line)), (tb, cb))
HEAL_LAZY(M, int, mnt_table_set_userdata, (struct libmnt_table *tb, void *data), (tb, data))
HEAL_LAZY(M, void *, mnt_table_get_userdata, (struct libmnt_table *tb), (tb))
HEAL_LAZY(M, int, mnt_table_next_fs, (struct libmnt_table *tb, struct libmnt_iter *itr, struct libmnt_fs **fs), (tb, itr, fs))
HEAL_LAZY(M, struct libmnt_iter *, mnt_new_iter, (int direction), (direction))
HEAL_LAZY_VOID(M, mnt_free_iter, (struct libmnt_iter *itr), (itr))
HEAL_LAZY(M, dev_t, mnt_fs_get_devno, (struct libmnt_fs *fs), (fs))
HEAL_LAZY(M, int, mnt_fs_get_freq, (struct libmnt_fs *fs), (fs))
HEAL_LAZY(M, int, mnt_fs_get_passno, (struct libmnt_fs *fs), (fs))
HEAL_LAZY(M, const char *, mnt_fs_get_fstype, (struct libmnt_fs *fs), (fs))
HEAL_LAZY(M, const char *, mnt_fs_get_options, (struct libmnt_fs *fs), (fs))
HEAL_LAZY(M, const char *, mnt_fs_get_source, (struct libmnt_fs *fs), (fs))
HEAL_LAZY(M, const char *, mnt_fs_get_target, (struct libmnt_fs *fs), (fs))
HEAL_LAZY(M, const char *, mnt_fs_get_vfs_options, (struct libmnt_fs *fs), (fs))
HEAL_LAZY(M, int, mnt_fs_is_netfs, (struct libmnt_fs *fs), (fs))
HEAL_LAZY(M, int, mnt_fs_is_pseudofs, (struct libmnt_fs *fs), (fs))
HEAL_LAZY(M, int, mnt_fs_is_swaparea, (struct libmnt_fs *fs), (fs))
HEAL_LAZY(M, int, mnt_optstr_get_option, (const char *optstr, const char *name, char **value, size_t *valsz),
    (optstr, name, value, valsz))
HEAL_LAZY(M, int, mnt_optstr_next_option, (char **optstr, char **name, size_t *namesz, char **value, size_t *valuesz),
    (optstr, name, namesz, value, valuesz))
