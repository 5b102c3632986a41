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
  void biasAddAndPerHeadNormMatchScalar() {
    for (int n : SIZES) {
      float[] y1 = random(n + 3), y2 = y1.clone(), b = random(n + 1);
      HostKernels.add(y1, 3, b, 1, n);
      ScalarKernels.add(y2, 3, b, 1, n);
      assertArrayEquals(y2, y1, 0f);
    }
    for (int headDim : new int[] {16, 24, 64, 128}) {
      int n = 3 * headDim;
      float[] v1 = random(n + 2), v2 = v1.clone(), w = random(headDim + 5);
      HostKernels.headNorm(v1, 2, n, headDim, w, 5, 1e-6f);
      ScalarKernels.headNorm(v2, 2, n, headDim, w, 5, 1e-6f);
      assertClose(v2, v1, 1e-5f);
      float ss = 0;
      for (int i = 0; i < headDim; i++) ss += v2[2 + headDim + i] / w[5 + i] * (v2[2 + headDim + i] / w[5 + i]);
      assertEquals(headDim, ss, headDim * 1e-3f, "each head has unit RMS before the weights");
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
  void attentionRowKernelsMatchScalar() {
    for (int width : new int[] {8, 16, 48, 64, 70, 128}) {
      for (int n : new int[] {1, 5, 15, 16, 17, 33}) {
        for (int readable : new int[] {n, (n + 15) / 16 * 16}) {
          int stride = width * 3 + 1;
          float[] q = random(width + 2), src = random(4 + readable * stride), w = random(n + 3);
          float[] s1 = new float[n + 17], s2 = new float[n + 17];
          ScalarKernels.dotRows(q, 2, src, 4, stride, n, readable, width, 0.125f, s1, 1, new float[256]);
          HostKernels.dotRows(q, 2, src, 4, stride, n, readable, width, 0.125f, s2, 1, new float[256]);
          assertClose(java.util.Arrays.copyOf(s1, n + 1), java.util.Arrays.copyOf(s2, n + 1), 1e-5f * width);
          float[] o1 = random(width + 5), o2 = o1.clone();
          ScalarKernels.accumulateRows(w, 3, n, src, 4, stride, width, o1, 0);
          HostKernels.accumulateRows(w, 3, n, src, 4, stride, width, o2, 0);
          assertClose(o1, o2, 1e-5f * n);
        }
      }
    }
  }

}
