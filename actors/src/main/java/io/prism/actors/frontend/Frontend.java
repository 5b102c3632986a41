package io.prism.actors.frontend;

import io.prism.actors.GpuId;
import io.prism.actors.PrismMessage;
import io.prism.actors.gpu.GpuActor;
import io.prism.actors.placement.GlobalPlacementActor;

import io.prism.runtime.engine.Rejection;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.RecipientRef;
import org.apache.pekko.actor.typed.javadsl.AbstractBehavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.Receive;

/**
 * The entry point of requests on one node: resolves a model id to the GPU that serves it (asking
 * the {@link GlobalPlacementActor} and caching the answer for {@code prism.frontend.placement-cache-ttl})
 * and forwards the request to that GPU's actor through Cluster Sharding, so a request entering any
 * node reaches its model wherever it is. Events then flow straight from the model actor to the
 * requester, across nodes if need be.
 *
 * <p>Requests for a model that is still loading wait (at most {@code prism.frontend.resolve-timeout});
 * a GPU that no longer has the model sends the request back ({@link Misrouted}) and it is resolved
 * again, at most twice. Unknown models are rejected with {@link Rejection.ModelNotFound}.
 */
public final class Frontend extends AbstractBehavior<Frontend.Command> {
  /** Messages of the frontend protocol. */
  public sealed interface Command extends PrismMessage {}

  /** Serve {@code request}; every {@link GenerationEvent} goes to {@code replyTo}. */
  public record Generate(GenerateRequest request, ActorRef<GenerationEvent> replyTo) implements Command {}

  /**
   * Tokenize or detokenize with the model's own tokenizer: resolved as {@link Generate} is and
   * answered by the model's GPU actor ({@link GpuActor.Tokenize}); an unknown model is {@link
   * TokenizeReply.Refused} with {@link Rejection.ModelNotFound}.
   */
  public record Tokenize(TokenizeRequest request, ActorRef<TokenizeReply> replyTo) implements Command {}

  /**
   * From a GPU actor that does not have the model (any more). After a live migration the old GPU
   * names the new one ({@code redirect}, with the placement {@code epoch} of the move): the request
   * goes there at once and the cache learns it; without it the model is resolved again.
   */
  public record Misrouted(GenerateRequest request, ActorRef<GenerationEvent> replyTo, GpuId gpu, int attempt, GpuId redirect, long epoch)
      implements Command {}

  private record Resolved(String modelId, GlobalPlacementActor.Resolution resolution) implements Command {}

  private record ResolveFailed(String modelId, String message) implements Command {}

  /** A request waiting for its model's GPU: a generation or a tokenization. */
  private sealed interface Routed {
    String modelId();

    void reject(Rejection r);
  }

  private record Pending(GenerateRequest request, ActorRef<GenerationEvent> replyTo, int attempt) implements Routed {
    @Override
    public String modelId() {
      return request.modelId();
    }

    @Override
    public void reject(Rejection r) {
      replyTo.tell(new GenerationEvent.Rejected(request.requestId(), r));
    }
  }

  private record PendingTokenize(Tokenize tokenize) implements Routed {
    @Override
    public String modelId() {
      return tokenize.request().modelId();
    }

    @Override
    public void reject(Rejection r) {
      tokenize.replyTo().tell(new TokenizeReply.Refused(r));
    }
  }

  private record Cached(GpuId gpu, long expiresNanos, long epoch) {}

  private static final int MAX_ATTEMPTS = 3;

  private final ActorRef<GlobalPlacementActor.Command> placement;
  private final Function<GpuId, RecipientRef<GpuActor.Command>> gpus;
  private final long cacheTtlNanos;
  private final Duration resolveTimeout;
  private final Map<String, Cached> cache = new HashMap<>();
  private final Map<String, List<Routed>> pending = new HashMap<>();

  /**
   * @param placement the placement singleton (proxy)
   * @param gpus how to reach a GPU actor (Cluster Sharding)
   * @param cacheTtl how long a resolution is trusted
   * @param resolveTimeout how long a request waits for its model to be placed
   */
  public static Behavior<Command> create(ActorRef<GlobalPlacementActor.Command> placement, Function<GpuId, RecipientRef<GpuActor.Command>> gpus,
      Duration cacheTtl, Duration resolveTimeout) {
    return Behaviors.setup(ctx -> new Frontend(ctx, placement, gpus, cacheTtl, resolveTimeout));
  }

  private Frontend(ActorContext<Command> ctx, ActorRef<GlobalPlacementActor.Command> placement,
      Function<GpuId, RecipientRef<GpuActor.Command>> gpus, Duration cacheTtl, Duration resolveTimeout) {
    super(ctx);
    this.placement = placement;
    this.gpus = gpus;
    this.cacheTtlNanos = cacheTtl.toNanos();
    this.resolveTimeout = resolveTimeout;
  }

  @Override
  public Receive<Command> createReceive() {
    return newReceiveBuilder()
        .onMessage(Generate.class, m -> route(new Pending(m.request(), m.replyTo(), 0)))
        .onMessage(Tokenize.class, m -> route(new PendingTokenize(m)))
        .onMessage(Misrouted.class, this::onMisrouted)
        .onMessage(Resolved.class, this::onResolved)
        .onMessage(ResolveFailed.class, this::onResolveFailed)
        .build();
  }

  private Behavior<Command> route(Routed p) {
    String modelId = p.modelId();
    Cached c = cache.get(modelId);
    if (c != null && System.nanoTime() - c.expiresNanos < 0) {
      send(p, c.gpu());
      return this;
    }
    cache.remove(modelId);
    List<Routed> waiting = pending.computeIfAbsent(modelId, k -> new ArrayList<>());
    waiting.add(p);
    if (waiting.size() == 1) {
      getContext().ask(GlobalPlacementActor.Resolution.class, placement, resolveTimeout,
          ref -> new GlobalPlacementActor.Resolve(modelId, ref),
          (res, err) -> res != null ? new Resolved(modelId, res) : new ResolveFailed(modelId, err.getMessage()));
    }
    return this;
  }

  private void send(Routed r, GpuId gpu) {
    if (r instanceof Pending p) gpus.apply(gpu).tell(new GpuActor.Generate(p.request(), p.replyTo(), getContext().getSelf(), p.attempt()));
    else if (r instanceof PendingTokenize t) gpus.apply(gpu).tell(new GpuActor.Tokenize(t.tokenize().request(), t.tokenize().replyTo()));
  }

  private Behavior<Command> onMisrouted(Misrouted m) {
    String modelId = m.request().modelId();
    Cached c = cache.get(modelId);
    if (c != null && c.gpu().equals(m.gpu())) cache.remove(modelId);
    if (m.redirect() != null && m.attempt() + 1 < MAX_ATTEMPTS) {
      Cached now = cache.get(modelId);
      if (now == null || now.epoch() < m.epoch()) cache.put(modelId, new Cached(m.redirect(), System.nanoTime() + cacheTtlNanos, m.epoch()));
      send(new Pending(m.request(), m.replyTo(), m.attempt() + 1), m.redirect());
      return this;
    }
    if (m.attempt() + 1 >= MAX_ATTEMPTS) {
      m.replyTo().tell(new GenerationEvent.Rejected(m.request().requestId(), new Rejection.Unavailable(
          "model '" + m.request().modelId() + "' is moving between GPUs; retry shortly", null, 1)));
      return this;
    }
    return route(new Pending(m.request(), m.replyTo(), m.attempt() + 1));
  }

  private Behavior<Command> onResolved(Resolved r) {
    List<Routed> waiting = pending.remove(r.modelId());
    if (waiting == null) return this;
    GlobalPlacementActor.Resolution res = r.resolution();
    if (res instanceof GlobalPlacementActor.Located l && l.model().gpu() != null) {
      cache.put(r.modelId(), new Cached(l.model().gpu(), System.nanoTime() + cacheTtlNanos, l.epoch()));
      for (Routed p : waiting) send(p, l.model().gpu());
    } else if (res instanceof GlobalPlacementActor.NotFound) {
      for (Routed p : waiting) p.reject(new Rejection.ModelNotFound("The model '" + r.modelId() + "' does not exist"));
    } else {
      String why = res instanceof GlobalPlacementActor.Unavailable u ? u.message() : "model has no GPU";
      for (Routed p : waiting) p.reject(new Rejection.Unavailable("model '" + r.modelId() + "' is unavailable: " + why, "model", -1));
    }
    return this;
  }

  private Behavior<Command> onResolveFailed(ResolveFailed f) {
    List<Routed> waiting = pending.remove(f.modelId());
    if (waiting == null) return this;
    for (Routed p : waiting) {
      p.reject(new Rejection.Unavailable("model '" + f.modelId() + "' was not placed within " + resolveTimeout.toSeconds() + " s: " + f.message(), "model", -1));
    }
    return this;
  }
}
