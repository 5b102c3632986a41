package io.prism.http.openai;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.prism.actors.placement.ModelInfo;
import io.prism.actors.frontend.PrismApi;
import io.prism.http.ApiError;
import io.prism.http.ApiException;
import io.prism.http.ClientConnection;
import io.prism.http.Json;
import io.prism.http.PrismMetrics;
import io.prism.runtime.engine.Rejection;
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
 * never by the {@code Accept} header. A completion whose client goes away ({@link ClientConnection})
 * or whose {@code prism.http.request-timeout} fires first is cancelled. A body that fails parsing
 * is counted as rejected ({@code invalid_request}) in {@link PrismMetrics}.
 */
public final class OpenAiRoutes extends AllDirectives {
  private final PrismApi api;
  private final CompletionHandler handler;
  private final long maxBodyBytes;
  private final PrismMetrics metrics;

  /**
   * @param maxBodyBytes largest request body; larger ones get 413
   * @param metrics counts the requests whose body fails parsing
   */
  public OpenAiRoutes(PrismApi api, CompletionHandler handler, long maxBodyBytes, PrismMetrics metrics) {
    this.api = api;
    this.handler = handler;
    this.maxBodyBytes = maxBodyBytes;
    this.metrics = metrics;
  }

  /** {@code /v1/*}. */
  public Route route() {
    return pathPrefix("v1", () -> concat(
        path("models", () -> get(() -> completeWithFuture(api.models().thenApply(OpenAiRoutes::modelList)))),
        path(PathMatchers.segment("models").slash(PathMatchers.segment()), id -> get(() ->
            completeWithFuture(api.models().thenApply(ms -> model(ms, id))))),
        path("completions", () -> post(() -> body(b -> completion(b, RequestParser::completion)))),
        path(PathMatchers.segment("chat").slash("completions"), () -> post(() -> body(b -> completion(b, RequestParser::chat))))));
  }

  /** Parses {@code body} and serves it, cancelling it when its client goes away or its request timeout fires. */
  private Route completion(String body, Function<JsonNode, CompletionRequest> parser) {
    CompletionRequest req;
    JsonNode json = null;
    try {
      json = Json.parse(body);
      req = parser.apply(json);
    } catch (ApiException e) {
      String model = json != null && json.path("model").isTextual() ? json.path("model").asText() : "";
      metrics.rejected(model, Rejection.Kind.INVALID_REQUEST);
      throw e;
    }
    return optionalAttribute(ClientConnection.KEY, connection -> {
      CompletionHandler.Call call = handler.start(req, connection);
      return withRequestTimeoutResponse(timedOut -> call.timedOut(), () -> completeWithFuture(call.response()));
    });
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
    ArrayNode instances = o.putArray("instances"); // Prism's extension: the GPUs serving it (several with replicas)
    m.instances().forEach(g -> instances.add(g.entityId()));
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
