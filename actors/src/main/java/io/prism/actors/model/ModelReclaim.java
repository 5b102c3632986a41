package io.prism.actors.model;

import io.prism.actors.pool.Handover;
import io.prism.actors.pool.PagePoolActor;
import io.prism.actors.pool.ReclaimResult;

import io.prism.runtime.engine.ModelEngine;
import io.prism.runtime.memory.PageLease;
import io.prism.runtime.memory.PhysicalPage;
import io.prism.runtime.policy.ReclaimAction;
import java.util.ArrayList;
import java.util.List;
import org.apache.pekko.actor.typed.ActorRef;

/**
 * A model's side of a reclaim: carries out the GPU actor's plan steps that concern it on its own
 * engine, as the engine is now (the plan was made on a snapshot: each step takes what is still
 * there and says what it got; a model that started work meanwhile is not evicted, a sequence that
 * finished is not preempted), then returns the freed pages to the pool with a {@link Handover}, so
 * the pool grants them to the requester. Nothing here can lose a page: every step goes through the
 * engine's own release path into the model's {@link PageLease}, and everything unmapped goes back.
 *
 * <p>Threading: the model actor's (the device's engine thread).
 */
final class ModelReclaim {
  private ModelReclaim() {}

  /** Carries out {@code r}'s actions for model {@code modelId} and returns the pages to {@code pool}. */
  static void execute(ModelEngine engine, PageLease lease, ActorRef<PagePoolActor.Command> pool, String modelId, ModelActor.Reclaim r,
      long nowNanos, HostCopies copies) {
    List<ReclaimResult> results = new ArrayList<>();
    boolean evicted = false;
    int planned = 0;
    for (ReclaimAction a : r.actions()) {
      String kind = a.getClass().getSimpleName();
      planned += a.pages();
      int stockBefore = lease.stockPages(); // pages a step unmaps land in the stock: the delta is what it freed
      int extra = 0;
      String detail;
      if (a instanceof ReclaimAction.ReclaimEmptyPages e) {
        int ids = engine.releaseEmptyPages(pageIds(engine, e.pages()));
        detail = ids + " empty page ids of " + modelId + " for " + r.forModel();
      } else if (a instanceof ReclaimAction.DropCachedBlocks d) {
        int ids = engine.dropCachedBlocks(pageIds(engine, d.pages()));
        detail = ids + " page ids of cached blocks of " + modelId + " for " + r.forModel();
      } else if (a instanceof ReclaimAction.PreemptDecode p) {
        boolean done = engine.preemptForMemory(p.sequenceId());
        detail = done ? "preempted " + p.sequenceId() + " of " + modelId + " (slack " + p.slackNanos() / 1_000_000 + " ms) for " + r.forModel()
            : p.sequenceId() + " of " + modelId + " is no longer running";
      } else if (a instanceof ReclaimAction.EvictWeights) {
        long idle = engine.memory().idleNanos(nowNanos);
        if (evicted || !engine.weightsResident() || engine.inFlight() > 0 || idle < r.idleThresholdNanos()) {
          detail = modelId + " became busy or was evicted (" + engine.inFlight() + " requests, idle " + idle / 1_000_000 + " ms); not evicted for "
              + r.forModel();
        } else {
          int weightPages = engine.memory().weightPages();
          int held = lease.heldPages();
          copies.evict(engine);
          evicted = true;
          lease.weightBytes(0);
          lease.capacity(lease.capacityPages() + weightPages); // its weights' room is the pool's again
          extra = weightPages;
          detail = "evicted the weights of " + modelId + " to the " + engine.weightTier().label() + " tier after " + idle / 1_000_000 + " ms idle (" + weightPages
              + " weight pages + " + held + " KV pages) for " + r.forModel();
        }
      } else {
        throw new IllegalArgumentException("unknown reclaim action " + a);
      }
      int freed = lease.stockPages() - stockBefore + extra;
      results.add(new ReclaimResult(kind, modelId, a.pages(), freed, detail + (a instanceof ReclaimAction.EvictWeights ? "" : " (" + freed + " pages)")));
    }
    List<PhysicalPage> pages = lease.takeUnmapped(0, Integer.MAX_VALUE);
    Handover h = new Handover(r.negotiationId(), r.forModel(), r.grantTo(), Math.max(planned, 0), r.unit(), results);
    if (evicted) {
      lease.limits(0, lease.maxPagesOf(modelId));
      pool.tell(new PagePoolActor.Evicted(modelId, pages, h));
    } else {
      pool.tell(new PagePoolActor.Return(modelId, pages, h));
    }
  }

  /**
   * Evicts the weights of the model if it is resident, has nothing in flight and has been idle at
   * least {@code idleThresholdNanos}: every KV page and the weight bytes go back to the pool.
   *
   * @return whether it evicted
   */
  static boolean evictIfIdle(ModelEngine engine, PageLease lease, ActorRef<PagePoolActor.Command> pool, String modelId, long nowNanos,
      long idleThresholdNanos, HostCopies copies) {
    long idle = engine.memory().idleNanos(nowNanos);
    if (!engine.weightsResident() || engine.inFlight() > 0 || idle < idleThresholdNanos) return false;
    int weightPages = engine.memory().weightPages();
    int held = lease.heldPages();
    try {
      copies.evict(engine);
    } catch (UnsupportedOperationException e) {
      return false;
    }
    lease.weightBytes(0);
    lease.capacity(lease.capacityPages() + weightPages);
    lease.limits(0, lease.maxPagesOf(modelId));
    List<PhysicalPage> pages = lease.takeUnmapped(0, Integer.MAX_VALUE);
    ReclaimResult r = new ReclaimResult("EvictWeights", modelId, 0, held + weightPages, "evicted the weights of " + modelId
        + " to the " + engine.weightTier().label() + " tier after " + idle / 1_000_000 + " ms idle (" + weightPages + " weight pages + " + held
        + " KV pages) (idle)");
    pool.tell(new PagePoolActor.Evicted(modelId, pages, new Handover(-1, "(idle)", null, 0, 1, List.of(r))));
    return true;
  }

  private static int pageIds(ModelEngine engine, int pages) {
    int per = engine.physicalPagesPerPageId();
    return (pages + per - 1) / per;
  }
}
