package io.prism.http;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.typesafe.config.ConfigFactory;
import io.prism.runtime.model.SharedModels;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The whole server with an inference key and an admin key, over real HTTP: the keys guard their
 * scopes, {@code /health} is open, and {@code POST /admin/models} loads only from the model
 * directory (the default root).
 */
class SecurityIT {
  private static final String KEY = "sk-prism-it-inference-0123456789";
  private static final String ADMIN_KEY = "sk-prism-it-admin-9876543210abcd";
  private static final Duration TIMEOUT = Duration.ofSeconds(60);
  private static PrismServer server;
  private static HttpClient http;

  @BeforeAll
  static void start() throws Exception {
    server = PrismServer.start(ConfigFactory.parseMap(Map.of(
        "prism.http.port", 0,
        "prism.http.api-key", KEY,
        "prism.http.admin-api-key", ADMIN_KEY,
        "pekko.remote.artery.canonical.port", 0,
        "prism.node.gpu-count", 1,
        "prism.models.dir", SharedModels.dir().orElseThrow().toString())));
    http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).connectTimeout(Duration.ofSeconds(10)).build();
  }

  @AfterAll
  static void stop() {
    if (server != null) server.close();
  }

  private static HttpResponse<String> send(String method, String path, String key, String body) throws Exception {
    HttpRequest.Builder b = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port() + path)).timeout(TIMEOUT)
        .method(method, body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(body));
    if (body != null) b.header("Content-Type", "application/json");
    if (key != null) b.header("Authorization", "Bearer " + key);
    return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
  }

  private static String code(HttpResponse<String> r) {
    return Json.parse(r.body()).get("error").get("code").asText();
  }

  @Test
  void keysGuardTheirScopesOverRealHttp() throws Exception {
    HttpResponse<String> none = send("GET", "/v1/models", null, null);
    assertEquals(401, none.statusCode(), none.body());
    assertEquals("invalid_api_key", code(none));
    assertEquals("false", none.headers().firstValue("x-should-retry").orElse(""));
    assertEquals(401, send("GET", "/v1/models", "sk-prism-it-wrong-000000000000", null).statusCode());
    HttpResponse<String> models = send("GET", "/v1/models", KEY, null);
    assertEquals(200, models.statusCode(), models.body());
    assertTrue(models.body().contains("stories260K"), models.body());
    HttpResponse<String> done = send("POST", "/v1/completions", KEY, "{\"model\":\"stories260K\",\"prompt\":\"Once\",\"max_tokens\":4,\"temperature\":0}");
    assertEquals(200, done.statusCode(), done.body());

    assertEquals(200, send("GET", "/health", null, null).statusCode());
    assertEquals(401, send("GET", "/metrics", null, null).statusCode());
    assertEquals(200, send("GET", "/metrics", KEY, null).statusCode());
    assertEquals(401, send("GET", "/admin/gpus", KEY, null).statusCode());
    assertEquals(200, send("GET", "/admin/gpus", ADMIN_KEY, null).statusCode());
  }

  @Test
  void adminRegistersOnlyFromTheModelDirectory() throws Exception {
    HttpResponse<String> passwd = send("POST", "/admin/models", ADMIN_KEY, "{\"path\":\"/etc/passwd\"}");
    HttpResponse<String> missing = send("POST", "/admin/models", ADMIN_KEY, "{\"path\":\"/etc/no-such-file-prism\"}");
    assertEquals(400, passwd.statusCode(), passwd.body());
    assertEquals("model_path_not_allowed", code(passwd));
    assertEquals(passwd.body(), missing.body());
    String inside = SharedModels.file("stories260K.gguf").toString();
    HttpResponse<String> ok = send("POST", "/admin/models", ADMIN_KEY, "{\"path\":" + Json.MAPPER.writeValueAsString(inside) + ",\"id\":\"stories-b\"}");
    assertEquals(201, ok.statusCode(), ok.body());
    JsonNode m = Json.parse(ok.body());
    assertEquals("stories-b", m.get("id").asText());
  }
}
