#!/usr/bin/env bash
# Fleet benchmark against a real sshd: starts its own loopback sshd answering on N distinct
# 127.0.x.y addresses, then measures, on the same fleet in the same run:
#   1. sflow's transport alone (benches/ssh_fleet.rs, release): one command per host, P at once;
#   2. the whole product, `sflow run` (release binary, journal on): one task on every host with
#      max_servers = P, then ten chained tasks on 100 hosts (wall, connections accepted by the
#      sshd, p50 of the 2nd..10th command per host from the run's JSON events);
#   3. OpenSSH's client under `xargs -P` as the floor (default key exchange, then
#      curve25519-sha256).
# Prints wall time, client CPU and the sshd's CPU for each. Stops only the processes it
# started (the sshd it launched, by pid).
#
# Usage: scripts/bench-fleet.sh [HOSTS=1000] [PARALLEL=100]
# Env: SFLOW_BENCH_SSHD_PORT (default 22022), SFLOW_BENCH_SKIP_OPENSSH=1 (skip 3),
#      SFLOW_BENCH_SKIP_TRANSPORT=1 (skip 1), SFLOW_BENCH_SKIP_ENGINE=1 (skip 2), SFLOW_BENCH_SKIP_DEFAULT_KEX=1 (skip OpenSSH's
#      default key exchange, the slowest part).
set -euo pipefail
cd "$(dirname "$0")/.."

hosts=${1:-1000}
parallel=${2:-100}
port=${SFLOW_BENCH_SSHD_PORT:-22022}
user=$(id -un)
sshd_bin=/usr/sbin/sshd
[ -x "$sshd_bin" ] || sshd_bin=$(command -v sshd)
tck=$(getconf CLK_TCK)

work=$(mktemp -d)
sshd_pid=""
cleanup() {
  if [ -n "$sshd_pid" ]; then kill "$sshd_pid" 2>/dev/null || true; wait "$sshd_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

mkdir -p /run/sshd
ssh-keygen -q -t ed25519 -N '' -C '' -f "$work/host_ed25519"
ssh-keygen -q -t ed25519 -N '' -C '' -f "$work/client_ed25519"
cp "$work/client_ed25519.pub" "$work/authorized_keys"

# Listening on 0.0.0.0 makes every 127.0.x.y a distinct host; AllowUsers limits logins to
# loopback sources. SetEnv SHLVL=1 keeps root's .bashrc from adding ~90 ms per command.
cat >"$work/sshd_config" <<EOF
ListenAddress 0.0.0.0:$port
HostKey $work/host_ed25519
AuthorizedKeysFile $work/authorized_keys
PidFile $work/sshd.pid
StrictModes no
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
AllowUsers $user@127.0.0.0/8
MaxStartups 2000
MaxSessions 100
SetEnv SHLVL=1
LogLevel INFO
EOF

: >"$work/hosts"
: >"$work/known_hosts"
hostkey=$(cut -d' ' -f1,2 "$work/host_ed25519.pub")
for ((i = 0; i < hosts; i++)); do
  a="127.0.$((i / 250 + 1)).$((i % 250 + 1))"
  echo "$a" >>"$work/hosts"
  echo "[$a]:$port $hostkey" >>"$work/known_hosts"
done

"$sshd_bin" -D -E "$work/sshd.log" -f "$work/sshd_config" &
sshd_pid=$!
for _ in $(seq 100); do
  (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break
  sleep 0.05
done

server_ticks() { awk '{print $16 + $17}' "/proc/$sshd_pid/stat"; }
settle() { sleep 2; } # let sshd reap the session processes so their CPU is counted

if [ -z "${SFLOW_BENCH_SKIP_TRANSPORT:-}" ]; then
cargo bench --bench ssh_fleet --no-run >/dev/null 2>&1
echo "== sflow transport (async-ssh2-lite), $hosts hosts, $parallel in parallel"
s0=$(server_ticks)
SFLOW_BENCH_HOSTS="$work/hosts" SFLOW_BENCH_PORT=$port SFLOW_BENCH_USER=$user \
  SFLOW_BENCH_KEY="$work/client_ed25519" SFLOW_BENCH_KNOWN_HOSTS="$work/known_hosts" \
  SFLOW_BENCH_PARALLEL=$parallel cargo bench --bench ssh_fleet 2>/dev/null | grep '='
settle
s1=$(server_ticks)
echo "server_cpu_s=$(awk -v a="$s0" -v b="$s1" -v t="$tck" 'BEGIN{printf "%.2f", (b - a) / t}')"
fi

accepted() { grep -c 'Accepted publickey' "$work/sshd.log" || true; }

# An inventory + workflow for `sflow run`: hosts h0000.. at the fleet's addresses.
workflow() { # workflow FILE HOSTS TASKS PARALLEL
  local file=$1 n=$2 tasks=$3 par=$4 i
  {
    echo "inventory {"
    echo "  defaults { user = \"$user\"  port = $port }"
    for ((i = 0; i < n; i++)); do
      printf '  host h%04d { address = "%s" }\n' "$i" "$(sed -n "$((i + 1))p" "$work/hosts")"
    done
    echo "}"
    echo "workflow bench {"
    echo "  parallel { max_servers = $par }"
    echo "  task t1 on all { run = \"true\" }"
    for ((i = 2; i <= tasks; i++)); do
      echo "  task t$i on all after t$((i - 1)) { run = \"true\" }"
    done
    echo "}"
  } >"$file"
}

engine() { # engine LABEL FILE
  local label=$1 file=$2 s0 s1 a0 a1
  echo "== sflow run ($label)"
  s0=$(server_ticks)
  a0=$(accepted)
  local TIMEFORMAT="wall_s=%R client_user_s=%U client_sys_s=%S"
  time (target/release/sflow run "$file" --yes --format json --identity "$work/client_ed25519" \
    --known-hosts "$work/known_hosts" --state "$work/state-$label.db" >"$work/events-$label.jsonl")
  settle
  s1=$(server_ticks)
  a1=$(accepted)
  echo "server_cpu_s=$(awk -v a="$s0" -v b="$s1" -v t="$tck" 'BEGIN{printf "%.2f", (b - a) / t}')"
  echo "connections_accepted=$((a1 - a0))"
  python3 - "$work/events-$label.jsonl" <<'PY'
import json, sys
lat, status = [], {}
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e.get("kind") == "task_finished":
        status[e["state"]] = status.get(e["state"], 0) + 1
        if e["task"] != "t1":
            lat.append(e["duration_ms"])
print("task_results=" + ",".join(f"{k}:{v}" for k, v in sorted(status.items())))
if lat:
    lat.sort()
    print(f"additional_command_n={len(lat)} p50_ms={lat[len(lat) // 2]} p90_ms={lat[len(lat) * 9 // 10]}")
PY
}

if [ -z "${SFLOW_BENCH_SKIP_ENGINE:-}" ]; then
  cargo build --release --bin sflow >/dev/null 2>&1
  workflow "$work/one.sflow" "$hosts" 1 "$parallel"
  engine "one-command-$hosts-hosts" "$work/one.sflow"
  small=$((hosts < 100 ? hosts : 100))
  workflow "$work/ten.sflow" "$small" 10 100
  engine "ten-commands-$small-hosts" "$work/ten.sflow"
  # The same ten commands one host at a time: the latency of a command through the whole
  # engine (journal included) without 100 sessions queueing on the server's two cores.
  workflow "$work/seq.sflow" 10 10 1
  engine "ten-commands-10-hosts-one-at-a-time" "$work/seq.sflow"
fi

openssh() {
  local label=$1
  shift
  echo "== OpenSSH client ($label), xargs -P $parallel"
  local s0 s1
  s0=$(server_ticks)
  local TIMEFORMAT="wall_s=%R client_user_s=%U client_sys_s=%S"
  time (xargs -P "$parallel" -I{} ssh -F none -o BatchMode=yes -o StrictHostKeyChecking=yes \
    -o UserKnownHostsFile="$work/known_hosts" -o GlobalKnownHostsFile=/dev/null \
    -i "$work/client_ed25519" -p "$port" "$@" "$user@{}" true <"$work/hosts")
  settle
  s1=$(server_ticks)
  echo "server_cpu_s=$(awk -v a="$s0" -v b="$s1" -v t="$tck" 'BEGIN{printf "%.2f", (b - a) / t}')"
}

if [ -z "${SFLOW_BENCH_SKIP_OPENSSH:-}" ]; then
  [ -n "${SFLOW_BENCH_SKIP_DEFAULT_KEX:-}" ] || openssh "default kex"
  openssh "curve25519-sha256" -o KexAlgorithms=curve25519-sha256
fi
