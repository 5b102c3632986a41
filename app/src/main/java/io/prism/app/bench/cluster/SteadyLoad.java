package io.prism.app.bench.cluster;

import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.locks.LockSupport;

/**
 * A steady open-loop load on a {@link LocalCluster}: {@code ratePerModel} streamed completions per
 * second for each model, evenly spaced and the models interleaved (request k is for model {@code k
 * mod models}), each sent to the next entry node in round-robin order ({@link #entries}, which a
 * scenario changes as nodes die or restart). A request's body: a seeded random token-id prompt of
 * {@code promptTokens} (BOS 1, ids in [3, 512), valid in every model shape), greedy, {@code
 * ignore_eos}, {@code maxTokens} tokens, streamed.
 *
 * <p>Every request has a client bound {@code requestTimeout}: one not complete by then is recorded
 * {@link RequestRecord.Outcome#HUNG} and abandoned (its exchange cancelled). Each request is recorded
 * exactly once ({@link #records()}): whichever of the answer and the bound comes first.
 *
 * <p>Threading: {@link #start} runs the sender on its own daemon thread; the HTTP client completes
 * requests on its threads; {@link #entries} may be called from any thread; {@link #stopAndAwait}
 * from the thread that started it.
 */
public final class SteadyLoad {
  /**
   * @param models model ids, in interleaving order
   * @param ratePerModel requests per second for each model
   * @param promptTokens prompt length in tokens
   * @param maxTokens generated tokens per request
   * @param requestTimeout the client's bound on a whole request
   */
  public record Options(List<String> models, double ratePerModel, int promptTokens, int maxTokens, Duration requestTimeout) {
    public Options {
      if (models.isEmpty()) throw new IllegalArgumentException("models must not be empty");
      if (!(ratePerModel > 0)) throw new IllegalArgumentException("ratePerModel must be > 0, got " + ratePerModel);
      if (promptTokens < 1 || maxTokens < 1) throw new IllegalArgumentException("promptTokens and maxTokens must be >= 1");
      models = List.copyOf(models);
    }
  }

  private final ClusterHttp http;
  private final Options options;
  private final ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor(r -> {
    Thread t = new Thread(r, "steady-load-timer");
    t.setDaemon(true);
    return t;
  });
  private final List<CompletableFuture<RequestRecord>> requests = new ArrayList<>();
  private final AtomicBoolean stopping = new AtomicBoolean();
  private volatile List<LocalNode> entries;
  private Thread sender;

  /** @param entries the first entry nodes (round-robin) */
  public SteadyLoad(ClusterHttp http, Options options, List<LocalNode> entries) {
    this.http = http;
    this.options = options;
    entries(entries);
  }

  /**
   * Sets the nodes new requests enter, in round-robin order (an empty list pauses sending: the
   * requests due meanwhile are skipped, not sent late).
   */
  public void entries(List<LocalNode> nodes) {
    this.entries = List.copyOf(nodes);
  }

  /** Starts sending. */
  public synchronized void start() {
    if (sender != null) throw new IllegalStateException("already started");
    sender = new Thread(this::sendLoop, "steady-load");
    sender.setDaemon(true);
    sender.start();
  }

  private void sendLoop() {
    long intervalNanos = (long) (1e9 / (options.ratePerModel() * options.models().size()));
    long next = System.nanoTime();
    for (long k = 0; !stopping.get(); k++) {
      for (long left = next - System.nanoTime(); left > 0 && !stopping.get(); left = next - System.nanoTime()) LockSupport.parkNanos(left);
      if (stopping.get()) break;
      List<LocalNode> e = entries;
      if (!e.isEmpty()) {
        String model = options.models().get((int) (k % options.models().size()));
        CompletableFuture<RequestRecord> r = send(e.get((int) (k % e.size())), model, k);
        synchronized (requests) {
          requests.add(r);
        }
      }
      next += intervalNanos;
    }
  }

  private CompletableFuture<RequestRecord> send(LocalNode node, String model, long seq) {
    CompletableFuture<RequestRecord> record = new CompletableFuture<>();
    long sent = System.nanoTime();
    CompletableFuture<HttpResponse<String>> f = http.send(node, "/v1/completions", body(model, seq));
    f.whenComplete((resp, error) -> record.complete(classify(model, node, sent, resp, error)));
    timer.schedule(() -> {
      if (record.complete(new RequestRecord(model, node.name(), sent, System.nanoTime(), RequestRecord.Outcome.HUNG, -1,
          "no complete answer within " + options.requestTimeout().toMillis() + " ms"))) {
        f.cancel(true);
      }
    }, options.requestTimeout().toNanos(), TimeUnit.NANOSECONDS);
    return record;
  }

  private static RequestRecord classify(String model, LocalNode node, long sent, HttpResponse<String> resp, Throwable error) {
    long end = System.nanoTime();
    if (error != null) {
      Throwable c = error instanceof java.util.concurrent.CompletionException && error.getCause() != null ? error.getCause() : error;
      return new RequestRecord(model, node.name(), sent, end, RequestRecord.Outcome.FAILED, -1, c.toString());
    }
    String body = resp.body() == null ? "" : resp.body();
    if (resp.statusCode() != 200) return new RequestRecord(model, node.name(), sent, end, RequestRecord.Outcome.FAILED, resp.statusCode(), excerpt(body));
    int err = body.indexOf("\"error\":");
    if (err >= 0) return new RequestRecord(model, node.name(), sent, end, RequestRecord.Outcome.FAILED, 200, excerpt(body.substring(Math.max(0, err - 8))));
    if (!body.contains("data: [DONE]")) {
      return new RequestRecord(model, node.name(), sent, end, RequestRecord.Outcome.FAILED, 200, "stream ended without [DONE]: " + excerpt(body));
    }
    return new RequestRecord(model, node.name(), sent, end, RequestRecord.Outcome.OK, 200, "");
  }

  private static String excerpt(String s) {
    String one = s.replace('\n', ' ');
    return one.length() <= 300 ? one : one.substring(0, 300) + "...";
  }

  /** The JSON body of request {@code seq} for {@code model}. */
  String body(String model, long seq) {
    SplittableRandom rnd = new SplittableRandom(0x5eedL * 1_000_003L + seq);
    StringBuilder sb = new StringBuilder(options.promptTokens() * 5 + 200);
    sb.append("{\"model\":\"").append(model).append("\",\"prompt\":[1");
    for (int i = 1; i < options.promptTokens(); i++) sb.append(',').append(3 + rnd.nextInt(509));
    sb.append("],\"max_tokens\":").append(options.maxTokens())
        .append(",\"temperature\":0,\"ignore_eos\":true,\"stream\":true}");
    return sb.toString();
  }

  /**
   * Stops sending and waits until every request sent has been recorded (each ends by its own bound,
   * so this waits at most about {@code requestTimeout}).
   *
   * @return the records, in sending order
   * @throws IllegalStateException if a request is still unrecorded a while after its bound (a bug)
   */
  public List<RequestRecord> stopAndAwait() throws InterruptedException {
    stopping.set(true);
    if (sender != null) sender.join(TimeUnit.SECONDS.toMillis(5));
    List<CompletableFuture<RequestRecord>> all;
    synchronized (requests) {
      all = List.copyOf(requests);
    }
    try {
      CompletableFuture.allOf(all.toArray(CompletableFuture[]::new)).get(options.requestTimeout().toMillis() + 10_000, TimeUnit.MILLISECONDS);
    } catch (ExecutionException | TimeoutException e) {
      throw new IllegalStateException("a request was not recorded within its bound", e);
    } finally {
      timer.shutdownNow();
    }
    return all.stream().map(CompletableFuture::join).toList();
  }

  /** The requests recorded so far (a snapshot; those still running are left out). */
  public List<RequestRecord> records() {
    synchronized (requests) {
      return requests.stream().filter(CompletableFuture::isDone).map(CompletableFuture::join).toList();
    }
  }
}
