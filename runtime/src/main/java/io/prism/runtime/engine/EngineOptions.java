package io.prism.runtime.engine;

/**
 * Settings of one {@link ModelEngine} (vLLM's names in parentheses).
 *
 * @param blockSize tokens per KV block ({@code block_size}), default 16; must equal the KV cache's
 * @param maxBatchTokens token budget of one step, prefill and decode together ({@code
 *     max_num_batched_tokens}), default 512
 * @param maxRunningSequences sequences in the running batch ({@code max_num_seqs}), default 64
 * @param prefillChunk most prompt tokens one sequence computes in one step (chunked prefill, {@code
 *     long_prefill_token_threshold}), default 256
 * @param hostThreads worker threads of the host forward pass, default the available processors
 * @param bosEndsSequence whether a sampled BOS ends the sequence like EOS, default true: llama2.c
 *     checkpoints end a story with BOS (id 1) and the reference program stops there; for other
 *     Llama vocabularies a BOS in the middle of a completion is never wanted text either. Ignored
 *     (like EOS) when the request sets {@code ignoreEos}
 * @param kvCapacityTokens tokens the KV cache's virtual ranges are reserved for; 0 (default) means
 *     {@code maxRunningSequences * maxSeqLen}. Virtual space only: physical pages come and go
 * @param prefixCaching keep the full KV blocks of finished (and preempted) requests, keyed by their
 *     token chain, and reuse them for a later prompt with the same prefix ({@code
 *     enable_prefix_caching}), default true. Outputs are the same either way: cached K/V equal
 *     recomputed K/V on a backend whose results do not depend on chunking (the host one)
 * @param reservePageIds page ids the model keeps mapped while empty, and asks the pool to keep
 *     pre-created ({@link io.prism.runtime.memory.PagePool#setReserveWanted}), default 1: a decode
 *     step maps at most one new page id, so after the pool's reserve is refilled between steps no
 *     step creates a page on the critical path. 0 turns both off
 * @throws IllegalArgumentException naming the first value out of range
 */
public record EngineOptions(
    int blockSize,
    int maxBatchTokens,
    int maxRunningSequences,
    int prefillChunk,
    int hostThreads,
    boolean bosEndsSequence,
    int kvCapacityTokens,
    boolean prefixCaching,
    int reservePageIds) {

  public EngineOptions {
    positive("blockSize", blockSize);
    positive("maxBatchTokens", maxBatchTokens);
    positive("maxRunningSequences", maxRunningSequences);
    positive("prefillChunk", prefillChunk);
    positive("hostThreads", hostThreads);
    if (kvCapacityTokens < 0) throw new IllegalArgumentException("kvCapacityTokens must be >= 0, got " + kvCapacityTokens);
    if (reservePageIds < 0) throw new IllegalArgumentException("reservePageIds must be >= 0, got " + reservePageIds);
  }

  /** The options of the first seven fields, with prefix caching on and one reserve page id. */
  public EngineOptions(int blockSize, int maxBatchTokens, int maxRunningSequences, int prefillChunk, int hostThreads,
      boolean bosEndsSequence, int kvCapacityTokens) {
    this(blockSize, maxBatchTokens, maxRunningSequences, prefillChunk, hostThreads, bosEndsSequence, kvCapacityTokens, true, 1);
  }

  /** The defaults listed above. */
  public static EngineOptions defaults() {
    return new EngineOptions(16, 512, 64, 256, Math.max(1, Runtime.getRuntime().availableProcessors()), true, 0, true, 1);
  }

  /** A copy with tokens per KV block (> 0) changed to {@code v}; validated like the constructor. */
  public EngineOptions withBlockSize(int v) {
    return new EngineOptions(v, maxBatchTokens, maxRunningSequences, prefillChunk, hostThreads, bosEndsSequence, kvCapacityTokens, prefixCaching, reservePageIds);
  }

  /** A copy with the per-step token budget (prefill chunks plus decodes) changed to {@code v}; validated like the constructor. */
  public EngineOptions withMaxBatchTokens(int v) {
    return new EngineOptions(blockSize, v, maxRunningSequences, prefillChunk, hostThreads, bosEndsSequence, kvCapacityTokens, prefixCaching, reservePageIds);
  }

  /** A copy with the most sequences in one batch changed to {@code v}; validated like the constructor. */
  public EngineOptions withMaxRunningSequences(int v) {
    return new EngineOptions(blockSize, maxBatchTokens, v, prefillChunk, hostThreads, bosEndsSequence, kvCapacityTokens, prefixCaching, reservePageIds);
  }

  /** A copy with the most prompt tokens one sequence prefills per step changed to {@code v}; validated like the constructor. */
  public EngineOptions withPrefillChunk(int v) {
    return new EngineOptions(blockSize, maxBatchTokens, maxRunningSequences, v, hostThreads, bosEndsSequence, kvCapacityTokens, prefixCaching, reservePageIds);
  }

  /** A copy with host forward-pass threads changed to {@code v}; validated like the constructor. */
  public EngineOptions withHostThreads(int v) {
    return new EngineOptions(blockSize, maxBatchTokens, maxRunningSequences, prefillChunk, v, bosEndsSequence, kvCapacityTokens, prefixCaching, reservePageIds);
  }

  /** A copy with whether a sampled BOS ends a sequence (llama2.c checkpoints) changed to {@code v}; validated like the constructor. */
  public EngineOptions withBosEndsSequence(boolean v) {
    return new EngineOptions(blockSize, maxBatchTokens, maxRunningSequences, prefillChunk, hostThreads, v, kvCapacityTokens, prefixCaching, reservePageIds);
  }

  /** A copy with tokens of KV virtual space to reserve (0 = maxRunningSequences x context) changed to {@code v}; validated like the constructor. */
  public EngineOptions withKvCapacityTokens(int v) {
    return new EngineOptions(blockSize, maxBatchTokens, maxRunningSequences, prefillChunk, hostThreads, bosEndsSequence, v, prefixCaching, reservePageIds);
  }

  /** A copy with whether finished requests' full blocks stay cached for prefix reuse changed to {@code v}; validated like the constructor. */
  public EngineOptions withPrefixCaching(boolean v) {
    return new EngineOptions(blockSize, maxBatchTokens, maxRunningSequences, prefillChunk, hostThreads, bosEndsSequence, kvCapacityTokens, v, reservePageIds);
  }

  /** A copy with empty page ids a model keeps mapped and asks the pool to pre-create changed to {@code v}; validated like the constructor. */
  public EngineOptions withReservePageIds(int v) {
    return new EngineOptions(blockSize, maxBatchTokens, maxRunningSequences, prefillChunk, hostThreads, bosEndsSequence, kvCapacityTokens, prefixCaching, v);
  }

  /** Tokens to reserve KV space for, for a model of context {@code maxSeqLen}. */
  public int kvCapacityTokensFor(int maxSeqLen) {
    if (kvCapacityTokens > 0) return kvCapacityTokens;
    return (int) Math.min(Integer.MAX_VALUE, (long) maxRunningSequences * maxSeqLen);
  }

  private static void positive(String field, int value) {
    if (value < 1) throw new IllegalArgumentException(field + " must be >= 1, got " + value);
  }
}
