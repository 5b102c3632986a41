package io.prism.runtime.engine;

import java.nio.charset.StandardCharsets;
import java.util.List;

/**
 * Log probabilities of one generated token with the token texts, as OpenAI's {@code logprobs}
 * reports them ({@code token}, {@code logprob}, {@code bytes}, {@code top_logprobs}). Values are
 * natural logarithms of the distribution {@code io.prism.runtime.sampling.Sampler#logprobs}
 * defines (after logit bias, penalties and temperature; before min-p, top-k and top-p).
 *
 * @param chosen the generated token
 * @param top the most likely tokens, most likely first (ties: lower id first); empty when none were
 *     asked for ({@code top_logprobs: 0})
 */
public record GeneratedLogprobs(Candidate chosen, List<Candidate> top) {
  public GeneratedLogprobs {
    top = List.copyOf(top);
  }

  /**
   * One token and its log probability.
   *
   * @param tokenId the token id
   * @param bytes the UTF-8 bytes the token contributes to the text after the previous token (a
   *     fragment of a character for byte-fallback tokens; a special token's own text)
   * @param logprob natural log probability, {@code <= 0}
   */
  public record Candidate(int tokenId, byte[] bytes, float logprob) {
    /** The bytes as text (an incomplete UTF-8 character becomes U+FFFD, as OpenAI shows it). */
    public String token() {
      return new String(bytes, StandardCharsets.UTF_8);
    }
  }
}
