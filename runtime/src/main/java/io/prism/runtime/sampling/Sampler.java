package io.prism.runtime.sampling;

import java.util.Arrays;
import java.util.random.RandomGenerator;

/**
 * Picks the next token from a row of logits.
 *
 * <ul>
 *   <li>{@code temperature == 0}: greedy argmax; on ties the lowest token id wins. No random number
 *       is drawn.
 *   <li>otherwise: {@code softmax(logits / temperature)}; then, if {@code topK > 0}, only the
 *       {@code topK} most likely tokens stay; then, if {@code topP < 1}, nucleus sampling as in
 *       llama2.c's {@code sample_topp} (Karpathy, {@code run.c}; Holtzman et al., "The Curious Case
 *       of Neural Text Degeneration", 2019): candidates sorted by probability descending (ties: lower
 *       id first), keep the smallest prefix whose cumulative mass is {@code >= topP} (mass measured
 *       over the top-k survivors when top-k is on); finally one draw {@code u = rng.nextFloat()}
 *       picks the token where the cumulative mass of the kept candidates first exceeds {@code u}
 *       times their total.
 * </ul>
 *
 * <p>Exactly one {@code nextFloat()} is drawn per non-greedy call, so a generator seeded the same
 * way gives the same token sequence. The caller's {@code logits} array is never modified (a copy
 * holds the probabilities). Stateless and thread-safe; the generator is the caller's.
 */
public final class Sampler {
  private Sampler() {}

  /**
   * @param logits unnormalised scores, {@code [vocabSize]}; not modified
   * @param p temperature, top-k and top-p (other fields are ignored here)
   * @param rng source of the one uniform draw (unused when greedy)
   * @return the chosen token id in {@code [0, logits.length)}
   * @throws IllegalArgumentException if {@code logits} is empty
   */
  public static int sample(float[] logits, SamplingParams p, RandomGenerator rng) {
    if (logits == null || logits.length == 0) throw new IllegalArgumentException("logits must not be empty");
    if (p.temperature() == 0f) return argmax(logits);
    int n = logits.length;
    float[] probs = new float[n];
    float inv = 1f / p.temperature();
    float max = Float.NEGATIVE_INFINITY;
    for (int i = 0; i < n; i++) {
      probs[i] = logits[i] * inv;
      max = Math.max(max, probs[i]);
    }
    float sum = 0f;
    for (int i = 0; i < n; i++) {
      probs[i] = (float) Math.exp(probs[i] - max);
      sum += probs[i];
    }
    for (int i = 0; i < n; i++) probs[i] /= sum;
    float coin = rng.nextFloat();
    boolean topK = p.topK() > 0 && p.topK() < n;
    boolean topP = p.topP() < 1f;
    if (!topK && !topP) return sampleAll(probs, coin);
    long[] keys = topK ? topKKeys(probs, p.topK()) : candidateKeys(probs, (1f - p.topP()) / (n - 1));
    Arrays.sort(keys); // probability descending, then id ascending
    int last = keys.length - 1;
    if (topP) {
      float total = 1f; // the whole distribution, or only the top-k survivors
      if (topK) {
        total = 0f;
        for (long key : keys) total += prob(key);
      }
      float target = p.topP() * total;
      float cumulative = 0f;
      for (int i = 0; i < keys.length; i++) {
        cumulative += prob(keys[i]);
        if (cumulative >= target) {
          last = i;
          break;
        }
      }
    }
    float kept = 0f;
    for (int i = 0; i <= last; i++) kept += prob(keys[i]);
    float r = coin * kept;
    float cdf = 0f;
    for (int i = 0; i <= last; i++) {
      cdf += prob(keys[i]);
      if (r < cdf) return id(keys[i]);
    }
    return id(keys[last]);
  }

  /** Index of the largest value; the lowest index among equal maxima. */
  public static int argmax(float[] v) {
    int best = 0;
    float bestV = v[0];
    for (int i = 1; i < v.length; i++) {
      if (v[i] > bestV) {
        bestV = v[i];
        best = i;
      }
    }
    return best;
  }

  private static int sampleAll(float[] probs, float coin) {
    float cdf = 0f;
    for (int i = 0; i < probs.length; i++) {
      cdf += probs[i];
      if (coin < cdf) return i;
    }
    return probs.length - 1; // rounding
  }

  // A candidate is a long whose natural order is (probability descending, id ascending):
  // high 32 bits = Integer.MAX_VALUE - floatBits(prob) (prob >= 0, so its bits order like the value), low 32 bits = id.
  private static long key(float prob, int id) {
    return ((long) (Integer.MAX_VALUE - Float.floatToRawIntBits(prob)) << 32) | id;
  }

  private static float prob(long key) {
    return Float.intBitsToFloat(Integer.MAX_VALUE - (int) (key >>> 32));
  }

  private static int id(long key) {
    return (int) key;
  }

  /** Candidates with probability {@code >= cutoff} (llama2.c's pre-filter: tokens below it can never be in the nucleus). */
  private static long[] candidateKeys(float[] probs, float cutoff) {
    long[] keys = new long[probs.length];
    int m = 0;
    for (int i = 0; i < probs.length; i++) if (probs[i] >= cutoff) keys[m++] = key(probs[i], i);
    if (m == 0) { // cannot happen for a normalised distribution; keep the argmax to be safe
      int a = argmax(probs);
      return new long[] {key(probs[a], a)};
    }
    return Arrays.copyOf(keys, m);
  }

  /** The {@code k} best candidates (unsorted), via a heap whose root is the worst kept one. */
  private static long[] topKKeys(float[] probs, int k) {
    long[] heap = new long[k]; // max-heap on key = worst candidate (largest key) at the root
    int size = 0;
    for (int i = 0; i < probs.length; i++) {
      long key = key(probs[i], i);
      if (size < k) {
        int j = size++;
        heap[j] = key;
        while (j > 0) {
          int parent = (j - 1) >> 1;
          if (heap[parent] >= heap[j]) break;
          long tmp = heap[parent];
          heap[parent] = heap[j];
          heap[j] = tmp;
          j = parent;
        }
      } else if (key < heap[0]) {
        heap[0] = key;
        int j = 0;
        while (true) {
          int l = 2 * j + 1, r = l + 1, big = j;
          if (l < k && heap[l] > heap[big]) big = l;
          if (r < k && heap[r] > heap[big]) big = r;
          if (big == j) break;
          long tmp = heap[big];
          heap[big] = heap[j];
          heap[j] = tmp;
          j = big;
        }
      }
    }
    return heap;
  }
}
