package io.prism.runtime.engine;

import io.prism.runtime.batching.ContinuousBatcher;
import io.prism.runtime.batching.Sequence;
import io.prism.runtime.sampling.LogitAdjustment;
import io.prism.runtime.sampling.Sampler;
import io.prism.runtime.sampling.SamplingParams;
import io.prism.runtime.sampling.TokenLogprobs;
import java.util.ArrayList;
import java.util.List;
import java.util.function.LongConsumer;
import java.util.function.LongSupplier;

/**
 * The compute half of {@link ModelEngine#step()}: plans a batch ({@link ContinuousBatcher}), runs the
 * forward pass ({@link ForwardBackend}) into pooled {@link LogitRows}, applies each sequence's bias
 * and penalties ({@link LogitAdjustment}), samples each sequence that completed its chunk, computes
 * its log probabilities when asked ({@link Sampler#logprobs}) and hands the token to {@link
 * RequestLifecycle} (stop rules, events; forking the choices of {@code n > 1} requests). Counts
 * steps, stalled steps and computed tokens for {@link EngineStats}. If the forward pass throws, the
 * exception propagates with the batcher as before the step. Threading: the engine thread.
 */
final class EngineStep {
  private final ForwardBackend backend;
  private final ContinuousBatcher batcher;
  private final RequestLifecycle requests;
  private final TokenSampler sampler;
  private final LogitRows logitRows;
  private final LongSupplier clock;
  long steps, stalledSteps, computedTokens;

  EngineStep(ForwardBackend backend, ContinuousBatcher batcher, RequestLifecycle requests, TokenSampler sampler, LogitRows logitRows,
      LongSupplier clock) {
    this.backend = backend;
    this.batcher = batcher;
    this.requests = requests;
    this.sampler = sampler;
    this.logitRows = logitRows;
    this.clock = clock;
  }

  /**
   * Runs one iteration for a batcher with unfinished sequences, appending its events to {@code
   * events}. With the weights evicted, or nothing schedulable, counts a stalled step and does
   * nothing else. After a forward pass, {@code activity} gets the clock reading (before sampling).
   */
  void run(List<SequenceEvent> events, LongConsumer activity) {
    ContinuousBatcher.Schedule plan = backend.weightsResident() ? batcher.schedule() : null;
    if (plan == null || plan.chunks().isEmpty()) {
      stalledSteps++;
      return;
    }
    List<ForwardBatch.Entry> entries = new ArrayList<>(plan.chunks().size());
    for (ContinuousBatcher.Chunk c : plan.chunks()) {
      Sequence s = c.sequence();
      entries.add(new ForwardBatch.Entry(s.tokens(c.startPos(), c.startPos() + c.numTokens()), c.startPos(), s.blockTable(), c.completesSequence()));
    }
    if (wantsDeviceSampling(plan)) {
      runSampled((DeviceSampling) backend, plan, entries, events, activity);
      return;
    }
    if (greedyOnDevice(plan)) {
      runGreedy((DeviceSampling) backend, plan, entries, events, activity);
      return;
    }
    float[][] logits = logitRows.rows(entries.size());
    backend.forward(new ForwardBatch(entries), logits);
    batcher.completeStep(plan);
    steps++;
    computedTokens += plan.numTokens();
    long now = clock.getAsLong();
    activity.accept(now);
    for (int i = 0; i < entries.size(); i++) {
      ContinuousBatcher.Chunk c = plan.chunks().get(i);
      if (!c.completesSequence()) continue;
      Sequence s = c.sequence();
      if (requests.forks(s)) {
        requests.fork(s, logits[i], sampler, now, events);
        continue;
      }
      RequestState out = requests.states.get(s.requestId());
      SamplingParams p = out.request.params();
      float[] row = logits[i]; // pooled and rewritten by every forward pass: adjusted in place
      out.adjustment().apply(row);
      if (out.constraint != null) out.constraint.applyMask(row); // structured output: disallowed tokens to -inf
      int token = sampler.sample(row, p, out.rng);
      TokenLogprobs lp = p.wantsLogprobs() ? Sampler.logprobs(row, p.temperature(), token, p.logprobs()) : null;
      requests.onToken(s, token, lp, now, events);
    }
  }

  /**
   * Device-sampled step (see {@link DeviceSampling}): coins drawn from each sequence's generator as
   * the host sampler would (one {@code nextFloat()} per non-greedy row, none for greedy), bias and
   * penalties as each row's sparse {@link LogitAdjustment}.
   */
  private void runSampled(DeviceSampling ds, ContinuousBatcher.Schedule plan, List<ForwardBatch.Entry> entries, List<SequenceEvent> events,
      LongConsumer activity) {
    int n = entries.size();
    SamplingParams[] params = new SamplingParams[n];
    LogitAdjustment[] adjustments = new LogitAdjustment[n];
    float[] coins = new float[n];
    int[] next = new int[n];
    TokenLogprobs[] logprobs = new TokenLogprobs[n];
    for (int i = 0; i < n; i++) {
      ContinuousBatcher.Chunk c = plan.chunks().get(i);
      if (!c.completesSequence()) continue;
      RequestState out = requests.states.get(c.sequence().requestId());
      params[i] = out.request.params();
      adjustments[i] = out.adjustment();
      coins[i] = params[i].temperature() == 0f ? 0f : out.rng.nextFloat();
    }
    ds.forwardSampled(new ForwardBatch(entries), params, adjustments, coins, next, logprobs);
    batcher.completeStep(plan);
    steps++;
    computedTokens += plan.numTokens();
    long now = clock.getAsLong();
    activity.accept(now);
    for (int i = 0; i < n; i++) {
      ContinuousBatcher.Chunk c = plan.chunks().get(i);
      if (!c.completesSequence()) continue;
      requests.onToken(c.sequence(), next[i], params[i].wantsLogprobs() ? logprobs[i] : null, now, events);
    }
  }

  /**
   * Greedy step on the device ({@link DeviceSampling#forwardGreedy}): every completing row is plain
   * greedy, so its token is the argmax the host sampler would take; one int per row crosses instead
   * of a {@code vocabSize} row (at batch 64 and a 128k vocabulary, 32 MiB and a host argmax over 8M
   * floats per step).
   */
  private void runGreedy(DeviceSampling ds, ContinuousBatcher.Schedule plan, List<ForwardBatch.Entry> entries, List<SequenceEvent> events,
      LongConsumer activity) {
    int[] next = new int[entries.size()];
    ds.forwardGreedy(new ForwardBatch(entries), next);
    batcher.completeStep(plan);
    steps++;
    computedTokens += plan.numTokens();
    long now = clock.getAsLong();
    activity.accept(now);
    for (int i = 0; i < entries.size(); i++) {
      ContinuousBatcher.Chunk c = plan.chunks().get(i);
      if (c.completesSequence()) requests.onToken(c.sequence(), next[i], null, now, events);
    }
  }

  /**
   * Whether this step's argmax runs on the device: the default sampler, a backend with {@link
   * DeviceSampling#greedyOnDevice()}, and at least one completing row, every one plain greedy
   * (temperature 0, no bias, penalties, log probabilities, grammar, or n > 1 fork).
   */
  private boolean greedyOnDevice(ContinuousBatcher.Schedule plan) {
    if (sampler != TokenSampler.HOST || !(backend instanceof DeviceSampling ds) || !ds.greedyOnDevice()) return false;
    boolean any = false;
    for (ContinuousBatcher.Chunk c : plan.chunks()) {
      if (!c.completesSequence()) continue;
      if (requests.forks(c.sequence())) return false;
      RequestState out = requests.states.get(c.sequence().requestId());
      SamplingParams p = out.request.params();
      if (out.constraint != null || p.temperature() != 0f || p.adjustsLogits() || p.wantsLogprobs()) return false;
      any = true;
    }
    return any;
  }

  /**
   * Whether this step samples on the device: the default sampler, a {@link DeviceSampling} backend,
   * and a row that is sampled ({@code temperature > 0}), biased or penalised, or wants log
   * probabilities (all-greedy plain steps keep the plain path), and no row that forks the choices of
   * an {@code n > 1} request (that step samples n tokens from one row: it runs on the host, once per
   * such request).
   */
  private boolean wantsDeviceSampling(ContinuousBatcher.Schedule plan) {
    if (sampler != TokenSampler.HOST || !(backend instanceof DeviceSampling)) return false;
    boolean want = false;
    for (ContinuousBatcher.Chunk c : plan.chunks()) {
      if (!c.completesSequence()) continue;
      if (requests.forks(c.sequence())) return false;
      RequestState out = requests.states.get(c.sequence().requestId());
      if (out.constraint != null) return false; // its mask is applied to the host copy of its logits row
      SamplingParams p = out.request.params();
      want |= p.temperature() != 0f || p.adjustsLogits() || p.wantsLogprobs();
    }
    return want;
  }
}
