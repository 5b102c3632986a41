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
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Validates OpenAI request bodies into {@link CompletionRequest}s. Every field of a body is either
 * implemented, a documented no-op that OpenAI allows ({@link #CHAT_NO_OPS}, {@link
 * #COMPLETION_NO_OPS}), or refused with a 400 whose {@code param} names it: an unknown field, a
 * field Prism does not implement, a known field of the wrong type or out of range (the README's
 * field table lists each field's state).
 *
 * <p>Defaults (OpenAI's): {@code temperature} 1, {@code top_p} 1, {@code max_tokens} 16 for
 * completions, up to the context for chat, {@code n} 1, no penalties, no log probabilities.
 * Extensions (vLLM's): {@code top_k} (0 or -1 disable), {@code min_p}, {@code repetition_penalty},
 * {@code ignore_eos}; chat also {@code add_generation_prompt}, {@code chat_template_kwargs},
 * {@code documents}. Log probabilities: chat {@code logprobs} (boolean) with {@code top_logprobs}
 * in [0, 20], which requires {@code logprobs: true}; completions {@code logprobs} an integer in
 * [0, 5]. {@code logit_bias}: an object from token ids (integer strings) to values in [-100, 100].
 * {@code n} in [1, 128]; completions' {@code best_of} only equal to {@code n} (choosing the best of
 * more candidates is not implemented).
 */
public final class RequestParser {
  private static final int DEFAULT_COMPLETION_MAX_TOKENS = 16;
  private static final int MAX_STOP_STRINGS = 16;
  private static final Set<String> ROLES = Set.of("system", "developer", "user", "assistant", "tool");
  private static final int MAX_COMPLETION_LOGPROBS = 5;
  /** Fields both endpoints implement. */
  private static final Set<String> COMMON = Set.of("model", "max_tokens", "temperature", "top_p", "top_k", "min_p", "seed", "stop", "stream",
      "stream_options", "n", "ignore_eos", "presence_penalty", "frequency_penalty", "repetition_penalty", "logit_bias", "logprobs");
  /** Chat fields implemented (beside {@link #COMMON}). */
  private static final Set<String> CHAT_FIELDS = Set.of("messages", "max_completion_tokens", "top_logprobs", "tools", "tool_choice",
      "parallel_tool_calls", "response_format", "documents", "add_generation_prompt", "chat_template_kwargs");
  /** Completions fields implemented (beside {@link #COMMON}). */
  private static final Set<String> COMPLETION_FIELDS = Set.of("prompt", "best_of", "echo", "suffix", "response_format");
  /**
   * Chat fields accepted and ignored, as OpenAI allows: they change nothing in the output ({@code
   * user}, {@code safety_identifier}: end-user ids for abuse monitoring; {@code metadata}, {@code
   * store}: stored completions, which Prism does not keep; {@code service_tier}: billing tier;
   * {@code prompt_cache_key}, {@code prompt_cache_retention}: Prism caches prefixes automatically;
   * {@code prediction}: predicted outputs only speed generation up).
   */
  public static final Set<String> CHAT_NO_OPS = Set.of("user", "safety_identifier", "metadata", "store", "service_tier", "prompt_cache_key",
      "prompt_cache_retention", "prediction");
  /** Completions fields accepted and ignored: {@code user} (an end-user id for abuse monitoring). */
  public static final Set<String> COMPLETION_NO_OPS = Set.of("user");

  private RequestParser() {}

  /** {@code POST /v1/completions}. */
  public static CompletionRequest completion(JsonNode body) {
    knownFields(body, COMPLETION_FIELDS, COMPLETION_NO_OPS);
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
    SamplingParams params = params(body, limit);
    Integer bestOf = optPositiveInt(body, "best_of");
    if (bestOf != null && bestOf != params.n()) {
      throw bad("best_of other than n is not supported (choosing the best of more candidates is not implemented); omit it or set it to n", "best_of");
    }
    if (optBoolean(body, "echo", false)) throw bad("echo is not supported", "echo");
    JsonNode suffix = body.get("suffix");
    if (suffix != null && !suffix.isNull() && !(suffix.isTextual() && suffix.asText().isEmpty())) throw bad("suffix is not supported", "suffix");
    Integer lp = optIntInRange(body, "logprobs", 0, MAX_COMPLETION_LOGPROBS);
    if (lp != null) params = params.withLogprobs(lp);
    StructuredRequests.Parsed so = StructuredRequests.parse(body, false);
    return new CompletionRequest(false, model, prompt, tokens, null, params, false, stream(body), includeUsage(body), so.structured(), false);
  }

  /**
   * {@code POST /v1/chat/completions}: the messages travel to the model's GPU node as a {@link
   * ChatInput} and are rendered there with the model's own chat template.
   */
  public static CompletionRequest chat(JsonNode body) {
    knownFields(body, CHAT_FIELDS, CHAT_NO_OPS);
    String model = model(body);
    ChatInput chat = chatInput(body);
    StructuredRequests.Parsed so = StructuredRequests.parse(body, true);
    if (so.dropTools()) chat = new ChatInput(chat.messagesJson(), null, chat.documentsJson(), chat.addGenerationPrompt(), chat.variablesJson());
    Integer maxTokens = optPositiveInt(body, "max_completion_tokens");
    if (maxTokens == null) maxTokens = optPositiveInt(body, "max_tokens");
    SamplingParams params = params(body, maxTokens == null ? 1 : maxTokens);
    boolean logprobs = optBoolean(body, "logprobs", false);
    Integer top = optIntInRange(body, "top_logprobs", 0, SamplingParams.MAX_TOP_LOGPROBS);
    if (top != null && !logprobs) throw bad("top_logprobs requires logprobs to be true", "top_logprobs");
    if (logprobs) params = params.withLogprobs(top == null ? 0 : top);
    if (so.toolCalls() && params.n() > 1) throw bad("n > 1 is not supported together with tools", "n");
    return new CompletionRequest(true, model, null, null, chat, params, maxTokens == null, stream(body), includeUsage(body), so.structured(),
        so.toolCalls());
  }

  /**
   * The chat fields of a body ({@code messages}, {@code tools}, {@code documents}, {@code
   * add_generation_prompt} (default true, as vLLM), {@code chat_template_kwargs}) checked and
   * normalised: each message keeps {@code role} ({@code developer} becomes {@code system}, the role
   * chat templates know), {@code content} (a string, text parts joined; {@code ""} when
   * absent or null, as vLLM does), and {@code name}, {@code tool_calls}, {@code tool_call_id}, {@code
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
      // "" as vLLM's chat parsing makes it: both official clients send an assistant tool-call message
      // back with content null, and templates that concatenate it (Qwen3's '\n' + content) would
      // otherwise put the text "null" in the prompt (Python's Jinja raises there)
      out.put("content", "");
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

  /** Refuses any field outside {@link #COMMON}, {@code implemented} and {@code noOps}, naming it. */
  private static void knownFields(JsonNode body, Set<String> implemented, Set<String> noOps) {
    if (!body.isObject()) throw bad("the request body must be a JSON object", null);
    var names = body.fieldNames();
    while (names.hasNext()) {
      String f = names.next();
      if (COMMON.contains(f) || implemented.contains(f) || noOps.contains(f)) continue;
      throw bad("unsupported field " + f + " (Prism refuses fields it does not implement rather than ignoring them)", f);
    }
  }

  private static SamplingParams params(JsonNode body, int maxTokens) {
    Integer n = optIntInRange(body, "n", 1, SamplingParams.MAX_N);
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
    double minP = optNumber(body, "min_p", 0.0);
    if (!(minP >= 0 && minP <= 1)) throw bad("min_p must be between 0 and 1, got " + minP, "min_p");
    double presence = optNumber(body, "presence_penalty", 0.0);
    if (!(presence >= -2 && presence <= 2)) throw bad("presence_penalty must be between -2 and 2, got " + presence, "presence_penalty");
    double frequency = optNumber(body, "frequency_penalty", 0.0);
    if (!(frequency >= -2 && frequency <= 2)) throw bad("frequency_penalty must be between -2 and 2, got " + frequency, "frequency_penalty");
    double repetition = optNumber(body, "repetition_penalty", 1.0);
    if (!(repetition > 0) || Double.isInfinite(repetition)) throw bad("repetition_penalty must be > 0, got " + repetition, "repetition_penalty");
    return new SamplingParams((float) temperature, (float) topP, topK, seed, maxTokens, stops(body), ignoreEos)
        .withProcessing((float) minP, (float) presence, (float) frequency, (float) repetition, logitBias(body))
        .withN(n == null ? 1 : n);
  }

  /** {@code logit_bias}: an object from token ids (non-negative integers written as strings) to numbers in [-100, 100]. */
  private static Map<Integer, Float> logitBias(JsonNode body) {
    JsonNode b = body.get("logit_bias");
    if (b == null || b.isNull()) return Map.of();
    if (!b.isObject()) throw bad("logit_bias must be an object mapping token ids to bias values", "logit_bias");
    Map<Integer, Float> out = new HashMap<>();
    var fields = b.fields();
    while (fields.hasNext()) {
      var e = fields.next();
      int id;
      try {
        id = Integer.parseInt(e.getKey());
      } catch (NumberFormatException ex) {
        throw bad("logit_bias keys must be token ids (integers), got \"" + e.getKey() + "\"", "logit_bias");
      }
      if (id < 0 || !e.getKey().equals(Integer.toString(id))) throw bad("logit_bias keys must be token ids >= 0, got \"" + e.getKey() + "\"", "logit_bias");
      JsonNode v = e.getValue();
      if (!v.isNumber() || !(v.asDouble() >= -100 && v.asDouble() <= 100)) {
        throw bad("logit_bias values must be numbers between -100 and 100, got " + v + " for token " + id, "logit_bias");
      }
      out.put(id, (float) v.asDouble());
    }
    return out;
  }

  private static Integer optIntInRange(JsonNode body, String field, int min, int max) {
    JsonNode v = body.get(field);
    if (v == null || v.isNull()) return null;
    if (!v.isIntegralNumber() || !v.canConvertToInt() || v.asInt() < min || v.asInt() > max) {
      throw bad(field + " must be an integer between " + min + " and " + max + ", got " + v, field);
    }
    return v.asInt();
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
