#!/usr/bin/env bash
# bench/throughput.sh - loopback throughput of ferry beside netcat (netcat-openbsd).
#
# Sends one file over 127.0.0.1 with each tool, alternating tools round by
# round, two ways:
#   net  - receiver writes to /dev/null  (ferry recv -  vs  nc -l > /dev/null)
#   disk - receiver writes a durable file (ferry recv DIR, which fsyncs and
#          renames before reporting success  vs  nc -l > FILE; sync FILE)
# and prints MB/s (median and every round) plus each side's peak RSS.
# See bench/README.md for details.
#
# Environment:
#   SIZE_MB=1024        size of the test file in MiB (1024 = 1 GiB)
#   ROUNDS=3            rounds per tool and way
#   TOOLS="nc ferry-none ferry-plain ferry-auto"   any of: nc ferry-none ferry-plain ferry-auto ferry-auto-text
#                       (ferry-* run the default encrypted mode, but ferry-plain: --plain)
#   WAYS="net disk"     any of: net disk
#   FERRY=/path/ferry   use this binary instead of building one into bench/out/ferry
#   BENCH_TMPDIR=DIR    parent for scratch data (default bench/out); the disk
#                       way writes its received files here, so it picks the
#                       file system being measured
#   READY_TIMEOUT=10    seconds to wait for a receiver to be ready
#   RUN_TIMEOUT=...     seconds before one sender/receiver is killed
#                       (default 120 + SIZE_MB/2)
#   CMP_ALL=0           1 = cmp the received file on every disk round, not only the last
set -euo pipefail
export LC_ALL=C # decimal point in EPOCHREALTIME / awk

SIZE_MB=${SIZE_MB:-1024}
ROUNDS=${ROUNDS:-3}
TOOLS=${TOOLS:-"nc ferry-none ferry-plain ferry-auto"}
BENCH_CODE=BENCH-C0DE-1
WAYS=${WAYS:-"net disk"}
READY_TIMEOUT=${READY_TIMEOUT:-10}
RUN_TIMEOUT=${RUN_TIMEOUT:-$((120 + ${SIZE_MB:-0} / 2))}
CMP_ALL=${CMP_ALL:-0}

# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"

for v in SIZE_MB ROUNDS READY_TIMEOUT RUN_TIMEOUT; do
	[[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer (got '${!v}')"
done

read -r -a TOOL_LIST <<<"$TOOLS"
read -r -a WAY_LIST <<<"$WAYS"
((${#TOOL_LIST[@]} > 0)) || die "TOOLS is empty"
((${#WAY_LIST[@]} > 0)) || die "WAYS is empty"
need_ferry=0
need_nc=0
need_text=0
for t in "${TOOL_LIST[@]}"; do
	case $t in
	nc) need_nc=1 ;;
	ferry-none | ferry-auto | ferry-plain) need_ferry=1 ;;
	ferry-auto-text) need_ferry=1 need_text=1 ;;
	*) die "unknown tool '$t' in TOOLS (use: nc ferry-none ferry-plain ferry-auto ferry-auto-text)" ;;
	esac
done
for w in "${WAY_LIST[@]}"; do
	case $w in
	net | disk) ;;
	*) die "unknown way '$w' in WAYS (use: net disk)" ;;
	esac
done

# ---------------------------------------------------------------- prerequisites
missing=()
if ((need_nc)); then
	netcat=$(netcat_missing)
	[[ -z $netcat ]] || missing+=("$netcat")
fi
[[ -x /usr/bin/time ]] || missing+=("/usr/bin/time: apt-get install -y time")
command -v ss >/dev/null 2>&1 || missing+=("ss: apt-get install -y iproute2")
for c in timeout awk cmp stat sync; do
	command -v "$c" >/dev/null 2>&1 || missing+=("$c: apt-get install -y coreutils diffutils gawk")
done
report_missing "${missing[@]}"

make_work throughput


# ---------------------------------------------------------------- ferry binary
FERRY_BIN=
if ((need_ferry)); then
	ferry_binary
fi

# ---------------------------------------------------------------- input files
SIZE_BYTES=$((SIZE_MB * 1024 * 1024))
SRC_RANDOM=$WORK/src/random.bin
SRC_TEXT=$WORK/src/text.txt
mkdir -p "$WORK/src"
log "making ${SIZE_MB} MiB random input"
head -c "$SIZE_BYTES" /dev/urandom >"$SRC_RANDOM"
if ((need_text)); then
	log "making ${SIZE_MB} MiB compressible input"
	{ seq -f '%08.0f the quick brown fox jumps over the lazy dog, again and again' 1 100000000 || true; } |
		head -c "$SIZE_BYTES" >"$SRC_TEXT"
	[[ $(stat -c %s "$SRC_TEXT") == "$SIZE_BYTES" ]] || die "compressible input came out short"
fi
[[ $(stat -c %s "$SRC_RANDOM") == "$SIZE_BYTES" ]] || die "random input came out short"

# ---------------------------------------------------------------- helpers

# run_one WAY TOOL ROUND: one timed transfer. Sets RUN_OK (0/1), RUN_SECS,
# RUN_RSS_S, RUN_RSS_R, RUN_NOTE.
run_one() {
	local way=$1 tool=$2 round=$3
	local d=$WORK/run.$way.$tool.$round
	local src=$SRC_RANDOM zmode='' rkind dest='' rout=/dev/null recvd=''
	local -a rcmd scmd
	local sin=/dev/null
	mkdir -p "$d"
	RUN_OK=0 RUN_SECS='' RUN_RSS_S='?' RUN_RSS_R='?' RUN_NOTE=''

	case $tool in
	ferry-none | ferry-plain) zmode=none ;;
	ferry-auto) zmode=auto ;;
	ferry-auto-text) zmode=auto src=$SRC_TEXT ;;
	esac
	# Every ferry runs the default, encrypted mode with a fixed code, but
	# ferry-plain, which runs --plain on both sides.
	local -a fmode=(--code "$BENCH_CODE")
	[[ $tool == ferry-plain ]] && fmode=(--plain)
	if [[ $way == disk ]]; then
		dest=$d/dest
		mkdir -p "$dest"
	fi

	pick_port
	if [[ $tool == nc ]]; then
		rkind=nc
		rcmd=(nc -l 127.0.0.1 "$PORT")
		scmd=(nc -N 127.0.0.1 "$PORT")
		sin=$src
		if [[ $way == disk ]]; then
			recvd=$dest/$(basename "$src")
			rout=$recvd
		fi
	else
		rkind=ferry
		rcmd=("$FERRY_BIN" recv --json "${fmode[@]}" -l "127.0.0.1:$PORT")
		if [[ $way == disk ]]; then rcmd+=("$dest"); else rcmd+=(-); fi
		scmd=("$FERRY_BIN" send -q "${fmode[@]}" -z "$zmode" "127.0.0.1:$PORT" "$src")
	fi

	# Start from a clean page-cache writeback state (not timed).
	[[ $way == disk ]] && sync

	timeout -k 5 "$RUN_TIMEOUT" /usr/bin/time -f %M -o "$d/recv.rss" \
		"${rcmd[@]}" <"/dev/null" >"$rout" 2>"$d/recv.err" &
	local rpid=$!
	ACTIVE_PIDS+=("$rpid")
	if ! wait_ready "$rkind" "$rpid" "$d/recv.err"; then
		kill "$rpid" 2>/dev/null || true
		wait "$rpid" 2>/dev/null || true
		run_failed "$d" "${rcmd[*]}" "${scmd[*]}"
		return 0
	fi

	local sst=0 rst=0 yst=0 t0 t1
	t0=$(now)
	timeout -k 5 "$RUN_TIMEOUT" /usr/bin/time -f %M -o "$d/send.rss" \
		"${scmd[@]}" <"$sin" >"$d/send.out" 2>"$d/send.err" || sst=$?
	((sst == 0)) || stop_receiver "$rpid"
	wait "$rpid" || rst=$?
	if [[ $tool == nc && $way == disk && $sst == 0 && $rst == 0 ]]; then
		sync "$recvd" || yst=$?
	fi
	t1=$(now)
	ACTIVE_PIDS=()

	round_outcome "$d" "$t0" "$t1" "$sst" "$rst" "$yst" "sync FILE"
	if [[ -z $RUN_NOTE && $way == disk ]]; then
		verify_disk "$dest" "$src" "$round"
	fi
	if [[ -n $RUN_NOTE ]]; then
		run_failed "$d" "${rcmd[*]}" "${scmd[*]}"
		return 0
	fi
	RUN_OK=1
	rm -rf "$d"
}

# verify_disk DEST SRC ROUND: exactly one regular file in DEST (named like the
# source), same size as the source; cmp on the last round (or all, CMP_ALL=1).
verify_disk() {
	local dest=$1 src=$2 round=$3 want entries n got
	want=$dest/$(basename "$src")
	entries=$(find "$dest" -mindepth 1 -maxdepth 1 -printf '%f ')
	n=$(find "$dest" -mindepth 1 -maxdepth 1 -printf 'x\n' | wc -l)
	if [[ ! -f $want ]]; then
		RUN_NOTE="received file $(basename "$src") missing in destination (entries: ${entries:-none})"
		return
	fi
	if ((n != 1)); then
		RUN_NOTE="destination holds $n entries, expected 1: $entries"
		return
	fi
	got=$(stat -c %s "$want")
	if [[ $got != "$SIZE_BYTES" ]]; then
		RUN_NOTE="received size $got != source size $SIZE_BYTES"
		return
	fi
	if [[ $CMP_ALL == 1 ]] || ((round == ROUNDS)); then
		cmp -s "$src" "$want" || RUN_NOTE="received file differs from source (cmp)"
	fi
}

run_failed() { # run_failed DIR RECVCMD SENDCMD
	log "  FAILED: $RUN_NOTE"
	log "    receiver: $2"
	log "    sender:   $3"
	show_logs "$1"
	rm -rf "$1"
}

tool_label() {
	case $1 in
	nc) printf 'nc' ;;
	ferry-none) printf 'ferry -z none' ;;
	ferry-plain) printf 'ferry --plain -z none' ;;
	ferry-auto) printf 'ferry -z auto' ;;
	ferry-auto-text) printf 'ferry -z auto (text)' ;;
	esac
}
way_label() {
	case $1 in
	net) printf 'net -> /dev/null' ;;
	disk) printf 'disk + fsync' ;;
	esac
}

# ---------------------------------------------------------------- header
print_host "ferry throughput benchmark"
echo "  file:     $SIZE_MB MiB ($SIZE_BYTES bytes), rounds: $ROUNDS"
echo "  tools:    ${TOOL_LIST[*]}; ways: ${WAY_LIST[*]}"
[[ -n $FERRY_BIN ]] && echo "  ferry:    $FERRY_BIN"
echo "  units:    MB/s = 10^6 bytes/s of file data; RSS = peak resident set (ru_maxrss) in MiB"
echo

# ---------------------------------------------------------------- main loop
declare -A VALS RSS_S RSS_R
any_failed=0
ntools=${#TOOL_LIST[@]}
for way in "${WAY_LIST[@]}"; do
	for ((round = 1; round <= ROUNDS; round++)); do
		# rotate the starting tool each round so no tool always goes first
		for ((k = 0; k < ntools; k++)); do
			tool=${TOOL_LIST[(round - 1 + k) % ntools]}
			log "[$way] round $round/$ROUNDS: $(tool_label "$tool")"
			run_one "$way" "$tool" "$round"
			key="$way|$tool"
			if ((RUN_OK)); then
				mbs=$(awk -v b="$SIZE_BYTES" -v s="$RUN_SECS" 'BEGIN { printf "%.1f", b / 1e6 / s }')
				status=ok
			else
				mbs=FAILED
				status=FAILED
				any_failed=1
			fi
			VALS[$key]="${VALS[$key]:-} $mbs"
			RSS_S[$key]="${RSS_S[$key]:-} $RUN_RSS_S"
			RSS_R[$key]="${RSS_R[$key]:-} $RUN_RSS_R"
			echo "RESULT way=$way tool=$tool round=$round bytes=$SIZE_BYTES secs=${RUN_SECS:-NA} mb_s=$mbs send_rss_mib=$RUN_RSS_S recv_rss_mib=$RUN_RSS_R status=$status"
		done
	done
done

# ---------------------------------------------------------------- table
echo
printf '%-17s %-21s %11s  %-26s %13s %13s\n' way tool "median MB/s" "rounds MB/s" "send RSS MiB" "recv RSS MiB"
printf '%-17s %-21s %11s  %-26s %13s %13s\n' ----------------- --------------------- ----------- -------------------------- ------------ ------------
for way in "${WAY_LIST[@]}"; do
	for tool in "${TOOL_LIST[@]}"; do
		key="$way|$tool"
		read -r -a vals <<<"${VALS[$key]}"
		read -r -a rs <<<"${RSS_S[$key]}"
		read -r -a rr <<<"${RSS_R[$key]}"
		nums=()
		for v in "${vals[@]}"; do
			[[ $v == FAILED ]] || nums+=("$v")
		done
		if ((${#nums[@]} == 0)); then
			med=FAILED
		else
			med=$(median 1 "${nums[@]}")
			((${#nums[@]} == ${#vals[@]})) || med="$med*"
		fi
		printf '%-17s %-21s %11s  %-26s %13s %13s\n' "$(way_label "$way")" "$(tool_label "$tool")" \
			"$med" "${vals[*]}" "$(maxnum "?" "${rs[@]}")" "$(maxnum "?" "${rr[@]}")"
	done
done
echo
echo "net: receiver output to /dev/null. disk: receiver writes a file under the scratch dir; ferry"
echo "fsyncs+renames before exiting, nc is followed by 'sync FILE' (timed). Time runs from just before"
echo "the sender starts until sender and receiver have exited (and sync returned). RSS: max over rounds."
if ((any_failed)); then
	echo "* some rounds FAILED (details on stderr); median is over the rounds that succeeded."
	exit 1
fi
