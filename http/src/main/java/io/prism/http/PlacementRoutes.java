package io.prism.http;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.prism.actors.GpuId;
import io.prism.actors.frontend.PrismApi;
import io.prism.actors.placement.GlobalPlacementActor;
import io.prism.actors.placement.PlacementView;
import java.util.Map;
import org.apache.pekko.http.javadsl.model.ContentTypes;
import org.apache.pekko.http.javadsl.model.HttpResponse;
import org.apache.pekko.http.javadsl.server.AllDirectives;
import org.apache.pekko.http.javadsl.server.PathMatchers;
import org.apache.pekko.http.javadsl.server.Route;
import org.apache.pekko.http.javadsl.unmarshalling.Unmarshaller;

/**
 * The global level's operator endpoints (issue "The global level, live"):
 * <ul>
 *   <li>{@code GET /admin/placement}: per GPU its KVPR, budget, free bytes and models (token rate,
 *       KV bytes per token, weights, resident or evicted, queue); migrations in flight and recent;
 *       counters.
 *   <li>{@code POST /admin/placement/rebalance}: runs a placement round now; answers the view after it.
 *   <li>{@code POST /admin/models/{id}/move} with {@code {"gpu": "gpu-1@127.0.0.1:25520"}}: a manual
 *       live migration, answered when it is done (200 with its time) or failed. Errors in the OpenAI
 *       envelope: unknown model or GPU 404, model that does not fit or is busy 409, failed 503.
 * </ul>
 * Threading: runs on the HTTP dispatcher; the work is an ask to the placement singleton.
 */
final class PlacementRoutes extends AllDirectives {
  private final PrismApi api;
  private final long maxBodyBytes;

  PlacementRoutes(PrismApi api, long maxBodyBytes) {
    this.api = api;
    this.maxBodyBytes = maxBodyBytes;
  }

  Route route() {
    return pathPrefix("admin", () -> concat(
        path("placement", () -> get(() -> completeWithFuture(api.placementView().thenApply(PlacementRoutes::view)))),
        path(PathMatchers.segment("placement").slash("rebalance"), () -> post(() ->
            completeWithFuture(api.rebalance().thenApply(PlacementRoutes::view)))),
        path(PathMatchers.segment("models").slash(PathMatchers.segment()).slash("move"), id -> post(() ->
            withSizeLimit(maxBodyBytes, () -> entity(Unmarshaller.entityToString(), body -> {
              GpuId gpu = gpuOf(Json.parse(body));
              return completeWithFuture(api.move(id, gpu).thenApply(PlacementRoutes::moved));
            }))))));
  }

  private static GpuId gpuOf(JsonNode body) {
    JsonNode g = body.get("gpu");
    if (g == null || !g.isTextual()) throw new ApiException(ApiError.invalid("'gpu' must be a GPU id such as gpu-1@127.0.0.1:25520", "gpu"));
    try {
      return GpuId.parse(g.asText());
    } catch (IllegalArgumentException e) {
      throw new ApiException(ApiError.invalid(e.getMessage(), "gpu"));
    }
  }

  private static HttpResponse moved(GlobalPlacementActor.MoveReply reply) {
    if (reply instanceof GlobalPlacementActor.Moved m) {
      ObjectNode o = Json.MAPPER.createObjectNode();
      o.put("model", m.modelId());
      o.put("from", m.from().toString());
      o.put("to", m.to().toString());
      o.put("seconds", m.seconds());
      return HttpResponse.create().withStatus(200).withEntity(ContentTypes.APPLICATION_JSON, Json.bytes(o));
    }
    GlobalPlacementActor.MoveFailed f = (GlobalPlacementActor.MoveFailed) reply;
    ApiError e = switch (f.problem()) {
      case UNKNOWN_MODEL, UNKNOWN_GPU -> ApiError.notFound(f.message());
      case DOES_NOT_FIT, BUSY -> new ApiError(409, "invalid_request_error", f.message(), "gpu", "conflict", true);
      case FAILED -> new ApiError(503, "service_unavailable_error", f.message(), null, "migration_failed", false, 1);
    };
    return e.toResponse();
  }

  static HttpResponse view(PlacementView v) {
    ObjectNode o = Json.MAPPER.createObjectNode();
    ArrayNode gpus = o.putArray("gpus");
    for (PlacementView.GpuRow g : v.gpus()) {
      ObjectNode n = gpus.addObject();
      n.put("gpu", g.gpu().toString());
      n.put("description", g.description());
      n.put("healthy", g.healthy());
      n.put("kvpr", g.kvpr());
      n.put("budget_bytes", g.budgetBytes());
      n.put("free_bytes", g.freeBytes());
      ArrayNode models = n.putArray("models");
      for (PlacementView.ModelRow m : g.models()) {
        ObjectNode x = models.addObject();
        x.put("id", m.modelId());
        x.put("tokens_per_second", m.tokensPerSecond());
        x.put("kv_bytes_per_token", m.kvBytesPerToken());
        x.put("weight_bytes", m.weightBytes());
        x.put("resident", m.weightsResident());
        x.put("queued", m.queued());
        x.put("running", m.running());
      }
    }
    migrations(o.putArray("migrations_in_flight"), v.inFlight());
    migrations(o.putArray("recent_migrations"), v.recent());
    ObjectNode totals = o.putObject("migrations_total");
    for (Map.Entry<String, Long> e : v.migrationsByOutcome().entrySet()) totals.put(e.getKey(), e.getValue());
    o.put("migration_seconds_sum", v.migrationSecondsSum());
    o.put("rounds", v.rounds());
    o.put("last_round", v.lastRound());
    ArrayNode replicas = o.putArray("replica_changes");
    for (PlacementView.ReplicaChange c : v.replicaChanges()) {
      ObjectNode x = replicas.addObject();
      x.put("model", c.modelId());
      x.put("gpu", c.gpu().toString());
      x.put("change", c.change());
      x.put("at", c.epochMillis());
      x.put("reason", c.reason());
    }
    return HttpResponse.create().withStatus(200).withEntity(ContentTypes.APPLICATION_JSON, Json.bytes(o));
  }

  private static void migrations(ArrayNode out, java.util.List<PlacementView.MigrationView> list) {
    for (PlacementView.MigrationView m : list) {
      ObjectNode x = out.addObject();
      x.put("model", m.modelId());
      x.put("from", m.from().toString());
      x.put("to", m.to().toString());
      x.put("outcome", m.outcome());
      x.put("started", m.startedEpochMillis());
      x.put("seconds", m.seconds());
      x.put("reason", m.reason());
      x.put("detail", m.detail());
    }
  }
}
