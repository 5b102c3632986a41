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
 * Routing events of an older attempt (before a GPU sent the request back) are ignored. The relay
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
  /** Seconds a client is told to wait before retrying a request whose path was lost. */
  static final long RETRY_AFTER_SECONDS = 2;

  private final String requestId;
  private final ActorRef<GenerationEvent> requester;
  private final Duration deliveryTimeout;
  private final Duration startGrace;
  private final Duration tokenTimeout;
  private long startWithinMillis;
  private final TimerScheduler<GenerationEvent> timers;
  private Phase phase = Phase.NEW;
  private int attempt;
  private ActorRef<?> upstream;
  private String upstreamName = "";
  private int promptTokens;
  private int completionTokens;
  private String modelId = "";

  /**
   * @param requestId the request this relay serves
   * @param requester where the client's events go (an HTTP stream actor, a test probe)
   * @param deliveryTimeout how long a GPU actor has to take a request sent to it
   */
  public static Behavior<GenerationEvent> create(String requestId, ActorRef<GenerationEvent> requester, Duration deliveryTimeout) {
    return create(requestId, requester, deliveryTimeout, FrontendSettings.DEFAULT_START_GRACE, FrontendSettings.DEFAULT_TOKEN_TIMEOUT);
  }

  /**
   * @param requestId the request this relay serves
   * @param requester where the client's events go (an HTTP stream actor, a test probe)
   * @param deliveryTimeout how long a GPU actor has to take a request sent to it
   * @param startGrace how long past the model's TTFT SLO a queued request may wait to start
   * @param tokenTimeout the longest gap between two events of a started request
   */
  public static Behavior<GenerationEvent> create(String requestId, ActorRef<GenerationEvent> requester, Duration deliveryTimeout,
      Duration startGrace, Duration tokenTimeout) {
    return Behaviors.withTimers(timers -> Behaviors.setup(ctx -> new RequestRelay(ctx, timers, requestId, requester, deliveryTimeout, startGrace,
        tokenTimeout)));
  }

  private RequestRelay(ActorContext<GenerationEvent> ctx, TimerScheduler<GenerationEvent> timers, String requestId,
      ActorRef<GenerationEvent> requester, Duration deliveryTimeout, Duration startGrace, Duration tokenTimeout) {
    super(ctx);
    this.timers = timers;
    this.requestId = requestId;
    this.requester = requester;
    this.deliveryTimeout = deliveryTimeout;
    this.startGrace = startGrace;
    this.tokenTimeout = tokenTimeout;
    ctx.watch(requester);
  }

  @Override
  public Receive<GenerationEvent> createReceive() {
    return newReceiveBuilder()
        .onMessage(GenerationEvent.Dispatched.class, this::onDispatched)
        .onMessage(GenerationEvent.Queued.class, this::onQueued)
        .onMessage(GenerationEvent.PathLost.class, this::onPathLost)
        .onMessage(GenerationEvent.Started.class, this::onStarted)
        .onMessage(GenerationEvent.Chunk.class, c -> {
          completionTokens++; // over all choices, as usage counts them
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
    armTokenTimer();
    phase = Phase.STARTED;
    promptTokens = s.promptTokens();
    modelId = s.modelId();
    follow(s.model(), "model '" + s.modelId() + "' on GPU " + s.gpu());
    requester.tell(s);
    return this;
  }

  private void armTokenTimer() {
    timers.startSingleTimer(TOKENS, new GenerationEvent.PathLost(requestId, "tokens", true, attempt), tokenTimeout);
  }

  private Behavior<GenerationEvent> onPathLost(GenerationEvent.PathLost p) {
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
