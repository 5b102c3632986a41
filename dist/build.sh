#!/usr/bin/env bash
# Builds the self-contained Prism bundle for GPU hosts without a JDK (issue 4, DESIGN.md section 8):
#   prism/jre      jlink runtime of this JDK (only the modules the server needs)
#   prism/lib      the server jars: app (CLI) and its runtime dependencies, minus the LMDB store of
#                  Pekko's durable distributed data (lmdbjava, jnr, jffi, asm: Prism does not use
#                  it) and with the JavaCPP CUDA natives trimmed to cudart, cuBLAS and NVRTC (the
#                  CUDA libraries themselves come from the host), and with DJL's Hugging Face
#                  tokenizers jar trimmed to its linux-x86_64 native library
#   prism/prism    the launcher (uses the bundled runtime)
# and prism-<version>-linux-x86_64.tar.xz beside it, failing when that is over 64 MiB. The
# jlink image is left uncompressed (--compress=0) and its native libraries stripped: xz then packs
# the runtime to about 17 MB, against 33 MB for a --compress=2 image in a .tar.gz. The jars are
# stored uncompressed for the same reason.
#
# Run through Maven:  mvn -o -q -Pdist -DskipTests package -pl app -am
# (or directly, after `mvn package -pl app -am`:  dist/build.sh app/target)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET=$(cd "${1:-$ROOT/app/target}" && pwd)
VERSION=${2:-0.1.0-SNAPSHOT}
OUT="$TARGET/dist/prism"
LIMIT=$((64 * 1024 * 1024))
JLINK=${JAVA_HOME:+$JAVA_HOME/bin/}jlink
[ -f "$TARGET/prism-app-$VERSION.jar" ] && [ -d "$TARGET/lib" ] || { echo "dist: $TARGET has no prism-app jar and lib/: package app first" >&2; exit 1; }
rm -rf "$TARGET/dist"
mkdir -p "$OUT/lib"
# modules from `jdeps --print-module-deps` over the server jars, plus java.xml (logback configuration)
"$JLINK" --add-modules java.base,java.compiler,java.desktop,java.management,jdk.management,java.naming,java.sql,java.xml,jdk.incubator.vector,jdk.jfr,jdk.unsupported \
  --strip-debug --no-man-pages --no-header-files --compress=0 --output "$OUT/jre"
# native symbols are not needed to run; an uncompressed module image compresses better in the archive
find "$OUT/jre" -name '*.so' -exec strip --strip-unneeded {} +
cp "$TARGET/prism-app-$VERSION.jar" "$OUT/lib/"
for j in "$TARGET"/lib/*.jar; do
  case "$(basename "$j")" in
    lmdbjava-*|jnr-*|jffi-*|asm-*|xchart-*|junit-*|*-tests.jar) continue ;;
    tokenizers-*.jar|jna-*.jar)
      # DJL Hugging Face tokenizers and JNA: only the linux-x86_64 native library, stored
      # uncompressed in the jar so that xz packs it better than deflate did
      T=$(mktemp -d)
      (cd "$T" && unzip -q "$j" && rm -rf native/lib/linux-aarch64 native/lib/osx-* native/lib/win-* \
         && find . -path './com/sun/jna/*' -name '*jnidispatch*' ! -path './com/sun/jna/linux-x86-64/*' -delete \
         && zip -q -0 -r "$OUT/lib/$(basename "$j")" .)
      rm -rf "$T" ;;
    cuda-*-linux-x86_64.jar)
      T=$(mktemp -d)
      (cd "$T" && unzip -q "$j" 'org/bytedeco/cuda/linux-x86_64/libjnicudart.so' 'org/bytedeco/cuda/linux-x86_64/libjnicublas.so' \
         'org/bytedeco/cuda/linux-x86_64/libjninvrtc.so' 'META-INF/MANIFEST.MF' && zip -q -r "$OUT/lib/$(basename "$j")" .)
      rm -rf "$T" ;;
    *)
      # stored (zip -0), not deflated: xz then compresses across the classes of all jars, which
      # makes the archive several MiB smaller than deflated jars do
      T=$(mktemp -d)
      (cd "$T" && unzip -q "$j" && zip -q -0 -r -X "$OUT/lib/$(basename "$j")" .)
      rm -rf "$T" ;;
  esac
done
cat > "$OUT/prism" <<'LAUNCHER'
#!/usr/bin/env bash
# Prism launcher of the self-contained bundle: the bundled Java runtime, the bundled jars.
# Environment: PRISM_JAVA_OPTS (extra JVM options, e.g. -Xmx32g). CUDA libraries come from the
# host (libcuda.so.1 from the driver; libcudart/libcublas/libnvrtc .so.13 on LD_LIBRARY_PATH or
# in /usr/local/cuda/lib64).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export LD_LIBRARY_PATH="${LD_LIBRARY_PATH:+$LD_LIBRARY_PATH:}/usr/local/cuda/lib64"
cmd=("$here/jre/bin/java" --add-modules jdk.incubator.vector -Xss4m -XX:+UseTransparentHugePages
  --add-opens java.base/java.nio=ALL-UNNAMED --add-opens java.base/sun.nio.ch=ALL-UNNAMED)
if [[ -n "${PRISM_JAVA_OPTS:-}" ]]; then read -r -a extra <<<"$PRISM_JAVA_OPTS"; cmd+=("${extra[@]}"); fi
cmd+=(-cp "$here/lib/*" io.prism.app.cli.PrismCli "$@")
# exec: the JVM takes this script's PID, so `kill PID` (or Ctrl-C) stops the server cleanly.
exec "${cmd[@]}" 2> >(grep -v --line-buffered '^WARNING: Using incubator modules: jdk.incubator.vector$' >&2)
LAUNCHER
chmod +x "$OUT/prism"
[ -d "$ROOT/conf" ] && cp -r "$ROOT/conf" "$OUT/conf"
TGZ="$TARGET/prism-$VERSION-linux-x86_64.tar.xz"
tar -C "$TARGET/dist" -cf - prism | xz -T0 -6 > "$TGZ"
SIZE=$(stat -c %s "$TGZ")
echo "dist: $TGZ $((SIZE / 1024 / 1024)) MiB ($(du -sh "$OUT" | cut -f1) unpacked)"
[ "$SIZE" -le "$LIMIT" ] || { echo "dist: bundle is over 64 MiB" >&2; exit 1; }
