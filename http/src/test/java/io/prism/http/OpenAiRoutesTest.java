package io.prism.http;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.prism.runtime.engine.Rejection;
import io.prism.actors.frontend.GenerateRequest;
import io.prism.actors.frontend.GenerationEvent;
import io.prism.actors.GpuId;
import io.prism.actors.model.ModelActor;
import io.prism.actors.PrismNode;
import io.prism.runtime.engine.FinishReason;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.javadsl.Adapter;
import org.apache.pekko.http.javadsl.model.ContentTypes;
import org.apache.pekko.http.javadsl.model.HttpRequest;
import org.apache.pekko.http.javadsl.model.headers.RawHeader;
import org.apache.pekko.http.javadsl.testkit.TestRoute;
import org.apache.pekko.http.javadsl.testkit.TestRouteResult;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The HTTP routes against a scripted cluster: every error case answers in the OpenAI envelope. */
class OpenAiRoutesTest extends JUnit5RouteTest {
  private static final HttpSettings SETTINGS =
      new HttpSettings("127.0.0.1", 0, Duration.ofMinutes(1), Duration.ofMinutes(1), Duration.ofSeconds(5), Duration.ofSeconds(5), 4096);
  private FakeApi api;
  private TestRoute route;

  @BeforeEach
  void setUp() {
    api = new FakeApi();
    route = testRoute(new PrismRoutes(api, materializer(), SETTINGS).route());
  }

  private ActorRef<ModelActor.Command> nobody() {
    return Adapter.toTyped(system().deadLetters());
  }

  /** Script: started, the given chunks, then a finish with {@code reason}. */
  private void serve(FinishReason reason, String message, String... chunks) {
    api.script = r -> {
      List<GenerationEvent> out = new ArrayList<>();
      out.add(new GenerationEvent.Started(r.requestId(), r.modelId(), new GpuId("127.0.0.1", 25520, 0), 5, nobody()));
      for (int i = 0; i < chunks.length; i++) out.add(new GenerationEvent.Chunk(r.requestId(), chunks[i], 100 + i, i));
      out.add(new GenerationEvent.Completed(r.requestId(), reason, "", 5, chunks.length, message));
      return out;
    };
  }

  private void refuse(Rejection.Kind kind, String message, String param) {
    Rejection rejection = switch (kind) {
      case MODEL_NOT_FOUND -> new Rejection.ModelNotFound(message);
      case CONTEXT_LENGTH_EXCEEDED -> new Rejection.ContextLengthExceeded(message);
      case OVERLOADED -> new Rejection.Overloaded(message, 3);
      case UNAVAILABLE -> new Rejection.Unavailable(message, param, -1);
      default -> new Rejection.InvalidRequest(param, message);
    };
    api.script = r -> List.of(new GenerationEvent.Rejected(r.requestId(), rejection));
  }

  private TestRouteResult post(String path, String body) {
    return route.run(HttpRequest.POST(path).withEntity(ContentTypes.APPLICATION_JSON, body));
  }

  /** Asserts the OpenAI envelope and returns its {@code error} object. */
  private static JsonNode error(TestRouteResult r, int status) {
    r.assertStatusCode(status);
    r.assertContentType(ContentTypes.APPLICATION_JSON);
    JsonNode e = Json.parse(r.entityString()).get("error");
    assertTrue(e != null && e.isObject(), "error envelope: " + r.entityString());
    for (String f : List.of("message", "type", "param", "code")) assertTrue(e.has(f), "envelope field " + f + ": " + e);
    assertFalse(e.get("message").asText().isEmpty());
    return e;
  }

  @Test
  void unknownModelIs404NamingTheModelField() {
    refuse(Rejection.Kind.MODEL_NOT_FOUND, "The model 'ghost' does not exist", "model");
    JsonNode e = error(post("/v1/completions", "{\"model\":\"ghost\",\"prompt\":\"hi\"}"), 404);
    assertEquals("model", e.get("param").asText());
    assertEquals("model_not_found", e.get("code").asText());
  }

  @Test
  void malformedJsonIs400() {
    JsonNode e = error(post("/v1/chat/completions", "{\"model\": \"m\", \"messages\": [ "), 400);
    assertEquals("invalid_request_error", e.get("type").asText());
    assertTrue(e.get("message").asText().contains("malformed JSON"), e.toString());
  }

  @Test
  void invalidFieldsAre400NamingTheField() {
    assertEquals("temperature", error(post("/v1/completions", "{\"model\":\"m\",\"prompt\":\"x\",\"temperature\":\"hot\"}"), 400).get("param").asText());
    assertEquals("temperature", error(post("/v1/completions", "{\"model\":\"m\",\"prompt\":\"x\",\"temperature\":3}"), 400).get("param").asText());
    assertEquals("max_tokens", error(post("/v1/completions", "{\"model\":\"m\",\"prompt\":\"x\",\"max_tokens\":0}"), 400).get("param").asText());
    assertEquals("top_p", error(post("/v1/completions", "{\"model\":\"m\",\"prompt\":\"x\",\"top_p\":0}"), 400).get("param").asText());
    assertEquals("stop", error(post("/v1/completions", "{\"model\":\"m\",\"prompt\":\"x\",\"stop\":[\"\"]}"), 400).get("param").asText());
    assertEquals("prompt", error(post("/v1/completions", "{\"model\":\"m\"}"), 400).get("param").asText());
    assertEquals("model", error(post("/v1/completions", "{\"prompt\":\"x\"}"), 400).get("param").asText());
    assertEquals("messages", error(post("/v1/chat/completions", "{\"model\":\"m\",\"messages\":[]}"), 400).get("param").asText());
    assertEquals("messages[0].role",
        error(post("/v1/chat/completions", "{\"model\":\"m\",\"messages\":[{\"role\":\"wizard\",\"content\":\"x\"}]}"), 400).get("param").asText());
    assertEquals("n", error(post("/v1/completions", "{\"model\":\"m\",\"prompt\":\"x\",\"n\":129}"), 400).get("param").asText());
    String chat = "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],";
    String cmpl = "{\"model\":\"m\",\"prompt\":\"x\",";
    assertEquals("top_logprobs", error(post("/v1/chat/completions", chat + "\"logprobs\":true,\"top_logprobs\":21}"), 400).get("param").asText());
    assertEquals("top_logprobs", error(post("/v1/chat/completions", chat + "\"top_logprobs\":2}"), 400).get("param").asText(),
        "top_logprobs without logprobs: true, as OpenAI refuses it");
    assertEquals("top_logprobs", error(post("/v1/chat/completions", chat + "\"logprobs\":false,\"top_logprobs\":2}"), 400).get("param").asText());
    assertEquals("logprobs", error(post("/v1/chat/completions", chat + "\"logprobs\":3}"), 400).get("param").asText());
    assertEquals("logprobs", error(post("/v1/completions", cmpl + "\"logprobs\":6}"), 400).get("param").asText());
    assertEquals("logprobs", error(post("/v1/completions", cmpl + "\"logprobs\":true}"), 400).get("param").asText());
    assertEquals("logit_bias", error(post("/v1/completions", cmpl + "\"logit_bias\":{\"5\":101}}"), 400).get("param").asText());
    assertEquals("logit_bias", error(post("/v1/completions", cmpl + "\"logit_bias\":{\"abc\":1}}"), 400).get("param").asText());
    assertEquals("logit_bias", error(post("/v1/completions", cmpl + "\"logit_bias\":{\"1.5\":1}}"), 400).get("param").asText());
    assertEquals("logit_bias", error(post("/v1/completions", cmpl + "\"logit_bias\":{\"-3\":1}}"), 400).get("param").asText());
    assertEquals("logit_bias", error(post("/v1/completions", cmpl + "\"logit_bias\":[1]}"), 400).get("param").asText());
    assertEquals("presence_penalty", error(post("/v1/completions", cmpl + "\"presence_penalty\":2.5}"), 400).get("param").asText());
    assertEquals("frequency_penalty", error(post("/v1/chat/completions", chat + "\"frequency_penalty\":-3}"), 400).get("param").asText());
    assertEquals("repetition_penalty", error(post("/v1/completions", cmpl + "\"repetition_penalty\":0}"), 400).get("param").asText());
    assertEquals("min_p", error(post("/v1/completions", cmpl + "\"min_p\":1.5}"), 400).get("param").asText());
    assertEquals("best_of", error(post("/v1/completions", cmpl + "\"best_of\":3}"), 400).get("param").asText());
    assertEquals("echo", error(post("/v1/completions", cmpl + "\"echo\":true}"), 400).get("param").asText());
    assertEquals("suffix", error(post("/v1/completions", cmpl + "\"suffix\":\"end\"}"), 400).get("param").asText());
    assertEquals("response_format.type", error(post("/v1/chat/completions", chat + "\"response_format\":{\"type\":\"xml\"}}"), 400)
        .get("param").asText());
    assertEquals("tool_choice", error(post("/v1/chat/completions", chat + "\"tool_choice\":\"required\"}"), 400).get("param").asText());
    assertEquals("top_logprobs", error(post("/v1/completions", cmpl + "\"top_logprobs\":2}"), 400).get("param").asText(), "a chat-only field");
    assertEquals("frobnicate", error(post("/v1/chat/completions", chat + "\"frobnicate\":1}"), 400).get("param").asText());
    assertEquals("functions", error(post("/v1/chat/completions", chat + "\"functions\":[]}"), 400).get("param").asText());
    assertTrue(api.requests.isEmpty(), "no invalid request reaches the cluster");
  }

  @Test
  void promptPlusMaxTokensOverTheContextIs400WithTheContextLengthMessage() {
    String msg = "This model's maximum context length is 512 tokens. However, you requested 603 tokens (3 in the messages, 600 in the completion).";
    refuse(Rejection.Kind.CONTEXT_LENGTH_EXCEEDED, msg, null);
    JsonNode e = error(post("/v1/completions", "{\"model\":\"m\",\"prompt\":\"x\",\"max_tokens\":600}"), 400);
    assertEquals(msg, e.get("message").asText());
    assertEquals("context_length_exceeded", e.get("code").asText());
    assertEquals("prompt", e.get("param").asText());
    JsonNode chat = error(post("/v1/chat/completions", "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"max_tokens\":600}"), 400);
    assertEquals("messages", chat.get("param").asText());
  }

  @Test
  void bodyTooLargeIs413WithoutRetry() {
    String big = "{\"model\":\"m\",\"prompt\":\"" + "a".repeat(5000) + "\"}";
    TestRouteResult r = post("/v1/completions", big);
    assertEquals("request_too_large", error(r, 413).get("code").asText());
    assertEquals(Optional.of("false"), r.response().getHeader(ApiError.SHOULD_RETRY).map(h -> h.value()));
  }

  @Test
  void overloadIs429AndAnUnservableModelIs503WithoutRetry() {
    refuse(Rejection.Kind.OVERLOADED, "model 'm' has 1024 requests in flight; retry later", null);
    TestRouteResult busy = post("/v1/completions", "{\"model\":\"m\",\"prompt\":\"x\"}");
    assertEquals("rate_limit_error", error(busy, 429).get("type").asText());
    assertEquals(Optional.of("true"), busy.response().getHeader(ApiError.SHOULD_RETRY).map(h -> h.value()), "retrying later can help");
    assertEquals(Optional.of("3"), busy.response().getHeader("Retry-After").map(h -> h.value()));

    refuse(Rejection.Kind.UNAVAILABLE, "no GPU can hold model 'm'", "model");
    TestRouteResult down = post("/v1/completions", "{\"model\":\"m\",\"prompt\":\"x\"}");
    error(down, 503);
    assertEquals(Optional.of("false"), down.response().getHeader(ApiError.SHOULD_RETRY).map(h -> h.value()));
  }

  @Test
  void unknownPathIs404AndWrongMethodIs405() {
    error(route.run(HttpRequest.GET("/v1/nothing")), 404);
    error(route.run(HttpRequest.GET("/v1/completions")), 405);
  }

  @Test
  void documentedNoOpsAreAcceptedAndParametersReachTheEngine() {
    serve(FinishReason.STOP, "", "Hello", " world");
    TestRouteResult r = post("/v1/completions", "{\"model\":\"m\",\"prompt\":\"x\",\"max_tokens\":7,\"temperature\":0.5,\"top_p\":0.9,"
        + "\"seed\":42,\"stop\":\"\\n\",\"user\":\"me\",\"presence_penalty\":0.5,\"frequency_penalty\":-0.25,\"repetition_penalty\":1.1,"
        + "\"min_p\":0.05,\"logit_bias\":{\"17\":-100,\"3\":2.5},\"logprobs\":2,\"best_of\":1,\"echo\":false}");
    r.assertStatusCode(200);
    JsonNode body = Json.parse(r.entityString());
    assertEquals("text_completion", body.get("object").asText());
    assertEquals("Hello world", body.at("/choices/0/text").asText());
    assertEquals("stop", body.at("/choices/0/finish_reason").asText());
    assertEquals(7, body.at("/usage/total_tokens").asInt());
    GenerateRequest g = api.lastRequest();
    assertEquals(7, g.params().maxTokens());
    assertEquals(0.5f, g.params().temperature());
    assertEquals(0.9f, g.params().topP());
    assertEquals(42L, g.params().seed());
    assertEquals(List.of("\n"), g.params().stop());
    assertEquals(0.5f, g.params().presencePenalty());
    assertEquals(-0.25f, g.params().frequencyPenalty());
    assertEquals(1.1f, g.params().repetitionPenalty());
    assertEquals(0.05f, g.params().minP());
    assertEquals(java.util.Map.of(17, -100f, 3, 2.5f), g.params().logitBias());
    assertEquals(2, g.params().logprobs());
    serve(FinishReason.STOP, "", "Hi");
    post("/v1/chat/completions", "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"logprobs\":true,\"n\":3,"
        + "\"metadata\":{\"k\":\"v\"},\"store\":false,\"service_tier\":\"auto\",\"response_format\":{\"type\":\"text\"},\"tool_choice\":\"auto\"}")
        .assertStatusCode(200);
    assertEquals(0, api.lastRequest().params().logprobs(), "logprobs without top_logprobs: the chosen token only");
    assertEquals(3, api.lastRequest().params().n());
  }

  @Test
  void chatWithoutLimitGeneratesUpToTheContextAndRendersMessagesWithTheTemplate() {
    serve(FinishReason.LENGTH, "", "A", "B");
    TestRouteResult r = post("/v1/chat/completions",
        "{\"model\":\"m\",\"messages\":[{\"role\":\"system\",\"content\":\"Be brief.\"},{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"Once\"}]}]}");
    r.assertStatusCode(200);
    JsonNode body = Json.parse(r.entityString());
    assertEquals("chat.completion", body.get("object").asText());
    assertEquals("assistant", body.at("/choices/0/message/role").asText());
    assertEquals("AB", body.at("/choices/0/message/content").asText());
    assertEquals("length", body.at("/choices/0/finish_reason").asText());
    assertTrue(api.lastRequest().maxTokensToContext());
    assertEquals("Be brief.\nOnce", api.lastRequest().chat().plainText()); // rendered on the GPU node: no template here
    assertEquals("[{\"role\":\"system\",\"content\":\"Be brief.\"},{\"role\":\"user\",\"content\":\"Once\"}]", api.lastRequest().chat().messagesJson());
    assertTrue(api.lastRequest().chat().addGenerationPrompt());
    post("/v1/chat/completions", "{\"model\":\"m\",\"add_generation_prompt\":false,\"chat_template_kwargs\":{\"enable_thinking\":false},"
        + "\"messages\":[{\"role\":\"developer\",\"content\":\"Be brief.\"},{\"role\":\"assistant\",\"content\":null,"
        + "\"tool_calls\":[{\"id\":\"c1\",\"type\":\"function\",\"function\":{\"name\":\"f\",\"arguments\":\"{}\"}}]}],"
        + "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}]}").assertStatusCode(200);
    io.prism.runtime.chat.ChatInput chat = api.lastRequest().chat();
    // content null (as the official clients send a tool-call message back) becomes "", never the text "null" in the prompt
    assertEquals("[{\"role\":\"system\",\"content\":\"Be brief.\"},{\"role\":\"assistant\",\"content\":\"\",\"tool_calls\":"
        + "[{\"id\":\"c1\",\"type\":\"function\",\"function\":{\"name\":\"f\",\"arguments\":\"{}\"}}]}]", chat.messagesJson());
    assertEquals("[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}]", chat.toolsJson());
    assertEquals("{\"enable_thinking\":false}", chat.variablesJson());
    assertFalse(chat.addGenerationPrompt());
  }

  @Test
  void streamingIsDecidedByTheBodyNotTheAcceptHeader() {
    serve(FinishReason.LENGTH, "", "Once", "", " upon");
    TestRouteResult r = route.run(HttpRequest.POST("/v1/completions").addHeader(RawHeader.create("Accept", "application/json"))
        .withEntity(ContentTypes.APPLICATION_JSON, "{\"model\":\"m\",\"prompt\":\"x\",\"stream\":true,\"stream_options\":{\"include_usage\":true}}"));
    r.assertStatusCode(200);
    assertEquals("text/event-stream", r.response().entity().getContentType().mediaType().toString());
    List<String> data = new ArrayList<>();
    for (String frame : r.entityString().split("\n\n")) {
      if (frame.startsWith(":")) continue; // keep-alive comment
      assertTrue(frame.startsWith("data: "), "SSE data frame: " + frame);
      String payload = frame.substring(6);
      assertFalse(payload.isBlank(), "no empty data events");
      data.add(payload);
    }
    assertEquals("[DONE]", data.get(data.size() - 1));
    StringBuilder text = new StringBuilder();
    String finish = null;
    JsonNode usage = null;
    for (String d : data.subList(0, data.size() - 1)) {
      JsonNode chunk = Json.parse(d);
      if (chunk.has("usage")) usage = chunk.get("usage");
      if (chunk.get("choices").isEmpty()) continue;
      text.append(chunk.at("/choices/0/text").asText());
      if (!chunk.at("/choices/0/finish_reason").isNull()) finish = chunk.at("/choices/0/finish_reason").asText();
    }
    assertEquals("Once upon", text.toString());
    assertEquals("length", finish);
    assertEquals(8, usage.get("total_tokens").asInt());
  }

  @Test
  void aRequestThatFailsMidStreamEndsWithAnErrorFrameNotAHang() {
    serve(FinishReason.FAILED, "model 'm' failed and is restarting: boom", "Once");
    TestRouteResult r = post("/v1/chat/completions", "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"stream\":true}");
    r.assertStatusCode(200);
    String body = r.entityString();
    assertTrue(body.contains("\"error\""), body);
    assertTrue(body.contains("boom"), body);
    assertTrue(body.endsWith("data: [DONE]\n\n"), body);
  }

  @Test
  void healthIs503WhileAGpuCannotMakeProgress() {
    route.run(HttpRequest.GET("/health")).assertStatusCode(200);
    api.health = new PrismNode.Health(false, List.of("gpu-0@127.0.0.1:25520: model m has made no progress for 31000 ms"));
    TestRouteResult r = route.run(HttpRequest.GET("/health"));
    r.assertStatusCode(503);
    assertTrue(r.entityString().contains("no progress"), r.entityString());
  }
}
