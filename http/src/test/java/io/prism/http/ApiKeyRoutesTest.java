package io.prism.http;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.prism.http.security.ApiKeys;
import io.prism.http.security.HttpAuthSettings;
import io.prism.http.security.HttpSecurity;
import io.prism.http.security.ModelRoots;
import java.time.Duration;
import java.util.List;
import org.apache.pekko.http.javadsl.model.ContentTypes;
import org.apache.pekko.http.javadsl.model.HttpRequest;
import org.apache.pekko.http.javadsl.model.headers.RawHeader;
import org.apache.pekko.http.javadsl.testkit.TestRoute;
import org.apache.pekko.http.javadsl.testkit.TestRouteResult;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * API keys over the whole route tree against a scripted cluster: missing, wrong and right keys;
 * the inference key against the admin API and the other way round; the open paths; the 401 / 403
 * envelopes as OpenAI answers them.
 */
class ApiKeyRoutesTest extends JUnit5RouteTest {
  private static final HttpSettings SETTINGS =
      new HttpSettings("127.0.0.1", 0, Duration.ofMinutes(1), Duration.ofMinutes(1), Duration.ofSeconds(5), Duration.ofSeconds(5), 4096);
  private static final String INFERENCE_KEY = "sk-prism-inference-0123456789abcdef";
  private static final String OTHER_INFERENCE_KEY = "sk-prism-inference-second-key-4567";
  private static final String ADMIN_KEY = "sk-prism-admin-fedcba9876543210";
  private FakeApi api;

  @BeforeEach
  void setUp() {
    api = new FakeApi();
  }

  private TestRoute route(ApiKeys inference, ApiKeys admin, List<String> openPaths) {
    HttpSecurity security = new HttpSecurity(new HttpAuthSettings(inference, admin, openPaths, false), ModelRoots.anywhere());
    return testRoute(new PrismRoutes(api, materializer(), SETTINGS, new PrismMetrics(), security).route());
  }

  private TestRoute keyed() {
    return route(ApiKeys.of("test", List.of(INFERENCE_KEY, OTHER_INFERENCE_KEY)), ApiKeys.of("test", List.of(ADMIN_KEY)),
        HttpAuthSettings.DEFAULT_OPEN_PATHS);
  }

  private static HttpRequest withKey(HttpRequest r, String key) {
    return r.addHeader(RawHeader.create("Authorization", "Bearer " + key));
  }

  private static JsonNode assertUnauthorized(TestRouteResult r) {
    r.assertStatusCode(401);
    r.assertHeaderExists("x-should-retry", "false");
    r.assertHeaderExists("WWW-Authenticate", "Bearer");
    JsonNode e = Json.parse(r.entityString()).get("error");
    assertEquals("invalid_request_error", e.get("type").asText());
    assertEquals("invalid_api_key", e.get("code").asText());
    assertTrue(e.get("param").isNull());
    assertFalse(e.get("message").asText().isBlank());
    return e;
  }

  @Test
  void inferenceRoutesAnswer401WithoutAKeyOrWithAWrongOneAnd200WithARightOne() {
    TestRoute route = keyed();
    JsonNode missing = assertUnauthorized(route.run(HttpRequest.GET("/v1/models")));
    assertTrue(missing.get("message").asText().contains("Authorization: Bearer"), missing.toString());
    String wrongKey = "sk-prism-wrong-key-0000000000000";
    JsonNode wrong = assertUnauthorized(route.run(withKey(HttpRequest.GET("/v1/models"), wrongKey)));
    assertFalse(wrong.toString().contains(wrongKey), "the presented key is never echoed: " + wrong);
    assertUnauthorized(route.run(HttpRequest.GET("/v1/models").addHeader(RawHeader.create("Authorization", "Basic " + INFERENCE_KEY))));
    assertUnauthorized(route.run(HttpRequest.GET("/v1/models").addHeader(RawHeader.create("Authorization", "Bearer "))));
    assertUnauthorized(route.run(withKey(HttpRequest.GET("/v1/models"), INFERENCE_KEY + "x")));
    assertUnauthorized(route.run(withKey(HttpRequest.GET("/v1/models"), INFERENCE_KEY.substring(0, INFERENCE_KEY.length() - 1))));

    route.run(withKey(HttpRequest.GET("/v1/models"), INFERENCE_KEY)).assertStatusCode(200);
    route.run(withKey(HttpRequest.GET("/v1/models"), OTHER_INFERENCE_KEY)).assertStatusCode(200);
    route.run(HttpRequest.GET("/v1/models").addHeader(RawHeader.create("authorization", "bearer  " + INFERENCE_KEY))).assertStatusCode(200);
    // the admin key opens the inference API too
    route.run(withKey(HttpRequest.GET("/v1/models"), ADMIN_KEY)).assertStatusCode(200);
    assertTrue(api.requests.isEmpty());
  }

  @Test
  void completionsTokenizeDetokenizeMetricsAndUnknownPathsAreKeyed() {
    TestRoute route = keyed();
    String body = "{\"model\":\"m\",\"prompt\":\"hi\",\"max_tokens\":2}";
    assertUnauthorized(route.run(HttpRequest.POST("/v1/completions").withEntity(ContentTypes.APPLICATION_JSON, body)));
    assertUnauthorized(route.run(HttpRequest.POST("/v1/chat/completions").withEntity(ContentTypes.APPLICATION_JSON, body)));
    assertUnauthorized(route.run(HttpRequest.POST("/tokenize").withEntity(ContentTypes.APPLICATION_JSON, "{\"model\":\"m\",\"prompt\":\"hi\"}")));
    assertUnauthorized(route.run(HttpRequest.POST("/detokenize").withEntity(ContentTypes.APPLICATION_JSON, "{\"model\":\"m\",\"tokens\":[1]}")));
    assertUnauthorized(route.run(HttpRequest.GET("/metrics")));
    assertUnauthorized(route.run(HttpRequest.GET("/no/such/path")));
    assertTrue(api.requests.isEmpty(), "no request reached the cluster");
    route.run(withKey(HttpRequest.GET("/no/such/path"), INFERENCE_KEY)).assertStatusCode(404);
    TestRouteResult metrics = route.run(withKey(HttpRequest.GET("/metrics"), INFERENCE_KEY));
    metrics.assertStatusCode(200);
    assertTrue(metrics.entityString().contains("prism_requests_rejected_total{model_name=\"\",reason=\"unauthorized\"} 6.0"),
        metrics.entityString());
  }

  @Test
  void healthIsOpenAndMetricsOpensWhenListed() {
    keyed().run(HttpRequest.GET("/health")).assertStatusCode(200);
    TestRoute openMetrics = route(ApiKeys.of("test", List.of(INFERENCE_KEY)), ApiKeys.of("test", List.of(ADMIN_KEY)),
        List.of("/health", "/metrics"));
    openMetrics.run(HttpRequest.GET("/metrics")).assertStatusCode(200);
    openMetrics.run(HttpRequest.GET("/health")).assertStatusCode(200);
    assertUnauthorized(openMetrics.run(HttpRequest.GET("/v1/models")));
    // a prefix opens the path and what is under it, and nothing beside it
    TestRoute openModels = route(ApiKeys.of("test", List.of(INFERENCE_KEY)), ApiKeys.none(), List.of("/v1/models/*"));
    openModels.run(HttpRequest.GET("/v1/models")).assertStatusCode(200);
    assertUnauthorized(openModels.run(HttpRequest.GET("/health")));
    assertUnauthorized(openModels.run(HttpRequest.GET("/v1/modelsx")));
  }

  @Test
  void theAdminApiNeedsTheAdminKeyNotTheInferenceKey() {
    TestRoute route = keyed();
    assertUnauthorized(route.run(HttpRequest.GET("/admin/gpus")));
    JsonNode e = assertUnauthorized(route.run(withKey(HttpRequest.GET("/admin/gpus"), INFERENCE_KEY)));
    assertTrue(e.get("message").asText().contains("admin"), e.toString());
    assertUnauthorized(route.run(withKey(HttpRequest.POST("/admin/models")
        .withEntity(ContentTypes.APPLICATION_JSON, "{\"path\":\"random:stories15M\"}"), INFERENCE_KEY)));
    assertUnauthorized(route.run(withKey(HttpRequest.DELETE("/admin/models/a"), INFERENCE_KEY)));
    assertUnauthorized(route.run(withKey(HttpRequest.POST("/admin/placement/rebalance"), INFERENCE_KEY)));
    // percent-encoded spellings of the admin prefix are the admin scope too (the router decodes them)
    assertUnauthorized(route.run(withKey(HttpRequest.GET("/%61dmin/gpus"), INFERENCE_KEY)));
    assertTrue(api.registered.isEmpty(), "nothing registered without the admin key");

    route.run(withKey(HttpRequest.GET("/admin/gpus"), ADMIN_KEY)).assertStatusCode(200);
    route.run(withKey(HttpRequest.GET("/%61dmin/gpus"), ADMIN_KEY)).assertStatusCode(200);
    route.run(withKey(HttpRequest.POST("/admin/models").withEntity(ContentTypes.APPLICATION_JSON, "{\"path\":\"random:stories15M\"}"), ADMIN_KEY));
    assertEquals(1, api.registered.size());
  }

  @Test
  void withOnlyAnInferenceKeyTheAdminApiIsDisabled() {
    TestRoute route = route(ApiKeys.of("test", List.of(INFERENCE_KEY)), ApiKeys.none(), HttpAuthSettings.DEFAULT_OPEN_PATHS);
    for (String key : new String[] {null, INFERENCE_KEY, ADMIN_KEY}) {
      HttpRequest req = HttpRequest.GET("/admin/models");
      TestRouteResult r = route.run(key == null ? req : withKey(req, key));
      r.assertStatusCode(403);
      r.assertHeaderExists("x-should-retry", "false");
      assertEquals("admin_api_disabled", Json.parse(r.entityString()).get("error").get("code").asText());
    }
    route.run(withKey(HttpRequest.GET("/v1/models"), INFERENCE_KEY)).assertStatusCode(200);
  }

  @Test
  void withOnlyAnAdminKeyTheInferenceApiIsOpenAndTheAdminApiKeyed() {
    TestRoute route = route(ApiKeys.none(), ApiKeys.of("test", List.of(ADMIN_KEY)), HttpAuthSettings.DEFAULT_OPEN_PATHS);
    route.run(HttpRequest.GET("/v1/models")).assertStatusCode(200);
    route.run(HttpRequest.GET("/metrics")).assertStatusCode(200);
    assertUnauthorized(route.run(HttpRequest.GET("/admin/gpus")));
    route.run(withKey(HttpRequest.GET("/admin/gpus"), ADMIN_KEY)).assertStatusCode(200);
  }

  @Test
  void withoutKeysEverythingIsOpen() {
    TestRoute route = route(ApiKeys.none(), ApiKeys.none(), HttpAuthSettings.DEFAULT_OPEN_PATHS);
    route.run(HttpRequest.GET("/v1/models")).assertStatusCode(200);
    route.run(HttpRequest.GET("/admin/gpus")).assertStatusCode(200);
    route.run(HttpRequest.GET("/metrics")).assertStatusCode(200);
  }
}
