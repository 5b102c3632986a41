package io.prism.runtime.engine;

import io.prism.runtime.memory.KvCache;
import io.prism.runtime.model.ModelConfig;

/**
 * The static limits a request of one model instance must fit, taken once from its config and its KV
 * cache's geometry, so that whoever queues requests outside the engine (the GPU's local admission)
 * refuses a request that can never run before it waits, with the same typed {@link Rejection} the
 * engine would give. Immutable; safe to share between threads.
 *
 * @param modelId the model
 * @param maxSeqLen context length in tokens
 * @param vocabSize vocabulary size
 * @param blockSize tokens per KV block
 * @param maxBlocks KV blocks the model's virtual ranges can hold
 * @param blocksPerPage KV blocks per page id
 * @param physicalPagesPerPageId pool pages behind one page id ({@code 2 * layers})
 */
public record RequestLimits(String modelId, int maxSeqLen, int vocabSize, int blockSize, int maxBlocks, int blocksPerPage,
    int physicalPagesPerPageId) {
  /** The limits of a model with {@code config} over {@code kv}. */
  public static RequestLimits of(String modelId, ModelConfig config, KvCache kv) {
    return new RequestLimits(modelId, config.maxSeqLen(), config.vocabSize(), kv.blockSize(), kv.maxBlocks(), kv.blocksPerPage(),
        kv.physicalPagesPerPageId());
  }

  /**
   * Null if {@code r} fits; else why not: prompt plus {@code maxTokens} over the context length
   * (OpenAI's wording), a prompt or {@code logit_bias} token outside the vocabulary, more KV blocks
   * (all {@code n} choices, sharing the prompt's full blocks) than the cache
   * reserves, or more KV pages than the pool could ever hold.
   *
   * @param capacityPages pages the pool could ever give KV beside the weights
   * @param evictedWeightPages pages an evicted model's weights will take back first (0 when resident)
   */
  public Rejection check(GenerationRequest r, long capacityPages, long evictedWeightPages) {
    int p = r.promptTokens().length;
    int c = r.params().maxTokens();
    int n = maxSeqLen;
    if (p > n || (long) p + c > n) {
      return new Rejection.ContextLengthExceeded("This model's maximum context length is " + n + " tokens. However, you requested "
          + ((long) p + c) + " tokens (" + p + " in the messages, " + c + " in the completion).");
    }
    for (int t : r.promptTokens()) {
      if (t < 0 || t >= vocabSize) {
        return new Rejection.InvalidRequest("prompt", "prompt token id " + t + " is outside the vocabulary of " + vocabSize + " tokens");
      }
    }
    for (int t : r.params().logitBias().keySet()) {
      if (t >= vocabSize) return new Rejection.InvalidRequest("logit_bias", "logit_bias token id " + t + " is outside the vocabulary of " + vocabSize + " tokens");
    }
    int kvTokens = p + c - 1; // the last sampled token is never computed
    int sharedBlocks = p / blockSize; // n choices share the prompt's full blocks, each has the rest
    long perChoice = (kvTokens + blockSize - 1) / blockSize - sharedBlocks;
    int needBlocks = (int) Math.min(Integer.MAX_VALUE, sharedBlocks + r.params().n() * perChoice);
    if (needBlocks > maxBlocks) {
      return new Rejection.InvalidRequest("max_tokens", "request needs " + needBlocks + " KV blocks but model " + modelId
          + " reserves only " + maxBlocks + "; lower max_tokens or raise the engine's KV capacity");
    }
    long needPages = (long) ((needBlocks + blocksPerPage - 1) / blocksPerPage) * physicalPagesPerPageId;
    long capacity = capacityPages - evictedWeightPages;
    if (needPages > capacity) {
      return new Rejection.InvalidRequest("max_tokens", "request needs " + needPages + " KV pages but the GPU's page pool has room for "
          + capacity + "; lower max_tokens");
    }
    return null;
  }
}
