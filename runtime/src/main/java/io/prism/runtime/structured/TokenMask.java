package io.prism.runtime.structured;

import java.util.Arrays;

/**
 * The set of token ids allowed at one step, kept sparse (a sorted id list) when few tokens are
 * allowed and dense (a bitset) otherwise, so cached masks of structural states cost little memory.
 * Immutable; any thread.
 */
public final class TokenMask {
  private final int vocabSize;
  private final long[] bits; // dense, or null
  private final int[] ids; // sparse (sorted), or null
  private final int count;

  private TokenMask(int vocabSize, long[] bits, int[] ids, int count) {
    this.vocabSize = vocabSize;
    this.bits = bits;
    this.ids = ids;
    this.count = count;
  }

  /** The mask of the ids set in {@code bits} ({@code [ceil(vocabSize / 64)]}); takes the array. */
  static TokenMask of(int vocabSize, long[] bits) {
    int count = 0;
    for (long w : bits) count += Long.bitCount(w);
    if (count * 32L >= vocabSize) return new TokenMask(vocabSize, bits, null, count);
    int[] ids = new int[count];
    int k = 0;
    for (int w = 0; w < bits.length; w++) {
      long x = bits[w];
      while (x != 0) {
        ids[k++] = w * 64 + Long.numberOfTrailingZeros(x);
        x &= x - 1;
      }
    }
    return new TokenMask(vocabSize, null, ids, count);
  }

  /** Number of allowed ids. */
  public int count() {
    return count;
  }

  /** Whether {@code id} is allowed. */
  public boolean allows(int id) {
    if (id < 0 || id >= vocabSize) return false;
    return bits != null ? (bits[id >>> 6] & (1L << id)) != 0 : Arrays.binarySearch(ids, id) >= 0;
  }

  /**
   * Sets every disallowed entry of {@code logits} to {@code -Infinity} (so softmax gives it 0 and
   * argmax never picks it); allowed entries are unchanged.
   *
   * @param logits {@code [vocabSize]} or longer (entries beyond the vocabulary are disallowed)
   */
  public void apply(float[] logits) {
    if (bits == null) {
      float[] keep = new float[ids.length];
      for (int i = 0; i < ids.length; i++) keep[i] = logits[ids[i]];
      Arrays.fill(logits, Float.NEGATIVE_INFINITY);
      for (int i = 0; i < ids.length; i++) logits[ids[i]] = keep[i];
      return;
    }
    int n = Math.min(logits.length, vocabSize);
    for (int w = 0; w * 64 < n; w++) {
      long off = ~bits[w]; // visit only the disallowed ids: few where a dense mask is used
      if (off == 0) continue;
      int base = w * 64;
      if (off == -1L && base + 64 <= n) {
        Arrays.fill(logits, base, base + 64, Float.NEGATIVE_INFINITY);
        continue;
      }
      while (off != 0) {
        int i = base + Long.numberOfTrailingZeros(off);
        if (i >= n) break;
        logits[i] = Float.NEGATIVE_INFINITY;
        off &= off - 1;
      }
    }
    if (logits.length > vocabSize) Arrays.fill(logits, vocabSize, logits.length, Float.NEGATIVE_INFINITY);
  }
}
