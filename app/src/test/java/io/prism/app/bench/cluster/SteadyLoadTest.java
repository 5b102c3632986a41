package io.prism.app.bench.cluster;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import io.prism.app.bench.cluster.RequestRecord.Outcome;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * {@link SteadyLoad} against a fake node (the JDK's HTTP server on loopback) whose answer depends on
 * the model: a complete stream, a 503, an error frame in a 200 stream, a stream cut before {@code
 * [DONE]}, and no answer at all. Every request sent is recorded exactly once, with the outcome its
 * model's answer calls for; the unanswered ones as hung, after the client's bound and not long after.
 */
class SteadyLoadTest {
  private static final Duration BOUND = Duration.ofSeconds(3);

  @Test
  @Timeout(value = 30, unit = TimeUnit.SECONDS)
  void recordsEachRequestOnceWithTheOutcomeOfItsAnswerAndHungAfterTheBound() throws Exception {
    CountDownLatch release = new CountDownLatch(1);
    ExecutorService threads = Executors.newCachedThreadPool();
    HttpServer server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 64);
    server.setExecutor(threads);
    server.createContext("/v1/completions", ex -> answer(ex, release));
    server.start();
    try {
      LocalNode node = new LocalNode(0, server.getAddress().getPort(), 1);
      List<String> models = List.of("ok", "busy", "frame", "cut", "hang");
      SteadyLoad load = new SteadyLoad(new ClusterHttp(), new SteadyLoad.Options(models, 4, 4, 8, BOUND), List.of(node));
      load.start();
      LockSupport.parkNanos(Duration.ofMillis(1500).toNanos()); // a load window, not a wait for an event
      List<RequestRecord> records = load.stopAndAwait();
      assertTrue(records.size() >= 2 * models.size(), "sent " + records.size());
      Map<String, List<RequestRecord>> byModel = records.stream().collect(Collectors.groupingBy(RequestRecord::model));
      assertEquals(models.size(), byModel.size());
      byModel.get("ok").forEach(r -> assertEquals(Outcome.OK, r.outcome(), r.toString()));
      byModel.get("busy").forEach(r -> assertTrue(r.outcome() == Outcome.FAILED && r.status() == 503 && r.detail().contains("overloaded"), r.toString()));
      byModel.get("frame").forEach(r -> assertTrue(r.outcome() == Outcome.FAILED && r.status() == 200 && r.detail().contains("error"), r.toString()));
      byModel.get("cut").forEach(r -> assertTrue(r.outcome() == Outcome.FAILED && r.detail().contains("without [DONE]"), r.toString()));
      for (RequestRecord r : byModel.get("hang")) {
        assertEquals(Outcome.HUNG, r.outcome(), r.toString());
        assertTrue(r.latencySeconds() >= BOUND.toMillis() / 1000.0 && r.latencySeconds() < BOUND.toMillis() / 1000.0 + 2, r.toString());
      }
      assertFalse(records.stream().anyMatch(r -> r.node().isEmpty()));
    } finally {
      release.countDown();
      server.stop(0);
      threads.shutdownNow();
    }
  }

  @Test
  @Timeout(value = 30, unit = TimeUnit.SECONDS)
  void retriesRetryableFailuresAsTheOpenAiClientsDoAndNothingElse() throws Exception {
    ExecutorService threads = Executors.newCachedThreadPool();
    Map<String, java.util.concurrent.atomic.AtomicInteger> tries = new java.util.concurrent.ConcurrentHashMap<>();
    HttpServer server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 64);
    server.setExecutor(threads);
    server.createContext("/v1/completions", ex -> {
      String body = new String(ex.getRequestBody().readAllBytes(), StandardCharsets.UTF_8);
      String model = body.substring(body.indexOf("\"model\":\"") + 9, body.indexOf("\",\"prompt\""));
      int n = tries.computeIfAbsent(body, b -> new java.util.concurrent.atomic.AtomicInteger()).incrementAndGet();
      try (ex) {
        switch (model) {
          case "flaky" -> { // a retryable 503 on the first attempt (a node leaving), then served
            if (n == 1) {
              ex.getResponseHeaders().add("x-should-retry", "true");
              ex.getResponseHeaders().add("Retry-After", "1");
              send(ex, 503, "{\"error\":{\"message\":\"leaving\"}}");
            } else {
              send(ex, 200, "data: {\"choices\":[{\"text\":\"a\",\"finish_reason\":null}]}\n\ndata: [DONE]\n\n");
            }
          }
          case "final" -> { // not retryable: x-should-retry: false (an SLO the model cannot meet)
            ex.getResponseHeaders().add("x-should-retry", "false");
            send(ex, 503, "{\"error\":{\"message\":\"slo\"}}");
          }
          case "bad" -> send(ex, 400, "{\"error\":{\"message\":\"bad field\"}}");
          default -> { // always retryable: given up after 2 retries
            ex.getResponseHeaders().add("x-should-retry", "true");
            send(ex, 503, "{\"error\":{\"message\":\"down\"}}");
          }
        }
      }
    });
    server.start();
    try {
      LocalNode node = new LocalNode(0, server.getAddress().getPort(), 1);
      List<String> models = List.of("flaky", "final", "bad", "down");
      SteadyLoad load = new SteadyLoad(new ClusterHttp(), new SteadyLoad.Options(models, 2, 4, 8, BOUND, 2), List.of(node));
      load.start();
      LockSupport.parkNanos(Duration.ofMillis(1200).toNanos()); // a load window, not a wait for an event
      List<RequestRecord> records = load.stopAndAwait();
      Map<String, List<RequestRecord>> byModel = records.stream().collect(Collectors.groupingBy(RequestRecord::model));
      assertEquals(models.size(), byModel.size(), records.toString());
      for (RequestRecord r : byModel.get("flaky")) {
        assertTrue(r.ok() && r.attempts() == 2, r.toString());
        assertTrue(r.latencySeconds() >= 1.0, "waited Retry-After: " + r);
      }
      byModel.get("final").forEach(r -> assertTrue(r.outcome() == Outcome.FAILED && r.attempts() == 1, r.toString()));
      byModel.get("bad").forEach(r -> assertTrue(r.outcome() == Outcome.FAILED && r.attempts() == 1 && r.status() == 400, r.toString()));
      byModel.get("down").forEach(r -> assertTrue(r.outcome() == Outcome.FAILED && r.attempts() == 3 && r.status() == 503, r.toString()));
      int sentToServer = tries.values().stream().mapToInt(java.util.concurrent.atomic.AtomicInteger::get).sum();
      assertEquals(records.stream().mapToInt(RequestRecord::attempts).sum(), sentToServer);
    } finally {
      server.stop(0);
      threads.shutdownNow();
    }
  }

  private static void answer(HttpExchange ex, CountDownLatch release) throws IOException {
    String body = new String(ex.getRequestBody().readAllBytes(), StandardCharsets.UTF_8);
    String model = body.substring(body.indexOf("\"model\":\"") + 9, body.indexOf("\",\"prompt\""));
    try (ex) {
      switch (model) {
        case "ok" -> send(ex, 200, "data: {\"choices\":[{\"text\":\"a\",\"finish_reason\":null}]}\n\ndata: [DONE]\n\n");
        case "busy" -> send(ex, 503, "{\"error\":{\"message\":\"overloaded\"}}");
        case "frame" -> send(ex, 200, "data: {\"error\":{\"message\":\"model unloaded\"}}\n\ndata: [DONE]\n\n");
        case "cut" -> send(ex, 200, "data: {\"choices\":[{\"text\":\"a\",\"finish_reason\":null}]}\n\n");
        default -> {
          try {
            release.await(); // a node that never answers, until the test ends
          } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
          }
        }
      }
    }
  }

  private static void send(HttpExchange ex, int status, String text) throws IOException {
    byte[] b = text.getBytes(StandardCharsets.UTF_8);
    ex.sendResponseHeaders(status, b.length);
    try (OutputStream o = ex.getResponseBody()) {
      o.write(b);
    }
  }
}
