package io.prism.runtime.structured;

import io.prism.runtime.tokenizer.Tokenizer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.WeakHashMap;

/**
 * A tokenizer's vocabulary as constrained decoding sees it: each token's bytes (as {@link
 * Tokenizer#decodeBytes} gives them after an ordinary token, so byte-level BPE pieces may be partial
 * UTF-8), arranged in a trie so one depth-first walk tests every token against an automaton state
 * and skips a whole subtree at the first refused byte (the approach of Outlines, XGrammar and
 * llguidance). Tokens that contribute no bytes (special tokens, padding) are outside the trie: a
 * grammar never allows them, except the stop tokens ({@link Tokenizer#isStopToken}) in an accepting
 * state.
 *
 * <p>Layout: trie nodes numbered in depth-first preorder ({@code 0} is the root, the empty prefix);
 * children of a node are in increasing byte order through {@code firstChild}/{@code nextSibling};
 * {@code tokens[tokenStart[n] .. tokenStart[n + 1])} are the ids whose bytes end at node {@code n}
 * (several ids may share bytes). Also holds the per-vocabulary cache of context-independent masks
 * ({@link TokenMasks}), shared by every grammar over it. Immutable but for that cache; any thread.
 * SentencePiece's "no leading space after BOS" is not modelled: a constrained answer right after a
 * BOS-final prompt may lose a leading space the grammar counted (only whitespace, which JSON ignores).
 */
public final class TokenVocabulary {
  private static final Map<Tokenizer, TokenVocabulary> BY_TOKENIZER = Collections.synchronizedMap(new WeakHashMap<>());

  final int vocabSize;
  final int[] firstChild, nextSibling, tokenStart, tokens;
  final byte[] label;
  final int nodeCount;
  /** Longest token in bytes: no token reads further than this. */
  final int maxTokenBytes;
  final int[] stopTokens;
  private final byte[][] bytes; // per id; null when outside the trie
  final LruCache<Object, TokenMasks.LocalMask> localMasks = new LruCache<>(4096);

  private TokenVocabulary(int vocabSize, byte[][] bytes, int[] stopTokens) {
    this.vocabSize = vocabSize;
    this.bytes = bytes;
    this.stopTokens = stopTokens;
    Integer[] order = new Integer[vocabSize];
    int m = 0;
    for (int i = 0; i < vocabSize; i++) if (bytes[i] != null) order[m++] = i;
    Integer[] ids = Arrays.copyOf(order, m);
    Arrays.sort(ids, (a, b) -> Arrays.compareUnsigned(bytes[a], bytes[b]));
    int maxNodes = 1;
    int longest = 0;
    for (int id : ids) {
      maxNodes += bytes[id].length;
      longest = Math.max(longest, bytes[id].length);
    }
    maxTokenBytes = longest;
    int[] fc = new int[maxNodes], ns = new int[maxNodes], ts = new int[maxNodes + 1];
    byte[] lb = new byte[maxNodes];
    Arrays.fill(fc, -1);
    Arrays.fill(ns, -1);
    int[] tok = new int[m];
    int[] path = new int[longest + 1]; // path[d]: node at depth d on the current path
    int[] lastChild = new int[maxNodes];
    Arrays.fill(lastChild, -1);
    int nodes = 1;
    int[] endNode = new int[m];
    byte[] prev = new byte[0];
    for (int t = 0; t < m; t++) {
      byte[] b = bytes[ids[t]];
      int common = 0;
      while (common < prev.length && common < b.length && prev[common] == b[common]) common++;
      for (int d = common; d < b.length; d++) { // nodes are made in preorder: ids are sorted by bytes
        int parent = path[d], n = nodes++;
        lb[n] = b[d];
        if (lastChild[parent] < 0) fc[parent] = n;
        else ns[lastChild[parent]] = n;
        lastChild[parent] = n;
        path[d + 1] = n;
      }
      endNode[t] = path[b.length];
      tok[t] = ids[t];
      prev = b;
    }
    for (int t = 0; t < m; t++) ts[endNode[t] + 1]++;
    for (int n = 0; n < nodes; n++) ts[n + 1] += ts[n];
    this.nodeCount = nodes;
    this.firstChild = Arrays.copyOf(fc, nodes);
    this.nextSibling = Arrays.copyOf(ns, nodes);
    this.label = Arrays.copyOf(lb, nodes);
    this.tokenStart = Arrays.copyOf(ts, nodes + 1);
    this.tokens = tok; // sorted by bytes, i.e. by end node in preorder
  }

  /**
   * The vocabulary of {@code tokenizer}, built once per tokenizer instance (about a second for a
   * 128k vocabulary) and kept while the tokenizer lives.
   */
  public static TokenVocabulary of(Tokenizer tokenizer) {
    TokenVocabulary v = BY_TOKENIZER.get(tokenizer);
    if (v != null) return v;
    v = build(tokenizer);
    BY_TOKENIZER.put(tokenizer, v);
    return v;
  }

  /** Builds a vocabulary from {@code tokenizer} without caching. */
  public static TokenVocabulary build(Tokenizer tokenizer) {
    int n = tokenizer.vocabSize();
    byte[][] bytes = new byte[n][];
    List<Integer> stops = new ArrayList<>();
    int prev = tokenizer.bosId() == 0 ? 1 : 0; // any id that is not BOS: no SentencePiece leading-space drop
    for (int i = 0; i < n; i++) {
      if (tokenizer.isStopToken(i)) stops.add(i);
      if (tokenizer.specialTokenText(i) != null) continue;
      byte[] b = tokenizer.decodeBytes(prev, i);
      if (b.length > 0) bytes[i] = b;
    }
    return new TokenVocabulary(n, bytes, stops.stream().mapToInt(Integer::intValue).toArray());
  }

  /** Builds a vocabulary from explicit token bytes ({@code null} or empty: not generatable) and stop ids (tests, benchmarks). */
  public static TokenVocabulary of(byte[][] tokenBytes, int[] stopTokens) {
    byte[][] copy = new byte[tokenBytes.length][];
    for (int i = 0; i < copy.length; i++) copy[i] = tokenBytes[i] == null || tokenBytes[i].length == 0 ? null : tokenBytes[i].clone();
    return new TokenVocabulary(copy.length, copy, stopTokens.clone());
  }

  /** Number of token ids (the model's vocab size). */
  public int size() {
    return vocabSize;
  }

  /** Number of trie nodes (root included). */
  public int trieNodes() {
    return nodeCount;
  }

  /** The bytes of token {@code id}, or null when it contributes none (special, padding). Not a copy: do not modify. */
  byte[] bytes(int id) {
    return bytes[id];
  }

  /** Whether {@code id} ends generation (EOS, end of turn). */
  boolean isStop(int id) {
    for (int s : stopTokens) if (s == id) return true;
    return false;
  }
}
