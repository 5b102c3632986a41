package io.prism.runtime.forward;

import io.prism.runtime.engine.ForwardBatch;
import io.prism.runtime.memory.KvCache;
import io.prism.runtime.model.ModelConfig;
import java.util.List;

/** Argument checks of {@link HostForwardBackend#forward}. Stateless. */
final class BatchChecks {
  private BatchChecks() {}

  /**
   * Checks {@code entries} against the model and the cache before any work.
   *
   * @return the step's total token count
   * @throws IllegalArgumentException naming the entry and the value (positions beyond {@code
   *     maxSeqLen}, token ids outside the vocabulary, short block tables, block ids outside the
   *     cache, missing logits rows)
   * @throws IllegalStateException if a needed block lies in an unmapped page id
   */
  static int validate(List<ForwardBatch.Entry> entries, float[][] logits, ModelConfig c, KvCache kv) {
    int blockSize = kv.blockSize(), blocksPerPage = kv.blocksPerPage();
    if (logits == null || logits.length < entries.size()) {
      throw new IllegalArgumentException("logits needs " + entries.size() + " rows, got " + (logits == null ? "null" : logits.length));
    }
    int total = 0;
    for (int e = 0; e < entries.size(); e++) {
      ForwardBatch.Entry en = entries.get(e);
      int[] tokens = en.tokens();
      if (tokens == null || tokens.length == 0) throw new IllegalArgumentException("entry " + e + " has no tokens");
      if (en.startPos() < 0) throw new IllegalArgumentException("entry " + e + ": startPos " + en.startPos() + " < 0");
      int end = en.startPos() + tokens.length;
      if (end > c.maxSeqLen()) {
        throw new IllegalArgumentException("entry " + e + ": positions up to " + (end - 1) + " exceed maxSeqLen " + c.maxSeqLen());
      }
      for (int id : tokens) {
        if (id < 0 || id >= c.vocabSize()) throw new IllegalArgumentException("entry " + e + ": token id " + id + " outside [0, " + c.vocabSize() + ")");
      }
      int blocksNeeded = (end + blockSize - 1) / blockSize;
      int[] table = en.blockTable();
      if (table == null || table.length < blocksNeeded) {
        throw new IllegalArgumentException("entry " + e + ": block table has " + (table == null ? 0 : table.length)
            + " blocks, positions [0, " + end + ") need " + blocksNeeded);
      }
      for (int b = 0; b < blocksNeeded; b++) {
        int block = table[b];
        if (block < 0 || block >= kv.maxBlocks()) {
          throw new IllegalArgumentException("entry " + e + ": block id " + block + " outside [0, " + kv.maxBlocks() + ")");
        }
        if (!kv.isMapped(block / blocksPerPage)) {
          throw new IllegalStateException("entry " + e + ": block " + block + " lies in unmapped page id " + (block / blocksPerPage));
        }
      }
      if (en.wantLogits() && (logits[e] == null || logits[e].length < c.vocabSize())) {
        throw new IllegalArgumentException("entry " + e + ": logits row needs " + c.vocabSize() + " floats");
      }
      total += tokens.length;
    }
    return total;
  }}
