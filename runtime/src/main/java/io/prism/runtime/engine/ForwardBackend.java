package io.prism.runtime.engine;

import io.prism.runtime.memory.KvCache;
import io.prism.runtime.model.ModelConfig;

/**
 * The forward pass of one model instance over its paged {@link KvCache}. Implementations: the host
 * one in {@code io.prism.runtime.forward} and the CUDA one in {@code cuda-native}.
 *
 * <p>Threading: called only from the engine loop thread that owns the device.
 */
public interface ForwardBackend extends AutoCloseable {
  ModelConfig config();

  /** The KV cache this backend reads and writes. */
  KvCache kvCache();

  /**
   * Runs one step: for every entry, writes K and V of its tokens into their block slots, attends
   * causally over positions {@code [0, startPos + i]}, and for entries with {@code wantLogits} writes
   * the last token's logits ({@code [vocabSize]} floats, unnormalised) into {@code logits[row]},
   * where {@code row} is the entry's index. Rows of other entries are left untouched.
   *
   * @param logits {@code [entries][vocabSize]}, allocated by the caller
   * @throws IllegalArgumentException if a position is beyond {@code maxSeqLen} or a block table is too short
   */
  void forward(ForwardBatch batch, float[][] logits);

  /** Bytes of weights this backend holds on its device. */
  long weightBytes();

  @Override
  void close();
}
