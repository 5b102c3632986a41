package io.prism.runtime.engine;

import io.prism.runtime.sampling.SamplingParams;
import java.util.random.RandomGenerator;

/**
 * Picks the next token from one row of logits; {@code io.prism.runtime.sampling.Sampler::sample} is
 * the engine's default. A seam for tests and for samplers that run on the device.
 */
@FunctionalInterface
public interface TokenSampler {
  /**
   * The engine's default ({@code Sampler::sample}); with it, a backend that implements {@link
   * DeviceSampling} samples non-greedy steps on the device.
   */
  TokenSampler HOST = io.prism.runtime.sampling.Sampler::sample;

  /**
   * @param logits {@code [vocabSize]} unnormalised scores; must not be modified
   * @param params temperature, top-k, top-p
   * @param rng the sequence's own generator (one per sequence, so batching never changes a draw)
   * @return a token id in {@code [0, logits.length)}
   */
  int sample(float[] logits, SamplingParams params, RandomGenerator rng);
}
