package io.prism.actors.frontend;

import io.prism.actors.GpuId;
import io.prism.actors.PrismMessage;
import io.prism.actors.gpu.GpuActor;
import io.prism.actors.placement.GlobalPlacementActor;
import io.prism.runtime.engine.Rejection;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;
import org.apache.pekko.actor.Address;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.RecipientRef;
import org.apache.pekko.actor.typed.javadsl.AbstractBehavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.Receive;
import org.apache.pekko.actor.typed.javadsl.TimerScheduler;
import org.apache.pekko.cluster.ClusterEvent;
import org.apache.pekko.cluster.Member;
import org.apache.pekko.cluster.MemberStatus;
import org.apache.pekko.cluster.typed.Cluster;
import org.apache.pekko.cluster.typed.Subscribe;

/**
 * The entry point of requests on one node: resolves a model id to the GPU that serves it (asking
 * the {@link GlobalPlacementActor} and caching the answer for {@code placement-cache-ttl}) and
 * forwards the request to that GPU's actor through Cluster Sharding (a model with replicas: to one
 * of its instances, shortest queue first, {@link InstanceCache}), so a request entering any node
 * reaches its model wherever it is. Events then flow from the model actor to the request's {@link
 * RequestRelay} (spawned here, one per request) and on to the requester.
 *
 * <p><b>Bounds</b> ({@link FrontendSettings}): one lookup per model at a time, each waiting at most
 * {@code lookup-timeout}; a model that is loading is asked for again every {@code loading-poll},
 * each request at most {@code resolve-timeout}; an entry unused for {@code idle-lookup-after} is
 * looked up before use, so the placement can reactivate an evicted model where it fits. While the
 * singleton does not answer (a failover),
 * models resolved before keep being served from their last known GPU (an expired entry is used and
 * refreshed in the background), and requests for other models fail after {@code lookup-give-up}
 * with a retryable 503. A GPU that no longer has the model sends the request back ({@link
 * Misrouted}) and it is resolved again, at most twice. Unknown models are rejected with {@link
 * Rejection.ModelNotFound}.
 *
 * <p><b>Lost nodes.</b> The frontend follows cluster membership and reachability ({@link
 * NodeAvailability}): nothing is sent to a GPU of a node that is unreachable, leaving or removed
 * (Cluster Sharding would buffer it); such a request is resolved again, and if the placement still
 * names that GPU it fails at once with a retryable 503 ({@code Retry-After: lost-node-retry-after}).
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

  /**
   * A cluster node ({@code host:port}, as in {@link GpuId}) became reachable and up ({@code
   * available}) or unreachable, leaving or removed. Sent by the frontend's own cluster subscription
   * (tests send it directly).
   */
  public record NodeAvailability(String host, int port, boolean available) implements Command {}

  private record Resolved(String modelId, GlobalPlacementActor.Resolution resolution) implements Command {}

  private record ResolveFailed(String modelId, String message) implements Command {}

  private record Refreshed(String modelId, GlobalPlacementActor.Resolution resolution) implements Command {}

  private record AskAgain(String modelId) implements Command {}

  /** A request waiting for its model's GPU: a generation or a tokenization. */
  private sealed interface Routed {
    String modelId();

    long deadlineNanos();

    void reject(Rejection r);
  }

  private record Pending(GenerateRequest request, ActorRef<GenerationEvent> replyTo, int attempt, long deadlineNanos) implements Routed {
    @Override
    public String modelId() {
      return request.modelId();
    }

    @Override
    public void reject(Rejection r) {
      replyTo.tell(new GenerationEvent.Rejected(request.requestId(), r));
    }
  }

  private record PendingTokenize(Tokenize tokenize, long deadlineNanos) implements Routed {
    @Override
    public String modelId() {
      return tokenize.request().modelId();
    }

    @Override
    public void reject(Rejection r) {
      tokenize.replyTo().tell(new TokenizeReply.Refused(r));
    }
  }

  /** The requests waiting for one model's lookup, and when the singleton last answered it. */
  private static final class Lookup {
    final List<Routed> waiting = new ArrayList<>();
    long lastAnswerNanos = System.nanoTime();
  }

  private static final int MAX_ATTEMPTS = 3;
  private static final String RELAY_PREFIX = "relay-";

  private final ActorRef<GlobalPlacementActor.Command> placement;
  private final Function<GpuId, RecipientRef<GpuActor.Command>> gpus;
  private final FrontendSettings settings;
  private final TimerScheduler<Command> timers;
  private final InstanceCache cache = new InstanceCache();
  private final Map<String, Lookup> lookups = new HashMap<>();
  private final Set<String> refreshing = new HashSet<>();
  private final Set<String> lostNodes = new HashSet<>();
  private long relays;

  /**
   * @param placement the placement singleton (proxy)
   * @param gpus how to reach a GPU actor (Cluster Sharding)
   * @param settings the frontend's bounds
   * @param watchCluster follow cluster membership and reachability (false in tests without a cluster)
   */
  public static Behavior<Command> create(ActorRef<GlobalPlacementActor.Command> placement, Function<GpuId, RecipientRef<GpuActor.Command>> gpus,
      FrontendSettings settings, boolean watchCluster) {
    return Behaviors.withTimers(timers -> Behaviors.setup(ctx -> new Frontend(ctx, timers, placement, gpus, settings, watchCluster)));
  }

  /** As {@link #create(ActorRef, Function, FrontendSettings, boolean)} with default bounds and no cluster (tests). */
  public static Behavior<Command> create(ActorRef<GlobalPlacementActor.Command> placement, Function<GpuId, RecipientRef<GpuActor.Command>> gpus,
      Duration cacheTtl, Duration resolveTimeout) {
    return create(placement, gpus, FrontendSettings.of(cacheTtl, resolveTimeout), false);
  }

  private Frontend(ActorContext<Command> ctx, TimerScheduler<Command> timers, ActorRef<GlobalPlacementActor.Command> placement,
      Function<GpuId, RecipientRef<GpuActor.Command>> gpus, FrontendSettings settings, boolean watchCluster) {
    super(ctx);
    this.timers = timers;
    this.placement = placement;
    this.gpus = gpus;
    this.settings = settings;
    if (watchCluster) {
      Cluster cluster = Cluster.get(ctx.getSystem());
      ActorRef<ClusterEvent.MemberEvent> members = ctx.messageAdapter(ClusterEvent.MemberEvent.class, e -> {
        Member m = e.member();
        boolean up = e instanceof ClusterEvent.MemberUp || e instanceof ClusterEvent.MemberWeaklyUp || e instanceof ClusterEvent.MemberJoined;
        // a node restarted on the same address is a new member: the removal of its old incarnation, published after
        // the new one joined, does not make the address unavailable
        return availability(m.address(), up || newerIncarnationServing(cluster, m));
      });
      ActorRef<ClusterEvent.ReachabilityEvent> reach = ctx.messageAdapter(ClusterEvent.ReachabilityEvent.class,
          e -> availability(e.member().address(), e instanceof ClusterEvent.ReachableMember));
      Cluster.get(ctx.getSystem()).subscriptions().tell(Subscribe.create(members, ClusterEvent.MemberEvent.class));
      Cluster.get(ctx.getSystem()).subscriptions().tell(Subscribe.create(reach, ClusterEvent.ReachabilityEvent.class));
    }
  }

  private static boolean newerIncarnationServing(Cluster cluster, Member gone) {
    for (Member m : cluster.state().getMembers()) {
      MemberStatus st = m.status();
      if (m.address().equals(gone.address()) && !m.uniqueAddress().equals(gone.uniqueAddress())
          && (st == MemberStatus.up() || st == MemberStatus.weaklyUp() || st == MemberStatus.joining())) {
        return true;
      }
    }
    return false;
  }

  private static NodeAvailability availability(Address a, boolean available) {
    return new NodeAvailability(a.host().get(), (Integer) a.port().get(), available);
  }

  @Override
  public Receive<Command> createReceive() {
    return newReceiveBuilder()
        .onMessage(Generate.class, this::onGenerate)
        .onMessage(Tokenize.class, m -> route(new PendingTokenize(m, deadline())))
        .onMessage(Misrouted.class, this::onMisrouted)
        .onMessage(Resolved.class, this::onResolved)
        .onMessage(ResolveFailed.class, this::onResolveFailed)
        .onMessage(Refreshed.class, this::onRefreshed)
        .onMessage(AskAgain.class, m -> {
          if (lookups.containsKey(m.modelId())) ask(m.modelId());
          return this;
        })
        .onMessage(NodeAvailability.class, this::onNodeAvailability)
        .build();
  }

  private long deadline() {
    return System.nanoTime() + settings.resolveTimeout().toNanos();
  }

  private Behavior<Command> onGenerate(Generate m) {
    ActorRef<GenerationEvent> relay = getContext().spawn(RequestRelay.create(m.request().requestId(), m.replyTo(), settings),
        RELAY_PREFIX + (++relays));
    return route(new Pending(m.request(), relay, 0, deadline()));
  }

  private Behavior<Command> route(Routed p) {
    String modelId = p.modelId();
    boolean idle = cache.idle(modelId, settings.idleLookupAfter().toNanos(), System.nanoTime()); // looked up first (evicted? reactivated where it fits)
    GpuId cached = idle ? null : cache.choose(modelId);
    if (cached != null) {
      send(p, cached);
      if (cache.expired(modelId, System.nanoTime()) && refreshing.add(modelId)) { // expired: still used, refreshed in the background
        getContext().ask(GlobalPlacementActor.Resolution.class, placement, settings.lookupTimeout(),
            ref -> new GlobalPlacementActor.Resolve(modelId, ref), (res, err) -> new Refreshed(modelId, res));
      }
      return this;
    }
    Lookup lookup = lookups.get(modelId);
    if (lookup == null) {
      lookup = new Lookup();
      lookups.put(modelId, lookup);
      lookup.waiting.add(p);
      ask(modelId);
    } else {
      lookup.waiting.add(p);
    }
    return this;
  }

  private void ask(String modelId) {
    getContext().ask(GlobalPlacementActor.Resolution.class, placement, settings.lookupTimeout(),
        ref -> new GlobalPlacementActor.Resolve(modelId, ref),
        (res, err) -> res != null ? new Resolved(modelId, res) : new ResolveFailed(modelId, err.getMessage()));
  }

  private boolean lost(GpuId gpu) {
    return lostNodes.contains(gpu.host() + ":" + gpu.port());
  }

  private void send(Routed r, GpuId gpu) {
    if (r instanceof Pending p) {
      p.replyTo().tell(new GenerationEvent.Dispatched(p.request().requestId(), gpu, p.attempt()));
      gpus.apply(gpu).tell(new GpuActor.Generate(p.request(), p.replyTo(), getContext().getSelf(), p.attempt()));
    } else if (r instanceof PendingTokenize t) {
      gpus.apply(gpu).tell(new GpuActor.Tokenize(t.tokenize().request(), t.tokenize().replyTo()));
    }
  }

  private Behavior<Command> onMisrouted(Misrouted m) {
    String modelId = m.request().modelId();
    if (m.redirect() != null && m.attempt() + 1 < MAX_ATTEMPTS && !lost(m.redirect())) {
      cache.redirect(modelId, m.gpu(), m.redirect(), m.epoch(), expiry());
      send(new Pending(m.request(), m.replyTo(), m.attempt() + 1, deadline()), m.redirect());
      return this;
    }
    cache.forget(modelId, m.gpu());
    if (m.attempt() + 1 >= MAX_ATTEMPTS) {
      m.replyTo().tell(new GenerationEvent.Rejected(m.request().requestId(), new Rejection.Unavailable(
          "model '" + m.request().modelId() + "' is moving between GPUs; retry shortly", null, 1)));
      return this;
    }
    return route(new Pending(m.request(), m.replyTo(), m.attempt() + 1, deadline()));
  }

  private long expiry() {
    return System.nanoTime() + settings.placementCacheTtl().toNanos();
  }

  private Behavior<Command> onResolved(Resolved r) {
    Lookup lookup = lookups.get(r.modelId());
    if (lookup == null) return this;
    lookup.lastAnswerNanos = System.nanoTime();
    GlobalPlacementActor.Resolution res = r.resolution();
    if (res instanceof GlobalPlacementActor.Loading) {
      long now = System.nanoTime();
      lookup.waiting.removeIf(p -> {
        if (now - p.deadlineNanos() < 0) return false;
        p.reject(new Rejection.Unavailable("model '" + r.modelId() + "' was not placed within " + settings.resolveTimeout().toSeconds() + " s",
            "model", -1));
        return true;
      });
      if (lookup.waiting.isEmpty()) lookups.remove(r.modelId());
      else timers.startSingleTimer(r.modelId(), new AskAgain(r.modelId()), settings.loadingPoll());
      return this;
    }
    lookups.remove(r.modelId());
    if (res instanceof GlobalPlacementActor.Located l && l.model().gpu() != null) {
      if (!cache.put(r.modelId(), l.instances(), l.epoch(), expiry(), this::lost, false)) {
        for (Routed p : lookup.waiting) p.reject(lostNode(r.modelId(), l.model().gpu()));
        return this;
      }
      for (Routed p : lookup.waiting) send(p, cache.choose(r.modelId()));
    } else if (res instanceof GlobalPlacementActor.NotFound) {
      cache.remove(r.modelId());
      for (Routed p : lookup.waiting) p.reject(new Rejection.ModelNotFound("The model '" + r.modelId() + "' does not exist"));
    } else {
      String why = res instanceof GlobalPlacementActor.Unavailable u ? u.message() : "model has no GPU";
      for (Routed p : lookup.waiting) p.reject(new Rejection.Unavailable("model '" + r.modelId() + "' is unavailable: " + why, "model", -1));
    }
    return this;
  }

  private Rejection lostNode(String modelId, GpuId gpu) {
    return new Rejection.Unavailable("model '" + modelId + "' is on GPU " + gpu + ", whose node is unreachable; it is placed again once the node "
        + "is removed from the cluster", "model", settings.lostNodeRetryAfter());
  }

  private Behavior<Command> onResolveFailed(ResolveFailed f) {
    Lookup lookup = lookups.get(f.modelId());
    if (lookup == null) return this;
    if (cache.has(f.modelId())) { // the singleton is away: serve from the last known placement
      lookups.remove(f.modelId());
      for (Routed p : lookup.waiting) send(p, cache.choose(f.modelId()));
      return this;
    }
    if (System.nanoTime() - lookup.lastAnswerNanos < settings.lookupGiveUp().toNanos()) {
      timers.startSingleTimer(f.modelId(), new AskAgain(f.modelId()), settings.loadingPoll());
      return this;
    }
    lookups.remove(f.modelId());
    getContext().getLog().warn("The placement did not answer lookups of model {} for {} s ({}); refusing its {} waiting requests", f.modelId(),
        settings.lookupGiveUp().toSeconds(), f.message(), lookup.waiting.size());
    for (Routed p : lookup.waiting) {
      p.reject(new Rejection.Unavailable("the placement service did not answer for model '" + f.modelId() + "' within "
          + settings.lookupGiveUp().toSeconds() + " s (a failover may be in progress); retry", "model", RequestRelay.RETRY_AFTER_SECONDS));
    }
    return this;
  }

  private Behavior<Command> onRefreshed(Refreshed r) {
    refreshing.remove(r.modelId());
    if (r.resolution() instanceof GlobalPlacementActor.Located l && l.model().gpu() != null) {
      cache.put(r.modelId(), l.instances(), l.epoch(), expiry(), this::lost, true);
    } else if (r.resolution() != null) {
      cache.remove(r.modelId()); // not found, loading elsewhere or unavailable: the next request asks
    }
    return this;
  }

  private Behavior<Command> onNodeAvailability(NodeAvailability n) {
    String node = n.host() + ":" + n.port();
    if (n.available()) {
      lostNodes.remove(node);
    } else if (lostNodes.add(node)) {
      cache.forgetWhere(this::lost);
      GenerationEvent.NodeUnreachable notice = new GenerationEvent.NodeUnreachable("", n.host(), n.port(), -1);
      for (ActorRef<Void> child : getContext().getChildren()) { // the relays of requests in flight: those on that node watch for a sign of life
        if (child.path().name().startsWith(RELAY_PREFIX)) child.<GenerationEvent>unsafeUpcast().tell(notice);
      }
      getContext().getLog().info("Node {} is unreachable or leaving: no request goes to its GPUs until it is back", node);
    }
    return this;
  }
}
