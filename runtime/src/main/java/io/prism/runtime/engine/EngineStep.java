package io.prism.runtime.engine;

import io.prism.runtime.sampling.SamplingParams;
import io.prism.runtime.scheduler.BatchScheduler;
import io.prism.runtime.scheduler.Sequence;
import java.util.ArrayList;
import java.util.List;
import java.util.function.LongConsumer;
import java.util.function.LongSupplier;

/**
 * The compute half of {@link ModelEngine#step()}: plans a batch ({@link BatchScheduler}), runs the
 * forward pass ({@link ForwardBackend}) into pooled {@link LogitRows}, samples each sequence that
 * completed its chunk and hands the token to {@link RequestLifecycle} (stop rules, events). Counts
 * steps, stalled steps and computed tokens for {@link EngineStats}. If the forward pass throws, the
 * exception propagates with the scheduler as before the step. Threading: the engine thread.
 */
final class EngineStep {
  private final ForwardBackend backend;
  private final BatchScheduler scheduler;
  private final RequestLifecycle requests;
  private final TokenSampler sampler;
  private final LogitRows logitRows;
  private final LongSupplier clock;
  long steps, stalledSteps, computedTokens;

  EngineStep(ForwardBackend backend, BatchScheduler scheduler, RequestLifecycle requests, TokenSampler sampler, LogitRows logitRows,
      LongSupplier clock) {
    this.backend = backend;
    this.scheduler = scheduler;
    this.requests = requests;
    this.sampler = sampler;
    this.logitRows = logitRows;
    this.clock = clock;
  }

  /**
   * Runs one iteration for a scheduler with unfinished sequences, appending its events to {@code
   * events}. With the weights evicted, or nothing schedulable, counts a stalled step and does
   * nothing else. After a forward pass, {@code activity} gets the clock reading (before sampling).
   */
  void run(List<SequenceEvent> events, LongConsumer activity) {
    BatchScheduler.Schedule plan = backend.weightsResident() ? scheduler.schedule() : null;
    if (plan == null || plan.chunks().isEmpty()) {
      stalledSteps++;
      return;
    }
    List<ForwardBatch.Entry> entries = new ArrayList<>(plan.chunks().size());
    for (BatchScheduler.Chunk c : plan.chunks()) {
      Sequence s = c.sequence();
      entries.add(new ForwardBatch.Entry(s.tokens(c.startPos(), c.startPos() + c.numTokens()), c.startPos(), s.blockTable(), c.completesSequence()));
    }
    if (wantsDeviceSampling(plan)) {
      runSampled((DeviceSampling) backend, plan, entries, events, activity);
      return;
    }
    float[][] logits = logitRows.rows(entries.size());
    backend.forward(new ForwardBatch(entries), logits);
    scheduler.completeStep(plan);
    steps++;
    computedTokens += plan.numTokens();
    long now = clock.getAsLong();
    activity.accept(now);
    for (int i = 0; i < entries.size(); i++) {
      BatchScheduler.Chunk c = plan.chunks().get(i);
      if (!c.completesSequence()) continue;
      Sequence s = c.sequence();
      RequestState out = requests.states.get(s.requestId());
      requests.onToken(s, sampler.sample(logits[i], out.request.params(), out.rng), now, events);
    }
  }

  /**
   * Device-sampled step (see {@link DeviceSampling}): coins drawn from each sequence's generator as
   * the host sampler would (one {@code nextFloat()} per non-greedy row, none for greedy).
   */
  private void runSampled(DeviceSampling ds, BatchScheduler.Schedule plan, List<ForwardBatch.Entry> entries, List<SequenceEvent> events,
      LongConsumer activity) {
    int n = entries.size();
    SamplingParams[] params = new SamplingParams[n];
    float[] coins = new float[n];
    int[] next = new int[n];
    for (int i = 0; i < n; i++) {
      BatchScheduler.Chunk c = plan.chunks().get(i);
      if (!c.completesSequence()) continue;
      RequestState out = requests.states.get(c.sequence().requestId());
      params[i] = out.request.params();
      coins[i] = params[i].temperature() == 0f ? 0f : out.rng.nextFloat();
    }
    ds.forwardSampled(new ForwardBatch(entries), params, coins, next);
    scheduler.completeStep(plan);
    steps++;
    computedTokens += plan.numTokens();
    long now = clock.getAsLong();
    activity.accept(now);
    for (int i = 0; i < n; i++) {
      BatchScheduler.Chunk c = plan.chunks().get(i);
      if (!c.completesSequence()) continue;
      requests.onToken(c.sequence(), next[i], now, events);
    }
  }

  private boolean wantsDeviceSampling(BatchScheduler.Schedule plan) {
    if (sampler != TokenSampler.HOST || !(backend instanceof DeviceSampling)) return false;
    for (BatchScheduler.Chunk c : plan.chunks()) {
      if (c.completesSequence() && requests.states.get(c.sequence().requestId()).request.params().temperature() != 0f) return true;
    }
    return false;
  }
}
