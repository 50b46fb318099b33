#!/usr/bin/env bash
# bench/links.sh - ferry over shaped links between two network namespaces.
#
# Makes a sender and a receiver namespace and joins them, case by case, with
# a link of a given rate and delay: a veth pair shaped with tc tbf for the
# undelayed links, bench/delayline (TUN devices and a userspace delay line,
# as this kernel has no netem) for the delayed ones. On each link it sends
# random bytes and generated logs with ferry's compression modes, with
# zstd -1 | nc and with plain nc, the tools taking turns round by round, and
# receives into a byte count (nothing touches the disk). See the "Shaped
# links" section of bench/README.md.
#
# Environment:
#   FERRY=/path/ferry   use this binary instead of building one
#   ROUNDS=3            rounds per case and tool
#   QUICK=0             1 = small files, a smoke test of a minute or two
#   CASES=...           only these cases (names as in the RESULT lines)
#   DELAYLINE=...       use this delayline binary instead of building one
#   READY_TIMEOUT=10    seconds to wait for a receiver to be ready
# Needs root (namespaces, tc, TUN). RESULT lines and a table go to stdout,
# progress to stderr.
set -euo pipefail
export LC_ALL=C # decimal point in EPOCHREALTIME / awk

ROUNDS=${ROUNDS:-3}
QUICK=${QUICK:-0}
CASES=${CASES:-}
READY_TIMEOUT=${READY_TIMEOUT:-10}
BENCH_CODE=BENCH-C0DE-1
RUN_TIMEOUT=60 # set per case

# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"

for v in ROUNDS READY_TIMEOUT; do
	[[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer (got '${!v}')"
done
[[ $QUICK == 0 || $QUICK == 1 ]] || die "QUICK must be 0 or 1 (got '$QUICK')"

# The cases: name, link (veth = tbf on a veth pair; delay = the delay line),
# rate in Mbit/s (0: as fast as the delay line forwards), one-way delay in
# ms, receive window cap (0: none), random loss on the delay line in
# percent of packets each way (0: none), data, MiB at full size, MiB
# under QUICK, and the tools. Sizes make one transfer take about 5-10 s at
# the link rate.
TOOLS_C="nc zstd-nc ferry-auto ferry-none ferry-s2 ferry-zstd"
TOOLS_P="nc ferry-auto ferry-p2 ferry-p4"
CASE_TABLE="
1gbit-random            veth  1000 0  0    0   random 512 16 C
1gbit-text              veth  1000 0  0    0   text   512 16 C
100mbit-random          veth  100  0  0    0   random 96  4  C
100mbit-text            veth  100  0  0    0   text   96  4  C
20mbit50ms-random       delay 20   25 0    0   random 24  1  C
20mbit50ms-text         delay 20   25 0    0   text   24  1  C
100mbit50ms-random      delay 100  25 0    0   random 96  4  P
100mbit100ms-random     delay 100  50 0    0   random 96  4  P
200mbit50ms-random      delay 200  25 0    0   random 160 8  P
100ms-window-random     delay 100  50 1024 0   random 48  2  P
100ms-loss0.1pct-random delay 100  50 0    0.1 random 96  2  P
100ms-loss1pct-random   delay 100  50 0    1   random 48  2  P
delayline-random        delay 0    0  0    0   random 256 8  nc
"

# ---------------------------------------------------------------- prerequisites
missing=()
(($(id -u) == 0)) || missing+=("root: network namespaces, tc and TUN devices need it (sudo bash bench/links.sh)")
netcat=$(netcat_missing)
[[ -z $netcat ]] || missing+=("$netcat")
[[ -x /usr/bin/time ]] || missing+=("/usr/bin/time: apt-get install -y time")
for c in ip tc ss; do
	command -v "$c" >/dev/null 2>&1 || missing+=("$c: apt-get install -y iproute2")
done
command -v zstd >/dev/null 2>&1 || missing+=("zstd: apt-get install -y zstd")
for c in timeout awk wc head stat; do
	command -v "$c" >/dev/null 2>&1 || missing+=("$c: apt-get install -y coreutils gawk")
done
[[ -c /dev/net/tun ]] || missing+=("/dev/net/tun: modprobe tun")
report_missing "${missing[@]}"

make_work links
NS_S=ferry-send-$$
NS_R=ferry-recv-$$
ADDR_S=10.77.0.1
ADDR_R=10.77.0.2
DL_PID=
DL_ERR=$WORK/delayline.err

links_cleanup() {
	stop_delayline
	ip netns del "$NS_S" 2>/dev/null || true
	ip netns del "$NS_R" 2>/dev/null || true
	cleanup
}
trap links_cleanup EXIT

# port_listening, in the receiver's namespace: lib.sh's wait_ready calls it.
port_listening() {
	[[ -n $(ip netns exec "$NS_R" ss -Hltn "( sport = :$1 )" 2>/dev/null) ]]
}

# ---------------------------------------------------------------- binaries
FERRY_BIN='' DL_BIN=''
ferry_binary
go_binary DL_BIN DELAYLINE ./bench/delayline delayline
HAVE_P=0
"$FERRY_BIN" send -h 2>&1 | grep -Eq '^[[:space:]]*-P[ ,]' && HAVE_P=1

# ---------------------------------------------------------------- cases
declare -A C_LINK C_MBIT C_DELAY C_WIN C_LOSS C_DATA C_MIB C_TOOLS
CASE_LIST=()
while read -r name link mbit delay win loss data full quick tools; do
	[[ -n $name ]] || continue
	if [[ -n $CASES ]] && [[ " ${CASES//,/ } " != *" $name "* ]]; then
		continue
	fi
	CASE_LIST+=("$name")
	C_LINK[$name]=$link C_MBIT[$name]=$mbit C_DELAY[$name]=$delay C_WIN[$name]=$win C_LOSS[$name]=$loss C_DATA[$name]=$data
	if ((QUICK)); then C_MIB[$name]=$quick; else C_MIB[$name]=$full; fi
	case $tools in
	C) C_TOOLS[$name]=$TOOLS_C ;;
	P) C_TOOLS[$name]=$TOOLS_P ;;
	*) C_TOOLS[$name]=$tools ;;
	esac
done <<<"$CASE_TABLE"
((${#CASE_LIST[@]} > 0)) || die "CASES='$CASES' names no case (see CASE_TABLE in $0)"

# ---------------------------------------------------------------- input files
# Random bytes, and generated logs: web access lines and application lines
# from a seeded generator, so every run sends the same text. One file of
# each kind at the largest size wanted; smaller ones are its first bytes.
mkdir -p "$WORK/src"
declare -A MAXMIB
for c in "${CASE_LIST[@]}"; do
	d=${C_DATA[$c]}
	((${MAXMIB[$d]:-0} >= ${C_MIB[$c]})) || MAXMIB[$d]=${C_MIB[$c]}
done
gen_text() {
	awk 'BEGIN {
	srand(18)
	split("GET GET GET GET POST GET HEAD PUT GET DELETE", M, " ")
	split("/ /index.html /api/v1/items /api/v1/items/ /api/v1/users/ /static/app.js /static/style.css /images/logo.png /login /search?q= /feed.xml /healthz", P, " ")
	split("200 200 200 200 200 200 304 301 404 500 200 206", S, " ")
	split("Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0|Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36|curl/7.88.1|Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1|Go-http-client/1.1|Prometheus/2.45.0", U, "|")
	split("INFO INFO INFO INFO DEBUG WARN ERROR", L, " ")
	split("request served|cache miss, fetching upstream|connection reset by peer|slow query detected|user session refreshed|retrying after timeout|queue depth above threshold", E, "|")
	for (t = 0; ; ) {
		t += int(rand() * 3)
		s = t % 60; m = int(t / 60) % 60; h = int(t / 3600) % 24; d = 1 + int(t / 86400) % 28
		if (rand() < 0.8) {
			p = P[1 + int(rand() * 12)]
			if (p ~ /.\/$|=$/) p = p int(rand() * 100000)
			printf "%d.%d.%d.%d - - [%02d/Jun/2024:%02d:%02d:%02d +0000] \"%s %s HTTP/1.1\" %s %d \"-\" \"%s\"\n", 10 + int(rand() * 200), int(rand() * 256), int(rand() * 256), 1 + int(rand() * 254), d, h, m, s, M[1 + int(rand() * 10)], p, S[1 + int(rand() * 12)], int(rand() * rand() * 200000), U[1 + int(rand() * 6)]
		} else {
			printf "2024-06-%02dT%02d:%02d:%02d.%03dZ %-5s worker-%d req=%08x %s latency_ms=%d\n", d, h, m, s, int(rand() * 1000), L[1 + int(rand() * 7)], int(rand() * 16), int(rand() * 4294967295), E[1 + int(rand() * 7)], int(rand() * rand() * 2000)
		}
	}
}' 2>/dev/null || true
}
declare -A SRC
TEXT_RATIO=
for d in "${!MAXMIB[@]}"; do
	full=$WORK/src/$d.${MAXMIB[$d]}
	log "making ${MAXMIB[$d]} MiB of $d input"
	if [[ $d == random ]]; then
		head -c "$((MAXMIB[$d] << 20))" /dev/urandom >"$full"
	else
		gen_text | head -c "$((MAXMIB[$d] << 20))" >"$full"
		TEXT_RATIO=$(zstd -1 -q -c "$full" | wc -c | awk -v n="$((MAXMIB[$d] << 20))" '{ printf "%.2f", n / $1 }')
	fi
	[[ $(stat -c %s "$full") == "$((MAXMIB[$d] << 20))" ]] || die "$d input came out short"
	SRC[$d.${MAXMIB[$d]}]=$full
done
for c in "${CASE_LIST[@]}"; do
	key=${C_DATA[$c]}.${C_MIB[$c]}
	[[ -n ${SRC[$key]:-} ]] && continue
	SRC[$key]=$WORK/src/$key
	head -c "$((C_MIB[$c] << 20))" "$WORK/src/${C_DATA[$c]}.${MAXMIB[${C_DATA[$c]}]}" >"${SRC[$key]}"
done

# ---------------------------------------------------------------- links
ip netns add "$NS_S"
ip netns add "$NS_R"
for ns in "$NS_S" "$NS_R"; do
	ip -n "$ns" link set lo up
done

# set_buffers WINDOW_KIB: socket buffer limits of both namespaces. TCP's
# autotuning may grow a buffer to 32 MiB, above a 1 Gbit x 100 ms path's
# 12.5 MB, so only a case that caps the receive buffer is window-limited.
# A cap of W KiB on the receiver's tcp_rmem caps the window it advertises
# (at about half to two thirds of W, the rest being kernel overhead), as
# a receiver with small buffers or an old stack does: one stream then
# moves at most a window per round trip, whatever the link's rate.
set_buffers() {
	local rmax=$((32 << 20)) ns
	for ns in "$NS_S" "$NS_R"; do
		ip netns exec "$ns" sh -c "echo '4096 131072 $rmax' >/proc/sys/net/ipv4/tcp_rmem; echo '4096 16384 $rmax' >/proc/sys/net/ipv4/tcp_wmem"
	done
	if (($1 > 0)); then
		ip netns exec "$NS_R" sh -c "echo '4096 65536 $(($1 << 10))' >/proc/sys/net/ipv4/tcp_rmem"
	fi
}

# link_veth MBIT: a veth pair with tbf at MBIT on each side's egress. The
# burst is 2 ms at the rate but at least 80 KB, above the 64 KiB a GSO
# packet on veth can be, so tbf does not split every packet; the limit lets
# 20 ms of traffic queue on top of the burst, a modest router buffer.
link_veth() {
	local mbit=$1 ns burst limit
	burst=$((mbit * 1000000 / 8 / 500))
	((burst >= 80000)) || burst=80000
	limit=$((mbit * 1000000 / 8 / 50 + burst))
	ip -n "$NS_S" link add veth0 type veth peer name veth0 netns "$NS_R"
	ip -n "$NS_S" addr add "$ADDR_S/24" dev veth0
	ip -n "$NS_R" addr add "$ADDR_R/24" dev veth0
	for ns in "$NS_S" "$NS_R"; do
		ip -n "$ns" link set veth0 up
		tc -n "$ns" qdisc add dev veth0 root tbf rate "${mbit}mbit" burst "$burst" limit "$limit"
	done
	LINK_NOTE="veth, tbf rate ${mbit}mbit burst $burst limit $limit each way"
}

# link_delay MBIT DELAY_MS LOSS_PCT: the delay line with DELAY_MS each way,
# LOSS_PCT percent of packets lost at random each way and, with MBIT > 0,
# that rate and its default queue of one bandwidth-delay product
# (the classic rule of thumb, which lets one TCP flow keep the link busy
# through a loss). The delay line is the wire, so it runs at a real-time
# priority where chrt is found: at the default one the tools under test
# and other load on two cores delayed its wake-ups by several ms (ping
# RTT through a 50 ms line averaged 55-63 ms; with chrt -f 10, 50.6-51.2).
link_delay() {
	local mbit=$1 delay=$2 loss_pct=$3 i
	local -a rt=()
	local loss
	loss=$(awk -v p="$loss_pct" 'BEGIN { printf "%g", p / 100 }')
	command -v chrt >/dev/null 2>&1 && rt=(chrt -f 10)
	: >"$DL_ERR"
	"${rt[@]}" "$DL_BIN" -delay "${delay}ms" -mbit "$mbit" -loss "$loss" "$NS_S:dl0" "$NS_R:dl0" >"$WORK/delayline.out" 2>"$DL_ERR" &
	DL_PID=$!
	# A guard against a hang, not a wait: once in a whole bench run
	# (2026-12-07, after 1.2 GB through the previous case's line)
	# the delay line took over 10 s to open its devices.
	local wait_s=$((READY_TIMEOUT > 60 ? READY_TIMEOUT : 60))
	for ((i = 0; i < wait_s * 20; i++)); do
		grep -qx ready "$WORK/delayline.out" 2>/dev/null && break
		kill -0 "$DL_PID" 2>/dev/null || die "delayline exited: $(cat "$DL_ERR")"
		sleep 0.05
	done
	grep -qx ready "$WORK/delayline.out" || die "delayline not ready within ${wait_s}s"
	ip -n "$NS_S" addr add "$ADDR_S/24" dev dl0
	ip -n "$NS_R" addr add "$ADDR_R/24" dev dl0
	ip -n "$NS_S" link set dl0 up
	ip -n "$NS_R" link set dl0 up
	if ((mbit > 0)); then
		LINK_NOTE="delay line, ${delay} ms each way, ${mbit} Mbit/s, queue of one BDP"
	else
		LINK_NOTE="delay line, ${delay} ms each way, no rate limit"
	fi
	[[ $loss_pct == 0 ]] || LINK_NOTE+=", ${loss_pct}% of packets lost at random each way"
}

# stop_delayline: ends the delay line, whose TUN devices go with it, and
# keeps its last words (packets forwarded and dropped, CPU) in DL_STATS.
stop_delayline() {
	DL_STATS=
	[[ -n $DL_PID ]] || return 0
	kill "$DL_PID" 2>/dev/null || true
	wait "$DL_PID" 2>/dev/null || true
	DL_PID=
	DL_STATS=$(cat "$DL_ERR" 2>/dev/null || true)
}

link_down() {
	ip -n "$NS_S" link del veth0 2>/dev/null || true
	stop_delayline
}

# ping_rtt: min/avg/max RTT from the sender to the receiver, or n/a
# without ping.
ping_rtt() {
	command -v ping >/dev/null 2>&1 || {
		echo n/a
		return
	}
	ip netns exec "$NS_S" ping -q -c 5 -i 0.1 "$ADDR_R" 2>/dev/null |
		awk -F' = ' '/^rtt/ { split($2, v, "/"); printf "%s/%s/%s ms", v[1], v[2], v[3] }' || true
}

# ---------------------------------------------------------------- one run

# tool_cmds TOOL FILE: sets RCMD and SCMD, the receiver's and the sender's
# command lines, and RKIND, how to tell the receiver is ready.
# shellcheck disable=SC2016 # expanded by the inner shell, from its arguments
tool_cmds() {
	local tool=$1 file=$2
	local -a fm=(--code "$BENCH_CODE")
	case $tool in
	nc)
		RKIND=nc
		RCMD=(nc -l "$ADDR_R" "$PORT")
		SCMD=(sh -c 'exec nc -N "$1" "$2" <"$3"' _ "$ADDR_R" "$PORT" "$file")
		;;
	zstd-nc)
		RKIND=nc
		RCMD=(bash -c 'set -o pipefail; nc -l "$1" "$2" | zstd -d -q -c' _ "$ADDR_R" "$PORT")
		SCMD=(bash -c 'set -o pipefail; zstd -1 -q -c "$3" | nc -N "$1" "$2"' _ "$ADDR_R" "$PORT" "$file")
		;;
	ferry-*)
		RKIND=ferry
		RCMD=("$FERRY_BIN" recv --json "${fm[@]}" -l "$ADDR_R:$PORT" -)
		case $tool in
		ferry-p*) SCMD=("$FERRY_BIN" send -q "${fm[@]}" -z auto -P "${tool#ferry-p}" "$ADDR_R:$PORT" "$file") ;;
		*) SCMD=("$FERRY_BIN" send -q "${fm[@]}" -z "${tool#ferry-}" "$ADDR_R:$PORT" "$file") ;;
		esac
		;;
	esac
}

# time_fields FILE: "CPU_S RSS_MIB" from a /usr/bin/time -f '%e %U %S %M'
# output, whose last line holds the figures; "? ?" if it has none.
time_fields() {
	tail -n 1 "$1" 2>/dev/null | awk 'NF == 4 && $4 ~ /^[0-9]+$/ { printf "%.2f %.1f", $2 + $3, $4 / 1024; ok = 1 } END { if (!ok) print "? ?" }'
}

# run_one CASE TOOL ROUND: one timed transfer. Sets RUN_OK, RUN_SECS,
# RUN_NOTE and the four figures of the sides.
run_one() {
	local c=$1 tool=$2 round=$3
	local d=$WORK/run.$c.$tool.$round file=${SRC[${C_DATA[$1]}.${C_MIB[$1]}]}
	local bytes=$((C_MIB[$1] << 20))
	mkdir -p "$d"
	RUN_OK=0 RUN_SECS='' RUN_NOTE='' RUN_CPU_S='?' RUN_CPU_R='?' RUN_RSS_S='?' RUN_RSS_R='?'
	pick_port
	tool_cmds "$tool" "$file"

	# The receiver's output is counted, not kept: /usr/bin/time measures
	# the tool alone, and wc -c runs beside it.
	# shellcheck disable=SC2016 # expanded by the inner bash
	timeout -k 5 "$RUN_TIMEOUT" ip netns exec "$NS_R" bash -c \
		'set -o pipefail; /usr/bin/time -f "%e %U %S %M" -o "$1" "${@:3}" 2>"$2" </dev/null | wc -c >"$1.count"' \
		_ "$d/recv.time" "$d/recv.err" "${RCMD[@]}" &
	local rpid=$!
	ACTIVE_PIDS+=("$rpid")
	if ! wait_ready "$RKIND" "$rpid" "$d/recv.err"; then
		kill "$rpid" 2>/dev/null || true
		wait "$rpid" 2>/dev/null || true
		run_failed "$d"
		return 0
	fi

	local sst=0 rst=0 t0 t1
	t0=$(now)
	timeout -k 5 "$RUN_TIMEOUT" ip netns exec "$NS_S" /usr/bin/time -f '%e %U %S %M' -o "$d/send.time" \
		"${SCMD[@]}" </dev/null >"$d/send.out" 2>"$d/send.err" || sst=$?
	((sst == 0)) || stop_receiver "$rpid"
	wait "$rpid" || rst=$?
	t1=$(now)
	ACTIVE_PIDS=()

	read -r RUN_CPU_S RUN_RSS_S <<<"$(time_fields "$d/send.time")"
	read -r RUN_CPU_R RUN_RSS_R <<<"$(time_fields "$d/recv.time")"
	RUN_SECS=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
	if ((sst != 0)); then
		RUN_NOTE=$(exit_note sender "$sst")
	elif ((rst != 0)); then
		RUN_NOTE=$(exit_note receiver "$rst")
	else
		local got
		got=$(tr -d ' ' <"$d/recv.time.count" 2>/dev/null || echo none)
		[[ $got == "$bytes" ]] || RUN_NOTE="receiver wrote $got bytes, want $bytes"
	fi
	if [[ -n $RUN_NOTE ]]; then
		run_failed "$d"
		return 0
	fi
	RUN_OK=1
	rm -rf "$d"
}

run_failed() { # run_failed DIR
	log "  FAILED: $RUN_NOTE"
	log "    receiver: ${RCMD[*]}"
	log "    sender:   ${SCMD[*]}"
	show_logs "$1"
	rm -rf "$1"
}

# ---------------------------------------------------------------- header
print_host "ferry over shaped links" | sed 's/ (loopback 127.0.0.1)$/ (two network namespaces)/'
echo "  ferry:    $FERRY_BIN$( ((HAVE_P)) || printf ' (no -P: the ferry-p2 and ferry-p4 rows are skipped)')"
echo "  rounds:   $ROUNDS$( ((QUICK)) && printf ', QUICK sizes')"
[[ -n $TEXT_RATIO ]] && echo "  text:     generated web and application log lines; zstd -1 ratio $TEXT_RATIO"
echo "  units:    MB/s = 10^6 bytes/s of file data; link = MB/s*8 over the nominal Mbit/s; cpu = user+sys s"
echo

# ---------------------------------------------------------------- main loop
declare -A SECS CPU_S CPU_R RSS_S RSS_R RTT DLSTATS NOTE
any_failed=0
skipped=()
for c in "${CASE_LIST[@]}"; do
	read -r -a tools <<<"${C_TOOLS[$c]}"
	run_tools=()
	for t in "${tools[@]}"; do
		if [[ $t == ferry-p* ]] && ((!HAVE_P)); then
			skipped+=("$c/$t")
			continue
		fi
		run_tools+=("$t")
	done
	mbit=${C_MBIT[$c]}
	mib=${C_MIB[$c]}
	# Four times the transfer's time at the nominal rate (a window-limited
	# case runs at a fraction of it), and a minute for slow starts.
	if ((mbit > 0)); then
		RUN_TIMEOUT=$((60 + mib * 8 * 1049 * 4 / 1000 / mbit))
	else
		RUN_TIMEOUT=$((60 + mib))
	fi
	set_buffers "${C_WIN[$c]}"
	if [[ ${C_LINK[$c]} == veth ]]; then
		link_veth "$mbit"
	else
		link_delay "$mbit" "${C_DELAY[$c]}" "${C_LOSS[$c]}"
	fi
	NOTE[$c]=$LINK_NOTE
	((C_WIN[$c] == 0)) || NOTE[$c]+=", receiver tcp_rmem max ${C_WIN[$c]} KiB"
	NOTE[$c]+=", TCP $(ip netns exec "$NS_S" cat /proc/sys/net/ipv4/tcp_congestion_control)"
	RTT[$c]=$(ping_rtt)
	log "== $c: $LINK_NOTE; ping RTT ${RTT[$c]}; ${mib} MiB of ${C_DATA[$c]}"
	n=${#run_tools[@]}
	for ((round = 1; round <= ROUNDS; round++)); do
		for ((k = 0; k < n; k++)); do
			tool=${run_tools[(round - 1 + k) % n]}
			log "[$c] round $round/$ROUNDS: $tool"
			run_one "$c" "$tool" "$round"
			key="$c|$tool"
			if ((RUN_OK)); then
				secs=$RUN_SECS status=ok
			else
				secs=FAILED status=FAILED any_failed=1
			fi
			SECS[$key]+=" $secs"
			CPU_S[$key]+=" $RUN_CPU_S"
			CPU_R[$key]+=" $RUN_CPU_R"
			RSS_S[$key]+=" $RUN_RSS_S"
			RSS_R[$key]+=" $RUN_RSS_R"
			echo "RESULT section=links case=$c tool=$tool round=$round bytes=$((mib << 20)) secs=$secs send_rss_mib=$RUN_RSS_S recv_rss_mib=$RUN_RSS_R send_cpu_s=$RUN_CPU_S recv_cpu_s=$RUN_CPU_R status=$status"
		done
	done
	link_down
	if [[ -n $DL_STATS ]]; then
		DLSTATS[$c]=$DL_STATS
		log "$DL_STATS"
	fi
done

# ---------------------------------------------------------------- table
# nums V...: the values that are numbers.
nums() {
	local v
	for v in "$@"; do
		[[ $v =~ ^[0-9.]+$ ]] && printf '%s\n' "$v"
	done
	return 0
}
echo
fmt='%-21s %-11s %9s %8s %6s  %-22s %7s %7s %7s %7s\n'
# shellcheck disable=SC2059 # the format is the table's
printf "$fmt" case tool "median s" "MB/s" link "rounds s" "send cpu" "recv cpu" "send MiB" "recv MiB"
for c in "${CASE_LIST[@]}"; do
	read -r -a tools <<<"${C_TOOLS[$c]}"
	for tool in "${tools[@]}"; do
		key="$c|$tool"
		[[ -n ${SECS[$key]:-} ]] || continue
		read -r -a vals <<<"${SECS[$key]}"
		mapfile -t ok < <(nums "${vals[@]}")
		med=$(median 3 "${ok[@]}")
		mbs=- pct=-
		if [[ $med != FAILED ]]; then
			mbs=$(awk -v b="$((C_MIB[$c] << 20))" -v s="$med" 'BEGIN { printf "%.2f", b / 1e6 / s }')
			((C_MBIT[$c] == 0)) || pct=$(awk -v m="$mbs" -v r="${C_MBIT[$c]}" 'BEGIN { printf "%.0f%%", m * 8 / r * 100 }')
			((${#ok[@]} == ${#vals[@]})) || med="$med*"
		fi
		read -r -a cs <<<"${CPU_S[$key]}"
		read -r -a cr <<<"${CPU_R[$key]}"
		read -r -a rs <<<"${RSS_S[$key]}"
		read -r -a rr <<<"${RSS_R[$key]}"
		mapfile -t csn < <(nums "${cs[@]}")
		mapfile -t crn < <(nums "${cr[@]}")
		# shellcheck disable=SC2059
		printf "$fmt" "$c" "$tool" "$med" "$mbs" "$pct" "${vals[*]}" \
			"$(median 2 "${csn[@]}")" "$(median 2 "${crn[@]}")" "$(maxnum "?" "${rs[@]}")" "$(maxnum "?" "${rr[@]}")"
	done
done
echo
echo "links:"
for c in "${CASE_LIST[@]}"; do
	echo "  $c: ${NOTE[$c]}; ping RTT ${RTT[$c]}"
	if [[ -n ${DLSTATS[$c]:-} ]]; then
		printf '%s\n' "${DLSTATS[$c]}" | sed 's/^/    /'
	fi
done
echo
echo "Time runs from just before the sender starts until both sides have exited; the receiver"
echo "writes to a byte count, checked against the file's size. cpu: median user+sys seconds of"
echo "each side's tool (for zstd-nc, its pipeline); MiB: peak RSS, max over rounds. link: share"
echo "of the nominal rate (above 100% when compression sends fewer bytes than the file holds)."
if ((${#skipped[@]})); then
	echo "skipped, ferry send has no -P: ${skipped[*]}"
fi
if ((any_failed)); then
	echo "* some rounds FAILED (details on stderr); median is over the rounds that succeeded."
	exit 1
fi
