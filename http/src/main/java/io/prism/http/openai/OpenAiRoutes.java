package io.prism.http.openai;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.prism.actors.placement.ModelInfo;
import io.prism.actors.frontend.PrismApi;
import io.prism.http.ApiError;
import io.prism.http.ApiException;
import io.prism.http.Json;
import java.util.List;
import java.util.function.Function;
import org.apache.pekko.http.javadsl.model.ContentTypes;
import org.apache.pekko.http.javadsl.model.HttpResponse;
import org.apache.pekko.http.javadsl.server.AllDirectives;
import org.apache.pekko.http.javadsl.server.PathMatchers;
import org.apache.pekko.http.javadsl.server.Route;
import org.apache.pekko.http.javadsl.unmarshalling.Unmarshaller;

/**
 * The OpenAI-compatible endpoints: {@code GET /v1/models}, {@code GET /v1/models/{id}}, {@code POST
 * /v1/completions}, {@code POST /v1/chat/completions}. Thin: parsing is {@link RequestParser}'s,
 * execution {@link CompletionHandler}'s. Streaming is decided by the body's {@code stream} field,
 * never by the {@code Accept} header.
 */
public final class OpenAiRoutes extends AllDirectives {
  private final PrismApi api;
  private final CompletionHandler handler;
  private final long maxBodyBytes;

  /** @param maxBodyBytes largest request body; larger ones get 413 */
  public OpenAiRoutes(PrismApi api, CompletionHandler handler, long maxBodyBytes) {
    this.api = api;
    this.handler = handler;
    this.maxBodyBytes = maxBodyBytes;
  }

  /** {@code /v1/*}. */
  public Route route() {
    return pathPrefix("v1", () -> concat(
        path("models", () -> get(() -> completeWithFuture(api.models().thenApply(OpenAiRoutes::modelList)))),
        path(PathMatchers.segment("models").slash(PathMatchers.segment()), id -> get(() ->
            completeWithFuture(api.models().thenApply(ms -> model(ms, id))))),
        path("completions", () -> post(() -> body(b -> completeWithFuture(handler.handle(RequestParser.completion(Json.parse(b))))))),
        path(PathMatchers.segment("chat").slash("completions"), () -> post(() ->
            body(b -> completeWithFuture(handler.handle(RequestParser.chat(Json.parse(b)))))))));
  }

  private Route body(Function<String, Route> inner) {
    return withSizeLimit(maxBodyBytes, () -> entity(Unmarshaller.entityToString(), inner));
  }

  /** A model object: only servable models (loading or ready) are listed. */
  static ObjectNode modelJson(ModelInfo m) {
    ObjectNode o = Json.MAPPER.createObjectNode();
    o.put("id", m.id());
    o.put("object", "model");
    o.put("created", m.createdEpochSeconds());
    o.put("owned_by", "prism");
    if (m.maxModelLen() > 0) o.put("max_model_len", m.maxModelLen());
    else o.putNull("max_model_len");
    return o;
  }

  private static HttpResponse modelList(List<ModelInfo> models) {
    ObjectNode root = Json.MAPPER.createObjectNode();
    root.put("object", "list");
    ArrayNode data = root.putArray("data");
    for (ModelInfo m : models) if (m.state() != ModelInfo.State.FAILED) data.add(modelJson(m));
    return HttpResponse.create().withEntity(ContentTypes.APPLICATION_JSON, Json.bytes(root));
  }

  private static HttpResponse model(List<ModelInfo> models, String id) {
    for (ModelInfo m : models) {
      if (m.id().equals(id) && m.state() != ModelInfo.State.FAILED) {
        return HttpResponse.create().withEntity(ContentTypes.APPLICATION_JSON, Json.bytes(modelJson(m)));
      }
    }
    throw new ApiException(new ApiError(404, "invalid_request_error", "The model '" + id + "' does not exist", "model", "model_not_found", false));
  }
}
