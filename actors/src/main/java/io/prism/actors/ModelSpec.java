package io.prism.actors;

import java.time.Duration;

/**
 * A model in the catalog: what to load and its latency targets.
 *
 * @param id model id as served ({@code "model"} in OpenAI requests)
 * @param source a file path ({@code .bin} llama2.c or {@code .gguf}) readable on the GPU nodes, or
 *     {@code random:NAME} for random weights in a real shape
 * @param tokenizer tokenizer file path, or {@code null} to let the loader find it (GGUF embeds one;
 *     a llama2.c checkpoint looks for a tokenizer beside it)
 * @param ttftSlo time-to-first-token SLO
 * @param tpotSlo time-per-output-token SLO
 * @param estimatedBytes estimate of the weights' bytes for placement (file size), 0 if unknown
 */
public record ModelSpec(String id, String source, String tokenizer, Duration ttftSlo, Duration tpotSlo, long estimatedBytes)
    implements PrismMessage {
  public ModelSpec {
    if (id == null || id.isBlank()) throw new IllegalArgumentException("model id must not be empty");
    if (source == null || source.isBlank()) throw new IllegalArgumentException("model source must not be empty");
    if (ttftSlo == null || ttftSlo.isNegative() || ttftSlo.isZero()) throw new IllegalArgumentException("ttft SLO must be > 0, got " + ttftSlo);
    if (tpotSlo == null || tpotSlo.isNegative() || tpotSlo.isZero()) throw new IllegalArgumentException("tpot SLO must be > 0, got " + tpotSlo);
    if (estimatedBytes < 0) throw new IllegalArgumentException("estimatedBytes must be >= 0, got " + estimatedBytes);
  }
}
