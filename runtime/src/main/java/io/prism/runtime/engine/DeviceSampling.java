package io.prism.runtime.engine;

import io.prism.runtime.sampling.LogitAdjustment;
import io.prism.runtime.sampling.SamplingParams;
import io.prism.runtime.sampling.TokenLogprobs;

/**
 * Optional capability of a {@link ForwardBackend}: run a forward pass and sample each row's next token
 * on the device, so only one int per row crosses to the host instead of a {@code vocabSize} float row.
 *
 * <p>{@link ModelEngine} uses it only with its default sampler ({@link TokenSampler#HOST}) and only for
 * steps where some row has {@code temperature > 0}, a bias or penalty, or wants log probabilities;
 * all-greedy plain steps keep the plain {@link ForwardBackend#forward} path, and so does the one step
 * per {@code n > 1} request that forks its choices (n tokens from one row). The engine draws each non-greedy row's coin from the sequence's own
 * generator exactly like {@code io.prism.runtime.sampling.Sampler} (one {@code nextFloat()} per
 * non-greedy call, none for greedy), so seeded requests draw the same coins on either path. The
 * device's choice follows the host sampler's distribution (temperature softmax, top-k, then llama2.c's
 * top-p: smallest most-likely set with cumulative mass {@code >= topP}, sampled in index order by
 * {@code coin * keptMass}) but need not be bit-identical to it (float summation order differs).
 *
 * <p>Threading: as the backend's {@code forward} (the engine thread).
 */
public interface DeviceSampling {
  /**
   * Runs {@code batch} and, for each entry with {@code wantLogits}: applies {@code adjustments[i]}
   * to its logits row on the device (sparse: only the listed tokens change, exactly as {@link
   * LogitAdjustment#apply}), samples it (temperature, min-p, top-k, top-p; argmax where {@code
   * temperature == 0}) into {@code next[i]}, and, where {@code params[i].logprobs() >= 0}, writes
   * {@code logprobs[i]}: the sampled token's log probability and the {@code params[i].logprobs()}
   * most likely tokens, computed on the device as {@code io.prism.runtime.sampling.Sampler#logprobs}
   * defines them (within float tolerance). Only the token, and those at most 1 + 2 * 20 numbers, cross
   * to the host per row. Other slots are left as they are.
   *
   * @param params per entry; entries without {@code wantLogits} may be null
   * @param adjustments per entry; null or empty means none
   * @param coins per entry, uniform in {@code [0, 1)}; ignored where {@code temperature == 0} (argmax)
   * @param next per entry, receives token ids in {@code [0, vocabSize)}
   * @param logprobs per entry, receives log probabilities where asked for
   * @throws IllegalArgumentException if an array is shorter than the batch, a needed param is null
   *     or an adjusted token is outside the vocabulary
   */
  void forwardSampled(ForwardBatch batch, SamplingParams[] params, LogitAdjustment[] adjustments, float[] coins, int[] next,
      TokenLogprobs[] logprobs);

  /**
   * Whether {@link #forwardGreedy} is implemented (then the engine runs steps whose rows are all
   * plain greedy through it instead of copying whole logits rows to the host for an argmax).
   */
  default boolean greedyOnDevice() {
    return false;
  }

  /**
   * Runs {@code batch} and writes, for each entry with {@code wantLogits}, the argmax of its logits
   * row to {@code next[i]} (the lowest id on ties, as {@code Sampler}'s greedy); only one int per row
   * crosses to the host.
   *
   * @throws UnsupportedOperationException unless {@link #greedyOnDevice()}
   */
  default void forwardGreedy(ForwardBatch batch, int[] next) {
    throw new UnsupportedOperationException("greedy sampling on the device is not implemented by " + getClass().getName());
  }
}
