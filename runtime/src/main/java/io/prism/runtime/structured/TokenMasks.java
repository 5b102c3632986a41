package io.prism.runtime.structured;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Token masks of one {@link Grammar} over one {@link TokenVocabulary}: which tokens may come next
 * from an automaton state, computed by walking the vocabulary trie against the automaton and cached.
 *
 * <p>Two caches, after XGrammar's split of context-independent and context-dependent tokens (Dong
 * et al., "XGrammar: Flexible and Efficient Structured Generation Engine for Large Language Models",
 * 2024):
 * <ul>
 *   <li><b>local masks</b>, per top frame (its {@link Frame#maskKey}), in the vocabulary's shared
 *       cache: the trie is walked with the frame alone above a {@link Stack#HOLE}; a token whose
 *       bytes stay inside the frame (the frame's own pushes included) is decided there, and the
 *       trie nodes where a byte would go below the frame are kept as <i>escapes</i>. A string's
 *       body, the costly walk that passes most of the vocabulary, is thus computed once per
 *       vocabulary and reused by every schema and every property;
 *   <li><b>state masks</b>, per automaton state (a set of full stacks), in this object: the union
 *       of each stack's local mask, the tokens found by walking each escape's subtree with the stack
 *       below the frame, and the stop tokens when the state accepts.
 * </ul>
 * A walk refuses a whole subtree at the first byte the automaton refuses. Threading: any thread;
 * caches are synchronized, masks immutable.
 */
public final class TokenMasks {
  private final Grammar grammar;
  private final TokenVocabulary vocab;
  private final LruCache<List<Object>, TokenMask> stateMasks;
  private final int words;

  /** Local result of a frame: tokens decided inside it and the escape trie nodes. */
  record LocalMask(long[] bits, int[] escapes) {}

  /**
   * @param stateCacheEntries how many automaton states' masks to keep (each at most {@code
   *     vocabSize / 8} bytes, usually a short id list)
   */
  public TokenMasks(Grammar grammar, TokenVocabulary vocab, int stateCacheEntries) {
    this.grammar = grammar;
    this.vocab = vocab;
    this.stateMasks = new LruCache<>(stateCacheEntries);
    this.words = (vocab.vocabSize + 63) >>> 6;
  }

  /** The grammar. */
  public Grammar grammar() {
    return grammar;
  }

  /** The vocabulary. */
  public TokenVocabulary vocabulary() {
    return vocab;
  }

  /** A fresh per-sequence state at the start of the output. */
  public ConstraintState newState() {
    return new ConstraintState(this);
  }

  /** Cached masks of automaton states. */
  public int cachedStates() {
    return stateMasks.size();
  }

  /** The mask of automaton state {@code states} (a non-empty list of stacks). */
  TokenMask mask(List<Stack> states) {
    List<Object> key = new ArrayList<>(2 * states.size()); // a stack's mask depends on its top only through the top's mask key
    for (Stack s : states) {
      key.add(s == Stack.END ? Stack.END : s.top.maskKey(vocab.maxTokenBytes));
      key.add(s == Stack.END ? Stack.END : s.rest);
    }
    TokenMask m = stateMasks.get(key);
    if (m != null) return m;
    long[] bits = new long[words];
    boolean accepting = false;
    for (Stack s : states) {
      if (s.accepting()) accepting = true;
      if (s == Stack.END) continue;
      LocalMask local = local(s.top);
      for (int w = 0; w < words; w++) bits[w] |= local.bits[w];
      List<Stack> below = List.of(s.rest);
      for (int node : local.escapes) walk(node, below, bits);
    }
    if (accepting) for (int id : vocab.stopTokens) bits[id >>> 6] |= 1L << id;
    m = TokenMask.of(vocab.vocabSize, bits);
    stateMasks.put(key, m);
    return m;
  }

  private LocalMask local(Frame top) {
    Object key = top.maskKey(vocab.maxTokenBytes);
    LocalMask m = vocab.localMasks.get(key);
    if (m != null) return m;
    long[] bits = new long[words];
    IntList escapes = new IntList();
    List<Stack> start = List.of(Stack.push(top, Stack.HOLE));
    for (int c = vocab.firstChild[0]; c >= 0; c = vocab.nextSibling[c]) walkLocal(c, start, bits, escapes);
    m = new LocalMask(bits, escapes.toArray());
    vocab.localMasks.put(key, m);
    return m;
  }

  private void walkLocal(int node, List<Stack> states, long[] bits, IntList escapes) {
    Step step = new Step();
    for (Stack s : states) Frame.feed(s, vocab.label[node] & 0xff, step);
    if (step.escaped) escapes.add(node);
    if (step.out.isEmpty()) return;
    mark(node, bits);
    for (int c = vocab.firstChild[node]; c >= 0; c = vocab.nextSibling[c]) walkLocal(c, step.out, bits, escapes);
  }

  /** Marks the tokens of {@code node}'s subtree that the full stacks {@code states} accept, starting with {@code node}'s byte. */
  private void walk(int node, List<Stack> states, long[] bits) {
    List<Stack> next = advance(states, vocab.label[node] & 0xff);
    if (next.isEmpty()) return;
    mark(node, bits);
    for (int c = vocab.firstChild[node]; c >= 0; c = vocab.nextSibling[c]) walk(c, next, bits);
  }

  private void mark(int node, long[] bits) {
    for (int i = vocab.tokenStart[node]; i < vocab.tokenStart[node + 1]; i++) {
      int id = vocab.tokens[i];
      bits[id >>> 6] |= 1L << id;
    }
  }

  /** The states after byte {@code b} (empty: refused). Full stacks only (no {@link Stack#HOLE}). */
  static List<Stack> advance(List<Stack> states, int b) {
    Step step = new Step();
    for (Stack s : states) Frame.feed(s, b, step);
    return step.out;
  }

  /** Collects distinct stacks. */
  private static final class Step implements Frame.Sink {
    final List<Stack> out = new ArrayList<>(2);
    boolean escaped;

    @Override
    public void add(Stack s) {
      if (!out.contains(s)) out.add(s);
    }

    @Override
    public void escape() {
      escaped = true;
    }
  }

  private static final class IntList {
    int[] a = new int[16];
    int n;

    void add(int x) {
      if (n == a.length) a = Arrays.copyOf(a, n * 2);
      a[n++] = x;
    }

    int[] toArray() {
      return Arrays.copyOf(a, n);
    }
  }
}
