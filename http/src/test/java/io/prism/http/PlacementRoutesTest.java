package io.prism.http;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.prism.actors.GpuId;
import io.prism.actors.placement.GlobalPlacementActor;
import io.prism.actors.placement.PlacementView;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.apache.pekko.http.javadsl.model.ContentTypes;
import org.apache.pekko.http.javadsl.model.HttpRequest;
import org.apache.pekko.http.javadsl.testkit.TestRoute;
import org.apache.pekko.http.javadsl.testkit.TestRouteResult;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The placement endpoints against a scripted cluster: the view, a manual move and its errors in the OpenAI envelope, the migration metrics. */
class PlacementRoutesTest extends JUnit5RouteTest {
  private static final HttpSettings SETTINGS =
      new HttpSettings("127.0.0.1", 0, Duration.ofMinutes(1), Duration.ofMinutes(1), Duration.ofSeconds(5), Duration.ofSeconds(5), 4096);
  private static final GpuId A = new GpuId("127.0.0.1", 25520, 0);
  private static final GpuId B = new GpuId("127.0.0.1", 25520, 1);
  private FakeApi api;
  private TestRoute route;

  @BeforeEach
  void setUp() {
    api = new FakeApi();
    route = testRoute(new PrismRoutes(api, materializer(), SETTINGS).route());
    PlacementView.MigrationView done = new PlacementView.MigrationView("m", A, B, "done", 1_700_000_000_000L, 0.25, "manual", "serving on B");
    api.placement = new PlacementView(List.of(
        new PlacementView.GpuRow(A, "host-0", true, 0.5, 1 << 30, 1 << 29, List.of(new PlacementView.ModelRow("x", 120.0, 4096, 1000, true, 2, 1))),
        new PlacementView.GpuRow(B, "host-1", true, 0.25, 1 << 30, 1 << 29, List.of())), List.of(), List.of(done), Map.of("done", 3L, "abandoned", 1L),
        0.75, 4, "requested: kvpr placement", List.of(new PlacementView.ReplicaChange("x", B, "added", 1_700_000_000_500L, "serving (epoch 1)")));
  }

  private TestRouteResult move(String model, String body) {
    return route.run(HttpRequest.POST("/admin/models/" + model + "/move").withEntity(ContentTypes.APPLICATION_JSON, body));
  }

  @Test
  void placementShowsKvprModelsAndMigrations() {
    TestRouteResult r = route.run(HttpRequest.GET("/admin/placement"));
    r.assertStatusCode(200);
    JsonNode j = Json.parse(r.entityString());
    assertEquals(0.5, j.get("gpus").get(0).get("kvpr").asDouble());
    assertEquals("x", j.get("gpus").get(0).get("models").get(0).get("id").asText());
    assertEquals(120.0, j.get("gpus").get(0).get("models").get(0).get("tokens_per_second").asDouble());
    assertEquals("done", j.get("recent_migrations").get(0).get("outcome").asText());
    assertEquals("added", j.get("replica_changes").get(0).get("change").asText());
    assertEquals(B.toString(), j.get("replica_changes").get(0).get("gpu").asText());
    assertEquals(3, j.get("migrations_total").get("done").asInt());
    route.run(HttpRequest.POST("/admin/placement/rebalance")).assertStatusCode(200);
  }

  @Test
  void aMoveAnswersWhenDoneAndItsErrorsUseTheOpenAiEnvelope() {
    api.moveReply = new GlobalPlacementActor.Moved("m", A, B, 0.4);
    TestRouteResult ok = move("m", "{\"gpu\":\"" + B + "\"}");
    ok.assertStatusCode(200);
    assertEquals(B.toString(), Json.parse(ok.entityString()).get("to").asText());

    api.moveReply = new GlobalPlacementActor.MoveFailed("nope", GlobalPlacementActor.MoveProblem.UNKNOWN_MODEL, "The model 'nope' does not exist");
    TestRouteResult notFound = move("nope", "{\"gpu\":\"" + B + "\"}");
    notFound.assertStatusCode(404);
    assertEquals("not_found", Json.parse(notFound.entityString()).get("error").get("code").asText());

    api.moveReply = new GlobalPlacementActor.MoveFailed("m", GlobalPlacementActor.MoveProblem.DOES_NOT_FIT, "too big");
    move("m", "{\"gpu\":\"" + B + "\"}").assertStatusCode(409);

    TestRouteResult bad = move("m", "{\"gpu\":\"elsewhere\"}");
    bad.assertStatusCode(400);
    assertEquals("gpu", Json.parse(bad.entityString()).get("error").get("param").asText());
  }

  @Test
  void metricsCountMigrationsAndShowKvprPerGpu() {
    String text = route.run(HttpRequest.GET("/metrics")).entityString();
    assertTrue(text.contains("prism_model_migrations_total{outcome=\"done\"} 3.0"), text);
    assertTrue(text.contains("prism_model_migration_seconds_sum 0.75"), text);
    assertTrue(text.contains("prism_gpu_kvpr{gpu=\"gpu-0@127.0.0.1:25520\"} 0.5"), text);
  }
}
