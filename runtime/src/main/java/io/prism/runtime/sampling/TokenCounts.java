package io.prism.runtime.sampling;

import java.util.Arrays;

/**
 * The tokens one sequence has seen, for the penalties of {@link LogitAdjustment}: how often each
 * token occurs among the generated tokens, and (when tracked) whether it occurs in the prompt. Sparse:
 * an open-addressing hash table over the distinct tokens seen (never a {@code [vocabSize]} array),
 * which also lists them in first-seen order so building an adjustment costs O(distinct tokens).
 *
 * <p>Threading: not thread-safe; one instance per sequence, on the engine thread.
 */
public final class TokenCounts {
  private int[] keys; // [capacity], -1 empty
  private int[] slotOf; // [capacity]: index into the dense arrays below
  private int[] tokens = new int[16]; // [distinct] first-seen order
  private int[] outputCounts = new int[16]; // [distinct]
  private boolean[] inPrompt = new boolean[16]; // [distinct]
  private int distinct;
  private int outputTokens;

  /**
   * @param prompt the prompt's token ids; recorded only if {@code trackPrompt}
   * @param trackPrompt whether prompt tokens count as seen (repetition penalty)
   */
  public TokenCounts(int[] prompt, boolean trackPrompt) {
    keys = new int[64];
    slotOf = new int[64];
    Arrays.fill(keys, -1);
    if (trackPrompt) {
      for (int t : prompt) {
        int i = index(t); // may grow the arrays: index first
        inPrompt[i] = true;
      }
    }
  }

  /** Counts one generated token. */
  public void addOutput(int token) {
    int i = index(token); // may grow the arrays: index first
    outputCounts[i]++;
    outputTokens++;
  }

  /** Distinct tokens seen (prompt, when tracked, and generated). */
  public int distinct() {
    return distinct;
  }

  /** The {@code i}-th distinct token, in first-seen order. */
  public int token(int i) {
    return tokens[i];
  }

  /** Occurrences of the {@code i}-th distinct token among the generated tokens. */
  public int outputCount(int i) {
    return outputCounts[i];
  }

  /** Whether the {@code i}-th distinct token occurs in the prompt (false when the prompt is not tracked). */
  public boolean inPrompt(int i) {
    return inPrompt[i];
  }

  /** Generated tokens counted. */
  public int outputTokens() {
    return outputTokens;
  }

  /** Occurrences of {@code token} among the generated tokens (0 if never seen). */
  public int outputCountOf(int token) {
    int s = find(token);
    return s < 0 ? 0 : outputCounts[s];
  }

  private int find(int token) {
    int mask = keys.length - 1;
    for (int h = mix(token) & mask; ; h = (h + 1) & mask) {
      if (keys[h] == token) return slotOf[h];
      if (keys[h] == -1) return -1;
    }
  }

  /** Index of {@code token} in the dense arrays, adding it if new. */
  private int index(int token) {
    if (token < 0) throw new IllegalArgumentException("token id must be >= 0, got " + token);
    int mask = keys.length - 1;
    int h = mix(token) & mask;
    for (; keys[h] != -1; h = (h + 1) & mask) if (keys[h] == token) return slotOf[h];
    if (distinct == tokens.length) {
      tokens = Arrays.copyOf(tokens, 2 * distinct);
      outputCounts = Arrays.copyOf(outputCounts, 2 * distinct);
      inPrompt = Arrays.copyOf(inPrompt, 2 * distinct);
    }
    int i = distinct++;
    tokens[i] = token;
    keys[h] = token;
    slotOf[h] = i;
    if (2 * distinct > keys.length) rehash();
    return i;
  }

  private void rehash() {
    keys = new int[keys.length * 2];
    slotOf = new int[keys.length];
    Arrays.fill(keys, -1);
    int mask = keys.length - 1;
    for (int i = 0; i < distinct; i++) {
      int h = mix(tokens[i]) & mask;
      while (keys[h] != -1) h = (h + 1) & mask;
      keys[h] = tokens[i];
      slotOf[h] = i;
    }
  }

  private static int mix(int x) {
    x *= 0x9E3779B9;
    return x ^ (x >>> 16);
  }
}
