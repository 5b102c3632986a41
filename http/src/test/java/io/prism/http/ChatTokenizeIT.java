package io.prism.http;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import io.prism.actors.Devices;
import io.prism.actors.ModelSpec;
import io.prism.actors.PrismConfig;
import io.prism.actors.PrismNode;
import io.prism.actors.PrismSettings;
import io.prism.actors.placement.GlobalPlacementActor;
import io.prism.runtime.model.LoadedModel;
import io.prism.runtime.model.ModelConfig;
import io.prism.runtime.model.RandomModels;
import io.prism.runtime.tokenizer.HuggingFaceJsonTokenizer;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.http.javadsl.ServerBinding;
import org.apache.pekko.stream.Materializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Chat over real HTTP with a real tokenizer and chat template: a one-node server on 127.0.0.1
 * (port 0) serving two random-weight models of a tiny shape with the shared Qwen3 {@code
 * tokenizer.json} (copied to a temporary folder at test time, never into the repository): {@code
 * qwen3-tiny} with Qwen3's own {@code tokenizer_config.json}, {@code raises-on-system} with a
 * template that refuses system messages. Checks {@code POST /tokenize} against the Hugging Face
 * reference ids, {@code /detokenize} round trips, the error envelopes, and the 400 naming the
 * template and line for a template that raises, on chat completions and on {@code /tokenize}.
 */
class ChatTokenizeIT {
  private static final Duration TIMEOUT = Duration.ofSeconds(60);
  static final String RAISING_TEMPLATE = """
      {%- for message in messages %}
      {%- if message.role == 'system' %}
      {{- raise_exception('System messages are not supported') }}
      {%- endif %}
      {{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>\\n' }}
      {%- endfor %}
      {%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}
      """;

  private static PrismNode node;
  private static ServerBinding binding;
  private static HttpClient http;
  private static String base;
  private static Path tmp;

  static Path qwen3() {
    for (String p : List.of("../shared/tokenizers/qwen3", "../../shared/tokenizers/qwen3")) {
      if (Files.isRegularFile(Path.of(p, "tokenizer.json"))) return Path.of(p);
    }
    return null;
  }

  /** A random-weight model of a tiny shape whose vocabulary is the folder's tokenizer.json. */
  static LoadedModel load(ModelSpec spec) {
    Path dir = Path.of(spec.source());
    HuggingFaceJsonTokenizer t = HuggingFaceJsonTokenizer.fromFile(dir.resolve("tokenizer.json"), -1);
    ModelConfig c = new ModelConfig("chat-tiny", 32, 64, 1, 2, 2, t.vocabSize(), 1024, 10000f, null, 1e-5f, true);
    return new LoadedModel(spec.id(), spec.source(), c, RandomModels.weights(c, 7), t);
  }

  @BeforeAll
  static void start() throws Exception {
    Path shared = qwen3();
    assumeTrue(shared != null, "../shared/tokenizers/qwen3 is absent");
    tmp = Files.createTempDirectory("prism-chat-it");
    Path real = Files.createDirectories(tmp.resolve("qwen3-tiny"));
    Path raising = Files.createDirectories(tmp.resolve("raises-on-system"));
    for (Path d : List.of(real, raising)) Files.copy(shared.resolve("tokenizer.json"), d.resolve("tokenizer.json"));
    Files.copy(shared.resolve("tokenizer_config.json"), real.resolve("tokenizer_config.json"));
    Files.writeString(raising.resolve("tokenizer_config.json"),
        Json.MAPPER.writeValueAsString(Map.of("chat_template", RAISING_TEMPLATE, "eos_token", "<|im_end|>")));
    Config config = PrismConfig.load(ConfigFactory.parseMap(Map.of(
        "prism.http.port", 0,
        "pekko.remote.artery.canonical.hostname", "127.0.0.1",
        "pekko.remote.artery.canonical.port", 0,
        "prism.models.dir", tmp.toString())));
    PrismSettings settings = PrismSettings.from(PrismNode.withGpuDispatchers(config, 0));
    node = PrismNode.start("prism", config, Devices.open(settings), ChatTokenizeIT::load);
    node.awaitLocalGpus(settings.registerTimeout());
    for (Path d : List.of(real, raising)) {
      ModelSpec spec = new ModelSpec(d.getFileName().toString(), d.toString(), null, Duration.ofSeconds(60), Duration.ofSeconds(10), 0);
      GlobalPlacementActor.RegisterReply r = node.register(spec).toCompletableFuture().get(2, TimeUnit.MINUTES);
      assertTrue(r instanceof GlobalPlacementActor.Registered, "registered: " + r);
    }
    HttpSettings hs = HttpSettings.from(config);
    binding = HttpEdge.bind(node.system(), new PrismRoutes(node, Materializer.matFromSystem(node.system()), hs), hs).toCompletableFuture()
        .get(30, TimeUnit.SECONDS);
    base = "http://127.0.0.1:" + binding.localAddress().getPort();
    http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).connectTimeout(Duration.ofSeconds(10)).build();
  }

  @AfterAll
  static void stop() throws Exception {
    if (binding != null) binding.unbind().toCompletableFuture().get(10, TimeUnit.SECONDS);
    if (node != null) node.close();
    if (tmp != null) {
      try (var s = Files.walk(tmp)) {
        s.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
      }
    }
  }

  private static HttpResponse<String> post(String path, String body) throws Exception {
    return http.send(HttpRequest.newBuilder(URI.create(base + path)).timeout(TIMEOUT).header("Content-Type", "application/json")
        .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
  }

  private static int[] ids(JsonNode a) {
    int[] out = new int[a.size()];
    for (int i = 0; i < out.length; i++) out[i] = a.get(i).asInt();
    return out;
  }

  /** The reference case {@code name} of the Qwen3 tokenizer (written by runtime/src/test/node/reference.mjs). */
  private static JsonNode reference(String name) throws Exception {
    JsonNode all = Json.parse(Files.readString(Path.of("../runtime/src/test/resources/chat/reference-tokens.json"), StandardCharsets.UTF_8));
    for (JsonNode c : all.at("/tokenizers/qwen3")) if (c.get("name").asText().equals(name)) return c;
    throw new AssertionError("no reference case " + name);
  }

  @Test
  void tokenizeMessagesEqualsTheHuggingFaceReference() throws Exception {
    // tool-call-round-trip: the assistant tool-call message goes with content null, as the official clients send it
    for (String name : List.of("system-user-prompt", "multi-turn-ends-with-assistant", "tools-prompt", "thinking-disabled", "tool-call-round-trip")) {
      JsonNode c = reference(name);
      var body = Json.MAPPER.createObjectNode();
      body.put("model", "qwen3-tiny");
      body.set("messages", c.get("messages"));
      if (!c.get("tools").isNull()) body.set("tools", c.get("tools"));
      body.put("add_generation_prompt", c.get("add_generation_prompt").asBoolean());
      if (!c.get("variables").isEmpty()) body.set("chat_template_kwargs", c.get("variables"));
      HttpResponse<String> r = post("/tokenize", body.toString());
      assertEquals(200, r.statusCode(), r.body());
      JsonNode j = Json.parse(r.body());
      assertArrayEquals(ids(c.get("ids")), ids(j.get("tokens")), name);
      assertEquals(c.get("ids").size(), j.get("count").asInt());
      assertEquals(1024, j.get("max_model_len").asInt());
      HttpResponse<String> d = post("/detokenize", "{\"model\":\"qwen3-tiny\",\"tokens\":" + j.get("tokens") + "}");
      assertEquals(200, d.statusCode(), d.body());
      assertEquals(c.get("text").asText(), Json.parse(d.body()).get("prompt").asText(), "the tokens read back as the rendered prompt");
    }
  }

  @Test
  void specialTokensInAPromptStayWholeAndDetokenizeRoundTripsMultiByteText() throws Exception {
    HttpResponse<String> r = post("/tokenize", "{\"model\":\"qwen3-tiny\",\"prompt\":\"<|im_start|>user\\n你好 👋🏽 café<|im_end|>\"}");
    assertEquals(200, r.statusCode(), r.body());
    int[] tokens = ids(Json.parse(r.body()).get("tokens"));
    assertEquals(151644, tokens[0], "<|im_start|> is one token");
    assertEquals(151645, tokens[tokens.length - 1], "<|im_end|> is one token");
    HttpResponse<String> text = post("/tokenize", "{\"model\":\"qwen3-tiny\",\"prompt\":\"你好 👋🏽 café\"}");
    int[] plain = ids(Json.parse(text.body()).get("tokens"));
    StringBuilder list = new StringBuilder();
    for (int id : plain) list.append(list.length() == 0 ? "" : ",").append(id);
    HttpResponse<String> d = post("/detokenize", "{\"model\":\"qwen3-tiny\",\"tokens\":[" + list + "]}");
    assertEquals(200, d.statusCode(), d.body());
    assertEquals("你好 👋🏽 café", Json.parse(d.body()).get("prompt").asText());
  }

  @Test
  void unknownModelIs404AndABadBodyIs400NamingTheField() throws Exception {
    HttpResponse<String> r = post("/tokenize", "{\"model\":\"nope\",\"prompt\":\"x\"}");
    assertEquals(404, r.statusCode(), r.body());
    assertEquals("model_not_found", Json.parse(r.body()).at("/error/code").asText());
    assertEquals(404, post("/detokenize", "{\"model\":\"nope\",\"tokens\":[1]}").statusCode());
    HttpResponse<String> bad = post("/detokenize", "{\"model\":\"qwen3-tiny\",\"tokens\":\"1 2\"}");
    assertEquals(400, bad.statusCode());
    assertEquals("tokens", Json.parse(bad.body()).at("/error/param").asText());
    HttpResponse<String> both = post("/tokenize", "{\"model\":\"qwen3-tiny\"}");
    assertEquals(400, both.statusCode());
    HttpResponse<String> outside = post("/detokenize", "{\"model\":\"qwen3-tiny\",\"tokens\":[99999999]}");
    assertEquals(400, outside.statusCode(), outside.body());
    assertEquals("tokens", Json.parse(outside.body()).at("/error/param").asText());
  }

  @Test
  void aTemplateThatRaisesIs400NamingTheTemplateAndLine() throws Exception {
    String messages = "[{\"role\":\"system\",\"content\":\"Be brief.\"},{\"role\":\"user\",\"content\":\"Hi\"}]";
    for (String path : List.of("/v1/chat/completions", "/tokenize")) {
      HttpResponse<String> r = post(path, "{\"model\":\"raises-on-system\",\"max_tokens\":2,\"messages\":" + messages + "}");
      assertEquals(400, r.statusCode(), r.body());
      JsonNode e = Json.parse(r.body()).get("error");
      assertEquals("invalid_request_error", e.get("type").asText());
      assertEquals("messages", e.get("param").asText());
      String m = e.get("message").asText();
      assertTrue(m.contains("System messages are not supported"), m);
      assertTrue(m.contains("'default' of ") && m.contains("raises-on-system"), m);
      assertTrue(m.contains("line 3"), m);
    }
    HttpResponse<String> ok = post("/tokenize", "{\"model\":\"raises-on-system\",\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}");
    assertEquals(200, ok.statusCode(), ok.body());
  }

  @Test
  void chatCompletionPromptIsTheRenderedTemplate() throws Exception {
    JsonNode c = reference("system-user-prompt");
    var body = Json.MAPPER.createObjectNode();
    body.put("model", "qwen3-tiny");
    body.set("messages", c.get("messages"));
    body.put("max_tokens", 2);
    body.put("temperature", 0);
    HttpResponse<String> r = post("/v1/chat/completions", body.toString());
    assertEquals(200, r.statusCode(), r.body());
    assertEquals(c.get("ids").size(), Json.parse(r.body()).at("/usage/prompt_tokens").asInt());
  }
}
