package io.prism.runtime.memory;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.function.IntPredicate;

/**
 * The index of cached full KV blocks of one model instance (vLLM's automatic prefix caching,
 * simplified): a full block is found by the chain of its token ids, so a request whose prompt starts
 * with the same tokens reuses the blocks instead of recomputing them.
 *
 * <pre>
 *   block 0 of a sequence:  key (ROOT,    tokens[0, B))      -> block 17  node 5
 *   block 1:                key (node 5,  tokens[B, 2B))     -> block 3   node 9
 *   block 2:                key (node 9,  tokens[2B, 3B))    -> block 40  node 12
 * </pre>
 *
 * A key is the parent's <b>node id</b> plus the block's tokens; a node id names one cached content
 * chain and is never reused (a counter), so lookups are exact: two keys match only if the tokens of
 * the whole prefix match, with no reliance on a hash being collision-free. When a block is evicted its
 * node dies; cached descendants registered under it can no longer be reached and age out of the LRU.
 * A block computed while identical content is already cached (two requests with one prompt at once)
 * is not indexed but takes the cached node as an <b>alias</b>, so its children are registered under
 * the canonical chain.
 *
 * <p>This class is bookkeeping for {@link BlockManager}: reference counts, pages and the choice of
 * what to evict live there. The LRU lists the cached blocks no sequence uses, least
 * recently used first ({@link #oldestIdle()}). Threading: confined to the engine thread.
 */
final class PrefixCache {
  /** Parent node of a sequence's first block. */
  static final long ROOT = 1;
  /** No node: the block is not cached and not an alias. */
  static final long NONE = 0;

  private static final class Key {
    final long parent;
    final int[] tokens;
    final int hash;

    Key(long parent, int[] tokens) {
      this.parent = parent;
      this.tokens = tokens;
      this.hash = 31 * Long.hashCode(parent) + Arrays.hashCode(tokens);
    }

    @Override
    public boolean equals(Object o) {
      return o instanceof Key k && k.parent == parent && k.hash == hash && Arrays.equals(k.tokens, tokens);
    }

    @Override
    public int hashCode() {
      return hash;
    }
  }

  private final int blockSize;
  private final Map<Key, Integer> byKey = new HashMap<>();
  private final Key[] keyOf; // [maxBlocks]: non-null iff the block is indexed (cached)
  private final long[] nodeOf; // [maxBlocks]: node id of the block's content chain, NONE if none
  private final LinkedHashSet<Integer> idle = new LinkedHashSet<>(); // cached, unused; LRU first
  private long nextNode = ROOT + 1;
  private long evictions;

  PrefixCache(int maxBlocks, int blockSize) {
    this.blockSize = blockSize;
    this.keyOf = new Key[maxBlocks];
    this.nodeOf = new long[maxBlocks];
  }

  /** The cached block holding {@code tokens[from, from + blockSize)} after {@code parentNode}, or -1. */
  int lookup(long parentNode, int[] tokens, int from) {
    Integer b = byKey.get(new Key(parentNode, Arrays.copyOfRange(tokens, from, from + blockSize)));
    return b == null ? -1 : b;
  }

  /** The cached blocks holding the longest cached prefix of {@code tokens}, at most {@code maxBlocks}. */
  int[] longestPrefix(int[] tokens, int maxBlocks) {
    int limit = Math.max(0, Math.min(maxBlocks, tokens.length / blockSize));
    int[] hits = new int[limit];
    int n = 0;
    long parent = ROOT;
    while (n < limit) {
      int b = lookup(parent, tokens, n * blockSize);
      if (b < 0) break;
      hits[n++] = b;
      parent = nodeOf[b];
    }
    return Arrays.copyOf(hits, n);
  }

  /**
   * Up to {@code max} pages holding idle blocks that satisfy {@code eligible}, least recently used
   * first: a page's recency is that of its most recently used idle block (ties: lowest page id).
   */
  List<Integer> pagesByRecency(int blocksPerPage, int maxPages, IntPredicate eligible, int max) {
    long[] lastUse = new long[maxPages];
    long position = 1;
    for (int b : idle) lastUse[b / blocksPerPage] = position++;
    List<Integer> pages = new ArrayList<>();
    for (int p = 0; p < maxPages; p++) if (lastUse[p] > 0 && eligible.test(p)) pages.add(p);
    pages.sort(Comparator.<Integer>comparingLong(p -> lastUse[p]).thenComparingInt(p -> p));
    return pages.subList(0, Math.min(max, pages.size()));
  }

  /** Node id of {@code block}'s content chain ({@link #NONE} if it is neither cached nor an alias). */
  long nodeOf(int block) {
    return nodeOf[block];
  }

  /** Whether {@code block} is indexed (its K/V can be found by a later request). */
  boolean isCached(int block) {
    return keyOf[block] != null;
  }

  /**
   * Indexes the full block {@code block} holding {@code tokens} after {@code parentNode}. If that
   * content is already cached in another block, {@code block} becomes an alias of it instead.
   *
   * @return true if {@code block} is now cached, false if it became an alias
   */
  boolean register(int block, long parentNode, int[] tokens) {
    if (nodeOf[block] != NONE) throw new IllegalStateException("block " + block + " is already registered");
    if (tokens.length != blockSize) throw new IllegalArgumentException("a full block has " + blockSize + " tokens, got " + tokens.length);
    Key k = new Key(parentNode, tokens.clone());
    Integer existing = byKey.get(k);
    if (existing != null) {
      nodeOf[block] = nodeOf[existing];
      return false;
    }
    byKey.put(k, block);
    keyOf[block] = k;
    nodeOf[block] = nextNode++;
    return true;
  }

  /** Forgets an alias (or nothing) when its block frees; cached blocks go {@link #markIdle idle} instead. */
  void forgetAlias(int block) {
    if (keyOf[block] != null) throw new IllegalStateException("block " + block + " is cached, not an alias");
    nodeOf[block] = NONE;
  }

  /** A cached block lost its last user: it becomes the most recently used idle block. */
  void markIdle(int block) {
    if (keyOf[block] == null || !idle.add(block)) throw new IllegalStateException("block " + block + " cannot become idle");
  }

  /** An idle cached block got a user again (prefix hit). */
  void markUsed(int block) {
    if (!idle.remove(block)) throw new IllegalStateException("block " + block + " is not idle in the cache");
  }

  /** Whether {@code block} is cached and unused. */
  boolean isIdle(int block) {
    return keyOf[block] != null && idle.contains(block);
  }

  /** Removes the idle block {@code block} from the index; its node dies. */
  void evict(int block) {
    if (!idle.remove(block)) throw new IllegalStateException("block " + block + " is not idle in the cache; only unused blocks are evicted");
    byKey.remove(keyOf[block]);
    keyOf[block] = null;
    nodeOf[block] = NONE;
    evictions++;
  }

  /** The least recently used idle block, or -1. */
  int oldestIdle() {
    return idle.isEmpty() ? -1 : idle.iterator().next();
  }

  /** Cached blocks no sequence uses. */
  int idleCount() {
    return idle.size();
  }

  /** Cached (indexed) blocks, used or idle. */
  int cachedCount() {
    return byKey.size();
  }

  /** Blocks evicted since construction. */
  long evictions() {
    return evictions;
  }

  /**
   * Checks the index: every key names a block that carries that key; idle blocks are cached.
   *
   * @throws IllegalStateException naming the first violation
   */
  void checkInvariants() {
    int keyed = 0;
    for (int b = 0; b < keyOf.length; b++) {
      if (keyOf[b] == null) continue;
      keyed++;
      Integer back = byKey.get(keyOf[b]);
      if (back == null || back != b) throw new IllegalStateException("cached block " + b + " is not indexed under its key");
      if (nodeOf[b] == NONE) throw new IllegalStateException("cached block " + b + " has no node id");
    }
    if (keyed != byKey.size()) throw new IllegalStateException(byKey.size() + " keys for " + keyed + " cached blocks");
    for (int b : idle) if (keyOf[b] == null) throw new IllegalStateException("idle block " + b + " is not cached");
  }
}
