#!/usr/bin/env bash
# `scrim run` under load, for real: one tenant captures openat from a cgroup
# in which a loop opens /dev/null as fast as Python can (600 k/s on the
# 2-core development VM). Prints the collector's summary, its peak memory
# (VmHWM) and its threads. Needs root and a release build:
#   cargo build --release && sudo scripts/bench-run.sh [SECONDS]
set -euo pipefail
seconds=${1:-15}
root=$(cd "$(dirname "$0")/.." && pwd)
scrim="$root/target/release/scrim"
work=$(mktemp -d)
cgroup_root=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)
group="$cgroup_root/scrim-bench-run-$$"
trap 'rmdir "$group" 2>/dev/null || true; rm -rf "$work"' EXIT

cat > "$work/policy.toml" <<POLICY
version = 1
[defaults]
unknown_tenant = "drop"
[[tenant]]
name = "load"
purpose = "load test"
legal_basis = "legitimate_interests"
match = { cgroup_path = ["/scrim-bench-run-$$"] }
capture = ["process", "syscall:openat"]
retention = { process = "1d", syscall = "1d" }
sinks = [{ parquet = { path = "$work/archive" } }]
[tenant.fields]
"time" = "keep"
"event.name" = "keep"
"process.pid" = "keep"
"scrim.syscall.name" = "keep"
"scrim.syscall.return_value" = "keep"
POLICY

mkdir "$group"
"$scrim" run --policy "$work/policy.toml" --duration "$((seconds + 6))s" \
    --summary-interval 1h --metrics-address off 2> "$work/run.log" &
collector=$!
sleep 3
sh -c "echo \$\$ > '$group/cgroup.procs'; exec python3 -c '
import os, time
end, n = time.time() + $seconds, 0
while time.time() < end:
    for _ in range(1000):
        os.close(os.open(\"/dev/null\", os.O_RDONLY))
    n += 1000
print(f\"load: {n / $seconds:,.0f} openat/s for $seconds s\")
'"
grep -E "VmHWM|Threads" "/proc/$collector/status"
wait "$collector"
grep -E "final|tenant" "$work/run.log"
