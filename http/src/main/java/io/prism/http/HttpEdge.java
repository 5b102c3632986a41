package io.prism.http;

import java.time.Duration;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.pekko.NotUsed;
import org.apache.pekko.actor.ClassicActorSystemProvider;
import org.apache.pekko.http.javadsl.Http;
import org.apache.pekko.http.javadsl.IncomingConnection;
import org.apache.pekko.http.javadsl.ServerBinding;
import org.apache.pekko.http.javadsl.model.HttpRequest;
import org.apache.pekko.http.javadsl.model.HttpResponse;
import org.apache.pekko.http.javadsl.model.headers.Connection;
import org.apache.pekko.http.javadsl.server.Directives;
import org.apache.pekko.http.javadsl.server.Route;
import org.apache.pekko.stream.ActorAttributes;
import org.apache.pekko.stream.Materializer;
import org.apache.pekko.stream.javadsl.Flow;
import org.apache.pekko.stream.javadsl.Sink;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Binds the HTTP API with overload control at the connection level: at most {@code
 * prism.http.max-connections} connections are served at once; each further connection is accepted
 * (not parked in the kernel's backlog, where a client waits with no answer), served {@code GET
 * /health} and {@code GET /metrics} as usual, answered 503 {@code too_many_connections} with {@code
 * Retry-After: 1} for anything else, and closed after its first response, or after {@value
 * #REFUSED_LIFETIME_SECONDS} s if it sends nothing. Every served connection is watched ({@link
 * ClientConnection}) so that a client that goes away cancels its requests.
 *
 * <p>Threading: accepting runs on the actor system's dispatcher; the connection count is atomic.
 */
public final class HttpEdge {
  private static final Logger log = LoggerFactory.getLogger(HttpEdge.class);
  /** Longest life of a refused connection. */
  static final int REFUSED_LIFETIME_SECONDS = 5;

  private HttpEdge() {}

  /**
   * Binds {@code routes} at {@code settings.host():settings.port()}.
   *
   * @return the binding once bound; fails if the port cannot be bound
   */
  public static CompletionStage<ServerBinding> bind(ClassicActorSystemProvider system, PrismRoutes routes, HttpSettings settings) {
    Materializer mat = Materializer.matFromSystem(system);
    Flow<HttpRequest, HttpResponse, NotUsed> served = ClientConnection.watching(routes.route().flow(system));
    Flow<HttpRequest, HttpResponse, NotUsed> refused = Flow.<HttpRequest>create()
        .via(routes.opsRoute(refusal(settings.maxConnections(), routes.metrics())).flow(system))
        .map(r -> r.addHeader(Connection.create("close")))
        .completionTimeout(Duration.ofSeconds(REFUSED_LIFETIME_SECONDS));
    AtomicInteger open = new AtomicInteger();
    return Http.get(system).newServerAt(settings.host(), settings.port()).connectionSource()
        .to(Sink.foreach(c -> accept(c, open, settings.maxConnections(), served, refused, mat)))
        .withAttributes(ActorAttributes.dispatcher(PrismRoutes.OPS_DISPATCHER))
        .run(mat);
  }

  private static void accept(IncomingConnection c, AtomicInteger open, int max, Flow<HttpRequest, HttpResponse, NotUsed> served,
      Flow<HttpRequest, HttpResponse, NotUsed> refused, Materializer mat) {
    try {
      if (open.incrementAndGet() > max) {
        open.decrementAndGet();
        log.debug("Refusing connection from {}: {} connections open (prism.http.max-connections)", c.remoteAddress(), max);
        c.handleWith(refused, mat);
        return;
      }
      c.handleWith(served.watchTermination((nu, done) -> {
        done.whenComplete((d, e) -> open.decrementAndGet());
        return nu;
      }), mat);
    } catch (RuntimeException e) { // never let one connection stop the accepting stream
      log.warn("Could not serve connection from {}: {}", c.remoteAddress(), e.toString());
    }
  }

  /** What a refused connection answers to anything but {@code /health} and {@code /metrics}. */
  private static Route refusal(int max, PrismMetrics metrics) {
    return Directives.extractRequest(req -> {
      metrics.rejected("", "too_many_connections");
      return Directives.complete(new ApiError(503, "service_unavailable_error", "the server has " + max
          + " connections open (prism.http.max-connections); retry later", null, "too_many_connections", false, 1).toResponse());
    });
  }
}
