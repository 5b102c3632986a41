package io.prism.http;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.core.http.StreamResponse;
import com.openai.errors.BadRequestException;
import com.openai.models.chat.completions.ChatCompletion;
import com.openai.models.chat.completions.ChatCompletionChunk;
import com.openai.models.chat.completions.ChatCompletionCreateParams;
import com.openai.models.chat.completions.ChatCompletionTokenLogprob;
import com.openai.models.completions.Completion;
import com.openai.models.completions.CompletionChoice;
import com.openai.models.completions.CompletionCreateParams;
import com.typesafe.config.ConfigFactory;
import io.prism.runtime.model.SharedModels;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The whole server on a free port, driven by the official Java client ({@code com.openai:openai-java}
 * with response validation on, so every body must parse as OpenAI's schema): log probabilities of
 * chat and completions, streamed and not (same values both ways; greedy tokens carry the top log
 * probability; the top probabilities never sum above 1; the tokens spell the text), {@code n = 2}
 * streamed and not (each choice equals a one-choice request with the per-choice seed {@code seed +
 * i}; usage counts the prompt once), and a bad field refused with 400 naming it.
 */
class OpenAiClientIT {
  private static final String MODEL = "stories260K";
  private static PrismServer server;
  private static OpenAIClient client;
  private static String base;

  @BeforeAll
  static void start() throws Exception {
    server = PrismServer.start(ConfigFactory.parseMap(Map.of(
        "prism.http.port", 0,
        "pekko.remote.artery.canonical.port", 0,
        "prism.models.dir", SharedModels.dir().orElseThrow().toString())));
    base = "http://127.0.0.1:" + server.port();
    client = OpenAIOkHttpClient.builder().baseUrl(base + "/v1").apiKey("unused").maxRetries(0).responseValidation(true)
        .timeout(Duration.ofSeconds(120)).build();
  }

  @AfterAll
  static void stop() {
    if (client != null) client.close();
    if (server != null) server.close();
  }

  private static ChatCompletionCreateParams.Builder chat(String text) {
    return ChatCompletionCreateParams.builder().model(MODEL).addUserMessage(text).maxCompletionTokens(24);
  }

  private static void checkTokenLogprobs(List<ChatCompletionTokenLogprob> content, int top, boolean greedy, String text) {
    StringBuilder spelled = new StringBuilder();
    for (ChatCompletionTokenLogprob t : content) {
      assertEquals(top, t.topLogprobs().size());
      double mass = 0;
      for (ChatCompletionTokenLogprob.TopLogprob c : t.topLogprobs()) mass += Math.exp(c.logprob());
      assertTrue(mass <= 1 + 1e-6, "top mass " + mass);
      assertTrue(t.logprob() <= 0);
      if (greedy) {
        assertEquals(t.topLogprobs().get(0).token(), t.token());
        assertEquals(t.topLogprobs().get(0).logprob(), t.logprob());
      }
      byte[] bytes = new byte[t.bytes().orElseThrow().size()];
      for (int i = 0; i < bytes.length; i++) bytes[i] = (byte) (long) t.bytes().get().get(i);
      assertEquals(t.token(), new String(bytes, StandardCharsets.UTF_8));
      spelled.append(t.token());
    }
    assertEquals(text, spelled.toString(), "the tokens spell the text");
  }

  @Test
  void chatLogprobsStreamedAndNotAgreeAndFollowTheRules() {
    ChatCompletionCreateParams p = chat("Once upon a time").temperature(0.0).logprobs(true).topLogprobs(3).build();
    ChatCompletion c = client.chat().completions().create(p);
    ChatCompletion.Choice choice = c.choices().get(0);
    List<ChatCompletionTokenLogprob> content = choice.logprobs().orElseThrow().content().orElseThrow();
    assertEquals(c.usage().orElseThrow().completionTokens(), content.size());
    checkTokenLogprobs(content, 3, true, choice.message().content().orElseThrow());

    List<ChatCompletionTokenLogprob> streamed = new ArrayList<>();
    StringBuilder text = new StringBuilder();
    try (StreamResponse<ChatCompletionChunk> s = client.chat().completions().createStreaming(p)) {
      s.stream().forEach(chunk -> chunk.choices().forEach(ch -> {
        ch.delta().content().ifPresent(text::append);
        ch.logprobs().flatMap(ChatCompletionChunk.Choice.Logprobs::content).ifPresent(streamed::addAll);
      }));
    }
    assertEquals(choice.message().content().orElseThrow(), text.toString());
    assertEquals(content.size(), streamed.size());
    for (int i = 0; i < content.size(); i++) {
      assertEquals(content.get(i).token(), streamed.get(i).token());
      assertEquals(content.get(i).logprob(), streamed.get(i).logprob());
    }
    // logprobs without top_logprobs: the chosen token only
    ChatCompletion bare = client.chat().completions().create(chat("Lily").temperature(0.0).logprobs(true).build());
    checkTokenLogprobs(bare.choices().get(0).logprobs().orElseThrow().content().orElseThrow(), 0, false,
        bare.choices().get(0).message().content().orElseThrow());
  }

  @Test
  void completionLogprobsHaveTokensOffsetsAndTopMapsStreamedAndNot() {
    CompletionCreateParams p = CompletionCreateParams.builder().model(MODEL).prompt("Once upon a time").maxTokens(20).temperature(0.7).seed(5)
        .logprobs(2).build();
    Completion c = client.completions().create(p);
    CompletionChoice choice = c.choices().get(0);
    CompletionChoice.Logprobs lp = choice.logprobs().orElseThrow();
    List<String> tokens = lp.tokens().orElseThrow();
    assertEquals(c.usage().orElseThrow().completionTokens(), tokens.size());
    assertEquals(choice.text(), String.join("", tokens));
    long offset = 0;
    for (int i = 0; i < tokens.size(); i++) {
      assertEquals(offset, lp.textOffset().orElseThrow().get(i));
      offset += tokens.get(i).length();
      Map<String, com.openai.core.JsonValue> top = lp.topLogprobs().orElseThrow().get(i)._additionalProperties();
      assertTrue(top.size() >= 1 && top.size() <= 3, "up to logprobs + 1 entries: " + top);
      assertTrue(top.containsKey(tokens.get(i)), "the chosen token is in its top map");
    }
    List<String> streamedTokens = new ArrayList<>();
    List<Double> streamedLps = new ArrayList<>();
    List<Long> offsets = new ArrayList<>();
    // the SDK's legacy-completion model requires finish_reason on every chunk, though OpenAI streams null
    // until the last one (as Prism does): read this stream without the SDK's validation
    try (StreamResponse<Completion> s = client.withOptions(o -> o.responseValidation(false)).completions().createStreaming(p)) {
      s.stream().forEach(chunk -> chunk.choices().forEach(ch -> ch.logprobs().ifPresent(l -> {
        streamedTokens.addAll(l.tokens().orElseThrow());
        streamedLps.addAll(l.tokenLogprobs().orElseThrow());
        offsets.addAll(l.textOffset().orElseThrow());
      })));
    }
    assertEquals(tokens, streamedTokens, "same seed, same tokens");
    assertEquals(lp.tokenLogprobs().orElseThrow(), streamedLps, "same seed, same logprobs");
    assertEquals(lp.textOffset().orElseThrow(), offsets);
  }

  @Test
  void twoChoicesEachEqualTheOneChoiceRequestWithTheirSeedStreamedAndNot() throws Exception {
    ChatCompletion two = client.chat().completions().create(chat("Once upon a time").temperature(1.0).seed(40).n(2).build());
    assertEquals(2, two.choices().size());
    long tokens = 0;
    List<String> texts = new ArrayList<>();
    for (int i = 0; i < 2; i++) {
      assertEquals(i, two.choices().get(i).index());
      String text = two.choices().get(i).message().content().orElseThrow();
      texts.add(text);
      ChatCompletion single = client.chat().completions().create(chat("Once upon a time").temperature(1.0).seed(40 + i).build());
      assertEquals(single.choices().get(0).message().content().orElseThrow(), text, "choice " + i + " = the request with seed " + (40 + i));
      tokens += single.usage().orElseThrow().completionTokens();
      assertEquals(two.usage().orElseThrow().promptTokens(), single.usage().orElseThrow().promptTokens(), "the prompt counted once");
    }
    assertNotEquals(texts.get(0), texts.get(1));
    assertEquals(tokens, two.usage().orElseThrow().completionTokens());

    Map<Long, StringBuilder> streamed = new HashMap<>();
    Map<Long, Integer> finishes = new HashMap<>();
    try (StreamResponse<ChatCompletionChunk> s = client.chat().completions().createStreaming(chat("Once upon a time").temperature(1.0).seed(40).n(2)
        .build())) {
      s.stream().forEach(chunk -> chunk.choices().forEach(ch -> {
        ch.delta().content().ifPresent(t -> streamed.computeIfAbsent(ch.index(), k -> new StringBuilder()).append(t));
        if (ch.finishReason().isPresent()) finishes.merge(ch.index(), 1, Integer::sum);
      }));
    }
    assertEquals(Map.of(0L, 1, 1L, 1), finishes, "each choice finishes exactly once");
    for (int i = 0; i < 2; i++) assertEquals(texts.get(i), streamed.get((long) i).toString());
    assertEveryPageBack();
  }

  @Test
  void badFieldsAre400NamingThem() {
    BadRequestException e = org.junit.jupiter.api.Assertions.assertThrows(BadRequestException.class,
        () -> client.chat().completions().create(chat("x").logprobs(true).topLogprobs(21).build()));
    assertTrue(e.getMessage().contains("top_logprobs"), e.getMessage());
    BadRequestException bias = org.junit.jupiter.api.Assertions.assertThrows(BadRequestException.class, () -> client.chat().completions().create(
        chat("x").logitBias(ChatCompletionCreateParams.LogitBias.builder().putAdditionalProperty("99999", com.openai.core.JsonValue.from(5)).build())
            .build()));
    assertTrue(bias.getMessage().contains("logit_bias"), bias.getMessage());
  }

  private static void assertEveryPageBack() throws Exception {
    HttpClient http = HttpClient.newHttpClient();
    long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
    while (true) {
      HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(base + "/admin/gpus")).GET().build(), HttpResponse.BodyHandlers.ofString());
      boolean idle = true;
      for (JsonNode g : Json.parse(r.body()).get("data")) {
        assertEquals("", g.get("invariant_violation").asText(), g.toString());
        int kept = 0;
        for (JsonNode m : g.get("models")) {
          idle &= m.get("pages_in_use").asInt() == 0 && m.get("waiting").asInt() + m.get("running").asInt() == 0;
          kept += m.get("pages_kept").asInt();
        }
        idle &= g.get("held_pages").asInt() == kept;
      }
      if (idle) return;
      assertTrue(System.nanoTime() < deadline, "pages still held: " + r.body());
      Thread.sleep(20);
    }
  }
}
