package io.prism.http;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.typesafe.config.ConfigFactory;
import io.prism.runtime.model.SharedModels;
import io.prism.runtime.structured.SchemaValidator;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Structured output through the whole server: 200 seeded sampled completions (temperature 1) of the
 * TinyStories model against 10 schemas of bounded size all end with {@code stop} and parse and
 * validate; a chat {@code json_object} answer, streamed and not, is a JSON object; bad schemas are a
 * 400 naming {@code response_format.json_schema.schema} and the keyword.
 */
class StructuredOutputIT {
  private static final Duration TIMEOUT = Duration.ofSeconds(120);
  /** Ten schemas whose every text is shorter than the context left after the prompt (250 tokens). */
  static final List<String> SCHEMAS = List.of(
      "{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\",\"maxLength\":8},\"age\":{\"type\":\"integer\"}},\"required\":[\"name\",\"age\"],\"additionalProperties\":false}",
      "{\"type\":\"object\",\"properties\":{\"ok\":{\"type\":\"boolean\"},\"n\":{\"type\":\"null\"}},\"required\":[\"ok\"],\"additionalProperties\":false}",
      "{\"type\":\"object\",\"properties\":{\"tags\":{\"type\":\"array\",\"items\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":4},\"minItems\":1,\"maxItems\":3}},\"required\":[\"tags\"],\"additionalProperties\":false}",
      "{\"type\":\"object\",\"properties\":{\"color\":{\"enum\":[\"red\",\"green\",\"blue\"]},\"kind\":{\"const\":\"fixed\"}},\"required\":[\"color\",\"kind\"],\"additionalProperties\":false}",
      "{\"anyOf\":[{\"type\":\"object\",\"properties\":{\"x\":{\"type\":\"integer\"}},\"required\":[\"x\"],\"additionalProperties\":false},{\"type\":\"object\",\"properties\":{\"y\":{\"type\":\"string\",\"maxLength\":5}},\"required\":[\"y\"],\"additionalProperties\":false}]}",
      "{\"type\":\"object\",\"$defs\":{\"p\":{\"type\":\"object\",\"properties\":{\"x\":{\"type\":\"integer\"},\"y\":{\"type\":\"integer\"}},\"required\":[\"x\",\"y\"],\"additionalProperties\":false}},\"properties\":{\"a\":{\"$ref\":\"#/$defs/p\"},\"b\":{\"$ref\":\"#/$defs/p\"}},\"required\":[\"a\",\"b\"],\"additionalProperties\":false}",
      "{\"type\":\"object\",\"properties\":{\"v\":{\"type\":[\"string\",\"null\"],\"maxLength\":6}},\"required\":[\"v\"],\"additionalProperties\":false}",
      "{\"type\":\"array\",\"items\":{\"type\":\"boolean\"},\"minItems\":2,\"maxItems\":4}",
      "{\"type\":\"object\",\"properties\":{\"v\":{\"oneOf\":[{\"type\":\"string\",\"maxLength\":3},{\"type\":\"integer\"},{\"type\":\"array\",\"items\":{\"enum\":[1,2]},\"maxItems\":2}]}},\"required\":[\"v\"],\"additionalProperties\":false}",
      "{\"type\":\"object\",\"properties\":{\"s\":{\"type\":\"string\",\"minLength\":2,\"maxLength\":6},\"m\":{\"type\":\"array\",\"items\":{\"type\":\"integer\"},\"maxItems\":2}},\"required\":[\"s\"],\"additionalProperties\":false}");

  private static PrismServer server;
  private static HttpClient http;
  private static String base;

  @BeforeAll
  static void start() throws Exception {
    server = PrismServer.start(ConfigFactory.parseMap(Map.of(
        "prism.http.port", 0,
        "pekko.remote.artery.canonical.port", 0,
        "prism.models.dir", SharedModels.dir().orElseThrow().toString(),
        "prism.engine.max-running-sequences", 32,
        "prism.gpu.deadline-admission", "off", // this test checks outputs, not SLOs: queue instead of refusing
        "prism.models.default-ttft-slo", "120s")));
    base = "http://127.0.0.1:" + server.port();
    http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).connectTimeout(Duration.ofSeconds(10)).build();
  }

  @AfterAll
  static void stop() {
    if (server != null) server.close();
  }

  private static HttpRequest post(String path, String body) {
    return HttpRequest.newBuilder(URI.create(base + path)).timeout(TIMEOUT).header("Content-Type", "application/json")
        .POST(HttpRequest.BodyPublishers.ofString(body, StandardCharsets.UTF_8)).build();
  }

  private static String schemaBody(String schema, int seed) throws Exception {
    ObjectNode b = Json.MAPPER.createObjectNode();
    b.put("model", "stories260K");
    b.put("prompt", "Once upon a time");
    b.put("max_tokens", 250);
    b.put("temperature", 1.0);
    b.put("seed", seed);
    ObjectNode rf = b.putObject("response_format");
    rf.put("type", "json_schema");
    ObjectNode js = rf.putObject("json_schema");
    js.put("name", "s");
    js.set("schema", Json.parse(schema));
    return Json.MAPPER.writeValueAsString(b);
  }

  @Test
  void twoHundredSeededSampledAnswersAllParseAndValidate() throws Exception {
    List<CompletableFuture<HttpResponse<String>>> calls = new ArrayList<>();
    List<Integer> schemaOf = new ArrayList<>();
    for (int i = 0; i < 200; i++) {
      int s = i % SCHEMAS.size();
      schemaOf.add(s);
      calls.add(http.sendAsync(post("/v1/completions", schemaBody(SCHEMAS.get(s), i)), HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8)));
      if (calls.size() % 32 == 0) CompletableFuture.allOf(calls.toArray(new CompletableFuture[0])).get(); // at most 32 in flight
    }
    for (int i = 0; i < calls.size(); i++) {
      HttpResponse<String> r = calls.get(i).get();
      assertEquals(200, r.statusCode(), r.body());
      JsonNode choice = Json.parse(r.body()).at("/choices/0");
      String text = choice.get("text").asText();
      assertEquals("stop", choice.get("finish_reason").asText(), "request " + i + " ended early: " + text);
      Object value = io.prism.runtime.format.Json.parse(text);
      List<String> errors = SchemaValidator.validate(value, io.prism.runtime.format.Json.parse(SCHEMAS.get(schemaOf.get(i))));
      assertTrue(errors.isEmpty(), "request " + i + " schema " + schemaOf.get(i) + ": " + text + " -> " + errors);
    }
  }

  @Test
  void sameSeedGivesTheSameStructuredAnswer() throws Exception {
    String body = schemaBody(SCHEMAS.get(0), 42);
    String a = Json.parse(http.send(post("/v1/completions", body), HttpResponse.BodyHandlers.ofString()).body()).at("/choices/0/text").asText();
    String b = Json.parse(http.send(post("/v1/completions", body), HttpResponse.BodyHandlers.ofString()).body()).at("/choices/0/text").asText();
    assertEquals(a, b);
  }

  @Test
  void chatJsonObjectStreamedAndNotIsAJsonObject() throws Exception {
    String body = "{\"model\":\"stories260K-gguf\",\"messages\":[{\"role\":\"user\",\"content\":\"Give me JSON\"}],\"max_tokens\":200,"
        + "\"temperature\":0.8,\"seed\":3,\"response_format\":{\"type\":\"json_object\"}";
    HttpResponse<String> r = http.send(post("/v1/chat/completions", body + "}"), HttpResponse.BodyHandlers.ofString());
    assertEquals(200, r.statusCode(), r.body());
    JsonNode choice = Json.parse(r.body()).at("/choices/0");
    String content = choice.at("/message/content").asText();
    if (choice.get("finish_reason").asText().equals("stop")) assertTrue(io.prism.runtime.format.Json.parse(content) instanceof Map<?, ?>, content);
    else assertTrue(content.startsWith("{"), content);
    HttpResponse<java.util.stream.Stream<String>> s = http.send(post("/v1/chat/completions", body + ",\"stream\":true}"), HttpResponse.BodyHandlers.ofLines());
    assertEquals(200, s.statusCode());
    StringBuilder streamed = new StringBuilder();
    s.body().filter(l -> l.startsWith("data: {")).forEach(l -> {
      try {
        streamed.append(Json.parse(l.substring(6)).at("/choices/0/delta/content").asText(""));
      } catch (Exception e) {
        throw new IllegalStateException(e);
      }
    });
    assertEquals(content, streamed.toString(), "streamed and not streamed answers of one seed agree");
  }

  @Test
  void unsupportedSchemaKeywordIs400NamingTheSchemaFieldAndKeyword() throws Exception {
    String body = "{\"model\":\"stories260K\",\"prompt\":\"x\",\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"s\","
        + "\"schema\":{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\",\"pattern\":\"^a+$\"}}}}}}";
    HttpResponse<String> r = http.send(post("/v1/completions", body), HttpResponse.BodyHandlers.ofString());
    assertEquals(400, r.statusCode(), r.body());
    JsonNode e = Json.parse(r.body()).get("error");
    assertEquals("response_format.json_schema.schema", e.get("param").asText());
    assertTrue(e.get("message").asText().contains("pattern"), e.toString());
    String strict = "{\"model\":\"stories260K\",\"prompt\":\"x\",\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"s\",\"strict\":true,"
        + "\"schema\":{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\"}}}}}}";
    HttpResponse<String> r2 = http.send(post("/v1/completions", strict), HttpResponse.BodyHandlers.ofString());
    assertEquals(400, r2.statusCode(), r2.body());
    assertTrue(Json.parse(r2.body()).at("/error/message").asText().contains("additionalProperties"), r2.body());
  }
}
