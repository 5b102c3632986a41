package io.prism.http;

import io.prism.actors.frontend.PrismApi;
import io.prism.actors.gpu.GpuStatus;
import io.prism.actors.placement.ModelInfo;
import io.prism.actors.placement.PlacementView;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.Executor;
import java.util.function.Supplier;
import org.apache.pekko.http.javadsl.model.ContentType;
import org.apache.pekko.http.javadsl.model.ContentTypes;
import org.apache.pekko.http.javadsl.model.HttpHeader;
import org.apache.pekko.http.javadsl.model.HttpResponse;
import org.apache.pekko.http.javadsl.model.MediaTypes;
import org.apache.pekko.http.javadsl.model.HttpCharsets;
import org.apache.pekko.http.javadsl.model.headers.RawHeader;
import org.apache.pekko.http.javadsl.server.AllDirectives;
import org.apache.pekko.http.javadsl.server.Route;

/**
 * The live dashboard: {@code GET /dashboard} (the page) with its script and style sheet ({@code GET
 * /dashboard/dashboard.js}, {@code /dashboard/dashboard.css}; resources of this module, no external
 * library), and {@code GET /admin/dashboard}, the one JSON document the page polls ({@link
 * DashboardJson}).
 *
 * <p>Keys: the page and its two files are the same bytes for everyone and carry no data, so they
 * are served without a key ({@link #pageRoute()}, outside the API-key check: a browser cannot send
 * a Bearer header when it navigates). The data is an admin path: when an admin key is configured
 * the page asks for it, keeps it in the tab's {@code sessionStorage} and sends it as {@code
 * Authorization: Bearer}; a URL fragment {@code #key=...} (never sent to the server) sets it too and
 * is removed from the address bar at once. The page's responses carry a strict
 * {@code Content-Security-Policy} (only this server's script, style and JSON).
 *
 * <p>Threading: {@code /admin/dashboard} runs on the {@code ops} executor (as {@code /metrics}); the
 * GPU statuses, the placement view and the catalog each come from a {@link StatusCache}, so a busy
 * cluster answers within {@code prism.http.ops-answer-within} with the last known values (the
 * document's {@code gpus_age_ms} says how old). A placement singleton or catalog that does not
 * answer leaves its parts empty (KVPR and migrations, SLOs from the catalog); GPUs that do not
 * answer fail the request (503).
 */
final class DashboardRoutes extends AllDirectives {
  /** Where the page's files are, on the class path. */
  static final String RESOURCES = "io/prism/http/dashboard/";
  /** The page's {@code Content-Security-Policy}: only this origin, no inline script or style. */
  static final String CONTENT_SECURITY_POLICY =
      "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

  private static final ContentType JAVASCRIPT = ContentTypes.create(MediaTypes.APPLICATION_JAVASCRIPT, HttpCharsets.UTF_8);
  private static final ContentType CSS = ContentTypes.create(MediaTypes.TEXT_CSS, HttpCharsets.UTF_8);
  private static final List<HttpHeader> PAGE_HEADERS = List.of(RawHeader.create("Content-Security-Policy", CONTENT_SECURITY_POLICY),
      RawHeader.create("X-Content-Type-Options", "nosniff"), RawHeader.create("Cache-Control", "no-cache"),
      RawHeader.create("Referrer-Policy", "no-referrer"));

  private final StatusCache<List<GpuStatus>> gpus;
  private final StatusCache<PlacementView> placement;
  private final StatusCache<List<ModelInfo>> catalog;
  private final SloWindow window;
  private final Executor ops;

  /**
   * @param gpus the GPU statuses (shared with {@code /metrics})
   * @param placement the placement view (shared with {@code /metrics})
   * @param window this node's recent request ends
   * @param ops runs the work of {@code /admin/dashboard}
   * @param opsAnswerWithin longest wait for a fresh catalog before the last known one is used
   */
  DashboardRoutes(PrismApi api, StatusCache<List<GpuStatus>> gpus, StatusCache<PlacementView> placement, SloWindow window, Executor ops,
      Duration opsAnswerWithin) {
    this.gpus = gpus;
    this.placement = placement;
    this.catalog = new StatusCache<>(api::models, opsAnswerWithin);
    this.window = window;
    this.ops = ops;
  }

  /** {@code GET /dashboard}, {@code /dashboard/}, {@code /dashboard/dashboard.js}, {@code /dashboard/dashboard.css}: no key needed. */
  static Route pageRoute() {
    return new Page().route();
  }

  /** {@code GET /admin/dashboard}. */
  Route dataRoute() {
    return pathPrefix("admin", () -> path("dashboard", () -> get(() -> completeWithFuture(document()))));
  }

  private CompletionStage<HttpResponse> document() {
    CompletionStage<StatusCache.Snapshot<List<GpuStatus>>> g = onOps(gpus::get);
    CompletionStage<PlacementView> p = onOps(placement::get).handle((s, e) -> s == null ? null : s.value());
    CompletionStage<List<ModelInfo>> c = onOps(catalog::get).handle((s, e) -> s == null ? null : s.value());
    return g.thenCombine(p, Pair::new).thenCombineAsync(c, (gp, models) -> HttpResponse.create().withStatus(200)
        .withEntity(ContentTypes.APPLICATION_JSON, Json.bytes(DashboardJson.dashboard(gp.gpus().value(), gp.gpus().age(), gp.placement(), models,
            window, System.currentTimeMillis(), DashboardJson.MAX_EVENTS))), ops);
  }

  private record Pair(StatusCache.Snapshot<List<GpuStatus>> gpus, PlacementView placement) {}

  /** Asks from an ops thread (as {@link AdminRoutes} does for {@code /metrics}). */
  private <T> CompletionStage<T> onOps(Supplier<CompletionStage<T>> ask) {
    return CompletableFuture.supplyAsync(ask, ops).thenCompose(f -> f);
  }

  /** The static page and its files. */
  private static final class Page extends AllDirectives {
    Route route() {
      // the path first: a matching get() cancels the MethodRejections of other routes (a wrong method would answer 404, not 405)
      return pathPrefix("dashboard", () -> get(() -> respondWithHeaders(PAGE_HEADERS, () -> concat(
          pathEndOrSingleSlash(() -> getFromResource(RESOURCES + "dashboard.html", ContentTypes.TEXT_HTML_UTF8)),
          path("dashboard.js", () -> getFromResource(RESOURCES + "dashboard.js", JAVASCRIPT)),
          path("dashboard.css", () -> getFromResource(RESOURCES + "dashboard.css", CSS))))));
    }
  }
}
