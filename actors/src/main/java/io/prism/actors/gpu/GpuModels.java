package io.prism.actors.gpu;

import io.prism.actors.GpuId;
import io.prism.actors.ModelSpec;
import io.prism.actors.PrismSettings;
import io.prism.actors.frontend.GenerationEvent;
import io.prism.actors.model.ModelActor;
import io.prism.actors.model.ModelStore;
import io.prism.actors.placement.GlobalPlacementActor;
import io.prism.actors.pool.PagePoolActor;

import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.function.ToIntFunction;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.DispatcherSelector;
import org.apache.pekko.actor.typed.SupervisorStrategy;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;

/**
 * The model instances of one {@link GpuActor} and their life cycle: loading (a supervised {@link
 * ModelActor} child on the device's dispatcher, restarted on failure), new SLOs and limits,
 * readiness (again, after a restart), unloading and loss. Evicted models stay here (they are still
 * placed on this GPU: a request reactivates them). Requests that arrive while a model loads wait
 * here (bounded by {@code prism.engine.max-queued-requests}). Plain state owned by the GPU actor.
 */
final class GpuModels {
  /** What the GPU actor knows about one model instance. */
  static final class Entry {
    ModelSpec spec;
    final ActorRef<ModelActor.Command> ref;
    boolean ready;
    boolean unloading;
    /** Tokenizer, request limits, sizes: set when the instance is ready. */
    GpuActor.ModelProfile profile;
    int restarts = -1;
    String failure;
    final List<ActorRef<GpuActor.LoadReply>> waiters = new ArrayList<>();
    /** The GPU the model moved to (placement hand-off), or null; requests for it are redirected there. */
    GpuId movedTo;
    /** The placement epoch of the hand-off. */
    long movedEpoch;
    /** Requests that arrived before the instance was ready, in order. */
    final List<GpuActor.Generate> early = new ArrayList<>();

    int maxModelLen() {
      return profile == null ? 0 : profile.maxModelLen();
    }

    long weightBytes() {
      return profile == null ? 0 : profile.weightBytes();
    }

    Entry(ModelSpec spec, ActorRef<ModelActor.Command> ref) {
      this.spec = spec;
      this.ref = ref;
    }
  }

  private final ActorContext<GpuActor.Command> ctx;
  private final GpuId gpu;
  private final io.prism.runtime.engine.Device device;
  private final java.util.function.LongSupplier clock;
  private ActorRef<PagePoolActor.Command> pool;
  private final ModelStore store;
  private final PrismSettings settings;
  private final ActorRef<GlobalPlacementActor.Command> placement;
  private final Map<String, Entry> models = new TreeMap<>();
  private GpuBooks books;
  private GpuAdmission admission;
  private int spawned;

  GpuModels(ActorContext<GpuActor.Command> ctx, GpuId gpu, io.prism.runtime.engine.Device device, java.util.function.LongSupplier clock,
      ActorRef<PagePoolActor.Command> pool, ModelStore store, PrismSettings settings, ActorRef<GlobalPlacementActor.Command> placement) {
    this.ctx = ctx;
    this.gpu = gpu;
    this.device = device;
    this.clock = clock;
    this.pool = pool;
    this.store = store;
    this.settings = settings;
    this.placement = placement;
  }

  void wire(GpuBooks b, GpuAdmission a) {
    books = b;
    admission = a;
  }

  /** Every ready model's actor, by model id. */
  Map<String, ActorRef<ModelActor.Command>> readyRefs() {
    Map<String, ActorRef<ModelActor.Command>> out = new TreeMap<>();
    for (Entry e : models.values()) if (e.ready && !e.unloading) out.put(e.spec.id(), e.ref);
    return out;
  }

  Entry get(String modelId) {
    return models.get(modelId);
  }

  Set<String> ids() {
    return models.keySet();
  }

  /**
   * Placement's view: every model here that is ready and not handed off, evicted ones included
   * (they stay placed), with its demand as {@code demand} measures it from {@code status}.
   */
  List<GlobalPlacementActor.Resident> residents(GpuStatus status, GpuDemand demand, ToIntFunction<String> queuedHere) {
    List<GlobalPlacementActor.Resident> out = new ArrayList<>();
    for (Entry e : models.values()) {
      if (!e.ready || e.unloading || e.movedTo != null) continue;
      GpuStatus.ModelStatus m = status.model(e.spec.id());
      out.add(demand.resident(e.spec, e.maxModelLen(), e.weightBytes(), m, queuedHere.applyAsInt(e.spec.id())));
    }
    return out;
  }

  void loadModel(GpuActor.LoadModel m) {
    Entry e = models.get(m.spec().id());
    if (e != null && !e.unloading) {
      if (e.ready) m.replyTo().tell(new GpuActor.ModelLoaded(gpu, e.spec.id(), e.maxModelLen(), e.weightBytes()));
      else e.waiters.add(m.replyTo());
      if (!e.spec.equals(m.spec()) && e.spec.sameModel(m.spec())) updateModel(new GpuActor.UpdateModel(m.spec()));
      return;
    }
    String name = "model-" + URLEncoder.encode(m.spec().id(), StandardCharsets.UTF_8) + "-" + (++spawned);
    ActorRef<ModelActor.Command> ref = ctx.spawn(
        Behaviors.supervise(ModelActor.create(m.spec(), gpu, device, pool, store, settings, clock, ctx.getSelf()))
            .onFailure(RuntimeException.class, SupervisorStrategy.restart().withLimit(settings.maxRestarts(), settings.restartWindow())),
        name, DispatcherSelector.fromConfig(PrismSettings.dispatcherId(device.index())));
    ctx.watchWith(ref, new GpuActor.ModelStopped(m.spec().id(), ref));
    Entry fresh = new Entry(m.spec(), ref);
    fresh.waiters.add(m.replyTo());
    models.put(m.spec().id(), fresh);
    ctx.getLog().info("Loading model {} on {}", m.spec().id(), gpu);
  }

  void unloadModel(GpuActor.UnloadModel m) {
    Entry e = models.get(m.modelId());
    if (e != null && !e.unloading) {
      e.unloading = true;
      e.ref.tell(ModelActor.Shutdown.INSTANCE);
      store.evict(m.modelId());
    }
  }

  void updateModel(GpuActor.UpdateModel m) {
    Entry e = models.get(m.spec().id());
    if (e == null || e.unloading || !e.spec.sameModel(m.spec())) return;
    ModelSpec before = e.spec;
    e.spec = m.spec();
    e.ref.tell(new ModelActor.UpdateSpec(m.spec()));
    books.event(GpuEvent.LIMITS, e.spec.id(), "SLO " + before.ttftSlo().toMillis() + "/" + before.tpotSlo().toMillis() + " ms -> "
        + e.spec.ttftSlo().toMillis() + "/" + e.spec.tpotSlo().toMillis() + " ms (TTFT/TPOT), pages [" + before.minPages() + ", "
        + limit(before.maxPages()) + "] -> [" + e.spec.minPages() + ", " + limit(e.spec.maxPages()) + "]");
  }

  private static String limit(int maxPages) {
    return maxPages == 0 ? "none" : Integer.toString(maxPages);
  }

  /** The instance is ready (again): returns the requests that waited for it, to be routed now. */
  List<GpuActor.Generate> modelReady(GpuActor.ModelReady m) {
    Entry e = models.get(m.modelId());
    if (e == null) return List.of();
    e.ready = true;
    e.profile = m.profile();
    e.restarts++;
    admission.forgetAdmitted(m.modelId()); // a restarted instance ended them all
    if (e.restarts > 0) {
      books.event(GpuEvent.MODEL_RESTARTED, m.modelId(), "serving again after restart " + e.restarts + "; its requests failed, its pages went back");
    }
    e.waiters.forEach(w -> w.tell(new GpuActor.ModelLoaded(gpu, m.modelId(), e.maxModelLen(), e.weightBytes())));
    e.waiters.clear();
    ctx.getSelf().tell(GpuActor.ReportTick.INSTANCE);
    List<GpuActor.Generate> early = List.copyOf(e.early);
    e.early.clear();
    return early;
  }

  void modelLoadFailed(GpuActor.ModelLoadFailed m) {
    Entry e = models.get(m.modelId());
    if (e != null) e.failure = m.reason();
  }

  void modelStopped(GpuActor.ModelStopped m) {
    Entry e = models.get(m.modelId());
    if (e == null || !e.ref.equals(m.ref())) return;
    models.remove(m.modelId());
    admission.dropModel(m.modelId());
    books.forget(m.modelId());
    String why = "model '" + m.modelId() + "' left " + gpu;
    e.early.forEach(g -> g.replyTo().tell(new GenerationEvent.Rejected(g.request().requestId(),
        new io.prism.runtime.engine.Rejection.Unavailable(why + " before it was ready", "model", 1))));
    String reason = e.failure != null ? e.failure : e.unloading ? "unloaded" : "model actor stopped after repeated failures";
    e.waiters.forEach(w -> w.tell(new GpuActor.LoadFailed(gpu, m.modelId(), reason)));
    if (!e.unloading) {
      ctx.getLog().warn("Model {} left {}: {}", m.modelId(), gpu, reason);
      if (e.ready) placement.tell(new GlobalPlacementActor.ModelLost(gpu, m.modelId(), reason));
    }
    ctx.getSelf().tell(GpuActor.ReportTick.INSTANCE);
  }
}
