#!/bin/sh
# Sourced by dracut at pre-pivot: applies fixes staged for this boot before the root is used.
[ -d "$NEWROOT/var/lib/clarity-heal/staged" ] || return 0
mount -o remount,rw "$NEWROOT" || return 0
/usr/sbin/clarity-heal boot --root "$NEWROOT" >/dev/kmsg 2>&1
mount -o remount,ro "$NEWROOT"
