package io.prism.http.openai;

import io.prism.actors.frontend.GenerationEvent;
import io.prism.actors.model.ModelActor;
import io.prism.actors.frontend.PrismApi;
import io.prism.http.ApiError;
import io.prism.http.ClientConnection;
import io.prism.http.Json;
import io.prism.http.PrismMetrics;
import io.prism.runtime.engine.FinishReason;
import io.prism.runtime.engine.GeneratedLogprobs;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletionException;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.pekko.NotUsed;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.javadsl.Adapter;
import org.apache.pekko.http.javadsl.model.ContentTypes;
import org.apache.pekko.http.javadsl.model.HttpEntities;
import org.apache.pekko.http.javadsl.model.HttpResponse;
import org.apache.pekko.http.javadsl.model.MediaTypes;
import org.apache.pekko.http.javadsl.model.headers.RawHeader;
import org.apache.pekko.japi.Pair;
import org.apache.pekko.stream.ActorAttributes;
import org.apache.pekko.stream.Attributes;
import org.apache.pekko.stream.KillSwitches;
import org.apache.pekko.stream.Materializer;
import org.apache.pekko.stream.OverflowStrategy;
import org.apache.pekko.stream.SharedKillSwitch;
import org.apache.pekko.stream.javadsl.Sink;
import org.apache.pekko.stream.javadsl.Source;
import org.apache.pekko.util.ByteString;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Runs one completion request against the cluster and shapes the answer: an error envelope if the
 * request is refused before it starts, a JSON body once it ends ({@code stream: false}), or
 * server-sent events while it runs ({@code stream: true}).
 *
 * <p>The events arrive at a stream actor ({@code Source.actorRef}) that the model actor sends to,
 * possibly from another node. The HTTP status is decided by the first event ({@code Started} or
 * {@code Rejected}). Streams: {@code data: {json}} frames, {@code : keep-alive} comment lines
 * every {@code prism.http.keep-alive-interval} while nothing else is sent (never empty data
 * events), an {@code error} frame if the request fails after it started, then {@code data:
 * [DONE]}. If no event arrives for {@code prism.http.event-idle-timeout} the request fails.
 *
 * <p><b>Cancellation</b> ({@link Call#cancel}): a client that goes away, streaming or not, while
 * its request is queued or running ({@link ClientConnection}: its connection's request side ends;
 * a stream's entity is cancelled), or a request whose {@code prism.http.request-timeout} fires
 * before the answer started ({@link Call#timedOut}), stops its stream actor (the model actor
 * watches it and drops or cancels the request) and sends {@link ModelActor.Cancel}, so its pages go
 * back at once; it is counted as cancelled, never as a success ({@link RequestOutcome}).
 */
public final class CompletionHandler {
  private static final Logger log = LoggerFactory.getLogger(CompletionHandler.class);
  private static final int EVENT_BUFFER = 1 << 16;
  /** Config path of the dispatcher that runs the per-request event streams (see {@code reference.conf}). */
  public static final String EVENTS_DISPATCHER = "prism.http.events-dispatcher";
  private static final Attributes ON_EVENTS_DISPATCHER = ActorAttributes.dispatcher(EVENTS_DISPATCHER);
  private static final ByteString KEEP_ALIVE = ByteString.fromString(": keep-alive\n\n");

  private final PrismApi api;
  private final Materializer materializer;
  private final Duration keepAliveInterval;
  private final Duration eventIdleTimeout;
  private final PrismMetrics metrics;

  /**
   * @param api where requests go
   * @param materializer runs the event streams
   * @param keepAliveInterval silence after which a stream gets a {@code : keep-alive} comment
   * @param eventIdleTimeout silence from the model after which a request fails
   * @param metrics observes each request's TTFT, TPOT and outcome
   */
  public CompletionHandler(PrismApi api, Materializer materializer, Duration keepAliveInterval, Duration eventIdleTimeout, PrismMetrics metrics) {
    this.api = api;
    this.materializer = materializer;
    this.keepAliveInterval = keepAliveInterval;
    this.eventIdleTimeout = eventIdleTimeout;
    this.metrics = metrics;
  }

  /** The cancellation a {@link Call} ends with: the client is gone, nothing is answered. */
  static final class ClientGone extends CancellationException {
    ClientGone(String why) {
      super(why);
    }
  }

  /**
   * One request in flight: its answer and its cancellation. Threading: thread-safe.
   */
  public final class Call {
    private final CompletionRequest req;
    private final String id;
    private final long created = System.currentTimeMillis() / 1000;
    private final RequestOutcome outcome;
    private final SharedKillSwitch killSwitch;
    private final AtomicBoolean completedSeen = new AtomicBoolean();
    private volatile ActorRef<ModelActor.Command> model;
    /** How the model writes tool calls, when the answer is to be parsed for them (from {@code Started}); else null. */
    private volatile io.prism.runtime.structured.ToolCallFormat toolFormat;
    private volatile ClientConnection.Registration registration = () -> {};
    private CompletionStage<HttpResponse> response;

    private Call(CompletionRequest req) {
      this.req = req;
      this.id = (req.chat() ? "chatcmpl-" : "cmpl-") + UUID.randomUUID().toString().replace("-", "");
      this.outcome = new RequestOutcome(req.model(), metrics);
      this.killSwitch = KillSwitches.shared(id);
    }

    /** The answer; fails only on internal errors (the exception handler answers 500). */
    public CompletionStage<HttpResponse> response() {
      return response;
    }

    /** The request's id ({@code cmpl-...} or {@code chatcmpl-...}). */
    public String id() {
      return id;
    }

    /**
     * Cancels the request unless it already ended: its stream actor stops, the model gets {@link
     * ModelActor.Cancel}, the pages go back; counted as cancelled once. Idempotent.
     */
    public void cancel(String why) {
      outcome.cancelled();
      registration.close();
      killSwitch.abort(new ClientGone(why));
      ActorRef<ModelActor.Command> m = model;
      if (m != null && !completedSeen.get()) m.tell(new ModelActor.Cancel(id));
    }

    /** Pekko HTTP's request timeout fired before the answer started: cancels, and returns what the client gets (503). */
    public HttpResponse timedOut() {
      cancel("request timeout");
      return ApiError.unavailable("request " + id + " timed out (prism.http.request-timeout) and was cancelled; use \"stream\": true "
          + "for long generations").toResponse();
    }

    private GenerationEvent observe(GenerationEvent e) {
      if (e instanceof GenerationEvent.Completed) completedSeen.set(true);
      return outcome.observe(e);
    }

    private void run(Optional<ClientConnection> connection) {
      Pair<org.apache.pekko.actor.ActorRef, Source<GenerationEvent, NotUsed>> pre = Source.<GenerationEvent>actorRef(
              m -> Optional.empty(), m -> Optional.empty(), EVENT_BUFFER, OverflowStrategy.fail())
          .withAttributes(ON_EVENTS_DISPATCHER)
          .preMaterialize(materializer);
      connection.ifPresent(c -> registration = c.onClose(() -> cancel("client closed the connection")));
      api.generate(req.toGenerateRequest(id), Adapter.toTyped(pre.first()));
      Source<GenerationEvent, NotUsed> events = pre.second()
          .via(killSwitch.flow())
          .map(this::observe)
          .takeWhile(e -> !(e instanceof GenerationEvent.Completed || e instanceof GenerationEvent.Rejected), true)
          .idleTimeout(eventIdleTimeout);
      AtomicBoolean streaming = new AtomicBoolean();
      response = events.prefixAndTail(1).withAttributes(ON_EVENTS_DISPATCHER).runWith(Sink.head(), materializer).thenCompose(pt -> {
        GenerationEvent first = pt.first().isEmpty() ? null : pt.first().get(0);
        if (first instanceof GenerationEvent.Rejected r) {
          outcome.rejected(r.rejection().kind());
          return CompletableFuture.completedFuture(ApiError.of(r.rejection(), req.promptParam()).toResponse());
        }
        if (!(first instanceof GenerationEvent.Started started)) {
          outcome.failed("internal");
          return CompletableFuture.completedFuture(ApiError.internal("request " + id + " produced no start event").toResponse());
        }
        model = started.model();
        if (req.toolCalls()) toolFormat = started.toolFormat();
        if (!req.stream()) return collect(pt.second());
        streaming.set(true);
        return CompletableFuture.completedFuture(streaming(pt.second()));
      }).exceptionally(this::failure);
      response.whenComplete((r, e) -> {
        if (!streaming.get()) registration.close(); // a stream keeps it until the stream ends
      });
    }

    private HttpResponse failure(Throwable e) {
      Throwable t = e instanceof CompletionException && e.getCause() != null ? e.getCause() : e;
      if (t instanceof ClientGone) return ApiError.unavailable("request " + id + " was cancelled: " + t.getMessage()).toResponse();
      if (t instanceof TimeoutException) {
        outcome.failed("event_timeout");
        return ApiError.unavailable("no answer for request " + id + " within " + eventIdleTimeout.toSeconds() + " s: " + t.getMessage()).toResponse();
      }
      outcome.failed("internal");
      log.error("request {} failed", id, t); // a 500 is our bug: keep its stack trace
      return ApiError.internal("request " + id + " failed: " + t).toResponse();
    }

    private CompletionStage<HttpResponse> collect(Source<GenerationEvent, NotUsed> tail) {
      int n = req.params().n();
      boolean logprobs = req.params().wantsLogprobs();
      return tail.withAttributes(ON_EVENTS_DISPATCHER).runFold(new CompletionFraming.Collected(n, logprobs), CompletionFraming.Collected::add, materializer).thenApply(c -> {
        GenerationEvent.Completed done = c.done;
        if (done == null) {
          outcome.failed("internal");
          return ApiError.internal("request " + id + " ended without a finish event").toResponse();
        }
        io.prism.runtime.structured.ToolCallParser.Parsed calls = toolFormat == null ? null
            : io.prism.runtime.structured.ToolCallParser.parse(c.texts[0].toString(), toolFormat); // tools come with n = 1
        if (calls != null && !calls.calls().isEmpty() && RequestOutcome.success(done.reason())) {
          return HttpResponse.create().withEntity(ContentTypes.APPLICATION_JSON, Json.bytes(ToolCallAnswers.full(id, created, req.model(), calls,
              done.reason() == FinishReason.STOP ? "tool_calls" : "length", new ResponseShapes.Usage(done.promptTokens(), done.completionTokens()))));
        }
        return switch (done.reason()) {
          case STOP, LENGTH -> HttpResponse.create().withEntity(ContentTypes.APPLICATION_JSON, Json.bytes(ResponseShapes.full(req.chat(), id,
              created, req.model(), c.choices(), new ResponseShapes.Usage(done.promptTokens(), done.completionTokens()))));
          case FAILED, CANCELLED -> ApiError.internal("request " + id + " " + done.reason().openAiValue() + ": " + done.message()).toResponse();
        };
      });
    }

    private HttpResponse streaming(Source<GenerationEvent, NotUsed> tail) {
      AtomicBoolean finished = new AtomicBoolean();
      int n = req.params().n();
      List<ByteString> roles = new ArrayList<>(n);
      if (req.chat()) for (int j = 0; j < n; j++) roles.add(CompletionFraming.frame(ResponseShapes.chunk(true, id, created, req.model(), j, "", null, true, null)));
      Source<ByteString, NotUsed> head = Source.from(roles);
      CompletionFraming.StreamState state = new CompletionFraming.StreamState(req, id, created);
      StringBuilder held = new StringBuilder(); // a tool-call answer's text, parsed at its end
      Source<ByteString, NotUsed> body = tail
          .mapConcat(e -> toolFormat != null ? CompletionFraming.toolFrames(req, id, created, toolFormat, held, e, finished)
              : CompletionFraming.sseFrames(state, e, finished))
          // frames that queue up while the connection is busy go out together in one HTTP chunk (one write)
          .conflate(ByteString::concat)
          .recoverWithRetries(1, Throwable.class, () -> {
            outcome.failed("stream_error"); // counts nothing if the client went away first
            return Source.from(List.of(
                CompletionFraming.frame(ApiError.internal("stream of request " + id + " broke off: " + "no event within the idle timeout or buffer overflow").toJson()),
                CompletionFraming.DONE));
          });
      Source<ByteString, NotUsed> sse = head.concat(body)
          .keepAlive(keepAliveInterval, () -> KEEP_ALIVE)
          .watchTermination((nu, done) -> {
            done.whenComplete((d, err) -> {
              registration.close();
              if (!finished.get()) cancel("client closed the stream");
            });
            return nu;
          });
      return HttpResponse.create()
          .addHeader(RawHeader.create("Cache-Control", "no-cache"))
          .withEntity(HttpEntities.createChunked(ContentTypes.create(MediaTypes.TEXT_EVENT_STREAM), sse));
    }
  }

  /** Serves {@code req}; the future fails only on internal errors (the exception handler answers 500). */
  public CompletionStage<HttpResponse> handle(CompletionRequest req) {
    return start(req, Optional.empty()).response();
  }

  /**
   * Starts serving {@code req}.
   *
   * @param connection the client's connection, whose close cancels the request; empty outside a
   *     real connection (route tests)
   */
  public Call start(CompletionRequest req, Optional<ClientConnection> connection) {
    Call call = new Call(req);
    call.run(connection);
    return call;
  }
}
