package io.prism.runtime.sampling;

import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * How to pick each next token and when to stop (OpenAI / vLLM semantics). The order in which the
 * fields act on a row of logits is {@link LogitAdjustment}'s (bias, repetition, frequency and
 * presence penalties), then {@link Sampler}'s (temperature, min-p, top-k, top-p).
 *
 * @param temperature 0 means greedy (argmax); otherwise logits are divided by it before softmax
 * @param topP nucleus sampling mass in (0, 1]; 1 disables
 * @param topK keep only the k most likely tokens; 0 disables
 * @param seed per-request seed; the same seed and inputs give the same output; {@code null} means
 *     a fresh random seed. With {@code n > 1}, choice {@code i} uses {@code seed + i} ({@link #choiceSeed})
 * @param maxTokens maximum tokens to generate (at least 1), per choice
 * @param stop stop strings; generation ends before the first occurrence, which is not emitted
 * @param ignoreEos keep generating past EOS (benchmarks)
 * @param minP in [0, 1]: drop tokens whose probability is below {@code minP} times the largest one's
 *     (after temperature; vLLM's {@code min_p}); 0 disables
 * @param presencePenalty OpenAI's, in [-2, 2]: subtracted once from the logit of every token that
 *     occurs in the generated tokens
 * @param frequencyPenalty OpenAI's, in [-2, 2]: subtracted from a token's logit once per occurrence
 *     in the generated tokens
 * @param repetitionPenalty vLLM's extension (Keskar et al., "CTRL", 2019, section 4.1), {@code > 0}:
 *     the logit of every token in the prompt or the generated tokens is divided by it when positive,
 *     multiplied by it otherwise; 1 disables
 * @param logitBias OpenAI's {@code logit_bias}: token id to a value in [-100, 100] added to its logit
 *     (ids are checked against the vocabulary at admission); never null (copied, sorted by id)
 * @param logprobs -1: no log probabilities; {@code k} in [0, 20]: report the sampled token's log
 *     probability and the {@code k} most likely alternatives ({@link TokenLogprobs})
 * @param n choices to generate from one prompt, in [1, 128]
 * @throws IllegalArgumentException naming the field that is out of range
 */
public record SamplingParams(float temperature, float topP, int topK, Long seed, int maxTokens, List<String> stop, boolean ignoreEos,
    float minP, float presencePenalty, float frequencyPenalty, float repetitionPenalty, Map<Integer, Float> logitBias, int logprobs, int n) {
  /** The most alternatives {@link #logprobs} may ask for (OpenAI's {@code top_logprobs} bound). */
  public static final int MAX_TOP_LOGPROBS = 20;
  /** The most choices one request may ask for. */
  public static final int MAX_N = 128;

  public SamplingParams {
    if (!(temperature >= 0) || Float.isInfinite(temperature)) throw new IllegalArgumentException("temperature must be >= 0, got " + temperature);
    if (!(topP > 0 && topP <= 1)) throw new IllegalArgumentException("top_p must be in (0, 1], got " + topP);
    if (topK < 0) throw new IllegalArgumentException("top_k must be >= 0, got " + topK);
    if (maxTokens < 1) throw new IllegalArgumentException("max_tokens must be >= 1, got " + maxTokens);
    stop = stop == null ? List.of() : List.copyOf(stop);
    for (String s : stop) if (s.isEmpty()) throw new IllegalArgumentException("stop strings must not be empty");
    if (!(minP >= 0 && minP <= 1)) throw new IllegalArgumentException("min_p must be in [0, 1], got " + minP);
    if (!(presencePenalty >= -2 && presencePenalty <= 2)) throw new IllegalArgumentException("presence_penalty must be in [-2, 2], got " + presencePenalty);
    if (!(frequencyPenalty >= -2 && frequencyPenalty <= 2)) throw new IllegalArgumentException("frequency_penalty must be in [-2, 2], got " + frequencyPenalty);
    if (!(repetitionPenalty > 0) || Float.isInfinite(repetitionPenalty)) {
      throw new IllegalArgumentException("repetition_penalty must be > 0 and finite, got " + repetitionPenalty);
    }
    logitBias = logitBias == null ? Map.of() : new TreeMap<>(logitBias);
    for (Map.Entry<Integer, Float> e : logitBias.entrySet()) {
      if (e.getKey() == null || e.getKey() < 0) throw new IllegalArgumentException("logit_bias keys must be token ids >= 0, got " + e.getKey());
      Float v = e.getValue();
      if (v == null || !(v >= -100 && v <= 100)) throw new IllegalArgumentException("logit_bias values must be in [-100, 100], got " + v + " for " + e.getKey());
    }
    logitBias = Map.copyOf(logitBias);
    if (logprobs < -1 || logprobs > MAX_TOP_LOGPROBS) throw new IllegalArgumentException("logprobs must be in [-1, " + MAX_TOP_LOGPROBS + "], got " + logprobs);
    if (n < 1 || n > MAX_N) throw new IllegalArgumentException("n must be in [1, " + MAX_N + "], got " + n);
  }

  /** Plain sampling: no min-p, penalties, bias or log probabilities; one choice. */
  public SamplingParams(float temperature, float topP, int topK, Long seed, int maxTokens, List<String> stop, boolean ignoreEos) {
    this(temperature, topP, topK, seed, maxTokens, stop, ignoreEos, 0f, 0f, 0f, 1f, Map.of(), -1, 1);
  }

  /** Greedy decoding of up to {@code maxTokens} tokens, no stop strings. */
  public static SamplingParams greedy(int maxTokens) {
    return new SamplingParams(0f, 1f, 0, 0L, maxTokens, List.of(), false);
  }

  /** A copy with min-p and the penalties and bias set. */
  public SamplingParams withProcessing(float minP, float presencePenalty, float frequencyPenalty, float repetitionPenalty, Map<Integer, Float> logitBias) {
    return new SamplingParams(temperature, topP, topK, seed, maxTokens, stop, ignoreEos, minP, presencePenalty, frequencyPenalty, repetitionPenalty,
        logitBias, logprobs, n);
  }

  /** A copy that reports log probabilities with {@code topLogprobs} alternatives (-1: none). */
  public SamplingParams withLogprobs(int topLogprobs) {
    return new SamplingParams(temperature, topP, topK, seed, maxTokens, stop, ignoreEos, minP, presencePenalty, frequencyPenalty, repetitionPenalty,
        logitBias, topLogprobs, n);
  }

  /** A copy with another {@code maxTokens}. */
  public SamplingParams withMaxTokens(int maxTokens) {
    return new SamplingParams(temperature, topP, topK, seed, maxTokens, stop, ignoreEos, minP, presencePenalty, frequencyPenalty, repetitionPenalty,
        logitBias, logprobs, n);
  }

  /** A copy with {@code n} choices. */
  public SamplingParams withN(int n) {
    return new SamplingParams(temperature, topP, topK, seed, maxTokens, stop, ignoreEos, minP, presencePenalty, frequencyPenalty, repetitionPenalty,
        logitBias, logprobs, n);
  }

  /** A copy with another seed ({@code null}: a fresh random one). */
  public SamplingParams withSeed(Long seed) {
    return new SamplingParams(temperature, topP, topK, seed, maxTokens, stop, ignoreEos, minP, presencePenalty, frequencyPenalty, repetitionPenalty,
        logitBias, logprobs, n);
  }

  /**
   * The seed of choice {@code choice}: {@code seed + choice} (two's complement wrap-around), as vLLM
   * derives its parallel-sampling children's seeds; null when the request has no seed. So choice
   * {@code i} of an {@code n}-choice request equals a one-choice request with seed {@code seed + i}.
   */
  public Long choiceSeed(int choice) {
    return seed == null ? null : seed + choice;
  }

  /** Whether {@link LogitAdjustment} changes any logit (a penalty or a bias is set). */
  public boolean adjustsLogits() {
    return presencePenalty != 0f || frequencyPenalty != 0f || repetitionPenalty != 1f || !logitBias.isEmpty();
  }

  /** Whether log probabilities are reported. */
  public boolean wantsLogprobs() {
    return logprobs >= 0;
  }
}
