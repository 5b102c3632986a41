#!/usr/bin/env bash
# Runs on the GPU machine (no JDK, no network) from the repository root, over the bundle that
# stage.sh put in .dev: the HF reference model, every @Tag("gpu") test, then the engine benchmark.
# Usage: bash .dev/run-gpu.sh [tests|bench|all] [bench args...]; logs go to $OUT (or .dev/out).
set -uo pipefail
WHAT=${1:-all}; shift || true
D=$(cd "$(dirname "$0")" && pwd)
OUT=${OUT:-$D/out}; mkdir -p "$OUT"
for lib in libcudart.so.13 libcublas.so.13 libcublasLt.so.13 libnvrtc.so.13; do
  if ! ldconfig -p | grep -q "$lib" && ! ls /usr/local/cuda/lib64/$lib >/dev/null 2>&1; then
    f=$(find / -name "$lib" -not -path '*/proc/*' 2>/dev/null | head -1)
    [ -n "$f" ] && export LD_LIBRARY_PATH=$(dirname "$f"):${LD_LIBRARY_PATH:-}
  fi
done
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}
JAVA="$D/jre/bin/java --add-modules jdk.incubator.vector -Xss4m"
CP="$D/classes/main:$D/classes/test:$(ls "$D"/lib/*.jar | grep -v console | tr '\n' ':')"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUT/gpu.txt"
if [ "$WHAT" = tests ] || [ "$WHAT" = all ]; then
  if [ ! -f "$D/hf/logits.f32" ]; then
    PYTHONUNBUFFERED=1 python3 "$D/hf_llama_reference.py" "$D/hf" 2>&1 | tail -5 | tee "$OUT/hf.log"
  fi
  $JAVA -Dprism.shared="$D/shared" -Dprism.hf.dir="$D/hf" -jar "$D"/lib/junit-platform-console-standalone-*.jar execute \
    -cp "$CP" --select-package io.prism.cuda --include-tag gpu --details=tree --disable-banner 2>&1 | tee "$OUT/gpu-tests.log"
fi
if [ "$WHAT" = bench ] || [ "$WHAT" = all ]; then
  $JAVA -Dprism.bench.profile=${PROFILE:-false} -cp "$CP" io.prism.cuda.EngineBench "$@" 2>&1 | tee "$OUT/bench.log"
fi
