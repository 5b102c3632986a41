package io.prism.http;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.prism.actors.GpuId;
import io.prism.actors.ModelSpec;
import io.prism.actors.frontend.GenerationEvent;
import io.prism.actors.gpu.GpuEvent;
import io.prism.actors.gpu.GpuStatus;
import io.prism.actors.gpu.ModelBooks;
import io.prism.actors.placement.ModelInfo;
import io.prism.actors.placement.PlacementView;
import io.prism.http.security.ApiKeys;
import io.prism.http.security.HttpAuthSettings;
import io.prism.http.security.HttpSecurity;
import io.prism.http.security.ModelRoots;
import io.prism.runtime.engine.FinishReason;
import io.prism.runtime.engine.Rejection;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.pekko.actor.typed.javadsl.Adapter;
import org.apache.pekko.http.javadsl.model.ContentTypes;
import org.apache.pekko.http.javadsl.model.HttpRequest;
import org.apache.pekko.http.javadsl.model.headers.RawHeader;
import org.apache.pekko.http.javadsl.testkit.TestRoute;
import org.apache.pekko.http.javadsl.testkit.TestRouteResult;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * {@code GET /admin/dashboard} against a scripted cluster: the memory map of each GPU (weights per
 * resident model, KV pages per model, reserve, free) adds up to its budget; queues, KVPR and token
 * rates come from the statuses and the placement view; GPU events, migrations and replica changes
 * are merged newest first; SLO attainment counts the completions that went through the routes,
 * judged against the catalog's SLOs. The page and its files are served without a key, with a strict
 * Content-Security-Policy; the data needs the admin key.
 */
class DashboardRoutesTest extends JUnit5RouteTest {
  private static final HttpSettings SETTINGS =
      new HttpSettings("127.0.0.1", 0, Duration.ofMinutes(1), Duration.ofMinutes(1), Duration.ofSeconds(5), Duration.ofSeconds(5), 4096);
  private static final GpuId GPU0 = new GpuId("127.0.0.1", 25520, 0);
  private static final GpuId GPU1 = new GpuId("127.0.0.1", 25520, 1);
  private static final long PAGE = 4096;
  private static final String ADMIN_KEY = "sk-prism-admin-dashboard-0123456789";
  private final AtomicLong clock = new AtomicLong(1_700_000_100_000L);
  private FakeApi api;
  private TestRoute route;

  private static GpuStatus.ModelStatus model(String id, long weightBytes, int held, int kept, int waiting, int running, boolean resident, int queued) {
    return new GpuStatus.ModelStatus(id, weightBytes, held, kept, held / 2, waiting, running, true, 0, 0, 0, 0, resident, 0, 0, 0, Integer.MAX_VALUE,
        Duration.ofSeconds(50), Duration.ofSeconds(20), 1000.0, 0, 0, 0, 64, new ModelBooks(queued, 0, 0, 0, 0, 0, 0, 0, 0, 0),
        resident ? GpuStatus.WeightTierStatus.RESIDENT : new GpuStatus.WeightTierStatus("host", weightBytes, 0, 0, 0, 0));
  }

  @BeforeEach
  void setUp() {
    api = new FakeApi();
    // GPU 0: budget 1 MiB, pages of 4 KiB; a resident (100000 bytes of weights), b evicted (its weights not on the GPU) keeping 4 pages
    GpuStatus.ModelStatus a = model("a", 100_000, 30, 10, 3, 2, true, 1);
    GpuStatus.ModelStatus b = model("b", 50_000, 4, 4, 0, 0, false, 0);
    int reserve = 8;
    int held = 34;
    long budget = 1 << 20;
    int capacity = (int) ((budget - 100_000) / PAGE); // 231
    int created = held + reserve;
    GpuStatus g0 = new GpuStatus(GPU0, "host-cpu-0", 1, budget, PAGE, capacity, reserve + capacity - created, reserve, held, 100_000, List.of(a, b),
        "", true, "", 0, 5, 1, List.of(new GpuEvent(1_700_000_000_000L, GpuEvent.EVICTED, "b", "evicted the weights of b"),
            new GpuEvent(1_700_000_050_000L, GpuEvent.RECLAIMED, "b", "4 pages of b for a")));
    GpuStatus g1 = new GpuStatus(GPU1, "host-cpu-1", 1, budget, PAGE, (int) (budget / PAGE), (int) (budget / PAGE), 0, 0, 0, List.of(), "", false,
        "engine stalled", 0, 5, 0, List.of());
    api.gpus = List.of(g0, g1);
    api.placement = new PlacementView(
        List.of(new PlacementView.GpuRow(GPU0, "host-cpu-0", true, 0.25, budget, 0, List.of(new PlacementView.ModelRow("a", 42.5, 64, 100_000, true, 1, 2)))),
        List.of(new PlacementView.MigrationView("c", GPU0, GPU1, "loading", 1_700_000_060_000L, 0, "kvpr", "")),
        List.of(new PlacementView.MigrationView("d", GPU1, GPU0, "done", 1_700_000_020_000L, 1.5, "kvpr 0.9 > 0.2", "")),
        Map.of("done", 1L), 1.5, 3, "moved d",
        List.of(new PlacementView.ReplicaChange("a", GPU1, "added", 1_700_000_040_000L, "overload")));
    api.models = List.of(new ModelInfo(new ModelSpec("a", "/m/a.bin", null, Duration.ofSeconds(60), Duration.ofSeconds(30), 0), 0,
        ModelInfo.State.READY, GPU0, 512, 100_000, ""));
    PrismMetrics metrics = new PrismMetrics(new SloWindow(Duration.ofSeconds(60), 100, clock::get));
    route = testRoute(new PrismRoutes(api, materializer(), SETTINGS, metrics).route());
  }

  private JsonNode dashboard() {
    TestRouteResult r = route.run(HttpRequest.GET("/admin/dashboard"));
    r.assertStatusCode(200);
    return Json.parse(r.entityString());
  }

  @Test
  void theMemoryMapSplitsEachBudgetIntoWeightsKvPerModelReserveAndFree() {
    JsonNode g = dashboard().get("gpus").get(0);
    assertEquals("gpu-0@127.0.0.1:25520", g.get("id").asText());
    List<String> segments = new ArrayList<>();
    long sum = 0;
    for (JsonNode s : g.get("memory")) {
      segments.add(s.get("kind").asText() + ":" + s.path("model").asText("") + ":" + s.get("bytes").asLong() + ":" + s.path("pages").asInt(-1));
      sum += s.get("bytes").asLong();
    }
    // weights of resident a only; KV of both (b keeps 4 pages while evicted); reserve 8; free = the rest
    long free = (1 << 20) - 100_000 - (34 + 8) * PAGE;
    assertEquals(List.of("weights:a:100000:-1", "kv:a:" + 30 * PAGE + ":30", "kv:b:" + 4 * PAGE + ":4", "reserve::" + 8 * PAGE + ":8",
        "free::" + free + ":" + (g.get("free_pages").asInt() - 8)), segments);
    assertEquals(g.get("budget_bytes").asLong(), sum, "the segments add up to the budget");
    assertEquals(0.25, g.get("kvpr").asDouble());
    assertEquals(1, g.get("queued").asInt());

    JsonNode a = g.get("models").get(0);
    assertEquals("a", a.get("id").asText());
    assertEquals(30, a.get("pages_held").asInt());
    assertEquals(20, a.get("pages_in_use").asInt());
    assertEquals(10, a.get("pages_kept").asInt());
    assertEquals(1, a.get("queued").asInt());
    assertEquals(3, a.get("waiting").asInt());
    assertEquals(2, a.get("running").asInt());
    assertEquals(42.5, a.get("tokens_per_second").asDouble());
    JsonNode b = g.get("models").get(1);
    assertFalse(b.get("resident").asBoolean());
    assertEquals("host", b.get("tier").asText());
    assertTrue(b.get("tokens_per_second").isNull(), "no placement row for b");

    JsonNode g1 = dashboard().get("gpus").get(1);
    assertFalse(g1.get("healthy").asBoolean());
    assertEquals("engine stalled", g1.get("problem").asText());
    assertTrue(g1.get("kvpr").isNull(), "GPU 1 has no placement row");
    assertEquals(List.of("reserve", "free"), g1.get("memory").findValuesAsText("kind"));
    assertEquals(1 << 20, g1.get("memory").get(1).get("bytes").asLong());
  }

  @Test
  void eventsOfGpusAndPlacementAreMergedNewestFirst() {
    JsonNode events = dashboard().get("events");
    List<String> seen = new ArrayList<>();
    for (JsonNode e : events) seen.add(e.get("time_ms").asLong() % 100_000 / 1000 + " " + e.get("source").asText() + " " + e.get("kind").asText() + " "
        + e.get("model").asText());
    assertEquals(List.of("60 placement migration-loading c", "50 gpu reclaimed b", "40 placement replica-added a", "21 placement migration-done d",
        "0 gpu evicted b"), seen, "a finished migration is placed at its end (started + seconds)");
    assertEquals("gpu-0@127.0.0.1:25520", events.get(1).get("gpu").asText());
    assertTrue(events.get(3).get("detail").asText().contains("gpu-1@127.0.0.1:25520 -> gpu-0@127.0.0.1:25520 in 1.50 s"), events.get(3).toString());
  }

  @Test
  void sloAttainmentCountsTheCompletionsThatWentThroughTheRoutesAgainstTheCatalogsSlos() {
    // two answers of model a: the fake answers at once, far within the catalog's SLOs (60 s, 30 s) on any machine
    api.script = req -> List.of(new GenerationEvent.Started(req.requestId(), req.modelId(), GPU0, 5, Adapter.toTyped(system().deadLetters())),
        new GenerationEvent.Chunk(req.requestId(), " x", 100, 0), new GenerationEvent.Chunk(req.requestId(), " y", 101, 1),
        new GenerationEvent.Completed(req.requestId(), FinishReason.LENGTH, "", 5, 2, ""));
    for (int i = 0; i < 2; i++) postCompletion("a").assertStatusCode(200);
    // one refused for capacity (counts as a miss), one refused for the client's own error (not judged)
    api.script = req -> List.of(new GenerationEvent.Rejected(req.requestId(), new Rejection.SloUnattainable("too late", 90_000, 60_000)));
    postCompletion("a").assertStatusCode(503);
    api.script = req -> List.of(new GenerationEvent.Rejected(req.requestId(), new Rejection.InvalidRequest("prompt", "bad prompt")));
    postCompletion("a").assertStatusCode(400);

    JsonNode d = dashboard();
    JsonNode a = d.get("slo").get(0);
    assertEquals("a", a.get("model").asText());
    assertEquals(60_000, a.get("ttft_slo_ms").asInt(), "from the catalog, not the GPU status's 50 s");
    assertEquals(30_000, a.get("tpot_slo_ms").asInt());
    assertEquals(3, a.get("requests").asInt());
    assertEquals(2, a.get("both_met").asInt());
    assertEquals(1, a.get("refused").asInt());
    assertEquals(2 / 3.0, a.get("attainment").asDouble(), 1e-12);
    assertTrue(a.get("p95_ttft_ms").asDouble() > 0 && a.get("p95_ttft_ms").asDouble() < 60_000, a.toString());
    JsonNode b = d.get("slo").get(1);
    assertEquals("b", b.get("model").asText());
    assertEquals(50_000, b.get("ttft_slo_ms").asInt(), "not in the catalog: from its GPU status");
    assertEquals(0, b.get("requests").asInt());
    assertTrue(b.get("attainment").isNull(), "no requests: no fraction");
    assertEquals(3, d.at("/totals/requests").asInt());
    assertEquals(60.0, d.get("slo_window_seconds").asDouble());

    String metrics = route.run(HttpRequest.GET("/metrics")).entityString();
    assertTrue(metrics.contains("prism_slo_attainment{model_name=\"a\",slo=\"both\"} 0.666"), metrics);
    assertTrue(metrics.contains("prism_slo_window_requests{model_name=\"a\"} 3.0"), metrics);

    clock.addAndGet(60_001);
    assertEquals(0, dashboard().at("/totals/requests").asInt(), "out of the window a minute later");
  }

  private TestRouteResult postCompletion(String model) {
    return route.run(HttpRequest.POST("/v1/completions").withEntity(ContentTypes.APPLICATION_JSON,
        "{\"model\":\"" + model + "\",\"prompt\":\"hi\",\"max_tokens\":2}"));
  }

  @Test
  void thePageIsServedWithoutAKeyAndItsDataOnlyWithTheAdminKey() {
    HttpSecurity security = new HttpSecurity(new HttpAuthSettings(ApiKeys.of("test", List.of("sk-prism-inference-dashboard-0123")),
        ApiKeys.of("test", List.of(ADMIN_KEY)), HttpAuthSettings.DEFAULT_OPEN_PATHS, false), ModelRoots.anywhere());
    TestRoute keyed = testRoute(new PrismRoutes(api, materializer(), SETTINGS, new PrismMetrics(), security).route());

    for (String path : List.of("/dashboard", "/dashboard/")) {
      TestRouteResult page = keyed.run(HttpRequest.GET(path));
      page.assertStatusCode(200);
      assertTrue(page.response().entity().getContentType().toString().startsWith("text/html"));
      assertTrue(page.entityString().contains("<script src=\"/dashboard/dashboard.js\""), page.entityString());
      assertEquals(DashboardRoutes.CONTENT_SECURITY_POLICY, page.response().getHeader("Content-Security-Policy").orElseThrow().value());
    }
    TestRouteResult js = keyed.run(HttpRequest.GET("/dashboard/dashboard.js"));
    js.assertStatusCode(200);
    assertTrue(js.response().entity().getContentType().toString().startsWith("application/javascript"));
    assertTrue(js.entityString().contains("/admin/dashboard"));
    keyed.run(HttpRequest.GET("/dashboard/dashboard.css")).assertStatusCode(200);
    keyed.run(HttpRequest.GET("/dashboard/other.js")).assertStatusCode(401); // not the page's: keyed like any other path
    TestRouteResult wrongMethod = keyed.run(HttpRequest.POST("/v1/completions").withEntity(ContentTypes.APPLICATION_JSON, "{}")
        .addHeader(RawHeader.create("Authorization", "Bearer " + ADMIN_KEY)));
    assertEquals(400, wrongMethod.response().status().intValue(), "the page's route leaves the others' answers alone");
    keyed.run(HttpRequest.GET("/v1/completions").addHeader(RawHeader.create("Authorization", "Bearer " + ADMIN_KEY))).assertStatusCode(405);

    keyed.run(HttpRequest.GET("/admin/dashboard")).assertStatusCode(401);
    keyed.run(HttpRequest.GET("/admin/dashboard").addHeader(RawHeader.create("Authorization", "Bearer sk-prism-inference-dashboard-0123")))
        .assertStatusCode(401);
    TestRouteResult ok = keyed.run(HttpRequest.GET("/admin/dashboard").addHeader(RawHeader.create("Authorization", "Bearer " + ADMIN_KEY)));
    ok.assertStatusCode(200);
    assertEquals("dashboard", Json.parse(ok.entityString()).get("object").asText());
  }
}
