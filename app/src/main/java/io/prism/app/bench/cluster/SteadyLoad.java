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
 * <p><b>Retries</b>, as the official OpenAI clients make them (openai-python and openai-node: {@code
 * max_retries} 2): an attempt that fails before its stream starts is tried again, at most {@code
 * retries} times, if the reply carries {@code x-should-retry: true}, or it has no {@code
 * x-should-retry: false} and its status is 408, 409, 429 or 5xx, or the connection failed; the
 * next attempt waits the reply's {@code Retry-After} (seconds, if in (0, 60]) or else {@code
 * min(0.5 s x 2^n, 8 s)} less up to 25 % jitter. A retry enters the next entry node, as behind a load
 * balancer. An error after the stream started (HTTP 200) is not retried (the clients do not either).
 * A request that succeeds on a retry counts as OK, with its {@link RequestRecord#attempts()}.
 *
 * <p>Every attempt has a client bound {@code requestTimeout}: one not complete by then is recorded
 * {@link RequestRecord.Outcome#HUNG} and abandoned (its exchange cancelled; hung attempts are not
 * retried, so that a hang stays visible). Each request is recorded exactly once ({@link
 * #records()}).
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
   * @param requestTimeout the client's bound on one attempt of a request
   * @param retries retries of an attempt that failed retryably (the OpenAI clients' default: 2; 0: none)
   */
  public record Options(List<String> models, double ratePerModel, int promptTokens, int maxTokens, Duration requestTimeout, int retries) {
    /** Without client retries. */
    public Options(List<String> models, double ratePerModel, int promptTokens, int maxTokens, Duration requestTimeout) {
      this(models, ratePerModel, promptTokens, maxTokens, requestTimeout, 0);
    }

    public Options {
      if (retries < 0) throw new IllegalArgumentException("retries must be >= 0, got " + retries);
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
  private volatile LocalNode lastEntry;
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
    if (!nodes.isEmpty() && lastEntry == null) lastEntry = nodes.get(0);
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
        CompletableFuture<RequestRecord> r = new CompletableFuture<>();
        attempt(r, (int) (k % e.size()), model, k, System.nanoTime(), 1);
        synchronized (requests) {
          requests.add(r);
        }
      }
      next += intervalNanos;
    }
  }

  /**
   * Attempt {@code attempt} (1-based) of request {@code seq}, entering entry node number {@code entry}
   * (modulo the current entries); completes {@code record} once, or schedules the next attempt.
   */
  private void attempt(CompletableFuture<RequestRecord> record, int entry, String model, long seq, long firstSent, int attempt) {
    List<LocalNode> e = entries;
    if (e.isEmpty()) e = List.of(lastEntry);
    LocalNode node = e.get(Math.floorMod(entry, e.size()));
    lastEntry = node;
    CompletableFuture<Boolean> done = new CompletableFuture<>(); // the attempt ended, by an answer or by the bound
    CompletableFuture<HttpResponse<String>> f = http.send(node, "/v1/completions", body(model, seq));
    f.whenComplete((resp, error) -> {
      if (!done.complete(true)) return;
      RequestRecord r = classify(model, node, firstSent, resp, error, attempt);
      long delayNanos = attempt <= options.retries() ? retryDelayNanos(resp, error, attempt) : -1;
      if (r.ok() || delayNanos < 0) {
        record.complete(r);
      } else {
        try {
          timer.schedule(() -> attempt(record, entry + 1, model, seq, firstSent, attempt + 1), delayNanos, TimeUnit.NANOSECONDS);
        } catch (java.util.concurrent.RejectedExecutionException closed) {
          record.complete(r);
        }
      }
    });
    try {
      timer.schedule(() -> {
        if (done.complete(false)) {
          record.complete(new RequestRecord(model, node.name(), firstSent, System.nanoTime(), RequestRecord.Outcome.HUNG, -1,
              "no complete answer within " + options.requestTimeout().toMillis() + " ms", attempt));
          f.cancel(true);
        }
      }, options.requestTimeout().toNanos(), TimeUnit.NANOSECONDS);
    } catch (java.util.concurrent.RejectedExecutionException closed) {
      if (done.complete(false)) record.complete(new RequestRecord(model, node.name(), firstSent, System.nanoTime(), RequestRecord.Outcome.HUNG, -1,
          "the load stopped before an answer", attempt));
    }
  }

  /**
   * The OpenAI clients' retry rule for an attempt that did not succeed: the delay before the next
   * attempt in nanoseconds, or -1 if they would not retry it (a stream that started, a client error,
   * {@code x-should-retry: false}).
   */
  static long retryDelayNanos(HttpResponse<String> resp, Throwable error, int attempt) {
    if (resp != null) {
      String should = resp.headers().firstValue("x-should-retry").orElse("");
      int st = resp.statusCode();
      if (st == 200) return -1;
      if (should.equals("false")) return -1;
      if (!should.equals("true") && !(st == 408 || st == 409 || st == 429 || st >= 500)) return -1;
      java.util.Optional<String> after = resp.headers().firstValue("retry-after");
      if (after.isPresent()) {
        try {
          double seconds = Double.parseDouble(after.get().trim());
          if (seconds > 0 && seconds <= 60) return (long) (seconds * 1e9);
        } catch (NumberFormatException notSeconds) {
          // an HTTP date: the backoff below
        }
      }
    } else if (error == null) {
      return -1;
    }
    double backoff = Math.min(0.5 * Math.pow(2, attempt - 1), 8.0);
    double jitter = 1 - 0.25 * java.util.concurrent.ThreadLocalRandom.current().nextDouble();
    return (long) (backoff * jitter * 1e9);
  }

  private static RequestRecord classify(String model, LocalNode node, long sent, HttpResponse<String> resp, Throwable error, int attempts) {
    long end = System.nanoTime();
    if (error != null) {
      Throwable c = error instanceof java.util.concurrent.CompletionException && error.getCause() != null ? error.getCause() : error;
      return new RequestRecord(model, node.name(), sent, end, RequestRecord.Outcome.FAILED, -1, c.toString(), attempts);
    }
    String body = resp.body() == null ? "" : resp.body();
    if (resp.statusCode() != 200) {
      return new RequestRecord(model, node.name(), sent, end, RequestRecord.Outcome.FAILED, resp.statusCode(), excerpt(body), attempts);
    }
    int err = body.indexOf("\"error\":");
    if (err >= 0) {
      return new RequestRecord(model, node.name(), sent, end, RequestRecord.Outcome.FAILED, 200, excerpt(body.substring(Math.max(0, err - 8))), attempts);
    }
    if (!body.contains("data: [DONE]")) {
      return new RequestRecord(model, node.name(), sent, end, RequestRecord.Outcome.FAILED, 200, "stream ended without [DONE]: " + excerpt(body), attempts);
    }
    return new RequestRecord(model, node.name(), sent, end, RequestRecord.Outcome.OK, 200, "", attempts);
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
   * Stops sending and waits until every request sent has been recorded (each attempt ends by its own
   * bound, so this waits at most about {@code (retries + 1) x (requestTimeout + 60 s)}).
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
      long boundMillis = (options.retries() + 1L) * (options.requestTimeout().toMillis() + 60_000) + 10_000;
      CompletableFuture.allOf(all.toArray(CompletableFuture[]::new)).get(boundMillis, TimeUnit.MILLISECONDS);
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
