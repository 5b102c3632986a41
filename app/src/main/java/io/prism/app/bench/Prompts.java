package io.prism.app.bench;

import java.util.SplittableRandom;

/** Seeded random prompts (BOS, then token ids in {@code [3, vocabSize)}), the same for the server and the engine. */
final class Prompts {
  private Prompts() {}

  /**
   * @param seed distinct per request, so that prefix caching shares no more than the BOS block
   * @throws IllegalArgumentException if {@code length < 1} or the vocabulary has fewer than 4 tokens
   */
  static int[] random(int vocabSize, int bosId, int length, long seed) {
    if (length < 1 || vocabSize < 4) throw new IllegalArgumentException("need length >= 1 and vocabSize >= 4, got " + length + ", " + vocabSize);
    SplittableRandom rnd = new SplittableRandom(seed);
    int[] p = new int[length];
    p[0] = bosId;
    for (int i = 1; i < length; i++) p[i] = 3 + rnd.nextInt(vocabSize - 3);
    return p;
  }

  /** The prompt of request {@code index} in round {@code round} at concurrency {@code concurrency}. */
  static long seed(int concurrency, int round, int index) {
    return 1_000_003L * concurrency + 10_007L * round + index;
  }
}
