package io.prism.http.openai;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.prism.actors.frontend.PrismApi;
import io.prism.actors.frontend.TokenizeReply;
import io.prism.actors.frontend.TokenizeRequest;
import io.prism.http.ApiError;
import io.prism.http.ApiException;
import io.prism.http.Json;
import org.apache.pekko.http.javadsl.model.ContentTypes;
import org.apache.pekko.http.javadsl.model.HttpResponse;
import org.apache.pekko.http.javadsl.server.AllDirectives;
import org.apache.pekko.http.javadsl.server.Route;
import org.apache.pekko.http.javadsl.unmarshalling.Unmarshaller;

/**
 * {@code POST /tokenize} and {@code POST /detokenize}, shaped as vLLM's, so a user can see exactly
 * what a prompt or a chat becomes for a model (its own tokenizer and chat template, on the node
 * that hosts it):
 *
 * <ul>
 *   <li>{@code {"model", "prompt", "add_special_tokens"?}} (default true: BOS first where the model
 *       has one) or {@code {"model", "messages", "add_generation_prompt"?, "tools"?,
 *       "chat_template_kwargs"?}} (rendered as a chat completion's prompt; {@code
 *       add_generation_prompt} default true) → {@code {"count", "max_model_len", "tokens"}};
 *   <li>{@code {"model", "tokens"}} → {@code {"prompt"}} (special tokens such as {@code <|im_start|>}
 *       written as their text, as vLLM does, so a chat's tokens read back as its rendered prompt).
 * </ul>
 *
 * <p>Errors in OpenAI's envelope: unknown model 404, a malformed body or a field of the wrong type
 * 400 naming it, a chat template that raises 400 on {@code messages} (naming the template and the
 * line), a model still loading 503 with {@code Retry-After}, no answer within {@code
 * prism.node.ask-timeout} 503.
 */
public final class TokenizeRoutes extends AllDirectives {
  private final PrismApi api;
  private final long maxBodyBytes;

  /** @param maxBodyBytes largest request body; larger ones get 413 */
  public TokenizeRoutes(PrismApi api, long maxBodyBytes) {
    this.api = api;
    this.maxBodyBytes = maxBodyBytes;
  }

  /** {@code /tokenize} and {@code /detokenize}. */
  public Route route() {
    return concat(
        path("tokenize", () -> post(() -> body(b -> ask(tokenizeRequest(Json.parse(b)))))),
        path("detokenize", () -> post(() -> body(b -> ask(detokenizeRequest(Json.parse(b)))))));
  }

  private Route body(java.util.function.Function<String, Route> inner) {
    return withSizeLimit(maxBodyBytes, () -> entity(Unmarshaller.entityToString(), inner));
  }

  private Route ask(TokenizeRequest r) {
    return completeWithFuture(api.tokenize(r).thenApply(reply -> response(reply, r)));
  }

  /** A {@code /tokenize} body as a request. */
  static TokenizeRequest tokenizeRequest(JsonNode body) {
    String model = model(body);
    boolean hasPrompt = body.hasNonNull("prompt"), hasMessages = body.hasNonNull("messages");
    if (hasPrompt == hasMessages) throw bad("give exactly one of prompt and messages", hasPrompt ? "messages" : "prompt");
    if (hasMessages) return new TokenizeRequest(model, null, RequestParser.chatInput(body), null, false);
    JsonNode p = body.get("prompt");
    if (!p.isTextual()) throw bad("prompt must be a string", "prompt");
    JsonNode special = body.get("add_special_tokens");
    if (special != null && !special.isNull() && !special.isBoolean()) throw bad("add_special_tokens must be a boolean", "add_special_tokens");
    return new TokenizeRequest(model, p.asText(), null, null, special == null || special.isNull() || special.asBoolean());
  }

  /** A {@code /detokenize} body as a request. */
  static TokenizeRequest detokenizeRequest(JsonNode body) {
    String model = model(body);
    JsonNode t = body.get("tokens");
    if (t == null || !t.isArray()) throw bad("tokens must be an array of token ids", "tokens");
    int[] ids = new int[t.size()];
    for (int i = 0; i < ids.length; i++) {
      JsonNode x = t.get(i);
      if (!x.isIntegralNumber() || !x.canConvertToInt() || x.asInt() < 0) throw bad("tokens must be integers >= 0", "tokens");
      ids[i] = x.asInt();
    }
    return new TokenizeRequest(model, null, null, ids, false);
  }

  private static HttpResponse response(TokenizeReply reply, TokenizeRequest r) {
    ObjectNode o = Json.MAPPER.createObjectNode();
    if (reply instanceof TokenizeReply.Tokens t) {
      o.put("count", t.tokens().length);
      o.put("max_model_len", t.maxModelLen());
      ArrayNode a = o.putArray("tokens");
      for (int id : t.tokens()) a.add(id);
      o.putNull("token_strs");
    } else if (reply instanceof TokenizeReply.Text t) {
      o.put("prompt", t.prompt());
    } else if (reply instanceof TokenizeReply.Refused f) {
      return ApiError.of(f.rejection(), r.chat() != null ? "messages" : "prompt").toResponse();
    }
    return HttpResponse.create().withEntity(ContentTypes.APPLICATION_JSON, Json.bytes(o));
  }

  private static String model(JsonNode body) {
    if (body == null || !body.isObject()) throw bad("the body must be a JSON object", null);
    JsonNode m = body.get("model");
    if (m == null || !m.isTextual() || m.asText().isBlank()) throw bad("model is required and must be a string", "model");
    return m.asText();
  }

  private static ApiException bad(String message, String param) {
    return new ApiException(ApiError.invalid(message, param));
  }
}
