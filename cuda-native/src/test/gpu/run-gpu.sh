#!/usr/bin/env bash
# Runs on the GPU machine (no JDK, no network) from the repository root, over what stage.sh put in
# .dev: unpacks the self-contained bundle, makes the HF reference model, runs every @Tag("gpu")
# test on the bundle's Java runtime and jars, then `prism bench engine` from the bundle.
# Usage: bash .dev/run-gpu.sh [tests|bench|all] [prism bench engine options...]
#        bash .dev/run-gpu.sh only Class1,Class2   (just those @Tag("gpu") classes of io.prism.cuda)
#        bash .dev/run-gpu.sh fullsize [llama,qwen2,qwen3,mistral]   (FullSizeArchitecturesGpuTest: one
#             full-size random model at a time made by hf_full_reference.py on /tmp, tested, deleted)
# Logs go to $OUT (or .dev/out).
set -uo pipefail
WHAT=${1:-all}; shift || true
D=$(cd "$(dirname "$0")" && pwd)
OUT=${OUT:-$D/out}; mkdir -p "$OUT"
B=/tmp/prism-bundle
if [ ! -x "$B/prism/prism" ]; then mkdir -p "$B" && xz -dc "$D"/prism-*-linux-x86_64.tar.xz | tar -C "$B" -xf -; fi
for lib in libcudart.so.13 libcublas.so.13 libcublasLt.so.13 libnvrtc.so.13; do
  if ! ldconfig -p | grep -q "$lib" && ! ls /usr/local/cuda/lib64/$lib >/dev/null 2>&1; then
    f=$(find / -name "$lib" -not -path '/proc/*' 2>/dev/null | head -1)
    [ -n "$f" ] && export LD_LIBRARY_PATH=$(dirname "$f"):${LD_LIBRARY_PATH:-}
  fi
done
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}
JAVA="$B/prism/jre/bin/java --add-modules jdk.incubator.vector -Xss4m"
REF="$PWD/runtime/src/test/resources/reference-models"; [ -d "$REF" ] || REF="$D/reference-models"
CP="$D/classes/test:$(ls "$B"/prism/lib/*.jar | tr '\n' ':')"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUT/gpu.txt"
if [ "$WHAT" = tests ] || [ "$WHAT" = all ]; then
  if [ ! -f "$D/hf/logits.f32" ]; then
    PYTHONUNBUFFERED=1 python3 "$D/hf_llama_reference.py" "$D/hf" 2>&1 | tail -3 | tee "$OUT/hf.log"
  fi
  $JAVA -Dprism.shared="$D/shared" -Dprism.hf.dir="$D/hf" -Dprism.reference.models="$REF" -jar "$D"/lib/junit-platform-console-standalone-*.jar execute \
    -cp "$CP" --select-package io.prism.cuda --include-tag gpu --details=tree --disable-banner 2>&1 | tee "$OUT/gpu-tests.log"
fi
if [ "$WHAT" = only ]; then
  SEL=""; for c in $(echo "${1:-}" | tr ',' ' '); do SEL="$SEL --select-class io.prism.cuda.$c"; done
  $JAVA -Dprism.shared="$D/shared" -Dprism.hf.dir="$D/hf" -Dprism.reference.models="$REF" -jar "$D"/lib/junit-platform-console-standalone-*.jar execute \
    -cp "$CP" $SEL --include-tag gpu --details=tree --disable-banner 2>&1 | tee "$OUT/gpu-only.log"
fi
if [ "$WHAT" = fullsize ]; then
  for a in $(echo "${1:-llama,qwen2,qwen3,mistral}" | tr ',' ' '); do
    F=/tmp/hf-full; rm -rf "$F"; mkdir -p "$F"
    t0=$(date +%s)
    PYTHONUNBUFFERED=1 python3 "$D/hf_full_reference.py" "$a" "$F/$a" 2>&1 | grep -v Warning | tail -2 | tee -a "$OUT/hf-full.log"
    t1=$(date +%s)
    $JAVA -Xmx100g -Dprism.hf.full.dir="$F" -jar "$D"/lib/junit-platform-console-standalone-*.jar execute \
      -cp "$CP" --select-class io.prism.cuda.FullSizeArchitecturesGpuTest --include-tag gpu --details=tree --disable-banner 2>&1 | tee -a "$OUT/gpu-fullsize.log" | grep -E "full size|✔|✘|Exception|expected" | head -8
    echo "$a: reference $((t1 - t0)) s, Prism test $(( $(date +%s) - t1 )) s" | tee -a "$OUT/hf-full.log"
    rm -rf "$F"
  done
fi
if [ "$WHAT" = bench ] || [ "$WHAT" = all ]; then
  "$B/prism/prism" bench engine "$@" 2>&1 | tee "$OUT/bench.log"
fi
