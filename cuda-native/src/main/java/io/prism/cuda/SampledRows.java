package io.prism.cuda;

import io.prism.runtime.sampling.LogitAdjustment;
import io.prism.runtime.sampling.SamplingParams;
import io.prism.runtime.sampling.TokenLogprobs;

/**
 * What {@link ChunkedStep} needs to sample a step's rows on the device and what it hands back, per
 * batch entry: the sampling parameters as {@code sample_rows} reads them (8 floats: temperature,
 * topP, topK, coin, minP, 0, 0, 0), the sparse bias and penalties, how many top log probabilities
 * (-1: none), and the log probabilities read back. Threading: the device thread.
 */
final class SampledRows {
  final float[] params; // [entries * 8]
  final LogitAdjustment[] adjustments; // [entries], entries may be null
  final int[] topLogprobs; // [entries], -1 when not asked
  final TokenLogprobs[] logprobs; // [entries], filled for entries with topLogprobs >= 0

  private SampledRows(int n, LogitAdjustment[] adjustments, TokenLogprobs[] logprobs) {
    this.params = new float[8 * n];
    this.adjustments = adjustments;
    this.topLogprobs = new int[n];
    java.util.Arrays.fill(topLogprobs, -1);
    this.logprobs = logprobs;
  }

  /**
   * @param wanted per entry, whether it is sampled (its params must then be non-null)
   * @throws IllegalArgumentException if a wanted entry has no params
   */
  static SampledRows of(boolean[] wanted, SamplingParams[] params, LogitAdjustment[] adjustments, float[] coins, TokenLogprobs[] out, int vocab) {
    int n = wanted.length;
    SampledRows s = new SampledRows(n, adjustments, out);
    for (int i = 0; i < n; i++) {
      if (!wanted[i]) continue;
      SamplingParams p = params[i];
      if (p == null) throw new IllegalArgumentException("params[" + i + "] is null for an entry wanting logits");
      LogitAdjustment a = adjustments == null ? null : adjustments[i];
      if (a != null) for (int k = 0; k < a.size(); k++) {
        if (a.token(k) >= vocab) throw new IllegalArgumentException("entry " + i + ": adjusted token " + a.token(k) + " outside [0, " + vocab + ")");
      }
      s.params[8 * i] = p.temperature();
      s.params[8 * i + 1] = p.topP();
      s.params[8 * i + 2] = p.topK() > 0 && p.topK() < vocab ? p.topK() : 0;
      s.params[8 * i + 3] = coins[i];
      s.params[8 * i + 4] = p.minP();
      s.topLogprobs[i] = p.logprobs() < 0 ? -1 : Math.min(p.logprobs(), vocab);
    }
    return s;
  }

  LogitAdjustment adjustment(int entry) {
    return adjustments == null ? null : adjustments[entry];
  }
}
