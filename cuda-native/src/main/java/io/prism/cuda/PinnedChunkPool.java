package io.prism.cuda;

import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * The bookkeeping of a pool of equal host-memory chunks, made ahead by background threads and lent
 * out as lists of chunks ({@link Chunks}): the pinned host memory that evicted weights are copied
 * into. Pure Java: the memory itself comes from an {@link Allocator} ({@code cuMemHostAlloc} in
 * {@link PinnedHostPool}; a fake one in the CPU tests), so every rule below is tested without CUDA.
 *
 * <pre>
 *   target ├────────────────────────────────────────────────────────────┤  targetChunks
 *   pinned ├─ leased: copy A ─┼─ leased: copy B ─┼── free ──┤ (filling)    allocatedChunks
 *                                                           └─ fill threads add one chunk at a time
 * </pre>
 *
 * <p>Why: pinning host memory costs far more than copying into it (on an H200 host,
 * {@code cuMemHostAlloc} of 16 GB took about 8.3 s, the device-to-host copy about 0.3 s), so a model
 * evicted for a waiting request must find its pinned memory already made. The fill threads pin
 * {@code targetChunks} chunks one by one from {@link #startFilling} on (start-up is not blocked).
 *
 * <p>Rules:
 * <ul>
 *   <li>{@link #take} of {@code bytes} needs {@code ceil(bytes / chunkBytes)} chunks. With too few
 *       free while the fill threads still run, it waits for them up to its bound; then (or at once
 *       when filling has ended) it takes what is free and allocates the shortfall itself on the
 *       caller's thread ("fallback" chunks: the slow path a pool exists to avoid, counted in
 *       {@link Usage#fallbackChunks()}). If that allocation fails, every chunk goes back and the
 *       answer is {@link Take.Unavailable} (the caller evicts without a host copy).</li>
 *   <li>A lease's chunks return exactly once: {@link Chunks#release()} is idempotent, and a chunk
 *       the pool did not lend (or already got back) is an {@link IllegalStateException}. A returned
 *       chunk goes back to the free list, or is freed when the pool holds more than its target
 *       (fallback chunks beyond it) or is closed. So the memory pinned is at most
 *       {@code max(targetChunks, chunks leased at once)} chunks.</li>
 *   <li>{@link #close()} stops filling, waits for the fill threads, frees the free chunks; chunks
 *       still leased are freed when their lease is released. Every chunk allocated is freed
 *       exactly once.</li>
 * </ul>
 *
 * <p>Threading: thread-safe (the devices of a node evict on their own threads); the allocator is
 * never called under the pool's lock.
 */
final class PinnedChunkPool {
  /** Allocates and frees one chunk of host memory. Called from fill threads and evicting threads, never under the pool's lock. */
  interface Allocator {
    /**
     * @return the chunk's host address (non-zero)
     * @throws RuntimeException if the memory cannot be had (e.g. a {@code DeviceException} naming {@code cuMemHostAlloc})
     */
    long allocate(long bytes);

    /** Frees a chunk this allocator returned. */
    void free(long address);
  }

  /** The outcome of {@link #take}. */
  sealed interface Take {
    /** The chunks for the copy. */
    record Granted(Chunks chunks) implements Take {}

    /** No host memory for the copy now; {@code reason} says why (the allocator's error). */
    record Unavailable(String reason) implements Take {}
  }

  /**
   * The pool's figures.
   *
   * @param chunkBytes bytes per chunk
   * @param targetChunks chunks the fill threads pin ahead
   * @param allocatedChunks chunks pinned now (free + leased)
   * @param freeChunks chunks ready to lend
   * @param leasedChunks chunks held by copies
   * @param fallbackChunks chunks pinned by {@link #take} on a caller's thread so far (the slow path)
   * @param filling whether fill threads still run
   * @param fillNanos wall time from {@link #startFilling} to the last fill thread's end (0 while filling)
   * @param fillError the allocator's error that stopped filling early, or null
   */
  record Usage(long chunkBytes, int targetChunks, int allocatedChunks, int freeChunks, int leasedChunks, long fallbackChunks, boolean filling,
      long fillNanos, String fillError) {}

  /**
   * One host copy's chunks, in order: chunk {@code i} holds bytes {@code [i * chunkBytes, i *
   * chunkBytes + bytesAt(i))} of the copy. Release exactly once ({@link #release()} is idempotent).
   */
  final class Chunks {
    private final long[] addresses;
    private final long bytes;
    private boolean released; // guarded by the pool's lock

    private Chunks(long[] addresses, long bytes) {
      this.addresses = addresses;
      this.bytes = bytes;
    }

    /** Bytes of the copy (not rounded up to chunks). */
    long bytes() {
      return bytes;
    }

    int count() {
      return addresses.length;
    }

    /** Host address of chunk {@code i}. */
    long address(int i) {
      return addresses[i];
    }

    /** Bytes of the copy in chunk {@code i}: {@code chunkBytes}, less in the last one. */
    long bytesAt(int i) {
      return Math.min(chunkBytes, bytes - i * chunkBytes);
    }

    /** Gives the chunks back to the pool; later calls do nothing. */
    void release() {
      giveBack(this);
    }

    /** Whether {@link #release()} ran. */
    boolean released() {
      lock.lock();
      try {
        return released;
      } finally {
        lock.unlock();
      }
    }
  }

  private final long chunkBytes;
  private final int targetChunks;
  private final Allocator allocator;
  private final ReentrantLock lock = new ReentrantLock();
  private final Condition changed = lock.newCondition();
  private final ArrayDeque<Long> free = new ArrayDeque<>();
  private final Set<Long> leased = new HashSet<>();
  private final List<Thread> fillers = new ArrayList<>();
  private int allocated;
  private int pendingFills;
  private int fillersRunning;
  private long fallbackChunks;
  private long fillStartNanos;
  private long fillNanos;
  private String fillError;
  private boolean closed;

  /**
   * A pool that pins nothing until {@link #startFilling} (with {@code targetChunks} 0 it never
   * fills: every {@link #take} allocates its chunks and every release frees them).
   *
   * @throws IllegalArgumentException if {@code chunkBytes <= 0} or {@code targetChunks < 0}
   */
  PinnedChunkPool(long chunkBytes, int targetChunks, Allocator allocator) {
    if (chunkBytes <= 0) throw new IllegalArgumentException("chunk bytes must be > 0, got " + chunkBytes);
    if (targetChunks < 0) throw new IllegalArgumentException("target chunks must be >= 0, got " + targetChunks);
    this.chunkBytes = chunkBytes;
    this.targetChunks = targetChunks;
    this.allocator = allocator;
  }

  /** Chunks of {@code chunkBytes} that hold {@code bytes}: {@code ceil(bytes / chunkBytes)}, at most {@code Integer.MAX_VALUE}. */
  static int chunksFor(long bytes, long chunkBytes) {
    return (int) Math.min(Integer.MAX_VALUE, (bytes + chunkBytes - 1) / chunkBytes);
  }

  long chunkBytes() {
    return chunkBytes;
  }

  /**
   * Starts {@code threads} fill threads from {@code factory}, which pin chunks one at a time until
   * {@code targetChunks} are allocated, the allocator fails (recorded in {@link Usage#fillError()};
   * the pool stays smaller) or the pool closes. Returns at once. Call at most once.
   *
   * @throws IllegalArgumentException if {@code threads < 1}
   * @throws IllegalStateException if filling was started before or the pool is closed
   */
  void startFilling(int threads, ThreadFactory factory) {
    if (threads < 1) throw new IllegalArgumentException("fill threads must be >= 1, got " + threads);
    lock.lock();
    try {
      if (closed) throw new IllegalStateException("the pinned pool is closed");
      if (!fillers.isEmpty() || fillStartNanos != 0) throw new IllegalStateException("the pinned pool is already filling");
      fillStartNanos = System.nanoTime();
      fillersRunning = threads;
      for (int i = 0; i < threads; i++) fillers.add(factory.newThread(this::fill));
    } finally {
      lock.unlock();
    }
    for (Thread t : fillers) t.start();
  }

  /** One fill thread: claim a slot, allocate outside the lock, add the chunk. */
  private void fill() {
    while (true) {
      lock.lock();
      try {
        if (closed || fillError != null || allocated + pendingFills >= targetChunks) {
          fillerEnded();
          return;
        }
        pendingFills++;
      } finally {
        lock.unlock();
      }
      long a;
      try {
        a = allocator.allocate(chunkBytes);
      } catch (RuntimeException | Error e) { // e.g. a missing native library: end filling, never leave waiters to their bound
        lock.lock();
        try {
          pendingFills--;
          if (fillError == null) fillError = e.getMessage() == null ? e.toString() : e.getMessage();
          fillerEnded();
        } finally {
          lock.unlock();
        }
        return;
      }
      boolean keep;
      lock.lock();
      try {
        pendingFills--;
        keep = !closed && allocated < targetChunks; // fallback chunks may have reached the target meanwhile
        if (keep) {
          allocated++;
          free.push(a);
          changed.signalAll();
        }
      } finally {
        lock.unlock();
      }
      if (!keep) allocator.free(a);
    }
  }

  /** Under the lock: one fill thread ends; the last one records the fill time and wakes waiters. */
  private void fillerEnded() {
    fillersRunning--;
    if (fillersRunning == 0) fillNanos = Math.max(1, System.nanoTime() - fillStartNanos);
    changed.signalAll();
  }

  /**
   * Waits until the fill threads have ended (the target is pinned, or filling failed), at most
   * {@code maxWait}.
   *
   * @return whether filling has ended
   * @throws InterruptedException if interrupted while waiting
   */
  boolean awaitFilled(Duration maxWait) throws InterruptedException {
    long left = maxWait.toNanos();
    lock.lock();
    try {
      while (fillersRunning > 0 && left > 0) left = changed.awaitNanos(left);
      return fillersRunning == 0;
    } finally {
      lock.unlock();
    }
  }

  /**
   * Lends the chunks for a copy of {@code bytes} (see the class comment for the wait and the
   * fallback). The caller's thread may block up to {@code maxWait} for the fill threads, plus the
   * time the allocator takes for a shortfall.
   *
   * @throws IllegalArgumentException if {@code bytes <= 0} or {@code maxWait} is negative
   * @throws IllegalStateException if the pool is closed
   */
  Take take(long bytes, Duration maxWait) {
    if (bytes <= 0) throw new IllegalArgumentException("copy bytes must be > 0, got " + bytes);
    if (maxWait.isNegative()) throw new IllegalArgumentException("wait must be >= 0, got " + maxWait);
    int n = chunksFor(bytes, chunkBytes);
    long[] got = new long[n];
    int k = 0;
    lock.lock();
    try {
      if (closed) throw new IllegalStateException("the pinned pool is closed");
      long left = maxWait.toNanos();
      while (free.size() < n && fillersRunning > 0 && left > 0) {
        try {
          left = changed.awaitNanos(left);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          break;
        }
        if (closed) throw new IllegalStateException("the pinned pool is closed");
      }
      while (k < n && !free.isEmpty()) {
        long a = free.pop();
        leased.add(a);
        got[k++] = a;
      }
    } finally {
      lock.unlock();
    }
    int fromPool = k;
    RuntimeException failure = null;
    while (k < n) {
      try {
        got[k] = allocator.allocate(chunkBytes);
      } catch (RuntimeException e) {
        failure = e;
        break;
      }
      k++;
    }
    lock.lock();
    try {
      for (int i = fromPool; i < k; i++) leased.add(got[i]);
      allocated += k - fromPool;
      fallbackChunks += k - fromPool;
    } finally {
      lock.unlock();
    }
    Chunks c = new Chunks(java.util.Arrays.copyOf(got, k), bytes);
    if (failure != null) {
      giveBack(c);
      String why = failure.getMessage() == null ? failure.toString() : failure.getMessage();
      return new Take.Unavailable("pinning " + (n - k) + " more chunks of " + chunkBytes + " bytes failed: " + why);
    }
    return new Take.Granted(c);
  }

  private void giveBack(Chunks c) {
    List<Long> toFree = new ArrayList<>();
    lock.lock();
    try {
      if (c.released) return;
      for (long a : c.addresses) {
        if (!leased.contains(a)) throw new IllegalStateException("chunk 0x" + Long.toHexString(a) + " returned to the pinned pool but not lent by it");
      }
      c.released = true;
      for (long a : c.addresses) {
        leased.remove(a);
        if (closed || allocated > targetChunks) {
          allocated--;
          toFree.add(a);
        } else {
          free.push(a);
        }
      }
      changed.signalAll();
    } finally {
      lock.unlock();
    }
    for (long a : toFree) allocator.free(a);
  }

  /** The figures now. */
  Usage usage() {
    lock.lock();
    try {
      return new Usage(chunkBytes, targetChunks, allocated, free.size(), leased.size(), fallbackChunks, fillersRunning > 0, fillNanos, fillError);
    } finally {
      lock.unlock();
    }
  }

  /**
   * Stops filling, waits for the fill threads to end (each finishes the allocation it is in, then
   * frees it) and frees the free chunks. Leased chunks are freed when released. Idempotent.
   *
   * @return chunks still leased (freed later by their release)
   */
  int close() {
    List<Long> toFree;
    List<Thread> threads;
    lock.lock();
    try {
      if (!closed) {
        closed = true;
        changed.signalAll();
      }
      toFree = new ArrayList<>(free);
      allocated -= free.size();
      free.clear();
      threads = new ArrayList<>(fillers);
    } finally {
      lock.unlock();
    }
    boolean interrupted = false;
    for (Thread t : threads) {
      if (t == Thread.currentThread()) continue;
      while (true) {
        try {
          t.join();
          break;
        } catch (InterruptedException e) {
          interrupted = true;
        }
      }
    }
    if (interrupted) Thread.currentThread().interrupt();
    for (long a : toFree) allocator.free(a);
    lock.lock();
    try {
      return leased.size();
    } finally {
      lock.unlock();
    }
  }
}
