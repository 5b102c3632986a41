package io.prism.runtime.batching;

import io.prism.runtime.memory.BlockManager;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Continuous batching with chunked prefill for one model instance, after vLLM v1's scheduler: a
 * step is a token budget shared by every sequence, whether it prefills or decodes. Integer ids
 * only; the device is never touched (the {@link BlockManager} maps pages).
 *
 * <p>Each {@link #schedule()}:
 *
 * <ol>
 *   <li>Running sequences, oldest admission first: each gets {@code min(uncomputed tokens,
 *       prefillChunk, budget left)} tokens (1 for a decoding sequence), and the blocks that cover
 *       them. When the blocks cannot be had, the most recently admitted running sequence is
 *       preempted (recompute: its blocks are freed, it keeps its tokens and goes to the front of
 *       the waiting queue) and the allocation is retried; if the victim is the sequence itself, the
 *       loop stops.
 *   <li>Only if nothing was preempted in this step: waiting sequences in queue order join while
 *       the budget lasts, fewer than {@code maxRunningSequences} run and their first chunk's blocks
 *       can be allocated (first come first served: the first that does not fit stops the loop). A
 *       joining sequence first takes the longest cached prefix of its tokens from the block
 *       manager's prefix cache (whole blocks, leaving at least one token to compute, as vLLM does)
 *       and computes only the rest.
 * </ol>
 *
 * <p>After the forward pass the caller calls {@link #completeStep(Schedule)} (which registers the
 * blocks the step filled in the prefix cache), then appends sampled tokens ({@link
 * Sequence#appendToken}) and {@link #remove}s finished sequences. Only full blocks are ever shared
 * between block tables (prefix-cache hits, and the prompt blocks of {@link #fork}ed choices), and no
 * step writes into a full block, so sharing is read-only.
 *
 * <p>One per {@code ModelEngine}; it batches that model's sequences only. GPU-level admission
 * across models lives in {@code actors}, and the simulator's step model is {@code
 * io.prism.runtime.policy.sim.SimulatedEngine}.
 *
 * <p>Threading: not thread-safe; confined to the engine thread.
 */
public final class ContinuousBatcher {
  /**
   * One sequence's share of a step.
   *
   * @param sequence the sequence
   * @param startPos position of the first token ({@code == sequence.numComputed()} at schedule time)
   * @param numTokens tokens to compute, {@code >= 1}
   * @param completesSequence whether these are its last uncomputed tokens (its logits are sampled)
   */
  public record Chunk(Sequence sequence, int startPos, int numTokens, boolean completesSequence) {}

  /**
   * The plan of one step.
   *
   * @param chunks work, in running order (older admissions first)
   * @param preempted sequences preempted while planning (now waiting, without blocks)
   */
  public record Schedule(List<Chunk> chunks, List<Sequence> preempted) {
    /** Tokens in this step. */
    public int numTokens() {
      int n = 0;
      for (Chunk c : chunks) n += c.numTokens();
      return n;
    }
  }

  private static final int[] NO_BLOCKS = new int[0];
  private final BlockManager blocks;
  private final int blockSize;
  private final int maxBatchTokens;
  private final int maxRunningSequences;
  private final int prefillChunk;
  private final List<Sequence> running = new ArrayList<>();
  private final ArrayDeque<Sequence> waiting = new ArrayDeque<>();
  private final Map<String, Sequence> byId = new HashMap<>();
  private long preemptions;
  private long cachedTokens;

  /**
   * @param blocks the model instance's block manager
   * @param maxBatchTokens tokens per step, {@code >= 1}
   * @param maxRunningSequences sequences in the running batch, {@code >= 1}
   * @param prefillChunk most tokens one sequence computes in one step, {@code >= 1}
   * @throws IllegalArgumentException naming a value below 1
   */
  public ContinuousBatcher(BlockManager blocks, int maxBatchTokens, int maxRunningSequences, int prefillChunk) {
    if (maxBatchTokens < 1) throw new IllegalArgumentException("maxBatchTokens must be >= 1, got " + maxBatchTokens);
    if (maxRunningSequences < 1) throw new IllegalArgumentException("maxRunningSequences must be >= 1, got " + maxRunningSequences);
    if (prefillChunk < 1) throw new IllegalArgumentException("prefillChunk must be >= 1, got " + prefillChunk);
    this.blocks = blocks;
    this.blockSize = blocks.blockSize();
    this.maxBatchTokens = maxBatchTokens;
    this.maxRunningSequences = maxRunningSequences;
    this.prefillChunk = prefillChunk;
  }

  /**
   * Queues {@code s} at the back of the waiting queue.
   *
   * @throws IllegalArgumentException if its request id is already in the batcher
   * @throws IllegalStateException if it is not a fresh waiting sequence
   */
  public void add(Sequence s) {
    if (byId.containsKey(s.requestId())) throw new IllegalArgumentException("request " + s.requestId() + " is already scheduled");
    if (s.status() != Sequence.Status.WAITING || s.numBlocks() != 0) throw new IllegalStateException(s + " is not a fresh sequence");
    byId.put(s.requestId(), s);
    waiting.addLast(s);
  }

  /** Tokens per KV block. */
  public int blockSize() {
    return blockSize;
  }

  /**
   * Adds {@code child}, a fresh sequence with the same prompt as the running {@code parent} (another
   * choice of one request), straight into the running batch: its block table starts with the
   * parent's first {@code sharedBlocks} blocks, shared by reference count ({@link
   * BlockManager#share}), whose tokens count as computed; the rest of its prompt is computed by its
   * next chunk into blocks of its own. It joins even when {@code maxRunningSequences} are running
   * (the choices of one request run together; memory shortage preempts as usual).
   *
   * @param sharedBlocks at most the parent's full blocks of computed prompt tokens ({@code
   *     promptLength / blockSize} once the prompt is prefilled)
   * @throws IllegalArgumentException if the child's id is taken, or the blocks are not full computed
   *     prompt blocks of the parent
   * @throws IllegalStateException if the parent is not running or the child not fresh
   */
  public void fork(Sequence parent, Sequence child, int sharedBlocks) {
    if (byId.get(parent.requestId()) != parent || parent.status() != Sequence.Status.RUNNING) throw new IllegalStateException(parent + " is not running");
    if (byId.containsKey(child.requestId())) throw new IllegalArgumentException("request " + child.requestId() + " is already scheduled");
    if (child.status() != Sequence.Status.WAITING || child.numBlocks() != 0) throw new IllegalStateException(child + " is not a fresh sequence");
    long full = (long) sharedBlocks * blockSize;
    if (sharedBlocks < 0 || full > Math.min(parent.numComputed(), parent.promptLength()) || full > child.promptLength() || sharedBlocks > parent.numBlocks()) {
      throw new IllegalArgumentException(sharedBlocks + " blocks are not full computed prompt blocks of " + parent);
    }
    int[] shared = java.util.Arrays.copyOf(parent.blockTable(), sharedBlocks);
    blocks.share(shared);
    child.addBlocks(shared);
    child.advanceComputed((int) full);
    child.setStatus(Sequence.Status.RUNNING);
    byId.put(child.requestId(), child);
    running.add(child);
  }

  /** The sequence of {@code requestId}, or null. */
  public Sequence get(String requestId) {
    return byId.get(requestId);
  }

  /**
   * Takes {@code s} out of the batcher (finished, cancelled or failed) and frees its blocks at
   * once.
   *
   * @throws IllegalStateException if it is not in this batcher
   */
  public void remove(Sequence s) {
    if (byId.get(s.requestId()) != s) throw new IllegalStateException(s + " is not in this batcher");
    byId.remove(s.requestId());
    if (s.status() == Sequence.Status.RUNNING) running.remove(s);
    else waiting.remove(s);
    blocks.free(s.takeBlocks());
    s.setStatus(Sequence.Status.FINISHED);
  }

  /** Running sequences, oldest admission first (a read-only view). */
  public List<Sequence> running() {
    return Collections.unmodifiableList(running);
  }

  /** Waiting sequences in queue order (a snapshot). */
  public List<Sequence> waiting() {
    return List.copyOf(waiting);
  }

  /** Sequences in the running batch. */
  public int runningCount() {
    return running.size();
  }

  /** Sequences in the waiting queue. */
  public int waitingCount() {
    return waiting.size();
  }

  /** Whether any sequence is waiting or running. */
  public boolean hasUnfinished() {
    return !byId.isEmpty();
  }

  /** Preemptions since construction. */
  public long preemptions() {
    return preemptions;
  }

  /** Tokens whose computation was skipped because their blocks were found in the prefix cache. */
  public long cachedTokens() {
    return cachedTokens;
  }

  /** Plans one step (see the class comment); allocates the blocks the planned chunks need. */
  public Schedule schedule() {
    int budget = maxBatchTokens;
    List<Chunk> chunks = new ArrayList<>();
    List<Sequence> preempted = new ArrayList<>();
    int i = 0;
    while (i < running.size() && budget > 0) {
      Sequence s = running.get(i);
      int n = Math.min(Math.min(s.numTokens() - s.numComputed(), prefillChunk), budget);
      if (n <= 0) throw new IllegalStateException(s + " is running with nothing to compute");
      boolean scheduled = false;
      while (true) {
        if (grow(s, n)) {
          scheduled = true;
          break;
        }
        Sequence victim = running.remove(running.size() - 1);
        preempt(victim);
        preempted.add(victim);
        if (victim == s) break;
      }
      if (!scheduled) break;
      chunks.add(chunk(s, n));
      budget -= n;
      i++;
    }
    if (preempted.isEmpty()) {
      while (!waiting.isEmpty() && budget > 0 && running.size() < maxRunningSequences) {
        Sequence s = waiting.peekFirst();
        int[] hit = blocks.prefixCaching() ? blocks.acquireCachedPrefix(s.tokens(0, s.numTokens()), maxHitBlocks(s)) : NO_BLOCKS;
        if (hit.length > 0) s.adoptCachedPrefix(hit, hit.length * blockSize);
        int n = Math.min(Math.min(s.numTokens() - s.numComputed(), prefillChunk), budget);
        if (!grow(s, n)) {
          if (hit.length > 0) {
            blocks.free(s.takeBlocks());
            s.dropCachedPrefix();
          }
          break;
        }
        cachedTokens += (long) hit.length * blockSize;
        waiting.pollFirst();
        s.setStatus(Sequence.Status.RUNNING);
        running.add(s);
        chunks.add(chunk(s, n));
        budget -= n;
      }
    }
    return new Schedule(List.copyOf(chunks), List.copyOf(preempted));
  }

  /**
   * Records that the forward pass computed every chunk of {@code schedule}, and registers every block
   * the step filled in the prefix cache (a no-op when caching is off).
   */
  public void completeStep(Schedule schedule) {
    for (Chunk c : schedule.chunks()) {
      Sequence s = c.sequence();
      if (s.numComputed() != c.startPos()) throw new IllegalStateException(s + " changed since chunk " + c + " was planned");
      s.advanceComputed(c.numTokens());
      if (!blocks.prefixCaching()) continue;
      for (int i = c.startPos() / blockSize; i < s.numComputed() / blockSize; i++) {
        blocks.cacheFullBlock(s.block(i), i == 0 ? -1 : s.block(i - 1), s.tokens(i * blockSize, (i + 1) * blockSize));
      }
    }
  }

  /**
   * Preempts the running sequence {@code requestId} (recompute) and releases the page ids its blocks
   * leave without a used block, cached blocks included ({@link BlockManager#freeAndRelease}): the
   * GPU actor's decode preemption under memory pressure.
   *
   * @return page ids released, or -1 if no such sequence is running
   */
  public int preemptAndRelease(String requestId) {
    Sequence s = byId.get(requestId);
    if (s == null || s.status() != Sequence.Status.RUNNING) return -1;
    running.remove(s);
    int released = blocks.freeAndRelease(s.takeBlocks());
    requeue(s);
    return released;
  }

  /**
   * New blocks the next {@link #schedule()} would allocate if memory allowed: for every running
   * sequence's next chunk under the token budget, and, if {@code includeWaiting}, for the waiting
   * sequences that would join (after their cached prefix), plus the distinct idle cached blocks
   * those prefixes would take out of the idle cache. A caller that subtracts every idle cached block
   * as reusable ({@code EngineMemory}) so counts the prefix hits once. A dry run: nothing changes.
   */
  public int blocksWanted(boolean includeWaiting) {
    int budget = maxBatchTokens;
    int need = 0;
    for (Sequence s : running) {
      if (budget <= 0) break;
      int n = Math.min(Math.min(s.numTokens() - s.numComputed(), prefillChunk), budget);
      need += Math.max(0, blocksFor(s.numComputed() + n) - s.numBlocks());
      budget -= n;
    }
    if (!includeWaiting) return need;
    int slots = maxRunningSequences - running.size();
    java.util.Set<Integer> idleHits = new java.util.HashSet<>();
    for (Sequence s : waiting) {
      if (budget <= 0 || slots-- <= 0) break;
      int[] hit = blocks.cachedPrefix(s.tokens(0, s.numTokens()), maxHitBlocks(s));
      for (int b : hit) if (!blocks.isAllocated(b)) idleHits.add(b);
      int hitTokens = hit.length * blockSize;
      int n = Math.min(Math.min(s.numTokens() - hitTokens, prefillChunk), budget);
      need += blocksFor(hitTokens + n) - hitTokens / blockSize;
      budget -= n;
    }
    return need + idleHits.size();
  }

  /**
   * Checks: every sequence is in exactly one queue with the matching status; block tables cover the
   * computed tokens; each block's reference count equals the number of block tables holding it, a
   * block in several tables is full and computed in each of them, and the distinct blocks are exactly the block manager's used
   * blocks; waiting sequences hold no blocks.
   *
   * @throws IllegalStateException naming the first violation
   */
  public void checkInvariants() {
    if (running.size() + waiting.size() != byId.size()) {
      throw new IllegalStateException(running.size() + " running + " + waiting.size() + " waiting != " + byId.size() + " sequences");
    }
    Map<Integer, Integer> refs = new HashMap<>();
    for (Sequence s : running) {
      if (s.status() != Sequence.Status.RUNNING || byId.get(s.requestId()) != s) throw new IllegalStateException(s + " in the running list");
      int need = blocksFor(s.numComputed());
      if (s.numBlocks() < need) throw new IllegalStateException(s + " has " + s.numBlocks() + " blocks for " + s.numComputed() + " computed tokens");
      for (int b : s.blockTable()) {
        if (!blocks.isAllocated(b)) throw new IllegalStateException("block " + b + " of " + s + " is not allocated");
        refs.merge(b, 1, Integer::sum);
      }
    }
    for (Map.Entry<Integer, Integer> e : refs.entrySet()) {
      int b = e.getKey();
      if (blocks.refCount(b) != e.getValue()) throw new IllegalStateException("block " + b + " is in " + e.getValue() + " tables, reference count " + blocks.refCount(b));
    }
    for (Sequence s : running) { // a shared block is full and computed in every table holding it: nobody writes into it
      for (int i = 0; i < s.numBlocks(); i++) {
        int b = s.block(i);
        if (refs.get(b) > 1 && (long) (i + 1) * blockSize > s.numComputed()) {
          throw new IllegalStateException("block " + b + " is shared but not full in " + s);
        }
      }
    }
    int count = refs.size();
    for (Sequence s : waiting) {
      if (s.status() != Sequence.Status.WAITING || byId.get(s.requestId()) != s) throw new IllegalStateException(s + " in the waiting queue");
      if (s.numBlocks() != 0 || s.numComputed() != 0) throw new IllegalStateException(s + " waits while holding KV");
    }
    if (count != blocks.usedBlocks()) throw new IllegalStateException("block tables hold " + count + " blocks, manager has " + blocks.usedBlocks() + " used");
  }

  private Chunk chunk(Sequence s, int n) {
    return new Chunk(s, s.numComputed(), n, s.numComputed() + n == s.numTokens());
  }

  /** Allocates the blocks that let {@code s} compute {@code n} more tokens; false on shortage. */
  private boolean grow(Sequence s, int n) {
    int need = blocksFor(s.numComputed() + n) - s.numBlocks();
    if (need <= 0) return true;
    BlockManager.Allocation a = blocks.allocate(need);
    if (a instanceof BlockManager.Allocation.Granted g) {
      s.addBlocks(g.blockIds());
      return true;
    }
    return false;
  }

  private void preempt(Sequence victim) {
    blocks.free(victim.takeBlocks());
    requeue(victim);
  }

  private void requeue(Sequence victim) {
    victim.resetForRecompute();
    victim.setStatus(Sequence.Status.WAITING);
    waiting.addFirst(victim);
    preemptions++;
  }

  /** Most cached blocks a joining sequence may take: whole blocks, leaving its last token to compute. */
  private int maxHitBlocks(Sequence s) {
    return (s.numTokens() - 1) / blockSize;
  }

  private int blocksFor(int tokens) {
    return (tokens + blockSize - 1) / blockSize;
  }
}
