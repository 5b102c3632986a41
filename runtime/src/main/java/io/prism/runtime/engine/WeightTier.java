package io.prism.runtime.engine;

/**
 * Where a model instance's weights are, as in ServerlessLLM's storage hierarchy (Fu et al., OSDI
 * 2024): activation from a lower tier costs more (host: bytes / host-to-device bandwidth; disk: the
 * file read, or the generation of {@code random:} weights, then the copy).
 */
public enum WeightTier {
  /** Resident on the device: requests run at once. */
  GPU,
  /** Evicted; a host copy (pinned on CUDA) is kept for the next activation. */
  HOST,
  /** Evicted without a host copy: the next activation reads the model file again. */
  DISK;

  /** The lower-case name used in {@code /admin/gpus} and as the {@code tier} metric label. */
  public String label() {
    return name().toLowerCase(java.util.Locale.ROOT);
  }
}
