package io.prism.runtime.memory;

import io.prism.runtime.model.ModelConfig;

/** Tiny model shapes whose KV blocks make small host pages hold few blocks. */
final class KvTestShapes {
  static final long PAGE_BYTES = 4096;

  private KvTestShapes() {}

  /**
   * A shape with {@code kvDim = 64}: with block size 4 and float32, one block of one layer is 1 KiB,
   * so a 4 KiB page id holds 4 blocks.
   */
  static ModelConfig config(String name, int layers, int maxSeqLen) {
    return new ModelConfig(name, 64, 128, layers, 4, 4, 32, maxSeqLen, 10000f, null, 1e-5f, true);
  }
}
