package io.prism.runtime.forward;

import io.prism.runtime.model.ModelConfig;
import io.prism.runtime.model.ModelWeights;

/**
 * Reference forward pass for one sequence, token by token, straight from llama2.c's run.c: plain
 * loops, contiguous K/V arrays, no paging, no batching. Test oracle for {@link HostForwardBackend}.
 */
final class NaiveForward {
  private final ModelWeights w;
  private final ModelConfig c;
  private final float[][] keyCache; // [layer][pos * kvDim]
  private final float[][] valueCache;

  NaiveForward(ModelWeights w) {
    this.w = w;
    this.c = w.config;
    keyCache = new float[c.numLayers()][c.maxSeqLen() * c.kvDim()];
    valueCache = new float[c.numLayers()][c.maxSeqLen() * c.kvDim()];
  }

  /** Logits after feeding {@code token} at {@code pos} (positions before must have been fed). */
  float[] forward(int token, int pos) {
    int d = c.dim(), kvDim = c.kvDim(), hd = c.headDim(), hidden = c.hiddenDim();
    float[] x = new float[d];
    System.arraycopy(w.tokenEmbedding, token * d, x, 0, d);
    float[] freq = RopeFrequencies.inverseFrequencies(c);
    for (int l = 0; l < c.numLayers(); l++) {
      float[] xb = rmsnorm(x, w.attnNorm, l * d);
      float[] q = matmul(w.wq, l * d * d, xb, d, d);
      float[] k = matmul(w.wk, l * kvDim * d, xb, kvDim, d);
      float[] v = matmul(w.wv, l * kvDim * d, xb, kvDim, d);
      for (int i = 0; i < d; i += 2) {
        float angle = pos * freq[(i % hd) / 2];
        float fcr = (float) Math.cos(angle), fci = (float) Math.sin(angle);
        float q0 = q[i], q1 = q[i + 1];
        q[i] = q0 * fcr - q1 * fci;
        q[i + 1] = q0 * fci + q1 * fcr;
        if (i < kvDim) {
          float k0 = k[i], k1 = k[i + 1];
          k[i] = k0 * fcr - k1 * fci;
          k[i + 1] = k0 * fci + k1 * fcr;
        }
      }
      System.arraycopy(k, 0, keyCache[l], pos * kvDim, kvDim);
      System.arraycopy(v, 0, valueCache[l], pos * kvDim, kvDim);
      float[] att = new float[d];
      for (int h = 0; h < c.numHeads(); h++) {
        int kvh = h / c.kvGroupSize();
        float[] scores = new float[pos + 1];
        for (int t = 0; t <= pos; t++) {
          float s = 0;
          for (int i = 0; i < hd; i++) s += q[h * hd + i] * keyCache[l][t * kvDim + kvh * hd + i];
          scores[t] = s / (float) Math.sqrt(hd);
        }
        float max = Float.NEGATIVE_INFINITY;
        for (float s : scores) max = Math.max(max, s);
        float sum = 0;
        for (int t = 0; t <= pos; t++) {
          scores[t] = (float) Math.exp(scores[t] - max);
          sum += scores[t];
        }
        for (int t = 0; t <= pos; t++) {
          float a = scores[t] / sum;
          for (int i = 0; i < hd; i++) att[h * hd + i] += a * valueCache[l][t * kvDim + kvh * hd + i];
        }
      }
      float[] o = matmul(w.wo, l * d * d, att, d, d);
      for (int i = 0; i < d; i++) x[i] += o[i];
      xb = rmsnorm(x, w.ffnNorm, l * d);
      float[] h1 = matmul(w.w1, l * hidden * d, xb, hidden, d);
      float[] h3 = matmul(w.w3, l * hidden * d, xb, hidden, d);
      for (int i = 0; i < hidden; i++) h1[i] = h1[i] / (1f + (float) Math.exp(-h1[i])) * h3[i];
      float[] down = matmul(w.w2, l * d * hidden, h1, d, hidden);
      for (int i = 0; i < d; i++) x[i] += down[i];
    }
    x = rmsnorm(x, w.finalNorm, 0);
    return matmul(w.classifier, 0, x, c.vocabSize(), d);
  }

  private float[] rmsnorm(float[] x, float[] weight, int off) {
    float ss = 0;
    for (float v : x) ss += v * v;
    ss = 1f / (float) Math.sqrt(ss / x.length + c.normEps());
    float[] o = new float[x.length];
    for (int i = 0; i < x.length; i++) o[i] = weight[off + i] * (ss * x[i]);
    return o;
  }

  private static float[] matmul(float[] m, int off, float[] x, int rows, int cols) {
    float[] y = new float[rows];
    for (int r = 0; r < rows; r++) {
      float s = 0;
      for (int i = 0; i < cols; i++) s += m[off + r * cols + i] * x[i];
      y[r] = s;
    }
    return y;
  }
}
