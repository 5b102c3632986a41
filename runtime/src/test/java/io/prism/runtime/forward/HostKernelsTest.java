package io.prism.runtime.forward;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class HostKernelsTest {
  private static final int[] SIZES = {1, 2, 3, 7, 15, 16, 17, 31, 33, 48, 63, 64, 65, 100, 173, 291};
  private final SplittableRandom rnd = new SplittableRandom(42);

  private float[] random(int n) {
    return TestWeights.fill(rnd, n, 1f);
  }

  private static void assertClose(float[] expected, float[] actual, float tol) {
    assertEquals(expected.length, actual.length);
    for (int i = 0; i < expected.length; i++) {
      float e = expected[i], a = actual[i];
      assertEquals(e, a, tol * Math.max(1f, Math.abs(e)), "element " + i);
    }
  }

  @Test
  void dotMatchesScalarAtOddSizesAndOffsets() {
    for (int n : SIZES) {
      float[] a = random(n + 5), b = random(n + 3);
      float exp = ScalarKernels.dot(a, 5, b, 3, n);
      assertEquals(exp, HostKernels.dot(a, 5, b, 3, n), 1e-5f * Math.max(1, n), "n=" + n);
    }
  }

  @Test
  void axpyMatchesScalar() {
    for (int n : SIZES) {
      float[] x = random(n + 1), y1 = random(n + 2), y2 = y1.clone();
      ScalarKernels.axpy(0.37f, x, 1, y1, 2, n);
      HostKernels.axpy(0.37f, x, 1, y2, 2, n);
      assertClose(y1, y2, 1e-6f);
    }
  }

  @Test
  void rmsnormMatchesScalar() {
    for (int n : SIZES) {
      float[] x = random(n + 4), w = random(n + 1);
      float[] o1 = new float[n + 2], o2 = new float[n + 2];
      ScalarKernels.rmsnorm(o1, 2, x, 4, w, 1, n, 1e-5f);
      HostKernels.rmsnorm(o2, 2, x, 4, w, 1, n, 1e-5f);
      assertClose(o1, o2, 1e-5f);
    }
  }

  @Test
  void softmaxMatchesScalarAndSumsToOne() {
    for (int n : SIZES) {
      float[] a = random(n + 3);
      for (int i = 0; i < a.length; i++) a[i] *= 10;
      float[] b = a.clone();
      ScalarKernels.softmax(a, 3, n);
      HostKernels.softmax(b, 3, n);
      assertClose(a, b, 1e-6f);
      double sum = 0;
      for (int i = 3; i < n + 3; i++) sum += b[i];
      assertEquals(1.0, sum, 1e-5);
    }
  }

  @Test
  void ropeMatchesScalar() {
    for (int headDim : new int[] {2, 6, 8, 48, 64}) {
      int n = headDim * 3;
      float[] v1 = random(n + 1), v2 = v1.clone();
      float[] cos = random(headDim / 2 + 2), sin = random(headDim / 2 + 2);
      ScalarKernels.rope(v1, 1, n, headDim, cos, sin, 2);
      HostKernels.rope(v2, 1, n, headDim, cos, sin, 2);
      assertClose(v1, v2, 1e-6f);
    }
  }

  @Test
  void siluMulMatchesScalar() {
    for (int n : SIZES) {
      float[] a1 = random(n), b = random(n + 1), a2 = a1.clone();
      ScalarKernels.siluMul(a1, 0, b, 1, n);
      HostKernels.siluMul(a2, 0, b, 1, n);
      assertClose(a1, a2, 1e-6f);
    }
  }

  @Test
  void gemmMatchesScalarForEveryTileShape() {
    for (int in : new int[] {1, 5, 16, 17, 48, 63, 100}) {
      for (int tokens = 1; tokens <= 9; tokens++) {
        for (int rows : new int[] {1, 3, 4, 5, 8, 13}) {
          for (boolean acc : new boolean[] {false, true}) {
            float[] w = random(2 + rows * in), x = random(3 + tokens * (in + 1));
            int yStride = rows + 2;
            float[] y1 = random(1 + tokens * yStride), y2 = y1.clone();
            ScalarKernels.gemm(w, 2, in, x, 3, in + 1, tokens, y1, 1, yStride, 0, rows, acc);
            HostKernels.gemm(w, 2, in, x, 3, in + 1, tokens, y2, 1, yStride, 0, rows, acc);
            assertClose(y1, y2, 1e-5f * Math.max(1, in));
          }
        }
      }
    }
  }

  @Test
  void gemmRowRangeLeavesOtherRowsUntouched() {
    int in = 20, rows = 12, tokens = 5;
    float[] w = random(rows * in), x = random(tokens * in), y = random(tokens * rows), before = y.clone();
    HostKernels.gemm(w, 0, in, x, 0, in, tokens, y, 0, rows, 3, 9, false);
    for (int t = 0; t < tokens; t++) {
      for (int r = 0; r < rows; r++) {
        if (r < 3 || r >= 9) assertEquals(before[t * rows + r], y[t * rows + r]);
        else assertEquals(ScalarKernels.dot(w, r * in, x, t * in, in), y[t * rows + r], 1e-4f);
      }
    }
  }

  @Test
  void gemmGivesEachTokenTheSameBitsWhateverTheBatch() {
    int in = 77, rows = 11;
    for (int tokens = 1; tokens <= 9; tokens++) {
      float[] w = random(rows * in), x = random(tokens * in);
      float[] batched = new float[tokens * rows];
      HostKernels.gemm(w, 0, in, x, 0, in, tokens, batched, 0, rows, 0, rows, false);
      for (int t = 0; t < tokens; t++) {
        float[] alone = new float[rows];
        HostKernels.gemm(w, 0, in, x, t * in, in, 1, alone, 0, rows, 0, rows, false);
        float[] slice = java.util.Arrays.copyOfRange(batched, t * rows, (t + 1) * rows);
        assertArrayEquals(alone, slice, "token " + t + " of " + tokens);
      }
    }
  }
}
