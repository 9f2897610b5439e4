#!/bin/bash
# cio-ftpd against vsftpd on the same root over loopback: CLIENTS (100)
# concurrent downloads of a SIZE_MB (16) MiB file, CLIENTS concurrent
# uploads of it, and LIST_RUNS listings of a LIST_FILES-entry directory;
# the servers alternated, RUNS (3) rounds, medians. Reports MB/s and the
# server's CPU seconds per GB moved: from a cpuacct cgroup of its own
# (cgroup v1, /sys/fs/cgroup/cpuacct, when writable), which counts every
# process of it, exited or not; else from /proc/PID/stat, utime + stime
# plus cutime + cstime, which hold vsftpd's per-session processes only as
# far as each parent reaped its children (the script waits for them to
# exit). Each client is its own curl process. Prints a markdown table.
#
# Run as root from a build directory (or set CIO_FTPD to the binary).
# Needs the Debian packages vsftpd and curl; installs nothing itself. A
# benchmark, not a test: run it on an idle machine. Environment: RUNS,
# CLIENTS, SIZE_MB, LIST_FILES, LIST_RUNS, THREADS (cio-ftpd's, default
# nproc), BACKEND (cio-ftpd's, default auto), KINDS (which of "down up
# list" to measure, default all), MODE (active, the default:
# the servers connect to curl with PORT/EPRT; or passive). Why active by
# default: curl 7.88 sleeps 200 ms in its multi loop before the passive
# data connection when the EPSV/PASV reply arrives within its own call
# (measured: 15 of 20 downloads from cio-ftpd, none from vsftpd, whose
# reply comes a context switch later); that would measure curl.
set -u
ftpd="${CIO_FTPD:-./tools/cio-ftpd}"
runs="${RUNS:-3}"
clients="${CLIENTS:-100}"
size_mb="${SIZE_MB:-16}"
list_files="${LIST_FILES:-10000}"
list_runs="${LIST_RUNS:-20}"
threads="${THREADS:-$(nproc)}"
kinds="${KINDS:-down up list}"
backend="${BACKEND:-auto}"
case ${MODE:-active} in
active) mode_opt="--ftp-port 127.0.0.1" ;;
passive) mode_opt="--ftp-pasv" ;;
*) echo "ftpd-vs-vsftpd: MODE is active or passive" >&2; exit 1 ;;
esac

missing=
command -v curl >/dev/null 2>&1 || missing="$missing curl"
vsftpd=$(command -v vsftpd || echo /usr/sbin/vsftpd)
[ -x "$vsftpd" ] || missing="$missing vsftpd"
if [ -n "$missing" ]; then
	echo "ftpd-vs-vsftpd: missing:$missing (Debian: apt-get install -y$missing)" >&2
	exit 1
fi
if [ ! -x "$ftpd" ]; then
	echo "ftpd-vs-vsftpd: $ftpd not found: run from the build directory or set CIO_FTPD" >&2
	exit 1
fi
if [ "$(id -u)" != 0 ]; then
	echo "ftpd-vs-vsftpd: vsftpd's standalone mode needs root" >&2
	exit 1
fi
ftpuser=ftp
id "$ftpuser" >/dev/null 2>&1 || ftpuser=nobody

tmp=$(mktemp -d "${TMPDIR:-/tmp}/ftpd-vs-vsftpd-XXXXXX") || exit 1
srv_pid=
cleanup() {
	[ -n "$srv_pid" ] && kill -TERM "$srv_pid" 2>/dev/null
	wait 2>/dev/null
	[ -n "${cg:-}" ] && rmdir "$cg" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# The root: readable by all, not writable by the servers' user (vsftpd
# refuses a writable chroot); uploads go to up/, which is.
chmod 755 "$tmp"
root="$tmp/root"
mkdir -p "$root/up" "$root/many" "$tmp/empty"
head -c $((size_mb << 20)) /dev/urandom >"$root/file.bin"
(cd "$root/many" && seq -f 'f%06g' "$list_files" | xargs touch)
chmod -R a+rX "$root"
chown "$ftpuser" "$root/up"
hz=$(getconf CLK_TCK)

# A cheap hash for cio-ftpd's uploading user: the login is not what is
# measured (vsftpd's uploads are anonymous).
hash=$(python3 -W ignore -c 'import crypt; print(crypt.crypt("bench", crypt.mksalt(crypt.METHOD_SHA512, rounds=1000)))' 2>/dev/null)
[ -n "$hash" ] || hash=$(openssl passwd -6 bench)
echo "bench:$hash:rw" >"$tmp/users"

cat >"$tmp/vsftpd.conf" <<EOF
listen=YES
listen_ipv6=NO
listen_address=127.0.0.1
background=NO
anonymous_enable=YES
no_anon_password=YES
anon_root=$root
ftp_username=$ftpuser
local_enable=NO
write_enable=YES
anon_upload_enable=YES
anon_umask=022
dirlist_enable=YES
xferlog_enable=NO
max_clients=0
max_per_ip=0
seccomp_sandbox=NO
secure_chroot_dir=$tmp/empty
use_sendfile=YES
idle_session_timeout=600
data_connection_timeout=600
EOF

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

wait_port() {   # PORT: until it answers (30 s at most)
	local i
	for i in $(seq 300); do
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

cgbase=/sys/fs/cgroup/cpuacct
cg=
if [ -w "$cgbase" ] && [ -r "$cgbase/cpuacct.usage" ]; then
	cg="$cgbase/ftpd-vs-vsftpd-$$"
	mkdir "$cg" || cg=
fi
cpu_source=${cg:+"cgroup cpuacct"}
cpu_source=${cpu_source:-"/proc utime+stime+cutime+cstime"}

# A prefix that runs a command inside the bench's cgroup (sh joins it and
# execs the command, so $! stays the server's pid).
in_cg=()
[ -n "$cg" ] && in_cg=(sh -c 'echo $$ >"$0/cgroup.procs" && exec "$@"' "$cg")

start_server() {   # vsftpd|cio: sets srv_pid, port, auth
	port=$(free_port)
	if [ "$1" = vsftpd ]; then
		"${in_cg[@]}" "$vsftpd" -olisten_port="$port" "$tmp/vsftpd.conf" >"$tmp/vsftpd.log" 2>&1 &
		auth=
	else
		"${in_cg[@]}" "$ftpd" --root "$root" --listen "127.0.0.1:$port" --threads "$threads" \
			--backend "$backend" --users "$tmp/users" --user "$ftpuser" \
			--max-per-ip 100000 --max-conns 4096 >"$tmp/cio.log" 2>&1 &
		auth="-u bench:bench"
	fi
	srv_pid=$!
	wait_port "$port" || { echo "ftpd-vs-vsftpd: $1 did not start" >&2; cat "$tmp"/*.log >&2; exit 1; }
}

stop_server() {
	kill -TERM "$srv_pid" 2>/dev/null
	wait "$srv_pid" 2>/dev/null
	srv_pid=
}

# CPU ticks of the server and its reaped children; waits until no child
# (a vsftpd session) is left, so that theirs are counted. The stat line's
# second field can hold spaces: read it past the ')'.
cpu_ticks() {
	local i
	for i in $(seq 300); do
		[ -z "$(ps -o pid= --ppid "$srv_pid")" ] && break
		sleep 0.1
	done
	if [ -n "$cg" ]; then
		awk -v hz="$hz" '{ printf "%.0f\n", $1 * hz / 1e9 }' "$cg/cpuacct.usage"
	else
		sed 's/.*) //' "/proc/$srv_pid/stat" | awk '{ print $12 + $13 + $14 + $15 }'
	fi
}

now() { date +%s.%N; }

# measure SERVER KIND: one figure pair (MB/s, CPU s per GB) or listing rate
measure() {
	local srv=$1 kind=$2 t0 t1 c0 c1 i bytes
	c0=$(cpu_ticks)
	t0=$(now)
	if [ "$kind" = list ]; then
		for i in $(seq "$list_runs"); do
			curl -s $auth $mode_opt --max-time 300 -o /dev/null "ftp://127.0.0.1:$port/many/" ||
				echo "ftpd-vs-vsftpd: $srv: a listing failed" >&2
		done
	else
		# One curl process a client: curl's own --parallel stalls some
		# FTP transfers until the server's 60 s accept timeout (seen
		# with vsftpd at 70 and 100 clients, in both modes).
		local pids= p failed=0
		for i in $(seq "$clients"); do
			if [ "$kind" = down ]; then
				curl -s $auth $mode_opt --max-time 600 -o /dev/null \
					"ftp://127.0.0.1:$port/file.bin" 2>>"$tmp/curl.err" &
			else
				curl -s $auth $mode_opt --max-time 600 -T "$root/file.bin" \
					"ftp://127.0.0.1:$port/up/u$i.bin" 2>>"$tmp/curl.err" &
			fi
			pids="$pids $!"
		done
		for p in $pids; do wait "$p" || failed=$((failed + 1)); done
		[ "$failed" -eq 0 ] ||
			echo "ftpd-vs-vsftpd: $srv: $failed of $clients $kind transfers failed" >&2
	fi
	t1=$(now)
	c1=$(cpu_ticks)
	if [ "$kind" = up ]; then
		n=$(find "$root/up" -name 'u*.bin' -size "$((size_mb << 20))c" | wc -l)
		[ "$n" -eq "$clients" ] || echo "ftpd-vs-vsftpd: $srv: $n of $clients uploads complete" >&2
		rm -f "$root"/up/u*.bin
	fi
	if [ "$kind" = list ]; then
		awk -v n="$((list_files * list_runs))" -v t0="$t0" -v t1="$t1" \
			'BEGIN { printf "%.0f\n", n / (t1 - t0) }'
	else
		bytes=$((clients * (size_mb << 20)))
		awk -v b="$bytes" -v t0="$t0" -v t1="$t1" -v c0="$c0" -v c1="$c1" -v hz="$hz" \
			'BEGIN { printf "%.1f %.3f\n", b / 1e6 / (t1 - t0), (c1 - c0) / hz / (b / 1e9) }'
	fi
}

median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# The order alternates from run to run (vsftpd first, then cio-ftpd
# first): on this VM the first writes after an idle spell pay for the
# host backing the guest's freed memory again, which would otherwise
# always fall on the same server.
for r in $(seq "$runs"); do
	order="vsftpd cio"
	[ $((r % 2)) = 0 ] && order="cio vsftpd"
	for srv in $order; do
		start_server "$srv"
		for kind in down up; do
			case " $kinds " in *" $kind "*) ;; *) continue ;; esac
			read -r mbs cpu < <(measure "$srv" "$kind")
			echo "$mbs" >>"$tmp/$srv.$kind.mbs"
			echo "$cpu" >>"$tmp/$srv.$kind.cpu"
			echo "run $r $srv $kind: $mbs MB/s, $cpu CPU s/GB" >&2
		done
		if [[ " $kinds " == *" list "* ]]; then
			rate=$(measure "$srv" list)
			echo "$rate" >>"$tmp/$srv.list"
			echo "run $r $srv list: $rate entries/s" >&2
		fi
		stop_server
	done
done

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }

echo
echo "cio-ftpd ($backend, $threads thread(s)) against vsftpd, $clients clients, $size_mb MiB, ${MODE:-active} mode, medians of $runs; CPU from $cpu_source"
echo
echo "| what | vsftpd | cio-ftpd | ratio |"
echo "|---|---:|---:|---:|"
for kind in down up; do
	[ -s "$tmp/vsftpd.$kind.mbs" ] || continue
	name=$([ "$kind" = down ] && echo download || echo upload)
	vm=$(median <"$tmp/vsftpd.$kind.mbs"); cm=$(median <"$tmp/cio.$kind.mbs")
	vc=$(median <"$tmp/vsftpd.$kind.cpu"); cc=$(median <"$tmp/cio.$kind.cpu")
	echo "| $name MB/s | $vm | $cm | $(ratio "$cm" "$vm") |"
	echo "| $name CPU s/GB | $vc | $cc | $(ratio "$cc" "$vc") |"
done
if [ -s "$tmp/vsftpd.list" ]; then
	vl=$(median <"$tmp/vsftpd.list"); cl=$(median <"$tmp/cio.list")
	echo "| LIST entries/s | $vl | $cl | $(ratio "$cl" "$vl") |"
fi
