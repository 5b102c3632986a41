package io.prism.actors;

import io.prism.runtime.engine.Admission;
import io.prism.runtime.engine.GenerationRequest;
import io.prism.runtime.engine.ModelEngine;
import io.prism.runtime.engine.SamplingParams;
import io.prism.runtime.engine.SequenceEvent;
import io.prism.runtime.memory.PagePool;
import io.prism.runtime.model.LoadedModel;
import java.util.List;
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
 * One model instance on one device: its requests, continuous batching through the runtime's {@link
 * ModelEngine}, and its side of the device's memory coordination; streams each request's tokens to
 * whoever asked (on any node).
 *
 * <p>Runs on its device's one-thread dispatcher (with the device's {@link PagePoolActor} and other
 * model actors). The engine loop is a chain of {@code Step} self-messages while the engine has
 * work: one engine step per message, so requests, cancellations, reclaim and the other models of
 * the device interleave with the steps. A step that can schedule nothing is retried after {@code
 * prism.engine.stall-backoff} instead of spinning.
 *
 * <p><b>Admission.</b> A request is tokenized and checked ({@link ModelEngine#check}); one that can
 * never run is rejected at once. Otherwise it waits for the GPU's local admission: {@link
 * GpuActor.Enqueue} goes to the GPU actor, which answers {@link Admit} (the request enters the
 * engine and {@code Started} goes to the requester) or {@link Drop} ({@code Rejected}: it cannot
 * meet its TTFT SLO).
 *
 * <p><b>Memory.</b> Before a step, if the engine wants more pages than the pool can give it ({@link
 * ModelEngine#pagesWanted()} beyond {@link PagePool#availableTo}, within the model's maximum), it
 * first takes what costs nobody anything at once ({@link InlineReclaim}: other models' empty pages
 * and cached blocks); if that cannot cover it, it sends {@link GpuActor.NeedPages} with a snapshot
 * of every model's memory, and if its running sequences are short it holds the step until {@link
 * PagesReady}: the GPU actor plans a reclaim (idle-model eviction, decode preemption by slack) and
 * the pool actor carries it out. A refused negotiation is not asked again for {@code
 * prism.gpu.reclaim-retry}; the engine then preempts its own sequences as usual. An evicted model ({@link ModelEngine#weightsResident()} false) that gets a
 * request is activated: its weights are reserved in the pool, through the same reclaim path if the
 * pool has no room, then {@link ModelEngine#activate()}; the requests wait, so their TTFT includes
 * the activation ({@link GpuActor.Activated} reports its duration).
 *
 * <p>Life cycle: loads the host copy of the model (blocking IO off the device thread), starts the
 * engine ({@link ModelEngines#start}) and sends {@link GpuActor.ModelReady}; requests that arrive
 * meanwhile are stashed. If anything fails, the GPU actor gets {@link GpuActor.ModelLoadFailed} and
 * this actor stops.
 *
 * <p>Failure: if a step (or anything else) throws, the GPU actor restarts this actor. Before the
 * restart every request in flight ends with a {@link GenerationEvent.Completed} of reason {@code
 * FAILED} carrying the cause (queued ones with {@code Rejected}), the engine returns every page to
 * the pool and the weights are released; the new instance loads again and serves the requests still
 * in the mailbox. On stop (unload) the same happens with the message "model ... was unloaded".
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

  /** From the GPU actor: local admission admitted these queued requests; they enter the engine. */
  public record Admit(List<String> requestIds) implements Command {}

  /** From the GPU actor: local admission rejected this queued request ({@code reason} goes to the client, 503). */
  public record Drop(String requestId, String reason) implements Command {}

  /** From the GPU actor: the negotiation this model asked for is over. */
  public record PagesReady(long negotiationId, Outcome outcome) implements Command {}

  /** How a negotiation ended. */
  public enum Outcome {
    /** Pages were freed: step (or activate) without asking again first. */
    GRANTED,
    /** Nothing could free enough: do not ask again for the same shortage for {@code prism.gpu.reclaim-retry}. */
    REFUSED,
    /** Not decided (another negotiation ran, or this one was abandoned): check again and ask with a fresh snapshot. */
    RETRY
  }

  /**
   * From the GPU actor: a model with a stricter SLO has a request at risk of its TTFT SLO and no
   * memory for it; for {@code nanos} this model starts no new sequence (its running ones go on),
   * so the memory its sequences free flows to the stricter model.
   */
  public record HoldAdmissions(long nanos, String forModel) implements Command {}

  /** From the GPU actor: new SLO or page limits (a lowered maximum takes effect lazily). */
  public record UpdateSpec(ModelSpec spec) implements Command {}

  /**
   * Fraction of its TTFT SLO a request may wait for its first token before its prefill counts as at
   * risk: from then on the model's reclaim may preempt the decodes of models with a strictly looser
   * SLO (a prefill otherwise waits for memory).
   */
  static final double TTFT_AT_RISK = 0.5;

  /** Admitted requests handed to the engine ahead of its running batch. */
  static final int FEED_AHEAD = 8;

  private enum Step implements Command {
    INSTANCE
  }

  private enum HoldExpired implements Command {
    INSTANCE
  }

  private enum ActivationRetry implements Command {
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
   * @param parent the GPU actor
   */
  public static Behavior<Command> create(ModelSpec spec, GpuRuntime runtime, ModelStore store, PrismSettings settings,
      ActorRef<GpuActor.Command> parent) {
    return Behaviors.withStash(settings.maxQueuedRequests(), stash -> Behaviors.withTimers(timers -> Behaviors.setup(ctx -> {
      ctx.pipeToSelf(store.load(spec), (m, e) -> e == null ? new Loaded(m) : new LoadFailed(rootMessage(e)));
      return loading(ctx, spec, runtime, settings, parent, stash, timers);
    })));
  }

  private static Behavior<Command> loading(ActorContext<Command> ctx, ModelSpec initialSpec, GpuRuntime runtime, PrismSettings settings,
      ActorRef<GpuActor.Command> parent, StashBuffer<Command> stash, TimerScheduler<Command> timers) {
    ModelSpec[] spec = {initialSpec};
    return Behaviors.receive(Command.class)
        .onMessage(Loaded.class, m -> {
          ModelEngine engine;
          try {
            engine = ModelEngines.start(m.model(), spec[0], runtime, settings);
          } catch (RuntimeException e) {
            return failLoad(ctx, spec[0], parent, stash, rootMessage(e));
          }
          GpuRuntime.EngineEntry entry = runtime.entry(spec[0].id());
          parent.tell(new GpuActor.ModelReady(spec[0].id(), m.model().config().maxSeqLen(), entry.weightBytes, entry.prefillTokensPerSecond));
          return stash.unstashAll(new ModelActor(ctx, spec[0], runtime, settings, parent, timers, engine));
        })
        .onMessage(LoadFailed.class, m -> failLoad(ctx, spec[0], parent, stash, m.reason()))
        .onMessageEquals(Shutdown.INSTANCE, Behaviors::stopped)
        .onMessage(UpdateSpec.class, m -> {
          spec[0] = m.spec();
          return Behaviors.same();
        })
        .onMessage(Generate.class, m -> {
          if (stash.isFull()) {
            m.replyTo().tell(new GenerationEvent.Rejected(m.request().requestId(), ErrorKind.OVERLOADED,
                "model '" + spec[0].id() + "' is loading and has " + stash.size() + " requests waiting; retry later", null));
          } else {
            stash.stash(m);
          }
          return Behaviors.same();
        })
        .onAnyMessage(m -> {
          if (m instanceof InjectFault f) throw new IllegalStateException("injected fault: " + f.message());
          if (!stash.isFull() && !(m instanceof Step) && !(m instanceof ActivationRetry)) stash.stash(m);
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

  private ModelSpec spec;
  private final GpuRuntime runtime;
  private final PrismSettings settings;
  private final ActorRef<GpuActor.Command> parent;
  private final TimerScheduler<Command> timers;
  private final ModelEngine engine;
  private final ModelRequests requests;
  private boolean stepScheduled;
  private boolean negotiating;
  private boolean skipNegotiation;
  private long refusedUntilNanos = Long.MIN_VALUE;
  private int refusedNeed; // pages for running sequences asked for when refused
  private int askedNeed;
  private long activationStartNanos = -1;
  private double reportedSpeed;
  private final java.util.ArrayDeque<String> admitted = new java.util.ArrayDeque<>();
  private long holdUntilNanos = Long.MIN_VALUE;
  private RuntimeException lastFailure;

  private ModelActor(ActorContext<Command> ctx, ModelSpec spec, GpuRuntime runtime, PrismSettings settings, ActorRef<GpuActor.Command> parent,
      TimerScheduler<Command> timers, ModelEngine engine) {
    super(ctx);
    this.spec = spec;
    this.runtime = runtime;
    this.settings = settings;
    this.parent = parent;
    this.timers = timers;
    this.engine = engine;
    this.requests = new ModelRequests(ctx, RequesterGone::new);
    this.reportedSpeed = runtime.entry(spec.id()).prefillTokensPerSecond;
  }

  @Override
  public Receive<Command> createReceive() {
    return newReceiveBuilder()
        .onMessage(Generate.class, this::onGenerate)
        .onMessage(Admit.class, this::onAdmit)
        .onMessage(Drop.class, this::onDrop)
        .onMessageEquals(Step.INSTANCE, this::onStep)
        .onMessage(PagesReady.class, this::onPagesReady)
        .onMessageEquals(ActivationRetry.INSTANCE, () -> {
          tryActivate();
          return this;
        })
        .onMessage(UpdateSpec.class, this::onUpdateSpec)
        .onMessage(HoldAdmissions.class, this::onHold)
        .onMessageEquals(HoldExpired.INSTANCE, () -> {
          feedEngine();
          ensureStepping();
          return this;
        })
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
    if (requests.size() >= settings.maxQueuedRequests()) {
      return reject(g, ErrorKind.OVERLOADED, "model '" + spec.id() + "' has " + requests.size() + " requests in flight; retry later", null);
    }
    if (requests.knows(r.requestId())) return reject(g, ErrorKind.INVALID_REQUEST, "request id " + r.requestId() + " is already in flight", null);
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
    GenerationRequest request = new GenerationRequest(r.requestId(), tokens, params, runtime.nowNanos());
    String problem = engine.check(request);
    if (problem != null) return reject(g, ModelEngines.kindOf(problem), problem, ModelEngines.paramOf(problem));
    requests.addPending(request, g.replyTo());
    parent.tell(new GpuActor.Enqueue(spec.id(), r.requestId(), request.arrivalNanos(), tokens.length));
    return this;
  }

  private Behavior<Command> reject(Generate g, ErrorKind kind, String message, String param) {
    g.replyTo().tell(new GenerationEvent.Rejected(g.request().requestId(), kind, message, param));
    return this;
  }

  private Behavior<Command> onAdmit(Admit a) {
    for (String id : a.requestIds()) if (requests.pending.containsKey(id)) admitted.addLast(id);
    feedEngine();
    ensureStepping();
    reportProgress();
    return this;
  }

  /**
   * Hands admitted requests to the engine, keeping at most {@link #FEED_AHEAD} waiting in it (the
   * engine admits its waiting requests as memory allows), unless a stricter model holds this
   * model's admissions ({@link HoldAdmissions}). {@code Started} goes to the requester then.
   */
  private void feedEngine() {
    while (!admitted.isEmpty() && engine.waitingCount() < FEED_AHEAD && runtime.nowNanos() >= holdUntilNanos) {
      ModelRequests.Pending p = requests.pending.get(admitted.pollFirst());
      if (p == null) continue; // its requester left meanwhile
      String id = p.request().requestId();
      Admission adm = engine.submit(p.request());
      if (adm instanceof Admission.Rejected rej) {
        requests.reject(p, ModelEngines.kindOf(rej.reason()), rej.reason(), ModelEngines.paramOf(rej.reason()));
        continue;
      }
      requests.pending.remove(id);
      requests.started(p.request(), p.replyTo());
      p.replyTo().tell(new GenerationEvent.Started(id, spec.id(), runtime.gpu(), p.request().promptTokens().length, getContext().getSelf()));
    }
    if (!engine.weightsResident() && engine.hasWork() && activationStartNanos < 0) {
      activationStartNanos = runtime.nowNanos();
      tryActivate();
    }
  }

  private Behavior<Command> onHold(HoldAdmissions h) {
    long until = runtime.nowNanos() + h.nanos();
    if (until > holdUntilNanos) {
      holdUntilNanos = until;
      timers.startSingleTimer(HoldExpired.INSTANCE, java.time.Duration.ofNanos(h.nanos()).plusMillis(1));
    }
    return this;
  }

  private Behavior<Command> onDrop(Drop d) {
    ModelRequests.Pending p = requests.pending.get(d.requestId());
    if (p != null) requests.reject(p, ErrorKind.SLO_UNATTAINABLE, "model '" + spec.id() + "': " + d.reason(), null);
    reportProgress();
    return this;
  }

  private Behavior<Command> onStep() {
    runtime.checkThread();
    stepScheduled = false;
    if (!engine.weightsResident()) {
      requests.deliver(engine.step()); // cancellations while evicted; nothing runs
      reportProgress();
      return this; // Step resumes when the activation is done
    }
    if (!negotiating && askForPages()) return this;
    long stalledBefore = engine.stats().stalledSteps();
    long computedBefore = engine.stats().computedTokens();
    long t0 = System.nanoTime();
    List<SequenceEvent> events;
    try {
      events = engine.step();
    } catch (RuntimeException e) {
      lastFailure = e;
      throw e;
    }
    observeSpeed(engine.stats().computedTokens() - computedBefore, System.nanoTime() - t0);
    requests.deliver(events);
    runtime.afterStep(spec.id());
    feedEngine();
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
    if (pool.reservePages() < pool.reserveTarget() && pool.freePages() > pool.reservePages() && runtime.poolActor() != null) {
      runtime.poolActor().tell(PagePoolActor.RefillReserve.INSTANCE);
    }
    reportProgress();
    return this;
  }

  /**
   * Whether the next step is short of pages the pool cannot give: then asks the GPU actor for a
   * reclaim. Returns true if the step must wait for {@link PagesReady}: when the running sequences
   * cannot grow (else the engine would preempt its own); a shortage for admitting waiting requests
   * only is asked for while the running ones keep stepping. After a refusal the model asks again
   * within {@code prism.gpu.reclaim-retry} only if its running sequences need more than before.
   */
  private boolean askForPages() {
    if (skipNegotiation) {
      skipNegotiation = false;
      return false;
    }
    int per = engine.physicalPagesPerPageId();
    int need = engine.pagesWanted() * per;
    if (need == 0) return false;
    PagePool pool = runtime.pool();
    String owner = engine.owner();
    int room = pool.maxPagesOf(owner) == Integer.MAX_VALUE ? Integer.MAX_VALUE : pool.maxPagesOf(owner) - pool.pagesHeldBy(owner);
    need = Math.min(need, room) / per * per; // at its maximum: only its own sequences can give way
    if (need <= 0 || need <= pool.availableTo(owner)) return false;
    int forRunning = Math.min(need, engine.pagesWantedForRunning() * per);
    long now = runtime.nowNanos();
    if (now < refusedUntilNanos && forRunning <= refusedNeed) return false;
    int avail = pool.availableTo(owner);
    int reserve = Math.min(pool.reservePages(), avail);
    if (InlineReclaim.tryCheap(runtime, spec.id(), spec.slo(), need, avail - reserve, reserve, parent)) return false;
    if (forRunning > 0 && forRunning < need
        && InlineReclaim.tryCheap(runtime, spec.id(), spec.slo(), forRunning, avail - reserve, reserve, parent)) {
      return false;
    }
    long oldest = requests.oldestWithoutFirstToken();
    boolean atRisk = oldest != Long.MAX_VALUE && now - oldest >= spec.ttftSlo().toNanos() * TTFT_AT_RISK;
    requestPages(need, forRunning, atRisk, false);
    return forRunning > 0;
  }

  private void requestPages(int pagesNeeded, int pagesForRunning, boolean prefillAtRisk, boolean forWeights) {
    PagePool pool = runtime.pool();
    long now = runtime.nowNanos();
    int avail = forWeights ? pool.freePages() : pool.availableTo(engine.owner());
    int reserve = Math.min(pool.reservePages(), avail);
    negotiating = true;
    askedNeed = pagesForRunning;
    parent.tell(new GpuActor.NeedPages(spec.id(), pagesNeeded, pagesForRunning, prefillAtRisk, forWeights, avail - reserve, reserve,
        runtime.memories(now)));
  }

  private Behavior<Command> onPagesReady(PagesReady r) {
    negotiating = false;
    if (r.outcome() == Outcome.REFUSED) {
      refusedUntilNanos = runtime.nowNanos() + settings.policies().reclaimRetry().toNanos();
      refusedNeed = askedNeed;
    }
    if (activationStartNanos >= 0) {
      if (r.outcome() == Outcome.REFUSED) timers.startSingleTimer(ActivationRetry.INSTANCE, settings.policies().reclaimRetry().plusMillis(1));
      else tryActivate();
    } else {
      skipNegotiation = r.outcome() == Outcome.GRANTED;
      ensureStepping();
    }
    return this;
  }

  /** Brings the weights back if the pool has room for them, else asks for room (the requests wait). */
  private void tryActivate() {
    if (engine.weightsResident() || negotiating) return;
    PagePool pool = runtime.pool();
    String owner = engine.owner();
    long weightBytes = runtime.entry(spec.id()).weightBytes; // what the pool accounted at load
    if (pool.reserveWeights(owner, weightBytes)) {
      try {
        engine.activate();
      } catch (RuntimeException e) {
        lastFailure = e;
        throw e; // restart: the cleanup fails the waiting requests and releases the weight bytes
      }
      if (spec.minPages() > 0 || spec.maxPages() > 0) pool.setLimits(owner, spec.minPages(), spec.poolMaxPages());
      long took = Math.max(0, runtime.nowNanos() - Math.max(0, activationStartNanos));
      activationStartNanos = -1;
      runtime.checkConservation("activation of " + spec.id());
      parent.tell(new GpuActor.Activated(spec.id(), took));
      ensureStepping();
    } else if (runtime.nowNanos() < refusedUntilNanos) {
      timers.startSingleTimer(ActivationRetry.INSTANCE, settings.policies().reclaimRetry().plusMillis(1));
    } else {
      int pages = (int) ((weightBytes + pool.pageBytes() - 1) / pool.pageBytes());
      int reserve = pool.reservePages();
      if (InlineReclaim.tryCheap(runtime, spec.id(), spec.slo(), pages, pool.freePages() - reserve, reserve, parent)
          && pool.freePages() >= pages) {
        getContext().getSelf().tell(ActivationRetry.INSTANCE);
      } else {
        requestPages(pages, 0, false, true);
      }
    }
  }

  private Behavior<Command> onUpdateSpec(UpdateSpec u) {
    spec = u.spec();
    GpuRuntime.EngineEntry entry = runtime.entry(spec.id());
    if (entry != null) entry.slo = spec.slo();
    runtime.pool().setLimits(engine.owner(), engine.weightsResident() ? spec.minPages() : 0, spec.poolMaxPages());
    ensureStepping();
    return this;
  }

  private Behavior<Command> onCancel(Cancel c) {
    if (engine.cancel(c.requestId())) ensureStepping();
    return this;
  }

  private Behavior<Command> onRequesterGone(RequesterGone g) {
    for (String id : requests.requesterGone(g.requester())) {
      if (engine.cancel(id)) getContext().getLog().debug("Cancelled {}: its requester stopped", id);
    }
    ensureStepping();
    reportProgress();
    return this;
  }

  private Behavior<Command> onInjectFault(InjectFault f) {
    lastFailure = new IllegalStateException("injected fault: " + f.message());
    throw lastFailure;
  }

  /**
   * Refines the prefill speed measured at load (a cold JIT or a busy device skews one measurement)
   * with steps that computed at least {@link #SPEED_SAMPLE_TOKENS} tokens: an exponential moving
   * average of tokens per second, reported to the GPU actor's admission when it moved by a quarter.
   */
  private void observeSpeed(long tokens, long nanos) {
    if (tokens < SPEED_SAMPLE_TOKENS || nanos <= 0) return;
    GpuRuntime.EngineEntry entry = runtime.entry(spec.id());
    if (entry == null) return;
    double sample = tokens * 1e9 / nanos;
    entry.prefillTokensPerSecond = 0.7 * entry.prefillTokensPerSecond + 0.3 * sample;
    if (Math.abs(entry.prefillTokensPerSecond - reportedSpeed) > 0.25 * reportedSpeed) {
      reportedSpeed = entry.prefillTokensPerSecond;
      parent.tell(new GpuActor.PrefillSpeed(spec.id(), reportedSpeed));
    }
  }

  /** Steps with fewer computed tokens (decode) do not sample the prefill speed. */
  static final int SPEED_SAMPLE_TOKENS = 32;

  private void ensureStepping() {
    if (!stepScheduled && engine.hasWork()) {
      stepScheduled = true;
      getContext().getSelf().tell(Step.INSTANCE);
    }
  }

  private void reportProgress() {
    GpuActor.Progress p = requests.takeProgress(spec.id());
    if (p != null) parent.tell(p);
  }

  /** Ends every request (in flight: FAILED; queued: rejected), returns every page and the weights, leaves the device. */
  private Behavior<Command> cleanup(String message) {
    PagePool pool = runtime.pool();
    try {
      requests.deliver(engine.failAll(message));
    } catch (RuntimeException e) {
      getContext().getLog().error("Model {}: failing its requests threw", spec.id(), e);
    }
    requests.failRemaining(message);
    try {
      engine.close();
    } catch (RuntimeException e) {
      getContext().getLog().error("Model {} could not return its pages", spec.id(), e);
      runtime.markFaulty("model " + spec.id() + " could not return its pages: " + rootMessage(e));
    }
    if (pool.weightBytesOf(engine.owner()) > 0) pool.releaseWeights(engine.owner());
    pool.setLimits(engine.owner(), 0, Integer.MAX_VALUE);
    runtime.deregister(spec.id());
    runtime.checkConservation("model " + spec.id() + " left");
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
