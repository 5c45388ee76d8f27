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
    inst_hook pre-pivot 50 "$moddir/clarity-heal-boot.sh"
}

installkernel() {
    instmods ramoops efi_pstore
}
