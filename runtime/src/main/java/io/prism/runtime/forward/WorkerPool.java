package io.prism.runtime.forward;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicIntegerArray;
import java.util.concurrent.locks.LockSupport;

/**
 * A fixed set of worker threads for the data-parallel sections of one forward pass (a GEMM split by
 * output rows, attention split by (token, head)). The calling thread takes part, so {@code threads}
 * counts it: {@code threads - 1} workers are started once, in the constructor, and live until
 * {@link #close()}; no thread is created per step.
 *
 * <p>Work is claimed dynamically in chunks through one atomic counter, so a worker that the OS
 * deschedules (the machine is shared) delays the section by at most its current chunk, and a
 * worker that has not woken up yet simply finds nothing left. Idle workers spin briefly (sections
 * of one step follow each other within microseconds) and then park.
 *
 * <p>Threading: {@link #run} must be called from one thread at a time (the engine thread); the
 * body runs concurrently on up to {@code threads} threads and must only write disjoint data for
 * disjoint index ranges.
 */
public final class WorkerPool implements AutoCloseable {
  /** A parallel section: processes indices {@code [from, to)}; {@code worker} in {@code [0, threads)} selects scratch buffers. */
  @FunctionalInterface
  public interface Body {
    void run(int from, int to, int worker);
  }

  private static final int SPIN_ITERATIONS = 20_000;

  private final int threads;
  private final Thread[] workers;
  private final AtomicIntegerArray parked;
  private volatile Section current;
  private volatile boolean closed;

  /** One parallel section; a fresh object per section so a late worker only touches its own counters. */
  private static final class Section {
    final Body body;
    final int total;
    final int chunk;
    final int chunks;
    final AtomicInteger next = new AtomicInteger();
    final AtomicInteger done = new AtomicInteger();
    volatile Throwable failure;

    Section(Body body, int total, int chunk) {
      this.body = body;
      this.total = total;
      this.chunk = chunk;
      this.chunks = (total + chunk - 1) / chunk;
    }

    void work(int worker) {
      int c;
      while ((c = next.getAndIncrement()) < chunks) {
        int from = c * chunk;
        int to = Math.min(total, from + chunk);
        try {
          if (failure == null) body.run(from, to, worker);
        } catch (Throwable t) {
          failure = t;
        } finally {
          done.incrementAndGet();
        }
      }
    }
  }

  /**
   * @param threads threads that run a section, the caller included (1 = run everything on the caller)
   * @throws IllegalArgumentException if {@code threads < 1}
   */
  public WorkerPool(int threads) {
    if (threads < 1) throw new IllegalArgumentException("threads must be >= 1, got " + threads);
    this.threads = threads;
    this.workers = new Thread[threads - 1];
    this.parked = new AtomicIntegerArray(Math.max(1, threads - 1));
    for (int i = 0; i < workers.length; i++) {
      final int index = i + 1;
      Thread t = new Thread(() -> loop(index), "prism-forward-" + index);
      t.setDaemon(true);
      workers[i] = t;
      t.start();
    }
  }

  /** Threads that run a section, the caller included. */
  public int threads() {
    return threads;
  }

  /**
   * Runs {@code body} over {@code [0, total)} in chunks of {@code chunk} indices and returns when
   * every chunk is done. The caller takes chunks too.
   *
   * @throws IllegalArgumentException if {@code chunk < 1}
   * @throws RuntimeException the first exception a chunk threw (rethrown on the caller)
   */
  public void run(int total, int chunk, Body body) {
    if (chunk < 1) throw new IllegalArgumentException("chunk must be >= 1, got " + chunk);
    if (total <= 0) return;
    if (closed) throw new IllegalStateException("worker pool is closed");
    if (threads == 1 || total <= chunk) {
      body.run(0, total, 0);
      return;
    }
    Section s = new Section(body, total, chunk);
    current = s; // volatile write publishes the section
    for (int i = 0; i < workers.length; i++) {
      if (parked.get(i) != 0) LockSupport.unpark(workers[i]);
    }
    s.work(0);
    while (s.done.get() < s.chunks) Thread.onSpinWait();
    current = null;
    Throwable f = s.failure;
    if (f != null) {
      if (f instanceof RuntimeException re) throw re;
      if (f instanceof Error e) throw e;
      throw new IllegalStateException(f);
    }
  }

  private void loop(int index) {
    Section seen = null;
    while (!closed) {
      Section s = current;
      if (s != null && s != seen) {
        seen = s;
        s.work(index);
        continue;
      }
      boolean fresh = false;
      for (int i = 0; i < SPIN_ITERATIONS; i++) {
        Section c = current;
        if ((c != null && c != seen) || closed) {
          fresh = true;
          break;
        }
        Thread.onSpinWait();
      }
      if (fresh) continue;
      parked.set(index - 1, 1);
      Section c = current;
      if ((c == null || c == seen) && !closed) LockSupport.park(this);
      parked.set(index - 1, 0);
    }
  }

  /** Stops the workers; idempotent. */
  @Override
  public void close() {
    closed = true;
    for (Thread t : workers) LockSupport.unpark(t);
  }
}
