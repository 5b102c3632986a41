package io.prism.runtime.scheduler;

import io.prism.runtime.memory.BlockManager;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.BitSet;
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
 *       can be allocated (first come first served: the first that does not fit stops the loop).
 * </ol>
 *
 * <p>After the forward pass the caller calls {@link #completeStep(Schedule)}, then appends sampled
 * tokens ({@link Sequence#appendToken}) and {@link #remove}s finished sequences.
 *
 * <p>Threading: not thread-safe; confined to the engine thread.
 */
public final class BatchScheduler {
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

  private final BlockManager blocks;
  private final int blockSize;
  private final int maxBatchTokens;
  private final int maxRunningSequences;
  private final int prefillChunk;
  private final List<Sequence> running = new ArrayList<>();
  private final ArrayDeque<Sequence> waiting = new ArrayDeque<>();
  private final Map<String, Sequence> byId = new HashMap<>();
  private long preemptions;

  /**
   * @param blocks the model instance's block manager
   * @param maxBatchTokens tokens per step, {@code >= 1}
   * @param maxRunningSequences sequences in the running batch, {@code >= 1}
   * @param prefillChunk most tokens one sequence computes in one step, {@code >= 1}
   * @throws IllegalArgumentException naming a value below 1
   */
  public BatchScheduler(BlockManager blocks, int maxBatchTokens, int maxRunningSequences, int prefillChunk) {
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
   * @throws IllegalArgumentException if its request id is already in the scheduler
   * @throws IllegalStateException if it is not a fresh waiting sequence
   */
  public void add(Sequence s) {
    if (byId.containsKey(s.requestId())) throw new IllegalArgumentException("request " + s.requestId() + " is already scheduled");
    if (s.status() != Sequence.Status.WAITING || s.numBlocks() != 0) throw new IllegalStateException(s + " is not a fresh sequence");
    byId.put(s.requestId(), s);
    waiting.addLast(s);
  }

  /** The sequence of {@code requestId}, or null. */
  public Sequence get(String requestId) {
    return byId.get(requestId);
  }

  /**
   * Takes {@code s} out of the scheduler (finished, cancelled or failed) and frees its blocks at
   * once.
   *
   * @throws IllegalStateException if it is not in this scheduler
   */
  public void remove(Sequence s) {
    if (byId.get(s.requestId()) != s) throw new IllegalStateException(s + " is not in this scheduler");
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
        int n = Math.min(Math.min(s.numTokens() - s.numComputed(), prefillChunk), budget);
        if (!grow(s, n)) break;
        waiting.pollFirst();
        s.setStatus(Sequence.Status.RUNNING);
        running.add(s);
        chunks.add(chunk(s, n));
        budget -= n;
      }
    }
    return new Schedule(List.copyOf(chunks), List.copyOf(preempted));
  }

  /** Records that the forward pass computed every chunk of {@code schedule}. */
  public void completeStep(Schedule schedule) {
    for (Chunk c : schedule.chunks()) {
      Sequence s = c.sequence();
      if (s.numComputed() != c.startPos()) throw new IllegalStateException(s + " changed since chunk " + c + " was planned");
      s.advanceComputed(c.numTokens());
    }
  }

  /**
   * Checks: every sequence is in exactly one queue with the matching status; block tables are
   * disjoint, cover the computed tokens and are exactly the block manager's used blocks; waiting
   * sequences hold no blocks.
   *
   * @throws IllegalStateException naming the first violation
   */
  public void checkInvariants() {
    if (running.size() + waiting.size() != byId.size()) {
      throw new IllegalStateException(running.size() + " running + " + waiting.size() + " waiting != " + byId.size() + " sequences");
    }
    BitSet owned = new BitSet();
    int count = 0;
    for (Sequence s : running) {
      if (s.status() != Sequence.Status.RUNNING || byId.get(s.requestId()) != s) throw new IllegalStateException(s + " in the running list");
      int need = blocksFor(s.numComputed());
      if (s.numBlocks() < need) throw new IllegalStateException(s + " has " + s.numBlocks() + " blocks for " + s.numComputed() + " computed tokens");
      for (int b : s.blockTable()) {
        if (owned.get(b)) throw new IllegalStateException("block " + b + " is in two block tables");
        if (!blocks.isAllocated(b)) throw new IllegalStateException("block " + b + " of " + s + " is not allocated");
        owned.set(b);
        count++;
      }
    }
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
    victim.resetForRecompute();
    victim.setStatus(Sequence.Status.WAITING);
    waiting.addFirst(victim);
    preemptions++;
  }

  private int blocksFor(int tokens) {
    return (tokens + blockSize - 1) / blockSize;
  }
}
