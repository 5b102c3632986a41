package io.prism.actors.frontend;

import io.prism.runtime.engine.FinishReason;
import io.prism.runtime.engine.Rejection;
import java.time.Duration;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.Terminated;
import org.apache.pekko.actor.typed.javadsl.AbstractBehavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.Receive;
import org.apache.pekko.actor.typed.javadsl.TimerScheduler;

/**
 * One request's guardian on the node it entered: the {@link Frontend} spawns one per {@link
 * Frontend.Generate} and hands it to the cluster as the request's requester, so that no wait on the
 * request's path is unbounded (issue "A cluster that survives", item 1). It forwards the {@link
 * GenerationEvent}s meant for the client and, from the internal {@link GenerationEvent.Routing}
 * events, knows where the request is:
 *
 * <ol>
 *   <li><b>Dispatched</b> to a GPU through Cluster Sharding: the GPU actor must take it ({@link
 *       GenerationEvent.Queued}), start it or refuse it within {@code deliveryTimeout}; else the
 *       client gets a retryable 503 (the shard may be buffering for a node that is gone).
 *   <li><b>Queued</b> at the GPU actor: that actor is death-watched; if it stops (its node is
 *       downed, or it restarted), the client gets a retryable 503.
 *   <li><b>Started</b> by the model actor: the model actor is death-watched; if it stops before
 *       {@link GenerationEvent.Completed}, the client gets a {@code Completed(FAILED)} with the
 *       tokens counted so far, so a stream ends instead of waiting for the HTTP idle timeout.
 * </ol>
 *
 * <p>A started request that its source hands over to a migration's target ({@link
 * GenerationEvent.Recomputing}) is followed there: the relay stops watching the source's model
 * actor, gives the target {@code deliveryTimeout} to take the request (else the client gets a
 * {@code Completed(FAILED)} with the tokens so far), then watches the target's model actor. The
 * client's events continue without a second {@code Started}.
 *
 * <p>Routing events of an older attempt (before a GPU sent the request back) are ignored. The relay
 * watches the requester too: when it stops (the client went away), the relay stops, and the model
 * actor, which watches the relay, cancels the request. It stops itself after the last event.
 *
 * <p>Threading: an actor; all state is its own.
 */
public final class RequestRelay extends AbstractBehavior<GenerationEvent> {
  private enum Phase {
    NEW,
    DISPATCHED,
    QUEUED,
    STARTED
  }

  private static final Object DELIVERY = "delivery";
  /** Seconds a client is told to wait before retrying a request whose path was lost. */
  static final long RETRY_AFTER_SECONDS = 2;

  private final String requestId;
  private final ActorRef<GenerationEvent> requester;
  private final Duration deliveryTimeout;
  private final TimerScheduler<GenerationEvent> timers;
  private Phase phase = Phase.NEW;
  private int attempt;
  private ActorRef<?> upstream;
  private String upstreamName = "";
  private int promptTokens;
  private int completionTokens;
  private String modelId = "";
  /** A started request on its way to a migration's target ({@link GenerationEvent.Recomputing}). */
  private boolean moving;
  /** The GPU whose model actor took the request over last, or null. */
  private io.prism.actors.GpuId recomputedOn;

  /**
   * @param requestId the request this relay serves
   * @param requester where the client's events go (an HTTP stream actor, a test probe)
   * @param deliveryTimeout how long a GPU actor has to take a request sent to it
   */
  public static Behavior<GenerationEvent> create(String requestId, ActorRef<GenerationEvent> requester, Duration deliveryTimeout) {
    return Behaviors.withTimers(timers -> Behaviors.setup(ctx -> new RequestRelay(ctx, timers, requestId, requester, deliveryTimeout)));
  }

  private RequestRelay(ActorContext<GenerationEvent> ctx, TimerScheduler<GenerationEvent> timers, String requestId,
      ActorRef<GenerationEvent> requester, Duration deliveryTimeout) {
    super(ctx);
    this.timers = timers;
    this.requestId = requestId;
    this.requester = requester;
    this.deliveryTimeout = deliveryTimeout;
    ctx.watch(requester);
  }

  @Override
  public Receive<GenerationEvent> createReceive() {
    return newReceiveBuilder()
        .onMessage(GenerationEvent.Dispatched.class, this::onDispatched)
        .onMessage(GenerationEvent.Queued.class, this::onQueued)
        .onMessage(GenerationEvent.PathLost.class, this::onPathLost)
        .onMessage(GenerationEvent.Recomputing.class, this::onRecomputing)
        .onMessage(GenerationEvent.Started.class, this::onStarted)
        .onMessage(GenerationEvent.Chunk.class, c -> {
          completionTokens++; // over all choices, as usage counts them
          requester.tell(c);
          return this;
        })
        .onMessage(GenerationEvent.Completed.class, c -> {
          requester.tell(c);
          return Behaviors.stopped();
        })
        .onMessage(GenerationEvent.Rejected.class, r -> {
          requester.tell(r);
          return Behaviors.stopped();
        })
        .onMessage(GenerationEvent.class, e -> { // any other client event (e.g. one choice of n ending) passes through
          requester.tell(e);
          return this;
        })
        .onSignal(Terminated.class, this::onTerminated)
        .build();
  }

  private Behavior<GenerationEvent> onDispatched(GenerationEvent.Dispatched d) {
    if (d.attempt() < attempt || phase == Phase.STARTED) return this;
    attempt = d.attempt();
    follow(null, "");
    phase = Phase.DISPATCHED;
    upstreamName = "GPU " + d.gpu();
    timers.startSingleTimer(DELIVERY, new GenerationEvent.PathLost(requestId, "timeout", false, attempt), deliveryTimeout);
    return this;
  }

  private Behavior<GenerationEvent> onQueued(GenerationEvent.Queued q) {
    if (q.attempt() < attempt || phase == Phase.STARTED) return this;
    attempt = q.attempt();
    timers.cancel(DELIVERY);
    phase = Phase.QUEUED;
    follow(q.gpuActor(), "GPU " + q.gpu());
    return this;
  }

  private Behavior<GenerationEvent> onStarted(GenerationEvent.Started s) {
    timers.cancel(DELIVERY);
    phase = Phase.STARTED;
    promptTokens = s.promptTokens();
    modelId = s.modelId();
    follow(s.model(), "model '" + s.modelId() + "' on GPU " + s.gpu());
    requester.tell(s);
    return this;
  }

  private Behavior<GenerationEvent> onRecomputing(GenerationEvent.Recomputing r) {
    if (phase != Phase.STARTED) return this; // only a started request is handed over
    if (r.model() == null) { // on its way: the source's model actor may stop now
      if (r.gpu().equals(recomputedOn)) return this; // the target's notice came first (from another node)
      follow(null, "");
      upstreamName = "GPU " + r.gpu();
      moving = true;
      timers.startSingleTimer(DELIVERY, new GenerationEvent.PathLost(requestId, "timeout", true, attempt), deliveryTimeout);
    } else {
      timers.cancel(DELIVERY);
      moving = false;
      recomputedOn = r.gpu();
      follow(r.model(), "model '" + modelId + "' on GPU " + r.gpu());
    }
    return this;
  }

  private Behavior<GenerationEvent> onPathLost(GenerationEvent.PathLost p) {
    if (p.started() && moving && phase == Phase.STARTED) {
      requester.tell(new GenerationEvent.Completed(requestId, FinishReason.FAILED, "", promptTokens, completionTokens,
          upstreamName + " did not take over the request within " + deliveryTimeout.toMillis() + " ms of its migration (its node may be down)"));
      return Behaviors.stopped();
    }
    if (p.attempt() != attempt || phase != Phase.DISPATCHED) return this; // the GPU answered in the meantime
    requester.tell(new GenerationEvent.Rejected(requestId, new Rejection.Unavailable(
        upstreamName + " did not take the request within " + deliveryTimeout.toMillis() + " ms (its node may be down); retry", "model",
        RETRY_AFTER_SECONDS)));
    return Behaviors.stopped();
  }

  private Behavior<GenerationEvent> onTerminated(Terminated t) {
    if (t.getRef().equals(requester)) return Behaviors.stopped(); // the client went away: the model actor, watching us, cancels
    if (!t.getRef().equals(upstream)) return this;
    if (phase == Phase.STARTED) {
      requester.tell(new GenerationEvent.Completed(requestId, FinishReason.FAILED, "", promptTokens, completionTokens,
          upstreamName + " stopped while generating (its node may have been lost)"));
    } else {
      requester.tell(new GenerationEvent.Rejected(requestId, new Rejection.Unavailable(
          upstreamName + " stopped before starting the request (its node may have been lost); retry", "model", RETRY_AFTER_SECONDS)));
    }
    return Behaviors.stopped();
  }

  private void follow(ActorRef<?> ref, String name) {
    if (upstream != null && !upstream.equals(requester)) getContext().unwatch(upstream);
    upstream = ref;
    if (ref != null) {
      upstreamName = name;
      getContext().watch(ref);
    }
  }

  /** For log lines. */
  @Override
  public String toString() {
    return "RequestRelay(" + requestId + ", " + modelId + ", " + phase + ")";
  }
}
