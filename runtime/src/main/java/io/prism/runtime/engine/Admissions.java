package io.prism.runtime.engine;

import io.prism.runtime.memory.KvCache;
import io.prism.runtime.memory.PagePool;
import io.prism.runtime.model.ModelConfig;

/** The request checks of {@link ModelEngine#submit}: why a request can never run, or null. */
final class Admissions {
  private Admissions() {}

  /**
   * Null if {@code r} fits; else the reason: prompt plus {@code maxTokens} over the context length
   * (OpenAI's wording), a prompt token outside the vocabulary, more KV blocks than the cache
   * reserves, or more KV pages than the pool could ever hold (beside the model's weights, which an
   * evicted model, {@code evictedWeightBytes > 0}, will bring back first).
   */
  static Rejection problem(GenerationRequest r, ModelConfig config, KvCache kv, PagePool pool, String modelId, long evictedWeightBytes) {
    int p = r.promptTokens().length;
    int c = r.params().maxTokens();
    int n = config.maxSeqLen();
    if (p > n || (long) p + c > n) {
      return new Rejection.ContextLengthExceeded("This model's maximum context length is " + n + " tokens. However, you requested "
          + ((long) p + c) + " tokens (" + p + " in the messages, " + c + " in the completion).");
    }
    for (int t : r.promptTokens()) {
      if (t < 0 || t >= config.vocabSize()) {
        return new Rejection.InvalidRequest("prompt", "prompt token id " + t + " is outside the vocabulary of " + config.vocabSize() + " tokens");
      }
    }
    int kvTokens = p + c - 1; // the last sampled token is never computed
    int needBlocks = (kvTokens + kv.blockSize() - 1) / kv.blockSize();
    if (needBlocks > kv.maxBlocks()) {
      return new Rejection.InvalidRequest("max_tokens", "request needs " + needBlocks + " KV blocks but model " + modelId
          + " reserves only " + kv.maxBlocks() + "; lower max_tokens or raise the engine's KV capacity");
    }
    long needPages = (long) ((needBlocks + kv.blocksPerPage() - 1) / kv.blocksPerPage()) * kv.physicalPagesPerPageId();
    long capacity = pool.capacityPages() - (evictedWeightBytes + pool.pageBytes() - 1) / pool.pageBytes();
    if (needPages > capacity) {
      return new Rejection.InvalidRequest("max_tokens", "request needs " + needPages + " KV pages but the GPU's page pool has room for "
          + capacity + "; lower max_tokens");
    }
    return null;
  }
}
