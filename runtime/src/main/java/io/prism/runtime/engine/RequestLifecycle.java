package io.prism.runtime.engine;

import io.prism.runtime.batching.ContinuousBatcher;
import io.prism.runtime.batching.Sequence;
import io.prism.runtime.model.ModelConfig;
import io.prism.runtime.sampling.SamplingParams;
import io.prism.runtime.sampling.Sampler;
import io.prism.runtime.sampling.TokenLogprobs;
import io.prism.runtime.tokenizer.StreamingDetokenizer;
import io.prism.runtime.tokenizer.Tokenizer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * The request side of a {@link ModelEngine}: per-request and per-choice state, what a sampled token
 * does (the stop rules of {@link ModelEngine}'s class comment, in order), forking the choices of an
 * {@code n > 1} request, and ending a choice with its one {@code Finished} event and its blocks
 * freed. Threading: the engine thread.
 *
 * <p><b>{@code n > 1}</b>: the request starts as one sequence (choice 0). When its prompt has been
 * prefilled, the step that samples its first token {@link #fork}s choices {@code 1..n-1}: each gets
 * its own sequence whose block table starts with choice 0's full prompt blocks, shared by reference
 * count ({@link ContinuousBatcher#fork}); the prompt's last partial block (fewer than {@code
 * blockSize} tokens) is recomputed by each choice into a block of its own instead of being copied,
 * so no choice ever writes into a shared block and no device copy is needed. Every choice samples
 * its first token from choice 0's logits row with its own generator, seeded with {@code
 * SamplingParams#choiceSeed}; so choice {@code i} equals a one-choice request with seed {@code seed
 * + i}.
 */
final class RequestLifecycle {
  /** By sequence id ({@link RequestGroup#sequenceId}): one per running or waiting sequence. */
  final Map<String, RequestState> states = new HashMap<>();
  /** By request id: one per request in flight. */
  final Map<String, RequestGroup> groups = new HashMap<>();
  private final Tokenizer tokenizer;
  private final ModelConfig config;
  private final EngineOptions options;
  private final ContinuousBatcher batcher;
  private final SplittableRandom seeds = new SplittableRandom();
  long generatedTokens, finished, cancelled, failed;
  /** Requests handed to another engine ({@link #suspend}) and taken from one ({@link #resume}). */
  long suspended, resumed;

  RequestLifecycle(Tokenizer tokenizer, ModelConfig config, EngineOptions options, ContinuousBatcher batcher) {
    this.tokenizer = tokenizer;
    this.config = config;
    this.options = options;
    this.batcher = batcher;
  }

  /** Starts tracking the admitted request {@code r} and queues its (first) sequence. */
  void add(GenerationRequest r) {
    RequestGroup g = new RequestGroup(r);
    groups.put(r.requestId(), g);
    Sequence s = new Sequence(r.requestId(), r.promptTokens(), r.promptTokens().length + r.params().maxTokens());
    g.sequences[0] = s;
    states.put(s.requestId(), newState(g, 0));
    batcher.add(s);
  }

  private RequestState newState(RequestGroup g, int choice) {
    Long given = g.request.params().choiceSeed(choice);
    long seed = given != null ? given : seeds.nextLong();
    int[] prompt = g.request.promptTokens();
    return new RequestState(g.request, g, choice, seed, new SplittableRandom(seed), new StreamingDetokenizer(tokenizer, prompt[prompt.length - 1]),
        Constraints.newState(g.request, tokenizer));
  }

  /**
   * Takes request {@code requestId} out of this engine without an event: its running choices'
   * blocks are freed (full ones stay in the prefix cache) and it is forgotten; what another engine
   * needs to continue it is returned ({@link RequestResumption}). Null if no such request is in flight.
   */
  RequestResumption suspend(String requestId) {
    RequestGroup g = groups.get(requestId);
    if (g == null) return null;
    List<RequestResumption.Choice> choices = new ArrayList<>();
    for (int j = 0; j < g.sequences.length; j++) {
      Sequence s = g.sequences[j];
      if (s == null) continue; // ended, or not forked yet
      RequestState st = states.remove(s.requestId());
      int[] out = s.outputTokens();
      choices.add(new RequestResumption.Choice(j, out, st.seed, g.request.params().temperature() == 0f ? 0 : out.length));
      batcher.remove(s);
      g.sequences[j] = null;
    }
    groups.remove(requestId);
    suspended++;
    return new RequestResumption(g.request, g.forked, g.completionTokens, choices);
  }

  /**
   * Continues {@code r} here: each running choice becomes a waiting sequence holding prompt and
   * generated tokens (none computed: the next schedules recompute them, less what the prefix cache
   * holds), its generator re-seeded and advanced by its draws, and its streaming text, stop-string,
   * penalty and grammar state rebuilt by replaying its tokens silently. The caller checked that the
   * request fits ({@link ModelEngine#check}).
   *
   * @param now the engine clock, as the choices' first-token time (their first token was sent elsewhere)
   */
  void resume(RequestResumption r, long now) {
    GenerationRequest req = r.request();
    RequestGroup g = new RequestGroup(req);
    g.forked = r.forked();
    g.completionTokens = r.finishedCompletionTokens();
    g.choicesLeft = r.forked() ? r.choices().size() : req.params().n();
    int[] prompt = req.promptTokens();
    for (RequestResumption.Choice c : r.choices()) {
      Sequence s = new Sequence(RequestGroup.sequenceId(req.requestId(), c.choice()), prompt, prompt.length + req.params().maxTokens());
      SplittableRandom rng = new SplittableRandom(c.seed());
      for (int d = 0; d < c.draws(); d++) rng.nextFloat();
      RequestState st = new RequestState(req, g, c.choice(), c.seed(), rng, new StreamingDetokenizer(tokenizer, prompt[prompt.length - 1]),
          Constraints.newState(req, tokenizer));
      for (int t : c.outputTokens()) { // as onToken did for each of them on the source, without events
        if (st.constraint != null) st.constraint.advance(t);
        s.appendToken(t);
        if (st.counts != null) st.counts.addOutput(t);
        st.stops.append(st.detokenizer.next(t));
      }
      if (c.outputTokens().length > 0) {
        st.hasFirstToken = true;
        st.firstTokenNanos = now;
      }
      g.sequences[c.choice()] = s;
      states.put(s.requestId(), st);
      batcher.add(s);
    }
    groups.put(req.requestId(), g);
    resumed++;
  }

  /** Whether sampling {@code s} now must {@link #fork} it: choice 0 of an {@code n > 1} request, about to sample its first token. */
  boolean forks(Sequence s) {
    RequestState out = states.get(s.requestId());
    return !out.group.forked && out.choice == 0 && s.numOutputTokens() == 0;
  }

  /**
   * Forks choices {@code 1..n-1} from choice 0 ({@code parent}, whose prompt the step just
   * completed) and samples every choice's first token from {@code row}, the parent's logits (the
   * bias and penalties are applied to it here, once: no choice has generated anything yet).
   */
  void fork(Sequence parent, float[] row, io.prism.runtime.engine.TokenSampler sampler, long now, List<SequenceEvent> events) {
    RequestState first = states.get(parent.requestId());
    RequestGroup g = first.group;
    SamplingParams p = g.request.params();
    int n = p.n();
    g.forked = true;
    int sharedBlocks = parent.promptLength() / batcher.blockSize();
    for (int j = 1; j < n; j++) {
      Sequence child = new Sequence(RequestGroup.sequenceId(g.request.requestId(), j), g.request.promptTokens(),
          parent.promptLength() + p.maxTokens());
      batcher.fork(parent, child, sharedBlocks);
      g.sequences[j] = child;
      states.put(child.requestId(), newState(g, j));
    }
    first.adjustment().apply(row);
    if (first.constraint != null) first.constraint.applyMask(row); // every choice's grammar starts in the same state
    int[] tokens = new int[n];
    TokenLogprobs[] lps = new TokenLogprobs[n];
    for (int j = 0; j < n; j++) {
      RequestState st = states.get(g.sequences[j].requestId());
      tokens[j] = sampler.sample(row, p, st.rng);
      if (p.wantsLogprobs()) lps[j] = Sampler.logprobs(row, p.temperature(), tokens[j], p.logprobs());
    }
    for (int j = 0; j < n; j++) onToken(g.sequences[j], tokens[j], lps[j], now, events);
  }

  /**
   * Applies the stop rules to {@code token}, sampled for {@code s} at {@code now}; appends events.
   *
   * @param logprobs its log probabilities (by id) when the request asked for them, else null
   */
  void onToken(Sequence s, int token, TokenLogprobs logprobs, long now, List<SequenceEvent> events) {
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
    GeneratedLogprobs described = logprobs == null ? null : describe(logprobs, s.token(s.numTokens() - 1));
    s.appendToken(token);
    if (out.counts != null) out.counts.addOutput(token);
    generatedTokens++;
    String text = out.stops.append(out.detokenizer.next(token));
    events.add(new SequenceEvent.Token(out.request.requestId(), token, text, index, out.choice, described));
    if (out.stops.stopped()) {
      end(s, FinishReason.STOP, "", "", events);
    } else if (out.constraint != null && out.constraint.complete()) {
      finishWithFlush(s, out, FinishReason.STOP, events); // the grammar allows nothing more: end without waiting for EOS
    } else if (s.numOutputTokens() >= p.maxTokens() || s.numTokens() >= config.maxSeqLen()) {
      finishWithFlush(s, out, FinishReason.LENGTH, events);
    }
  }

  /** The token texts of {@code lp}: each candidate's bytes after {@code previousId} (a special token's own text). */
  private GeneratedLogprobs describe(TokenLogprobs lp, int previousId) {
    List<GeneratedLogprobs.Candidate> top = new ArrayList<>(lp.topIds().length);
    for (int i = 0; i < lp.topIds().length; i++) top.add(candidate(lp.topIds()[i], lp.topLogprobs()[i], previousId));
    return new GeneratedLogprobs(candidate(lp.tokenId(), lp.logprob(), previousId), top);
  }

  private GeneratedLogprobs.Candidate candidate(int id, float logprob, int previousId) {
    String special = tokenizer.specialTokenText(id);
    byte[] bytes = special != null ? special.getBytes(StandardCharsets.UTF_8) : tokenizer.decodeBytes(previousId, id);
    return new GeneratedLogprobs.Candidate(id, bytes, logprob);
  }

  /** Ends {@code s}, emitting held-back text; a stop string completed by that text makes it STOP. */
  private void finishWithFlush(Sequence s, RequestState out, FinishReason reason, List<SequenceEvent> events) {
    String text = out.stops.append(out.detokenizer.flush());
    if (out.stops.stopped()) reason = FinishReason.STOP;
    else text += out.stops.flush();
    end(s, reason, text, "", events);
  }

  /**
   * Removes {@code s} from the batcher (its blocks freed, full ones cached) and emits its choice's
   * {@code Finished}. Ending choice 0 of a request not yet forked (cancelled or failed) ends its
   * other choices too, each with its own {@code Finished} and the same reason.
   */
  void end(Sequence s, FinishReason reason, String text, String message, List<SequenceEvent> events) {
    RequestState out = states.remove(s.requestId());
    RequestGroup g = out.group;
    batcher.remove(s);
    g.sequences[out.choice] = null;
    g.completionTokens += s.numOutputTokens();
    finishChoice(g, out.choice, reason, text, message, events);
    if (!g.forked) { // choice 0 ended before it was prefilled: the others never started
      g.forked = true;
      for (int j = 1; j < g.sequences.length; j++) finishChoice(g, j, reason, "", message, events);
    }
  }

  /** Ends every choice of request {@code requestId} still running; false if there is no such request. */
  boolean endRequest(String requestId, FinishReason reason, String message, List<SequenceEvent> events) {
    RequestGroup g = groups.get(requestId);
    if (g == null) return false;
    for (Sequence s : g.sequences.clone()) if (s != null && groups.get(requestId) == g) end(s, reason, "", message, events);
    return true;
  }

  private void finishChoice(RequestGroup g, int choice, FinishReason reason, String text, String message, List<SequenceEvent> events) {
    g.choicesLeft--;
    if (g.choicesLeft == 0) {
      groups.remove(g.request.requestId());
      switch (reason) {
        case CANCELLED -> cancelled++;
        case FAILED -> failed++;
        default -> finished++;
      }
    }
    events.add(new SequenceEvent.Finished(g.request.requestId(), reason, text, g.request.promptTokens().length, g.completionTokens, message, choice,
        g.choicesLeft));
  }
}
