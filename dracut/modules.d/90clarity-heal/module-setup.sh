#!/bin/bash
# dracut module: clarity-heal in the image, run before switch_root to apply staged fixes.

check() {
    require_binaries /usr/sbin/clarity-heal || return 1
    return 0
}

depends() {
    return 0
}

install() {
    inst_binary /usr/sbin/clarity-heal
    # The binary rides compressed on its own and the hook unpacks it only on a boot that
    # runs it (staged fixes, the recovery entry): the image's compressor stores the
    # compressed bytes, so a healthy boot does not inflate 15 MB (see the initramfs-tools
    # hook). gzip -d keeps the mode of the .gz.
    mkdir -p "${initdir:?}/usr/lib/clarity-heal"
    gzip -9 -n -c "${initdir:?}/usr/sbin/clarity-heal" >"${initdir:?}/usr/lib/clarity-heal/clarity-heal.gz"
    chmod 0755 "${initdir:?}/usr/lib/clarity-heal/clarity-heal.gz"
    rm -f "${initdir:?}/usr/sbin/clarity-heal"
    inst_binary gzip
    # The filesystem detector reads the root's superblock with dumpe2fs; `heal` runs the
    # root's own tools on its clone inside the namespaces unshare makes.
    inst_binary dumpe2fs
    inst_binary unshare
    # The hook syncs the root before it remounts it or reboots; dracut's own modules leave
    # sync out of the image (a systemd initrd has mount, umount, reboot, sleep, modprobe).
    inst_binary sync
    # The sonames clarity-heal opens with dlopen on first use (Sources/CLazyLibraries/lazy.c):
    # inst_binary follows ldd, which cannot see them. inst_libdir_file looks in dracut's
    # library directories for this architecture and installs each with its dependencies.
    # A missing one is a warning: `detect --quick` needs none of them.
    local soname
    for soname in libkmod.so.2 libmount.so.1 libblkid.so.1 libsystemd.so.0 libzstd.so.1 liblz4.so.1 libacl.so.1 libbz2.so.1.0 liblzma.so.5; do
        inst_libdir_file "$soname" \
            || dwarn "clarity-heal: cannot find $soname; commands that need it will fail in the initramfs"
    done
    inst_hook pre-pivot 50 "$moddir/clarity-heal-boot.sh"
}

installkernel() {
    instmods ramoops efi_pstore overlay
}
