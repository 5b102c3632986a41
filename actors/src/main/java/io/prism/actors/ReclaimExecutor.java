package io.prism.actors;

import io.prism.runtime.engine.ModelEngine;
import io.prism.runtime.memory.PagePool;
import io.prism.runtime.policy.ReclaimAction;

/**
 * Carries out the steps of a reclaim plan ({@link io.prism.runtime.policy.ReclaimPolicy}) and idle
 * evictions on a device's engine thread, against the engines as they are now: the plan was made by
 * the GPU actor on a snapshot, so every step takes what is still there and says what it got (a
 * model that started work meanwhile is not evicted, a sequence that finished is not preempted, a
 * model that left is skipped). Nothing here can lose a page: each step goes through the engine's
 * own release path, and the conservation check runs after each when enabled.
 *
 * <p>Threading: the device's engine thread (called by the {@link PagePoolActor}).
 */
public final class ReclaimExecutor {
  /**
   * What one step did.
   *
   * @param action the step's kind ({@code TakeReserve}, {@code ReclaimEmptyPages}, {@code
   *     DropCachedBlocks}, {@code EvictWeights}, {@code PreemptDecode})
   * @param modelId the model that gave pages (empty for the reserve)
   * @param pagesPlanned pages the plan expected
   * @param pagesFreed pool pages the step actually made available
   * @param detail what happened, for the event log
   */
  public record Result(String action, String modelId, int pagesPlanned, int pagesFreed, String detail) implements PrismMessage {}

  private ReclaimExecutor() {}

  /** Runs one step of a plan made for {@code forModel}. */
  static Result execute(GpuRuntime rt, ReclaimAction a, String forModel, long idleThresholdNanos) {
    String kind = a.getClass().getSimpleName();
    Result r;
    if (a instanceof ReclaimAction.TakeReserve t) {
      r = new Result(kind, "", t.pages(), t.pages(), t.pages() + " reserve pages for " + forModel);
    } else if (a instanceof ReclaimAction.ReclaimEmptyPages e) {
      r = releasePageIds(rt, kind, e.modelId(), e.pages(), forModel, false);
    } else if (a instanceof ReclaimAction.DropCachedBlocks d) {
      r = releasePageIds(rt, kind, d.modelId(), d.pages(), forModel, true);
    } else if (a instanceof ReclaimAction.EvictWeights w) {
      r = evict(rt, w.modelId(), w.pages(), idleThresholdNanos, "for " + forModel);
    } else if (a instanceof ReclaimAction.PreemptDecode p) {
      r = preempt(rt, p, forModel);
    } else {
      throw new IllegalArgumentException("unknown reclaim action " + a);
    }
    rt.checkConservation(kind + " of " + r.modelId() + " for " + forModel);
    return r;
  }

  private static Result releasePageIds(GpuRuntime rt, String kind, String modelId, int pages, String forModel, boolean cached) {
    GpuRuntime.EngineEntry e = rt.entry(modelId);
    if (e == null) return new Result(kind, modelId, pages, 0, modelId + " left the device; nothing taken for " + forModel);
    ModelEngine engine = e.engine;
    int per = engine.physicalPagesPerPageId();
    int ids = (pages + per - 1) / per;
    int released = cached ? engine.dropCachedBlocks(ids) : engine.releaseEmptyPages(ids);
    String what = cached ? "page ids of cached blocks" : "empty page ids";
    return new Result(kind, modelId, pages, released * per, released + " " + what + " (" + released * per + " pages) of " + modelId + " for " + forModel);
  }

  private static Result preempt(GpuRuntime rt, ReclaimAction.PreemptDecode p, String forModel) {
    String kind = "PreemptDecode";
    GpuRuntime.EngineEntry e = rt.entry(p.modelId());
    if (e == null) return new Result(kind, p.modelId(), p.pages(), 0, p.modelId() + " left the device");
    PagePool pool = rt.pool();
    int before = pool.pagesHeldBy(e.engine.owner());
    boolean done = e.engine.preemptForMemory(p.sequenceId());
    int freed = before - pool.pagesHeldBy(e.engine.owner());
    String detail = done
        ? "preempted " + p.sequenceId() + " of " + p.modelId() + " (slack " + p.slackNanos() / 1_000_000 + " ms, " + freed + " pages) for " + forModel
        : p.sequenceId() + " of " + p.modelId() + " is no longer running";
    return new Result(kind, p.modelId(), p.pages(), freed, detail);
  }

  /**
   * Evicts {@code modelId}'s weights to host memory if it is still resident, has nothing in flight
   * and has been idle at least {@code idleThresholdNanos}: releases every KV page it holds and its
   * weight bytes, and drops its guaranteed minimum while evicted (its maximum stays).
   */
  static Result evict(GpuRuntime rt, String modelId, int pagesPlanned, long idleThresholdNanos, String why) {
    String kind = "EvictWeights";
    GpuRuntime.EngineEntry e = rt.entry(modelId);
    if (e == null) return new Result(kind, modelId, pagesPlanned, 0, modelId + " left the device");
    ModelEngine engine = e.engine;
    long idle = rt.nowNanos() - engine.lastActivityNanos();
    if (!engine.weightsResident()) return new Result(kind, modelId, pagesPlanned, 0, modelId + " is already evicted");
    if (engine.inFlight() > 0 || idle < idleThresholdNanos) {
      return new Result(kind, modelId, pagesPlanned, 0, modelId + " became busy (" + engine.inFlight() + " requests, idle " + idle / 1_000_000
          + " ms); not evicted " + why);
    }
    PagePool pool = rt.pool();
    String owner = engine.owner();
    int held = pool.pagesHeldBy(owner);
    int weightPages = engine.memory().weightPages();
    try {
      engine.evict();
    } catch (UnsupportedOperationException ex) {
      return new Result(kind, modelId, pagesPlanned, 0, "cannot evict " + modelId + ": " + ex.getMessage());
    }
    pool.releaseWeights(owner);
    if (pool.minPagesOf(owner) > 0) pool.setLimits(owner, 0, pool.maxPagesOf(owner));
    rt.checkConservation("eviction of " + modelId);
    return new Result(kind, modelId, pagesPlanned, held + weightPages, "evicted the weights of " + modelId + " to host memory after "
        + idle / 1_000_000 + " ms idle (" + weightPages + " weight pages + " + held + " KV pages) " + why);
  }
}
