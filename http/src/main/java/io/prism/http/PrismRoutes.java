package io.prism.http;

import io.prism.actors.frontend.PrismApi;
import io.prism.http.openai.CompletionHandler;
import io.prism.http.openai.OpenAiRoutes;
import io.prism.http.openai.TokenizeRoutes;
import io.prism.http.security.ApiKeyAuth;
import io.prism.http.security.HttpSecurity;
import java.util.concurrent.CompletionException;
import java.util.concurrent.TimeoutException;
import org.apache.pekko.http.javadsl.model.HttpResponse;
import org.apache.pekko.http.javadsl.server.AllDirectives;
import org.apache.pekko.http.javadsl.server.Directives;
import org.apache.pekko.http.javadsl.server.ExceptionHandler;
import org.apache.pekko.http.javadsl.server.MalformedRequestContentRejection;
import org.apache.pekko.http.javadsl.server.MethodRejection;
import org.apache.pekko.http.javadsl.server.RejectionHandler;
import org.apache.pekko.http.javadsl.server.Route;
import org.apache.pekko.http.scaladsl.model.EntityStreamSizeException;
import org.apache.pekko.stream.Materializer;

/**
 * All HTTP routes of a Prism node: the OpenAI API ({@link OpenAiRoutes}), the admin API and health
 * ({@link AdminRoutes}), the metrics ({@code GET /metrics}), wrapped in one exception handler and one rejection handler so that every
 * failure answers in the OpenAI error shape: a bad field 400, an unknown model or path 404, a wrong
 * method 405, a body over {@code prism.http.max-body-size} 413, an overloaded model 429, an
 * unavailable one or a cluster that does not answer 503, anything else 500. In front of all of
 * them, the API-key check ({@link ApiKeyAuth}: 401 / 403, counted in {@code
 * prism_requests_rejected_total{reason="unauthorized"}}).
 */
public final class PrismRoutes extends AllDirectives {
  /** Config path of the dispatcher that runs {@code /health} and {@code /metrics} (see {@code reference.conf}). */
  public static final String OPS_DISPATCHER = "prism.http.ops-dispatcher";

  private final OpenAiRoutes openAi;
  private final AdminRoutes admin;
  private final TokenizeRoutes tokenize;
  private final PrismMetrics metrics;
  private final ApiKeyAuth auth;

  /**
   * Routes with no API key and model paths from anywhere ({@link HttpSecurity#unrestricted()}).
   *
   * @param api the node (or a fake in route tests)
   * @param materializer runs the per-request event streams; its system provides {@value #OPS_DISPATCHER}
   * @param settings body limit, keep-alive interval, event idle timeout
   */
  public PrismRoutes(PrismApi api, Materializer materializer, HttpSettings settings) {
    this(api, materializer, settings, new PrismMetrics());
  }

  /**
   * As {@link #PrismRoutes(PrismApi, Materializer, HttpSettings)} observing requests into {@code metrics}.
   *
   * @throws com.typesafe.config.ConfigException if {@value #OPS_DISPATCHER} is not configured
   */
  public PrismRoutes(PrismApi api, Materializer materializer, HttpSettings settings, PrismMetrics metrics) {
    this(api, materializer, settings, metrics, HttpSecurity.unrestricted());
  }

  /**
   * As {@link #PrismRoutes(PrismApi, Materializer, HttpSettings, PrismMetrics)} behind {@code
   * security}: its API keys guard every route, its model roots bound {@code POST /admin/models}.
   */
  public PrismRoutes(PrismApi api, Materializer materializer, HttpSettings settings, PrismMetrics metrics, HttpSecurity security) {
    CompletionHandler handler = new CompletionHandler(api, materializer, settings.keepAliveInterval(), settings.eventIdleTimeout(), metrics);
    this.metrics = metrics;
    this.openAi = new OpenAiRoutes(api, handler, settings.maxBodyBytes(), metrics);
    this.tokenize = new TokenizeRoutes(api, settings.maxBodyBytes());
    this.admin = new AdminRoutes(api, settings.maxBodyBytes(), metrics, materializer.system().dispatchers().lookup(OPS_DISPATCHER),
        settings.opsAnswerWithin(), security.modelRoots());
    this.auth = new ApiKeyAuth(security.auth());
  }

  /** The metrics the routes observe into. */
  public PrismMetrics metrics() {
    return metrics;
  }

  /**
   * Every route, with error handling. The dashboard page ({@code GET /dashboard} and its script and
   * style sheet: static, no data) is served without a key; its data, {@code GET /admin/dashboard},
   * needs the admin key like every admin path ({@link DashboardRoutes}).
   */
  public Route route() {
    return handled(concat(DashboardRoutes.pageRoute(), guarded(concat(openAi.route(), tokenize.route(), admin.route()))));
  }

  /**
   * Only {@code /health} and {@code /metrics} (with error handling), then {@code refusal} for any
   * other path: what a connection over {@code prism.http.max-connections} is served ({@link HttpEdge}).
   */
  public Route opsRoute(Route refusal) {
    return handled(guarded(concat(admin.opsRoute(), refusal)));
  }

  private Route guarded(Route inner) {
    return auth.guard(inner, refused -> metrics.rejected("", "unauthorized"));
  }

  private Route handled(Route inner) {
    return handleExceptions(exceptionHandler(), () -> handleRejections(rejectionHandler(),
        () -> withRequestTimeoutResponse(req -> ApiError.unavailable("request timed out (prism.http.request-timeout); use \"stream\": true "
            + "for long generations").toResponse(), () -> inner)));
  }

  static HttpResponse tooLarge(Throwable e) {
    return new ApiError(413, "invalid_request_error", "request body too large: " + e.getMessage(), null, "request_too_large", true).toResponse();
  }

  /** Maps failures (thrown or from futures) to error envelopes. */
  public static ExceptionHandler exceptionHandler() {
    return ExceptionHandler.newBuilder()
        .matchAny(e -> {
          Throwable t = e;
          while (t instanceof CompletionException && t.getCause() != null) t = t.getCause();
          if (t instanceof ApiException a) return Directives.complete(a.error().toResponse());
          if (t instanceof EntityStreamSizeException) return Directives.complete(tooLarge(t));
          if (t instanceof TimeoutException) {
            return Directives.complete(ApiError.unavailable("the cluster did not answer in time: " + t.getMessage()).toResponse());
          }
          if (t instanceof IllegalArgumentException) return Directives.complete(ApiError.invalid(t.getMessage(), null).toResponse());
          return Directives.complete(ApiError.internal(t.toString()).toResponse());
        })
        .build();
  }

  /** Maps route rejections to error envelopes. */
  public static RejectionHandler rejectionHandler() {
    return RejectionHandler.newBuilder()
        .handleAll(MethodRejection.class, rs -> {
          StringBuilder allowed = new StringBuilder();
          for (MethodRejection r : rs) allowed.append(allowed.length() == 0 ? "" : ", ").append(r.supported().name());
          return Directives.complete(new ApiError(405, "invalid_request_error", "method not allowed here; use " + allowed, null, "method_not_allowed", true)
              .toResponse());
        })
        .handle(MalformedRequestContentRejection.class, r -> Directives.complete(r.getCause() instanceof EntityStreamSizeException
            ? tooLarge(r.getCause())
            : ApiError.invalid("cannot read request body: " + r.message(), null).toResponse()))
        .handleNotFound(Directives.complete(ApiError.notFound("no such endpoint; see GET /v1/models, POST /v1/completions, "
            + "POST /v1/chat/completions, POST /tokenize, POST /detokenize, GET /health, /admin/models, /admin/gpus, GET /metrics, GET /dashboard").toResponse()))
        .build()
        .withFallback(RejectionHandler.defaultHandler())
        .mapRejectionResponse(resp -> resp.entity().getContentType().mediaType().isApplication()
            ? resp
            : new ApiError(resp.status().intValue(), "invalid_request_error", resp.status().reason(), null, null, false).toResponse());
  }
}
