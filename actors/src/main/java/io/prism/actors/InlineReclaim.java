package io.prism.actors;

import io.prism.runtime.policy.ReclaimAction;
import io.prism.runtime.policy.ReclaimPlan;
import io.prism.runtime.policy.ReclaimPolicy;
import io.prism.runtime.policy.Slo;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.apache.pekko.actor.typed.ActorRef;

/**
 * The cheap part of reclaim, done by a short {@link ModelActor} at once on the device's engine
 * thread: the first steps of {@link ReclaimPolicy} (the reserve, empty pages other models hold,
 * cached blocks of finished requests), which take nothing any request uses. Only when they cannot
 * cover the need does the model negotiate with its {@link GpuActor}, which may also evict an idle
 * model or preempt decodes. The steps taken are reported to the GPU actor ({@link
 * GpuActor.Reclaimed} with negotiation id -1) for its books and event log.
 *
 * <p>Why in line: a model that grows into memory other models only cache fills the pool with
 * cached blocks nobody reuses, and each of its page ids would otherwise cost a round trip through
 * the GPU actor while its decode step waits. Threading: the device's engine thread.
 */
final class InlineReclaim {
  /** The policy without eviction (no model is ever idle that long) and asked without preemption. */
  private static final ReclaimPolicy CHEAP = new ReclaimPolicy(Duration.ofDays(36500));

  private InlineReclaim() {}

  /**
   * Frees {@code pagesNeeded} pages for {@code modelId} by cheap steps if they can cover it.
   *
   * @param freePages pool pages it could get outside the reserve
   * @param reservePages reserve pages it could get
   * @return true if the pages are now there (or the reserve covers them)
   */
  static boolean tryCheap(GpuRuntime rt, String modelId, Slo slo, int pagesNeeded, int freePages, int reservePages,
      ActorRef<GpuActor.Command> gpu) {
    ReclaimPlan plan = CHEAP.plan(new ReclaimPolicy.Requester(modelId, slo, pagesNeeded, false),
        new ReclaimPolicy.PoolState(freePages, reservePages), rt.memories(rt.nowNanos()));
    if (!(plan instanceof ReclaimPlan.Granted g)) return false;
    List<ReclaimExecutor.Result> results = new ArrayList<>();
    for (ReclaimAction a : g.actions()) {
      if (a instanceof ReclaimAction.TakeReserve) continue; // the pool's own pages: nothing to record
      results.add(ReclaimExecutor.execute(rt, a, modelId, Long.MAX_VALUE));
    }
    if (!results.isEmpty()) gpu.tell(new GpuActor.Reclaimed(-1, modelId, results));
    return true;
  }
}
