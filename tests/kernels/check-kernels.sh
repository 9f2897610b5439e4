#!/bin/sh
# make check-kernels: the suite on Debian's own kernels, booted under qemu.
#
# For each kernel series in KERNELS (default "5.10 6.1"): fetch Debian's
# newest linux-image-<series>.0-N-amd64-unsigned into the build tree with a
# private apt configuration (the system's sources are never read or
# touched; a package once fetched is reused), build the tests statically
# (a second build tree, kernels/static), pack them with busybox into an
# initramfs whose /init is tests/kernels/init, make an ext4 image for
# TMPDIR (O_DIRECT needs a real file system) and boot the kernel under
# qemu-system-x86_64 with a time limit. The guest prints one line per
# program and backend, "KTEST <prog> <variant> PASS|FAIL|SKIP"; its serial
# console is kept as kernels/<series>.log. Exit status: 0 when every guest
# reached its end without a failure.
#
#   KERNELS="5.10 6.1"        the series to boot
#   QEMU_ACCEL=kvm|tcg        default: kvm when /dev/kvm is usable, else tcg
#   KERNELS_TIMEOUT=seconds   per guest (default 2400 with kvm, 14400 with tcg)
#   CK_TIMEOUT_MULTIPLIER=N   Check's timeouts in the guest (default 1 kvm, 4 tcg)
#   KTEST_PROGS=a,b           run only these programs (default: all)
#   KTEST_BACKENDS=a,b        the variants (default uring,aio,pool,uring-fallback)
#   KTEST_SECCOMP=0           skip the seccomp runs
#
# Needs (Debian): qemu-system-x86 busybox-static e2fsprogs cpio and the
# static libraries of libc, check, liburing and libaio (their -dev packages).
set -eu

: "${srcdir:?}" "${builddir:?}" "${MAKE:=make}"
: "${KERNELS:=5.10 6.1}"
: "${TEST_PROGS:?}"
top=$builddir/kernels
mirror=${KERNELS_MIRROR:-http://deb.debian.org/debian}
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
mkdir -p "$top"

say() { echo "check-kernels: $*"; }
die() { echo "check-kernels: $*" >&2; exit 1; }

for tool in qemu-system-x86_64 busybox mke2fs cpio objcopy timeout apt-get dpkg-deb; do
	command -v $tool >/dev/null 2>&1 ||
		die "$tool not found (Debian: apt-get install qemu-system-x86 busybox-static e2fsprogs cpio binutils)"
done
busybox=$(command -v busybox)
ldd "$busybox" >/dev/null 2>&1 &&
	die "$busybox is not static (Debian: busybox-static)"

accel=${QEMU_ACCEL:-}
case $accel in
''|kvm|tcg) ;;
*) die "QEMU_ACCEL must be kvm or tcg, not $accel" ;;
esac

# --- the static build ---
static=$top/static
if [ ! -f "$static/Makefile" ]; then
	say "configuring the static build in $static"
	mkdir -p "$static"
	(cd "$static" && "$srcdir/configure" -q --disable-shared --enable-static) ||
		die "configure failed in $static"
fi
progs="$TEST_PROGS tests/cio-seccomp tests/op-paths tools/cio-bench"
say "building the tests statically"
$MAKE -C "$static" LDFLAGS=-all-static $progs >"$top/static.log" 2>&1 ||
	{ tail -30 "$top/static.log"; die "the static build failed (log: $top/static.log)"; }

# --- the kernels, fetched with a private apt configuration ---
apt_dir=$top/apt
apt() {
	cmd=$1; shift
	$cmd -q -o Dir::Etc::sourcelist="$apt_dir/sources.list" \
		-o Dir::Etc::sourceparts="$apt_dir/empty" \
		-o Dir::State::Lists="$apt_dir/lists" \
		-o Dir::Cache="$apt_dir/cache" \
		-o Dir::State::status="$apt_dir/status" \
		-o Debug::NoLocking=1 -o APT::Sandbox::User=root "$@"
}
apt_updated=
apt_update() {
	[ -n "$apt_updated" ] && return 0
	mkdir -p "$apt_dir/empty" "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial"
	: >"$apt_dir/status"
	cat >"$apt_dir/sources.list" <<-SRC
	deb [signed-by=$keyring] $mirror bookworm main
	deb [signed-by=$keyring] ${mirror}-security bookworm-security main
	deb [signed-by=$keyring] $mirror bullseye main
	deb [signed-by=$keyring] ${mirror}-security bullseye-security main
	SRC
	apt apt-get update >"$top/apt-update.log" 2>&1 ||
		{ cat "$top/apt-update.log"; die "apt-get update (private configuration) failed"; }
	apt_updated=1
}

# fetch SERIES: unpack the newest linux-image-SERIES.0-N-amd64-unsigned
# into $top/SERIES/root (once), set $kdir.
fetch() {
	kdir=$top/$1
	if [ -f "$kdir/package" ] && [ -d "$kdir/root/boot" ]; then
		say "$1: cached $(cat "$kdir/package")"
		return 0
	fi
	apt_update
	pkg=$(apt apt-cache pkgnames "linux-image-$1.0-" 2>/dev/null |
	      grep -E "^linux-image-$1\.0-[0-9]+-amd64-unsigned\$" | sort -V | tail -1)
	[ -n "$pkg" ] || die "no linux-image-$1.0-*-amd64-unsigned in $mirror"
	say "$1: fetching $pkg"
	rm -rf "$kdir" && mkdir -p "$kdir"
	(cd "$kdir" && apt apt-get download "$pkg" >download.log 2>&1) ||
		{ cat "$kdir/download.log"; die "apt-get download $pkg failed"; }
	dpkg-deb -x "$kdir"/"$pkg"_*.deb "$kdir/root"
	rm -f "$kdir"/"$pkg"_*.deb
	echo "$pkg" >"$kdir/package"
}

# The modules a module needs, from the depends= of its .modinfo (the
# package ships no modules.dep: depmod makes it at install time).
mod_file() { find "$moddir/kernel" -name "$1.ko" -o -name "$(echo "$1" | tr _ -).ko" | head -1; }
mod_deps() {
	objcopy -O binary --only-section=.modinfo "$1" /dev/stdout 2>/dev/null |
		tr '\0' '\n' | sed -n 's/^depends=//p' | tr ',' ' '
}
mod_add() {
	case " $mods " in *" $1 "*) return 0 ;; esac
	local f d
	f=$(mod_file "$1")
	[ -n "$f" ] || die "module $1 not found under $moddir"
	for d in $(mod_deps "$f"); do mod_add "$d"; done
	mods="$mods $1"
	cp "$f" "$initrd/lib/modules/$1.ko"
	echo "$1" >>"$initrd/lib/modules/order"
}

# pack SERIES: the initramfs $kdir/initrd.cpio
pack() {
	initrd=$kdir/initrd
	rm -rf "$initrd" && mkdir -p "$initrd/bin" "$initrd/lib/modules" "$initrd/tests" \
		"$initrd/proc" "$initrd/sys" "$initrd/dev" "$initrd/mnt" "$initrd/tmp"
	cp "$busybox" "$initrd/bin/busybox"
	cp "$srcdir/tests/kernels/init" "$initrd/init"
	chmod 755 "$initrd/init"
	for p in $progs; do
		strip -o "$initrd/tests/$(basename "$p")" "$static/$p"
	done
	moddir=$(ls -d "$kdir"/root/lib/modules/*)
	mods=
	# crc32c: ext4's and jbd2's checksums, asked of the crypto API at
	# mount time, not in depends=.
	for m in crc32c_generic virtio_pci virtio_blk ext4; do mod_add $m; done
	(cd "$initrd" && find . | cpio -o -H newc --quiet) >"$kdir/initrd.cpio"
}

# boot KERNEL-DIR SECONDS LOG [KEY=VALUE...]: the kernel under qemu with
# the initramfs and a fresh ext4 disk, its console in LOG.
boot() {
	bdir=$1 secs=$2 blog=$3; shift 3
	rm -f "$bdir/disk.img"
	truncate -s 2G "$bdir/disk.img"
	mke2fs -q -t ext4 -F "$bdir/disk.img"
	rm -f "$blog"
	# The console straight to the file, so it can be followed (tail -f).
	timeout -k 10 "$secs" qemu-system-x86_64 -accel "$accel" -cpu "$cpu" \
		-smp 2 -m 2048 -display none -no-reboot -monitor none \
		-serial file:"$blog" \
		-kernel "$(ls "$bdir"/root/boot/vmlinuz-*)" -initrd "$bdir/initrd.cpio" \
		-drive file="$bdir/disk.img",format=raw,if=virtio,cache=unsafe \
		-append "console=ttyS0 panic=-1 loglevel=4 $*" </dev/null
	qrc=$?
	[ -f "$blog" ] && sed -i 's/\r$//' "$blog"
	return $qrc
}

# KVM when /dev/kvm is there and really runs the kernel: a nested
# /dev/kvm may open and then hang the guest before its first message.
choose_accel() {
	[ -n "$accel" ] && return 0
	accel=tcg
	if [ -r /dev/kvm ] && [ -w /dev/kvm ]; then
		accel=kvm cpu=host
		boot "$kdir" 60 "$top/kvm-probe.log" KTEST_PROGS=none KTEST_SECCOMP=0 KTEST_PATHS=0 || true
		if grep -q '^KTEST-END' "$top/kvm-probe.log"; then
			say "/dev/kvm boots the kernel: using KVM"
			return 0
		fi
		say "/dev/kvm is there but the guest did not boot with it in 60s" \
			"($top/kvm-probe.log)"
		accel=tcg
	fi
	say "no usable KVM: emulating with TCG (-accel tcg), many times slower"
}

fails=0
summary=
for k in $KERNELS; do
	case $k in
	5.10|6.1) ;;
	*) die "KERNELS: $k is not one of 5.10 6.1" ;;
	esac
	fetch "$k"
	pack "$k"
	choose_accel
	case $accel in
	kvm) cpu=host; deftimeout=2400; defmult=1 ;;
	tcg) cpu=max; deftimeout=14400; defmult=4 ;;
	esac
	limit=${KERNELS_TIMEOUT:-$deftimeout}
	mult=${CK_TIMEOUT_MULTIPLIER:-$defmult}
	log=$top/$k.log
	say "$k: booting $(cat "$kdir/package") ($accel, at most ${limit}s); console: $log"
	start=$(date +%s)
	set +e
	boot "$kdir" "$limit" "$log" CK_TIMEOUT_MULTIPLIER=$mult \
		KTEST_PROGS=${KTEST_PROGS:-all} \
		KTEST_BACKENDS=${KTEST_BACKENDS:-uring,aio,pool,uring-fallback} \
		KTEST_SECCOMP=${KTEST_SECCOMP:-1}
	rc=$?
	set -e
	mins=$(( ($(date +%s) - start + 30) / 60 ))
	grep -E '^KTEST ' "$log" || true
	nfail=$(grep -c -E '^KTEST .* FAIL' "$log" || true)
	if ! grep -q '^KTEST-END' "$log"; then
		say "$k: the guest did not reach its end (timeout or crash; qemu status $rc): see $log"
		tail -20 "$log"
		nfail=$((nfail + 1))
	fi
	summary="$summary
$k: $(grep -c -E '^KTEST .* PASS' "$log" || true) passed, $nfail failed, $(grep -c -E '^KTEST .* SKIP' "$log" || true) skipped, ~$mins min ($accel)"
	fails=$((fails + nfail))
done
say "summary:$summary"
[ "$fails" -eq 0 ]
