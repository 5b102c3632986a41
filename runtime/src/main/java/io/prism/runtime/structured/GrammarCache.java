package io.prism.runtime.structured;

import java.util.Objects;

/**
 * Compiled grammars by language and vocabulary: a bounded LRU of {@link TokenMasks} keyed by the
 * grammar's canonical text ({@link Grammar#key()}) and the vocabulary's identity, so a schema used
 * again reuses its cached state masks. Threading: any thread.
 */
public final class GrammarCache {
  private static final GrammarCache SHARED = new GrammarCache(64, 2048);

  private record Key(String grammar, TokenVocabulary vocab) {
    @Override
    public boolean equals(Object o) {
      return o instanceof Key k && k.grammar.equals(grammar) && k.vocab == vocab;
    }

    @Override
    public int hashCode() {
      return Objects.hash(grammar, System.identityHashCode(vocab));
    }
  }

  private final LruCache<Key, TokenMasks> entries;
  private final int stateCacheEntries;

  /**
   * @param maxGrammars grammars kept (least recently used dropped first)
   * @param stateCacheEntries automaton states whose masks each grammar keeps
   */
  public GrammarCache(int maxGrammars, int stateCacheEntries) {
    this.entries = new LruCache<>(maxGrammars);
    this.stateCacheEntries = stateCacheEntries;
  }

  /** The process-wide cache (64 grammars, 2048 states each). */
  public static GrammarCache shared() {
    return SHARED;
  }

  /** The masks of {@code grammar} over {@code vocab}, made on first use. */
  public TokenMasks masks(Grammar grammar, TokenVocabulary vocab) {
    Key k = new Key(grammar.key(), vocab);
    TokenMasks m = entries.get(k);
    if (m != null) return m;
    m = new TokenMasks(grammar, vocab, stateCacheEntries);
    entries.put(k, m);
    return m;
  }

  /** Grammars cached now. */
  public int size() {
    return entries.size();
  }
}
