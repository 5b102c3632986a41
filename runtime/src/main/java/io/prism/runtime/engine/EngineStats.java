package io.prism.runtime.engine;

/**
 * Counters of one {@link ModelEngine} since construction, for logs and metrics.
 *
 * @param steps forward passes run
 * @param stalledSteps {@link ModelEngine#step()} calls with work but nothing schedulable (no memory,
 *     or weights evicted)
 * @param computedTokens tokens through the forward pass (prefill, recompute and decode)
 * @param cachedTokens tokens not computed because their KV blocks were found in the prefix cache
 * @param generatedTokens tokens sampled and emitted
 * @param preemptions sequences preempted (recompute), by the batcher or {@link ModelEngine#preemptForMemory}
 * @param finished requests ended by STOP or LENGTH
 * @param cancelled requests cancelled
 * @param failed requests failed
 * @param rejected requests rejected at admission
 * @param evictions weight evictions ({@link ModelEngine#evict()})
 * @param activations weight activations ({@link ModelEngine#activate()})
 */
public record EngineStats(long steps, long stalledSteps, long computedTokens, long cachedTokens, long generatedTokens, long preemptions,
    long finished, long cancelled, long failed, long rejected, long evictions, long activations) {}
