package io.prism.http.openai;

import com.fasterxml.jackson.databind.JsonNode;
import io.prism.http.ApiError;
import io.prism.http.ApiException;
import io.prism.runtime.chat.ChatInput;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.prism.runtime.sampling.SamplingParams;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * Validates OpenAI request bodies into {@link CompletionRequest}s. Unknown fields are ignored;
 * a known field of the wrong type or out of range is a 400 whose {@code param} names it.
 *
 * <p>Defaults (OpenAI's): {@code temperature} 1, {@code top_p} 1, {@code max_tokens} 16 for
 * completions, up to the context for chat; {@code n} must be 1. Extensions (vLLM's): {@code top_k}
 * (0 or -1 disable) and {@code ignore_eos}.
 */
public final class RequestParser {
  private static final int DEFAULT_COMPLETION_MAX_TOKENS = 16;
  private static final int MAX_STOP_STRINGS = 16;
  private static final Set<String> ROLES = Set.of("system", "developer", "user", "assistant", "tool");

  private RequestParser() {}

  /** {@code POST /v1/completions}. */
  public static CompletionRequest completion(JsonNode body) {
    String model = model(body);
    JsonNode p = body.get("prompt");
    String prompt = null;
    int[] tokens = null;
    if (p == null || p.isNull()) throw bad("prompt is required", "prompt");
    if (p.isTextual()) {
      prompt = p.asText();
    } else if (p.isArray()) {
      if (p.isEmpty()) throw bad("prompt must not be an empty array", "prompt");
      if (p.get(0).isTextual() || p.get(0).isArray()) {
        if (p.size() != 1) throw bad("only one prompt per request is supported; send one request per prompt", "prompt");
        if (p.get(0).isTextual()) prompt = p.get(0).asText();
        else tokens = tokenIds(p.get(0));
      } else {
        tokens = tokenIds(p);
      }
    } else {
      throw bad("prompt must be a string, an array of one string, or an array of token ids", "prompt");
    }
    Integer maxTokens = optPositiveInt(body, "max_tokens");
    int limit = maxTokens == null ? DEFAULT_COMPLETION_MAX_TOKENS : maxTokens;
    StructuredRequests.Parsed so = StructuredRequests.parse(body, false);
    return new CompletionRequest(false, model, prompt, tokens, null, params(body, limit), false, stream(body), includeUsage(body), so.structured(), false);
  }

  /**
   * {@code POST /v1/chat/completions}: the messages travel to the model's GPU node as a {@link
   * ChatInput} and are rendered there with the model's own chat template.
   */
  public static CompletionRequest chat(JsonNode body) {
    String model = model(body);
    ChatInput chat = chatInput(body);
    StructuredRequests.Parsed so = StructuredRequests.parse(body, true);
    if (so.dropTools()) chat = new ChatInput(chat.messagesJson(), null, chat.documentsJson(), chat.addGenerationPrompt(), chat.variablesJson());
    Integer maxTokens = optPositiveInt(body, "max_completion_tokens");
    if (maxTokens == null) maxTokens = optPositiveInt(body, "max_tokens");
    SamplingParams params = params(body, maxTokens == null ? 1 : maxTokens);
    return new CompletionRequest(true, model, null, null, chat, params, maxTokens == null, stream(body), includeUsage(body), so.structured(),
        so.toolCalls());
  }

  /**
   * The chat fields of a body ({@code messages}, {@code tools}, {@code documents}, {@code
   * add_generation_prompt} (default true, as vLLM), {@code chat_template_kwargs}) checked and
   * normalised: each message keeps {@code role} ({@code developer} becomes {@code system}, the role
   * chat templates know), {@code content} (a string, text parts joined, or
   * null when absent or null), and {@code name}, {@code tool_calls}, {@code tool_call_id}, {@code
   * reasoning_content} when present. Also used by {@code POST /tokenize}.
   */
  public static ChatInput chatInput(JsonNode body) {
    JsonNode ms = body.get("messages");
    if (ms == null || !ms.isArray() || ms.isEmpty()) throw bad("messages must be a non-empty array", "messages");
    ArrayNode messages = JsonNodeFactory.instance.arrayNode();
    for (int i = 0; i < ms.size(); i++) messages.add(message(ms.get(i), "messages[" + i + "]"));
    String tools = optArray(body, "tools");
    String documents = optArray(body, "documents");
    boolean addGenerationPrompt = optBoolean(body, "add_generation_prompt", true);
    JsonNode kw = body.get("chat_template_kwargs");
    if (kw != null && !kw.isNull() && !kw.isObject()) throw bad("chat_template_kwargs must be an object", "chat_template_kwargs");
    return new ChatInput(messages.toString(), tools, documents, addGenerationPrompt, kw == null || kw.isNull() ? null : kw.toString());
  }

  private static String optArray(JsonNode body, String field) {
    JsonNode v = body.get(field);
    if (v == null || v.isNull()) return null;
    if (!v.isArray()) throw bad(field + " must be an array", field);
    return v.toString();
  }

  private static ObjectNode message(JsonNode m, String where) {
    if (!m.isObject()) throw bad(where + " must be an object with role and content", where);
    JsonNode role = m.get("role");
    if (role == null || !role.isTextual() || !ROLES.contains(role.asText())) {
      throw bad(where + ".role must be one of " + ROLES, where + ".role");
    }
    ObjectNode out = JsonNodeFactory.instance.objectNode();
    out.put("role", role.asText().equals("developer") ? "system" : role.asText()); // templates know system, not OpenAI's developer
    JsonNode c = m.get("content");
    if (c == null || c.isNull()) {
      out.putNull("content");
    } else if (c.isTextual()) {
      out.put("content", c.asText());
    } else if (c.isArray()) {
      StringBuilder sb = new StringBuilder();
      for (int i = 0; i < c.size(); i++) {
        JsonNode part = c.get(i);
        if (!part.isObject() || !"text".equals(part.path("type").asText()) || !part.path("text").isTextual()) {
          throw bad(where + ".content[" + i + "] must be a text part {\"type\":\"text\",\"text\":...}; other parts are not supported",
              where + ".content");
        }
        sb.append(part.get("text").asText());
      }
      out.put("content", sb.toString());
    } else {
      throw bad(where + ".content must be a string or an array of text parts", where + ".content");
    }
    for (String f : List.of("name", "tool_call_id", "reasoning_content")) {
      JsonNode v = m.get(f);
      if (v == null || v.isNull()) continue;
      if (!v.isTextual()) throw bad(where + "." + f + " must be a string", where + "." + f);
      out.put(f, v.asText());
    }
    JsonNode calls = m.get("tool_calls");
    if (calls != null && !calls.isNull()) {
      if (!calls.isArray()) throw bad(where + ".tool_calls must be an array", where + ".tool_calls");
      out.set("tool_calls", calls);
    }
    return out;
  }

  private static String model(JsonNode body) {
    JsonNode m = body.get("model");
    if (m == null || !m.isTextual() || m.asText().isBlank()) throw bad("model is required and must be a string", "model");
    return m.asText();
  }

  private static int[] tokenIds(JsonNode a) {
    if (a.isEmpty()) throw bad("prompt must not be an empty array of token ids", "prompt");
    int[] out = new int[a.size()];
    for (int i = 0; i < a.size(); i++) {
      JsonNode t = a.get(i);
      if (!t.canConvertToInt() || !t.isIntegralNumber() || t.asInt() < 0) throw bad("prompt token ids must be integers >= 0", "prompt");
      out[i] = t.asInt();
    }
    return out;
  }

  private static SamplingParams params(JsonNode body, int maxTokens) {
    Integer n = optPositiveInt(body, "n");
    if (n != null && n != 1) throw bad("only n = 1 is supported", "n");
    double temperature = optNumber(body, "temperature", 1.0);
    if (!(temperature >= 0 && temperature <= 2)) throw bad("temperature must be between 0 and 2, got " + temperature, "temperature");
    double topP = optNumber(body, "top_p", 1.0);
    if (!(topP > 0 && topP <= 1)) throw bad("top_p must be in (0, 1], got " + topP, "top_p");
    int topK = 0;
    JsonNode k = body.get("top_k");
    if (k != null && !k.isNull()) {
      if (!k.isIntegralNumber() || !k.canConvertToInt() || k.asInt() < -1) throw bad("top_k must be an integer >= -1", "top_k");
      topK = Math.max(0, k.asInt());
    }
    Long seed = null;
    JsonNode s = body.get("seed");
    if (s != null && !s.isNull()) {
      if (!s.isIntegralNumber() || !s.canConvertToLong()) throw bad("seed must be an integer", "seed");
      seed = s.asLong();
    }
    boolean ignoreEos = optBoolean(body, "ignore_eos", false);
    return new SamplingParams((float) temperature, (float) topP, topK, seed, maxTokens, stops(body), ignoreEos);
  }

  private static List<String> stops(JsonNode body) {
    JsonNode s = body.get("stop");
    if (s == null || s.isNull()) return List.of();
    List<String> out = new ArrayList<>();
    if (s.isTextual()) {
      out.add(s.asText());
    } else if (s.isArray()) {
      for (JsonNode x : s) {
        if (!x.isTextual()) throw bad("stop must be a string or an array of strings", "stop");
        out.add(x.asText());
      }
    } else {
      throw bad("stop must be a string or an array of strings", "stop");
    }
    if (out.size() > MAX_STOP_STRINGS) throw bad("at most " + MAX_STOP_STRINGS + " stop strings are supported", "stop");
    for (String x : out) if (x.isEmpty()) throw bad("stop strings must not be empty", "stop");
    return out;
  }

  private static boolean stream(JsonNode body) {
    return optBoolean(body, "stream", false);
  }

  private static boolean includeUsage(JsonNode body) {
    JsonNode so = body.get("stream_options");
    if (so == null || so.isNull()) return false;
    if (!so.isObject()) throw bad("stream_options must be an object", "stream_options");
    JsonNode iu = so.get("include_usage");
    if (iu == null || iu.isNull()) return false;
    if (!iu.isBoolean()) throw bad("stream_options.include_usage must be a boolean", "stream_options.include_usage");
    return iu.asBoolean();
  }

  private static Integer optPositiveInt(JsonNode body, String field) {
    JsonNode v = body.get(field);
    if (v == null || v.isNull()) return null;
    if (!v.isIntegralNumber() || !v.canConvertToInt() || v.asInt() < 1) throw bad(field + " must be an integer >= 1", field);
    return v.asInt();
  }

  private static double optNumber(JsonNode body, String field, double dflt) {
    JsonNode v = body.get(field);
    if (v == null || v.isNull()) return dflt;
    if (!v.isNumber()) throw bad(field + " must be a number", field);
    return v.asDouble();
  }

  private static boolean optBoolean(JsonNode body, String field, boolean dflt) {
    JsonNode v = body.get(field);
    if (v == null || v.isNull()) return dflt;
    if (!v.isBoolean()) throw bad(field + " must be a boolean", field);
    return v.asBoolean();
  }

  private static ApiException bad(String message, String param) {
    return new ApiException(ApiError.invalid(message, param));
  }
}
