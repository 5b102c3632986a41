#!/usr/bin/env bash
# Stages everything the GPU machine needs into DEST (default: <repo>/.dev, ignored by git):
#   the self-contained bundle (app/target/prism-*-linux-x86_64.tar.xz from
#   `mvn -o -q -Pdist -DskipTests package -pl app -am`: jlink runtime, server jars, launcher),
#   the cuda-native test classes, JUnit's console launcher, the shared test models and the scripts.
# The GPU tests run on the bundle's runtime and jars, so the run also proves the bundle works on a
# host without a JDK. Run from the repository root after the dist build and
# `mvn -o -q -pl cuda-native -am test-compile`. PRISM_STAGE_LEAN=1: a bundle trimmed for the GPU tests
# (see below); PRISM_STAGE_REFERENCE=1: also the tiny transformers reference models.
set -euo pipefail
ROOT=$(pwd)
DEST=${1:-$ROOT/.dev}
SHARED=${PRISM_SHARED:-$ROOT/../shared}
M2=${M2_REPO:-$HOME/.m2/repository}
rm -rf "$DEST"
mkdir -p "$DEST/lib" "$DEST/shared/models/oracle" "$DEST/classes/test"
if [ "${PRISM_STAGE_LEAN:-0}" = 1 ]; then
  # GPU tests only (not `run-gpu.sh bench` nor serve-check.sh): the bundle's runtime with just the jars the
  # cuda-native tests load (prism runtime + cuda-native, JavaCPP + CUDA, DJL tokenizers and their deps),
  # about 26 MiB instead of 61, so that .dev stays under the device tool's 64 MiB
  T=$(mktemp -d); xz -dc app/target/prism-*-linux-x86_64.tar.xz | tar -C "$T" -xf -
  for j in "$T"/prism/lib/*.jar; do
    case "$(basename "$j")" in prism-runtime-*|prism-cuda-native-*|javacpp-*|cuda-*|api-*|tokenizers-*|commons-*|gson-*|jna-*|slf4j-api-*) ;; *) rm "$j" ;; esac
  done
  B=$(basename app/target/prism-*-linux-x86_64.tar.xz)
  tar -C "$T" -cf - prism | xz -T0 -6 > "$DEST/$B"; rm -rf "$T"
else
  cp app/target/prism-*-linux-x86_64.tar.xz "$DEST/"
fi
cp -r cuda-native/target/test-classes/. "$DEST/classes/test/"
cp "$M2/org/junit/platform/junit-platform-console-standalone/1.14.4/junit-platform-console-standalone-1.14.4.jar" "$DEST/lib/"
cp "$SHARED/models/stories260K.bin" "$SHARED/models/tok512.bin" "$DEST/shared/models/"
cp "$SHARED/models/oracle/"* "$DEST/shared/models/oracle/"
# tiny transformers reference models of ArchitecturesGpuTest (0.6 MiB): only when the checkout the device tool
# sends lacks runtime/src/test/resources/reference-models (run-gpu.sh looks there first) and there is room
if [ "${PRISM_STAGE_REFERENCE:-0}" = 1 ]; then cp -r runtime/src/test/resources/reference-models "$DEST/"; fi
cp cuda-native/src/test/python/hf_llama_reference.py cuda-native/src/test/python/hf_full_reference.py cuda-native/src/test/gpu/run-gpu.sh cuda-native/src/test/gpu/serve-check.sh cuda-native/src/test/gpu/ncu-decode.sh "$DEST/"
du -sh "$DEST"
