package io.prism.runtime.sampling;

/**
 * Log probabilities of one sampled token, as ids (the engine adds the token texts): natural
 * logarithms of the distribution {@link Sampler#logprobs} defines.
 *
 * @param tokenId the sampled token
 * @param logprob its log probability, {@code <= 0}
 * @param topIds the most likely tokens, most likely first (ties: lower id first), length {@code k}
 * @param topLogprobs their log probabilities, non-increasing, same length
 */
public record TokenLogprobs(int tokenId, float logprob, int[] topIds, float[] topLogprobs) {
  public TokenLogprobs {
    if (topIds.length != topLogprobs.length) throw new IllegalArgumentException(topIds.length + " top ids, " + topLogprobs.length + " log probabilities");
  }
}
