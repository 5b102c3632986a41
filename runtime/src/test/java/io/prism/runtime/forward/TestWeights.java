package io.prism.runtime.forward;

import io.prism.runtime.model.ModelConfig;
import io.prism.runtime.model.ModelWeights;
import java.util.SplittableRandom;

/** Seeded random weights for small test models (scaled so activations stay O(1)). */
final class TestWeights {
  private TestWeights() {}

  static ModelWeights random(ModelConfig c, long seed) {
    SplittableRandom r = new SplittableRandom(seed);
    int l = c.numLayers(), d = c.dim(), h = c.hiddenDim(), kv = c.kvDim(), v = c.vocabSize();
    float[] emb = fill(r, (long) v * d, 1f);
    float[] cls = c.sharedClassifier() ? emb : fill(r, (long) v * d, (float) (1 / Math.sqrt(d)));
    return new ModelWeights(c, emb,
        norm(r, (long) l * d), fill(r, (long) l * d * d, scale(d)), fill(r, (long) l * kv * d, scale(d)),
        fill(r, (long) l * kv * d, scale(d)), fill(r, (long) l * d * d, scale(d)), norm(r, (long) l * d),
        fill(r, (long) l * h * d, scale(d)), fill(r, (long) l * d * h, scale(h)), fill(r, (long) l * h * d, scale(d)),
        norm(r, d), cls);
  }

  static float[] fill(SplittableRandom r, long n, float scale) {
    float[] a = new float[(int) n];
    for (int i = 0; i < a.length; i++) a[i] = (float) ((r.nextDouble() * 2 - 1) * scale);
    return a;
  }

  static float[] norm(SplittableRandom r, long n) {
    float[] a = new float[(int) n];
    for (int i = 0; i < a.length; i++) a[i] = (float) (0.5 + r.nextDouble());
    return a;
  }

  private static float scale(int in) {
    return (float) (1.7 / Math.sqrt(in));
  }
}
