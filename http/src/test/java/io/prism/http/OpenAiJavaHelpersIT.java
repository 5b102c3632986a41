package io.prism.http;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.annotation.JsonClassDescription;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.core.JsonSchemaLocalValidation;
import com.openai.core.JsonValue;
import com.openai.core.ObjectMappers;
import com.openai.core.http.StreamResponse;
import com.openai.helpers.ChatCompletionAccumulator;
import com.openai.models.ResponseFormatJsonSchema;
import com.openai.models.chat.completions.ChatCompletion;
import com.openai.models.chat.completions.ChatCompletionChunk;
import com.openai.models.chat.completions.ChatCompletionCreateParams;
import com.openai.models.chat.completions.ChatCompletionMessage;
import com.openai.models.chat.completions.ChatCompletionMessageFunctionToolCall;
import com.openai.models.chat.completions.ChatCompletionMessageToolCall;
import com.openai.models.chat.completions.ChatCompletionNamedToolChoice;
import com.openai.models.chat.completions.ChatCompletionToolChoiceOption;
import com.openai.models.chat.completions.ChatCompletionToolMessageParam;
import com.openai.models.chat.completions.StructuredChatCompletion;
import com.openai.models.chat.completions.StructuredChatCompletionCreateParams;
import io.prism.runtime.structured.SchemaValidator;
import io.swagger.v3.oas.annotations.media.ArraySchema;
import io.swagger.v3.oas.annotations.media.Schema;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The official Java client's own helpers ({@code com.openai:openai-java} 4.100.0, response
 * validation on) against the whole server ({@link TinyChatServer}: Qwen3's real tokenizer and chat
 * template, random weights, sampled at temperature 1):
 *
 * <ul>
 *   <li>structured output: {@code responseFormat(Forecast.class)} derives a strict {@code
 *       json_schema} from a Java record ({@code $defs}/{@code $ref} for the enum, a nested object, an
 *       array bounded by {@code @ArraySchema(maxItems)}) under the client's default local schema
 *       validation; every seeded answer ends with {@code stop}, validates against the schema the
 *       client sent, and the client parses it into the record; the streamed answer, gathered by the
 *       client's {@link ChatCompletionAccumulator}, parses to the same record. Strings bounded by
 *       {@code @Schema(maxLength)} need the client's local validation off (its validator allows only
 *       OpenAI's subset, without {@code maxLength}); they hold their bounds;
 *   <li>tools: {@code addTool(GetWeather.class)} (function name and strict parameters from the
 *       class), {@code tool_choice} naming it or {@code required}: the client reads {@code
 *       tool_calls} (id, name, arguments parsed into the class by {@code arguments(Class)}), sends the
 *       assistant message and a {@code role: tool} result back ({@code contentAsJson}), and gets a
 *       plain answer; streamed through the accumulator the call and the answer equal the unstreamed
 *       ones of the same seed.
 * </ul>
 *
 * Logprobs and {@code n} through this client are {@link OpenAiClientIT}'s.
 */
class OpenAiJavaHelpersIT {
  private static final String MODEL = TinyChatServer.MODEL;
  private static final JsonValue NO_THINKING = JsonValue.from(Map.of("enable_thinking", false));
  private static TinyChatServer server;
  private static OpenAIClient client;

  /** The sky, an enum: the client's schema makes it a {@code $defs} entry reached by {@code $ref}. */
  enum Sky { SUNNY, CLOUDY, RAINY }

  /** A structured answer under the client's default validation: every size bounded without {@code maxLength}. */
  @JsonClassDescription("A weather forecast")
  record Forecast(@JsonPropertyDescription("the sky today") Sky sky, long highCelsius, boolean windy,
      @ArraySchema(maxItems = 3) List<Sky> nextDays, Wind wind) {}

  /** A nested object of {@link Forecast}. */
  record Wind(long speedKmh, Sky bringing) {}

  /** A structured answer with bounded strings (needs {@link JsonSchemaLocalValidation#NO}). */
  record Note(@Schema(minLength = 1, maxLength = 12) String title,
      @ArraySchema(maxItems = 2, schema = @Schema(maxLength = 5)) List<String> tags) {}

  /** The tool: its name is the class's simple name, its parameters the class's schema. */
  @JsonClassDescription("Weather in a city for some days")
  static final class GetWeather {
    /** The city. */
    public City city;
    /** How many days ahead. */
    public long days;
  }

  /** Cities the tool knows. */
  enum City { PARIS, ROME }

  /** The tool's result, sent back as JSON by the client. */
  record WeatherReport(City city, Sky sky) {}

  @BeforeAll
  static void start() throws Exception {
    Optional<TinyChatServer> s = TinyChatServer.start(Map.of());
    assumeTrue(s.isPresent(), "../shared/tokenizers/qwen3 is absent");
    server = s.get();
    client = OpenAIOkHttpClient.builder().baseUrl(server.base() + "/v1").apiKey("unused").maxRetries(0).responseValidation(true)
        .timeout(Duration.ofSeconds(120)).build();
  }

  @AfterAll
  static void stop() throws Exception {
    if (client != null) client.close();
    if (server != null) server.close();
  }

  private static ChatCompletionCreateParams.Builder chat(String text, long seed) {
    return ChatCompletionCreateParams.builder().model(MODEL).addUserMessage(text).maxCompletionTokens(200).temperature(1.0).seed(seed)
        .putAdditionalBodyProperty("chat_template_kwargs", NO_THINKING);
  }

  /** The schema the client put in the request, as plain maps and lists for {@link SchemaValidator}. */
  private static Object sentSchema(StructuredChatCompletionCreateParams<?> p) throws Exception {
    ResponseFormatJsonSchema rf = p.rawParams().responseFormat().orElseThrow().asJsonSchema();
    assertTrue(rf.jsonSchema().strict().orElse(false), "the client asks for strict");
    return io.prism.runtime.format.Json.parse(ObjectMappers.jsonMapper().writeValueAsString(rf.jsonSchema()._schema()));
  }

  private static String rawContent(StructuredChatCompletion.Choice<?> choice) {
    return choice.message().rawMessage().content().orElseThrow();
  }

  @Test
  void jsonSchemaFromARecordParsesIntoTheRecordStreamedAndNot() throws Exception {
    for (long seed = 1; seed <= 6; seed++) {
      StructuredChatCompletionCreateParams<Forecast> p = chat("Forecast for Paris, as JSON", seed).responseFormat(Forecast.class).build();
      Object schema = sentSchema(p);
      StructuredChatCompletion<Forecast> c = client.chat().completions().create(p);
      StructuredChatCompletion.Choice<Forecast> choice = c.choices().get(0);
      assertEquals(ChatCompletion.Choice.FinishReason.STOP, choice.finishReason(), "seed " + seed + ": " + rawContent(choice));
      List<String> errors = SchemaValidator.validate(io.prism.runtime.format.Json.parse(rawContent(choice)), schema);
      assertTrue(errors.isEmpty(), "seed " + seed + ": " + rawContent(choice) + " -> " + errors);
      Forecast f = choice.message().content().orElseThrow();
      assertNotNull(f.sky());
      assertNotNull(f.wind());
      assertNotNull(f.wind().bringing());
      assertTrue(f.nextDays().size() <= 3, f.toString());
      f.nextDays().forEach(d -> assertNotNull(d, f.toString()));

      if (seed == 1) {
        ChatCompletionAccumulator acc = ChatCompletionAccumulator.create();
        try (StreamResponse<ChatCompletionChunk> s = client.chat().completions().createStreaming(p)) {
          s.stream().forEach(acc::accumulate);
        }
        StructuredChatCompletion<Forecast> streamed = acc.chatCompletion(Forecast.class);
        assertEquals(ChatCompletion.Choice.FinishReason.STOP, streamed.choices().get(0).finishReason());
        assertEquals(f, streamed.choices().get(0).message().content().orElseThrow(), "same seed, same record");
      }
    }
  }

  @Test
  void boundedStringsFromSchemaAnnotationsHoldTheirBounds() throws Exception {
    for (long seed = 1; seed <= 4; seed++) {
      StructuredChatCompletionCreateParams<Note> p = chat("A note, as JSON", seed).responseFormat(Note.class, JsonSchemaLocalValidation.NO).build();
      Object schema = sentSchema(p);
      StructuredChatCompletion.Choice<Note> choice = client.chat().completions().create(p).choices().get(0);
      assertEquals(ChatCompletion.Choice.FinishReason.STOP, choice.finishReason(), rawContent(choice));
      assertTrue(SchemaValidator.validate(io.prism.runtime.format.Json.parse(rawContent(choice)), schema).isEmpty(), rawContent(choice));
      Note n = choice.message().content().orElseThrow();
      int titleLength = n.title().codePointCount(0, n.title().length());
      assertTrue(titleLength >= 1 && titleLength <= 12, n.toString());
      assertTrue(n.tags().size() <= 2, n.toString());
      n.tags().forEach(t -> assertTrue(t.codePointCount(0, t.length()) <= 5, n.toString()));
    }
  }

  private static ChatCompletionCreateParams.Builder weatherAsk(long seed) {
    return chat("What is the weather in Paris for the next 2 days?", seed).addTool(GetWeather.class);
  }

  private static ChatCompletionToolChoiceOption named(String function) {
    return ChatCompletionToolChoiceOption.ofNamedToolChoice(ChatCompletionNamedToolChoice.builder()
        .function(ChatCompletionNamedToolChoice.Function.builder().name(function).build()).build());
  }

  /** The one function call of a tool-calls answer, checked and with its arguments parsed by the client. */
  private static ChatCompletionMessageFunctionToolCall onlyCall(ChatCompletion.Choice choice) {
    assertEquals(ChatCompletion.Choice.FinishReason.TOOL_CALLS, choice.finishReason(), choice.toString());
    List<ChatCompletionMessageToolCall> calls = choice.message().toolCalls().orElseThrow();
    assertEquals(1, calls.size(), "one call: named, or parallel_tool_calls false");
    ChatCompletionMessageFunctionToolCall call = calls.get(0).asFunction();
    assertFalse(call.id().isEmpty());
    assertEquals("GetWeather", call.function().name());
    GetWeather args = call.function().arguments(GetWeather.class);
    assertNotNull(args.city, call.function().arguments());
    return call;
  }

  /** The conversation after the call: the assistant's message and the tool's result, answered without tools. */
  private static ChatCompletionCreateParams roundTrip(long seed, ChatCompletionMessage assistant, ChatCompletionMessageFunctionToolCall call) {
    GetWeather args = call.function().arguments(GetWeather.class);
    return weatherAsk(seed).addMessage(assistant)
        .addMessage(ChatCompletionToolMessageParam.builder().toolCallId(call.id()).contentAsJson(new WeatherReport(args.city, Sky.SUNNY)).build())
        .toolChoice(ChatCompletionToolChoiceOption.Auto.NONE).build();
  }

  @Test
  void toolRoundTripThroughTheClientStreamedAndNot() throws Exception {
    long seed = 5;
    ChatCompletionCreateParams ask = weatherAsk(seed).toolChoice(named("GetWeather")).build();
    ChatCompletion first = client.chat().completions().create(ask);
    ChatCompletion.Choice choice = first.choices().get(0);
    ChatCompletionMessageFunctionToolCall call = onlyCall(choice);

    ChatCompletion answer = client.chat().completions().create(roundTrip(seed, choice.message(), call));
    ChatCompletion.Choice answered = answer.choices().get(0);
    assertTrue(answered.message().toolCalls().map(List::isEmpty).orElse(true), "tool_choice none: no call");
    String text = answered.message().content().orElseThrow();
    assertFalse(text.isEmpty());
    // tool_choice "none" keeps the tools out of the template: the same question alone is the baseline
    long alone = client.chat().completions().create(weatherAsk(seed).toolChoice(ChatCompletionToolChoiceOption.Auto.NONE).maxCompletionTokens(1)
        .build()).usage().orElseThrow().promptTokens();
    assertTrue(answer.usage().orElseThrow().promptTokens() > alone + first.usage().orElseThrow().completionTokens(),
        "the call and its result are in the second prompt: " + alone + " alone, " + answer.usage());

    ChatCompletionAccumulator acc = ChatCompletionAccumulator.create();
    try (StreamResponse<ChatCompletionChunk> s = client.chat().completions().createStreaming(ask)) {
      s.stream().forEach(acc::accumulate);
    }
    ChatCompletion.Choice streamedChoice = acc.chatCompletion().choices().get(0);
    ChatCompletionMessageFunctionToolCall streamedCall = onlyCall(streamedChoice);
    assertEquals(call.function().arguments(), streamedCall.function().arguments(), "same seed, same call");

    ChatCompletionAccumulator back = ChatCompletionAccumulator.create();
    try (StreamResponse<ChatCompletionChunk> s = client.chat().completions().createStreaming(roundTrip(seed, streamedChoice.message(), streamedCall))) {
      s.stream().forEach(back::accumulate);
    }
    ChatCompletion.Choice streamedAnswer = back.chatCompletion().choices().get(0);
    assertEquals(answered.finishReason(), streamedAnswer.finishReason());
    // the accumulated message has content "", the unstreamed one null: both render as no text (never "null")
    assertEquals(text, streamedAnswer.message().content().orElseThrow(), "same seed, same prompt, same answer");
  }

  @Test
  void requiredToolChoiceGivesACallTheClientParses() {
    for (long seed = 11; seed <= 13; seed++) {
      // one call: parallel calls repeat without bound in the grammar, and random weights need not stop before max tokens
      ChatCompletion c = client.chat().completions().create(weatherAsk(seed).toolChoice(ChatCompletionToolChoiceOption.Auto.REQUIRED)
          .parallelToolCalls(false).build());
      GetWeather args = onlyCall(c.choices().get(0)).function().arguments(GetWeather.class);
      assertTrue(args.city == City.PARIS || args.city == City.ROME);
    }
  }

  @Test
  void callCutShortByMaxTokensIsALengthAnswerWithTheTextAsContent() {
    // a call is more than 8 tokens: the answer stops inside its JSON (once a 500 from the parser)
    ChatCompletion c = client.chat().completions().create(weatherAsk(21).toolChoice(ChatCompletionToolChoiceOption.Auto.REQUIRED)
        .maxCompletionTokens(8).build());
    ChatCompletion.Choice choice = c.choices().get(0);
    assertEquals(ChatCompletion.Choice.FinishReason.LENGTH, choice.finishReason());
    assertTrue(choice.message().toolCalls().map(List::isEmpty).orElse(true), choice.toString());
    assertTrue(choice.message().content().orElseThrow().startsWith("<tool_call>"), choice.toString());
  }
}
