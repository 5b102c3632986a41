package io.prism.runtime.sampling;

import java.util.List;

/**
 * How to pick each next token and when to stop (OpenAI / vLLM semantics).
 *
 * @param temperature 0 means greedy (argmax); otherwise logits are divided by it before softmax
 * @param topP nucleus sampling mass in (0, 1]; 1 disables
 * @param topK keep only the k most likely tokens; 0 disables
 * @param seed per-request seed; the same seed and inputs give the same output; {@code null} means
 *     a fresh random seed
 * @param maxTokens maximum tokens to generate (at least 1)
 * @param stop stop strings; generation ends before the first occurrence, which is not emitted
 * @param ignoreEos keep generating past EOS (benchmarks)
 * @throws IllegalArgumentException naming the field that is out of range
 */
public record SamplingParams(float temperature, float topP, int topK, Long seed, int maxTokens, List<String> stop, boolean ignoreEos) {
  public SamplingParams {
    if (!(temperature >= 0) || Float.isInfinite(temperature)) throw new IllegalArgumentException("temperature must be >= 0, got " + temperature);
    if (!(topP > 0 && topP <= 1)) throw new IllegalArgumentException("top_p must be in (0, 1], got " + topP);
    if (topK < 0) throw new IllegalArgumentException("top_k must be >= 0, got " + topK);
    if (maxTokens < 1) throw new IllegalArgumentException("max_tokens must be >= 1, got " + maxTokens);
    stop = stop == null ? List.of() : List.copyOf(stop);
    for (String s : stop) if (s.isEmpty()) throw new IllegalArgumentException("stop strings must not be empty");
  }

  /** Greedy decoding of up to {@code maxTokens} tokens, no stop strings. */
  public static SamplingParams greedy(int maxTokens) {
    return new SamplingParams(0f, 1f, 0, 0L, maxTokens, List.of(), false);
  }
}
