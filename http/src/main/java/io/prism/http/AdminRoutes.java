package io.prism.http;

import io.prism.actors.PrismNode;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.typesafe.config.ConfigException;
import com.typesafe.config.ConfigFactory;
import io.prism.actors.placement.GlobalPlacementActor;
import io.prism.actors.gpu.GpuStatus;
import io.prism.actors.placement.ModelInfo;
import io.prism.actors.ModelSpec;
import io.prism.runtime.chat.ChatFiles;
import io.prism.runtime.chat.ChatTemplateException;
import io.prism.actors.frontend.PrismApi;
import io.prism.http.security.ModelRoots;
import io.prism.runtime.model.ModelLoader;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.Executor;
import java.util.function.Supplier;
import org.apache.pekko.http.javadsl.model.ContentTypes;
import org.apache.pekko.http.javadsl.model.HttpResponse;
import org.apache.pekko.http.javadsl.model.StatusCodes;
import org.apache.pekko.http.javadsl.server.AllDirectives;
import org.apache.pekko.http.javadsl.server.PathMatchers;
import org.apache.pekko.http.javadsl.server.Route;
import org.apache.pekko.http.javadsl.unmarshalling.Unmarshaller;

/**
 * Operator endpoints: {@code GET /health} (200 while every GPU can make progress, else 503),
 * {@code GET /metrics} (Prometheus text format: {@link PrismMetrics}; both answer the last known GPU
 * status when a fresh one takes longer than {@code prism.http.ops-answer-within}: {@link StatusCache}),
 * {@code GET /admin/models} (the catalog with states), {@code POST /admin/models} (register a model
 * from a path with TTFT and TPOT SLOs; answers 201 once it serves), {@code DELETE
 * /admin/models/{id}} and {@code GET /admin/gpus} (per GPU: its models, resident or evicted, weight
 * bytes, pages held per model, free and reserve pages, queue lengths, admission and activation
 * counters, recent memory and admission decisions: {@link AdminJson}); the placement endpoints
 * ({@code /admin/placement}, {@code /admin/placement/rebalance}, {@code /admin/models/{id}/move})
 * are {@link PlacementRoutes}; {@code GET /admin/dashboard} is {@link DashboardRoutes}.
 *
 * <p>{@code POST /admin/models} body: {@code {"path": "...", "id": "...", "tokenizer": "...",
 * "ttft_slo": "2s", "tpot_slo": "200ms", "min_pages": 0, "max_pages": 512, "max_replicas": 2}}; only {@code path} is
 * required (a {@code .bin}, a {@code .gguf}, a Hugging Face folder or {@code random:NAME}); {@code id} defaults to the file
 * stem; SLOs are HOCON durations or numbers of seconds and default to 10 s and 1 s; {@code
 * min_pages} / {@code max_pages} bound the model's KV pages on its GPU (0 or absent: none); {@code
 * max_replicas} (default 1) is how many instances on distinct GPUs the placement may give it under
 * sustained overload. Posting a registered model again with the same path updates its SLOs and
 * limits (a lowered page maximum takes effect lazily, as its blocks free; a lowered replica maximum
 * removes instances at the next check). Answers list each model's {@code instances} (GPU ids).
 * {@code path} and {@code tokenizer} must lie under the model roots ({@link ModelRoots}: canonicalised
 * first; anything else gets one fixed 400 that says nothing about the file).
 *
 * <p>Threading: {@code /health} and {@code /metrics} run their work (the ask to the actors, the
 * JSON and the Prometheus formatting) on the {@code ops} executor, the dispatcher {@code
 * prism.http.ops-dispatcher}, never on the threads that serve completions, so they answer while
 * the server is overloaded ({@link #opsRoute}).
 */
public final class AdminRoutes extends AllDirectives {
  private static final Duration DEFAULT_TTFT = Duration.ofSeconds(10);
  private static final Duration DEFAULT_TPOT = Duration.ofSeconds(1);

  private final PrismApi api;
  private final long maxBodyBytes;
  private final PrismMetrics metrics;
  private final Executor ops;
  private final StatusCache<io.prism.actors.PrismNode.Health> health;
  private final StatusCache<List<GpuStatus>> gpus;
  private final StatusCache<io.prism.actors.placement.PlacementView> placement;
  private final ModelRoots modelRoots;
  private final DashboardRoutes dashboard;

  /**
   * @param maxBodyBytes largest {@code POST /admin/models} body
   * @param metrics this node's request metrics, served with the GPUs' at {@code GET /metrics}
   * @param ops runs the work of {@code /health} and {@code /metrics} (the ops dispatcher)
   * @param opsAnswerWithin longest wait of {@code /health} and {@code /metrics} for a fresh GPU
   *     status before they answer the last known one
   * @param modelRoots where {@code POST /admin/models} may load files from
   */
  public AdminRoutes(PrismApi api, long maxBodyBytes, PrismMetrics metrics, Executor ops, Duration opsAnswerWithin, ModelRoots modelRoots) {
    this.modelRoots = modelRoots;
    this.api = api;
    this.maxBodyBytes = maxBodyBytes;
    this.metrics = metrics;
    this.ops = ops;
    this.health = new StatusCache<>(api::health, opsAnswerWithin);
    this.gpus = new StatusCache<>(api::gpus, opsAnswerWithin);
    this.placement = new StatusCache<>(api::placementView, opsAnswerWithin);
    this.dashboard = new DashboardRoutes(api, gpus, placement, metrics.sloWindow(), ops, opsAnswerWithin);
  }

  /** {@code /health} and {@code /metrics}, their work on the ops executor. */
  public Route opsRoute() {
    return concat(
        path("health", () -> get(() -> completeWithFuture(onOps(health::get).thenApplyAsync(AdminRoutes::health, ops)))),
        path("ready", () -> get(() -> completeWithFuture(onOps(api::ready).thenApplyAsync(AdminRoutes::ready, ops)))),
        path("metrics", () -> get(() -> completeWithFuture(onOps(gpus::get)
            .thenCombine(onOps(placement::get).handle((p, e) -> p == null ? null : p.value()), (s, p) -> metrics(s.value(), p))
            .exceptionally(e -> metrics(List.of(), null))))));
  }

  /** Asks from an ops thread (the ask's own set-up must not wait for a busy default dispatcher). */
  private <T> CompletionStage<T> onOps(Supplier<CompletionStage<T>> ask) {
    return CompletableFuture.supplyAsync(ask, ops).thenCompose(f -> f);
  }

  /** {@code /health}, {@code /metrics} and {@code /admin/*}. */
  public Route route() {
    return concat(
        opsRoute(),
        new PlacementRoutes(api, maxBodyBytes).route(),
        dashboard.dataRoute(),
        pathPrefix("admin", () -> concat(
            path("gpus", () -> get(() -> completeWithFuture(api.gpus().thenApply(l -> AdminJson.gpus(l, api.hostTierUsage()))))),
            path("models", () -> concat(
                get(() -> completeWithFuture(api.models().thenApply(AdminRoutes::catalog))),
                post(() -> withSizeLimit(maxBodyBytes, () -> entity(Unmarshaller.entityToString(), body ->
                    completeWithFuture(api.register(spec(Json.parse(body), modelRoots)).thenApply(AdminRoutes::registered))))))),
            path(PathMatchers.segment("models").slash(PathMatchers.segment()), id -> delete(() ->
                completeWithFuture(api.unregister(id).thenApply(AdminRoutes::unregistered)))))));
  }

  private static HttpResponse json(int status, JsonNode body) {
    return HttpResponse.create().withStatus(status).withEntity(ContentTypes.APPLICATION_JSON, Json.bytes(body));
  }

  /** {@code GET /ready}: 200 {@code {"status":"ready"}} or 503 {@code {"status":"not ready","problems":[...]}}. */
  private static HttpResponse ready(io.prism.actors.PrismNode.Health h) {
    ObjectNode o = Json.MAPPER.createObjectNode();
    o.put("status", h.healthy() ? "ready" : "not ready");
    ArrayNode p = o.putArray("problems");
    h.problems().forEach(p::add);
    return json(h.healthy() ? 200 : 503, o);
  }

  private static HttpResponse health(StatusCache.Snapshot<io.prism.actors.PrismNode.Health> s) {
    io.prism.actors.PrismNode.Health h = s.value();
    ObjectNode o = Json.MAPPER.createObjectNode();
    o.put("status", h.healthy() ? "ok" : "unhealthy");
    o.put("age_ms", s.age().toMillis());
    ArrayNode problems = o.putArray("problems");
    h.problems().forEach(problems::add);
    return json(h.healthy() ? 200 : 503, o);
  }

  /** Bytes of a Hugging Face folder's weights ({@code *.safetensors}), the placement's estimate. */
  private static long folderBytes(Path dir) throws IOException {
    try (var files = Files.list(dir)) {
      long sum = 0;
      for (Path f : (Iterable<Path>) files::iterator) if (f.getFileName().toString().endsWith(".safetensors")) sum += Files.size(f);
      return sum;
    }
  }

  /**
   * The model's tokenizer and chat-template checks ({@link ChatFiles}: a folder without {@code
   * tokenizer.json}, malformed config files, a template that raises on a one-message conversation):
   * 400 on {@code path} naming the file or the template and line, before anything is registered.
   */
  static void chatCheck(Path file) {
    try {
      ChatFiles.check(file);
    } catch (ChatTemplateException e) {
      throw new ApiException(ApiError.invalid("the model's " + e.getMessage(), "path"));
    } catch (IllegalArgumentException e) {
      throw new ApiException(ApiError.invalid(e.getMessage(), "path"));
    }
  }

  /**
   * The spec of a {@code POST /admin/models} body; files only from {@code roots}.
   *
   * @throws ApiException 400 naming the field that is missing or malformed, or the fixed refusal of
   *     {@link ModelRoots#resolve} for a path or tokenizer outside the roots
   */
  static ModelSpec spec(JsonNode body, ModelRoots roots) {
    JsonNode p = body.get("path");
    if (p == null || !p.isTextual() || p.asText().isBlank()) throw new ApiException(ApiError.invalid("path is required and must be a string", "path"));
    String source = p.asText();
    long bytes = 0;
    String id;
    if (source.startsWith("random:")) {
      id = source;
    } else {
      Path file = roots.resolve(source, "path"); // canonical, under a root; nothing about the file is read before this
      Path requested = Path.of(source).toAbsolutePath().normalize(); // the id is the name asked for, not a link's target
      chatCheck(file);
      if (!Files.isRegularFile(file) && !Files.isDirectory(file)) throw new ApiException(ApiError.invalid("no model file or folder at " + file, "path"));
      try {
        bytes = Files.isDirectory(file) ? folderBytes(file) : Files.size(file);
      } catch (IOException e) {
        throw new ApiException(ApiError.invalid("cannot read " + file + ": " + e.getMessage(), "path"));
      }
      source = file.toString();
      id = ModelLoader.idFor(requested);
    }
    JsonNode i = body.get("id");
    if (i != null && !i.isNull()) {
      if (!i.isTextual() || i.asText().isBlank()) throw new ApiException(ApiError.invalid("id must be a non-empty string", "id"));
      id = i.asText();
    }
    String tokenizer = null;
    JsonNode t = body.get("tokenizer");
    if (t != null && !t.isNull()) {
      if (!t.isTextual()) throw new ApiException(ApiError.invalid("tokenizer must be a path", "tokenizer"));
      tokenizer = roots.resolve(t.asText(), "tokenizer").toString();
    }
    int minPages = pages(body, "min_pages");
    int maxPages = pages(body, "max_pages");
    if (maxPages > 0 && maxPages < minPages) {
      throw new ApiException(ApiError.invalid("max_pages " + maxPages + " is below min_pages " + minPages, "max_pages"));
    }
    JsonNode r = body.get("max_replicas");
    int maxReplicas = 1;
    if (r != null && !r.isNull()) {
      if (!r.isIntegralNumber() || !r.canConvertToInt() || r.asInt() < 1) {
        throw new ApiException(ApiError.invalid("max_replicas must be a whole number >= 1 (instances of the model on distinct GPUs)", "max_replicas"));
      }
      maxReplicas = r.asInt();
    }
    return new ModelSpec(id, source, tokenizer, duration(body, "ttft_slo", DEFAULT_TTFT), duration(body, "tpot_slo", DEFAULT_TPOT), bytes,
        minPages, maxPages, maxReplicas);
  }

  /** A page count field: absent or null is 0 (none). */
  private static int pages(JsonNode body, String field) {
    JsonNode v = body.get(field);
    if (v == null || v.isNull()) return 0;
    if (!v.canConvertToInt() || !v.isIntegralNumber() || v.asInt() < 0) {
      throw new ApiException(ApiError.invalid(field + " must be a whole number of pages >= 0 (0: none)", field));
    }
    return v.asInt();
  }

  private static Duration duration(JsonNode body, String field, Duration dflt) {
    JsonNode v = body.get(field);
    if (v == null || v.isNull()) return dflt;
    Duration d;
    if (v.isNumber()) {
      d = Duration.ofNanos((long) (v.asDouble() * 1e9));
    } else if (v.isTextual()) {
      try {
        d = ConfigFactory.parseString("d = \"" + v.asText().replace("\"", "") + "\"").getDuration("d");
      } catch (ConfigException e) {
        throw new ApiException(ApiError.invalid(field + " must be a duration like \"500ms\" or \"2s\", got " + v.asText(), field));
      }
    } else {
      throw new ApiException(ApiError.invalid(field + " must be a duration like \"500ms\" or a number of seconds", field));
    }
    if (d.isNegative() || d.isZero()) throw new ApiException(ApiError.invalid(field + " must be > 0", field));
    return d;
  }

  private static ObjectNode modelJson(ModelInfo m) {
    ObjectNode o = Json.MAPPER.createObjectNode();
    o.put("id", m.id());
    o.put("object", "model");
    o.put("created", m.createdEpochSeconds());
    o.put("owned_by", "prism");
    o.put("source", m.spec().source());
    o.put("state", m.state().name().toLowerCase());
    if (m.gpu() == null) o.putNull("gpu");
    else o.put("gpu", m.gpu().entityId());
    ArrayNode instances = o.putArray("instances");
    m.instances().forEach(g -> instances.add(g.entityId()));
    o.put("max_replicas", m.spec().maxReplicas());
    o.put("max_model_len", m.maxModelLen());
    o.put("weight_bytes", m.weightBytes());
    o.put("ttft_slo_ms", m.spec().ttftSlo().toMillis());
    o.put("tpot_slo_ms", m.spec().tpotSlo().toMillis());
    o.put("min_pages", m.spec().minPages());
    if (m.spec().maxPages() == 0) o.putNull("max_pages");
    else o.put("max_pages", m.spec().maxPages());
    if (!m.message().isEmpty()) o.put("message", m.message());
    return o;
  }

  private static HttpResponse catalog(List<ModelInfo> models) {
    ObjectNode root = Json.MAPPER.createObjectNode();
    root.put("object", "list");
    ArrayNode data = root.putArray("data");
    models.forEach(m -> data.add(modelJson(m)));
    return json(200, root);
  }

  private static HttpResponse registered(GlobalPlacementActor.RegisterReply r) {
    if (r instanceof GlobalPlacementActor.Registered ok) return json(StatusCodes.CREATED.intValue(), modelJson(ok.model()));
    GlobalPlacementActor.RegisterFailed f = (GlobalPlacementActor.RegisterFailed) r;
    return ApiError.of(f.kind(), f.message(), "path", "path").toResponse();
  }

  private static HttpResponse unregistered(GlobalPlacementActor.Unregistered u) {
    if (!u.existed()) {
      return new ApiError(404, "invalid_request_error", "The model '" + u.modelId() + "' does not exist", "model", "model_not_found", false)
          .toResponse();
    }
    ObjectNode o = Json.MAPPER.createObjectNode();
    o.put("id", u.modelId());
    o.put("object", "model");
    o.put("deleted", true);
    return json(200, o);
  }

  private HttpResponse metrics(List<GpuStatus> gpus, io.prism.actors.placement.PlacementView p) {
    return HttpResponse.create().withEntity(ContentTypes.parse(PrismMetrics.CONTENT_TYPE), metrics.render(gpus, p, api.hostTierUsage()));
  }
}
