package io.prism.runtime.sampling;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class SamplerTest {
  private static SamplingParams params(float temperature, float topP, int topK) {
    return new SamplingParams(temperature, topP, topK, 1L, 16, List.of(), false);
  }

  private static float[] randomLogits(int n, long seed) {
    SplittableRandom r = new SplittableRandom(seed);
    float[] l = new float[n];
    for (int i = 0; i < n; i++) l[i] = (float) (r.nextGaussian() * 3);
    return l;
  }

  private static int argmaxByHand(float[] l) {
    int best = 0;
    for (int i = 1; i < l.length; i++) if (l[i] > l[best]) best = i;
    return best;
  }

  @Test
  void greedyPicksTheLargestLogitAndTheLowestIdOnTies() {
    float[] l = randomLogits(1000, 3);
    assertEquals(argmaxByHand(l), Sampler.sample(l, SamplingParams.greedy(1), new SplittableRandom(0)));
    float[] tie = {0f, 5f, 1f, 5f};
    assertEquals(1, Sampler.sample(tie, SamplingParams.greedy(1), new SplittableRandom(0)));
  }

  @Test
  void sameSeedGivesSameTokenSequenceAndOtherSeedsDiffer() {
    SamplingParams p = params(1.0f, 0.9f, 0);
    float[][] steps = new float[200][];
    for (int i = 0; i < steps.length; i++) steps[i] = randomLogits(300, 100 + i);
    int[] a = draw(steps, p, 7), b = draw(steps, p, 7), c = draw(steps, p, 8);
    assertArrayEquals(a, b);
    assertNotEquals(java.util.Arrays.toString(a), java.util.Arrays.toString(c));
  }

  private static int[] draw(float[][] steps, SamplingParams p, long seed) {
    SplittableRandom rng = new SplittableRandom(seed);
    int[] out = new int[steps.length];
    for (int i = 0; i < steps.length; i++) out[i] = Sampler.sample(steps[i], p, rng);
    return out;
  }

  @Test
  void topKOfOneAndTinyTopPAreGreedy() {
    SplittableRandom rng = new SplittableRandom(5);
    for (int i = 0; i < 50; i++) {
      float[] l = randomLogits(500, i);
      int greedy = argmaxByHand(l);
      assertEquals(greedy, Sampler.sample(l, params(1.5f, 1f, 1), rng));
      assertEquals(greedy, Sampler.sample(l, params(1.5f, 1e-6f, 0), rng));
      assertEquals(greedy, Sampler.sample(l, params(0.7f, 0.5f, 1), rng));
    }
  }

  @Test
  void leavesTheCallersLogitsUnchanged() {
    float[] l = randomLogits(100, 1);
    float[] copy = l.clone();
    Sampler.sample(l, params(0.8f, 0.9f, 10), new SplittableRandom(1));
    Sampler.sample(l, params(0.8f, 1f, 0), new SplittableRandom(1));
    assertArrayEquals(copy, l);
  }

  /** Empirical frequencies over many draws match softmax(logits / T), after top-k / top-p truncation. */
  @Test
  void drawsFollowTheTruncatedDistribution() {
    float[] l = {2.0f, 1.0f, 0.5f, 0.0f, -1.0f, 3.0f};
    float temperature = 0.8f;
    double[] p = new double[l.length];
    double sum = 0;
    for (int i = 0; i < l.length; i++) sum += p[i] = Math.exp(l[i] / temperature);
    for (int i = 0; i < l.length; i++) p[i] /= sum;
    // order by probability: 5, 0, 1, 2, 3, 4
    int[] order = {5, 0, 1, 2, 3, 4};
    checkFrequencies(l, params(temperature, 1f, 0), p);
    double[] top3 = truncate(p, order, 3);
    checkFrequencies(l, params(temperature, 1f, 3), top3);
    // nucleus: smallest prefix whose mass reaches topP
    double topP = p[5] + p[0] + 0.5 * p[1];
    checkFrequencies(l, params(temperature, (float) topP, 0), truncate(p, order, 3));
  }

  private static double[] truncate(double[] p, int[] order, int keep) {
    double[] q = new double[p.length];
    double mass = 0;
    for (int i = 0; i < keep; i++) mass += p[order[i]];
    for (int i = 0; i < keep; i++) q[order[i]] = p[order[i]] / mass;
    return q;
  }

  private static void checkFrequencies(float[] logits, SamplingParams params, double[] expected) {
    int n = 200_000;
    int[] counts = new int[logits.length];
    SplittableRandom rng = new SplittableRandom(12345);
    for (int i = 0; i < n; i++) counts[Sampler.sample(logits, params, rng)]++;
    for (int i = 0; i < logits.length; i++) {
      double f = counts[i] / (double) n;
      double sigma = Math.sqrt(expected[i] * (1 - expected[i]) / n);
      assertTrue(Math.abs(f - expected[i]) <= 5 * sigma + 1e-9,
          "token " + i + ": frequency " + f + " expected " + expected[i] + " with " + params);
    }
  }
}
