#!/bin/sh
# Sourced by dracut at pre-pivot, once the root is mounted at $NEWROOT and before it is used:
# applies the fixes staged for this boot, and with clarity.heal=recover (GRUB's clarity-heal
# recovery entry) runs `clarity-heal heal`; reboots when either says "reboot now", and
# otherwise leaves the root mounted the way it found it (see the initramfs-tools script).
type getarg >/dev/null 2>&1 || . /lib/dracut-lib.sh

clarity_heal_recover=
[ "$(getarg clarity.heal=)" = recover ] && clarity_heal_recover=1
clarity_heal_staged=
for clarity_heal_fix in "$NEWROOT"/var/lib/clarity-heal/staged/*; do
	[ -e "$clarity_heal_fix" ] && clarity_heal_staged=1
	break
done

clarity_heal_run() {
	local reboot= was_ro= device point type options rest line
	while read -r device point type options rest; do
		[ "$point" = "$NEWROOT" ] || continue
		case ",$options," in *,ro,*) was_ro=1 ;; *) was_ro= ;; esac
	done </proc/mounts
	if [ -n "$was_ro" ] && ! mount -o remount,rw "$NEWROOT" "$NEWROOT"; then
		warn "clarity-heal: cannot mount $NEWROOT read-write; nothing done"
		return 0
	fi
	: >/run/clarity-heal.out
	# The binary, unpacked from its own compressed copy (module-setup.sh).
	if [ ! -x /usr/sbin/clarity-heal ]; then
		gzip -d /usr/lib/clarity-heal/clarity-heal.gz && mv /usr/lib/clarity-heal/clarity-heal /usr/sbin/clarity-heal \
			|| echo "cannot unpack /usr/lib/clarity-heal/clarity-heal.gz" >>/run/clarity-heal.out
	fi
	[ -z "$clarity_heal_staged" ] || /usr/sbin/clarity-heal boot --root "$NEWROOT" >>/run/clarity-heal.out 2>&1
	if [ -n "$clarity_heal_recover" ]; then
		modprobe -q ramoops 2>/dev/null
		modprobe -q efi_pstore 2>/dev/null
		[ -d /sys/fs/pstore ] && mount -t pstore pstore /sys/fs/pstore 2>/dev/null
	fi
	if [ -n "$clarity_heal_recover" ]; then
		# The clone's upper layer in memory (see the initramfs-tools script).
		mkdir -p /run/clarity-heal-scratch
		mount -t tmpfs -o size=75%,mode=0700 clarity-heal /run/clarity-heal-scratch
		/usr/sbin/clarity-heal heal --root "$NEWROOT" --pstore /sys/fs/pstore --scratch /run/clarity-heal-scratch \
			>>/run/clarity-heal.out 2>/dev/kmsg
		umount /run/clarity-heal-scratch 2>/dev/null
	fi
	while IFS= read -r line; do
		# Each line where a person at the console sees it, and in the journal. In systemd's
		# initrd (dracut-pre-pivot.service) info writes to stdout, which reaches only the
		# journal, whatever rd.info says; the unit's stderr is journal+console.
		if [ -n "$DRACUT_SYSTEMD" ]; then
			echo "clarity-heal: $line" >&2
		else
			info "clarity-heal: $line"
		fi
		case $line in "reboot now"*) reboot=1 ;; esac
	done </run/clarity-heal.out
	sync
	[ -z "$was_ro" ] || mount -o remount,ro "$NEWROOT" "$NEWROOT"
	if [ -n "$reboot" ]; then
		warn "clarity-heal: rebooting in 5 s into the repaired system (Ctrl-C stops it)"
		sleep 5 && { umount "$NEWROOT" 2>/dev/null; reboot -f; }
	fi
}

if [ -n "$clarity_heal_staged" ] || [ -n "$clarity_heal_recover" ]; then
	clarity_heal_run
fi
