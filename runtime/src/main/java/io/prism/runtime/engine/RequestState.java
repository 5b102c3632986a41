package io.prism.runtime.engine;

import io.prism.runtime.structured.ConstraintState;
import io.prism.runtime.tokenizer.StreamingDetokenizer;
import java.util.random.RandomGenerator;

/**
 * Per-request state of a {@link ModelEngine} beside the batcher's integer view: the request, its
 * own random generator (kept across preemption so sampled outputs do not change), its streaming
 * text and stop-string matcher, and when its first token came. Threading: the engine thread.
 */
final class RequestState {
  final GenerationRequest request;
  final RandomGenerator rng;
  final StreamingDetokenizer detokenizer;
  final StopStringMatcher stops;
  /** The grammar state of a constrained request, or null. */
  final ConstraintState constraint;
  boolean hasFirstToken;
  long firstTokenNanos;

  RequestState(GenerationRequest request, RandomGenerator rng, StreamingDetokenizer detokenizer, ConstraintState constraint) {
    this.constraint = constraint;
    this.request = request;
    this.rng = rng;
    this.detokenizer = detokenizer;
    this.stops = new StopStringMatcher(request.params().stop());
  }
}
