package io.prism.runtime.engine;

import io.prism.runtime.sampling.LogitAdjustment;
import io.prism.runtime.sampling.TokenCounts;
import io.prism.runtime.structured.ConstraintState;
import io.prism.runtime.tokenizer.StreamingDetokenizer;
import java.util.random.RandomGenerator;

/**
 * Per-sequence state of a {@link ModelEngine} beside the batcher's integer view: one per choice of a
 * request. The request, the choice's index and its group, its own random generator (seeded with
 * {@code SamplingParams.choiceSeed(choice)}, kept across preemption so sampled outputs do not
 * change), its streaming text and stop-string matcher, the tokens it has seen for penalties (null
 * when the request has none), and when its first token came. Threading: the engine thread.
 */
final class RequestState {
  final GenerationRequest request;
  final RequestGroup group;
  final int choice;
  final RandomGenerator rng;
  /** The seed {@link #rng} started from (kept for a {@link RequestResumption}). */
  final long seed;
  final StreamingDetokenizer detokenizer;
  final StopStringMatcher stops;
  final TokenCounts counts;
  /** The grammar state of a constrained request (structured output, tool calls), or null; one per choice. */
  final ConstraintState constraint;
  boolean hasFirstToken;
  long firstTokenNanos;

  RequestState(GenerationRequest request, RequestGroup group, int choice, long seed, RandomGenerator rng, StreamingDetokenizer detokenizer,
      ConstraintState constraint) {
    this.seed = seed;
    this.constraint = constraint;
    this.request = request;
    this.group = group;
    this.choice = choice;
    this.rng = rng;
    this.detokenizer = detokenizer;
    this.stops = new StopStringMatcher(request.params().stop());
    boolean penalties = request.params().presencePenalty() != 0f || request.params().frequencyPenalty() != 0f
        || request.params().repetitionPenalty() != 1f;
    this.counts = penalties ? new TokenCounts(request.promptTokens(), request.params().repetitionPenalty() != 1f) : null;
  }

  /** The bias and penalties for this choice's next token (nothing when the request has none). */
  LogitAdjustment adjustment() {
    return LogitAdjustment.of(request.params(), counts);
  }
}
