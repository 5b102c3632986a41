package io.prism.runtime.sampling;

import java.util.Arrays;
import java.util.Map;

/**
 * The sparse, per-row change that {@code logit_bias} and the three penalties make to a row of
 * logits before temperature: only the tokens with a bias or seen by the sequence change, each by
 *
 * <pre>
 *   y  = x + bias[t]                                    (OpenAI logit_bias: added to the logit)
 *   y' = y > 0 ? y * (1 / r) : y * r   if t was seen     (repetition penalty r over prompt and output,
 *                                                        CTRL's rule as vLLM applies it)
 *   x' = y' - frequency * count[t] - presence * (count[t] > 0)   (OpenAI's penalties over the output)
 * </pre>
 *
 * in that order (vLLM v1 applies logit bias before its penalties; OpenAI's documented formula for
 * frequency and presence). Each entry is stored as {@code (token, pre, scalePositive,
 * scaleNegative, post)} with {@code x' = (x + pre) * (x + pre > 0 ? scalePositive : scaleNegative) +
 * post}, computed in float with one rounding per operation, so the CUDA kernel ({@code
 * adjust_logits}, which uses {@code __fmul_rn}/{@code __fadd_rn}) gives the same bits as {@link
 * #apply}. Tokens in an adjustment are distinct.
 *
 * <p>Immutable once built. Threading: any.
 */
public final class LogitAdjustment {
  private static final LogitAdjustment NONE = new LogitAdjustment(new int[0], new float[0], new float[0], new float[0], new float[0]);
  private final int[] tokens;
  private final float[] pre, scalePositive, scaleNegative, post;

  private LogitAdjustment(int[] tokens, float[] pre, float[] scalePositive, float[] scaleNegative, float[] post) {
    this.tokens = tokens;
    this.pre = pre;
    this.scalePositive = scalePositive;
    this.scaleNegative = scaleNegative;
    this.post = post;
  }

  /** The adjustment that changes nothing. */
  public static LogitAdjustment none() {
    return NONE;
  }

  /**
   * The adjustment of {@code p}'s bias and penalties for a sequence that has seen {@code counts}.
   *
   * @param counts the sequence's tokens (with the prompt tracked when {@code repetitionPenalty != 1});
   *     may be null when {@code p} has no penalty
   */
  public static LogitAdjustment of(SamplingParams p, TokenCounts counts) {
    if (!p.adjustsLogits()) return NONE;
    boolean repetition = p.repetitionPenalty() != 1f, outputPenalty = p.presencePenalty() != 0f || p.frequencyPenalty() != 0f;
    int seen = counts == null || (!repetition && !outputPenalty) ? 0 : counts.distinct();
    Map<Integer, Float> bias = p.logitBias();
    int cap = seen + bias.size();
    int[] tok = new int[cap];
    float[] a = new float[cap], sp = new float[cap], sn = new float[cap], b = new float[cap];
    int m = 0;
    java.util.Set<Integer> biasUsed = bias.isEmpty() ? java.util.Set.of() : new java.util.HashSet<>();
    float rPos = 1f / p.repetitionPenalty(), rNeg = p.repetitionPenalty();
    for (int i = 0; i < seen; i++) {
      int c = counts.outputCount(i);
      boolean wasSeen = c > 0 || counts.inPrompt(i);
      if (!(repetition && wasSeen) && c == 0) continue; // only a prompt token, and no repetition penalty
      int t = counts.token(i);
      Float bv = bias.get(t);
      if (bv != null) biasUsed.add(t);
      tok[m] = t;
      a[m] = bv == null ? 0f : bv;
      sp[m] = repetition ? rPos : 1f;
      sn[m] = repetition ? rNeg : 1f;
      b[m] = -(p.frequencyPenalty() * c) - (c > 0 ? p.presencePenalty() : 0f);
      m++;
    }
    for (Map.Entry<Integer, Float> e : bias.entrySet()) {
      if (biasUsed.contains(e.getKey())) continue;
      tok[m] = e.getKey();
      a[m] = e.getValue();
      sp[m] = 1f;
      sn[m] = 1f;
      b[m] = 0f;
      m++;
    }
    if (m == 0) return NONE;
    return new LogitAdjustment(Arrays.copyOf(tok, m), Arrays.copyOf(a, m), Arrays.copyOf(sp, m), Arrays.copyOf(sn, m), Arrays.copyOf(b, m));
  }

  /** The adjusted value of one logit {@code x} (see the class comment). */
  public static float adjust(float x, float pre, float scalePositive, float scaleNegative, float post) {
    float y = x + pre;
    return y * (y > 0f ? scalePositive : scaleNegative) + post;
  }

  /**
   * Applies the adjustment to {@code logits} in place.
   *
   * @throws IllegalArgumentException if a token is outside the row
   */
  public void apply(float[] logits) {
    for (int i = 0; i < tokens.length; i++) {
      int t = tokens[i];
      if (t >= logits.length) throw new IllegalArgumentException("token " + t + " outside a row of " + logits.length + " logits");
      logits[t] = adjust(logits[t], pre[i], scalePositive[i], scaleNegative[i], post[i]);
    }
  }

  /** Tokens changed. */
  public int size() {
    return tokens.length;
  }

  /** Whether nothing changes. */
  public boolean isEmpty() {
    return tokens.length == 0;
  }

  /** Token of entry {@code i}. */
  public int token(int i) {
    return tokens[i];
  }

  /** Added before the repetition scale. */
  public float pre(int i) {
    return pre[i];
  }

  /** Scale of a positive value (1 / repetition penalty, or 1). */
  public float scalePositive(int i) {
    return scalePositive[i];
  }

  /** Scale of a value {@code <= 0} (repetition penalty, or 1). */
  public float scaleNegative(int i) {
    return scaleNegative[i];
  }

  /** Added after the scale (minus the frequency and presence penalties). */
  public float post(int i) {
    return post[i];
  }
}
