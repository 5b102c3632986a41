package io.prism.runtime.engine;

import io.prism.runtime.memory.KvCache;
import io.prism.runtime.memory.PageSource;
import io.prism.runtime.model.ModelConfig;

/** The request checks of {@link ModelEngine#submit}: why a request can never run, or null ({@link RequestLimits#check}). */
final class Admissions {
  private Admissions() {}

  /**
   * Null if {@code r} fits; else the reason (see {@link RequestLimits#check}); an evicted model
   * ({@code evictedWeightBytes > 0}) will bring its weights back first.
   */
  static Rejection problem(GenerationRequest r, ModelConfig config, KvCache kv, PageSource pool, String modelId, long evictedWeightBytes) {
    long evictedPages = (evictedWeightBytes + pool.pageBytes() - 1) / pool.pageBytes();
    long capacity = Math.max(pool.capacityPages() - evictedPages, pool.timeSharedCapacityPages());
    return RequestLimits.of(modelId, config, kv).check(r, capacity, 0);
  }
}
