package io.prism.app.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.net.HttpURLConnection;
import java.net.URL;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * Samples a server's memory while a replay runs: {@code GET /admin/gpus} every {@code interval},
 * one {@link Sample} per GPU and model (resident weight bytes, KV bytes held), and GPU-seconds: per
 * GPU, the time between samples during which it held any model's weights (a sample that fails is
 * skipped; the time until the next one counts as the last known state).
 *
 * <p>Threading: one daemon thread of its own polls; {@link #samples} and {@link #gpuSeconds} may be
 * read from any thread (synchronised), best after {@link #close}.
 */
final class MemoryPoller implements AutoCloseable {
  /**
   * One model on one GPU at one time.
   *
   * @param seconds since the poller started
   * @param gpu the GPU's id
   * @param model the model's id
   * @param weightBytes weight bytes on the GPU (0 while evicted)
   * @param kvBytes KV pages held, in bytes
   * @param maxKvBytes the model's {@code max_pages} in bytes, -1 when it has no maximum
   */
  record Sample(double seconds, String gpu, String model, long weightBytes, long kvBytes, long maxKvBytes) {}

  private static final ObjectMapper JSON = new ObjectMapper();

  private final URL url;
  private final ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor(r -> {
    Thread t = new Thread(r, "replay-memory-poller");
    t.setDaemon(true);
    return t;
  });
  private final long startNanos = System.nanoTime();
  private final List<Sample> samples = new ArrayList<>();
  private final Map<String, Boolean> holding = new HashMap<>();
  private long lastNanos = -1;
  private double gpuSeconds;

  /** Starts polling {@code baseUrl + "/admin/gpus"} every {@code interval}. */
  MemoryPoller(String baseUrl, Duration interval) {
    try {
      this.url = new URL(baseUrl + "/admin/gpus");
    } catch (java.net.MalformedURLException e) {
      throw new IllegalArgumentException("bad server URL " + baseUrl, e);
    }
    timer.scheduleWithFixedDelay(this::poll, 0, interval.toMillis(), TimeUnit.MILLISECONDS);
  }

  private void poll() {
    JsonNode root;
    HttpURLConnection c = null;
    try { // HttpURLConnection (java.base): the server bundle's runtime has no java.net.http
      c = (HttpURLConnection) url.openConnection();
      c.setConnectTimeout(2000);
      c.setReadTimeout(5000);
      if (c.getResponseCode() != 200) return;
      try (java.io.InputStream in = c.getInputStream()) {
        root = JSON.readTree(in);
      }
    } catch (Exception e) {
      return; // the server is busy or gone: skip this sample
    } finally {
      if (c != null) c.disconnect();
    }
    long now = System.nanoTime();
    double t = (now - startNanos) / 1e9;
    List<Sample> batch = new ArrayList<>();
    Map<String, Boolean> holdingNow = new HashMap<>();
    for (JsonNode g : root.path("data")) {
      String gpu = g.path("id").asText();
      long pageBytes = g.path("page_bytes").asLong();
      boolean any = false;
      for (JsonNode m : g.path("models")) {
        boolean resident = m.path("resident").asBoolean();
        long weights = resident ? m.path("weight_bytes").asLong() : 0;
        any |= weights > 0;
        JsonNode max = m.path("max_pages");
        long maxKv = max.isNumber() ? max.asLong() * pageBytes : -1;
        batch.add(new Sample(t, gpu, m.path("id").asText(), weights, m.path("pages_held").asLong() * pageBytes, maxKv));
      }
      holdingNow.put(gpu, any);
    }
    synchronized (this) {
      if (lastNanos >= 0) for (boolean h : holding.values()) if (h) gpuSeconds += (now - lastNanos) / 1e9;
      holding.clear();
      holding.putAll(holdingNow);
      lastNanos = now;
      samples.addAll(batch);
    }
  }

  /** The samples so far, in time order. */
  synchronized List<Sample> samples() {
    return List.copyOf(samples);
  }

  /** GPU-seconds so far. */
  synchronized double gpuSeconds() {
    return gpuSeconds;
  }

  /** Stops polling (waits up to 5 s for a poll in progress). */
  @Override
  public void close() {
    timer.shutdownNow();
    try {
      timer.awaitTermination(5, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
