#!/usr/bin/env bash
# Stages everything the GPU machine needs into DEST (default: <repo>/.dev, ignored by git):
# a jlink runtime, the module and test classes, the dependency jars (the CUDA natives trimmed to
# cudart, cuBLAS and NVRTC), JUnit's console launcher, the shared test models and the scripts.
# Run from the repository root after `mvn -o -q -pl cuda-native -am test-compile`.
set -euo pipefail
ROOT=$(pwd)
DEST=${1:-$ROOT/.dev}
SHARED=${PRISM_SHARED:-$ROOT/../shared}
M2=${M2_REPO:-$HOME/.m2/repository}
mkdir -p "$DEST/lib" "$DEST/shared/models/oracle" "$DEST/classes"
if [ ! -x "$DEST/jre/bin/java" ]; then
  jlink --add-modules java.base,java.logging,java.management,java.naming,java.xml,jdk.unsupported,jdk.incubator.vector \
    --strip-debug --no-man-pages --no-header-files --compress=2 --output "$DEST/jre"
fi
rm -rf "$DEST/classes"/*
mkdir -p "$DEST/classes/main" "$DEST/classes/test"
cp -r runtime/target/classes/. "$DEST/classes/main/"
cp -r cuda-native/target/classes/. "$DEST/classes/main/"
cp -r cuda-native/target/test-classes/. "$DEST/classes/test/"
cp "$M2/org/bytedeco/javacpp/1.5.13/javacpp-1.5.13.jar" "$M2/org/bytedeco/javacpp/1.5.13/javacpp-1.5.13-linux-x86_64.jar" \
   "$M2/org/bytedeco/cuda/13.1-9.19-1.5.13/cuda-13.1-9.19-1.5.13.jar" \
   "$M2/org/junit/platform/junit-platform-console-standalone/1.14.4/junit-platform-console-standalone-1.14.4.jar" "$DEST/lib/"
if [ ! -f "$DEST/lib/cuda-linux-x86_64-trimmed.jar" ]; then
  T=$(mktemp -d)
  (cd "$T" && unzip -q "$M2/org/bytedeco/cuda/13.1-9.19-1.5.13/cuda-13.1-9.19-1.5.13-linux-x86_64.jar" \
     'org/bytedeco/cuda/linux-x86_64/libjnicudart.so' 'org/bytedeco/cuda/linux-x86_64/libjnicublas.so' \
     'org/bytedeco/cuda/linux-x86_64/libjninvrtc.so' 'META-INF/MANIFEST.MF' && zip -q -r "$DEST/lib/cuda-linux-x86_64-trimmed.jar" .)
  rm -rf "$T"
fi
cp "$SHARED/models/stories260K.bin" "$SHARED/models/tok512.bin" "$DEST/shared/models/"
cp "$SHARED/models/oracle/"* "$DEST/shared/models/oracle/"
cp cuda-native/src/test/python/hf_llama_reference.py cuda-native/src/test/gpu/run-gpu.sh "$DEST/"
du -sh "$DEST"
