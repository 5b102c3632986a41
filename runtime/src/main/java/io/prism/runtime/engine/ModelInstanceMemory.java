package io.prism.runtime.engine;

import io.prism.runtime.batching.ContinuousBatcher;
import io.prism.runtime.memory.BlockManager;
import io.prism.runtime.memory.PagePool;
import io.prism.runtime.memory.PageSource;
import io.prism.runtime.model.LoadedModel;
import java.util.List;
import java.util.function.LongSupplier;

/**
 * The memory side of a {@link ModelEngine}, a model instance on a GPU it shares with other models:
 * its KV blocks ({@link BlockManager} over the backend's KV cache and the GPU's {@link PagePool},
 * under the owner name {@code model.id()}), the reclaim hooks the GPU actor drives, and the
 * residency of its weights (time sharing). {@link ModelEngine} adds the request side (admission,
 * stepping, events) and is the only subclass; this class is package-private, and its public methods
 * are {@link ModelEngine}'s public API, as {@code AbstractStringBuilder}'s are {@code
 * StringBuilder}'s in the JDK.
 *
 * <p><b>Memory on a shared GPU</b> (issue 5). The GPU actor negotiates between the models of one
 * pool by calling, on the engine thread: {@link #pagesWanted()} (is this model short?), {@link
 * EngineMemory#modelMemory} and {@link #runningSequences()} (inputs of {@code ReclaimPolicy}), then
 * the reclaim hooks {@link #releaseEmptyPages}, {@link #dropCachedBlocks}, {@link #preemptForMemory}
 * and {@link #evict()}. Page ids are this model's unit; a page id is {@link
 * #physicalPagesPerPageId()} pool pages. The engine never refills the pool's reserve: the loop that
 * owns the pool calls {@link PagePool#refillReserve()} between steps, off the critical path.
 *
 * <p><b>Weights and time sharing</b>: weights are accounted by the caller. Evicting an idle model:
 * {@code engine.evict(); pool.releaseWeights(engine.owner());}. Activating it (a request arrived;
 * {@link ModelEngine#submit} accepts requests while evicted and {@link ModelEngine#step()} waits,
 * counting stalled steps): free room through the reclaim path until {@code
 * pool.reserveWeights(engine.owner(), engine.weightBytes())} succeeds, then {@code
 * engine.activate()}. The tiers and their bookkeeping are {@link WeightResidency}'s.
 *
 * <p>Threading: not thread-safe; confined to the GPU's engine thread, which also owns the pool.
 */
abstract class ModelInstanceMemory {
  final LoadedModel model;
  final ForwardBackend backend;
  final PageSource pool;
  final LongSupplier clock;
  final BlockManager blocks;
  final ContinuousBatcher batcher;
  final WeightResidency weights;
  boolean closed;
  long lastActivityNanos;
  /** Weight bytes the pool held for this model when it was last evicted: what activation takes back (0 before). */
  private long evictedPoolWeightBytes;

  /**
   * Creates the block manager (its reserve wish withdrawn if the backend starts evicted) and the
   * batcher over it; the arguments are already checked ({@link EngineChecks#requireCompatible}).
   */
  ModelInstanceMemory(LoadedModel model, ForwardBackend backend, PageSource pool, EngineOptions options, LongSupplier clockNanos) {
    this.model = model;
    this.backend = backend;
    this.pool = pool;
    this.clock = clockNanos;
    this.blocks = new BlockManager(backend.kvCache(), pool, model.id(), options.prefixCaching(), options.reservePageIds());
    if (!backend.weightsResident()) blocks.wantReserve(false);
    this.batcher = new ContinuousBatcher(blocks, options.maxBatchTokens(), options.maxRunningSequences(), options.prefillChunk());
    this.weights = new WeightResidency(backend, blocks);
  }

  /** Requests accepted and not yet finished ({@link ModelEngine#inFlight()}): an engine with any may not be evicted. */
  abstract int inFlight();

  /** This model's memory for the policies ({@link ModelEngine#memory()}). */
  abstract EngineMemory memory();

  /** @throws IllegalStateException if the engine is closed */
  final void requireOpen() {
    if (closed) throw new IllegalStateException("model engine " + model.id() + " is closed");
  }

  /**
   * Weight bytes the pool must grant before this model's first request can run: 0 when resident,
   * else what the pool held at the last eviction, else the backend's {@link #weightBytes()}.
   */
  final long weightBytesToReserve() {
    return backend.weightsResident() ? 0 : evictedPoolWeightBytes > 0 ? evictedPoolWeightBytes : backend.weightBytes();
  }

  /** This engine's owner name in the page pool ({@code model.id()}). */
  public String owner() {
    return blocks.owner();
  }

  /** KV-cache bytes one token occupies in this engine's cache (all layers, K and V; KVPR's {@code kv_size}). */
  public long kvBytesPerToken() {
    return model.config().kvBytesPerToken(backend.kvCache().elementBytes());
  }

  /**
   * When this model last received a request, ran a forward pass or was activated, on the engine's
   * clock. {@link EngineMemory#idleNanos} counts from here, and is 0 while requests are in flight.
   */
  public long lastActivityNanos() {
    return lastActivityNanos;
  }

  /** Page ids of the KV cache currently mapped (each is {@link #physicalPagesPerPageId()} pool pages). */
  public int pageIdsHeld() {
    return blocks.pageIdsMapped();
  }

  /** Pool pages behind one page id of this model ({@code 2 * layers}). */
  public int physicalPagesPerPageId() {
    return blocks.physicalPagesPerPageId();
  }

  /** KV blocks in use by running sequences. */
  public int usedBlocks() {
    return blocks.usedBlocks();
  }

  /** Mapped page ids with no used or cached block, kept as this model's own reserve. */
  public int emptyPageIds() {
    return blocks.emptyPageIds();
  }

  /**
   * Gives back up to {@code maxPageIds} {@link #emptyPageIds() empty page ids} to the pool.
   *
   * @return page ids released
   */
  public int releaseEmptyPages(int maxPageIds) {
    return blocks.releaseEmptyPages(maxPageIds);
  }

  /** Mapped page ids holding only cached blocks of finished or preempted requests. */
  public int cachedPageIds() {
    return blocks.cachedPageIds();
  }

  /**
   * Evicts the cached blocks of up to {@code maxPageIds} {@link #cachedPageIds() cache-only page
   * ids}, least recently used first, and gives those page ids back to the pool.
   *
   * @return page ids released
   */
  public int dropCachedBlocks(int maxPageIds) {
    return blocks.dropCachedBlocks(maxPageIds);
  }

  /**
   * Page ids this model needs beyond its own free and cached blocks for its next step to run every
   * running sequence's next chunk and admit the waiting requests the token budget allows; 0 if none
   * or if its weights are evicted; capped by the room its pool maximum leaves (at a lowered maximum
   * it waits, or preempts its own sequences, instead of asking). What the pool could grant is not
   * subtracted: the GPU actor negotiates only when {@code pagesWanted() * physicalPagesPerPageId() >
   * pool.availableTo(owner())}.
   */
  public int pagesWanted() {
    return backend.weightsResident() ? memory().pageIdsWanted(true) : 0;
  }

  /** Like {@link #pagesWanted()} for the running sequences only (those may preempt others: decode cannot wait). */
  public int pagesWantedForRunning() {
    return backend.weightsResident() ? memory().pageIdsWanted(false) : 0;
  }

  /**
   * Preempts the running sequence {@code requestId} (recompute later; its output does not change)
   * and gives back to the pool every page id its blocks leave without a used block, cached blocks
   * in them evicted. The GPU actor's decode preemption under memory pressure.
   *
   * @return false if no such sequence is running
   */
  public boolean preemptForMemory(String requestId) {
    return batcher.preemptAndRelease(requestId) >= 0;
  }

  /** The running sequences, oldest admission first, for {@code DecodePreemptionPolicy}. */
  public List<RunningSequenceInfo> runningSequences() {
    return memory().runningSequences();
  }

  /** Whether the weights are on the device ({@link ForwardBackend#weightsResident()}). */
  public boolean weightsResident() {
    return backend.weightsResident();
  }

  /** Bytes of weights to reserve in the pool when resident ({@link ForwardBackend#weightBytes()}). */
  public long weightBytes() {
    return backend.weightBytes();
  }

  /**
   * Evicts the weights keeping a host copy ({@link #evict(boolean)} with {@code true}).
   *
   * @throws IllegalStateException if requests are in flight ({@link ModelEngine#inFlight()} {@code > 0}) or closed
   * @throws UnsupportedOperationException if the backend cannot evict
   */
  public void evict() {
    evict(true);
  }

  /**
   * Evicts the weights (time sharing): drops the prefix cache and every page id (this model then
   * holds no pages), withdraws its reserve wish, and evicts the backend's weights to the host tier
   * if {@code keepHostCopy}, else to the disk tier (the next activation reloads them). The caller
   * then calls {@code pool.releaseWeights(owner())} and accounts {@link #hostCopyBytes()} in the
   * node's host tier. No-op if already evicted.
   *
   * @throws IllegalStateException if requests are in flight ({@link ModelEngine#inFlight()} {@code > 0}) or closed
   * @throws UnsupportedOperationException if the backend cannot evict
   */
  public void evict(boolean keepHostCopy) {
    requireOpen();
    long poolBytes = pool.weightBytesOf(model.id());
    weights.evict(model.id(), inFlight(), keepHostCopy);
    if (poolBytes > 0) evictedPoolWeightBytes = poolBytes;
  }

  /**
   * Brings the weights back after {@link #evict()} from the host copy. The caller has reserved
   * {@link #weightBytes()} in the pool first. No-op if resident.
   *
   * @throws IllegalStateException if closed, or if the host copy was dropped ({@link #weightTier()} DISK)
   */
  public void activate() {
    if (weightTier() == WeightTier.DISK) throw new IllegalStateException("the host copy of " + model.id() + " was dropped; activate it with the model read again");
    activate(null);
  }

  /**
   * Brings the weights back: from the host copy, or, in the disk tier, from {@code reloaded} (the
   * model read again from its file, or its config for {@code random:} weights the device
   * generates). The caller has reserved {@link #weightBytes()} in the pool first. No-op if resident.
   *
   * @throws IllegalStateException if closed
   * @throws IllegalArgumentException if a reload is needed and {@code reloaded} is null or of another shape
   */
  public void activate(LoadedModel reloaded) {
    requireOpen();
    if (weights.activate(reloaded)) lastActivityNanos = clock.getAsLong();
  }

  /** Where the weights are: GPU (resident), HOST (evicted with a host copy) or DISK (evicted without). */
  public WeightTier weightTier() {
    return weights.tier();
  }

  /** Bytes of host memory the backend holds for activation ({@link ForwardBackend#hostCopyBytes()}). */
  public long hostCopyBytes() {
    return closed ? 0 : backend.hostCopyBytes();
  }

  /** Frees the host copy ({@link ForwardBackend#dropHostCopy()}); an evicted model moves to the disk tier. No-op when closed. */
  public void dropHostCopy() {
    if (!closed) backend.dropHostCopy();
  }
}
