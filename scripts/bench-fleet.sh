#!/usr/bin/env bash
# Fleet benchmark of the SSH transport: starts its own loopback sshd answering on N distinct
# 127.0.x.y addresses, runs sflow's transport (benches/ssh_fleet.rs, release) with one command
# per host at P in parallel, then OpenSSH's client under `xargs -P` as the floor (default key
# exchange, then curve25519-sha256). Prints wall time, client CPU and the sshd's CPU for each.
# Stops only the processes it started (the sshd it launched, by pid).
#
# Usage: scripts/bench-fleet.sh [HOSTS=1000] [PARALLEL=100]
# Env: SFLOW_BENCH_SSHD_PORT (default 22022), SFLOW_BENCH_SKIP_OPENSSH=1.
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
LogLevel QUIET
EOF

: >"$work/hosts"
: >"$work/known_hosts"
hostkey=$(cut -d' ' -f1,2 "$work/host_ed25519.pub")
for ((i = 0; i < hosts; i++)); do
  a="127.0.$((i / 250 + 1)).$((i % 250 + 1))"
  echo "$a" >>"$work/hosts"
  echo "[$a]:$port $hostkey" >>"$work/known_hosts"
done

"$sshd_bin" -D -e -f "$work/sshd_config" &
sshd_pid=$!
for _ in $(seq 100); do
  (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break
  sleep 0.05
done

server_ticks() { awk '{print $16 + $17}' "/proc/$sshd_pid/stat"; }
settle() { sleep 2; } # let sshd reap the session processes so their CPU is counted

cargo bench --bench ssh_fleet --no-run >/dev/null 2>&1
echo "== sflow transport (async-ssh2-lite), $hosts hosts, $parallel in parallel"
s0=$(server_ticks)
SFLOW_BENCH_HOSTS="$work/hosts" SFLOW_BENCH_PORT=$port SFLOW_BENCH_USER=$user \
  SFLOW_BENCH_KEY="$work/client_ed25519" SFLOW_BENCH_KNOWN_HOSTS="$work/known_hosts" \
  SFLOW_BENCH_PARALLEL=$parallel cargo bench --bench ssh_fleet 2>/dev/null | grep '='
settle
s1=$(server_ticks)
echo "server_cpu_s=$(awk -v a="$s0" -v b="$s1" -v t="$tck" 'BEGIN{printf "%.2f", (b - a) / t}')"

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
  openssh "default kex"
  openssh "curve25519-sha256" -o KexAlgorithms=curve25519-sha256
fi
