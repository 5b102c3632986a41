package io.prism.http.openai;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.prism.http.Json;

/**
 * The JSON bodies of OpenAI completion responses: {@code text_completion} for {@code
 * /v1/completions}, {@code chat.completion} / {@code chat.completion.chunk} for the chat endpoint.
 * Stateless.
 */
final class ResponseShapes {
  private ResponseShapes() {}

  /** Token counts of a finished request. */
  record Usage(int promptTokens, int completionTokens) {
    ObjectNode toJson() {
      ObjectNode u = Json.MAPPER.createObjectNode();
      u.put("prompt_tokens", promptTokens);
      u.put("completion_tokens", completionTokens);
      u.put("total_tokens", promptTokens + completionTokens);
      return u;
    }
  }

  private static ObjectNode header(boolean chat, boolean chunk, String id, long created, String model) {
    ObjectNode o = Json.MAPPER.createObjectNode();
    o.put("id", id);
    o.put("object", chat ? (chunk ? "chat.completion.chunk" : "chat.completion") : "text_completion");
    o.put("created", created);
    o.put("model", model);
    return o;
  }

  /** A non-streaming response. */
  static ObjectNode full(boolean chat, String id, long created, String model, String text, String finishReason, Usage usage) {
    ObjectNode o = header(chat, false, id, created, model);
    ObjectNode choice = o.putArray("choices").addObject();
    choice.put("index", 0);
    if (chat) {
      ObjectNode m = choice.putObject("message");
      m.put("role", "assistant");
      m.put("content", text);
    } else {
      choice.put("text", text);
    }
    choice.putNull("logprobs");
    choice.put("finish_reason", finishReason);
    o.set("usage", usage.toJson());
    return o;
  }

  /**
   * One streamed chunk.
   *
   * @param text new text (may be empty for a finishing chunk)
   * @param finishReason {@code null} except on the last content chunk
   * @param role true for the chat stream's first chunk ({@code delta.role = "assistant"})
   */
  static ObjectNode chunk(boolean chat, String id, long created, String model, String text, String finishReason, boolean role) {
    ObjectNode o = header(chat, true, id, created, model);
    ObjectNode choice = o.putArray("choices").addObject();
    choice.put("index", 0);
    if (chat) {
      ObjectNode delta = choice.putObject("delta");
      if (role) delta.put("role", "assistant");
      if (role || !text.isEmpty()) delta.put("content", text);
    } else {
      choice.put("text", text);
    }
    choice.putNull("logprobs");
    if (finishReason == null) choice.putNull("finish_reason");
    else choice.put("finish_reason", finishReason);
    return o;
  }

  /** The final usage chunk of a stream with {@code stream_options.include_usage} (empty choices). */
  static ObjectNode usageChunk(boolean chat, String id, long created, String model, Usage usage) {
    ObjectNode o = header(chat, true, id, created, model);
    ArrayNode choices = o.putArray("choices");
    assert choices.isEmpty();
    o.set("usage", usage.toJson());
    return o;
  }
}
