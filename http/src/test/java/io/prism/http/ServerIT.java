package io.prism.http;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.typesafe.config.ConfigFactory;
import io.prism.runtime.model.SharedModels;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The whole server (one-node cluster, two host GPUs, the shared models directory) on a free port,
 * driven over real HTTP as a user would: the greedy completion of "Once upon a time" equals the
 * reference output of llama2.c for both model files, streamed and not; 32 concurrent streams all
 * complete correctly and every page is back afterwards; a client that hangs up frees its pages.
 */
class ServerIT {
  private static final String PROMPT = "Once upon a time";
  private static final int MAX_TOKENS = 252; // llama2.c's 256 positions minus BOS and 4 prompt tokens + 1
  private static final Duration TIMEOUT = Duration.ofSeconds(120);

  private static PrismServer server;
  private static HttpClient http;
  private static String base;
  private static String oracle;

  @BeforeAll
  static void start() throws Exception {
    server = PrismServer.start(ConfigFactory.parseMap(Map.of(
        "prism.http.port", 0,
        "pekko.remote.artery.canonical.port", 0,
        "prism.models.dir", SharedModels.dir().orElseThrow().toString(),
        "prism.engine.max-running-sequences", 32)));
    base = "http://127.0.0.1:" + server.port();
    http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).connectTimeout(Duration.ofSeconds(10)).build();
    String o = Files.readString(SharedModels.file("oracle/stories260K_t0_n256_prompt_Once_upon_a_time.txt"), StandardCharsets.UTF_8);
    oracle = o.endsWith("\n") ? o.substring(0, o.length() - 1) : o;
  }

  @AfterAll
  static void stop() {
    if (server != null) server.close();
  }

  private static HttpRequest post(String path, String body) {
    return HttpRequest.newBuilder(URI.create(base + path)).timeout(TIMEOUT).header("Content-Type", "application/json")
        .POST(HttpRequest.BodyPublishers.ofString(body)).build();
  }

  private static JsonNode getJson(String path) throws IOException, InterruptedException {
    HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(base + path)).timeout(TIMEOUT).GET().build(),
        HttpResponse.BodyHandlers.ofString());
    assertEquals(200, r.statusCode(), r.body());
    return Json.parse(r.body());
  }

  private static String completionBody(String model, boolean stream) {
    return "{\"model\":\"" + model + "\",\"prompt\":\"" + PROMPT + "\",\"max_tokens\":" + MAX_TOKENS + ",\"temperature\":0,\"stream\":" + stream + "}";
  }

  /** Text of a streamed completion, checking the SSE framing on the way. */
  private static String streamedText(Stream<String> lines) {
    StringBuilder text = new StringBuilder();
    boolean done = false;
    for (Iterator<String> it = lines.iterator(); it.hasNext(); ) {
      String line = it.next();
      if (line.isEmpty() || line.startsWith(":")) continue;
      assertTrue(line.startsWith("data: "), "SSE line: " + line);
      String data = line.substring(6);
      assertFalse(data.isBlank(), "no empty data events");
      assertFalse(done, "nothing after [DONE]");
      if (data.equals("[DONE]")) {
        done = true;
        continue;
      }
      JsonNode chunk = Json.parse(data);
      assertFalse(chunk.has("error"), "stream error: " + data);
      text.append(chunk.at("/choices/0/text").asText());
    }
    assertTrue(done, "stream ends with [DONE]");
    return text.toString();
  }

  private static String stream(String model) throws IOException, InterruptedException {
    HttpResponse<Stream<String>> r = http.send(post("/v1/completions", completionBody(model, true)), HttpResponse.BodyHandlers.ofLines());
    assertEquals(200, r.statusCode());
    assertTrue(r.headers().firstValue("content-type").orElse("").startsWith("text/event-stream"));
    return streamedText(r.body());
  }

  @Test
  void greedyStreamedCompletionOfBothModelFilesEqualsTheReference() throws Exception {
    assertEquals(oracle, PROMPT + stream("stories260K"));
    assertEquals(oracle, PROMPT + stream("stories260K-gguf"));
  }

  @Test
  void metricsShowTheServedRequestsAndEveryGpusMemory() throws Exception {
    assertEquals(oracle, PROMPT + stream("stories260K"));
    HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(base + "/metrics")).timeout(TIMEOUT).GET().build(),
        HttpResponse.BodyHandlers.ofString());
    assertEquals(200, r.statusCode());
    String text = r.body();
    for (String name : List.of("prism_time_to_first_token_seconds_count{model_name=\"stories260K\"}", "prism_time_per_output_token_seconds_bucket",
        "prism_kv_pages_free{gpu=", "prism_model_weights_resident{gpu=", "prism_requests_admitted_total{gpu=")) {
      assertTrue(text.contains(name), name + " in:\n" + text);
    }
  }

  @Test
  void greedyNonStreamedCompletionEqualsTheReference() throws Exception {
    for (String model : List.of("stories260K", "stories260K-gguf")) {
      HttpResponse<String> r = http.send(post("/v1/completions", completionBody(model, false)), HttpResponse.BodyHandlers.ofString());
      assertEquals(200, r.statusCode(), r.body());
      JsonNode body = Json.parse(r.body());
      assertEquals(oracle, PROMPT + body.at("/choices/0/text").asText(), model);
      assertEquals("length", body.at("/choices/0/finish_reason").asText());
      assertEquals(MAX_TOKENS, body.at("/usage/completion_tokens").asInt());
    }
  }

  @Test
  void thirtyTwoConcurrentStreamsAcrossBothModelsAllCompleteAndEveryPageComesBack() throws Exception {
    JsonNode models = getJson("/v1/models").get("data");
    assertEquals(2, models.size(), models.toString());
    List<CompletableFuture<String>> streams = new ArrayList<>();
    for (int i = 0; i < 32; i++) {
      String model = i % 2 == 0 ? "stories260K" : "stories260K-gguf";
      streams.add(http.sendAsync(post("/v1/completions", completionBody(model, true)), HttpResponse.BodyHandlers.ofLines())
          .thenApply(r -> {
            assertEquals(200, r.statusCode());
            return streamedText(r.body());
          }));
    }
    for (CompletableFuture<String> s : streams) assertEquals(oracle, PROMPT + s.get());
    assertEveryPageBack();
  }

  @Test
  void stopStringsEndTheCompletionBeforeTheStringAndSeedsRepeat() throws Exception {
    String body = "{\"model\":\"stories260K\",\"prompt\":\"" + PROMPT + "\",\"max_tokens\":100,\"temperature\":0,\"stop\":[\"Lily\"]}";
    JsonNode stopped = Json.parse(http.send(post("/v1/completions", body), HttpResponse.BodyHandlers.ofString()).body());
    assertEquals(oracle.substring(PROMPT.length(), oracle.indexOf("Lily")), stopped.at("/choices/0/text").asText());
    assertEquals("stop", stopped.at("/choices/0/finish_reason").asText());

    String sampled = "{\"model\":\"stories260K-gguf\",\"messages\":[{\"role\":\"user\",\"content\":\"" + PROMPT + "\"}],"
        + "\"max_tokens\":40,\"temperature\":0.9,\"top_p\":0.95,\"seed\":1234}";
    String first = Json.parse(http.send(post("/v1/chat/completions", sampled), HttpResponse.BodyHandlers.ofString()).body())
        .at("/choices/0/message/content").asText();
    String second = Json.parse(http.send(post("/v1/chat/completions", sampled), HttpResponse.BodyHandlers.ofString()).body())
        .at("/choices/0/message/content").asText();
    assertFalse(first.isEmpty());
    assertEquals(first, second, "the same seed gives the same text");
  }

  @Test
  void badRequestsGetTheirStatusAndTheServerKeepsServing() throws Exception {
    HttpResponse<String> unknown = http.send(post("/v1/completions", "{\"model\":\"ghost\",\"prompt\":\"x\"}"), HttpResponse.BodyHandlers.ofString());
    assertEquals(404, unknown.statusCode());
    assertEquals("model_not_found", Json.parse(unknown.body()).at("/error/code").asText());
    HttpResponse<String> tooLong = http.send(post("/v1/completions", "{\"model\":\"stories260K\",\"prompt\":\"x\",\"max_tokens\":1000}"),
        HttpResponse.BodyHandlers.ofString());
    assertEquals(400, tooLong.statusCode());
    assertTrue(Json.parse(tooLong.body()).at("/error/message").asText().contains("maximum context length is 512 tokens"), tooLong.body());
    HttpResponse<String> ok = http.send(post("/v1/chat/completions",
        "{\"model\":\"stories260K\",\"messages\":[{\"role\":\"user\",\"content\":\"Once upon a time\"}],\"max_tokens\":8,\"temperature\":0}"),
        HttpResponse.BodyHandlers.ofString());
    assertEquals(200, ok.statusCode(), ok.body());
    assertTrue(oracle.startsWith(PROMPT + Json.parse(ok.body()).at("/choices/0/message/content").asText()));
    assertEquals(200, http.send(HttpRequest.newBuilder(URI.create(base + "/health")).GET().build(), HttpResponse.BodyHandlers.ofString()).statusCode());
  }

  @Test
  void aClientThatHangsUpMidStreamCancelsItsSequenceAndItsPagesGoBack() throws Exception {
    // the GGUF's context is 2048 tokens: a long generation, so the hang-up comes while it runs
    long cancelledBefore = counter("stories260K-gguf", "cancelled");
    String body = "{\"model\":\"stories260K-gguf\",\"prompt\":\"" + PROMPT + "\",\"max_tokens\":2000,\"ignore_eos\":true,\"stream\":true}";
    HttpResponse<Stream<String>> r = http.send(post("/v1/completions", body), HttpResponse.BodyHandlers.ofLines());
    Iterator<String> lines = r.body().iterator();
    int data = 0;
    while (data < 3 && lines.hasNext()) if (lines.next().startsWith("data: ")) data++;
    r.body().close(); // hang up
    assertEveryPageBack();
    assertEquals(cancelledBefore + 1, counter("stories260K-gguf", "cancelled"), "the sequence was cancelled, not run to its end");
  }

  private static long counter(String model, String name) throws Exception {
    for (JsonNode g : getJson("/admin/gpus").get("data")) {
      for (JsonNode m : g.get("models")) if (m.get("id").asText().equals(model)) return m.get(name).asLong();
    }
    throw new AssertionError("model " + model + " not on any GPU");
  }

  /**
   * Polls /admin/gpus until no request is queued or running and no page is in use by one (bounded);
   * then every page a pool handed out is back in it or kept by its model on purpose (the model's
   * empty reserve page id and prefix-cached blocks, both reclaimable), and the pools' books balance.
   */
  private static void assertEveryPageBack() throws Exception {
    long deadline = System.nanoTime() + TIMEOUT.toNanos();
    JsonNode gpus;
    while (true) {
      gpus = getJson("/admin/gpus").get("data");
      boolean idle = true;
      for (JsonNode g : gpus) {
        assertEquals("", g.get("invariant_violation").asText(), g.toString());
        int kept = 0;
        for (JsonNode m : g.get("models")) {
          idle &= m.get("pages_in_use").asInt() == 0 && m.get("waiting").asInt() + m.get("running").asInt() == 0;
          kept += m.get("pages_kept").asInt();
        }
        idle &= g.get("held_pages").asInt() == kept;
      }
      if (idle) break;
      assertTrue(System.nanoTime() < deadline, "pages still held: " + gpus);
      Thread.sleep(20);
    }
    assertEquals(2, gpus.size());
  }
}
