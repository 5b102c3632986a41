package io.prism.actors;

import io.prism.runtime.engine.Admission;
import io.prism.runtime.engine.Device;
import io.prism.runtime.engine.ForwardBackend;
import io.prism.runtime.engine.GenerationRequest;
import io.prism.runtime.engine.ModelEngine;
import io.prism.runtime.engine.SamplingParams;
import io.prism.runtime.engine.SequenceEvent;
import io.prism.runtime.memory.KvCache;
import io.prism.runtime.memory.PagePool;
import io.prism.runtime.model.LoadedModel;
import io.prism.runtime.sampling.Sampler;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.apache.pekko.actor.NoSerializationVerificationNeeded;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.PostStop;
import org.apache.pekko.actor.typed.PreRestart;
import org.apache.pekko.actor.typed.javadsl.AbstractBehavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.Receive;
import org.apache.pekko.actor.typed.javadsl.StashBuffer;
import org.apache.pekko.actor.typed.javadsl.TimerScheduler;

/**
 * One model instance on one device: its request queue and continuous batching through the
 * runtime's {@link ModelEngine}, streaming each request's tokens to whoever asked (on any node).
 *
 * <p>Runs on its device's one-thread dispatcher (with the device's {@link PagePoolActor} and other
 * model actors). The engine loop is a chain of {@code Step} self-messages while the engine has
 * work: one engine step per message, so requests, cancellations and the other models of the device
 * interleave with the steps and nothing blocks for longer than one step. A step that can schedule
 * nothing (no memory) is retried after {@code prism.engine.stall-backoff} instead of spinning.
 *
 * <p>Life cycle: loads the host copy of the model (blocking IO off the device thread), reserves its
 * weights in the pool, builds the engine and sends {@link GpuActor.ModelReady} to its GPU actor;
 * requests that arrive meanwhile are stashed. If anything fails, the GPU actor gets {@link
 * GpuActor.ModelLoadFailed} and this actor stops.
 *
 * <p>Failure: if a step (or anything else) throws, the GPU actor restarts this actor. Before the
 * restart every request in flight ends with a {@link GenerationEvent.Completed} of reason {@code
 * FAILED} carrying the cause, the engine returns every page to the pool and the weights are
 * released; the new instance loads again and serves the requests still in the mailbox. On stop
 * (unload) the same happens with the message "model ... was unloaded".
 *
 * <p>Cancellation: {@link Cancel}, or the requester stopping (a client that disconnects stops its
 * stream actor, which this actor watches), frees the request's blocks at once.
 */
public final class ModelActor extends AbstractBehavior<ModelActor.Command> {
  /** Messages of the model protocol. */
  public sealed interface Command extends PrismMessage {}

  /** Serve {@code request}; events go to {@code replyTo}. */
  public record Generate(GenerateRequest request, ActorRef<GenerationEvent> replyTo) implements Command {}

  /** Cancels a request; its {@code Completed(CANCELLED)} follows. Unknown ids are ignored. */
  public record Cancel(String requestId) implements Command {}

  /** Stops this instance: requests in flight fail with "unloaded", every page goes back. */
  public enum Shutdown implements Command {
    INSTANCE
  }

  /** Test hook (fault injection): the actor throws {@code IllegalStateException(message)} when it handles this. */
  public record InjectFault(String message) implements Command {}

  private enum Step implements Command {
    INSTANCE
  }

  private record Loaded(LoadedModel model) implements Command, NoSerializationVerificationNeeded {}

  private record LoadFailed(String reason) implements Command {}

  private record RequesterGone(ActorRef<GenerationEvent> requester) implements Command {}

  /**
   * @param spec the model
   * @param runtime the device's engine-thread state (this node only)
   * @param store host copies of models
   * @param settings engine options and limits
   * @param poolActor the device's pool actor (reserve refills)
   * @param parent the GPU actor
   */
  public static Behavior<Command> create(ModelSpec spec, GpuRuntime runtime, ModelStore store, PrismSettings settings,
      ActorRef<PagePoolActor.Command> poolActor, ActorRef<GpuActor.Command> parent) {
    return Behaviors.withStash(settings.maxQueuedRequests(), stash -> Behaviors.withTimers(timers -> Behaviors.setup(ctx -> {
      ctx.pipeToSelf(store.load(spec), (m, e) -> e == null ? new Loaded(m) : new LoadFailed(rootMessage(e)));
      return loading(ctx, spec, runtime, settings, poolActor, parent, stash, timers);
    })));
  }

  private static Behavior<Command> loading(ActorContext<Command> ctx, ModelSpec spec, GpuRuntime runtime, PrismSettings settings,
      ActorRef<PagePoolActor.Command> poolActor, ActorRef<GpuActor.Command> parent, StashBuffer<Command> stash,
      TimerScheduler<Command> timers) {
    return Behaviors.receive(Command.class)
        .onMessage(Loaded.class, m -> {
          ModelEngine engine;
          try {
            engine = startEngine(m.model(), runtime, settings);
          } catch (RuntimeException e) {
            return failLoad(ctx, spec, parent, stash, rootMessage(e));
          }
          parent.tell(new GpuActor.ModelReady(spec.id(), m.model().config().maxSeqLen(), runtime.pool().weightBytesOf(engine.owner())));
          ModelActor running = new ModelActor(ctx, spec, runtime, settings, poolActor, timers, engine);
          return stash.unstashAll(running);
        })
        .onMessage(LoadFailed.class, m -> failLoad(ctx, spec, parent, stash, m.reason()))
        .onMessageEquals(Shutdown.INSTANCE, Behaviors::stopped)
        .onMessage(Generate.class, m -> {
          if (stash.isFull()) {
            m.replyTo().tell(new GenerationEvent.Rejected(m.request().requestId(), ErrorKind.OVERLOADED,
                "model '" + spec.id() + "' is loading and has " + stash.size() + " requests waiting; retry later", null));
          } else {
            stash.stash(m);
          }
          return Behaviors.same();
        })
        .onAnyMessage(m -> {
          if (m instanceof InjectFault f) throw new IllegalStateException("injected fault: " + f.message());
          if (!stash.isFull() && !(m instanceof Step)) stash.stash(m);
          return Behaviors.same();
        })
        .build();
  }

  private static Behavior<Command> failLoad(ActorContext<Command> ctx, ModelSpec spec, ActorRef<GpuActor.Command> parent,
      StashBuffer<Command> stash, String reason) {
    ctx.getLog().warn("Model {} could not be loaded: {}", spec.id(), reason);
    parent.tell(new GpuActor.ModelLoadFailed(spec.id(), reason));
    stash.forEach(m -> {
      if (m instanceof Generate g) {
        g.replyTo().tell(new GenerationEvent.Rejected(g.request().requestId(), ErrorKind.UNAVAILABLE,
            "model '" + spec.id() + "' could not be loaded: " + reason, null));
      }
    });
    return Behaviors.stopped();
  }

  /** Reserves the weights, the KV cache's virtual ranges, puts the weights on the device, builds the engine. */
  private static ModelEngine startEngine(LoadedModel model, GpuRuntime runtime, PrismSettings settings) {
    Device device = runtime.device();
    PagePool pool = runtime.pool();
    String owner = model.id();
    long weightBytes = device.weightBytes(model);
    if (!pool.reserveWeights(owner, weightBytes)) {
      throw new IllegalStateException("not enough free memory on " + runtime.gpu() + " for the weights of " + owner + ": needs "
          + weightBytes + " bytes, " + (long) pool.freePages() * pool.pageBytes() + " free");
    }
    KvCache kv = null;
    ForwardBackend backend = null;
    try {
      kv = ModelEngine.reserveKvCache(device.memory(), model.config(), settings.engine(), device.kvElementBytes());
      backend = device.load(model, kv);
      ModelEngine engine = new ModelEngine(model, backend, pool, settings.engine(), Sampler::sample);
      runtime.register(model.id(), engine, weightBytes);
      return engine;
    } catch (RuntimeException e) {
      if (backend != null) backend.close();
      if (kv != null) kv.close();
      pool.releaseWeights(owner);
      throw e;
    }
  }

  private final ModelSpec spec;
  private final GpuRuntime runtime;
  private final PrismSettings settings;
  private final ActorRef<PagePoolActor.Command> poolActor;
  private final TimerScheduler<Command> timers;
  private final ModelEngine engine;
  private final Map<String, ActorRef<GenerationEvent>> inflight = new LinkedHashMap<>();
  private final Map<ActorRef<GenerationEvent>, Set<String>> byRequester = new HashMap<>();
  private boolean stepScheduled;
  private RuntimeException lastFailure;

  private ModelActor(ActorContext<Command> ctx, ModelSpec spec, GpuRuntime runtime, PrismSettings settings,
      ActorRef<PagePoolActor.Command> poolActor, TimerScheduler<Command> timers, ModelEngine engine) {
    super(ctx);
    this.spec = spec;
    this.runtime = runtime;
    this.settings = settings;
    this.poolActor = poolActor;
    this.timers = timers;
    this.engine = engine;
  }

  @Override
  public Receive<Command> createReceive() {
    return newReceiveBuilder()
        .onMessage(Generate.class, this::onGenerate)
        .onMessageEquals(Step.INSTANCE, this::onStep)
        .onMessage(Cancel.class, this::onCancel)
        .onMessage(RequesterGone.class, this::onRequesterGone)
        .onMessageEquals(Shutdown.INSTANCE, Behaviors::stopped)
        .onMessage(InjectFault.class, this::onInjectFault)
        .onSignal(PreRestart.class, s -> cleanup("model '" + spec.id() + "' failed and is restarting: "
            + (lastFailure == null ? "unknown failure" : rootMessage(lastFailure))))
        .onSignal(PostStop.class, s -> cleanup("model '" + spec.id() + "' was unloaded"))
        .build();
  }

  private Behavior<Command> onGenerate(Generate g) {
    GenerateRequest r = g.request();
    if (inflight.size() >= settings.maxQueuedRequests()) {
      return reject(g, ErrorKind.OVERLOADED, "model '" + spec.id() + "' has " + inflight.size() + " requests in flight; retry later", null);
    }
    if (inflight.containsKey(r.requestId())) {
      return reject(g, ErrorKind.INVALID_REQUEST, "request id " + r.requestId() + " is already in flight", null);
    }
    int[] tokens;
    try {
      tokens = r.promptTokens() != null ? r.promptTokens() : engine.model().tokenizer().encode(r.prompt(), r.addBos(), false);
    } catch (IllegalArgumentException e) {
      return reject(g, ErrorKind.INVALID_REQUEST, "prompt cannot be tokenized: " + e.getMessage(), "prompt");
    }
    if (tokens.length == 0) return reject(g, ErrorKind.INVALID_REQUEST, "prompt must not be empty", "prompt");
    SamplingParams params = r.params();
    if (r.maxTokensToContext()) {
      int room = Math.max(1, engine.model().config().maxSeqLen() - tokens.length);
      params = new SamplingParams(params.temperature(), params.topP(), params.topK(), params.seed(), room, params.stop(), params.ignoreEos());
    }
    Admission a = engine.submit(new GenerationRequest(r.requestId(), tokens, params, System.nanoTime()));
    if (a instanceof Admission.Rejected rej) return reject(g, kindOf(rej.reason()), rej.reason(), paramOf(rej.reason()));
    inflight.put(r.requestId(), g.replyTo());
    watch(g.replyTo(), r.requestId());
    g.replyTo().tell(new GenerationEvent.Started(r.requestId(), spec.id(), runtime.gpu(), tokens.length, getContext().getSelf()));
    ensureStepping();
    return this;
  }

  private Behavior<Command> reject(Generate g, ErrorKind kind, String message, String param) {
    g.replyTo().tell(new GenerationEvent.Rejected(g.request().requestId(), kind, message, param));
    return this;
  }

  /** Maps the engine's admission reasons (see {@link ModelEngine#submit}) to error kinds. */
  static ErrorKind kindOf(String reason) {
    if (reason.contains("maximum context length")) return ErrorKind.CONTEXT_LENGTH_EXCEEDED;
    if (reason.contains("shut down")) return ErrorKind.UNAVAILABLE;
    return ErrorKind.INVALID_REQUEST;
  }

  static String paramOf(String reason) {
    if (reason.contains("vocabulary")) return "prompt";
    if (reason.contains("KV blocks") || reason.contains("KV pages")) return "max_tokens";
    return null;
  }

  private Behavior<Command> onStep() {
    runtime.checkThread();
    stepScheduled = false;
    long stalledBefore = engine.stats().stalledSteps();
    List<SequenceEvent> events;
    try {
      events = engine.step();
    } catch (RuntimeException e) {
      lastFailure = e;
      throw e;
    }
    deliver(events);
    boolean stalled = engine.stats().stalledSteps() > stalledBefore;
    GpuRuntime.EngineEntry entry = runtime.entry(spec.id());
    if (entry != null) {
      if (!stalled) entry.stalledSinceNanos = -1;
      else if (entry.stalledSinceNanos < 0) entry.stalledSinceNanos = System.nanoTime();
    }
    if (engine.hasWork()) {
      stepScheduled = true;
      if (stalled && events.isEmpty()) timers.startSingleTimer(Step.INSTANCE, settings.stallBackoff());
      else getContext().getSelf().tell(Step.INSTANCE);
    }
    PagePool pool = runtime.pool();
    if (pool.reservePages() < pool.reserveTarget() && pool.freePages() > pool.reservePages()) {
      poolActor.tell(PagePoolActor.RefillReserve.INSTANCE);
    }
    return this;
  }

  private Behavior<Command> onCancel(Cancel c) {
    if (engine.cancel(c.requestId())) ensureStepping();
    return this;
  }

  private Behavior<Command> onRequesterGone(RequesterGone g) {
    Set<String> ids = byRequester.remove(g.requester());
    if (ids == null) return this;
    for (String id : ids) {
      inflight.remove(id); // nobody to tell any more
      if (engine.cancel(id)) getContext().getLog().debug("Cancelled {}: its requester stopped", id);
    }
    ensureStepping();
    return this;
  }

  private Behavior<Command> onInjectFault(InjectFault f) {
    lastFailure = new IllegalStateException("injected fault: " + f.message());
    throw lastFailure;
  }

  private void ensureStepping() {
    if (!stepScheduled && engine.hasWork()) {
      stepScheduled = true;
      getContext().getSelf().tell(Step.INSTANCE);
    }
  }

  private void deliver(List<SequenceEvent> events) {
    for (SequenceEvent e : events) {
      if (e instanceof SequenceEvent.Token t) {
        ActorRef<GenerationEvent> to = inflight.get(t.requestId());
        if (to != null) to.tell(new GenerationEvent.Chunk(t.requestId(), t.text(), t.tokenId(), t.index()));
      } else if (e instanceof SequenceEvent.Finished f) {
        ActorRef<GenerationEvent> to = inflight.remove(f.requestId());
        if (to != null) {
          unwatch(to, f.requestId());
          to.tell(new GenerationEvent.Completed(f.requestId(), f.reason(), f.text(), f.promptTokens(), f.completionTokens(), f.message()));
        }
      }
    }
  }

  private void watch(ActorRef<GenerationEvent> requester, String requestId) {
    Set<String> ids = byRequester.get(requester);
    if (ids == null) {
      ids = new HashSet<>();
      byRequester.put(requester, ids);
      getContext().watchWith(requester, new RequesterGone(requester));
    }
    ids.add(requestId);
  }

  private void unwatch(ActorRef<GenerationEvent> requester, String requestId) {
    Set<String> ids = byRequester.get(requester);
    if (ids != null && ids.remove(requestId) && ids.isEmpty()) {
      byRequester.remove(requester);
      getContext().unwatch(requester);
    }
  }

  /** Ends every request in flight with FAILED, returns every page and the weights, leaves the device. */
  private Behavior<Command> cleanup(String message) {
    PagePool pool = runtime.pool();
    try {
      deliver(engine.failAll(message));
    } catch (RuntimeException e) {
      getContext().getLog().error("Model {}: failing its requests threw", spec.id(), e);
    }
    inflight.forEach((id, to) -> to.tell(new GenerationEvent.Completed(id, io.prism.runtime.engine.FinishReason.FAILED, "", 0, 0, message)));
    inflight.clear();
    byRequester.keySet().forEach(getContext()::unwatch);
    byRequester.clear();
    try {
      engine.close();
    } catch (RuntimeException e) {
      getContext().getLog().error("Model {} could not return its pages", spec.id(), e);
      runtime.markFaulty("model " + spec.id() + " could not return its pages: " + rootMessage(e));
    }
    if (pool.weightBytesOf(engine.owner()) > 0) pool.releaseWeights(engine.owner());
    runtime.deregister(spec.id());
    getContext().getLog().info("Model {} left {}: {}", spec.id(), runtime.gpu(), message);
    return this;
  }

  static String rootMessage(Throwable e) {
    Throwable t = e;
    while ((t instanceof java.util.concurrent.CompletionException || t instanceof java.util.concurrent.ExecutionException) && t.getCause() != null) {
      t = t.getCause();
    }
    return t.getMessage() != null ? t.getMessage() : t.getClass().getSimpleName();
  }
}
