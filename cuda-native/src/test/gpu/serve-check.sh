#!/usr/bin/env bash
# Runs on the GPU machine after run-gpu.sh unpacked the bundle: `prism serve --backend cuda` end to
# end on one GPU over stories260K (+ tok512), in fp32 and in bf16. For each precision: starts the
# server in the background, asks /v1/completions for the greedy continuation of "Once upon a time"
# (max_tokens 252, temperature 0; the oracle is llama2.c's 256 positions), a sampled one
# (temperature 0.8, top_p 0.9, seed 7), /admin/gpus, then stops the server and compares the greedy
# text with the oracle (prints where it first differs).
# Usage: bash .dev/serve-check.sh      Logs and replies go to $OUT (or .dev/out).
set -uo pipefail
D=$(cd "$(dirname "$0")" && pwd)
OUT=${OUT:-$D/out}; mkdir -p "$OUT"
B=/tmp/prism-bundle
if [ ! -x "$B/prism/prism" ]; then mkdir -p "$B" && xz -dc "$D"/prism-*-linux-x86_64.tar.xz | tar -C "$B" -xf -; fi
M=/tmp/prism-models; mkdir -p "$M"
cp "$D/shared/models/stories260K.bin" "$D/shared/models/tok512.bin" "$M/"
ORACLE="$D/shared/models/oracle/stories260K_t0_n256_prompt_Once_upon_a_time.txt"
PORT=18000
for prec in fp32 bf16; do
  PORT=$((PORT + 1))
  # own process group (setsid): stopping it stops the launcher's java child too
  PRISM_JAVA_OPTS="-Dprism.cuda.precision=$prec" setsid "$B/prism/prism" serve --backend cuda --gpus 1 --gpu-memory 4GiB \
    --models "$M" --port $PORT --cluster-port 0 >"$OUT/serve-$prec.log" 2>&1 &
  PID=$!
  up=0
  for i in $(seq 1 120); do
    if curl -sf "localhost:$PORT/health" >/dev/null 2>&1; then up=1; break; fi
    if ! kill -0 $PID 2>/dev/null; then break; fi
    sleep 0.5
  done
  echo "== $prec: server up=$up after ${i} polls"
  if [ $up = 1 ]; then
    curl -s "localhost:$PORT/v1/completions" -H 'Content-Type: application/json' \
      -d '{"model": "stories260K", "prompt": "Once upon a time", "max_tokens": 252, "temperature": 0}' >"$OUT/greedy-$prec.json"
    curl -s "localhost:$PORT/v1/completions" -H 'Content-Type: application/json' \
      -d '{"model": "stories260K", "prompt": "Once upon a time", "max_tokens": 64, "temperature": 0.8, "top_p": 0.9, "seed": 7}' >"$OUT/sampled-$prec.json"
    curl -s "localhost:$PORT/admin/gpus" >"$OUT/gpus-$prec.json"
    echo "admin/gpus ($prec): $(head -c 700 "$OUT/gpus-$prec.json")"
    echo "sampled: $(head -c 400 "$OUT/sampled-$prec.json")"
  fi
  kill -- -$PID 2>/dev/null; wait $PID 2>/dev/null
  for i in $(seq 1 20); do kill -0 -- -$PID 2>/dev/null || break; sleep 0.5; done
  tail -5 "$OUT/serve-$prec.log"
  python3 - "$OUT/greedy-$prec.json" "$ORACLE" "$prec" <<'PY'
import json, sys
try:
    r = json.load(open(sys.argv[1]))
    text = "Once upon a time" + r["choices"][0]["text"]
except Exception as e:
    print(sys.argv[3], "greedy: no completion:", e, open(sys.argv[1]).read()[:300] if __import__("os").path.exists(sys.argv[1]) else "")
    sys.exit(0)
oracle = open(sys.argv[2]).read()
a, b = text.rstrip(), oracle.rstrip()
n = 0
while n < min(len(a), len(b)) and a[n] == b[n]:
    n += 1
print(f"{sys.argv[3]} greedy: {len(a)} chars, oracle {len(b)} chars, equal prefix {n} chars, "
      f"{'IDENTICAL' if a == b else 'differs at char %d: %r vs %r' % (n, a[n:n+40], b[n:n+40])}; usage {r.get('usage')}")
PY
done
