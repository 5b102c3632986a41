package io.prism.runtime.forward;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.Arrays;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class PackedGemmTest {
  private final SplittableRandom rnd = new SplittableRandom(3);
  private static final int P = PackedMatrix.PANEL;

  private float[] random(int n) {
    return TestWeights.fill(rnd, n, 1f);
  }

  private static float[] transposed(float[] x, int tokens, int cols) {
    float[] xt = new float[tokens * cols];
    PackedGemm.transpose(x, 0, cols, tokens, cols, xt);
    return xt;
  }

  @Test
  void packingPlacesEachRowInItsBlockColumnAndZeroPadsTheLastBlock() {
    int rows = 2 * P + 3, cols = 5, b = PackedMatrix.BLOCK;
    float[] w = random(2 + rows * cols);
    PackedMatrix m = PackedMatrix.pack(w, 2, rows, cols);
    assertEquals(2, m.blocks());
    for (int r = 0; r < 2 * b; r++) {
      for (int k = 0; k < cols; k++) {
        float expected = r < rows ? w[2 + r * cols + k] : 0f;
        assertEquals(expected, m.data[((r / b) * cols + k) * b + r % b]);
      }
    }
  }

  @Test
  void matchesScalarGemmForEveryTileAndTail() {
    for (int rows : new int[] {1, P - 1, P, 3 * P + 5, 4 * P, 9 * P + 1, 12 * P}) {
      for (int cols : new int[] {1, 7, 48, 65}) {
        for (int tokens : new int[] {1, 2, 3, 4, 5, 7, 8, 9, 12, 13, 17}) {
          for (boolean acc : new boolean[] {false, true}) {
            float[] w = random(rows * cols), x = random(tokens * cols);
            int yStride = rows + 3;
            float[] expected = random(tokens * yStride), actual = expected.clone();
            ScalarKernels.gemm(w, 0, cols, x, 0, cols, tokens, expected, 0, yStride, 0, rows, acc);
            PackedMatrix m = PackedMatrix.pack(w, 0, rows, cols);
            PackedGemm.gemm(m, transposed(x, tokens, cols), tokens, actual, 0, yStride, 0, m.blocks(), acc);
            for (int i = 0; i < expected.length; i++) {
              assertEquals(expected[i], actual[i], 1e-5f * cols * Math.max(1f, Math.abs(expected[i])),
                  "rows " + rows + " cols " + cols + " tokens " + tokens + " acc " + acc + " element " + i);
            }
          }
        }
      }
    }
  }

  @Test
  void blockRangeWritesOnlyItsRows() {
    int rows = 6 * PackedMatrix.BLOCK, cols = 9, tokens = 3, P = PackedMatrix.BLOCK;
    float[] w = random(rows * cols), x = random(tokens * cols), y = random(tokens * rows), before = y.clone();
    PackedMatrix m = PackedMatrix.pack(w, 0, rows, cols);
    PackedGemm.gemm(m, transposed(x, tokens, cols), tokens, y, 0, rows, 2, 5, false);
    for (int t = 0; t < tokens; t++) {
      for (int r = 0; r < rows; r++) {
        if (r < 2 * P || r >= 5 * P) assertEquals(before[t * rows + r], y[t * rows + r]);
        else assertEquals(ScalarKernels.dot(w, r * cols, x, t * cols, cols), y[t * rows + r], 1e-4f);
      }
    }
  }

  @Test
  void givesEachTokenTheSameBitsWhateverTheBatch() {
    int rows = 7 * P + 2, cols = 37;
    float[] w = random(rows * cols);
    PackedMatrix m = PackedMatrix.pack(w, 0, rows, cols);
    for (int tokens = 1; tokens <= 17; tokens++) {
      float[] x = random(tokens * cols);
      float[] batched = new float[tokens * rows];
      PackedGemm.gemm(m, transposed(x, tokens, cols), tokens, batched, 0, rows, 0, m.blocks(), false);
      for (int t = 0; t < tokens; t++) {
        float[] alone = new float[rows];
        PackedGemm.gemm(m, Arrays.copyOfRange(x, t * cols, (t + 1) * cols), 1, alone, 0, rows, 0, m.blocks(), false);
        assertArrayEquals(alone, Arrays.copyOfRange(batched, t * rows, (t + 1) * rows), "token " + t + " of " + tokens);
      }
    }
  }
}
