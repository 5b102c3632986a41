package io.prism.cuda;

import io.prism.runtime.engine.ForwardBatch;
import io.prism.runtime.memory.KvCache;
import java.util.List;
import java.util.function.IntConsumer;

/** Greedy generation on one sequence for the GPU tests: prompt in one prefill step, then decode. */
final class Greedy {
  private Greedy() {}

  /**
   * Runs {@code prompt} then {@code steps - 1} decode steps; returns the {@code steps} generated ids.
   * {@code between} runs before every step (the stress test churns another model's pages there).
   */
  static int[] generate(CudaForwardBackend be, KvPages pages, int[] table, int[] prompt, int steps, IntConsumer between) {
    KvCache kv = be.kvCache();
    int[] out = new int[steps];
    int[] next = new int[1];
    int pos = 0;
    int[] chunk = prompt;
    for (int s = 0; s < steps; s++) {
      if (between != null) between.accept(s);
      int end = pos + chunk.length;
      int blocks = (end + kv.blockSize() - 1) / kv.blockSize();
      int[] t = java.util.Arrays.copyOf(table, blocks);
      pages.ensureBlocks(kv, t);
      be.forwardGreedy(new ForwardBatch(List.of(new ForwardBatch.Entry(chunk, pos, t, true))), next);
      out[s] = next[0];
      pos = end;
      chunk = new int[] {next[0]};
    }
    return out;
  }

  /** Block table {@code [0, n)} in order. */
  static int[] contiguous(int n) {
    int[] t = new int[n];
    for (int i = 0; i < n; i++) t[i] = i;
    return t;
  }

  /** Block table whose block i sits in page id {@code i % pageIds}, scattered over the pages. */
  static int[] scattered(KvCache kv, int n, int pageIds) {
    int[] t = new int[n];
    for (int i = 0; i < n; i++) t[i] = (i % pageIds) * kv.blocksPerPage() + (i / pageIds) * 3 % kv.blocksPerPage();
    return t;
  }
}
