package io.prism.runtime.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class MappedFileTest {

  @Test
  void decodesHalfPrecisionSpecialValues() {
    assertEquals(1f, MappedFile.halfToFloat(0x3C00));
    assertEquals(-2f, MappedFile.halfToFloat(0xC000));
    assertEquals(65504f, MappedFile.halfToFloat(0x7BFF));
    assertEquals(0x1p-24f, MappedFile.halfToFloat(0x0001));
    assertEquals(0x1p-14f, MappedFile.halfToFloat(0x0400));
    assertEquals(Float.NEGATIVE_INFINITY, MappedFile.halfToFloat(0xFC00));
    assertEquals(-0f, MappedFile.halfToFloat(0x8000));
    assertEquals(Float.NaN, MappedFile.halfToFloat(0x7E00));
  }

  @Test
  void readsAcrossWindowsAndParallelSlicesInEveryEncoding(@TempDir Path dir) throws IOException {
    int n = (1 << 21) + 96; // several parallel slices and a partial one
    float[] values = new float[n];
    SplittableRandom r = new SplittableRandom(3);
    for (int i = 0; i < n; i++) values[i] = (r.nextInt(255) - 127) / 64f; // exact in f16, bf16, q8_0 with scale 1/64
    byte[][] encoded = {GgufTestWriter.f32(values), GgufTestWriter.f16(values), GgufTestWriter.bf16(values), GgufTestWriter.q8(values, 1 / 64f)};
    MappedFile.Encoding[] encs = {MappedFile.Encoding.F32, MappedFile.Encoding.F16, MappedFile.Encoding.BF16, MappedFile.Encoding.Q8_0};
    for (int e = 0; e < encs.length; e++) {
      Path f = dir.resolve(encs[e] + ".raw");
      byte[] withPrefix = new byte[100 + encoded[e].length];
      System.arraycopy(encoded[e], 0, withPrefix, 100, encoded[e].length);
      Files.write(f, withPrefix);
      for (long window : new long[] {68 * 1001, 68 * 100_000, MappedFile.WINDOW_BYTES}) {
        float[] out = new float[n + 5];
        try (MappedFile m = MappedFile.open(f, window)) {
          m.read(encs[e], 100, out, 5, n);
        }
        float[] expected = new float[n + 5];
        System.arraycopy(values, 0, expected, 5, n);
        assertArrayEquals(expected, out, encs[e] + " window " + window);
      }
    }
  }
}
