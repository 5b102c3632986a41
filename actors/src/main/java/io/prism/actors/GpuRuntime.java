package io.prism.actors;

import io.prism.runtime.engine.Device;
import io.prism.runtime.engine.EngineStats;
import io.prism.runtime.engine.ModelEngine;
import io.prism.runtime.memory.PagePool;
import java.util.Map;
import java.util.TreeMap;

/**
 * Everything of one device that only its engine thread may touch: the {@link Device}, its {@link
 * PagePool} and the {@link ModelEngine} of every model instance on it. Created by the device's
 * {@link PagePoolActor} and handed (inside this node only) to the {@link ModelActor}s of the device,
 * which all run on the device's one-thread dispatcher; so every access happens on that one thread
 * and nothing here is synchronised.
 *
 * <p>Because pool and engines live on one thread, {@link #snapshot} sees them in one consistent
 * state: the page-conservation invariant can be checked on it.
 */
public final class GpuRuntime {
  /** Progress bookkeeping of one model instance, for health. */
  static final class EngineEntry {
    final ModelEngine engine;
    final long weightBytes;
    /** {@link System#nanoTime()} since when the engine has had work without progress, or -1. */
    long stalledSinceNanos = -1;

    EngineEntry(ModelEngine engine, long weightBytes) {
      this.engine = engine;
      this.weightBytes = weightBytes;
    }
  }

  private final GpuId gpu;
  private final Device device;
  private final PagePool pool;
  private final Map<String, EngineEntry> engines = new TreeMap<>();
  private final Thread owner;
  private String fault = "";

  /** Created on the device's engine thread, which becomes its only legal user. */
  GpuRuntime(GpuId gpu, Device device, PagePool pool) {
    this.gpu = gpu;
    this.device = device;
    this.pool = pool;
    this.owner = Thread.currentThread();
  }

  /**
   * Checks that the caller is the device's engine thread.
   *
   * @throws IllegalStateException naming both threads otherwise (an actor of this device is not on
   *     the device's dispatcher {@code prism.gpu.dispatchers.gpu-N})
   */
  void checkThread() {
    if (Thread.currentThread() != owner) {
      throw new IllegalStateException("device " + gpu + " is owned by thread " + owner.getName() + " but was used from "
          + Thread.currentThread().getName() + "; its actors must run on dispatcher " + PrismSettings.dispatcherId(device.index()));
    }
  }

  /** The device's cluster-wide id. */
  public GpuId gpu() {
    return gpu;
  }

  /** The device (engine thread only). */
  public Device device() {
    return device;
  }

  /** The device's page pool (engine thread only). */
  public PagePool pool() {
    return pool;
  }

  void register(String modelId, ModelEngine engine, long weightBytes) {
    checkThread();
    if (engines.putIfAbsent(modelId, new EngineEntry(engine, weightBytes)) != null) {
      throw new IllegalStateException("model " + modelId + " already has an engine on " + gpu);
    }
  }

  void deregister(String modelId) {
    engines.remove(modelId);
  }

  EngineEntry entry(String modelId) {
    return engines.get(modelId);
  }

  /** Records a failure that leaves the device unable to make progress (e.g. pages that could not be returned). */
  void markFaulty(String message) {
    fault = message;
  }

  /**
   * A consistent picture of the device: pool counters, every model's pages and queues, whether the
   * page-conservation invariant holds and whether every engine can make progress.
   *
   * @param incarnation id of the GPU actor instance, copied into the status
   * @param stallTimeoutNanos how long an engine may have work without progress before it counts as stuck
   */
  public GpuStatus snapshot(long incarnation, long stallTimeoutNanos) {
    checkThread();
    long now = System.nanoTime();
    java.util.List<GpuStatus.ModelStatus> models = new java.util.ArrayList<>();
    String problem = fault;
    for (Map.Entry<String, EngineEntry> e : engines.entrySet()) {
      ModelEngine engine = e.getValue().engine;
      long stalled = e.getValue().stalledSinceNanos;
      boolean stuck = stalled >= 0 && now - stalled > stallTimeoutNanos;
      if (stuck && problem.isEmpty()) problem = "model " + e.getKey() + " has made no progress for " + (now - stalled) / 1_000_000 + " ms";
      EngineStats st = engine.stats();
      int kept = (engine.emptyPageIds() + engine.cachedPageIds()) * engine.physicalPagesPerPageId();
      models.add(new GpuStatus.ModelStatus(e.getKey(), e.getValue().weightBytes, pool.pagesHeldBy(engine.owner()), kept, engine.pageIdsHeld(),
          engine.waitingCount(), engine.runningCount(), !stuck, st.finished(), st.cancelled(), st.failed(), st.preemptions()));
    }
    String invariant = "";
    try {
      pool.checkInvariants();
    } catch (IllegalStateException ex) {
      invariant = ex.getMessage();
      if (problem.isEmpty()) problem = "page pool invariant broken: " + invariant;
    }
    return new GpuStatus(gpu, device.description(), incarnation, pool.budgetBytes(), pool.pageBytes(), pool.capacityPages(),
        pool.freePages(), pool.reservePages(), pool.heldPages(), pool.weightBytes(), models, invariant, problem.isEmpty(), problem);
  }
}
