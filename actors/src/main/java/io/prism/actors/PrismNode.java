package io.prism.actors;

import io.prism.actors.frontend.Frontend;
import io.prism.actors.frontend.FrontendSettings;
import io.prism.actors.frontend.GenerateRequest;
import io.prism.actors.frontend.GenerationEvent;
import io.prism.actors.frontend.PrismApi;
import io.prism.actors.frontend.TokenizeReply;
import io.prism.actors.frontend.TokenizeRequest;
import io.prism.actors.gpu.GpuActor;
import io.prism.actors.gpu.GpuStatus;
import io.prism.actors.model.ModelStore;
import io.prism.actors.placement.GlobalPlacementActor;
import io.prism.actors.placement.ModelInfo;
import io.prism.actors.placement.PlacementSettings;
import io.prism.actors.placement.PlacementView;

import com.typesafe.config.Config;
import io.prism.actors.sharding.GpuShardExtractor;
import io.prism.actors.sharding.NodeBoundAllocationStrategy;
import io.prism.runtime.engine.Device;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.Executor;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.actor.Address;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.DispatcherSelector;
import org.apache.pekko.actor.typed.Props;
import org.apache.pekko.actor.typed.javadsl.AskPattern;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.cluster.sharding.typed.javadsl.ClusterSharding;
import org.apache.pekko.cluster.sharding.typed.javadsl.Entity;
import org.apache.pekko.cluster.sharding.typed.javadsl.EntityRef;
import org.apache.pekko.cluster.typed.Cluster;
import org.apache.pekko.cluster.typed.ClusterSingleton;
import org.apache.pekko.cluster.typed.Join;
import org.apache.pekko.cluster.typed.SingletonActor;

/**
 * One Prism node: its actor system (a cluster member), its devices as {@link GpuActor} sharding
 * entities, a proxy to the {@link GlobalPlacementActor} singleton and its {@link Frontend}; plus the
 * asynchronous queries the HTTP layer needs. A node may have no devices (a pure frontend).
 *
 * <p>Start-up: the config gets one dispatcher per device ({@code prism.gpu.dispatchers.gpu-N}), the
 * node joins itself when {@code prism.node.join-self} is on and no seed nodes are configured, and
 * wakes its GPU entities, which report to the placement singleton as soon as the cluster is up.
 *
 * <p>Threading: methods are thread-safe; futures complete on the actor system's threads.
 */
public final class PrismNode implements PrismApi, AutoCloseable {
  private final ActorSystem<Void> system;
  private final PrismSettings settings;
  private final List<Device> devices;
  private final List<GpuId> localGpus;
  private final ClusterSharding sharding;
  private final ActorRef<GlobalPlacementActor.Command> placement;
  private final PlacementSettings placementSettings;
  private final ActorRef<Frontend.Command> frontend;
  private final GracefulLeave leave;
  private final io.prism.runtime.memory.HostTier hostTier;

  /** This node's host tier: the bounded host copies of evicted weights ({@code prism.node.host-tier-bytes}). */
  public io.prism.runtime.memory.HostTier hostTier() {
    return hostTier;
  }

  @Override
  public io.prism.runtime.memory.HostTier.Usage hostTierUsage() {
    return hostTier.usage();
  }

  /** Health of the cluster's devices: healthy when there is at least one GPU and every one can make progress. */
  public record Health(boolean healthy, List<String> problems) {}

  private PrismNode(ActorSystem<Void> system, PrismSettings settings, List<Device> devices, ModelStore.Loader loader) {
    this.system = system;
    this.settings = settings;
    this.placementSettings = PlacementSettings.from(system.settings().config());
    this.devices = List.copyOf(devices);
    this.sharding = ClusterSharding.get(system);
    Address self = Cluster.get(system).selfMember().address();
    List<GpuId> ids = new ArrayList<>();
    for (Device d : devices) ids.add(GpuId.of(self, d.index()));
    this.localGpus = List.copyOf(ids);
    Executor blocking = system.dispatchers().lookup(DispatcherSelector.blocking());
    ModelStore store = new ModelStore(loader, blocking, io.prism.actors.model.HostTierSettings.from(system.settings().config()));
    this.hostTier = store.hostTier();
    // every node runs a replicator of the model catalog (DurableCatalog), also those that never host the singleton
    org.apache.pekko.cluster.ddata.typed.javadsl.DistributedData.get(system);
    this.placement = ClusterSingleton.get(system).init(
        SingletonActor.of(GlobalPlacementActor.create(g -> sharding.entityRefFor(GpuActor.TYPE_KEY, g.entityId()), placementSettings, true),
            "prism-placement"));
    sharding.init(Entity.of(GpuActor.TYPE_KEY, ctx -> {
      GpuId id = GpuId.parse(ctx.getEntityId());
      Device device = id.isOn(self) ? deviceWithIndex(id.index()) : null;
      if (device == null) { // its node is gone: NodeBoundAllocationStrategy put the shard here until the node is back
        return io.prism.actors.gpu.LostGpuActor.create(id);
      }
      return GpuActor.create(id, device, store, settings, placement);
    }).withAllocationStrategy(new NodeBoundAllocationStrategy(system)).withMessageExtractor(new GpuShardExtractor<GpuActor.Command>()));
    this.frontend = system.systemActorOf(
        Frontend.create(placement, g -> sharding.entityRefFor(GpuActor.TYPE_KEY, g.entityId()), FrontendSettings.from(system.settings().config()),
            true),
        "prism-frontend", Props.empty());
    if (settings.joinSelf() && system.settings().config().getStringList("pekko.cluster.seed-nodes").isEmpty()) {
      Cluster.get(system).manager().tell(Join.create(self));
    }
    for (GpuId id : localGpus) gpuRef(id).tell(GpuActor.Wake.INSTANCE);
    // and again every few seconds: after this node rejoins, a GPU shard that stood in for it elsewhere (LostGpuActor)
    // comes home by rebalance, and a GPU entity starts only on a message
    if (!localGpus.isEmpty()) {
      Duration every = Duration.ofSeconds(2);
      system.scheduler().scheduleWithFixedDelay(every, every, () -> {
        for (GpuId id : localGpus) gpuRef(id).tell(GpuActor.Wake.INSTANCE);
      }, system.executionContext());
    }
    this.leave = new GracefulLeave(this, self, settings.drainTimeout());
    leave.register();
  }

  /**
   * Starts a node.
   *
   * @param name actor system name (every node of a cluster uses the same)
   * @param config complete config (application config with this module's reference as fallback)
   * @param devices this node's devices; the node closes them on {@link #close()}
   * @param loader reads model files (e.g. the runtime's {@code ModelLoader})
   */
  public static PrismNode start(String name, Config config, List<Device> devices, ModelStore.Loader loader) {
    Config withDispatchers = GracefulLeave.withPhaseTimeout(withGpuDispatchers(config, devices.size()));
    PrismSettings settings = PrismSettings.from(withDispatchers);
    ActorSystem<Void> system = ActorSystem.create(Behaviors.empty(), name, withDispatchers);
    return new PrismNode(system, settings, devices, loader);
  }

  /** {@code config} with a dispatcher {@code prism.gpu.dispatchers.gpu-N} for every device index below {@code count}. */
  public static Config withGpuDispatchers(Config config, int count) {
    Config c = config;
    for (int i = 0; i < count; i++) {
      String path = PrismSettings.dispatcherId(i);
      if (!c.hasPath(path)) c = c.withValue(path, config.getValue("prism.gpu.dispatcher"));
    }
    return c;
  }

  private Device deviceWithIndex(int index) {
    for (Device d : devices) if (d.index() == index) return d;
    return null;
  }

  /** The node's actor system. */
  public ActorSystem<Void> system() {
    return system;
  }

  /** The node's {@code prism.*} settings. */
  public PrismSettings settings() {
    return settings;
  }

  /** This node's devices as cluster-wide ids. */
  public List<GpuId> localGpus() {
    return localGpus;
  }

  /** The GPU actor of {@code gpu}, wherever it is. */
  public EntityRef<GpuActor.Command> gpuRef(GpuId gpu) {
    return sharding.entityRefFor(GpuActor.TYPE_KEY, gpu.entityId());
  }

  /** Proxy to the placement singleton. */
  public ActorRef<GlobalPlacementActor.Command> placement() {
    return placement;
  }

  /**
   * Blocks until the placement singleton knows every device of this node (so models registered
   * next are spread over all of them rather than crowded onto the first that reported).
   *
   * @throws java.util.concurrent.TimeoutException if that takes longer than {@code timeout}
   */
  public void awaitLocalGpus(Duration timeout) throws java.util.concurrent.TimeoutException, InterruptedException {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (true) {
      try {
        GlobalPlacementActor.GpuList list = AskPattern.<GlobalPlacementActor.Command, GlobalPlacementActor.GpuList>ask(placement,
            GlobalPlacementActor.ListGpus::new, settings.askTimeout(), system.scheduler()).toCompletableFuture()
            .get(settings.askTimeout().toMillis(), TimeUnit.MILLISECONDS);
        if (list.gpus().stream().map(GlobalPlacementActor.GpuReport::gpu).toList().containsAll(localGpus)) return;
      } catch (java.util.concurrent.ExecutionException | java.util.concurrent.TimeoutException e) {
        // the singleton is not up yet; try again
      }
      if (System.nanoTime() > deadline) {
        throw new java.util.concurrent.TimeoutException("the devices of this node did not join the placement within " + timeout.toSeconds() + " s");
      }
      Thread.sleep(100);
    }
  }

  /** Starts serving {@code request}; every event goes to {@code replyTo}. */
  @Override
  public void generate(GenerateRequest request, ActorRef<GenerationEvent> replyTo) {
    frontend.tell(new Frontend.Generate(request, replyTo));
  }

  /** Tokenizes or detokenizes with the model's own tokenizer, through the frontend; fails after {@code prism.node.ask-timeout}. */
  @Override
  public CompletionStage<TokenizeReply> tokenize(TokenizeRequest request) {
    return AskPattern.ask(frontend, r -> new Frontend.Tokenize(request, r), settings.askTimeout(), system.scheduler());
  }

  /** Registers and places a model; completes when it serves or cannot (after {@code prism.node.register-timeout} at most). */
  @Override
  public CompletionStage<GlobalPlacementActor.RegisterReply> register(ModelSpec spec) {
    return AskPattern.ask(placement, r -> new GlobalPlacementActor.RegisterModel(spec, r), settings.registerTimeout(), system.scheduler());
  }

  @Override
  public CompletionStage<GlobalPlacementActor.Unregistered> unregister(String modelId) {
    return AskPattern.ask(placement, r -> new GlobalPlacementActor.UnregisterModel(modelId, r), settings.askTimeout(), system.scheduler());
  }

  @Override
  public CompletionStage<PlacementView> placementView() {
    return AskPattern.ask(placement, GlobalPlacementActor.GetPlacement::new, settings.askTimeout(), system.scheduler());
  }

  @Override
  public CompletionStage<PlacementView> rebalance() {
    return AskPattern.ask(placement, GlobalPlacementActor.Rebalance::new, settings.askTimeout(), system.scheduler());
  }

  @Override
  public CompletionStage<GlobalPlacementActor.MoveReply> move(String modelId, GpuId gpu) {
    return AskPattern.ask(placement, r -> new GlobalPlacementActor.MoveModel(modelId, gpu, r),
        placementSettings.loadTimeout().plus(settings.askTimeout()), system.scheduler());
  }

  /** The catalog. */
  @Override
  public CompletionStage<List<ModelInfo>> models() {
    return AskPattern.<GlobalPlacementActor.Command, GlobalPlacementActor.ModelList>ask(placement, GlobalPlacementActor.ListModels::new,
        settings.askTimeout(), system.scheduler()).thenApply(GlobalPlacementActor.ModelList::models);
  }

  /** Status of every GPU the placement knows; a GPU that does not answer in time is listed unhealthy. */
  @Override
  public CompletionStage<List<GpuStatus>> gpus() {
    return gpus(settings.askTimeout());
  }

  private CompletionStage<List<GpuStatus>> gpus(Duration timeout) {
    return AskPattern.<GlobalPlacementActor.Command, GlobalPlacementActor.GpuList>ask(placement, GlobalPlacementActor.ListGpus::new,
        settings.askTimeout(), system.scheduler()).thenCompose(list -> {
          List<CompletableFuture<GpuStatus>> all = new ArrayList<>();
          for (GlobalPlacementActor.GpuReport r : list.gpus()) {
            all.add(gpuRef(r.gpu()).<GpuStatus>ask(GpuActor.GetStatus::new, timeout).toCompletableFuture()
                .exceptionally(e -> unreachable(r, timeout)));
          }
          return CompletableFuture.allOf(all.toArray(CompletableFuture[]::new)).thenApply(v -> all.stream().map(CompletableFuture::join).toList());
        });
  }

  private static GpuStatus unreachable(GlobalPlacementActor.GpuReport r, Duration timeout) {
    return new GpuStatus(r.gpu(), r.description(), r.incarnation(), r.budgetBytes(), 0, 0, 0, 0, 0, 0, List.of(), "", false,
        "GPU " + r.gpu() + " did not answer within " + timeout.toMillis() + " ms", 0, 0, 0, List.of());
  }

  /**
   * Whether this node should get traffic: its member is Up, it is not leaving, the placement
   * singleton answers, and every model of the catalog is placed ({@code GET /ready}; liveness is
   * {@link #health()}).
   */
  @Override
  public CompletionStage<Health> ready() {
    List<String> problems = new ArrayList<>();
    if (leave.started()) problems.add("this node is leaving the cluster");
    org.apache.pekko.cluster.MemberStatus status = Cluster.get(system).selfMember().status();
    if (status != org.apache.pekko.cluster.MemberStatus.up()) problems.add("this node's cluster member is " + status + ", not Up");
    return models().handle((list, err) -> {
      if (err != null) {
        problems.add("the placement service did not answer: " + err.getMessage());
      } else {
        for (ModelInfo m : list) if (m.state() != ModelInfo.State.READY) problems.add("model " + m.id() + " is " + m.state());
      }
      return new Health(problems.isEmpty(), problems);
    });
  }

  /**
   * Leaves the cluster gracefully, as SIGTERM does: runs coordinated shutdown, whose first phase
   * moves this node's models to other GPUs and lets its requests finish ({@link GracefulLeave}).
   * Completes when the actor system has terminated; the devices are closed by {@link #close()}.
   */
  public CompletionStage<org.apache.pekko.Done> leave() {
    return org.apache.pekko.actor.CoordinatedShutdown.get(system).runAll(GracefulLeave.LEAVE_REASON);
  }

  /** Status of this node's own GPUs (for the drain), from their actors. */
  CompletionStage<List<GpuStatus>> localGpuStatus(Duration timeout) {
    List<CompletableFuture<GpuStatus>> all = new ArrayList<>();
    for (GpuId g : localGpus) all.add(gpuRef(g).<GpuStatus>ask(GpuActor.GetStatus::new, timeout).toCompletableFuture());
    return CompletableFuture.allOf(all.toArray(CompletableFuture[]::new)).thenApply(v -> all.stream().map(CompletableFuture::join).toList());
  }

  /** Whether every GPU of the cluster can make progress (and there is at least one). */
  @Override
  public CompletionStage<Health> health() {
    return gpus(settings.healthTimeout()).thenApply(list -> {
      List<String> problems = new ArrayList<>();
      if (list.isEmpty()) problems.add("no GPU has joined the cluster yet");
      for (GpuStatus s : list) if (!s.healthy()) problems.add(s.gpu() + ": " + s.problem());
      return new Health(problems.isEmpty(), problems);
    });
  }

  /** Stops the actor system (requests in flight fail, pages go back) and closes the devices. */
  @Override
  public void close() {
    system.terminate();
    try {
      system.getWhenTerminated().toCompletableFuture().get(30, TimeUnit.SECONDS);
    } catch (Exception e) {
      system.log().warn("actor system did not terminate within 30 s: {}", e.toString());
    }
    for (Device d : devices) d.close();
  }
}
