package io.prism.http;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.prism.runtime.engine.Rejection;
import io.prism.actors.frontend.GenerationEvent;
import io.prism.actors.gpu.GpuEvent;
import io.prism.actors.GpuId;
import io.prism.actors.gpu.GpuStatus;
import io.prism.actors.gpu.ModelBooks;
import io.prism.actors.ModelSpec;
import io.prism.runtime.engine.FinishReason;
import java.time.Duration;
import java.util.List;
import org.apache.pekko.actor.typed.javadsl.Adapter;
import org.apache.pekko.http.javadsl.model.ContentTypes;
import org.apache.pekko.http.javadsl.model.HttpRequest;
import org.apache.pekko.http.javadsl.testkit.TestRoute;
import org.apache.pekko.http.javadsl.testkit.TestRouteResult;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The operator routes against a scripted cluster: {@code GET /metrics} in the Prometheus text
 * format with the GPUs' memory and scheduling metrics and the requests' TTFT/TPOT, {@code GET
 * /admin/gpus} with residency, admission and time-sharing counters and recent events, {@code POST
 * /admin/models} with page limits, and the 503 of a request that cannot meet its TTFT SLO.
 */
class AdminRoutesTest extends JUnit5RouteTest {
  private static final HttpSettings SETTINGS =
      new HttpSettings("127.0.0.1", 0, Duration.ofMinutes(1), Duration.ofMinutes(1), Duration.ofSeconds(5), Duration.ofSeconds(5), 4096);
  private static final GpuId GPU = new GpuId("127.0.0.1", 25520, 0);
  private FakeApi api;
  private TestRoute route;

  @BeforeEach
  void setUp() {
    api = new FakeApi();
    route = testRoute(new PrismRoutes(api, materializer(), SETTINGS).route());
    ModelBooks books = new ModelBooks(2, 7, 1, 3, 2, 1_500_000_000L, 700_000_000L, 2, 40, 5);
    GpuStatus.ModelStatus a = new GpuStatus.ModelStatus("a", 1000, 30, 10, 3, 1, 2, true, 4, 0, 0, 6, false, 0, 99, 0, 120,
        Duration.ofMillis(500), Duration.ofMillis(50), 2000.0, 4_500_000, 256_000_000, 0, 1024, books,
        new GpuStatus.WeightTierStatus("disk", 0, 1, 300_000_000L, 1, 1_200_000_000L));
    api.gpus = List.of(new GpuStatus(GPU, "host-cpu-0", 1, 1 << 20, 4096, 200, 50, 8, 30, 1000, List.of(a), "", true, "", 0, 17, 2,
        List.of(new GpuEvent(1_700_000_000_000L, GpuEvent.EVICTED, "a", "evicted the weights of a"))));
  }

  @Test
  void metricsExposeTheGpusMemoryAndSchedulingPerModelInThePrometheusFormat() {
    TestRouteResult r = route.run(HttpRequest.GET("/metrics"));
    r.assertStatusCode(200);
    String text = r.entityString();
    assertTrue(r.response().entity().getContentType().toString().startsWith("text/plain"), r.response().entity().getContentType().toString());
    String labels = "{gpu=\"gpu-0@127.0.0.1:25520\",model_name=\"a\"}";
    for (String line : List.of("prism_kv_pages_used" + labels + " 20.0", "prism_kv_pages_held" + labels + " 30.0",
        "prism_model_weights_resident" + labels + " 0.0", "prism_num_requests_waiting" + labels + " 3.0",
        "prism_requests_admitted_total" + labels + " 7.0", "prism_requests_dropped_total" + labels + " 1.0",
        "prism_model_activations_total" + tier("host") + " 1.0", "prism_model_activations_total" + tier("disk") + " 1.0",
        "prism_model_activation_seconds_sum" + tier("host") + " 0.3", "prism_model_activation_seconds_sum" + tier("disk") + " 1.2",
        "prism_kv_pages_free{gpu=\"gpu-0@127.0.0.1:25520\"} 50.0", "prism_kv_pages_reserve{gpu=\"gpu-0@127.0.0.1:25520\"} 8.0")) {
      assertTrue(text.contains(line), "metrics contain " + line + ":\n" + text);
    }
  }

  private static String tier(String tier) {
    return "{gpu=\"gpu-0@127.0.0.1:25520\",model_name=\"a\",tier=\"" + tier + "\"}";
  }

  @Test
  void completedRequestsFeedTheTtftAndTpotHistograms() {
    api.script = req -> List.of(new GenerationEvent.Started(req.requestId(), req.modelId(), GPU, 5, Adapter.toTyped(system().deadLetters())),
        new GenerationEvent.Chunk(req.requestId(), " a", 100, 0), new GenerationEvent.Chunk(req.requestId(), " b", 101, 1),
        new GenerationEvent.Completed(req.requestId(), FinishReason.LENGTH, "", 5, 2, ""));
    route.run(HttpRequest.POST("/v1/completions").withEntity(ContentTypes.APPLICATION_JSON, "{\"model\":\"m\",\"prompt\":\"hi\",\"max_tokens\":2}"))
        .assertStatusCode(200);
    String text = route.run(HttpRequest.GET("/metrics")).entityString();
    assertTrue(text.contains("prism_time_to_first_token_seconds_count{model_name=\"m\"} 1"), text);
    assertTrue(text.contains("prism_time_per_output_token_seconds_count{model_name=\"m\"} 1"), text);
    assertTrue(text.contains("prism_request_success_total{finished_reason=\"length\",model_name=\"m\"} 1.0"), text);
  }

  @Test
  void gpusShowResidencyAdmissionTimeSharingAndRecentEvents() {
    TestRouteResult r = route.run(HttpRequest.GET("/admin/gpus"));
    r.assertStatusCode(200);
    JsonNode g = Json.parse(r.entityString()).get("data").get(0);
    assertEquals(2, g.get("queued").asInt());
    assertEquals(17, g.get("invariant_checks").asInt());
    JsonNode m = g.get("models").get(0);
    assertFalse(m.get("resident").asBoolean());
    assertEquals(120, m.get("max_pages").asInt());
    assertEquals(500, m.get("ttft_slo_ms").asInt());
    assertEquals(4.5, m.get("decode_step_ms").asDouble(), 1e-9);
    assertEquals(256.0, m.get("prefill_chunk_ms").asDouble(), 1e-9);
    assertEquals(7, m.get("admission").get("admitted").asInt());
    assertEquals(1, m.get("admission").get("dropped").asInt());
    assertEquals(2, m.get("time_sharing").get("activations").asInt());
    assertEquals(0.7, m.get("time_sharing").get("last_activation_seconds").asDouble(), 1e-9);
    assertEquals("disk", m.get("tier").asText());
    assertEquals(1, m.get("time_sharing").get("activations_from_disk").asInt());
    assertEquals(1.2, m.get("time_sharing").get("activation_seconds_from_disk").asDouble(), 1e-9);
    JsonNode e = g.get("events").get(0);
    assertEquals(GpuEvent.EVICTED, e.get("kind").asText());
    assertEquals("a", e.get("model").asText());
  }

  @Test
  void registeringTakesSlosAndPageLimitsAndRejectsAMaximumBelowTheMinimum() {
    route.run(HttpRequest.POST("/admin/models").withEntity(ContentTypes.APPLICATION_JSON,
        "{\"path\":\"random:stories15M\",\"id\":\"x\",\"ttft_slo\":\"300ms\",\"tpot_slo\":0.05,\"min_pages\":10,\"max_pages\":100}"));
    ModelSpec s = api.registered.get(0);
    assertEquals(Duration.ofMillis(300), s.ttftSlo());
    assertEquals(Duration.ofMillis(50), s.tpotSlo());
    assertEquals(10, s.minPages());
    assertEquals(100, s.maxPages());
    TestRouteResult bad = route.run(HttpRequest.POST("/admin/models").withEntity(ContentTypes.APPLICATION_JSON,
        "{\"path\":\"random:stories15M\",\"min_pages\":10,\"max_pages\":5}"));
    bad.assertStatusCode(400);
    assertEquals("max_pages", Json.parse(bad.entityString()).get("error").get("param").asText());
    route.run(HttpRequest.POST("/admin/models").withEntity(ContentTypes.APPLICATION_JSON, "{\"path\":\"random:stories15M\",\"max_pages\":-1}"))
        .assertStatusCode(400);
  }

  @Test
  void registeringTakesMaxReplicasAndRejectsOneBelowOne() {
    route.run(HttpRequest.POST("/admin/models").withEntity(ContentTypes.APPLICATION_JSON,
        "{\"path\":\"random:stories15M\",\"id\":\"r\",\"max_replicas\":3}"));
    assertEquals(3, api.registered.get(api.registered.size() - 1).maxReplicas());
    route.run(HttpRequest.POST("/admin/models").withEntity(ContentTypes.APPLICATION_JSON, "{\"path\":\"random:stories15M\",\"id\":\"d\"}"));
    assertEquals(1, api.registered.get(api.registered.size() - 1).maxReplicas(), "default 1");
    for (String bad : new String[] {"0", "1.5", "\"two\""}) {
      TestRouteResult r = route.run(HttpRequest.POST("/admin/models").withEntity(ContentTypes.APPLICATION_JSON,
          "{\"path\":\"random:stories15M\",\"max_replicas\":" + bad + "}"));
      r.assertStatusCode(400);
      assertEquals("max_replicas", Json.parse(r.entityString()).get("error").get("param").asText());
    }
  }

  @Test
  void registeringAFolderWithoutTokenizerJsonOrWithARaisingTemplateIs400AndRegistersNothing(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir)
      throws Exception {
    java.nio.file.Path folder = java.nio.file.Files.createDirectories(dir.resolve("hf-model"));
    java.nio.file.Files.writeString(folder.resolve("config.json"), "{\"architectures\": [\"Qwen3ForCausalLM\"]}");
    TestRouteResult r = route.run(HttpRequest.POST("/admin/models").withEntity(ContentTypes.APPLICATION_JSON,
        "{\"path\":" + Json.MAPPER.writeValueAsString(folder.toString()) + "}"));
    r.assertStatusCode(400);
    JsonNode e = Json.parse(r.entityString()).get("error");
    assertEquals("path", e.get("param").asText());
    assertTrue(e.get("message").asText().contains("has no tokenizer.json"), e.get("message").asText());
    java.nio.file.Path shared = java.nio.file.Path.of("../shared/tokenizers/qwen3/tokenizer.json");
    if (java.nio.file.Files.isRegularFile(shared)) {
      java.nio.file.Files.copy(shared, folder.resolve("tokenizer.json"));
      java.nio.file.Files.writeString(folder.resolve("tokenizer_config.json"),
          "{\"chat_template\": \"{% if messages %}\\n{{ raise_exception('Only tool conversations are supported') }}{% endif %}\"}");
      TestRouteResult t = route.run(HttpRequest.POST("/admin/models").withEntity(ContentTypes.APPLICATION_JSON,
          "{\"path\":" + Json.MAPPER.writeValueAsString(folder.toString()) + "}"));
      t.assertStatusCode(400);
      String m = Json.parse(t.entityString()).at("/error/message").asText();
      assertTrue(m.contains("Only tool conversations are supported") && m.contains("line 2") && m.contains("tokenizer_config.json"), m);
    }
    assertTrue(api.registered.isEmpty(), "nothing registered");
  }

  @Test
  void aRequestThatCannotMeetItsTtftSloIs503WithoutRetry() {
    api.script = req -> List.of(new GenerationEvent.Rejected(req.requestId(), new Rejection.SloUnattainable(
        "model 'm': cannot meet TTFT deadline", 900, 500)));
    TestRouteResult r = route.run(HttpRequest.POST("/v1/completions").withEntity(ContentTypes.APPLICATION_JSON, "{\"model\":\"m\",\"prompt\":\"hi\"}"));
    r.assertStatusCode(503);
    r.assertHeaderExists(ApiError.SHOULD_RETRY, "false");
    JsonNode e = Json.parse(r.entityString()).get("error");
    assertEquals("slo_unattainable", e.get("code").asText());
    assertTrue(e.get("message").asText().contains("TTFT"));
  }

  @Test
  void theConfiguredCatalogSetsSlosAndLimitsOfDiscoveredModels() {
    com.typesafe.config.Config catalog = com.typesafe.config.ConfigFactory.parseString(
        "\"stories260K\" { ttft-slo = 250ms, max-pages = 64 }");
    ModelSpec base = new ModelSpec("stories260K", "/m/stories260K.bin", null, Duration.ofSeconds(10), Duration.ofSeconds(1), 100);
    ModelSpec s = PrismServer.catalogEntry(catalog, base);
    assertEquals(Duration.ofMillis(250), s.ttftSlo());
    assertEquals(Duration.ofSeconds(1), s.tpotSlo(), "not set: the default");
    assertEquals(64, s.maxPages());
    ModelSpec other = new ModelSpec("other", "/m/other.bin", null, Duration.ofSeconds(10), Duration.ofSeconds(1), 100);
    assertEquals(other, PrismServer.catalogEntry(catalog, other), "models not in the catalog keep their spec");
  }
}
