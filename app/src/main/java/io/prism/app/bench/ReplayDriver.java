package io.prism.app.bench;

import io.prism.runtime.policy.Slo;
import io.prism.runtime.policy.sim.Workload;
import java.io.PrintWriter;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;

/**
 * Sends a workload's requests to a server over HTTP at their trace times (open loop: each when its
 * time comes, whatever the server is doing), streaming, and records how each ended.
 *
 * <p>Bounds (nothing hangs): at most {@code maxInFlight} requests at once (one more is recorded as
 * {@code FAILED}, "client in-flight limit", without being sent); each socket read waits at most
 * {@code requestTimeout}; after the last arrival the driver waits at most {@code drain} for the
 * requests still running, then records them {@code TIMED_OUT}. Every request of the workload gets
 * exactly one {@link ReplayRecord}, in arrival order.
 *
 * <p>Prompts are token ids ({@code BOS = 1}, then seeded ids in {@code [3, vocab)}), exactly {@code
 * promptTokens} long, {@code max_tokens} the trace's output length with EOS ignored, greedy.
 *
 * <p>Threading: {@link #run} blocks its caller, which paces the arrivals; requests run on daemon
 * threads (one per request in flight); the progress bar is drawn on {@code progress} from a timer
 * (redrawn in place on a terminal, a line every 10 s otherwise).
 */
final class ReplayDriver {
  /**
   * Knobs of the client.
   *
   * @param requestTimeout bound of one socket read (connect, first byte, each chunk)
   * @param drain how long to wait after the last arrival for the requests still running
   * @param maxInFlight most requests in flight at once
   */
  record Limits(Duration requestTimeout, Duration drain, int maxInFlight) {
    Limits {
      if (requestTimeout.isNegative() || requestTimeout.isZero() || drain.isNegative() || maxInFlight < 1) {
        throw new IllegalArgumentException("need request timeout > 0, drain >= 0, max in flight >= 1: " + this);
      }
    }
  }

  private ReplayDriver() {}

  /**
   * Replays {@code workload} against {@code address}.
   *
   * @param vocab model id -> vocabulary size (prompt token ids stay below it)
   * @param slos model id -> SLO (for the records' met flags)
   * @param progress where the progress bar goes (stderr), or {@code null} for none
   * @return one record per request of the workload, in arrival order
   * @throws InterruptedException if interrupted while pacing or waiting
   */
  static List<ReplayRecord> run(InetSocketAddress address, String policy, double rateScale, Workload workload, Map<String, Integer> vocab,
      Map<String, Slo> slos, Limits limits, PrintWriter progress) throws InterruptedException {
    List<Workload.Arrival> arrivals = workload.arrivals();
    int n = arrivals.size();
    ExecutorService pool = Executors.newCachedThreadPool(r -> {
      Thread t = new Thread(r, "replay-request");
      t.setDaemon(true);
      return t;
    });
    Semaphore slots = new Semaphore(limits.maxInFlight());
    AtomicInteger ended = new AtomicInteger(), okCount = new AtomicInteger(), bad = new AtomicInteger();
    List<Future<SseClient.Result>> futures = new ArrayList<>(n);
    boolean[] refused = new boolean[n];
    long start = System.nanoTime();
    Progress bar = progress == null ? null : new Progress(progress, policy, n, workload.durationNanos(), start, ended, okCount, bad);
    try (SseClient client = new SseClient(address, (int) Math.min(Integer.MAX_VALUE, limits.requestTimeout().toMillis()))) {
      for (int i = 0; i < n; i++) {
        Workload.Arrival a = arrivals.get(i);
        long due = start + a.arrivalNanos();
        for (long left = due - System.nanoTime(); left > 0; left = due - System.nanoTime()) LockSupport.parkNanos(left); // pacing
        if (Thread.interrupted()) throw new InterruptedException();
        if (!slots.tryAcquire()) {
          refused[i] = true;
          futures.add(null);
          ended.incrementAndGet();
          bad.incrementAndGet();
          continue;
        }
        String json = HttpLoad.body(a.modelId(), Prompts.random(vocab.get(a.modelId()), 1, a.promptTokens(), a.requestId().hashCode() * 31L + i),
            a.outputTokens());
        futures.add(pool.submit(() -> {
          try {
            SseClient.Result r = client.post("/v1/completions", json);
            (r.ok() ? okCount : bad).incrementAndGet();
            return r;
          } finally {
            ended.incrementAndGet();
            slots.release();
          }
        }));
      }
      long deadline = System.nanoTime() + limits.drain().toNanos();
      List<ReplayRecord> out = new ArrayList<>(n);
      for (int i = 0; i < n; i++) {
        Workload.Arrival a = arrivals.get(i);
        Slo slo = slos.get(a.modelId());
        if (refused[i]) {
          out.add(new ReplayRecord(policy, rateScale, a.requestId(), a.modelId(), a.arrivalNanos(), -1, a.promptTokens(), a.outputTokens(),
              ReplayRecord.Outcome.FAILED, -1, -1, -1, -1, -1, false, false, "client in-flight limit " + limits.maxInFlight()));
          continue;
        }
        Future<SseClient.Result> f = futures.get(i);
        SseClient.Result r = null;
        boolean timedOut = false;
        try {
          r = f.get(Math.max(1, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
        } catch (java.util.concurrent.TimeoutException e) {
          timedOut = true;
          f.cancel(true);
        } catch (java.util.concurrent.ExecutionException e) {
          r = null; // SseClient.post never throws; an Error would land here
        }
        out.add(ReplayRecord.of(policy, rateScale, a.requestId(), a.modelId(), a.arrivalNanos(), a.promptTokens(), a.outputTokens(), r, timedOut,
            start, slo));
      }
      return out;
    } finally {
      if (bar != null) bar.close();
      pool.shutdownNow();
    }
  }

  /** The progress bar: a line on stderr redrawn twice a second, then ended with a newline. */
  private static final class Progress implements AutoCloseable {
    /** On a terminal the bar is redrawn in place twice a second; elsewhere (logs) one line every 10 s. */
    private static final boolean TTY = System.console() != null;
    private final PrintWriter out;
    private final String label;
    private final int total;
    private final long windowNanos, start;
    private final AtomicInteger ended, ok, bad;
    private final java.util.concurrent.ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor(r -> {
      Thread t = new Thread(r, "replay-progress");
      t.setDaemon(true);
      return t;
    });

    Progress(PrintWriter out, String label, int total, long windowNanos, long start, AtomicInteger ended, AtomicInteger ok, AtomicInteger bad) {
      this.out = out;
      this.label = label;
      this.total = total;
      this.windowNanos = windowNanos;
      this.start = start;
      this.ended = ended;
      this.ok = ok;
      this.bad = bad;
      timer.scheduleAtFixedRate(this::draw, TTY ? 0 : 10_000, TTY ? 500 : 10_000, TimeUnit.MILLISECONDS);
    }

    private void draw() {
      double elapsed = (System.nanoTime() - start) / 1e9;
      int done = ended.get();
      int width = 30;
      int filled = total == 0 ? width : (int) ((long) width * done / total);
      String bar = "#".repeat(filled) + "-".repeat(width - filled);
      synchronized (out) {
        out.printf(Locale.ROOT, (TTY ? "\r" : "") + "%-19s [%s] %5d/%-5d ended (ok %d, not ok %d)  %5.0f s / %.0f s ", label, bar, done, total, ok.get(), bad.get(),
            elapsed, windowNanos / 1e9);
        if (!TTY) out.println();
        out.flush();
      }
    }

    @Override
    public void close() {
      timer.shutdownNow();
      draw();
      synchronized (out) {
        if (TTY) out.println();
        out.flush();
      }
    }
  }
}
