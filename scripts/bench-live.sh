#!/usr/bin/env bash
# Live-mode benchmarks of issue 6 (Performance), recorded in docs/BENCHMARKS.md:
#
#   1. load generator vs wrk and hey: closed loop, one thread (hey: one
#      CPU, GOMAXPROCS=1) each, same connections, against the release
#      fixture server (shakedown-testsvc, `good`) on 127.0.0.1; req/s,
#      alternating runs. Run i is a pair (wrk and the generator back to
#      back, which goes first alternating with i, then hey): besides the
#      ratio of the medians the table gives the median and range of the
#      per-pair ratios, in which the machine's drift between pairs cancels;
#   2. router overhead: open model at a fixed rate, direct vs through the
#      router, latency quantiles from the intended send time;
#   3. wall time of live test 1 (`rolling_good_loses_no_request`) with the
#      fixture image cached, and (with --uncached) without it;
#   4. (with --accuracy-rps N) open-model rate accuracy: the generator alone
#      at N rps direct to the server: requests handed to a connection per
#      second of the schedule vs the intended rate, and the generator's own
#      lateness (intended send time to hand-over), quantiles.
#
# Usage: scripts/bench-live.sh [--runs N] [--connections "64 16"]
#          [--closed-duration 10] [--open-duration 20] [--rps 5000]
#          [--quiet-below PCT] [--pin] [--no-wrk] [--no-hey] [--no-router] [--no-test1]
#          [--uncached] [--accuracy-rps N] [--accuracy-duration 10]
#          [--accuracy-runtime multi2|multi1|current]
#
#   --quiet-below PCT  before every measured run, wait (at most 10 min) until
#                the whole machine was at most PCT % busy over 1 s (the
#                machine is shared; default 0 = do not wait). The busy share
#                seen just before each run is logged.
#   --pin        pin the fixture server to CPU 1 and the client (wrk or the
#                generator) to CPU 0 (default: no pinning, the scheduler
#                shares both cores between them)
#   --accuracy-rps N  run part 4 at N rps (64 connections, default runtime:
#                2 workers; pinned to CPU 0 with --pin), RUNS runs
#   --accuracy-runtime RT  the bench's runtime for part 4 (default multi2,
#                as in live mode; `current` is one thread, like wrk -t1)
#   --uncached   also time test 1 cold. DESTRUCTIVE for the shared image
#                cache: removes every shakedown-testsvc:* image (not in use),
#                then (a) times the test with the static binary warm, and
#                (b) times it with a fresh static target dir too (a copy of
#                the working tree in a temp dir, SHAKEDOWN_WORKSPACE_ROOT).
#
# Builds into $CARGO_TARGET_DIR (default target/).
# Installs wrk and hey from Debian if they are missing. Everything runs on loopback;
# every load is bounded in time (and the generator also in count). The
# server and any temp dir are removed on exit, whatever happens.
set -euo pipefail

RUNS=3
CONNS="64"
CLOSED_S=10
OPEN_S=20
RPS=5000
PIN=0
DO_WRK=1
DO_HEY=1
DO_ROUTER=1
DO_TEST1=1
UNCACHED=0
QUIET=0
ACC_RPS=0
ACC_S=10
ACC_RT=multi2
while [ $# -gt 0 ]; do
    case "$1" in
    --runs) RUNS="$2"; shift 2 ;;
    --connections) CONNS="$2"; shift 2 ;;
    --closed-duration) CLOSED_S="$2"; shift 2 ;;
    --open-duration) OPEN_S="$2"; shift 2 ;;
    --rps) RPS="$2"; shift 2 ;;
    --quiet-below) QUIET="$2"; shift 2 ;;
    --pin) PIN=1; shift ;;
    --no-wrk) DO_WRK=0; shift ;;
    --no-hey) DO_HEY=0; shift ;;
    --no-router) DO_ROUTER=0; shift ;;
    --no-test1) DO_TEST1=0; shift ;;
    --uncached) UNCACHED=1; shift ;;
    --accuracy-rps) ACC_RPS="$2"; shift 2 ;;
    --accuracy-duration) ACC_S="$2"; shift 2 ;;
    --accuracy-runtime) ACC_RT="$2"; shift 2 ;;
    -h | --help) sed -n '2,49p' "$0"; exit 0 ;;
    *) echo "bench-live: unknown argument $1" >&2; exit 2 ;;
    esac
done

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
WORK="$(mktemp -d /tmp/bench-live.XXXXXX)"
SVC_PID=""
COLD_ROOT=""
cleanup() {
    if [ -n "$SVC_PID" ] && kill -0 "$SVC_PID" 2>/dev/null; then
        kill "$SVC_PID" 2>/dev/null || true
        wait "$SVC_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
    if [ -n "$COLD_ROOT" ]; then rm -rf "$COLD_ROOT"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { printf '[bench-live %s] %s\n' "$(date +%T)" "$*" >&2; }
median() { sort -g | awk '{a[NR]=$1} END {if (NR==0) print "na"; else if (NR%2) print a[(NR+1)/2]; else printf "%.1f\n", (a[NR/2]+a[NR/2+1])/2}'; }
# pair_ratios A B: per line, column 1 of file A over column 1 of file B
pair_ratios() { paste -d' ' <(cut -d' ' -f1 "$1") <(cut -d' ' -f1 "$2") | awk '{if ($2 > 0) printf "%.3f\n", $1/$2}'; }
# ratio_summary: "median (min–max)" of ratios on stdin, 2 decimals
ratio_summary() { sort -g | awk '{a[NR]=$1} END {if (NR==0) {print "na"; exit}; m=(NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2); printf "%.2f (%.2f–%.2f)\n", m, a[1], a[NR]}'; }
# field NAME LINE: the value of NAME=... in a RESULT line
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<" $2"; }
busy_pct() { # share of both cores busy over the next second (all processes)
    local a b c d e f g h t1 i1 t2 i2
    read -r _ a b c d e f g h _ </proc/stat
    t1=$((a + b + c + d + e + f + g + h)) i1=$((d + e))
    sleep 1
    read -r _ a b c d e f g h _ </proc/stat
    t2=$((a + b + c + d + e + f + g + h)) i2=$((d + e))
    echo $((100 * ((t2 - t1) - (i2 - i1)) / (t2 - t1)))
}
BUSY="-"
wait_quiet() {
    BUSY="$(busy_pct)"
    [ "$QUIET" -gt 0 ] || return 0
    local n
    for n in $(seq 150); do
        [ "$BUSY" -le "$QUIET" ] && return 0
        if [ "$n" = 1 ]; then log "machine ${BUSY}% busy: waiting for <= ${QUIET}%"; fi
        sleep 3
        BUSY="$(busy_pct)"
    done
    log "still ${BUSY}% busy after 10 min: running anyway"
}
CLIENT_PIN=()
SERVER_PIN=()
if [ "$PIN" = 1 ]; then
    CLIENT_PIN=(taskset -c 0)
    SERVER_PIN=(taskset -c 1)
fi

# --- machine ---------------------------------------------------------------
log "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(uname -r)"
log "load: $(uptime)"

# --- wrk -------------------------------------------------------------------
if [ "$DO_WRK" = 1 ] && ! command -v wrk >/dev/null; then
    log "wrk missing: installing the Debian package"
    SUDO=""
    if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
    $SUDO apt-get update
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y wrk
fi
if [ "$DO_WRK" = 1 ]; then log "wrk: $(wrk --version 2>&1 | head -1 | cut -c1-40)"; fi
if [ "$DO_WRK" = 1 ] && [ "$DO_HEY" = 1 ] && ! command -v hey >/dev/null; then
    log "hey missing: installing the Debian package"
    SUDO=""
    if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
    $SUDO apt-get update
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y hey
fi

# --- build -----------------------------------------------------------------
log "building the fixture server (release) and the bench (bench profile)"
cargo build --release -q -p shakedown-fixtures --bin shakedown-testsvc
BENCH_EXE="$(cargo bench -p shakedown-integration --bench live --no-run --message-format=json 2>/dev/null |
    grep -o '"executable":"[^"]*"' | tail -1 | cut -d'"' -f4)"
[ -x "$BENCH_EXE" ] || { echo "bench-live: bench executable not found" >&2; exit 1; }
# Private copies: other work on the machine may rebuild target/ meanwhile.
cp "${CARGO_TARGET_DIR:-target}/release/shakedown-testsvc" "$WORK/testsvc"
cp "$BENCH_EXE" "$WORK/bench"

# --- server ----------------------------------------------------------------
SVC_CPU0=0
svc_cpu() { # user+system seconds of the server so far (utime, stime: fields 14, 15)
    sed 's/^.*) //' "/proc/$SVC_PID/stat" | awk '{printf "%.2f\n", ($12+$13)/100}'
}
start_server() {
    "${SERVER_PIN[@]}" "$WORK/testsvc" --port 0 --bind 127.0.0.1 --backend-id bench \
        --behaviour good --shutdown-grace-ms 1000 2>"$WORK/svc.log" &
    SVC_PID=$!
    for _ in $(seq 100); do
        PORT="$(grep -o 'listening on 127.0.0.1:[0-9]*' "$WORK/svc.log" | sed 's/.*://' || true)"
        [ -n "$PORT" ] && break
        sleep 0.05
    done
    [ -n "$PORT" ] || { cat "$WORK/svc.log" >&2; exit 1; }
    URL="http://127.0.0.1:$PORT/"
    curl -sf "http://127.0.0.1:$PORT/health" >/dev/null
    log "fixture server pid $SVC_PID on $URL"
}
start_server
server_cpu_begin() { SVC_CPU0="$(svc_cpu)"; }
server_cpu_end() { awk -v a="$SVC_CPU0" -v b="$(svc_cpu)" 'BEGIN {printf "%.2f", b-a}'; }
# Other work on the machine during a run: user+system CPU of every process
# (/proc/stat; softirq excluded, since loopback TCP is accounted there and
# belongs to the benchmark) minus the client's and the server's, as a share
# of the machine (nproc cores x wall time).
machine_usersys() { awk '/^cpu / {printf "%.2f\n", ($2 + $3 + $4 + $9) / 100}' /proc/stat; }
M0=0
T0=0
machine_begin() { M0="$(machine_usersys)"; T0="$(date +%s.%N)"; }
others_pct() { # CLIENT_CPU SERVER_CPU
    awk -v a="$M0" -v b="$(machine_usersys)" -v t0="$T0" -v t1="$(date +%s.%N)" \
        -v c="$1" -v s="$2" -v n="$(nproc)" \
        'BEGIN {o = (b - a) - c - s; if (o < 0) o = 0; printf "%.0f", 100 * o / (n * (t1 - t0))}'
}

ROWS=()
row() { ROWS+=("| $1 | $2 | $3 | $4 |"); }
# runs COL FILE: column COL of every run, with the share of the machine
# other work used during the run (the last column) in brackets
runs() { awk -v c="$1" '{printf "%s%s [%s%%]", (NR > 1 ? ", " : ""), $c, $NF}' "$2"; }

# --- 1. generator vs wrk -----------------------------------------------------
# closed_wrk, closed_gen: one closed-loop run at $C connections (run $i),
# appended to $WORK/wrk.$C and $WORK/gen.$C (one line per run, in run order).
closed_wrk() {
    wait_quiet
    log "closed loop, $C connections, run $i/$RUNS: wrk -t1 -c$C -d${CLOSED_S}s | busy before: ${BUSY}%"
    server_cpu_begin
    machine_begin
    out="$( { /usr/bin/time -f 'CPU %U %S' "${CLIENT_PIN[@]}" wrk -t1 -c"$C" -d"${CLOSED_S}s" "$URL"; } 2>&1)"
    rps="$(sed -n 's/^Requests\/sec: *//p' <<<"$out")"
    cpu="$(awk '/^CPU/ {printf "%.2f", $2+$3}' <<<"$out")"
    errs="$(grep -E 'Non-2xx|Socket errors' <<<"$out" | tr '\n' ' ' || true)"
    scpu="$(server_cpu_end)"
    oth="$(others_pct "$cpu" "$scpu")"
    echo "$rps $cpu $scpu $oth" >>"$WORK/wrk.$C"
    log "  wrk: $rps req/s, client CPU ${cpu}s, server CPU ${scpu}s, other work ${oth}% ${errs}"
}
closed_gen() {
    wait_quiet
    log "closed loop, $C connections, run $i/$RUNS: generator, current-thread runtime | busy before: ${BUSY}%"
    server_cpu_begin
    machine_begin
    out="$( { /usr/bin/time -f 'CPU %U %S' "${CLIENT_PIN[@]}" "$WORK/bench" closed "$URL" \
        --connections "$C" --duration "${CLOSED_S}s" --runtime current; } 2>&1)"
    line="$(grep '^RESULT' <<<"$out")"
    rps="$(field rps "$line")"
    cpu="$(awk '/^CPU/ {printf "%.2f", $2+$3}' <<<"$out")"
    scpu="$(server_cpu_end)"
    oth="$(others_pct "$cpu" "$scpu")"
    echo "$rps $cpu $scpu $(field non_ok "$line") $oth" >>"$WORK/gen.$C"
    log "  generator: $rps req/s, client CPU ${cpu}s, server CPU ${scpu}s, other work ${oth}%, non-ok $(field non_ok "$line")"
}
if [ "$DO_WRK" = 1 ]; then
    for C in $CONNS; do
        : >"$WORK/wrk.$C"
        : >"$WORK/gen.$C"
        : >"$WORK/hey.$C"
        for i in $(seq "$RUNS"); do
            # A pair: wrk and the generator back to back, the first of them
            # alternating with i, so drift during a pair does not favour one.
            if [ $((i % 2)) = 1 ]; then closed_wrk; closed_gen; else closed_gen; closed_wrk; fi
            if [ "$DO_HEY" = 1 ]; then
                wait_quiet
                log "closed loop, $C connections, run $i/$RUNS: hey -z ${CLOSED_S}s -c $C -cpus 1 | busy before: ${BUSY}%"
                server_cpu_begin
                machine_begin
                out="$( { GOMAXPROCS=1 /usr/bin/time -f 'CPU %U %S' "${CLIENT_PIN[@]}" hey -z "${CLOSED_S}s" \
                    -c "$C" -cpus 1 "$URL"; } 2>&1)"
                rps="$(sed -n 's/^[[:space:]]*Requests\/sec:[[:space:]]*//p' <<<"$out")"
                cpu="$(awk '/^CPU/ {printf "%.2f", $2+$3}' <<<"$out")"
                scpu="$(server_cpu_end)"
                oth="$(others_pct "$cpu" "$scpu")"
                echo "$rps $cpu $scpu $oth" >>"$WORK/hey.$C"
                log "  hey: $rps req/s, client CPU ${cpu}s, server CPU ${scpu}s, other work ${oth}%"
            fi
        done
        wm="$(cut -d' ' -f1 "$WORK/wrk.$C" | median)"
        gm="$(cut -d' ' -f1 "$WORK/gen.$C" | median)"
        wc="$(cut -d' ' -f2 "$WORK/wrk.$C" | median)"
        gc="$(cut -d' ' -f2 "$WORK/gen.$C" | median)"
        ratio="$(awk -v g="$gm" -v w="$wm" 'BEGIN {printf "%.2f", g/w}')"
        # client CPU µs per request = cpu_s / (rps * duration)
        wus="$(awk -v c="$wc" -v r="$wm" -v d="$CLOSED_S" 'BEGIN {printf "%.1f", c*1e6/(r*d)}')"
        gus="$(awk -v c="$gc" -v r="$gm" -v d="$CLOSED_S" 'BEGIN {printf "%.1f", c*1e6/(r*d)}')"
        row "wrk -t1 -c$C, ${CLOSED_S} s" "$(runs 1 "$WORK/wrk.$C")" "**$wm** req/s" "client CPU ${wc} s (${wus} µs/req)"
        row "generator closed loop, 1 thread, $C conns, ${CLOSED_S} s" "$(runs 1 "$WORK/gen.$C")" "**$gm** req/s" "client CPU ${gc} s (${gus} µs/req)"
        eff="$(awk -v w="$wus" -v g="$gus" 'BEGIN {printf "%.2f", w/g}')"
        row "ratio generator / wrk ($C conns), of the medians" "" "**$ratio**" "target ≥ 1.0; CPU per request wrk / generator: $eff"
        pr="$(pair_ratios "$WORK/gen.$C" "$WORK/wrk.$C")"
        # CPU per request of each run: cpu_s / (rps * duration), wrk over generator
        cr="$(paste -d' ' "$WORK/wrk.$C" "$WORK/gen.$C" | awk -v n="$(head -1 "$WORK/wrk.$C" | wc -w)" \
            '$1 > 0 && $(n + 1) > 0 {w = $2 / $1; g = $(n + 2) / $(n + 1); printf "%.3f\n", w / g}')"
        row "ratio generator / wrk ($C conns), per pair" "$(tr '\n' ' ' <<<"$pr")" "**$(ratio_summary <<<"$pr")**" "median (range) of the $RUNS pairs; CPU per request wrk / generator per pair: $(ratio_summary <<<"$cr")"
        if [ "$DO_HEY" = 1 ]; then
            hm="$(cut -d' ' -f1 "$WORK/hey.$C" | median)"
            hc="$(cut -d' ' -f2 "$WORK/hey.$C" | median)"
            hus="$(awk -v c="$hc" -v r="$hm" -v d="$CLOSED_S" 'BEGIN {printf "%.1f", c*1e6/(r*d)}')"
            row "hey -c $C -cpus 1 (GOMAXPROCS=1), ${CLOSED_S} s" "$(runs 1 "$WORK/hey.$C")" "**$hm** req/s" "client CPU ${hc} s (${hus} µs/req)"
            row "ratio generator / hey ($C conns)" "" "**$(awk -v g="$gm" -v h="$hm" 'BEGIN {printf "%.2f", g/h}')**" "per run: $(pair_ratios "$WORK/gen.$C" "$WORK/hey.$C" | ratio_summary)"
        fi
    done
fi

# --- 2. router overhead ------------------------------------------------------
if [ "$DO_ROUTER" = 1 ]; then
    : >"$WORK/direct"
    : >"$WORK/router"
    for i in $(seq "$RUNS"); do
        for target in direct router; do
            flag=()
            if [ "$target" = router ]; then flag=(--via-router); fi
            wait_quiet
            log "open model $RPS rps, ${OPEN_S} s, $target, run $i/$RUNS | busy before: ${BUSY}%"
            server_cpu_begin
            machine_begin
            out="$( { /usr/bin/time -f 'CPU %U %S' "${CLIENT_PIN[@]}" "$WORK/bench" open "$URL" \
                --rps "$RPS" --duration "${OPEN_S}s" --connections 64 "${flag[@]}"; } 2>&1)"
            line="$(grep '^RESULT' <<<"$out")"
            cpu="$(awk '/^CPU/ {printf "%.2f", $2+$3}' <<<"$out")"
            scpu="$(server_cpu_end)"
            oth="$(others_pct "$cpu" "$scpu")"
            echo "$(field p50_us "$line") $(field p90_us "$line") $(field p99_us "$line") $(field non_ok "$line") $(field achieved_rps "$line") $oth" >>"$WORK/$target"
            log "  p50 $(field p50_us "$line") µs, p90 $(field p90_us "$line") µs, p99 $(field p99_us "$line") µs, p99.9 $(field p999_us "$line") µs, non-ok $(field non_ok "$line"), client CPU ${cpu}s (router included), server CPU ${scpu}s, other work ${oth}%"
        done
    done
    for q in 1 2 3; do
        name=(x p50 p90 p99)
        d="$(cut -d' ' -f$q "$WORK/direct" | median)"
        r="$(cut -d' ' -f$q "$WORK/router" | median)"
        row "${name[$q]} latency at $RPS rps, direct" "$(runs "$q" "$WORK/direct") µs" "**$d µs**" ""
        row "${name[$q]} latency at $RPS rps, via router" "$(runs "$q" "$WORK/router") µs" "**$r µs**" "added: $(awk -v r="$r" -v d="$d" 'BEGIN {printf "%+.0f µs", r-d}')"
    done
fi

# --- 4. open-model rate accuracy ---------------------------------------------
if [ "$ACC_RPS" != 0 ]; then
    : >"$WORK/acc"
    for i in $(seq "$RUNS"); do
        wait_quiet
        log "open model $ACC_RPS rps, ${ACC_S} s, direct, runtime $ACC_RT, accuracy run $i/$RUNS | busy before: ${BUSY}%"
        server_cpu_begin
        machine_begin
        out="$( { /usr/bin/time -f 'CPU %U %S' "${CLIENT_PIN[@]}" "$WORK/bench" open "$URL" \
            --rps "$ACC_RPS" --duration "${ACC_S}s" --connections 64 --runtime "$ACC_RT"; } 2>&1)"
        line="$(grep '^RESULT' <<<"$out")"
        cpu="$(awk '/^CPU/ {printf "%.2f", $2+$3}' <<<"$out")"
        scpu="$(server_cpu_end)"
        oth="$(others_pct "$cpu" "$scpu")"
        # dispatched per second of the schedule's window: the rate achieved
        disp="$(awk -v d="$(field dispatched "$line")" -v w="$(field window_s "$line")" 'BEGIN {printf "%.1f", (w > 0 ? d / w : 0)}')"
        echo "$disp $(field offered_rps "$line") $(field achieved_rps "$line") $(field lag_p50_us "$line") $(field lag_p99_us "$line") $(field lag_p999_us "$line") $(field lag_max_us "$line") $(field p50_us "$line") $(field p99_us "$line") $(field non_ok "$line") $cpu $(field dispatched_sec_min "$line") $(field dispatched_sec_max "$line") $(awk -v c="$cpu" -v d="$(field dispatched "$line")" 'BEGIN {printf "%.2f", (d > 0 ? c * 1e6 / d : 0)}') $oth" >>"$WORK/acc"
        log "  dispatched ${disp}/s of $(field offered_rps "$line") intended (whole seconds: $(field dispatched_sec_min "$line")–$(field dispatched_sec_max "$line")), responses $(field achieved_rps "$line")/s; lateness p50 $(field lag_p50_us "$line") µs, p99 $(field lag_p99_us "$line") µs, p99.9 $(field lag_p999_us "$line") µs, max $(field lag_max_us "$line") µs; latency p50 $(field p50_us "$line") µs, p99 $(field p99_us "$line") µs; non-ok $(field non_ok "$line"); client CPU ${cpu}s ($(tail -1 "$WORK/acc" | cut -d' ' -f14) µs per dispatched request), server CPU ${scpu}s, other work ${oth}%"
    done
    names=(x "dispatched req/s" "intended req/s" "responses/s" "lateness p50" "lateness p99" "lateness p99.9" "lateness max" "latency p50" "latency p99" "non-ok" "client CPU s" "fewest dispatched in a second" "most dispatched in a second" "client CPU per dispatched request")
    units=(x "" "" "" " µs" " µs" " µs" " µs" " µs" " µs" "" "" "" "" " µs")
    for q in 1 2 3 4 5 6 7 8 9 10 11 12 13 14; do
        row "${names[$q]} at $ACC_RPS rps, direct, runtime $ACC_RT, ${ACC_S} s" "$(runs "$q" "$WORK/acc")${units[$q]}" "**$(cut -d' ' -f$q "$WORK/acc" | median)${units[$q]}**" ""
    done
fi

kill "$SVC_PID" 2>/dev/null || true
wait "$SVC_PID" 2>/dev/null || true
SVC_PID=""

# --- 3. wall time of live test 1 -------------------------------------------
TEST1=(cargo test -q -p shakedown-integration --test live rolling_good_loses_no_request -- --exact)
time_test1() { # label
    local t0 t1 rc=0 before after
    before="$(docker images -q shakedown-testsvc | sort | tr '\n' ' ')"
    wait_quiet
    log "test 1 ($1) | containers running: $(docker ps -q | wc -l) | busy before: ${BUSY}%"
    t0="$(date +%s.%N)"
    "${TEST1[@]}" >"$WORK/test1.log" 2>&1 || rc=$?
    t1="$(date +%s.%N)"
    after="$(docker images -q shakedown-testsvc | sort | tr '\n' ' ')"
    local wall built=no
    wall="$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.1f", b-a}')"
    if [ "$before" != "$after" ]; then built=yes; fi
    if [ "$rc" != 0 ] || grep -q SKIPPED "$WORK/test1.log"; then
        tail -20 "$WORK/test1.log" >&2
        log "  test 1 did not pass (rc $rc): wall ${wall} s not recorded"
        echo "fail"
        return
    fi
    log "  wall ${wall} s (image built: $built)"
    echo "$wall $built"
}
rmi_fixture() {
    local ids
    ids="$(docker images --format '{{.Repository}}:{{.Tag}}' shakedown-testsvc)"
    if [ -n "$ids" ]; then
        # No --force: an image a container still uses stays (and is reported).
        # shellcheck disable=SC2086
        docker rmi $ids >&2 || log "some fixture images are in use and stay"
    fi
}
if [ "$DO_TEST1" = 1 ]; then
    if ! docker info >/dev/null 2>&1; then
        log "no Docker engine: test 1 not timed"
        row "live test 1 wall time" "" "not measured (no engine)" ""
    else
        log "compiling the live tests (not timed)"
        cargo test -q -p shakedown-integration --test live --no-run 2>/dev/null
        log "warm-up run (builds the image if this binary's tag is missing)"
        warm="$(time_test1 warm-up | tail -1)"
        row "live test 1, warm-up (image built: ${warm#* })" "" "${warm%% *} s" ""
        : >"$WORK/cached"
        for i in $(seq "$RUNS"); do
            time_test1 "cached $i/$RUNS" | tail -1 | cut -d' ' -f1 >>"$WORK/cached"
        done
        row "live test 1, image cached" "$(tr '\n' ' ' <"$WORK/cached")s" "**$(grep -v fail "$WORK/cached" | median) s**" ""
        if [ "$UNCACHED" = 1 ]; then
            log "uncached (a): removing shakedown-testsvc:* images; target/static stays warm"
            rmi_fixture
            a="$(time_test1 'uncached: image removed, static binary warm' | tail -1)"
            row "live test 1, image removed (docker rmi), target/static warm" "" "**${a%% *} s**" "image built: ${a#* }"
            log "uncached (b): fresh static target dir (copy of the working tree) and images removed"
            COLD_ROOT="$(mktemp -d /tmp/bench-live-cold.XXXXXX)"
            git ls-files -z --cached --others --exclude-standard |
                xargs -0 cp --parents -t "$COLD_ROOT" 2>/dev/null || true
            rmi_fixture
            tags_before="$(docker images --format '{{.Repository}}:{{.Tag}}' shakedown-testsvc | sort)"
            export SHAKEDOWN_WORKSPACE_ROOT="$COLD_ROOT"
            b="$(time_test1 'uncached: images removed, empty target/static' | tail -1)"
            unset SHAKEDOWN_WORKSPACE_ROOT
            row "live test 1, images removed and empty target/static (static build from scratch)" "" "**${b%% *} s**" "image built: ${b#* }"
            # The cold copy's binary embeds its own paths, so its image has a
            # tag of its own: remove it, and rebuild this tree's image (the
            # cache as it was before, minus older tags).
            comm -13 <(echo "$tags_before") \
                <(docker images --format '{{.Repository}}:{{.Tag}}' shakedown-testsvc | sort) |
                while read -r t; do
                    log "removing the cold copy's image $t"
                    docker rmi "$t" >/dev/null || true
                done
            "${TEST1[@]}" >/dev/null 2>&1 || true
        fi
    fi
fi

# --- table -----------------------------------------------------------------
echo
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); $(uptime | sed 's/^ *//')"
echo
echo "[n%] after a run: share of the machine ($(nproc) cores x wall time) other processes used during it"
echo
echo "| what | runs | median | notes |"
echo "|---|---|---|---|"
printf '%s\n' "${ROWS[@]}"
