package io.prism.app.bench;

import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Closed rounds of concurrent streaming completions against a server on loopback: a round starts
 * {@code concurrency} requests at once (one {@link SseClient} call per thread, released together by
 * a latch) and ends when the last stream has ended. TTFT as the client sees it (request written to
 * first content frame), TPOT from the first to the finishing frame over the usage's completion
 * tokens minus one.
 *
 * <p>Threading: {@link #round} from one thread at a time; it uses a pool of {@code maxConcurrency}
 * daemon threads, mostly blocked in socket reads.
 */
final class HttpLoad implements AutoCloseable {
  private final SseClient client;
  private final ExecutorService pool;
  private final String model;
  private final int vocabSize, bosId;
  private final long roundTimeoutMillis;

  /**
   * @param roundTimeoutMillis a round that has not ended by then fails (each socket read also times out after it)
   */
  HttpLoad(int port, int maxConcurrency, String model, int vocabSize, int bosId, long roundTimeoutMillis) {
    this.client = new SseClient(new InetSocketAddress("127.0.0.1", port), (int) Math.min(Integer.MAX_VALUE, roundTimeoutMillis));
    this.pool = Executors.newFixedThreadPool(maxConcurrency, r -> {
      Thread t = new Thread(r, "bench-client");
      t.setDaemon(true);
      return t;
    });
    this.model = model;
    this.vocabSize = vocabSize;
    this.bosId = bosId;
    this.roundTimeoutMillis = roundTimeoutMillis;
  }

  /** The JSON body of one benchmark request: token-id prompt, greedy, fixed length, streamed with usage. */
  static String body(String model, int[] prompt, int maxTokens) {
    StringBuilder sb = new StringBuilder(prompt.length * 6 + 200);
    sb.append("{\"model\":\"").append(model).append("\",\"prompt\":[");
    for (int i = 0; i < prompt.length; i++) sb.append(i == 0 ? "" : ",").append(prompt[i]);
    sb.append("],\"max_tokens\":").append(maxTokens)
        .append(",\"temperature\":0,\"ignore_eos\":true,\"stream\":true,\"stream_options\":{\"include_usage\":true}}");
    return sb.toString();
  }

  /**
   * One round, added to {@code stats}; returns the requests' results (failures included).
   *
   * @throws InterruptedException if interrupted while waiting
   */
  List<SseClient.Result> round(int concurrency, int round, int promptTokens, int maxTokens, LoadStats stats) throws InterruptedException {
    CountDownLatch go = new CountDownLatch(1);
    List<Future<SseClient.Result>> futures = new ArrayList<>();
    for (int i = 0; i < concurrency; i++) {
      String json = body(model, Prompts.random(vocabSize, bosId, promptTokens, Prompts.seed(concurrency, round, i)), maxTokens);
      futures.add(pool.submit(() -> {
        go.await();
        return client.post("/v1/completions", json);
      }));
    }
    go.countDown();
    List<SseClient.Result> results = new ArrayList<>();
    long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(roundTimeoutMillis);
    long first = Long.MAX_VALUE, last = Long.MIN_VALUE;
    for (Future<SseClient.Result> f : futures) {
      SseClient.Result r;
      try {
        r = f.get(Math.max(1, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
      } catch (ExecutionException | TimeoutException e) {
        f.cancel(true);
        stats.addLost();
        continue;
      }
      results.add(r);
      first = Math.min(first, r.sentNanos());
      last = Math.max(last, r.endNanos());
      long ttft = r.firstTokenNanos() < 0 ? -1 : r.firstTokenNanos() - r.sentNanos();
      double tpot = r.completionTokens() > 1 && r.lastTokenNanos() > r.firstTokenNanos()
          ? (double) (r.lastTokenNanos() - r.firstTokenNanos()) / (r.completionTokens() - 1) : -1;
      stats.addRequest(ttft, tpot, r.ok() ? r.completionTokens() : 0, r.ok());
    }
    if (!results.isEmpty()) stats.addRound(last - first);
    return results;
  }

  @Override
  public void close() {
    pool.shutdownNow();
    client.close();
  }
}
