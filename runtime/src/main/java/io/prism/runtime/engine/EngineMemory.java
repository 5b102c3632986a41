package io.prism.runtime.engine;

import io.prism.runtime.batching.ContinuousBatcher;
import io.prism.runtime.batching.Sequence;
import io.prism.runtime.memory.BlockManager;
import io.prism.runtime.memory.PageSource;
import io.prism.runtime.policy.ModelActivity;
import io.prism.runtime.policy.ModelMemory;
import io.prism.runtime.policy.ReclaimPolicy;
import io.prism.runtime.policy.Slo;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * One {@link ModelEngine}'s memory as the GPU actor's policies see it, in the pool's pages: the
 * inputs of {@link ReclaimPolicy} ({@link #modelMemory}) and of {@code IdleEvictionPolicy} ({@link
 * #activity}). A typical negotiation on the engine thread, for a model {@code m} that is short:
 *
 * <pre>
 *   int need = m.pagesWanted() * m.physicalPagesPerPageId();
 *   if (need > pool.availableTo(m.owner())) {
 *     plan = reclaim.plan(new Requester(m.owner(), slo, need, m.pagesWantedForRunning() > 0),
 *         new PoolState(pool.freePages() - pool.reservePages(), pool.reservePages()),
 *         [every model's memory().modelMemory(slo, now)]);
 *     for each action of a Granted plan (pages / physicalPagesPerPageId rounded up, in page ids):
 *       TakeReserve       -> nothing (acquire takes reserve pages first)
 *       ReclaimEmptyPages -> other.releaseEmptyPages(ids)
 *       DropCachedBlocks  -> other.dropCachedBlocks(ids)
 *       EvictWeights      -> other.evict(); pool.releaseWeights(other.owner())
 *       PreemptDecode     -> other.preemptForMemory(sequenceId)
 *   }
 *   m.step();
 * </pre>
 *
 * <p>Threading: the engine thread; every call is a fresh snapshot.
 */
public final class EngineMemory {
  private final ModelEngine engine;
  private final BlockManager blocks;
  private final ContinuousBatcher batcher;
  private final PageSource pool;
  private final Map<String, RequestState> outputs;

  EngineMemory(ModelEngine engine, BlockManager blocks, ContinuousBatcher batcher, PageSource pool, Map<String, RequestState> outputs) {
    this.engine = engine;
    this.blocks = blocks;
    this.batcher = batcher;
    this.pool = pool;
    this.outputs = outputs;
  }

  /**
   * This model for {@link ReclaimPolicy}: pool pages held, of which empty and cache-only ({@code page
   * ids * 2 * layers}); its pool minimum; {@link #idleNanos idle time}; the pages its weights would free (0 when
   * evicted); its decoding sequences with the pages preempting each would free and their TPOT slack.
   *
   * @param slo the model's SLO (from the catalog)
   * @param nowNanos now, on the engine's clock
   */
  public ModelMemory modelMemory(Slo slo, long nowNanos) {
    int perPageId = blocks.physicalPagesPerPageId();
    List<ModelMemory.RunningSequence> running = new ArrayList<>();
    for (RunningSequenceInfo s : runningSequences()) {
      if (s.decoding()) running.add(new ModelMemory.RunningSequence(s.requestId(), s.pageIdsFreedIfPreempted() * perPageId, s.slackNanos(slo, nowNanos)));
    }
    return new ModelMemory(blocks.owner(), slo, engine.weightsResident(), pool.pagesHeldBy(blocks.owner()), blocks.emptyPageIds() * perPageId,
        blocks.cachedPageIds() * perPageId, pool.minPagesOf(blocks.owner()), idleNanos(nowNanos),
        weightPages(), running);
  }

  /**
   * Time since the model's last activity ({@link ModelEngine#lastActivityNanos()}), 0 while requests
   * are in flight: a model that waits for memory is not idle, so reclaim never picks it for eviction.
   */
  public long idleNanos(long nowNanos) {
    return engine.inFlight() > 0 ? 0 : Math.max(0, nowNanos - engine.lastActivityNanos());
  }

  /** This model for {@code IdleEvictionPolicy}. */
  public ModelActivity activity() {
    return new ModelActivity(blocks.owner(), engine.weightsResident(), engine.lastActivityNanos(), engine.inFlight());
  }

  /**
   * Pool pages its weights occupy and would free if evicted: {@code ceil(weightBytesOf(owner) /
   * pageBytes)}; 0 when evicted (nothing reserved).
   */
  public int weightPages() {
    long bytes = pool.weightBytesOf(blocks.owner());
    return engine.weightsResident() ? (int) ((bytes + pool.pageBytes() - 1) / pool.pageBytes()) : 0;
  }

  /** See {@link ModelEngine#runningSequences()}. */
  List<RunningSequenceInfo> runningSequences() {
    List<RunningSequenceInfo> out = new ArrayList<>(batcher.runningCount());
    for (Sequence s : batcher.running()) {
      RequestState r = outputs.get(s.requestId());
      out.add(new RunningSequenceInfo(s.requestId(), s.numTokens(), s.promptLength(), s.numOutputTokens(), r.request.arrivalNanos(),
          r.hasFirstToken, r.firstTokenNanos, blocks.pageIdsFreedBy(s.blockTable())));
    }
    return out;
  }

  /**
   * Page ids wanted beyond the model's own free and idle cached blocks, capped by the room its pool
   * maximum leaves; see {@link ModelEngine#pagesWanted()}.
   */
  int pageIdsWanted(boolean includeWaiting) {
    int shortBlocks = batcher.blocksWanted(includeWaiting) - blocks.freeBlocksInMappedPages() - blocks.idleCachedBlocks();
    if (shortBlocks <= 0) return 0;
    int wanted = (shortBlocks + blocks.blocksPerPage() - 1) / blocks.blocksPerPage();
    long room = ((long) pool.maxPagesOf(blocks.owner()) - pool.pagesHeldBy(blocks.owner())) / blocks.physicalPagesPerPageId();
    return (int) Math.max(0, Math.min(wanted, room));
  }
}
