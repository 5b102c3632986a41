package io.prism.http.openai;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.prism.http.Json;
import io.prism.runtime.engine.GeneratedLogprobs;
import java.util.List;

/**
 * The JSON bodies of OpenAI completion responses: {@code text_completion} for {@code
 * /v1/completions}, {@code chat.completion} / {@code chat.completion.chunk} for the chat endpoint,
 * with OpenAI's log-probability shapes: chat {@code logprobs.content[] = {token, logprob, bytes,
 * top_logprobs: [{token, logprob, bytes}]}}; completions {@code logprobs = {tokens, token_logprobs,
 * top_logprobs (a map per token: the most likely tokens and the chosen one, so up to k + 1 entries),
 * text_offset}}, where {@code text_offset} counts characters (UTF-16 code units) from the start of
 * the completion text, as vLLM does without {@code echo}. Stateless.
 */
final class ResponseShapes {
  private ResponseShapes() {}

  /** Token counts of a finished request (the prompt once, the completion tokens of all choices). */
  record Usage(int promptTokens, int completionTokens) {
    ObjectNode toJson() {
      ObjectNode u = Json.MAPPER.createObjectNode();
      u.put("prompt_tokens", promptTokens);
      u.put("completion_tokens", completionTokens);
      u.put("total_tokens", promptTokens + completionTokens);
      return u;
    }
  }

  /**
   * One finished choice of a non-streamed response.
   *
   * @param logprobs one per generated token, or null when not asked for
   */
  record Choice(int index, String text, String finishReason, List<GeneratedLogprobs> logprobs) {}

  private static ObjectNode header(boolean chat, boolean chunk, String id, long created, String model) {
    ObjectNode o = Json.MAPPER.createObjectNode();
    o.put("id", id);
    o.put("object", chat ? (chunk ? "chat.completion.chunk" : "chat.completion") : "text_completion");
    o.put("created", created);
    o.put("model", model);
    return o;
  }

  /** A non-streaming response, choices in the given order (by index). */
  static ObjectNode full(boolean chat, String id, long created, String model, List<Choice> choices, Usage usage) {
    ObjectNode o = header(chat, false, id, created, model);
    ArrayNode cs = o.putArray("choices");
    for (Choice c : choices) {
      ObjectNode choice = cs.addObject();
      choice.put("index", c.index());
      if (chat) {
        ObjectNode m = choice.putObject("message");
        m.put("role", "assistant");
        m.put("content", c.text());
      } else {
        choice.put("text", c.text());
      }
      if (c.logprobs() == null) choice.putNull("logprobs");
      else choice.set("logprobs", chat ? chatLogprobs(c.logprobs()) : completionLogprobs(c.logprobs(), 0));
      choice.put("finish_reason", c.finishReason());
    }
    o.set("usage", usage.toJson());
    return o;
  }

  /** A one-choice non-streaming response without log probabilities. */
  static ObjectNode full(boolean chat, String id, long created, String model, String text, String finishReason, Usage usage) {
    return full(chat, id, created, model, List.of(new Choice(0, text, finishReason, null)), usage);
  }

  /**
   * One streamed chunk of choice {@code index}.
   *
   * @param text new text (may be empty for a finishing chunk)
   * @param finishReason {@code null} except on the choice's last content chunk
   * @param role true for a chat choice's first chunk ({@code delta.role = "assistant"})
   * @param logprobs the chunk's {@code logprobs} ({@link #chatLogprobs} / {@link #completionLogprobs}), or null
   */
  static ObjectNode chunk(boolean chat, String id, long created, String model, int index, String text, String finishReason, boolean role,
      JsonNode logprobs) {
    ObjectNode o = header(chat, true, id, created, model);
    ObjectNode choice = o.putArray("choices").addObject();
    choice.put("index", index);
    if (chat) {
      ObjectNode delta = choice.putObject("delta");
      if (role) delta.put("role", "assistant");
      if (role || !text.isEmpty() || logprobs != null) delta.put("content", text);
    } else {
      choice.put("text", text);
    }
    if (logprobs == null) choice.putNull("logprobs");
    else choice.set("logprobs", logprobs);
    if (finishReason == null) choice.putNull("finish_reason");
    else choice.put("finish_reason", finishReason);
    return o;
  }

  /** {@link #chunk} of choice 0 without log probabilities. */
  static ObjectNode chunk(boolean chat, String id, long created, String model, String text, String finishReason, boolean role) {
    return chunk(chat, id, created, model, 0, text, finishReason, role, null);
  }

  /** The final usage chunk of a stream with {@code stream_options.include_usage} (empty choices). */
  static ObjectNode usageChunk(boolean chat, String id, long created, String model, Usage usage) {
    ObjectNode o = header(chat, true, id, created, model);
    ArrayNode choices = o.putArray("choices");
    assert choices.isEmpty();
    o.set("usage", usage.toJson());
    return o;
  }

  /** Chat's {@code logprobs}: {@code {content: [{token, logprob, bytes, top_logprobs}], refusal: null}}. */
  static ObjectNode chatLogprobs(List<GeneratedLogprobs> tokens) {
    ObjectNode o = Json.MAPPER.createObjectNode();
    ArrayNode content = o.putArray("content");
    for (GeneratedLogprobs lp : tokens) {
      ObjectNode t = candidate(content.addObject(), lp.chosen());
      ArrayNode top = t.putArray("top_logprobs");
      for (GeneratedLogprobs.Candidate c : lp.top()) candidate(top.addObject(), c);
    }
    o.putNull("refusal");
    return o;
  }

  private static ObjectNode candidate(ObjectNode o, GeneratedLogprobs.Candidate c) {
    o.put("token", c.token());
    o.put("logprob", c.logprob());
    ArrayNode bytes = o.putArray("bytes");
    for (byte b : c.bytes()) bytes.add(b & 0xFF);
    return o;
  }

  /**
   * Completions' {@code logprobs}: {@code {tokens, token_logprobs, top_logprobs, text_offset}};
   * offsets start at {@code textOffset} (the characters of the completion before these tokens).
   */
  static ObjectNode completionLogprobs(List<GeneratedLogprobs> tokens, int textOffset) {
    ObjectNode o = Json.MAPPER.createObjectNode();
    ArrayNode ts = o.putArray("tokens"), lps = o.putArray("token_logprobs"), tops = o.putArray("top_logprobs"), offs = o.putArray("text_offset");
    int offset = textOffset;
    for (GeneratedLogprobs lp : tokens) {
      String token = lp.chosen().token();
      ts.add(token);
      lps.add(lp.chosen().logprob());
      ObjectNode top = tops.addObject();
      for (GeneratedLogprobs.Candidate c : lp.top()) if (!top.has(c.token())) top.put(c.token(), c.logprob());
      if (!top.has(token)) top.put(token, lp.chosen().logprob());
      offs.add(offset);
      offset += token.length();
    }
    return o;
  }

  /** Characters {@link #completionLogprobs} advances the text offset by for {@code tokens}. */
  static int textLength(List<GeneratedLogprobs> tokens) {
    int n = 0;
    for (GeneratedLogprobs lp : tokens) n += lp.chosen().token().length();
    return n;
  }
}
