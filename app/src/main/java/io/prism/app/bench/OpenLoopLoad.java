package io.prism.app.bench;

import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.locks.LockSupport;

/**
 * Open-loop load: requests arrive as a Poisson process of a fixed rate for a bounded number of
 * arrivals, each sent when its time comes whatever the server is doing, each on its own thread
 * through {@link SseClient} (one blocking socket per request). The model of each request is drawn
 * uniformly from the given ones. Arrival times and prompts are seeded, so two runs send the same
 * requests at the same offsets.
 *
 * <p>Threading: {@link #run} blocks the caller, which paces the arrivals; the requests run on a
 * pool of daemon threads, one per request in flight. Connections are kept alive between requests
 * until {@link #close}.
 */
final class OpenLoopLoad implements AutoCloseable {
  /** One request's model and what its stream saw. */
  record Outcome(String model, SseClient.Result result) {}

  private final SseClient client;
  private final List<String> models;
  private final int vocabSize, bosId, promptTokens, maxTokens;

  /** @param requestTimeoutMillis a socket read that waits longer ends the request with an error */
  OpenLoopLoad(int port, List<String> models, int vocabSize, int bosId, int promptTokens, int maxTokens, int requestTimeoutMillis) {
    this.client = new SseClient(new InetSocketAddress("127.0.0.1", port), requestTimeoutMillis);
    this.models = List.copyOf(models);
    this.vocabSize = vocabSize;
    this.bosId = bosId;
    this.promptTokens = promptTokens;
    this.maxTokens = maxTokens;
  }

  /**
   * Sends {@code count} requests at Poisson arrivals of {@code ratePerSecond} and waits for every one
   * to end (each ends by itself: the server answers or the socket read times out).
   *
   * @param waitMillis how long to wait for the last responses after the last arrival
   * @return one outcome per request, in arrival order; a request whose thread did not end in time
   *     has a result with status -1 and an error
   */
  List<Outcome> run(double ratePerSecond, int count, long seed, long waitMillis) throws InterruptedException {
    if (ratePerSecond <= 0 || count < 1) throw new IllegalArgumentException("need rate > 0 and count >= 1, got " + ratePerSecond + ", " + count);
    SplittableRandom rnd = new SplittableRandom(seed);
    ExecutorService pool = Executors.newCachedThreadPool(r -> {
      Thread t = new Thread(r, "bench-open-loop");
      t.setDaemon(true);
      return t;
    });
    List<Future<SseClient.Result>> futures = new ArrayList<>(count);
    List<String> chosen = new ArrayList<>(count);
    try {
      long start = System.nanoTime();
      double offsetSeconds = 0;
      for (int i = 0; i < count; i++) {
        offsetSeconds += -Math.log(1 - rnd.nextDouble()) / ratePerSecond;
        String model = models.get(rnd.nextInt(models.size()));
        String json = HttpLoad.body(model, Prompts.random(vocabSize, bosId, promptTokens, seed * 1_000_003L + i), maxTokens);
        long due = start + (long) (offsetSeconds * 1e9);
        for (long left = due - System.nanoTime(); left > 0; left = due - System.nanoTime()) LockSupport.parkNanos(left); // pacing, not synchronisation
        if (Thread.interrupted()) throw new InterruptedException();
        chosen.add(model);
        futures.add(pool.submit(() -> client.post("/v1/completions", json)));
      }
      long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(waitMillis);
      List<Outcome> out = new ArrayList<>(count);
      for (int i = 0; i < futures.size(); i++) {
        SseClient.Result r;
        try {
          r = futures.get(i).get(Math.max(1, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
        } catch (ExecutionException | TimeoutException e) {
          long now = System.nanoTime();
          r = new SseClient.Result(-1, now, -1, -1, now, -1, 0, false, "did not end: " + e);
        }
        out.add(new Outcome(chosen.get(i), r));
      }
      return out;
    } finally {
      pool.shutdownNow();
    }
  }

  /** Closes the idle connections. */
  @Override
  public void close() {
    client.close();
  }
}
