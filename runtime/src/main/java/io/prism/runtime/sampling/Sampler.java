package io.prism.runtime.sampling;

import java.util.Arrays;
import java.util.random.RandomGenerator;

/**
 * Picks the next token from a row of logits.
 *
 * <ul>
 *   <li>{@code temperature == 0}: greedy argmax; on ties the lowest token id wins. No random number
 *       is drawn.
 *   <li>otherwise: {@code softmax(logits / temperature)}; then, if {@code minP > 0}, only tokens
 *       with probability {@code >= minP * pmax} stay (vLLM's {@code min_p}; {@code pmax} is the largest
 *       probability); then, if {@code topK > 0}, only the {@code topK} most likely of those stay; then,
 *       if {@code topP < 1}, nucleus sampling as in llama2.c's {@code sample_topp} (Karpathy, {@code
 *       run.c}; Holtzman et al., "The Curious Case of Neural Text Degeneration", 2019): candidates
 *       sorted by probability descending (ties: lower id first), keep the smallest prefix whose
 *       cumulative mass is {@code >= topP} times the mass left by min-p and top-k (1 when neither is
 *       on); finally one draw {@code u = rng.nextFloat()} picks the token where the cumulative mass
 *       of the kept candidates first exceeds {@code u} times their total.
 * </ul>
 *
 * <p>Penalties and {@code logit_bias} are not applied here: the engine applies {@link
 * LogitAdjustment} to the row first. {@link #logprobs} reports the distribution this class draws
 * from before its truncations (see there).
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
    boolean minP = p.minP() > 0f;
    if (!topK && !topP && !minP) return sampleAll(probs, coin);
    float floor = minP ? p.minP() * (1f / sum) : 0f; // the largest probability is exp(0) / sum
    long[] keys = topK ? atLeast(topKKeys(probs, p.topK()), floor)
        : candidateKeys(probs, minP ? floor : (1f - p.topP()) / (n - 1)); // llama2.c's pre-filter holds only over the whole mass
    Arrays.sort(keys); // probability descending, then id ascending
    int last = keys.length - 1;
    if (topP) {
      float total = 1f; // the whole distribution, or only the min-p / top-k survivors
      if (topK || minP) {
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

  /**
   * Log probabilities of {@code chosen} and of the {@code topN} most likely tokens under {@code
   * softmax(logits / t)}, where {@code t} is {@code temperature}, or 1 for greedy decoding ({@code
   * temperature == 0}). {@code logits} are the processed ones the sampler draws from (after {@link
   * LogitAdjustment}); min-p, top-k and top-p truncation are <em>not</em> applied, so the chosen
   * token's value is always finite and the alternatives are the most likely tokens of the tempered
   * distribution. (vLLM by default reports the raw model output's log-softmax, before any
   * processing; its {@code logprobs_mode=processed_logprobs} is the closest to this.) Computed in
   * double: {@code lp(i) = z_i - (max z + log sum exp(z - max z))}, so the probabilities of any
   * subset sum to at most 1 (up to float rounding of each value).
   *
   * @param logits {@code [vocabSize]}, not modified
   * @param topN alternatives in {@code [0, 20]}; ordered by logit descending, ties by lower id
   * @throws IllegalArgumentException if {@code chosen} is outside the row or {@code topN} out of range
   */
  public static TokenLogprobs logprobs(float[] logits, float temperature, int chosen, int topN) {
    int n = logits.length;
    if (chosen < 0 || chosen >= n) throw new IllegalArgumentException("chosen token " + chosen + " outside [0, " + n + ")");
    if (topN < 0 || topN > SamplingParams.MAX_TOP_LOGPROBS) throw new IllegalArgumentException("topN must be in [0, 20], got " + topN);
    double inv = temperature == 0f ? 1.0 : 1.0 / temperature;
    float max = Float.NEGATIVE_INFINITY;
    for (float x : logits) if (x > max) max = x;
    double sum = 0;
    for (float x : logits) sum += Math.exp((x - (double) max) * inv);
    double logZ = Math.log(sum); // relative to max * inv
    int k = Math.min(topN, n);
    int[] ids = new int[k];
    float[] vals = new float[k];
    int size = 0;
    for (int i = 0; i < n && k > 0; i++) { // insertion into the k best, scanning ids upwards (ties keep the lower id)
      float x = logits[i];
      if (size == k && !(x > vals[k - 1])) continue;
      int j = size < k ? size++ : k - 1;
      while (j > 0 && x > vals[j - 1]) {
        vals[j] = vals[j - 1];
        ids[j] = ids[j - 1];
        j--;
      }
      vals[j] = x;
      ids[j] = i;
    }
    float[] lps = new float[size];
    for (int i = 0; i < size; i++) lps[i] = (float) ((vals[i] - (double) max) * inv - logZ);
    float lp = (float) ((logits[chosen] - (double) max) * inv - logZ);
    return new TokenLogprobs(chosen, lp, java.util.Arrays.copyOf(ids, size), lps);
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

  /** The keys of {@code keys} whose probability is {@code >= floor} (min-p after top-k; the most likely always stays). */
  private static long[] atLeast(long[] keys, float floor) {
    if (floor <= 0f) return keys;
    long[] out = new long[keys.length];
    int m = 0;
    long best = keys[0];
    for (long k : keys) {
      if (prob(k) >= floor) out[m++] = k;
      best = Math.min(best, k);
    }
    return m == 0 ? new long[] {best} : Arrays.copyOf(out, m);
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
