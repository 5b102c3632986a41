package io.prism.runtime.engine;

import io.prism.runtime.batching.ContinuousBatcher;
import io.prism.runtime.batching.Sequence;
import io.prism.runtime.model.ModelConfig;
import io.prism.runtime.sampling.SamplingParams;
import io.prism.runtime.tokenizer.StreamingDetokenizer;
import io.prism.runtime.tokenizer.Tokenizer;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * The request side of a {@link ModelEngine}: per-request state, what a sampled token does (the stop
 * rules of {@link ModelEngine}'s class comment, in order), and ending a request with its one {@code
 * Finished} event and its blocks freed. Threading: the engine thread.
 */
final class RequestLifecycle {
  final Map<String, RequestState> states = new HashMap<>();
  private final Tokenizer tokenizer;
  private final ModelConfig config;
  private final EngineOptions options;
  private final ContinuousBatcher batcher;
  private final SplittableRandom seeds = new SplittableRandom();
  long generatedTokens, finished, cancelled, failed;

  RequestLifecycle(Tokenizer tokenizer, ModelConfig config, EngineOptions options, ContinuousBatcher batcher) {
    this.tokenizer = tokenizer;
    this.config = config;
    this.options = options;
    this.batcher = batcher;
  }

  /** Starts tracking the admitted request {@code r} and queues its sequence. */
  void add(GenerationRequest r) {
    Long seed = r.params().seed();
    int[] prompt = r.promptTokens();
    states.put(r.requestId(), new RequestState(r, new SplittableRandom(seed != null ? seed : seeds.nextLong()),
        new StreamingDetokenizer(tokenizer, prompt[prompt.length - 1]), Constraints.newState(r, tokenizer)));
    batcher.add(new Sequence(r.requestId(), prompt, prompt.length + r.params().maxTokens()));
  }

  /** Applies the stop rules to {@code token}, sampled for {@code s} at {@code now}; appends events. */
  void onToken(Sequence s, int token, long now, List<SequenceEvent> events) {
    RequestState out = states.get(s.requestId());
    SamplingParams p = out.request.params();
    if (out.constraint != null) out.constraint.advance(token);
    boolean stopToken = tokenizer.isStopToken(token) || (options.bosEndsSequence() && token == tokenizer.bosId());
    if (stopToken && !p.ignoreEos()) {
      finishWithFlush(s, out, FinishReason.STOP, events);
      return;
    }
    int index = s.numOutputTokens();
    if (!out.hasFirstToken) {
      out.hasFirstToken = true;
      out.firstTokenNanos = now;
    }
    s.appendToken(token);
    generatedTokens++;
    String text = out.stops.append(out.detokenizer.next(token));
    events.add(new SequenceEvent.Token(s.requestId(), token, text, index));
    if (out.stops.stopped()) {
      end(s, FinishReason.STOP, "", "", events);
    } else if (out.constraint != null && out.constraint.complete()) {
      finishWithFlush(s, out, FinishReason.STOP, events); // the grammar allows nothing more: end without waiting for EOS
    } else if (s.numOutputTokens() >= p.maxTokens() || s.numTokens() >= config.maxSeqLen()) {
      finishWithFlush(s, out, FinishReason.LENGTH, events);
    }
  }

  /** Ends {@code s}, emitting held-back text; a stop string completed by that text makes it STOP. */
  private void finishWithFlush(Sequence s, RequestState out, FinishReason reason, List<SequenceEvent> events) {
    String text = out.stops.append(out.detokenizer.flush());
    if (out.stops.stopped()) reason = FinishReason.STOP;
    else text += out.stops.flush();
    end(s, reason, text, "", events);
  }

  /** Removes {@code s} from the batcher (its blocks freed, full ones cached) and emits its {@code Finished}. */
  void end(Sequence s, FinishReason reason, String text, String message, List<SequenceEvent> events) {
    batcher.remove(s);
    states.remove(s.requestId());
    switch (reason) {
      case CANCELLED -> cancelled++;
      case FAILED -> failed++;
      default -> finished++;
    }
    events.add(new SequenceEvent.Finished(s.requestId(), reason, text, s.promptLength(), s.numOutputTokens(), message));
  }
}
