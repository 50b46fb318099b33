#!/usr/bin/env bash
# bench/manyfiles.sh - many small files over loopback: ferry beside tar | nc.
#
# Makes one source tree of FILES files of SIZE random bytes each, PER_DIR
# files per subdirectory (src/d000/f0000 ...), and sends the whole tree over
# 127.0.0.1 with each tool, alternating tools round by round:
#   ferry      ferry recv --json DIR  /  ferry send -q -z none HOST SRCDIR
#              (makes every file and directory durable before exiting 0)
#   ferry-auto the same with -z auto
#   tar        nc -l | tar x -C DIR  /  tar c -C PARENT src | nc -N  (no sync)
#   tar+sync   the same, then `sync -f DIR` (syncfs) inside the timed span
#   floor      nc -l | specfloor DIR  /  the same tar c | nc -N: the least work
#              that keeps SPEC's promise (bench/specfloor.c: temporary names,
#              syncfs, renames, syncfs), as a yardstick; needs a C compiler
#   floor-p    the same, pipelined: a second thread syncs and renames 1,000
#              files at a time while more arrive (specfloor -p)
# Every round's tree is checked against the source (file count, diff -r).
# Prints seconds (median and every round), files/s, MB/s, each side's peak
# RSS, and a one-line verdict: ferry -z none against tar | nc.
# See bench/README.md for details.
#
# Environment:
#   FILES=10000         number of files in the source tree
#   SIZE=1024           bytes per file
#   PER_DIR=100         files per subdirectory
#   ROUNDS=3            rounds per tool
#   TOOLS="ferry ferry-auto tar tar+sync"   any of these, floor and floor-p, separated by spaces or commas
#   FERRY=/path/ferry   use this binary instead of building one into bench/out/ferry
#   BENCH_TMPDIR=DIR    parent for scratch data (default bench/out); received
#                       trees are written here, so it picks the file system measured
#   REMOVE_EACH_ROUND=0 1 = delete each round's received tree as soon as it is
#                       checked; by default all trees stay until the run ends,
#                       because on some file systems (ext4 without a journal)
#                       creating files soon after a mass delete is much slower
#   READY_TIMEOUT=10    seconds to wait for a receiver to be ready
#   RUN_TIMEOUT=...     seconds before one sender/receiver is killed
#                       (default 120 + FILES/50 + FILES*SIZE/10^7)
set -euo pipefail
export LC_ALL=C # decimal point in EPOCHREALTIME / awk; byte order in sort

FILES=${FILES:-10000}
SIZE=${SIZE:-1024}
PER_DIR=${PER_DIR:-100}
BENCH_CODE=BENCH-C0DE-1 # ferry runs its default, encrypted mode
ROUNDS=${ROUNDS:-3}
TOOLS=${TOOLS:-"ferry ferry-auto tar tar+sync"}
READY_TIMEOUT=${READY_TIMEOUT:-10}
REMOVE_EACH_ROUND=${REMOVE_EACH_ROUND:-0}

# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"

for v in FILES SIZE PER_DIR ROUNDS READY_TIMEOUT; do
	[[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer (got '${!v}')"
done
[[ $REMOVE_EACH_ROUND == [01] ]] || die "REMOVE_EACH_ROUND must be 0 or 1 (got '$REMOVE_EACH_ROUND')"
TOTAL_BYTES=$((FILES * SIZE))
RUN_TIMEOUT=${RUN_TIMEOUT:-$((120 + FILES / 50 + TOTAL_BYTES / 10000000))}
[[ $RUN_TIMEOUT =~ ^[1-9][0-9]*$ ]] || die "RUN_TIMEOUT must be a positive integer (got '$RUN_TIMEOUT')"

read -r -a TOOL_LIST <<<"${TOOLS//,/ }"
((${#TOOL_LIST[@]} > 0)) || die "TOOLS is empty"
need_ferry=0
need_nc=0
need_cc=0
for t in "${TOOL_LIST[@]}"; do
	case $t in
	ferry | ferry-auto) need_ferry=1 ;;
	tar | tar+sync) need_nc=1 ;;
	floor | floor-p) need_nc=1 need_cc=1 ;;
	*) die "unknown tool '$t' in TOOLS (use: ferry ferry-auto tar tar+sync floor floor-p)" ;;
	esac
done

# ---------------------------------------------------------------- prerequisites
missing=()
if ((need_nc)); then
	netcat=$(netcat_missing)
	[[ -z $netcat ]] || missing+=("$netcat")
	command -v tar >/dev/null 2>&1 || missing+=("tar: apt-get install -y tar")
fi
command -v ss >/dev/null 2>&1 || missing+=("ss: apt-get install -y iproute2")
for c in timeout awk diff find split head stat sync; do
	command -v "$c" >/dev/null 2>&1 || missing+=("$c: apt-get install -y coreutils diffutils findutils gawk")
done
if ((need_cc)); then
	command -v cc >/dev/null 2>&1 || missing+=("cc: apt-get install -y gcc")
fi
report_missing "${missing[@]}"
# Peak RSS needs GNU time; without it the run goes on and RSS shows as n/a.
HAVE_TIME=0
[[ -x /usr/bin/time ]] && HAVE_TIME=1

make_work manyfiles


# ---------------------------------------------------------------- ferry binary
FERRY_BIN=
if ((need_ferry)); then
	ferry_binary
fi

FLOOR_BIN=
if ((need_cc)); then
	FLOOR_BIN=$WORK/specfloor
	log "building bench/specfloor.c -> $FLOOR_BIN"
	cc -O2 -pthread -o "$FLOOR_BIN" "$(dirname "$0")/specfloor.c" || die "cc failed on bench/specfloor.c"
fi

# ---------------------------------------------------------------- source tree
# src/d000/f0000 ... src/d000/f0099, src/d001/f0100 ...: file numbers run
# through the whole tree; each directory's files are cut by `split` from one
# stream of random bytes.
SRC=$WORK/src
NDIRS=$(((FILES + PER_DIR - 1) / PER_DIR))
fw=${#FILES}
((fw >= 4)) || fw=4
dw=${#NDIRS}
((dw >= 3)) || dw=3
log "making $FILES files of $SIZE random bytes in $NDIRS directories"
mkdir -p "$SRC"
for ((i = 0; i < NDIRS; i++)); do
	first=$((i * PER_DIR))
	n=$((FILES - first))
	((n <= PER_DIR)) || n=$PER_DIR
	dir=$SRC/$(printf 'd%0*d' "$dw" "$i")
	mkdir "$dir"
	head -c $((n * SIZE)) /dev/urandom |
		split -b "$SIZE" -a "$fw" --numeric-suffixes="$first" - "$dir/f" ||
		die "making $dir failed"
done
got=$(find "$SRC" -type f | wc -l)
((got == FILES)) || die "source tree has $got files, expected $FILES"
got=$(find "$SRC" -type f -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }')
[[ $got == "$TOTAL_BYTES" ]] || die "source tree holds $got bytes, expected $TOTAL_BYTES"

# ---------------------------------------------------------------- helpers

# The tar pipelines run under one bash each, so that timeout can stop the
# whole pipeline and /usr/bin/time reports its largest process.
# shellcheck disable=SC2016 # expanded by the inner bash, from its arguments
TAR_RECV='set -o pipefail; nc -l 127.0.0.1 "$1" </dev/null | tar x -C "$2"'
# shellcheck disable=SC2016
FLOOR_RECV='set -o pipefail; nc -l 127.0.0.1 "$1" </dev/null | "$3" "${@:4}" "$2"'
# shellcheck disable=SC2016
TAR_SEND='set -o pipefail; tar c -C "$1" src | nc -N 127.0.0.1 "$2"'

# run_one TOOL ROUND: one timed transfer of the tree. Sets RUN_OK (0/1),
# RUN_SECS, RUN_RSS_S, RUN_RSS_R, RUN_NOTE.
run_one() {
	local tool=$1 round=$2
	local d=$WORK/run.$tool.$round
	local dest=$d/dest rkind
	local -a rcmd scmd
	mkdir -p "$dest"
	RUN_OK=0 RUN_SECS='' RUN_RSS_S='n/a' RUN_RSS_R='n/a' RUN_NOTE=''

	# Start from a clean page-cache writeback state (not timed).
	sync

	local rmeasure=() smeasure=() attempt rpid
	((HAVE_TIME)) && rmeasure=(/usr/bin/time -f %M -o "$d/recv.rss") smeasure=(/usr/bin/time -f %M -o "$d/send.rss")
	# Start the receiver and wait until it is ready. If another socket took
	# the port between pick_port and the receiver's bind, try another port.
	for ((attempt = 1; ; attempt++)); do
		pick_port
		case $tool in
		ferry | ferry-auto)
			rkind=ferry
			local zmode=none
			[[ $tool == ferry-auto ]] && zmode=auto
			rcmd=("$FERRY_BIN" recv --json --code "$BENCH_CODE" -l "127.0.0.1:$PORT" "$dest")
			scmd=("$FERRY_BIN" send -q --code "$BENCH_CODE" -z "$zmode" "127.0.0.1:$PORT" "$SRC")
			;;
		tar | tar+sync)
			rkind=nc
			rcmd=(bash -c "$TAR_RECV" tar-recv "$PORT" "$dest")
			scmd=(bash -c "$TAR_SEND" tar-send "$WORK" "$PORT")
			;;
		floor | floor-p)
			rkind=nc
			rcmd=(bash -c "$FLOOR_RECV" floor-recv "$PORT" "$dest" "$FLOOR_BIN")
			[[ $tool == floor-p ]] && rcmd+=(-p)
			scmd=(bash -c "$TAR_SEND" tar-send "$WORK" "$PORT")
			;;
		esac
		timeout -k 5 "$RUN_TIMEOUT" "${rmeasure[@]}" "${rcmd[@]}" </dev/null >"$d/recv.out" 2>"$d/recv.err" &
		rpid=$!
		ACTIVE_PIDS=("$rpid")
		wait_ready "$rkind" "$rpid" "$d/recv.err" && break
		kill "$rpid" 2>/dev/null || true
		wait "$rpid" 2>/dev/null || true
		ACTIVE_PIDS=()
		if ((attempt < 3)) && grep -qi 'in use' "$d/recv.err"; then
			log "  port $PORT was taken, trying another"
			RUN_NOTE=''
			rm -rf "$dest" && mkdir -p "$dest"
			continue
		fi
		run_failed "$d" "$tool"
		return 0
	done

	local sst=0 rst=0 yst=0 t0 t1 spid
	t0=$(now)
	timeout -k 5 "$RUN_TIMEOUT" "${smeasure[@]}" "${scmd[@]}" </dev/null >"$d/send.out" 2>"$d/send.err" &
	spid=$!
	ACTIVE_PIDS+=("$spid")
	wait "$spid" || sst=$?
	((sst == 0)) || stop_receiver "$rpid"
	wait "$rpid" || rst=$?
	if [[ $tool == tar+sync && $sst == 0 && $rst == 0 ]]; then
		sync -f "$dest" || yst=$?
	fi
	t1=$(now)
	ACTIVE_PIDS=()

	round_outcome "$d" "$t0" "$t1" "$sst" "$rst" "$yst" "sync -f DIR"
	[[ -n $RUN_NOTE ]] || verify_tree "$d" "$dest"
	if [[ -n $RUN_NOTE ]]; then
		run_failed "$d" "$tool"
		return 0
	fi
	RUN_OK=1
	done_with "$d"
}

# verify_tree RUNDIR DEST: DEST holds exactly FILES regular files (no
# temporary or extra files anywhere), and the tree equals the source by
# `diff -r`. The tree may arrive as DEST/src (as tar puts it) or with src's
# contents directly in DEST.
LAYOUT_SEEN=
verify_tree() {
	local d=$1 dest=$2 root n entries layout
	entries=$(find "$dest" -mindepth 1 -maxdepth 1 -printf '%f ')
	if [[ $entries == 'src ' && -d $dest/src ]]; then
		root=$dest/src layout='DEST/src/d000/...'
	else
		root=$dest layout='DEST/d000/...'
	fi
	if [[ $LAYOUT_SEEN != *"[$tool: $layout]"* ]]; then
		LAYOUT_SEEN+="[$tool: $layout]"
		log "  $tool: tree arrives as $layout"
	fi
	n=$(find "$dest" -type f | wc -l)
	if ((n != FILES)); then
		RUN_NOTE="destination holds $n files, expected $FILES (top level: ${entries:-none})"
		return
	fi
	if ! diff -r -q "$SRC" "$root" >"$d/diff.out" 2>&1; then
		RUN_NOTE="received tree differs from source (diff -r $SRC $root):"$'\n'"$(head -n 5 "$d/diff.out")"
	fi
}

# done_with RUNDIR: the round is over. With REMOVE_EACH_ROUND=1 its received
# tree is deleted now (not timed; the next round's `sync` flushes the
# removal), otherwise when the run ends. Deleting 10,000 files just before a
# round makes that round's file creation several times slower on ext4 without
# a journal, whose inode allocator skips inodes freed in the last ~30 s.
done_with() {
	if ((REMOVE_EACH_ROUND)); then
		rm -rf "$1"
	else
		rm -f "$1"/*.rss "$1"/*.out "$1"/*.err
	fi
}

run_failed() { # run_failed DIR TOOL
	log "  FAILED: $RUN_NOTE"
	case $2 in
	ferry | ferry-auto)
		log "    receiver: ${rcmd[*]}"
		log "    sender:   ${scmd[*]}"
		;;
	floor | floor-p)
		log "    receiver: nc -l 127.0.0.1 $PORT | $FLOOR_BIN $([[ $2 == floor-p ]] && echo '-p ')${1}/dest"
		log "    sender:   tar c -C $WORK src | nc -N 127.0.0.1 $PORT"
		;;
	*)
		log "    receiver: nc -l 127.0.0.1 $PORT | tar x -C ${1}/dest"
		log "    sender:   tar c -C $WORK src | nc -N 127.0.0.1 $PORT"
		;;
	esac
	show_logs "$1"
	done_with "$1"
}

tool_label() {
	case $1 in
	ferry) printf 'ferry -z none' ;;
	ferry-auto) printf 'ferry -z auto' ;;
	tar) printf 'tar | nc' ;;
	tar+sync) printf 'tar | nc + sync -f' ;;
	floor) printf 'SPEC floor' ;;
	floor-p) printf 'SPEC floor -p' ;;
	esac
}

# ---------------------------------------------------------------- header
print_host "ferry many-files benchmark"
echo "  tree:     $FILES files x $SIZE bytes = $TOTAL_BYTES bytes, $PER_DIR per directory, $NDIRS directories"
echo "  rounds:   $ROUNDS; tools: ${TOOL_LIST[*]}; received trees removed: $( ((REMOVE_EACH_ROUND)) && echo "after each round" || echo "at the end")"
[[ -n $FERRY_BIN ]] && echo "  ferry:    $FERRY_BIN"
if ((HAVE_TIME)); then
	echo "  units:    MB/s = 10^6 bytes/s of file data; RSS = peak resident set (ru_maxrss) in MiB"
else
	echo "  units:    MB/s = 10^6 bytes/s of file data; RSS skipped: /usr/bin/time not installed (apt-get install -y time)"
fi
echo

# ---------------------------------------------------------------- main loop
declare -A SECS RSS_S RSS_R
any_failed=0
ntools=${#TOOL_LIST[@]}
for ((round = 1; round <= ROUNDS; round++)); do
	# rotate the starting tool each round so no tool always goes first
	for ((k = 0; k < ntools; k++)); do
		tool=${TOOL_LIST[(round - 1 + k) % ntools]}
		log "round $round/$ROUNDS: $(tool_label "$tool")"
		run_one "$tool" "$round"
		if ((RUN_OK)); then
			secs=$RUN_SECS
			read -r fps mbs < <(awk -v f="$FILES" -v b="$TOTAL_BYTES" -v s="$RUN_SECS" 'BEGIN { printf "%.0f %.2f\n", f / s, b / 1e6 / s }')
			status=ok
		else
			secs=FAILED fps=FAILED mbs=FAILED status=FAILED
			any_failed=1
		fi
		SECS[$tool]="${SECS[$tool]:-} $secs"
		RSS_S[$tool]="${RSS_S[$tool]:-} $RUN_RSS_S"
		RSS_R[$tool]="${RSS_R[$tool]:-} $RUN_RSS_R"
		echo "RESULT tool=$tool round=$round files=$FILES bytes=$TOTAL_BYTES secs=${RUN_SECS:-NA} files_s=$fps mb_s=$mbs send_rss_mib=$RUN_RSS_S recv_rss_mib=$RUN_RSS_R status=$status"
	done
done

# ---------------------------------------------------------------- table
declare -A MED
echo
printf '%-19s %8s %9s %8s  %-24s %9s %9s\n' tool "median s" "files/s" "MB/s" "rounds s" "send RSS" "recv RSS"
printf '%-19s %8s %9s %8s  %-24s %9s %9s\n' ------------------- -------- --------- -------- ------------------------ --------- ---------
for tool in "${TOOL_LIST[@]}"; do
	read -r -a vals <<<"${SECS[$tool]}"
	read -r -a rs <<<"${RSS_S[$tool]}"
	read -r -a rr <<<"${RSS_R[$tool]}"
	nums=()
	for v in "${vals[@]}"; do
		[[ $v == FAILED ]] || nums+=("$v")
	done
	if ((${#nums[@]} == 0)); then
		med=FAILED fps=- mbs=-
	else
		med=$(median 3 "${nums[@]}")
		MED[$tool]=$med
		read -r fps mbs < <(awk -v f="$FILES" -v b="$TOTAL_BYTES" -v s="$med" 'BEGIN { printf "%.0f %.2f\n", f / s, b / 1e6 / s }')
		((${#nums[@]} == ${#vals[@]})) || med="$med*"
	fi
	printf '%-19s %8s %9s %8s  %-24s %9s %9s\n' "$(tool_label "$tool")" "$med" "$fps" "$mbs" "${vals[*]}" \
		"$(maxnum n/a "${rs[@]}")" "$(maxnum n/a "${rr[@]}")"
done
echo
echo "Time runs from just before the sender starts until sender and receiver have exited (and, for"
echo "tar+sync, 'sync -f DIR' returned); files/s and MB/s are taken at the median. ferry makes every"
echo "file and directory durable before it exits; tar | nc does not sync at all. RSS: max over rounds,"
echo "in MiB; for tar it is the largest single process of each side's pipeline (nc, tar or bash)."
if [[ " ${TOOL_LIST[*]} " == *" floor"* ]]; then
	echo "SPEC floor: tar c | nc into nc -l | bench/specfloor.c, which writes each file under a temporary"
	echo "name, then syncs, renames and syncs again: SPEC's promise with no checksum, encryption or acks;"
	echo "pipelined, a second thread does that 1,000 files at a time while more arrive."
fi

# ---------------------------------------------------------------- verdict
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
if [[ -n ${MED[ferry]:-} && -n ${MED[tar]:-} ]]; then
	line="verdict: ferry -z none ${MED[ferry]} s vs tar | nc ${MED[tar]} s (medians, $FILES files): ferry takes $(ratio "${MED[ferry]}" "${MED[tar]}")x tar's time"
	if [[ -n ${MED[tar+sync]:-} ]]; then
		line+="; $(ratio "${MED[ferry]}" "${MED[tar+sync]}")x against tar | nc + sync -f (${MED[tar+sync]} s)"
	fi
	for f in floor floor-p; do
		if [[ -n ${MED[$f]:-} ]]; then
			line+="; $(ratio "${MED[ferry]}" "${MED[$f]}")x against $(tool_label "$f") (${MED[$f]} s), which takes $(ratio "${MED[$f]}" "${MED[tar]}")x tar's time"
		fi
	done
	echo "$line"
else
	echo "verdict: n/a (needs successful 'ferry' and 'tar' rounds; TOOLS=${TOOL_LIST[*]})"
fi
if ((any_failed)); then
	echo "* some rounds FAILED (details on stderr); medians are over the rounds that succeeded."
	exit 1
fi
