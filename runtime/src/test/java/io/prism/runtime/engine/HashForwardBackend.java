package io.prism.runtime.engine;

import io.prism.runtime.memory.HostDeviceMemory;
import io.prism.runtime.memory.KvCache;
import io.prism.runtime.memory.VirtualRange;
import io.prism.runtime.model.ModelConfig;
import java.util.function.ToIntFunction;

/**
 * A fake forward pass whose logits are a deterministic function of the sequence's whole token
 * history, read back from the paged KV cache: each computed token's id is written into layer 0's K
 * at its slot and its position into the last layer's V; the logits of position {@code t} hash the
 * ids read back from positions {@code [0, t]}. So a wrong block table, a block shared by two
 * sequences, a page unmapped too early (the host memory throws) or a recompute that differs all
 * change the output.
 */
final class HashForwardBackend implements ForwardBackend {
  private final ModelConfig config;
  private final KvCache kv;
  private final HostDeviceMemory memory;
  private final ToIntFunction<int[]> forced;
  int calls;
  int maxEntries;
  int maxTokens;
  boolean closed;
  boolean resident = true;
  long weightBytes;

  /**
   * @param forced returns the token to make overwhelmingly likely after a history, or -1 for none
   *     (then the argmax is a pseudo-random function of the history)
   */
  HashForwardBackend(ModelConfig config, KvCache kv, HostDeviceMemory memory, ToIntFunction<int[]> forced) {
    this.config = config;
    this.kv = kv;
    this.memory = memory;
    this.forced = forced;
  }

  @Override
  public ModelConfig config() {
    return config;
  }

  @Override
  public KvCache kvCache() {
    return kv;
  }

  @Override
  public void forward(ForwardBatch batch, float[][] logits) {
    if (!resident) throw new IllegalStateException("weights evicted");
    calls++;
    maxEntries = Math.max(maxEntries, batch.entries().size());
    maxTokens = Math.max(maxTokens, batch.numTokens());
    for (int e = 0; e < batch.entries().size(); e++) {
      ForwardBatch.Entry en = batch.entries().get(e);
      int end = en.startPos() + en.tokens().length;
      if (end > config.maxSeqLen()) throw new IllegalArgumentException("position " + end + " beyond " + config.maxSeqLen());
      if ((long) en.blockTable().length * kv.blockSize() < end) throw new IllegalArgumentException("block table too short");
      for (int i = 0; i < en.tokens().length; i++) {
        int pos = en.startPos() + i;
        write(kv.keys(0), en.blockTable(), pos, en.tokens()[i]);
        write(kv.values(config.numLayers() - 1), en.blockTable(), pos, pos);
      }
      if (!en.wantLogits()) continue;
      int[] history = new int[end];
      for (int pos = 0; pos < end; pos++) {
        history[pos] = (int) read(kv.keys(0), en.blockTable(), pos);
        if (read(kv.values(config.numLayers() - 1), en.blockTable(), pos) != pos) {
          throw new IllegalStateException("KV slot of position " + pos + " was overwritten");
        }
      }
      long h = 1125899906842597L;
      for (int t : history) h = 31 * h + t;
      float[] row = logits[e];
      for (int v = 0; v < row.length; v++) row[v] = 2f * unit(mix(h * 0x9E3779B97F4A7C15L + v));
      int f = forced.applyAsInt(history);
      if (f >= 0) row[f] += 100f;
    }
  }

  private long slotOffset(int[] table, int pos) {
    return kv.blockOffsetBytes(table[pos / kv.blockSize()]) + (long) (pos % kv.blockSize()) * config.kvDim() * kv.elementBytes();
  }

  private void write(VirtualRange r, int[] table, int pos, float value) {
    long off = slotOffset(table, pos);
    long g = memory.granularity();
    memory.pageArray(r, off - off % g)[(int) (off % g) / Float.BYTES] = value;
  }

  private float read(VirtualRange r, int[] table, int pos) {
    long off = slotOffset(table, pos);
    long g = memory.granularity();
    return memory.pageArray(r, off - off % g)[(int) (off % g) / Float.BYTES];
  }

  private static long mix(long z) {
    z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
    z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
    return z ^ (z >>> 31);
  }

  private static float unit(long z) {
    return (z >>> 40) / (float) (1 << 24);
  }

  @Override
  public long weightBytes() {
    return weightBytes;
  }

  @Override
  public boolean weightsResident() {
    return resident;
  }

  @Override
  public void evictWeights() {
    resident = false;
  }

  @Override
  public void activateWeights() {
    resident = true;
  }

  @Override
  public void close() {
    closed = true;
  }
}
