#!/usr/bin/env bash
# One GPU session's runs over what stage.sh put in .dev (bundle unpacked by run-gpu.sh):
#   tests      every @Tag("gpu") test (run-gpu.sh tests)
#   serve-jfr  `prism bench serve` on random:llama-3.1-8b with a Java Flight Recording, then the
#              hottest frames of the device thread and of all threads (jfr print + awk), so the
#              recording itself need not come back
#   tiers      `prism bench activation`: N random 8B models time-shared on the GPU, host tier bounded
# Usage: bash .dev/session-run.sh tests,serve-jfr   Output under $OUT.
set -uo pipefail
D=$(cd "$(dirname "$0")" && pwd)
OUT=${OUT:-$D/out}; mkdir -p "$OUT"
B=/tmp/prism-bundle
if [ ! -x "$B/prism/prism" ]; then mkdir -p "$B" && xz -dc "$D"/prism-*-linux-x86_64.tar.xz | tar -C "$B" -xf -; fi
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}
for what in $(echo "${1:-tests}" | tr ',' ' '); do
  case "$what" in
    tests) bash "$D/run-gpu.sh" tests >/dev/null 2>&1; grep -E "tests (successful|failed)|MethodSource|✘" "$OUT/gpu-tests.log" | tail -40 ;;
    serve-jfr)
      PRISM_JAVA_OPTS="-XX:StartFlightRecording=filename=$OUT/serve.jfr,settings=profile -Dprism.engine.max-batch-tokens=2048 -Dprism.engine.prefill-chunk=512" \
        timeout 420 "$B/prism/prism" bench serve --backend cuda --model random:llama-3.1-8b --concurrency ${SERVE_C:-1,8,32,64} \
        --prompt-tokens 64 --max-tokens 128 --rounds ${SERVE_ROUNDS:-3} --gpu-memory 60GiB > "$OUT/serve.log" 2>&1
      tail -30 "$OUT/serve.log"
      "$B/prism/jre/bin/jfr" print --events jdk.ExecutionSample "$OUT/serve.jfr" > "$OUT/samples.txt" 2>/dev/null
      echo "== top frames, threads named like gpu/engine"
      awk '/sampledThread/ {t=$0} /stackTrace = \[/ {getline; if (t ~ /gpu|prism-gpu|dispatchers/) print $0}' "$OUT/samples.txt" | sed 's/line:.*//' | sort | uniq -c | sort -rn | head -25
      echo "== sampled threads"
      grep sampledThread "$OUT/samples.txt" | sed 's/.*"\(.*\)".*/\1/' | sed 's/[0-9]\+$//' | sort | uniq -c | sort -rn | head -15
      echo "== top frames, all threads"
      awk '/stackTrace = \[/ {getline; print $0}' "$OUT/samples.txt" | sed 's/line:.*//' | sort | uniq -c | sort -rn | head -25
      rm -f "$OUT/samples.txt" ;;
    tiers)
      timeout 400 "$B/prism/prism" bench activation --backend cuda --model random:llama-3.1-8b --models ${TIER_MODELS:-20} \
        --gpu-memory 120GiB --host-tier ${TIER_HOST:-64GiB} --rounds 2 > "$OUT/tiers.log" 2>&1; tail -30 "$OUT/tiers.log" ;;
  esac
done
