# SPDX-License-Identifier: MIT
# Sourced by tests/test-httpd.sh and tests/test-ftpd.sh: starting and
# stopping the server under test. The script sets server (its binary),
# tmp and pids, and may set server_args (an array added to every start).

# start NAME ARGS...: run the server, wait for its "listening on" line
# (60 s at most: a loaded machine) and set port and spid. Returns the
# server's exit status if it quits first.
start() {
	local out="$tmp/out.$1" i
	shift
	"$server" "$@" ${server_args+"${server_args[@]}"} >"$out" 2>"$out.err" &
	spid=$!
	pids="$pids $spid"
	port=
	for i in $(seq 600); do
		port=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9][0-9]*\)$/\1/p' "$out")
		[ -n "$port" ] && return 0
		if ! kill -0 "$spid" 2>/dev/null; then
			wait "$spid"
			return $?
		fi
		sleep 0.1
	done
	return 1
}

# stop [SIGNAL]: signal the server (0: none, just wait) and wait for its
# exit status, in rc; 60 s at most (a loaded machine), then KILL and
# rc=timeout.
stop() {
	local i
	kill -"${1:-TERM}" "$spid" 2>/dev/null
	for i in $(seq 600); do
		kill -0 "$spid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$spid" 2>/dev/null; then
		kill -KILL "$spid"
		wait "$spid" 2>/dev/null
		rc=timeout
	else
		wait "$spid"
		rc=$?
	fi
}
