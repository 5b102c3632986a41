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
 *       downed, or it restarted), the client gets a retryable 503. It must start the request
 *       within the model's TTFT SLO ({@link GenerationEvent.Queued#startWithinMillis()}) plus
 *       {@code startGrace}, else the client gets a retryable 503 (the device is stalled).
 *   <li><b>Started</b> by the model actor: the model actor is death-watched; if it stops before
 *       {@link GenerationEvent.Completed}, or sends nothing for {@code tokenTimeout}, the client
 *       gets a {@code Completed(FAILED)} with the tokens counted so far, so a stream ends instead of
 *       waiting for the HTTP idle timeout.
 * </ol>
 *
 * <p>A started request that its source hands over to a migration's target ({@link
 * GenerationEvent.Recomputing}) is followed there: the relay stops watching the source's model
 * actor, gives the target {@code deliveryTimeout} to take the request (else the client gets a
 * {@code Completed(FAILED)} with the tokens so far), then watches the target's model actor. The
 * client's events continue without a second {@code Started}.
 *
 * <p>When the {@link Frontend} tells the relay that the node of its request's GPU is unreachable
 * ({@link GenerationEvent.NodeUnreachable}), a request sent there but not taken gets a retryable 503
 * at once, and a queued or started one must show a sign of life (its start, a token) within {@code
 * unreachableGrace}, else it ends as above: a crashed node's requests end within failure detection
 * plus the grace instead of at the node's removal, while a node that only stalls keeps the streams
 * that still deliver tokens.
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
  private static final Object START = "start";
  private static final Object TOKENS = "tokens";
  private static final Object UNREACHABLE = "unreachable";
  /** Seconds a client is told to wait before retrying a request whose path was lost. */
  static final long RETRY_AFTER_SECONDS = 2;

  private final String requestId;
  private final ActorRef<GenerationEvent> requester;
  private final Duration deliveryTimeout;
  private final Duration startGrace;
  private final Duration tokenTimeout;
  private final Duration unreachableGrace;
  private String upstreamNode = "";
  private long startWithinMillis;
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
    return Behaviors.withTimers(timers -> Behaviors.setup(ctx -> new RequestRelay(ctx, timers, requestId, requester, deliveryTimeout,
        FrontendSettings.DEFAULT_START_GRACE, FrontendSettings.DEFAULT_TOKEN_TIMEOUT, FrontendSettings.DEFAULT_UNREACHABLE_GRACE)));
  }

  /**
   * @param requestId the request this relay serves
   * @param requester where the client's events go (an HTTP stream actor, a test probe)
   * @param deliveryTimeout how long a GPU actor has to take a request sent to it
   * @param settings the bounds: {@code deliveryTimeout}, {@code startGrace}, {@code tokenTimeout}, {@code unreachableGrace}
   */
  public static Behavior<GenerationEvent> create(String requestId, ActorRef<GenerationEvent> requester, FrontendSettings settings) {
    return Behaviors.withTimers(timers -> Behaviors.setup(ctx -> new RequestRelay(ctx, timers, requestId, requester, settings.deliveryTimeout(),
        settings.startGrace(), settings.tokenTimeout(), settings.unreachableGrace())));
  }

  private RequestRelay(ActorContext<GenerationEvent> ctx, TimerScheduler<GenerationEvent> timers, String requestId,
      ActorRef<GenerationEvent> requester, Duration deliveryTimeout, Duration startGrace, Duration tokenTimeout, Duration unreachableGrace) {
    super(ctx);
    this.timers = timers;
    this.requestId = requestId;
    this.requester = requester;
    this.deliveryTimeout = deliveryTimeout;
    this.startGrace = startGrace;
    this.tokenTimeout = tokenTimeout;
    this.unreachableGrace = unreachableGrace;
    ctx.watch(requester);
  }

  @Override
  public Receive<GenerationEvent> createReceive() {
    return newReceiveBuilder()
        .onMessage(GenerationEvent.Dispatched.class, this::onDispatched)
        .onMessage(GenerationEvent.Queued.class, this::onQueued)
        .onMessage(GenerationEvent.PathLost.class, this::onPathLost)
        .onMessage(GenerationEvent.Recomputing.class, this::onRecomputing)
        .onMessage(GenerationEvent.NodeUnreachable.class, this::onNodeUnreachable)
        .onMessage(GenerationEvent.Started.class, this::onStarted)
        .onMessage(GenerationEvent.Chunk.class, c -> {
          completionTokens++; // over all choices, as usage counts them
          timers.cancel(UNREACHABLE); // a token: the node is alive
          armTokenTimer();
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
          if (phase == Phase.STARTED) armTokenTimer();
          requester.tell(e);
          return this;
        })
        .onSignal(Terminated.class, this::onTerminated)
        .build();
  }

  private Behavior<GenerationEvent> onDispatched(GenerationEvent.Dispatched d) {
    if (d.attempt() < attempt || phase == Phase.STARTED) return this;
    attempt = d.attempt();
    timers.cancel(START);
    timers.cancel(UNREACHABLE);
    follow(null, "");
    upstreamNode = d.gpu().host() + ":" + d.gpu().port();
    phase = Phase.DISPATCHED;
    upstreamName = "GPU " + d.gpu();
    timers.startSingleTimer(DELIVERY, new GenerationEvent.PathLost(requestId, "timeout", false, attempt), deliveryTimeout);
    return this;
  }

  private Behavior<GenerationEvent> onQueued(GenerationEvent.Queued q) {
    if (q.attempt() < attempt || phase == Phase.STARTED) return this;
    attempt = q.attempt();
    timers.cancel(DELIVERY);
    timers.cancel(UNREACHABLE);
    phase = Phase.QUEUED;
    follow(q.gpuActor(), "GPU " + q.gpu());
    upstreamNode = q.gpu().host() + ":" + q.gpu().port();
    startWithinMillis = q.startWithinMillis();
    if (startWithinMillis > 0) {
      timers.startSingleTimer(START, new GenerationEvent.PathLost(requestId, "start", false, attempt), Duration.ofMillis(startWithinMillis).plus(startGrace));
    } else {
      timers.cancel(START);
    }
    return this;
  }

  private Behavior<GenerationEvent> onStarted(GenerationEvent.Started s) {
    timers.cancel(DELIVERY);
    timers.cancel(START);
    timers.cancel(UNREACHABLE); // started: the node is alive
    armTokenTimer();
    upstreamNode = s.gpu().host() + ":" + s.gpu().port();
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
      upstreamNode = r.gpu().host() + ":" + r.gpu().port();
      armTokenTimer();
    }
    return this;
  }

  private void armTokenTimer() {
    timers.startSingleTimer(TOKENS, new GenerationEvent.PathLost(requestId, "tokens", true, attempt), tokenTimeout);
  }

  private Behavior<GenerationEvent> onNodeUnreachable(GenerationEvent.NodeUnreachable n) {
    if (!upstreamNode.equals(n.host() + ":" + n.port())) return this;
    if (phase == Phase.DISPATCHED) { // sent there, not taken: it will not be
      requester.tell(new GenerationEvent.Rejected(requestId, new Rejection.Unavailable(
          upstreamName + " is on an unreachable node; retry", "model", RETRY_AFTER_SECONDS)));
      return Behaviors.stopped();
    }
    if (phase == Phase.QUEUED || phase == Phase.STARTED) {
      timers.startSingleTimer(UNREACHABLE, new GenerationEvent.PathLost(requestId, "unreachable", phase == Phase.STARTED, attempt), unreachableGrace);
    }
    return this;
  }

  private Behavior<GenerationEvent> onPathLost(GenerationEvent.PathLost p) {
    if ("timeout".equals(p.why()) && p.started() && moving && phase == Phase.STARTED) {
      requester.tell(new GenerationEvent.Completed(requestId, FinishReason.FAILED, "", promptTokens, completionTokens,
          upstreamName + " did not take over the request within " + deliveryTimeout.toMillis() + " ms of its migration (its node may be down)"));
      return Behaviors.stopped();
    }
    if ("unreachable".equals(p.why())) {
      if (p.attempt() != attempt) return this;
      String why = upstreamName + " is on an unreachable node and gave no sign of life for " + unreachableGrace.toMillis() + " ms";
      getContext().getLog().info("Request {}: {}; ending it", requestId, why);
      if (phase == Phase.STARTED) {
        requester.tell(new GenerationEvent.Completed(requestId, FinishReason.FAILED, "", promptTokens, completionTokens, why));
      } else if (phase == Phase.QUEUED) {
        requester.tell(new GenerationEvent.Rejected(requestId, new Rejection.Unavailable(why + "; retry", "model", RETRY_AFTER_SECONDS)));
      } else {
        return this;
      }
      return Behaviors.stopped(); // the GPU and model actors watch this relay: the request is dropped there
    }
    if ("tokens".equals(p.why())) {
      if (phase != Phase.STARTED) return this;
      getContext().getLog().warn("Request {}: no event from {} for {} ms; ending it as failed", requestId, upstreamName, tokenTimeout.toMillis());
      requester.tell(new GenerationEvent.Completed(requestId, FinishReason.FAILED, "", promptTokens, completionTokens,
          upstreamName + " sent nothing for " + tokenTimeout.toMillis() + " ms (its device may be stalled)"));
      return Behaviors.stopped(); // the model actor, watching this relay, cancels the request
    }
    if ("start".equals(p.why())) {
      if (p.attempt() != attempt || phase != Phase.QUEUED) return this;
      getContext().getLog().warn("Request {}: {} did not start it within the TTFT SLO ({} ms) plus {} ms; refusing it (retryable)", requestId,
          upstreamName, startWithinMillis, startGrace.toMillis());
      requester.tell(new GenerationEvent.Rejected(requestId, new Rejection.Unavailable(upstreamName + " did not start the request within its TTFT SLO ("
          + startWithinMillis + " ms) plus " + startGrace.toMillis() + " ms (the device may be stalled); retry", "model", RETRY_AFTER_SECONDS)));
      return Behaviors.stopped(); // the GPU actor and the model actor watch the requester (this relay): the request is dropped there
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
