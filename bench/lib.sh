# bench/lib.sh - helpers the bench scripts share; sourced, not run.
# The sourcing script sets READY_TIMEOUT, and RUN_NOTE and RUN_TIMEOUT are
# its globals too; make_work sets BENCH_DIR, REPO, OUT_DIR and WORK.
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
ferry_binary() { go_binary FERRY_BIN FERRY . ferry; }

# go_binary VAR ENV PKG NAME: sets VAR to the executable the environment
# variable ENV names, or builds the Go package PKG of this module into
# OUT_DIR/NAME.
go_binary() {
	local -n bin=$1
	local given=${!2:-}
	if [[ -n $given ]]; then
		[[ -x $given ]] || die "$2=$given is not an executable file"
		bin=$given
		return
	fi
	command -v go >/dev/null 2>&1 || die "go not found; install Go or set $2=/path/to/$4"
	bin=$OUT_DIR/$4
	log "building $4 -> $bin"
	(cd "$REPO" && CGO_ENABLED=0 go build -o "$bin" "$3") || die "go build of $4 failed"
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

# round_outcome RUNDIR T0 T1 SENDER RECEIVER SYNC SYNCNAME: sets RUN_RSS_S,
# RUN_RSS_R and RUN_SECS of a round that ran from T0 to T1, and RUN_NOTE
# from the exit statuses of its sender, its receiver and the sync after
# them (SYNCNAME says which).
round_outcome() {
	RUN_RSS_S=$(rss_mib "$1/send.rss")
	RUN_RSS_R=$(rss_mib "$1/recv.rss")
	RUN_SECS=$(awk -v a="$2" -v b="$3" 'BEGIN { printf "%.3f", b - a }')
	if (($4 != 0)); then
		RUN_NOTE=$(exit_note sender "$4")
	elif (($5 != 0)); then
		RUN_NOTE=$(exit_note receiver "$5")
	elif (($6 != 0)); then
		RUN_NOTE="$7 exited $6"
	fi
}

exit_note() { # exit_note WHO STATUS
	case $2 in
	124 | 137) printf '%s killed after RUN_TIMEOUT=%ss' "$1" "$RUN_TIMEOUT" ;;
	*) printf '%s exited %s' "$1" "$2" ;;
	esac
}

# netcat_missing: what to install for nc -N, the OpenBSD netcat; nothing
# when it is there.
netcat_missing() {
	if ! command -v nc >/dev/null 2>&1; then
		echo "nc: apt-get install -y netcat-openbsd"
	elif ! nc -h 2>&1 | grep -qi openbsd; then
		echo "nc is not the OpenBSD netcat (needs -N): apt-get install -y netcat-openbsd"
	fi
}

# report_missing [PREREQUISITE...]: exits 2 listing the missing
# prerequisites given, if any.
report_missing() {
	(($#)) || return 0
	printf '%s: missing prerequisites:\n' "$(basename "$0")" >&2
	printf '  %s\n' "$@" >&2
	exit 2
}

# make_work NAME: sets BENCH_DIR, REPO and OUT_DIR, makes the run's scratch
# directory WORK under BENCH_TMPDIR (default OUT_DIR), and removes it on
# exit after stopping the processes in ACTIVE_PIDS.
ACTIVE_PIDS=()
make_work() {
	BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
	REPO=$(cd "$BENCH_DIR/.." && pwd)
	OUT_DIR=$BENCH_DIR/out
	mkdir -p "$OUT_DIR"
	local parent=${BENCH_TMPDIR:-$OUT_DIR}
	mkdir -p "$parent"
	WORK=$(mktemp -d "$parent/$1.XXXXXX")
	trap cleanup EXIT
	trap 'exit 130' INT TERM
}
cleanup() {
	local p
	for p in "${ACTIVE_PIDS[@]}"; do
		kill "$p" 2>/dev/null || true
	done
	for p in "${ACTIVE_PIDS[@]}"; do
		wait "$p" 2>/dev/null || true
	done
	rm -rf "$WORK"
}

# stop_receiver PID: after the sender failed, gives the receiver five seconds
# to notice, then stops it rather than waiting out RUN_TIMEOUT.
stop_receiver() {
	local i
	for ((i = 0; i < 100; i++)); do
		kill -0 "$1" 2>/dev/null || break
		sleep 0.05
	done
	kill "$1" 2>/dev/null || true
}

# show_logs RUNDIR: the end of a failed round's output files, on stderr.
show_logs() {
	local f
	for f in recv.err send.err send.out; do
		if [[ -s $1/$f ]]; then
			log "    --- $f (last 10 lines)"
			tail -n 10 "$1/$f" | sed 's/^/    /' >&2
		fi
	done
}

# median DECIMALS v1 v2 ...: the median of the numbers, or FAILED if none.
median() {
	local decimals=$1
	shift
	printf '%s\n' "$@" | sort -g | awk -v d="$decimals" '{ v[NR] = $1 } END {
		if (NR == 0) { print "FAILED"; exit }
		if (NR % 2) m = v[(NR + 1) / 2]; else m = (v[NR / 2] + v[NR / 2 + 1]) / 2
		printf "%.*f\n", d, m }'
}

# maxnum NONE v1 v2 ...: the largest number, one decimal, ignoring what is
# not a number; NONE if there is none.
maxnum() {
	local none=$1
	shift
	printf '%s\n' "$@" | awk -v none="$none" '$1 ~ /^[0-9.]+$/ { if (!n++ || $1 > m) m = $1 } END { if (n) printf "%.1f\n", m; else print none }'
}

# print_host TITLE: the header lines that say where and when a run was made.
print_host() {
	local commit cpu fstype
	commit=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)
	if [[ $commit != unknown && -n $(git -C "$REPO" status --porcelain --untracked-files=no 2>/dev/null) ]]; then
		commit="$commit (dirty)"
	fi
	cpu=$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || true)
	fstype=$(df -PT "$WORK" 2>/dev/null | awk 'NR == 2 { print $2 " on " $1 }' || true)
	echo "$1"
	echo "  date:     $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "  commit:   $commit"
	echo "  host:     $(uname -srm), ${cpu:-unknown cpu}, $(nproc) CPUs"
	echo "  load:     $(cut -d" " -f1-3 /proc/loadavg 2>/dev/null || echo ?) (1, 5, 15 min load average at start)"
	echo "  scratch:  ${WORK#"$REPO"/} (${fstype:-?})"
}
