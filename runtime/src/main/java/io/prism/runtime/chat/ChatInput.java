package io.prism.runtime.chat;

import io.prism.runtime.format.Json;
import io.prism.runtime.format.ModelFormatException;
import java.util.List;
import java.util.Map;

/**
 * A chat conversation to render with a model's chat template, as it travels from the HTTP node to
 * the node that hosts the model (it crosses nodes serialized, so it holds JSON text, not a tree).
 *
 * @param messagesJson a JSON array of message objects as the OpenAI API carries them: {@code role},
 *     {@code content} (a string or null; text parts already joined), and when present {@code
 *     name}, {@code tool_calls}, {@code tool_call_id}, {@code reasoning_content}, passed to the
 *     template unchanged
 * @param toolsJson a JSON array of tool definitions ({@code {"type":"function","function":{...}}}),
 *     or null for none
 * @param documentsJson a JSON array of documents for retrieval-augmented templates, or null
 * @param addGenerationPrompt whether the template should open the assistant's turn
 * @param variablesJson a JSON object of extra template variables (vLLM's {@code
 *     chat_template_kwargs}, e.g. {@code {"enable_thinking": false}}), or null
 */
public record ChatInput(String messagesJson, String toolsJson, String documentsJson, boolean addGenerationPrompt, String variablesJson) {
  /** @throws IllegalArgumentException when {@code messagesJson} is null */
  public ChatInput {
    if (messagesJson == null) throw new IllegalArgumentException("messagesJson must not be null");
  }

  /** Messages only, no tools, documents or extra variables. */
  public ChatInput(String messagesJson, boolean addGenerationPrompt) {
    this(messagesJson, null, null, addGenerationPrompt, null);
  }

  /**
   * The messages as plain Java values (maps in insertion order, lists, strings, numbers, booleans, null).
   *
   * @throws IllegalArgumentException when the text is not a JSON array of objects
   */
  @SuppressWarnings("unchecked")
  public List<Map<String, Object>> messages() {
    Object o = parse(messagesJson, "messages");
    if (!(o instanceof List<?> l)) throw new IllegalArgumentException("messages must be a JSON array");
    for (Object m : l) if (!(m instanceof Map<?, ?>)) throw new IllegalArgumentException("every message must be a JSON object");
    return (List<Map<String, Object>>) o;
  }

  /** The tools, or null. */
  public Object tools() {
    return toolsJson == null ? null : parse(toolsJson, "tools");
  }

  /** The documents, or null. */
  public Object documents() {
    return documentsJson == null ? null : parse(documentsJson, "documents");
  }

  /** The extra variables (empty when none). */
  @SuppressWarnings("unchecked")
  public Map<String, Object> variables() {
    if (variablesJson == null) return Map.of();
    Object o = parse(variablesJson, "chat_template_kwargs");
    if (!(o instanceof Map<?, ?>)) throw new IllegalArgumentException("chat_template_kwargs must be a JSON object");
    return (Map<String, Object>) o;
  }

  /** Today's rendering for a model without a template: the messages' contents joined by newlines. */
  public String plainText() {
    StringBuilder sb = new StringBuilder();
    List<Map<String, Object>> ms = messages();
    for (int i = 0; i < ms.size(); i++) {
      if (i > 0) sb.append('\n');
      Object c = ms.get(i).get("content");
      if (c != null) sb.append(c);
    }
    return sb.toString();
  }

  private static Object parse(String json, String what) {
    try {
      return Json.parse(json);
    } catch (ModelFormatException e) {
      throw new IllegalArgumentException(what + " is not valid JSON: " + e.getMessage(), e);
    }
  }
}
