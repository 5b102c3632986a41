package io.prism.actors.model;

import io.prism.actors.GpuId;
import io.prism.actors.ModelSpec;
import io.prism.actors.PrismSettings;
import io.prism.actors.frontend.GenerationEvent;
import io.prism.actors.gpu.GpuActor;
import io.prism.actors.pool.PagePoolActor;

import io.prism.runtime.engine.Device;
import io.prism.runtime.engine.ForwardBackend;
import io.prism.runtime.engine.ModelEngine;
import io.prism.runtime.engine.PrefillSpeed;
import io.prism.runtime.engine.Rejection;
import io.prism.runtime.engine.TokenSampler;
import io.prism.runtime.memory.KvCache;
import io.prism.runtime.memory.PageLease;
import io.prism.runtime.model.LoadedModel;
import java.util.function.LongSupplier;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.StashBuffer;
import org.apache.pekko.actor.typed.javadsl.TimerScheduler;

/**
 * The loading states of a {@link ModelActor}: waits for the host copy of the model, reserves its KV
 * cache's virtual ranges and joins the pool ({@link PagePoolActor.Join}: weight bytes, limits, pages
 * for the prefill-speed measurement), then puts the weights on the device, starts the engine over
 * its {@link PageLease}, measures the prefill speed, gives the pages back, reports {@link
 * GpuActor.ModelReady} and becomes the running actor with the messages stashed meanwhile. If
 * anything fails it reports {@link GpuActor.ModelLoadFailed}, gives back what it took and stops.
 *
 * <p>The prefill-speed measurement ({@link io.prism.runtime.engine.PrefillSpeed.Probe}) runs one
 * timed pass per {@link ModelActor.MeasurePass} message: the device's thread is shared with its other
 * models (dispatcher throughput 1), so their steps run between the passes instead of waiting for all
 * of them (on a cold JVM the first host passes take seconds each on a loaded machine).
 */
final class ModelLoading {
  private final ActorContext<ModelActor.Command> ctx;
  private ModelSpec spec;
  private final Device device;
  private final ActorRef<PagePoolActor.Command> pool;
  private final ModelStore store;
  private final PrismSettings settings;
  private final LongSupplier clock;
  private final ActorRef<GpuActor.Command> parent;
  private final StashBuffer<ModelActor.Command> stash;
  private final TimerScheduler<ModelActor.Command> timers;
  private final GpuId gpu;
  /** Load phases ({@link System#nanoTime()}): started, host copy ready, joined the pool, engine up; for one log line. */
  private final long startedNanos = System.nanoTime();
  private long hostCopyNanos, joinedNanos, engineNanos, measureBusyNanos;

  ModelLoading(ActorContext<ModelActor.Command> ctx, ModelSpec spec, GpuId gpu, Device device, ActorRef<PagePoolActor.Command> pool,
      ModelStore store, PrismSettings settings, LongSupplier clock, ActorRef<GpuActor.Command> parent, StashBuffer<ModelActor.Command> stash,
      TimerScheduler<ModelActor.Command> timers) {
    this.ctx = ctx;
    this.spec = spec;
    this.gpu = gpu;
    this.device = device;
    this.pool = pool;
    this.store = store;
    this.settings = settings;
    this.clock = clock;
    this.parent = parent;
    this.stash = stash;
    this.timers = timers;
  }

  /** Waiting for the host copy. */
  Behavior<ModelActor.Command> loading() {
    return common(Behaviors.receive(ModelActor.Command.class)
        .onMessage(ModelActor.Loaded.class, m -> onLoaded(m.model()))
        .onMessage(ModelActor.LoadFailed.class, m -> failLoad(m.reason(), null)));
  }

  private Behavior<ModelActor.Command> onLoaded(LoadedModel model) {
    hostCopyNanos = System.nanoTime();
    KvCache kv;
    long weightBytes;
    try {
      weightBytes = device.weightBytes(model);
      kv = ModelEngine.reserveKvCache(device.memory(), model.config(), settings.engine(), device.kvElementBytes());
    } catch (RuntimeException e) {
      return failLoad(ModelActor.rootMessage(e), null);
    }
    return join(model, kv, weightBytes, 1);
  }

  /**
   * Joins the pool; if the weights do not fit, the pool has the GPU actor negotiate room (idle
   * models are evicted, least recently used first) and this joins again when told the outcome, at
   * most {@link #JOIN_ATTEMPTS} times.
   */
  private Behavior<ModelActor.Command> join(LoadedModel model, KvCache kv, long weightBytes, int attempt) {
    int tokens = Math.min(settings.engine().prefillChunk(), model.config().maxSeqLen());
    int pageIds = ((tokens + kv.blockSize() - 1) / kv.blockSize() + kv.blocksPerPage() - 1) / kv.blocksPerPage();
    boolean negotiate = attempt < JOIN_ATTEMPTS && settings.policies().evictIdleModels();
    pool.tell(new PagePoolActor.Join(model.id(), weightBytes, spec.minPages(), spec.maxPages(), pageIds * kv.physicalPagesPerPageId(), negotiate,
        ctx.getSelf()));
    return common(Behaviors.receive(ModelActor.Command.class)
        .onMessage(ModelActor.Joined.class, j -> {
          if (j.ok() || !j.negotiating()) return onJoined(model, kv, weightBytes, j);
          return common(Behaviors.receive(ModelActor.Command.class)
              .onMessage(ModelActor.PagesReady.class, r -> {
                if (r.negotiationId() >= 0 && r.outcome() == ModelActor.Outcome.REFUSED) {
                  kv.close();
                  return failLoad(j.reason() + "; no model on the GPU is idle enough to make room", null);
                }
                return join(model, kv, weightBytes, attempt + 1);
              }));
        }));
  }

  /** Joins tried before a load that does not fit fails. */
  static final int JOIN_ATTEMPTS = 4;

  private Behavior<ModelActor.Command> onJoined(LoadedModel model, KvCache kv, long weightBytes, ModelActor.Joined j) {
    if (!j.ok()) {
      kv.close();
      return failLoad(j.reason(), null);
    }
    PageLease lease = new PageLease(model.id(), device.memory().granularity(), j.capacityPages());
    lease.grant(j.pages());
    lease.weightBytes(weightBytes);
    lease.limits(spec.minPages(), spec.poolMaxPages());
    if (settings.policies().evictIdleModels()) {
      lease.timeSharedCapacity((int) ((settings.memoryBudgetBytes() - weightBytes) / device.memory().granularity()));
    }
    joinedNanos = System.nanoTime();
    ForwardBackend backend = null;
    ModelEngine engine = null;
    PrefillSpeed.Probe probe;
    try {
      backend = device.load(model, kv);
      engine = new ModelEngine(model, backend, lease, settings.engine(), TokenSampler.HOST, clock);
      probe = engine.prefillProbe();
    } catch (RuntimeException e) {
      if (engine != null) engine.close();
      else {
        if (backend != null) backend.close();
        kv.close();
      }
      return failLoad(ModelActor.rootMessage(e), lease);
    }
    engineNanos = System.nanoTime();
    ctx.getSelf().tell(ModelActor.MeasurePass.INSTANCE);
    return measuring(model, weightBytes, j, lease, engine, probe);
  }

  /** The engine runs; its prefill speed is being measured, one pass per {@link ModelActor.MeasurePass}. */
  private Behavior<ModelActor.Command> measuring(LoadedModel model, long weightBytes, ModelActor.Joined j, PageLease lease, ModelEngine engine,
      PrefillSpeed.Probe probe) {
    return Behaviors.receive(ModelActor.Command.class)
        .onMessageEquals(ModelActor.MeasurePass.INSTANCE, () -> {
          boolean more;
          long passStart = System.nanoTime();
          try {
            more = probe.pass();
            measureBusyNanos += System.nanoTime() - passStart;
          } catch (RuntimeException e) {
            probe.close();
            engine.close();
            return failLoad(ModelActor.rootMessage(e), lease);
          }
          if (more) {
            ctx.getSelf().tell(ModelActor.MeasurePass.INSTANCE);
            return Behaviors.same();
          }
          probe.close();
          long now = System.nanoTime();
          ctx.getLog().info("Model {} loaded on {} in {} ms: host copy {} ms, pool join {} ms, device load and engine {} ms, prefill speed {} tok/s "
              + "measured in {} passes ({} ms on the device thread, {} ms with its other work between the passes)", spec.id(), gpu,
              (now - startedNanos) / 1_000_000, (hostCopyNanos - startedNanos) / 1_000_000, (joinedNanos - hostCopyNanos) / 1_000_000,
              (engineNanos - joinedNanos) / 1_000_000, Math.round(probe.tokensPerSecond()), probe.passes(), measureBusyNanos / 1_000_000,
              (now - engineNanos) / 1_000_000);
          return ready(model, weightBytes, j, lease, engine, probe.tokensPerSecond());
        })
        .onMessageEquals(ModelActor.Shutdown.INSTANCE, () -> { // unloaded while measuring: give back what the load took
          probe.close();
          engine.close();
          pool.tell(new PagePoolActor.Leave(spec.id(), lease.takeUnmapped(0, Integer.MAX_VALUE)));
          return Behaviors.stopped();
        })
        .onMessage(ModelActor.Command.class, this::whileLoading)
        .build();
  }

  private Behavior<ModelActor.Command> ready(LoadedModel model, long weightBytes, ModelActor.Joined j, PageLease lease, ModelEngine engine,
      double prefill) {
    pool.tell(new PagePoolActor.Return(model.id(), lease.takeUnmapped(0, Integer.MAX_VALUE), null));
    // With time sharing the other models' weights can leave: a request may use the budget beside this model's own weights.
    int capacity = settings.policies().evictIdleModels()
        ? (int) Math.max(j.capacityPages(), (settings.memoryBudgetBytes() - weightBytes) / device.memory().granularity()) : j.capacityPages();
    GpuActor.ModelProfile profile = new GpuActor.ModelProfile(model.tokenizer(), engine.requestLimits(), model.config().maxSeqLen(), weightBytes,
        capacity);
    parent.tell(new GpuActor.ModelReady(spec.id(), profile));
    ModelActor actor = new ModelActor(ctx, spec, gpu, engine, lease, pool, store, settings, clock, parent, timers, prefill);
    return stash.unstashAll(actor);
  }

  private Behavior<ModelActor.Command> common(org.apache.pekko.actor.typed.javadsl.BehaviorBuilder<ModelActor.Command> b) {
    return b.onMessage(ModelActor.Command.class, this::whileLoading).build();
  }

  /** Any message but the one a loading state waits for: unload, new spec, requests stashed, queries answered or dropped. */
  private Behavior<ModelActor.Command> whileLoading(ModelActor.Command m) {
    if (m == ModelActor.Shutdown.INSTANCE) return Behaviors.stopped();
    if (m instanceof ModelActor.UpdateSpec u) {
      spec = u.spec();
      return Behaviors.same();
    }
    if (m instanceof ModelActor.Run r) {
      if (stash.isFull()) {
        r.replyTo().tell(new GenerationEvent.Rejected(r.request().requestId(), new Rejection.Overloaded(
            "model '" + spec.id() + "' is loading and has " + stash.size() + " requests waiting; retry later", 1)));
      } else {
        stash.stash(r);
      }
      return Behaviors.same();
    }
    if (m instanceof ModelActor.InjectFault f) throw new IllegalStateException("injected fault: " + f.message());
    if (m instanceof ModelActor.GetMemory g) { // loading: nothing to give (answered so a negotiation need not wait for it)
      g.replyTo().tell(new GpuActor.MemoryReply(g.negotiationId(), spec.id(), new io.prism.runtime.policy.ModelMemory(spec.id(), spec.slo(),
          false, 0, 0, 0, 0, 0, 0, java.util.List.of())));
      return Behaviors.same();
    }
    if (m instanceof ModelActor.GetStatus || m instanceof ModelActor.Reclaim
        || m instanceof ModelActor.EvictIfIdle || m instanceof ModelActor.Step || m instanceof ModelActor.ActivationRetry
        || m instanceof ModelActor.DropHostCopy) {
      return Behaviors.same(); // not serving yet: nothing to report or give (the GPU actor's waits are bounded)
    }
    if (!stash.isFull()) stash.stash(m);
    return Behaviors.same();
  }

  private Behavior<ModelActor.Command> failLoad(String reason, PageLease lease) {
    ctx.getLog().warn("Model {} could not be loaded: {}", spec.id(), reason);
    pool.tell(new PagePoolActor.Leave(spec.id(), lease == null ? java.util.List.of() : lease.takeUnmapped(0, Integer.MAX_VALUE)));
    parent.tell(new GpuActor.ModelLoadFailed(spec.id(), reason));
    stash.forEach(m -> {
      if (m instanceof ModelActor.Run g) {
        g.replyTo().tell(new GenerationEvent.Rejected(g.request().requestId(), new Rejection.Unavailable(
            "model '" + spec.id() + "' could not be loaded: " + reason)));
      }
    });
    return Behaviors.stopped();
  }
}
