package io.prism.runtime.engine;

import java.util.List;

/**
 * One step's work for a {@link ForwardBackend}: for each sequence, a contiguous chunk of tokens
 * (a prefill chunk, or the single token of a decode) at known positions, and the sequence's block
 * table.
 *
 * @param entries sequences in this step; order defines the order of the logits rows
 */
public record ForwardBatch(List<Entry> entries) {
  /**
   * @param tokens token ids to process, length >= 1
   * @param startPos position of {@code tokens[0]} in the sequence; positions {@code [0, startPos)}
   *     are already in the KV cache
   * @param blockTable block ids of the sequence, covering positions {@code [0, startPos +
   *     tokens.length)}; token at position {@code t} lives in block {@code blockTable[t / blockSize]},
   *     slot {@code t % blockSize}
   * @param wantLogits whether to compute the logits of the last token (false for a non-final prefill chunk)
   */
  public record Entry(int[] tokens, int startPos, int[] blockTable, boolean wantLogits) {}

  /** Total tokens processed in this step. */
  public int numTokens() {
    int n = 0;
    for (Entry e : entries) n += e.tokens().length;
    return n;
  }
}
