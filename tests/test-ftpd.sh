#!/bin/bash
# cio-ftpd under real clients, once per backend (uring, aio, pool): curl
# (downloads and uploads 0 B to 100 MiB byte-exact, resume, -Q, 
# --ftp-create-dirs) and Python's ftplib (tests/ftpd-client.py: traversal,
# 10,000-entry listings, ABOR, 200 clients, a client that never reads,
# bad commands, the users file, deadlines). Exit 77 (skip) without curl
# or python3. Every wait is bounded.
set -u
ftpd="${top_builddir:-.}/tools/cio-ftpd"
client="${top_srcdir:-.}/tests/ftpd-client.py"
if [ ! -x "$ftpd" ]; then
	echo "FAIL: $ftpd is not built"
	exit 1
fi
for t in curl python3 sha256sum; do
	if ! command -v $t >/dev/null 2>&1; then
		echo "SKIP: $t is not installed (Debian: apt-get install curl python3)"
		exit 77
	fi
done
if ! curl --version | grep -q '^Protocols:.* ftp'; then
	echo "SKIP: this curl has no ftp://"
	exit 77
fi
if command -v openssl >/dev/null 2>&1; then
	hash=$(openssl passwd -6 -salt cioftpdtest secret)
else
	hash=$(python3 -W ignore -c 'import crypt; print(crypt.crypt("secret", crypt.mksalt(crypt.METHOD_SHA512)))' 2>/dev/null)
fi
case $hash in
'$6$'*) ;;
*) echo "SKIP: neither openssl nor python3's crypt makes a SHA-512 hash"; exit 77 ;;
esac

tmp=$(mktemp -d "${TMPDIR:-/tmp}/cio-ftpd-test-XXXXXX") || exit 1
chmod 755 "$tmp"
pids=
cleanup() {
	for p in $pids; do kill -KILL "$p" 2>/dev/null; done
	wait 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

fail=0
bad() { echo "FAIL[$backend]: $*"; fail=1; }
ok() { echo "ok[$backend]: $*"; }

# Run as root, the server must be told whom to become: not nobody, whose
# per-user locked-memory count (io_uring rings are charged to it) is what
# test-fixed's child measures, maybe at the same time under make -j.
priv=()
srv_user=
if [ "$(id -u)" = 0 ]; then
	srv_user=daemon
	id "$srv_user" >/dev/null 2>&1 || srv_user=nobody
	priv=(--user "$srv_user" --group "$(id -gn "$srv_user")")
fi

# --- the served tree, and things outside it ---
root="$tmp/root"
mkdir -p "$root/sub" "$root/many" "$tmp/out"
mkfifo "$root/fifo"
: >"$root/empty.bin"
head -c 1024 /dev/urandom >"$root/1k.bin"
head -c 1048576 /dev/urandom >"$root/1m.bin"
head -c 104857600 /dev/urandom >"$root/100m.bin"
(cd "$root/many" && seq -f 'f%05g' 10000 | xargs touch)
echo 'keep' >"$root/sub/keep.txt"
echo 'secret outside the root' >"$tmp/secret.txt"
ln -s ../secret.txt "$root/escape"
ln -s /etc/passwd "$root/etcpw"
ln -s ../out "$root/outlink"
ln -s /etc "$root/absdir"
for f in empty 1k 1m 100m; do
	eval "sum_$f=$(sha256sum "$root/$f.bin" | cut -d' ' -f1)"
done
printf 'alice:%s:rw\nbob:%s:ro\n' "$hash" "$hash" >"$tmp/users"
[ ${#priv[@]} -gt 0 ] && chown -R "$srv_user" "$root"

server=$ftpd
server_args=(${priv[@]+"${priv[@]}"})
. "${top_srcdir:-.}/tests/server-lib.sh"

url() { echo "ftp://127.0.0.1:$port$1"; }
acurl() { curl -sS --max-time 60 "$@"; }
ucurl() { curl -sS --max-time 60 -u alice:secret "$@"; }

py() {   # CHECK: run one ftplib check, relaying its lines
	local line
	while IFS= read -r line; do
		case $line in
		ok:*) ok "${line#ok: }" ;;
		*) bad "${line#FAIL: }" ;;
		esac
	done < <(timeout 150 python3 -W ignore "$client" "$port" "$root" "$1" 2>&1)
}

sum_of() { sha256sum "$1" 2>/dev/null | cut -d' ' -f1; }

run_backend() {
	start "$backend" --root "$root" --listen 127.0.0.1:0 --backend "$backend" \
		--users "$tmp/users" --max-per-ip 400 --idle-timeout 4 --data-timeout 4 \
		--pasv-timeout 4 --drain-timeout 5
	case $? in
	0) ;;
	3) echo "SKIP[$backend]: backend not available here"; return 3 ;;
	*) bad "server did not start: $(cat "$tmp/out.$backend.err")"; return 1 ;;
	esac

	# downloads, anonymous, byte-exact
	for f in empty 1k 1m 100m; do
		rm -f "$tmp/dl"
		acurl -o "$tmp/dl" "$(url "/$f.bin")" || bad "RETR $f.bin: curl $?"
		eval "want=\$sum_$f"
		[ "$(sum_of "$tmp/dl")" = "$want" ] && ok "RETR $f.bin byte-exact" ||
			bad "RETR $f.bin differs"
	done
	# resume a cut download
	head -c 300000 "$root/1m.bin" >"$tmp/dl"
	acurl -C - -o "$tmp/dl" "$(url /1m.bin)" || bad "resume: curl $?"
	[ "$(sum_of "$tmp/dl")" = "$sum_1m" ] && ok "resumed RETR (REST) byte-exact" ||
		bad "resumed RETR differs"

	# uploads as the rw user, byte-exact; the anonymous and ro users may not
	for f in empty 1k 1m 100m; do
		ucurl -T "$root/$f.bin" "$(url "/up-$f.bin")" || bad "STOR $f: curl $?"
		eval "want=\$sum_$f"
		[ "$(sum_of "$root/up-$f.bin")" = "$want" ] && ok "STOR $f.bin byte-exact" ||
			bad "STOR $f.bin differs"
	done
	head -c 400000 "$root/1m.bin" >"$root/part.bin"
	[ ${#priv[@]} -gt 0 ] && chown "$srv_user" "$root/part.bin"
	ucurl -C - -T "$root/1m.bin" "$(url /part.bin)" || bad "resumed STOR: curl $?"
	[ "$(sum_of "$root/part.bin")" = "$sum_1m" ] && ok "resumed STOR (APPE) byte-exact" ||
		bad "resumed STOR differs"
	acurl -T "$root/1k.bin" "$(url /anon.bin)" 2>/dev/null && bad "anonymous STOR accepted"
	curl -sS --max-time 60 -u bob:secret -T "$root/1k.bin" "$(url /bob.bin)" 2>/dev/null &&
		bad "ro user's STOR accepted"
	[ ! -e "$root/anon.bin" ] && [ ! -e "$root/bob.bin" ] && ok "anonymous and ro users cannot STOR" ||
		bad "a read-only STOR wrote a file"
	curl -sS --max-time 60 -u alice:wrong "$(url /)" >/dev/null 2>&1
	[ $? -eq 67 ] && ok "wrong password: curl 67" || bad "wrong password was not refused"

	# -Q: MKD, RNFR/RNTO, DELE, RMD; --ftp-create-dirs
	ucurl -o /dev/null -Q 'MKD newdir' -Q 'RNFR up-1k.bin' -Q 'RNTO newdir/moved.bin' \
		-Q 'DELE up-empty.bin' "$(url /)" || bad "-Q MKD RNFR RNTO DELE: curl $?"
	[ -d "$root/newdir" ] && [ "$(sum_of "$root/newdir/moved.bin")" = "$sum_1k" ] &&
		[ ! -e "$root/up-1k.bin" ] && [ ! -e "$root/up-empty.bin" ] &&
		ok "-Q MKD, RNFR/RNTO, DELE" || bad "-Q MKD, RNFR/RNTO, DELE did not happen"
	ucurl -o /dev/null -Q 'DELE newdir/moved.bin' -Q 'RMD newdir' "$(url /)" ||
		bad "-Q RMD: curl $?"
	[ ! -e "$root/newdir" ] && ok "-Q RMD" || bad "-Q RMD left the directory"
	ucurl -o /dev/null -Q 'RMD sub' "$(url /)" 2>/dev/null
	[ $? -eq 21 ] && [ -d "$root/sub" ] && ok "RMD of a directory with entries: refused" ||
		bad "RMD of a directory with entries"
	ucurl --ftp-create-dirs -T "$root/1k.bin" "$(url /a/b/c/f.bin)" || bad "--ftp-create-dirs: curl $?"
	[ "$(sum_of "$root/a/b/c/f.bin")" = "$sum_1k" ] && ok "--ftp-create-dirs" ||
		bad "--ftp-create-dirs did not make the file"
	rm -rf "$root/a" "$root"/up-*.bin "$root/part.bin"

	# traversal through curl's %-decoding
	for p in /%2e%2e/secret.txt /..%2fsecret.txt /%2e%2e%2f%2e%2e/secret.txt /escape /etcpw; do
		got=$(acurl "$(url "$p")" 2>/dev/null)
		case $got in
		*secret*|*root:*) bad "curl $p leaves the root" ;;
		*) ok "curl $p stays in the root" ;;
		esac
	done
	n=$(acurl "$(url /many/)" | wc -l)
	[ "$n" -eq 10000 ] && ok "curl LIST of 10,000 entries" || bad "curl LIST: $n lines"

	for c in traversal listing abor abor_stor ascii offsets badcmds flood clients200 slow idle pasv_unused; do
		py $c
	done
	kill -0 "$spid" 2>/dev/null || bad "the server died"

	# SIGTERM: an idle session is told, the server exits 0
	exec 3<>"/dev/tcp/127.0.0.1/$port"
	read -r -t 10 greet <&3
	kill -TERM "$spid"
	read -r -t 10 bye <&3
	exec 3<&-
	stop 0
	case $bye in
	421*) ok "SIGTERM: the idle session gets 421" ;;
	*) bad "SIGTERM: the idle session got '$bye' (greeting '$greet')" ;;
	esac
	[ "$rc" = 0 ] && ok "SIGTERM: exit 0" || bad "SIGTERM: exit $rc"
}

ran=0
for backend in uring aio pool; do
	run_backend
	[ $? -ne 3 ] && ran=$((ran + 1))
done

# --threads, --max-per-ip and --max-conns, on the default backend
backend=auto
start thr --root "$root" --listen 127.0.0.1:0 --threads 3 --max-per-ip 2
py per_ip
stop INT
[ "$rc" = 0 ] && ok "--threads 3: SIGINT exit 0" || bad "--threads 3: SIGINT exit $rc"
start thr2 --root "$root" --listen 127.0.0.1:0 --threads 3 --max-per-ip 400
py clients200
stop TERM
start maxc --root "$root" --listen 127.0.0.1:0 --max-conns 2
py per_ip
stop TERM

# A second SIGTERM cuts the drain short: a download that would take a day
# at 1 KiB/s ends, and the server exits 0 long before --drain-timeout.
start hurry --root "$root" --listen 127.0.0.1:0 --threads 2 --drain-timeout 3600
curl -s --limit-rate 1k -o "$tmp/slow.dl" "$(url /100m.bin)" &
cpid=$!
for i in $(seq 300); do   # until the download has begun
	[ -s "$tmp/slow.dl" ] && break
	sleep 0.1
done
kill -TERM "$spid"
for i in $(seq 300); do   # until the first one took: no more listener
	(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || break
	sleep 0.1
done
kill -0 "$spid" 2>/dev/null && kill -0 "$cpid" 2>/dev/null &&
	ok "first SIGTERM: the listener is gone, the download goes on" ||
	bad "first SIGTERM: the server or the download ended"
stop TERM
[ "$rc" = 0 ] && ok "second SIGTERM: the drain is cut, exit 0" || bad "second SIGTERM: exit $rc"
# curl has megabytes in its socket buffer to read at 1 KiB/s: it goes now
kill "$cpid" 2>/dev/null
wait "$cpid" 2>/dev/null
[ "$(stat -c %s "$tmp/slow.dl")" -lt 104857600 ] && ok "the download was cut, not finished" ||
	bad "the download finished before the second SIGTERM"

# --fsync: on the pool backend fdatasync(2) is a system call strace sees
backend=pool
if command -v strace >/dev/null 2>&1; then
	# -D: strace runs as a grandchild, so spid is the server itself
	# (LeakSanitizer cannot run under ptrace: off for this one server)
	ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
	strace -D -f -qq -e trace=fdatasync -o "$tmp/strace" "$ftpd" --root "$root" \
		--listen 127.0.0.1:0 --backend pool --users "$tmp/users" --fsync "${priv[@]}" \
		>"$tmp/out.fsync" 2>&1 &
	spid=$!
	pids="$pids $spid"
	for i in $(seq 300); do
		port=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9][0-9]*\)$/\1/p' "$tmp/out.fsync")
		[ -n "$port" ] && break
		sleep 0.1
	done
	py fsync
	stop TERM
	[ "$rc" = 0 ] || bad "--fsync server: exit $rc"
	for i in $(seq 100); do   # strace writes its log as it exits
		grep -q 'fdatasync(' "$tmp/strace" 2>/dev/null && break
		sleep 0.1
	done
	grep -q 'fdatasync(' "$tmp/strace" && ok "--fsync: fdatasync before the 226" ||
		bad "--fsync: no fdatasync seen"
else
	echo "note: strace not installed: --fsync not checked"
fi

# mistakes on the command line: status 2; root without --user: refused
"$ftpd" --listen nowhere --root "$root" >/dev/null 2>&1
[ $? -eq 2 ] && ok "bad --listen: status 2" || bad "bad --listen"
"$ftpd" >/dev/null 2>&1
[ $? -eq 2 ] && ok "no --root: status 2" || bad "no --root"
if [ "$(id -u)" = 0 ]; then
	timeout 10 "$ftpd" --root "$root" --listen 127.0.0.1:0 >/dev/null 2>&1
	[ $? -eq 1 ] && ok "as root without --user: refused" || bad "serves as root"
fi

if [ $ran -eq 0 ]; then
	echo "SKIP: no backend could be set up"
	exit 77
fi
[ $fail -eq 0 ] && echo "PASS: cio-ftpd on $ran backend(s)"
exit $fail
