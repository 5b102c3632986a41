package io.prism.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.prism.runtime.model.GgmlQuantizer;
import io.prism.runtime.model.GgmlQuants;
import io.prism.runtime.model.GgmlType;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The dequantising GEMV kernels of {@code quant.cu} on the CPU, without a GPU: the kernel source
 * is compiled by the host C++ compiler with the CUDA built-ins stubbed ({@code
 * src/test/resources/emu/qgemv_emu.cpp}) and run one simulated thread at a time, the warp reduction
 * replaced by a sum of the lanes' partials. Checks each type's lane-to-value mapping and block
 * decoding against {@link GgmlQuants} (Java reference, double-precision dot products): relative
 * difference within float32 rounding; bf16 activations give the float path's sums exactly; the
 * dense dequantisation kernels give the Java reference's floats bit for bit. Skipped where no
 * {@code g++} is on the PATH.
 */
class QuantKernelEmulationTest {
  @Test
  void quantizedGemvLanesDecodeTheJavaReferenceBlocks(@TempDir Path dir) throws Exception {
    assumeTrue(gppAvailable(), "no g++ on the PATH");
    int rows = 37, cols = 2560, tokens = 5; // rows odd and not a multiple of 8 (a partial last warp and block); ten 256-value blocks per row (Q4_K: more than one warp pass, a partial last one; Q6_K: both block parities, a partial pass)
    Random r = new Random(3);
    for (GgmlType t : new GgmlType[] {GgmlType.Q4_K, GgmlType.Q6_K, GgmlType.Q8_0}) {
      float[] w = new float[rows * cols];
      for (int i = 0; i < w.length; i++) w[i] = (float) (r.nextGaussian() * 0.05);
      byte[] q = GgmlQuantizer.quantize(t, w, 0, w.length);
      float[] deq = new float[w.length];
      GgmlQuants.dequantize(t, q, 0, deq, 0, w.length);
      float[] x = new float[tokens * cols];
      for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian();
      ByteBuffer y = ByteBuffer.allocate(tokens * rows * 8).order(ByteOrder.LITTLE_ENDIAN);
      for (int tt = 0; tt < tokens; tt++) {
        for (int row = 0; row < rows; row++) {
          double s = 0;
          for (int c = 0; c < cols; c++) s += (double) deq[row * cols + c] * x[tt * cols + c];
          y.putDouble(s);
        }
      }
      ByteBuffer xb = ByteBuffer.allocate(x.length * 4).order(ByteOrder.LITTLE_ENDIAN);
      for (float f : x) xb.putFloat(f);
      Files.write(dir.resolve(t + ".w"), q);
      Files.write(dir.resolve(t + ".x"), xb.array());
      Files.write(dir.resolve(t + ".y"), y.array());
      ByteBuffer db = ByteBuffer.allocate(deq.length * 4).order(ByteOrder.LITTLE_ENDIAN);
      for (float f : deq) db.putFloat(f);
      Files.write(dir.resolve(t + ".d"), db.array());
    }
    Files.writeString(dir.resolve("dims.txt"), rows + " " + cols + " " + tokens + "\n");
    String quant = resource("/io/prism/cuda/kernels/quant.cu");
    // the GEMV kernels store through QG_STORE, which qgemv_emu.cpp defines as emu_store (no shuffles)
    assertEquals(3, quant.split("QG_STORE\\(acc", -1).length - 1, "three GEMV kernels end in QG_STORE");
    Files.writeString(dir.resolve("quant_emu.cu"), quant);
    Files.writeString(dir.resolve("qgemv_emu.cpp"), resource("/emu/qgemv_emu.cpp"));
    String out = run(dir, "g++", "-O1", "-std=c++17", "-ffp-contract=off", "-o", "qgemv_emu", "qgemv_emu.cpp");
    assertEquals("", out.trim(), "compiler output");
    Process p = new ProcessBuilder(dir.resolve("qgemv_emu").toString(), dir.toString()).redirectErrorStream(true).start();
    String report = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    p.waitFor(60, TimeUnit.SECONDS);
    System.out.print(report);
    assertEquals(0, p.exitValue(), report);
  }

  private static boolean gppAvailable() {
    try {
      Process p = new ProcessBuilder("g++", "--version").redirectErrorStream(true).start();
      p.getInputStream().readAllBytes();
      return p.waitFor(30, TimeUnit.SECONDS) && p.exitValue() == 0;
    } catch (IOException | InterruptedException e) {
      return false;
    }
  }

  private static String run(Path dir, String... cmd) throws IOException, InterruptedException {
    Process p = new ProcessBuilder(cmd).directory(dir.toFile()).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    p.waitFor(120, TimeUnit.SECONDS);
    return p.exitValue() == 0 ? out : "exit " + p.exitValue() + ": " + out;
  }

  private static String resource(String name) throws IOException {
    try (InputStream in = QuantKernelEmulationTest.class.getResourceAsStream(name)) {
      if (in == null) throw new IllegalStateException(name + " is not on the class path");
      return new String(in.readAllBytes(), StandardCharsets.UTF_8);
    }
  }
}
