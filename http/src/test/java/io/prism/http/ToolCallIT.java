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
 * Tool calls through the whole server with Qwen3's real tokenizer and chat template (Hermes
 * format) on a tiny random-weight model: {@code tool_choice} naming a function yields a parsed
 * {@code tool_calls} answer with {@code finish_reason: "tool_calls"}, streamed and not; the call and
 * its result go back through the template; bad tools and choices are 400s naming the field.
 */
class ToolCallIT {
  private static final Duration TIMEOUT = Duration.ofSeconds(120);
  private static final String TOOLS = "[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"description\":\"Weather in a city\","
      + "\"parameters\":{\"type\":\"object\",\"properties\":{\"city\":{\"enum\":[\"Paris\",\"Rome\"]},\"days\":{\"type\":\"integer\"}},"
      + "\"required\":[\"city\",\"days\"],\"additionalProperties\":false}}}]";
  private static PrismNode node;
  private static ServerBinding binding;
  private static HttpClient http;
  private static String base;
  private static Path tmp;

  @BeforeAll
  static void start() throws Exception {
    Path shared = ChatTokenizeIT.qwen3();
    assumeTrue(shared != null, "../shared/tokenizers/qwen3 is absent");
    tmp = Files.createTempDirectory("prism-tools-it");
    Path real = Files.createDirectories(tmp.resolve("qwen3-tiny"));
    Files.copy(shared.resolve("tokenizer.json"), real.resolve("tokenizer.json"));
    Files.copy(shared.resolve("tokenizer_config.json"), real.resolve("tokenizer_config.json"));
    Config config = PrismConfig.load(ConfigFactory.parseMap(Map.of(
        "prism.http.port", 0,
        "pekko.remote.artery.canonical.hostname", "127.0.0.1",
        "pekko.remote.artery.canonical.port", 0,
        "prism.models.dir", tmp.toString())));
    PrismSettings settings = PrismSettings.from(PrismNode.withGpuDispatchers(config, 0));
    node = PrismNode.start("prism", config, Devices.open(settings), ChatTokenizeIT::load);
    node.awaitLocalGpus(settings.registerTimeout());
    ModelSpec spec = new ModelSpec("qwen3-tiny", real.toString(), null, Duration.ofSeconds(60), Duration.ofSeconds(10), 0);
    assertTrue(node.register(spec).toCompletableFuture().get(2, TimeUnit.MINUTES) instanceof GlobalPlacementActor.Registered);
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
  }

  private static HttpResponse<String> post(String body) throws Exception {
    return http.send(HttpRequest.newBuilder(URI.create(base + "/v1/chat/completions")).timeout(TIMEOUT).header("Content-Type", "application/json")
        .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
  }

  private static String body(String messages, String extra) {
    return "{\"model\":\"qwen3-tiny\",\"messages\":" + messages + ",\"tools\":" + TOOLS + ",\"max_tokens\":200,\"temperature\":1,\"seed\":5"
        + ",\"chat_template_kwargs\":{\"enable_thinking\":false}" + extra + "}";
  }

  @Test
  void namedToolChoiceGivesParsedCallsStreamedAndNotAndTheResultGoesBackThroughTheTemplate() throws Exception {
    String ask = "[{\"role\":\"user\",\"content\":\"Weather in Paris for 2 days?\"}]";
    String choice = ",\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":\"get_weather\"}}";
    HttpResponse<String> r = post(body(ask, choice));
    assertEquals(200, r.statusCode(), r.body());
    JsonNode c = Json.parse(r.body()).at("/choices/0");
    assertEquals("tool_calls", c.get("finish_reason").asText(), r.body());
    JsonNode call = c.at("/message/tool_calls/0");
    assertTrue(call.get("id").asText().startsWith("call_"));
    assertEquals("function", call.get("type").asText());
    assertEquals("get_weather", call.at("/function/name").asText());
    JsonNode args = Json.parse(call.at("/function/arguments").asText());
    assertTrue(args.get("city").asText().equals("Paris") || args.get("city").asText().equals("Rome"), args.toString());
    assertTrue(args.get("days").isIntegralNumber(), args.toString());

    HttpResponse<java.util.stream.Stream<String>> s = http.send(HttpRequest.newBuilder(URI.create(base + "/v1/chat/completions")).timeout(TIMEOUT)
        .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body(ask, choice + ",\"stream\":true"))).build(),
        HttpResponse.BodyHandlers.ofLines());
    List<JsonNode> chunks = new java.util.ArrayList<>();
    s.body().filter(l -> l.startsWith("data: {")).forEach(l -> chunks.add(Json.parse(l.substring(6))));
    JsonNode head = chunks.stream().map(x -> x.at("/choices/0/delta/tool_calls/0")).filter(x -> x.has("id")).findFirst().orElseThrow();
    assertEquals("get_weather", head.at("/function/name").asText());
    assertEquals(0, head.get("index").asInt());
    String streamedArgs = chunks.stream().map(x -> x.at("/choices/0/delta/tool_calls/0/function/arguments").asText("")).reduce("", String::concat);
    assertEquals(call.at("/function/arguments").asText(), streamedArgs, "same seed, same call");
    assertEquals("tool_calls", chunks.get(chunks.size() - 1).at("/choices/0/finish_reason").asText());

    String roundTrip = "[{\"role\":\"user\",\"content\":\"Weather in Paris for 2 days?\"},{\"role\":\"assistant\",\"content\":null,\"tool_calls\":["
        + call + "]},{\"role\":\"tool\",\"tool_call_id\":\"" + call.get("id").asText() + "\",\"content\":\"sunny\"}]";
    HttpResponse<String> back = post(body(roundTrip, ",\"tool_choice\":\"none\""));
    assertEquals(200, back.statusCode(), back.body());
    HttpResponse<String> tok = http.send(HttpRequest.newBuilder(URI.create(base + "/tokenize")).header("Content-Type", "application/json")
        .POST(HttpRequest.BodyPublishers.ofString("{\"model\":\"qwen3-tiny\",\"messages\":" + roundTrip + ",\"tools\":" + TOOLS + "}")).build(),
        HttpResponse.BodyHandlers.ofString());
    assertEquals(200, tok.statusCode(), tok.body());
    HttpResponse<String> text = http.send(HttpRequest.newBuilder(URI.create(base + "/detokenize")).header("Content-Type", "application/json")
        .POST(HttpRequest.BodyPublishers.ofString("{\"model\":\"qwen3-tiny\",\"tokens\":" + Json.parse(tok.body()).get("tokens") + "}")).build(),
        HttpResponse.BodyHandlers.ofString());
    String prompt = Json.parse(text.body()).get("prompt").asText();
    assertTrue(prompt.contains("<tool_call>") && prompt.contains("get_weather") && prompt.contains("sunny"), prompt);
  }

  @Test
  void badToolsAndChoicesAre400NamingTheField() throws Exception {
    String ask = "[{\"role\":\"user\",\"content\":\"hi\"}]";
    HttpResponse<String> unknown = post(body(ask, ",\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":\"nope\"}}"));
    assertEquals(400, unknown.statusCode(), unknown.body());
    assertEquals("tool_choice", Json.parse(unknown.body()).at("/error/param").asText());
    String noName = "{\"model\":\"qwen3-tiny\",\"messages\":" + ask + ",\"tools\":[{\"type\":\"function\",\"function\":{\"parameters\":{}}}]}";
    HttpResponse<String> r = post(noName);
    assertEquals(400, r.statusCode(), r.body());
    assertEquals("tools[0].function.name", Json.parse(r.body()).at("/error/param").asText());
  }
}
