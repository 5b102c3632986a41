#!/usr/bin/env bash
# ncu diagnostics of the decode kernels (run on the GPU machine after run-gpu.sh unpacked the bundle)
L=${1:-/tmp/logs}
B=/tmp/prism-bundle
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}
NCU=$(command -v ncu || ls /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -1)
echo "ncu: $NCU"
J=("$B/prism/jre/bin/java" --add-modules jdk.incubator.vector -Xss4m -cp "$B/prism/lib/*")
S="--section SpeedOfLight --section Occupancy --section WarpStateStats --section LaunchStats --section MemoryWorkloadAnalysis"
timeout 150 $NCU --clock-control none --cache-control none --graph-profiling node -k "regex:gemv1_|gemv2_|attn_dec4" --launch-skip 161 --launch-count 12 $S --csv --page details \
  "${J[@]}" io.prism.cuda.EngineBench random:llama-3.1-8b 1 512 4 > $L/ncu-b1.csv 2> $L/ncu-b1.err
# batch 64: the small kernels and attention of decode step 2 (prefill: 1 + 16 chunks of 129 norm/rope/swiglu
# launches and an argmax each; decode step 1: 162)
timeout 150 $NCU --clock-control none --cache-control none --graph-profiling node -k "regex:rmsnorm_bf16|rope_kv_bf16|attn_dec4|swiglu_bf16|argmax" \
  --launch-skip 2372 --launch-count 12 $S --csv --page details \
  "${J[@]}" io.prism.cuda.EngineBench random:llama-3.1-8b 64 512 4 > $L/ncu-b64.csv 2> $L/ncu-b64.err
python3 - "$L" <<'PY'
import csv, sys, os
want = ["Duration", "DRAM Throughput", "Memory Throughput", "Achieved Occupancy", "Registers Per Thread", "Grid Size",
        "Warp Cycles Per Issued Instruction", "Issue Slots Busy", "L2 Hit Rate", "L1/TEX Hit Rate", "Mem Busy", "Max Bandwidth",
        "Compute (SM) Throughput", "Theoretical Occupancy", "Block Limit Registers"]
for f in ["ncu-b1.csv", "ncu-b64.csv"]:
    p = os.path.join(sys.argv[1], f)
    rows = [r for r in csv.reader(open(p, errors="replace")) if len(r) > 10]
    if not rows:
        print(f, "no rows;", open(p.replace(".csv", ".err"), errors="replace").read()[-800:]); continue
    h = rows[0]; ki = h.index("Kernel Name"); ii = h.index("ID"); mi = h.index("Metric Name"); ui = h.index("Metric Unit"); vi = h.index("Metric Value")
    cur = None
    for r in rows[1:]:
        if r[ii] != cur:
            cur = r[ii]; print(f"-- {f} #{cur} {r[ki][:60]}")
        if r[mi] in want: print(f"   {r[mi]}: {r[vi]} {r[ui]}")
PY
