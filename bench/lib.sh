# bench/lib.sh - helpers the bench scripts share; sourced, not run.
# The sourcing script sets REPO, OUT_DIR and READY_TIMEOUT, and RUN_NOTE and
# RUN_TIMEOUT are its globals too.
# shellcheck shell=bash disable=SC2034 # RUN_NOTE is a global of the sourcing script

die() {
	printf '%s: %s\n' "$(basename "$0")" "$*" >&2
	exit 2
}
log() { printf '%s\n' "$*" >&2; }

now() {
	if [[ -n ${EPOCHREALTIME:-} ]]; then
		printf '%s\n' "$EPOCHREALTIME"
	else
		date +%s.%N
	fi
}

# ferry_binary: sets FERRY_BIN to $FERRY, or builds ferry into OUT_DIR.
ferry_binary() {
	if [[ -n ${FERRY:-} ]]; then
		[[ -x $FERRY ]] || die "FERRY=$FERRY is not an executable file"
		FERRY_BIN=$FERRY
		return
	fi
	command -v go >/dev/null 2>&1 || die "go not found; install Go or set FERRY=/path/to/ferry"
	FERRY_BIN=$OUT_DIR/ferry
	log "building ferry -> $FERRY_BIN"
	(cd "$REPO" && CGO_ENABLED=0 go build -o "$FERRY_BIN" .) || die "go build failed"
}

PORT=0
NEXT_PORT=$((20000 + RANDOM % 20000))
port_listening() {
	[[ -n $(ss -Hltn "( sport = :$1 )" 2>/dev/null) ]]
}
# port_used PORT: any TCP socket (listening, connected, TIME_WAIT) has PORT as
# its local port. A connected socket on the port makes nc's bind fail, and
# 20000-39999 overlaps Linux's ephemeral range (32768-60999).
port_used() {
	[[ -n $(ss -Htan "( sport = :$1 )" 2>/dev/null) ]]
}
pick_port() {
	local i
	for ((i = 0; i < 500; i++)); do
		NEXT_PORT=$((NEXT_PORT + 1))
		((NEXT_PORT < 40000)) || NEXT_PORT=20000
		if ! port_used "$NEXT_PORT"; then
			PORT=$NEXT_PORT
			return 0
		fi
	done
	die "no free port found in 20000-39999"
}

# wait_ready KIND PID ERRFILE: KIND is ferry (wait for the "listening" JSON
# event on the receiver's stderr) or nc (wait for the port in `ss -ltn`).
# Bounded by READY_TIMEOUT; never connects to the port.
wait_ready() {
	local kind=$1 pid=$2 errfile=$3 i
	for ((i = 0; i < READY_TIMEOUT * 20; i++)); do
		if [[ $kind == ferry ]]; then
			grep -Eq '"event"[[:space:]]*:[[:space:]]*"listening"' "$errfile" 2>/dev/null && return 0
		else
			port_listening "$PORT" && return 0
		fi
		kill -0 "$pid" 2>/dev/null || {
			RUN_NOTE="receiver exited before it was ready"
			return 1
		}
		sleep 0.05
	done
	if [[ $kind == ferry ]]; then
		RUN_NOTE="no \"event\":\"listening\" line on receiver stderr within ${READY_TIMEOUT}s"
	else
		RUN_NOTE="port $PORT not listening within ${READY_TIMEOUT}s"
	fi
	return 1
}

# rss_mib FILE: peak RSS in MiB from a /usr/bin/time -f %M output file (KiB,
# last line); n/a without /usr/bin/time.
rss_mib() {
	local kib
	[[ -x /usr/bin/time ]] || {
		printf 'n/a'
		return
	}
	kib=$(tail -n 1 "$1" 2>/dev/null || true)
	if [[ $kib =~ ^[0-9]+$ ]]; then
		awk -v k="$kib" 'BEGIN { printf "%.1f", k / 1024 }'
	else
		printf '?'
	fi
}

exit_note() { # exit_note WHO STATUS
	case $2 in
	124 | 137) printf '%s killed after RUN_TIMEOUT=%ss' "$1" "$RUN_TIMEOUT" ;;
	*) printf '%s exited %s' "$1" "$2" ;;
	esac
}
