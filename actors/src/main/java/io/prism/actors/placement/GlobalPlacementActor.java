package io.prism.actors.placement;

import io.prism.actors.GpuId;
import io.prism.actors.ModelSpec;
import io.prism.actors.PrismMessage;
import io.prism.actors.gpu.GpuActor;

import io.prism.runtime.engine.Rejection;
import io.prism.actors.placement.ModelInfo.State;
import io.prism.runtime.policy.GpuCapacity;
import io.prism.runtime.policy.ModelDemand;
import io.prism.runtime.policy.MostFreeMemoryPlacement;
import io.prism.runtime.policy.Placement;
import io.prism.runtime.policy.PlacementPolicy;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.function.Function;
import org.apache.pekko.actor.Address;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.RecipientRef;
import org.apache.pekko.actor.typed.javadsl.AbstractBehavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.Receive;
import org.apache.pekko.cluster.ClusterEvent;
import org.apache.pekko.cluster.typed.Cluster;
import org.apache.pekko.cluster.typed.Subscribe;

/**
 * The cluster singleton that knows the model catalog and every GPU, and decides which GPU loads
 * which model.
 *
 * <p>GPUs announce themselves with periodic {@link GpuReport}s (budget, free bytes, resident
 * models). A registered model is placed by a {@link PlacementPolicy} ({@link
 * MostFreeMemoryPlacement} by default: the GPU whose budget has the most room left after the
 * weights of the models placed or being loaded on it); models already placed stay. If the chosen
 * GPU cannot load it, the policy runs again without that GPU; when no GPU is left the model is
 * {@link State#FAILED}. A model registered
 * before any GPU has reported waits until one does. Models of a node that leaves the cluster, or of
 * a GPU actor that restarted (new {@code incarnation}), are placed again.
 *
 * <p>Failover: a new singleton instance starts empty and rebuilds placements from the GPUs'
 * reports (their resident models); models that were registered but not yet loaded are lost and
 * must be registered again.
 */
public final class GlobalPlacementActor extends AbstractBehavior<GlobalPlacementActor.Command> {
  /** Messages of the placement protocol. */
  public sealed interface Command extends PrismMessage {}

  /**
   * Adds a model to the catalog and places it; replies once it is loaded or cannot be. Registering
   * a model again from the same source with other SLOs or page limits updates them (on its GPU too).
   */
  public record RegisterModel(ModelSpec spec, ActorRef<RegisterReply> replyTo) implements Command {}

  /** Removes a model from the catalog and unloads it from its GPU. */
  public record UnregisterModel(String modelId, ActorRef<Unregistered> replyTo) implements Command {}

  /** Which GPU serves {@code modelId}; waits while the model is loading. */
  public record Resolve(String modelId, ActorRef<Resolution> replyTo) implements Command {}

  /** Replies with the whole catalog. */
  public record ListModels(ActorRef<ModelList> replyTo) implements Command {}

  /** Replies with the latest report of every known GPU. */
  public record ListGpus(ActorRef<GpuList> replyTo) implements Command {}

  /**
   * A GPU's state, sent by its {@link GpuActor} periodically and after every load or unload.
   *
   * @param incarnation random id of the GPU actor instance; a new value means it restarted and lost its models
   * @param budgetBytes memory budget for weights and KV
   * @param freeBytes budget not used by weights or mapped KV pages
   * @param healthy whether every engine on it can make progress
   */
  public record GpuReport(GpuId gpu, String description, long incarnation, long budgetBytes, long freeBytes, boolean healthy,
      List<Resident> models) implements Command {}

  /** A GPU lost a model it served (its actor failed for good); the placement moves it elsewhere. */
  public record ModelLost(GpuId gpu, String modelId, String reason) implements Command {}

  /** A model resident on a GPU. */
  public record Resident(ModelSpec spec, int maxModelLen, long weightBytes) implements PrismMessage {}

  /** Outcome of {@link RegisterModel}. */
  public sealed interface RegisterReply extends PrismMessage {}

  /** The model serves on {@code model.gpu()}. */
  public record Registered(ModelInfo model) implements RegisterReply {}

  /** No GPU could load it (or the id is taken by another source); {@code message} says why. */
  public record RegisterFailed(String modelId, Rejection.Kind kind, String message) implements RegisterReply {}

  /** Outcome of {@link UnregisterModel}; {@code existed} is false for an unknown id. */
  public record Unregistered(String modelId, boolean existed) implements PrismMessage {}

  /** Outcome of {@link Resolve}. */
  public sealed interface Resolution extends PrismMessage {
    String modelId();
  }

  /** The model serves on {@code model.gpu()}. */
  public record Located(String modelId, ModelInfo model) implements Resolution {}

  /** No such model in the catalog. */
  public record NotFound(String modelId) implements Resolution {}

  /** The model is registered but no GPU serves it; {@code message} says why. */
  public record Unavailable(String modelId, String message) implements Resolution {}

  /** Reply to {@link ListModels}, in registration order. */
  public record ModelList(List<ModelInfo> models) implements PrismMessage {}

  /** Reply to {@link ListGpus}, in {@link GpuId} order. */
  public record GpuList(List<GpuReport> gpus) implements PrismMessage {}

  private record WrappedLoadReply(GpuActor.LoadReply reply) implements Command {}

  private record NodeRemoved(String host, int port) implements Command {}

  /** Mutable catalog entry; lives only inside this actor. */
  private static final class Entry {
    ModelSpec spec;
    final long createdEpochSeconds;
    State state = State.LOADING;
    GpuId gpu;
    int maxModelLen;
    long weightBytes;
    String message = "";
    final Set<GpuId> tried = new HashSet<>();
    final List<String> failures = new ArrayList<>();
    final List<ActorRef<RegisterReply>> registerWaiters = new ArrayList<>();
    final List<ActorRef<Resolution>> resolveWaiters = new ArrayList<>();

    Entry(ModelSpec spec, long createdEpochSeconds) {
      this.spec = spec;
      this.createdEpochSeconds = createdEpochSeconds;
    }

    ModelInfo info() {
      return new ModelInfo(spec, createdEpochSeconds, state, gpu, maxModelLen, weightBytes, message);
    }
  }

  private final Function<GpuId, RecipientRef<GpuActor.Command>> gpus;
  private final PlacementPolicy policy;
  private final ActorRef<GpuActor.LoadReply> loadReplies;
  private final Map<String, Entry> catalog = new LinkedHashMap<>();
  private final Map<GpuId, GpuReport> reports = new TreeMap<>();

  /**
   * @param gpus how to reach a GPU actor (through Cluster Sharding in production, a probe in tests)
   * @param watchCluster subscribe to cluster membership (false in single-system tests without a cluster)
   */
  public static Behavior<Command> create(Function<GpuId, RecipientRef<GpuActor.Command>> gpus, boolean watchCluster) {
    return create(gpus, new MostFreeMemoryPlacement(), watchCluster);
  }

  /** As {@link #create(Function, boolean)} with another placement policy (e.g. KVPR placement). */
  public static Behavior<Command> create(Function<GpuId, RecipientRef<GpuActor.Command>> gpus, PlacementPolicy policy, boolean watchCluster) {
    return Behaviors.setup(ctx -> new GlobalPlacementActor(ctx, gpus, policy, watchCluster));
  }

  private GlobalPlacementActor(ActorContext<Command> ctx, Function<GpuId, RecipientRef<GpuActor.Command>> gpus, PlacementPolicy policy,
      boolean watchCluster) {
    super(ctx);
    this.gpus = gpus;
    this.policy = policy;
    this.loadReplies = ctx.messageAdapter(GpuActor.LoadReply.class, WrappedLoadReply::new);
    if (watchCluster) {
      ActorRef<ClusterEvent.MemberRemoved> removed = ctx.messageAdapter(ClusterEvent.MemberRemoved.class, e -> {
        Address a = e.member().address();
        return new NodeRemoved(a.host().get(), (Integer) a.port().get());
      });
      Cluster.get(ctx.getSystem()).subscriptions().tell(Subscribe.create(removed, ClusterEvent.MemberRemoved.class));
    }
  }

  @Override
  public Receive<Command> createReceive() {
    return newReceiveBuilder()
        .onMessage(RegisterModel.class, this::onRegisterModel)
        .onMessage(UnregisterModel.class, this::onUnregisterModel)
        .onMessage(Resolve.class, this::onResolve)
        .onMessage(ListModels.class, this::onListModels)
        .onMessage(ListGpus.class, m -> {
          m.replyTo().tell(new GpuList(List.copyOf(reports.values())));
          return this;
        })
        .onMessage(GpuReport.class, this::onGpuReport)
        .onMessage(WrappedLoadReply.class, this::onLoadReply)
        .onMessage(ModelLost.class, this::onModelLost)
        .onMessage(NodeRemoved.class, this::onNodeRemoved)
        .build();
  }

  private Behavior<Command> onRegisterModel(RegisterModel m) {
    ModelSpec spec = m.spec();
    Entry e = catalog.get(spec.id());
    if (e != null && !e.spec.source().equals(spec.source())) {
      m.replyTo().tell(new RegisterFailed(spec.id(), Rejection.Kind.INVALID_REQUEST,
          "model '" + spec.id() + "' is already registered from " + e.spec.source() + "; delete it first"));
      return this;
    }
    if (e == null) {
      e = new Entry(spec, System.currentTimeMillis() / 1000);
      catalog.put(spec.id(), e);
      getContext().getLog().info("Registered model {} from {}", spec.id(), spec.source());
    } else if (!e.spec.equals(spec)) { // same model, new SLOs or page limits: the catalog and its GPU take them
      getContext().getLog().info("Model {}: SLOs and limits now {}", spec.id(), spec);
      e.spec = spec;
      if (e.gpu != null) gpus.apply(e.gpu).tell(new GpuActor.UpdateModel(spec));
    }
    if (e.state == State.FAILED) {
      e.tried.clear();
      e.failures.clear();
      e.state = State.LOADING;
    }
    switch (e.state) {
      case READY -> m.replyTo().tell(new Registered(e.info()));
      case LOADING -> {
        e.registerWaiters.add(m.replyTo());
        if (e.gpu == null) place(e);
      }
      case FAILED -> m.replyTo().tell(new RegisterFailed(spec.id(), Rejection.Kind.UNAVAILABLE, e.message));
    }
    return this;
  }

  private Behavior<Command> onUnregisterModel(UnregisterModel m) {
    Entry e = catalog.remove(m.modelId());
    if (e == null) {
      m.replyTo().tell(new Unregistered(m.modelId(), false));
      return this;
    }
    if (e.gpu != null) gpus.apply(e.gpu).tell(new GpuActor.UnloadModel(e.spec.id()));
    String why = "model '" + m.modelId() + "' was unregistered";
    e.registerWaiters.forEach(r -> r.tell(new RegisterFailed(m.modelId(), Rejection.Kind.UNAVAILABLE, why)));
    e.resolveWaiters.forEach(r -> r.tell(new Unavailable(m.modelId(), why)));
    getContext().getLog().info("Unregistered model {}", m.modelId());
    m.replyTo().tell(new Unregistered(m.modelId(), true));
    return this;
  }

  private Behavior<Command> onResolve(Resolve m) {
    Entry e = catalog.get(m.modelId());
    if (e == null) {
      m.replyTo().tell(new NotFound(m.modelId()));
    } else {
      switch (e.state) {
        case READY -> m.replyTo().tell(new Located(m.modelId(), e.info()));
        case LOADING -> e.resolveWaiters.add(m.replyTo());
        case FAILED -> m.replyTo().tell(new Unavailable(m.modelId(), e.message));
      }
    }
    return this;
  }

  private Behavior<Command> onListModels(ListModels m) {
    List<ModelInfo> out = new ArrayList<>();
    for (Entry e : catalog.values()) out.add(e.info());
    m.replyTo().tell(new ModelList(out));
    return this;
  }

  private Behavior<Command> onGpuReport(GpuReport r) {
    GpuReport previous = reports.put(r.gpu(), r);
    if (previous != null && previous.incarnation() != r.incarnation()) {
      getContext().getLog().warn("GPU {} restarted; placing its models again", r.gpu());
      replaceModelsOf(g -> g.equals(r.gpu()), "GPU " + r.gpu() + " restarted");
    }
    for (Resident res : r.models()) {
      Entry e = catalog.get(res.spec().id());
      if (e == null) { // adopted after a singleton failover
        e = new Entry(res.spec(), System.currentTimeMillis() / 1000);
        catalog.put(res.spec().id(), e);
        ready(e, r.gpu(), res.maxModelLen(), res.weightBytes());
      } else if (e.state != State.READY && r.gpu().equals(e.gpu)) {
        ready(e, r.gpu(), res.maxModelLen(), res.weightBytes());
      }
    }
    if (previous == null || (previous.budgetBytes() <= 0 && r.budgetBytes() > 0)) { // joined, or its first whole report
      getContext().getLog().info("GPU {} joined: {} ({} bytes)", r.gpu(), r.description(), r.budgetBytes());
      for (Entry e : catalog.values()) if (e.state == State.LOADING && e.gpu == null) place(e);
    }
    return this;
  }

  private Behavior<Command> onLoadReply(WrappedLoadReply w) {
    GpuActor.LoadReply reply = w.reply();
    Entry e = catalog.get(reply.modelId());
    if (e == null || !reply.gpu().equals(e.gpu)) {
      // a load this actor no longer wants (model unregistered or placed elsewhere meanwhile)
      if (reply instanceof GpuActor.ModelLoaded) gpus.apply(reply.gpu()).tell(new GpuActor.UnloadModel(reply.modelId()));
      return this;
    }
    if (reply instanceof GpuActor.ModelLoaded l) {
      ready(e, l.gpu(), l.maxModelLen(), l.weightBytes());
    } else if (reply instanceof GpuActor.LoadFailed f) {
      getContext().getLog().warn("GPU {} could not load {}: {}", f.gpu(), f.modelId(), f.reason());
      e.tried.add(f.gpu());
      e.failures.add(f.gpu() + ": " + f.reason());
      e.gpu = null;
      place(e);
    }
    return this;
  }

  private Behavior<Command> onModelLost(ModelLost m) {
    Entry e = catalog.get(m.modelId());
    if (e != null && m.gpu().equals(e.gpu)) {
      getContext().getLog().warn("GPU {} lost model {}: {}; placing it again", m.gpu(), m.modelId(), m.reason());
      e.state = State.LOADING;
      e.gpu = null;
      e.tried.add(m.gpu());
      e.failures.add(m.gpu() + ": " + m.reason());
      place(e);
    }
    return this;
  }

  private Behavior<Command> onNodeRemoved(NodeRemoved n) {
    reports.keySet().removeIf(g -> g.host().equals(n.host()) && g.port() == n.port());
    replaceModelsOf(g -> g.host().equals(n.host()) && g.port() == n.port(), "node " + n.host() + ":" + n.port() + " left");
    return this;
  }

  private void replaceModelsOf(java.util.function.Predicate<GpuId> lost, String why) {
    for (Entry e : catalog.values()) {
      if (e.gpu != null && lost.test(e.gpu)) {
        getContext().getLog().warn("Model {} lost its GPU {} ({}); placing it again", e.spec.id(), e.gpu, why);
        e.state = State.LOADING;
        e.gpu = null;
        e.tried.clear();
        e.failures.clear();
        place(e);
      }
    }
  }

  private void ready(Entry e, GpuId gpu, int maxModelLen, long weightBytes) {
    e.state = State.READY;
    e.gpu = gpu;
    e.maxModelLen = maxModelLen;
    e.weightBytes = weightBytes;
    e.message = "";
    getContext().getLog().info("Model {} is ready on {}", e.spec.id(), gpu);
    ModelInfo info = e.info();
    e.registerWaiters.forEach(r -> r.tell(new Registered(info)));
    e.resolveWaiters.forEach(r -> r.tell(new Located(e.spec.id(), info)));
    e.registerWaiters.clear();
    e.resolveWaiters.clear();
  }

  /** Chooses a GPU for a LOADING entry without one and asks it to load; fails the entry if none fits. */
  private void place(Entry e) {
    if (reports.isEmpty()) return; // wait for the first GPU
    // The policy works on integer GPU ids: number the usable GPUs in GpuId order.
    List<GpuId> usable = new ArrayList<>();
    // a report whose pool did not answer in time (budget 0, the GPU busy) says nothing about room: wait for the next one
    for (GpuId g : reports.keySet()) if (!e.tried.contains(g) && reports.get(g).budgetBytes() > 0) usable.add(g);
    if (usable.isEmpty() && reports.keySet().stream().anyMatch(g -> !e.tried.contains(g))) return;
    List<GpuCapacity> capacities = new ArrayList<>();
    for (int i = 0; i < usable.size(); i++) capacities.add(new GpuCapacity(i, reports.get(usable.get(i)).budgetBytes()));
    List<ModelDemand> demands = new ArrayList<>();
    for (Entry other : catalog.values()) {
      int current = other.gpu == null ? -1 : usable.indexOf(other.gpu);
      if (other == e || current >= 0) demands.add(demandOf(other, other == e ? -1 : current));
    }
    Placement plan = demands.isEmpty() ? null : policy.place(demands, capacities);
    List<Integer> chosen = plan == null ? null : plan.assignment().get(e.spec.id());
    if (chosen == null || chosen.isEmpty()) {
      e.state = State.FAILED;
      e.message = "no GPU can hold model '" + e.spec.id() + "' (about " + e.spec.estimatedBytes() + " bytes of weights)"
          + (e.failures.isEmpty() ? "" : "; " + String.join("; ", e.failures));
      getContext().getLog().warn(e.message);
      e.registerWaiters.forEach(r -> r.tell(new RegisterFailed(e.spec.id(), Rejection.Kind.UNAVAILABLE, e.message)));
      e.resolveWaiters.forEach(r -> r.tell(new Unavailable(e.spec.id(), e.message)));
      e.registerWaiters.clear();
      e.resolveWaiters.clear();
      return;
    }
    e.gpu = usable.get(chosen.get(0));
    getContext().getLog().info("Placing model {} on {} ({})", e.spec.id(), e.gpu, plan.reason());
    gpus.apply(e.gpu).tell(new GpuActor.LoadModel(e.spec, loadReplies));
  }

  /**
   * The policy's view of a catalog model. Token rates are not measured yet (0), so KV demand plays
   * no part; weights are the measured bytes once loaded, else the spec's estimate.
   */
  private static ModelDemand demandOf(Entry e, int currentGpu) {
    long weights = e.weightBytes > 0 ? e.weightBytes : e.spec.estimatedBytes();
    return ModelDemand.of(e.spec.id(), 0.0, 1, e.spec.tpotSlo(), weights, currentGpu);
  }
}
