package io.prism.actors;

import io.prism.runtime.policy.Slo;
import java.time.Duration;

/**
 * A model in the catalog: what to load, its latency targets and its memory limits on its GPU.
 *
 * @param id model id as served ({@code "model"} in OpenAI requests)
 * @param source a file path ({@code .bin} llama2.c or {@code .gguf}) readable on the GPU nodes, or
 *     {@code random:NAME} for random weights in a real shape
 * @param tokenizer tokenizer file path, or {@code null} to let the loader find it (GGUF embeds one;
 *     a llama2.c checkpoint looks for a tokenizer beside it)
 * @param ttftSlo time-to-first-token SLO: the deadline of local admission, and the strictness of the
 *     model in reclaim (with {@code tpotSlo})
 * @param tpotSlo time-per-output-token SLO
 * @param estimatedBytes estimate of the weights' bytes for placement (file size), 0 if unknown
 * @param minPages KV pages guaranteed to the model on its GPU (other models cannot take the pool
 *     below it, reclaim never takes it below it); 0 for none
 * @param maxPages most KV pages the model may hold on its GPU; 0 for no maximum. Lowering it takes
 *     effect lazily: nothing is taken back, the model just cannot grow until it is below the new
 *     maximum. Half the pool for two models is the static-partition baseline.
 * @param maxReplicas most instances of the model on distinct GPUs at once ({@code >= 1}, default 1):
 *     above 1 the placement adds an instance when every instance is overloaded for a while and
 *     removes it when the demand falls ({@code io.prism.runtime.policy.ReplicaScaling})
 */
public record ModelSpec(String id, String source, String tokenizer, Duration ttftSlo, Duration tpotSlo, long estimatedBytes, int minPages,
    int maxPages, int maxReplicas) implements PrismMessage {
  public ModelSpec {
    if (id == null || id.isBlank()) throw new IllegalArgumentException("model id must not be empty");
    if (source == null || source.isBlank()) throw new IllegalArgumentException("model source must not be empty");
    if (ttftSlo == null || ttftSlo.isNegative() || ttftSlo.isZero()) throw new IllegalArgumentException("ttft SLO must be > 0, got " + ttftSlo);
    if (tpotSlo == null || tpotSlo.isNegative() || tpotSlo.isZero()) throw new IllegalArgumentException("tpot SLO must be > 0, got " + tpotSlo);
    if (estimatedBytes < 0) throw new IllegalArgumentException("estimatedBytes must be >= 0, got " + estimatedBytes);
    if (minPages < 0) throw new IllegalArgumentException("min pages must be >= 0, got " + minPages);
    if (maxPages < 0) throw new IllegalArgumentException("max pages must be >= 0 (0: no maximum), got " + maxPages);
    if (maxPages > 0 && maxPages < minPages) throw new IllegalArgumentException("max pages " + maxPages + " is below min pages " + minPages);
    if (maxReplicas < 1) throw new IllegalArgumentException("max replicas must be >= 1, got " + maxReplicas);
  }

  /** A model with one instance at most. */
  public ModelSpec(String id, String source, String tokenizer, Duration ttftSlo, Duration tpotSlo, long estimatedBytes, int minPages, int maxPages) {
    this(id, source, tokenizer, ttftSlo, tpotSlo, estimatedBytes, minPages, maxPages, 1);
  }

  /** A model without memory limits. */
  public ModelSpec(String id, String source, String tokenizer, Duration ttftSlo, Duration tpotSlo, long estimatedBytes) {
    this(id, source, tokenizer, ttftSlo, tpotSlo, estimatedBytes, 0, 0, 1);
  }

  /** The SLO as the runtime's policies see it. */
  public Slo slo() {
    return new Slo(ttftSlo, tpotSlo);
  }

  /** {@link #maxPages()} for the page pool: {@link Integer#MAX_VALUE} when there is no maximum. */
  public int poolMaxPages() {
    return maxPages == 0 ? Integer.MAX_VALUE : maxPages;
  }

  /** This spec with other memory limits. */
  public ModelSpec withLimits(int newMinPages, int newMaxPages) {
    return new ModelSpec(id, source, tokenizer, ttftSlo, tpotSlo, estimatedBytes, newMinPages, newMaxPages, maxReplicas);
  }

  /** This spec with another {@link #maxReplicas()}. */
  public ModelSpec withMaxReplicas(int n) {
    return new ModelSpec(id, source, tokenizer, ttftSlo, tpotSlo, estimatedBytes, minPages, maxPages, n);
  }

  /** Whether {@code other} is the same model (id and source) with possibly other SLOs, limits or estimate. */
  public boolean sameModel(ModelSpec other) {
    return id.equals(other.id) && source.equals(other.source);
  }
}
