package io.prism.runtime.engine;

import io.prism.runtime.sampling.SamplingParams;

/**
 * Optional capability of a {@link ForwardBackend}: run a forward pass and sample each row's next token
 * on the device, so only one int per row crosses to the host instead of a {@code vocabSize} float row.
 *
 * <p>{@link ModelEngine} uses it only with its default sampler ({@link TokenSampler#HOST}) and only for
 * steps where some row has {@code temperature > 0}; all-greedy steps keep the plain {@link
 * ForwardBackend#forward} path. The engine draws each non-greedy row's coin from the sequence's own
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
   * Runs {@code batch} and writes, for each entry with {@code wantLogits}, its sampled token to {@code
   * next[i]}; other slots are left as they are.
   *
   * @param params per entry; entries without {@code wantLogits} may be null
   * @param coins per entry, uniform in {@code [0, 1)}; ignored where {@code temperature == 0} (argmax)
   * @param next per entry, receives token ids in {@code [0, vocabSize)}
   * @throws IllegalArgumentException if an array is shorter than the batch or a needed param is null
   */
  void forwardSampled(ForwardBatch batch, SamplingParams[] params, float[] coins, int[] next);
}
