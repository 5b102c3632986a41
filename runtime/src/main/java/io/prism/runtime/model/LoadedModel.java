package io.prism.runtime.model;

import io.prism.runtime.tokenizer.Tokenizer;

/**
 * A model ready to run on the host: its shape, float32 weights and vocabulary.
 *
 * @param id model id as served (file stem, {@code -gguf} suffix on a clash, or {@code random:NAME})
 * @param source path or {@code random:NAME} spec it was loaded from
 * @param config shape
 * @param weights float32 weights; {@code null} for a random shape too large for the host, whose
 *     weights only a device backend generates
 * @param tokenizer vocabulary whose size equals {@code config.vocabSize()}
 */
public record LoadedModel(String id, String source, ModelConfig config, ModelWeights weights, Tokenizer tokenizer) {
  /**
   * This model without its host weights: what an engine keeps once its backend has them (so a
   * backend that drops its host copy really frees the arrays).
   */
  public LoadedModel withoutWeights() {
    return weights == null ? this : new LoadedModel(id, source, config, null, tokenizer);
  }
}
