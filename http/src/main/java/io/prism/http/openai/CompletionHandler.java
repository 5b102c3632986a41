package io.prism.http.openai;

import io.prism.actors.GenerationEvent;
import io.prism.actors.ModelActor;
import io.prism.actors.PrismApi;
import io.prism.http.ApiError;
import io.prism.http.Json;
import io.prism.http.PrismMetrics;
import io.prism.runtime.engine.FinishReason;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.pekko.NotUsed;
import org.apache.pekko.actor.typed.javadsl.Adapter;
import org.apache.pekko.http.javadsl.model.ContentTypes;
import org.apache.pekko.http.javadsl.model.HttpEntities;
import org.apache.pekko.http.javadsl.model.HttpResponse;
import org.apache.pekko.http.javadsl.model.MediaTypes;
import org.apache.pekko.http.javadsl.model.headers.RawHeader;
import org.apache.pekko.japi.Pair;
import org.apache.pekko.stream.Materializer;
import org.apache.pekko.stream.OverflowStrategy;
import org.apache.pekko.stream.javadsl.Sink;
import org.apache.pekko.stream.javadsl.Source;
import org.apache.pekko.util.ByteString;

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
 * [DONE]}. A client that disconnects cancels the stream: the stream actor stops (the model actor
 * watches it) and a {@link ModelActor.Cancel} is sent, so the sequence's pages go back at once.
 * If no event arrives for {@code prism.http.event-idle-timeout} the request fails.
 */
public final class CompletionHandler {
  private static final int EVENT_BUFFER = 1 << 16;
  private static final ByteString KEEP_ALIVE = ByteString.fromString(": keep-alive\n\n");
  private static final ByteString DONE = ByteString.fromString("data: [DONE]\n\n");

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
   * @param metrics observes each request's TTFT, TPOT and end
   */
  public CompletionHandler(PrismApi api, Materializer materializer, Duration keepAliveInterval, Duration eventIdleTimeout, PrismMetrics metrics) {
    this.api = api;
    this.materializer = materializer;
    this.keepAliveInterval = keepAliveInterval;
    this.eventIdleTimeout = eventIdleTimeout;
    this.metrics = metrics;
  }

  /** Serves {@code req}; the future fails only on internal errors (the exception handler answers 500). */
  public CompletionStage<HttpResponse> handle(CompletionRequest req) {
    String id = (req.chat() ? "chatcmpl-" : "cmpl-") + UUID.randomUUID().toString().replace("-", "");
    long created = System.currentTimeMillis() / 1000;
    long arrivalNanos = System.nanoTime();
    AtomicLong firstTokenNanos = new AtomicLong(-1);
    Pair<org.apache.pekko.actor.ActorRef, Source<GenerationEvent, NotUsed>> pre = Source.<GenerationEvent>actorRef(
            m -> Optional.empty(), m -> Optional.empty(), EVENT_BUFFER, OverflowStrategy.fail())
        .preMaterialize(materializer);
    api.generate(req.toGenerateRequest(id), Adapter.toTyped(pre.first()));
    Source<GenerationEvent, NotUsed> events = pre.second()
        .map(e -> observe(req.model(), arrivalNanos, firstTokenNanos, e))
        .takeWhile(e -> !(e instanceof GenerationEvent.Completed || e instanceof GenerationEvent.Rejected), true)
        .idleTimeout(eventIdleTimeout);
    return events.prefixAndTail(1).runWith(Sink.head(), materializer).thenCompose(pt -> {
      GenerationEvent first = pt.first().isEmpty() ? null : pt.first().get(0);
      if (first instanceof GenerationEvent.Rejected r) {
        return CompletableFuture.completedFuture(ApiError.of(r.rejection(), req.promptParam()).toResponse());
      }
      if (!(first instanceof GenerationEvent.Started started)) {
        return CompletableFuture.completedFuture(ApiError.internal("request " + id + " produced no start event").toResponse());
      }
      return req.stream()
          ? CompletableFuture.completedFuture(streaming(req, id, created, started, pt.second()))
          : collect(req, id, created, pt.second());
    }).exceptionally(e -> {
      Throwable t = e instanceof java.util.concurrent.CompletionException && e.getCause() != null ? e.getCause() : e;
      return (t instanceof java.util.concurrent.TimeoutException
          ? ApiError.unavailable("no answer for request " + id + " within " + eventIdleTimeout.toSeconds() + " s: " + t.getMessage())
          : ApiError.internal("request " + id + " failed: " + t)).toResponse();
    });
  }

  /** Records the request's first token and end in the metrics (TTFT and TPOT as the client sees them). */
  private GenerationEvent observe(String model, long arrivalNanos, AtomicLong firstTokenNanos, GenerationEvent e) {
    long now = System.nanoTime();
    if (e instanceof GenerationEvent.Chunk && firstTokenNanos.compareAndSet(-1, now)) {
      metrics.firstToken(model, (now - arrivalNanos) / 1e9);
    } else if (e instanceof GenerationEvent.Completed c) {
      long first = firstTokenNanos.get();
      double tpot = first >= 0 && c.completionTokens() > 1 ? (now - first) / 1e9 / (c.completionTokens() - 1) : Double.NaN;
      metrics.finished(model, c.reason(), (now - arrivalNanos) / 1e9, tpot);
    }
    return e;
  }

  /** Accumulates a non-streamed request's text until its end. */
  private static final class Collected {
    final StringBuilder text = new StringBuilder();
    GenerationEvent.Completed done;

    Collected add(GenerationEvent e) {
      if (e instanceof GenerationEvent.Chunk c) text.append(c.text());
      if (e instanceof GenerationEvent.Completed c) {
        text.append(c.text());
        done = c;
      }
      return this;
    }
  }

  private CompletionStage<HttpResponse> collect(CompletionRequest req, String id, long created, Source<GenerationEvent, NotUsed> tail) {
    return tail.runFold(new Collected(), Collected::add, materializer).thenApply(c -> {
      GenerationEvent.Completed done = c.done;
      if (done == null) return ApiError.internal("request " + id + " ended without a finish event").toResponse();
      return switch (done.reason()) {
        case STOP, LENGTH -> HttpResponse.create().withEntity(ContentTypes.APPLICATION_JSON, Json.bytes(ResponseShapes.full(req.chat(), id,
            created, req.model(), c.text.toString(), done.reason().openAiValue(),
            new ResponseShapes.Usage(done.promptTokens(), done.completionTokens()))));
        case FAILED, CANCELLED -> ApiError.internal("request " + id + " " + done.reason().openAiValue() + ": " + done.message()).toResponse();
      };
    });
  }

  private HttpResponse streaming(CompletionRequest req, String id, long created, GenerationEvent.Started started,
      Source<GenerationEvent, NotUsed> tail) {
    AtomicBoolean finished = new AtomicBoolean();
    Source<ByteString, NotUsed> head = req.chat()
        ? Source.single(frame(ResponseShapes.chunk(true, id, created, req.model(), "", null, true)))
        : Source.empty();
    StreamFrames frames = new StreamFrames(req.chat(), id, created, req.model());
    Source<ByteString, NotUsed> body = tail
        .mapConcat(e -> sseFrames(req, id, created, frames, e, finished))
        // frames that queue up while the connection is busy go out together in one HTTP chunk (one write)
        .conflate(ByteString::concat)
        .recoverWithRetries(1, Throwable.class, () -> Source.from(List.of(
            frame(ApiError.internal("stream of request " + id + " broke off: " + "no event within the idle timeout or buffer overflow").toJson()),
            DONE)));
    Source<ByteString, NotUsed> sse = head.concat(body)
        .keepAlive(keepAliveInterval, () -> KEEP_ALIVE)
        .watchTermination((nu, done) -> {
          done.whenComplete((d, err) -> {
            if (!finished.get()) started.model().tell(new ModelActor.Cancel(id));
          });
          return nu;
        });
    return HttpResponse.create()
        .addHeader(RawHeader.create("Cache-Control", "no-cache"))
        .withEntity(HttpEntities.createChunked(ContentTypes.create(MediaTypes.TEXT_EVENT_STREAM), sse));
  }

  private static List<ByteString> sseFrames(CompletionRequest req, String id, long created, StreamFrames frames, GenerationEvent e,
      AtomicBoolean finished) {
    boolean chat = req.chat();
    if (e instanceof GenerationEvent.Chunk c) { // the per-token path: no JSON tree, one array per frame
      return c.text().isEmpty() ? List.of() : List.of(frames.content(c.text()));
    }
    List<ByteString> out = new ArrayList<>(3);
    if (e instanceof GenerationEvent.Completed c) {
      finished.set(true);
      if (c.reason() == FinishReason.STOP || c.reason() == FinishReason.LENGTH) {
        if (chat && !c.text().isEmpty()) out.add(frames.content(c.text()));
        out.add(frame(ResponseShapes.chunk(chat, id, created, req.model(), chat ? "" : c.text(), c.reason().openAiValue(), false)));
        if (req.includeUsage()) {
          out.add(frame(ResponseShapes.usageChunk(chat, id, created, req.model(), new ResponseShapes.Usage(c.promptTokens(), c.completionTokens()))));
        }
      } else {
        out.add(frame(ApiError.internal("request " + id + " " + c.reason().openAiValue() + ": " + c.message()).toJson()));
      }
      out.add(DONE);
    }
    return out;
  }

  private static ByteString frame(com.fasterxml.jackson.databind.JsonNode json) {
    return ByteString.fromString("data: " + Json.text(json) + "\n\n", StandardCharsets.UTF_8);
  }
}
