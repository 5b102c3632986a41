package io.prism.app.cli;

import io.prism.runtime.engine.EngineOptions;
import io.prism.runtime.engine.ModelEngine;
import io.prism.runtime.forward.HostForwardBackend;
import io.prism.runtime.memory.HostDeviceMemory;
import io.prism.runtime.memory.KvCache;
import io.prism.runtime.memory.PagePool;
import io.prism.runtime.model.LoadedModel;

/**
 * One model on the host "device" for the CLI: a {@link HostDeviceMemory} of 64 KiB pages, a {@link
 * PagePool} whose budget is the weights plus the KV pages of {@code maxSequences} sequences of
 * {@code maxTokensPerSequence} tokens, and a {@link ModelEngine} over a {@link HostForwardBackend}.
 * Not thread-safe: used from the command's thread.
 */
final class HostEngineRig implements AutoCloseable {
  static final long PAGE_BYTES = 64 * 1024;

  final HostDeviceMemory memory;
  final PagePool pool;
  final ModelEngine engine;

  /**
   * @throws IllegalArgumentException if the model has no host weights or a size is out of range
   */
  HostEngineRig(LoadedModel model, int maxSequences, int maxTokensPerSequence, int threads) {
    if (model.weights() == null) {
      throw new IllegalArgumentException("model " + model.id() + " has no host weights (too large for this JVM's heap?)");
    }
    int tokens = Math.min(maxTokensPerSequence, model.config().maxSeqLen());
    EngineOptions options = EngineOptions.defaults()
        .withMaxRunningSequences(maxSequences)
        .withHostThreads(threads)
        .withKvCapacityTokens(maxSequences * tokens)
        .withMaxBatchTokens(Math.max(512, maxSequences));
    long blockBytes = KvCache.blockBytesPerLayer(model.config(), options.blockSize(), Float.BYTES);
    long pageBytes = Math.max(PAGE_BYTES, (blockBytes + 4095) / 4096 * 4096);
    memory = new HostDeviceMemory(pageBytes);
    KvCache kv = ModelEngine.reserveKvCache(memory, model.config(), options, Float.BYTES);
    long kvBytes = (long) kv.maxPages() * kv.physicalPagesPerPageId() * pageBytes;
    long weightBytes = model.weights().bytes();
    pool = new PagePool(memory, weightBytes + kvBytes + PagePool.DEFAULT_RESERVE_TARGET * pageBytes, PagePool.DEFAULT_RESERVE_TARGET);
    if (!pool.reserveWeights(model.id(), weightBytes)) throw new IllegalStateException("page pool cannot hold the weights");
    engine = new ModelEngine(model, new HostForwardBackend(model.weights(), kv, threads), pool, options);
  }

  @Override
  public void close() {
    engine.close();
    pool.releaseWeights(engine.owner());
    pool.drainReserve();
    memory.close();
  }
}
