#!/usr/bin/env bash
# fcperf --lldd fcloop against transport_bench: the same work (null namespace, one job,
# QD 128, 4 KiB random reads), both on CPU 1, alternating. Prints wall IOPS and I/Os per
# CPU-second of the I/O thread for each, and their ratios.
# Usage: perf/scripts/fcperf_vs_bench.sh [PAIRS]   (release binaries in $CARGO_TARGET_DIR or target/)
set -euo pipefail
B=${CARGO_TARGET_DIR:-target}/release
for _ in $(seq "${1:-8}"); do
    f=$("$B/fcperf" --lldd fcloop --cpus 1 -t 2 --output-format json 2>/dev/null | python3 -c '
import json, sys
j = json.load(sys.stdin)["jobs"][0]
r = j["read"]
cpu = (j["usr_cpu"] + j["sys_cpu"]) / 100 * r["runtime"] / 1000
print(r["iops"] / 1e6, r["total_ios"] / cpu / 1e6)')
    t=$(taskset -c 1 "$B/transport_bench" --ios 25000000 | grep -oE "\(([0-9.]+) M\)" | tr -d "()M " | tr "\n" " ")
    python3 -c "
f = [float(x) for x in '$f'.split()]
t = [float(x) for x in '$t'.split()]
print(f'fcperf {f[0]:6.2f} M wall {f[1]:6.2f} M/cpu-s | transport_bench {t[0]:6.2f} M wall {t[1]:6.2f} M/cpu-s'
      f' | ratio wall {f[0] / t[0]:.3f} cpu {f[1] / t[1]:.3f}')"
done
