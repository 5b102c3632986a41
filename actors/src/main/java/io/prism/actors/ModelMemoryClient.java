package io.prism.actors;

import io.prism.runtime.engine.ModelEngine;
import io.prism.runtime.memory.PagePool;
import java.time.Duration;
import org.apache.pekko.actor.typed.ActorRef;

/**
 * The memory side of one {@link ModelActor} on the device's engine thread: whether its next step is
 * short of pages and what to do about it (cheap reclaim in line, else a negotiation with the GPU
 * actor), the activation of evicted weights, and the refinement of its prefill speed.
 *
 * <p>Asking: before a step, if the engine wants more pages than the pool can give it (within the
 * model's maximum), it first takes what costs nobody anything ({@link InlineReclaim}); if that cannot
 * cover it, it sends {@link GpuActor.NeedPages} with a snapshot of every model's memory. The step
 * waits for {@link ModelActor.PagesReady} only if the running sequences are short (else the engine
 * would preempt its own); after a refusal the model asks again within {@code
 * prism.gpu.reclaim-retry} only if its running sequences need more than before. A request waiting
 * for its first token longer than {@link ModelActor#TTFT_AT_RISK} of the TTFT SLO marks the ask as
 * a prefill at risk.
 *
 * <p>Activation: the weight bytes accounted at load are reserved in the pool, through the same
 * reclaim path if there is no room, then {@link ModelEngine#activate()}; {@link
 * GpuActor.Activated} reports how long it took since the first request waited for it.
 */
final class ModelMemoryClient {
  /** What the model actor does on the client's behalf. */
  interface Actor {
    /** Makes sure a step follows. */
    void stepSoon();

    /** Tries the activation again after {@code delay}. */
    void activateLater(Duration delay);
  }

  private final GpuRuntime runtime;
  private final ModelEngine engine;
  private final PrismSettings settings;
  private final ActorRef<GpuActor.Command> gpu;
  private final Actor actor;
  private ModelSpec spec;
  private boolean negotiating;
  private boolean skipNegotiation;
  private long refusedUntilNanos = Long.MIN_VALUE;
  private int refusedNeed; // pages for running sequences asked for when refused
  private int askedNeed;
  private long activationStartNanos = -1;
  private double reportedSpeed;

  ModelMemoryClient(GpuRuntime runtime, ModelEngine engine, ModelSpec spec, PrismSettings settings, ActorRef<GpuActor.Command> gpu, Actor actor) {
    this.runtime = runtime;
    this.engine = engine;
    this.spec = spec;
    this.settings = settings;
    this.gpu = gpu;
    this.actor = actor;
    this.reportedSpeed = runtime.entry(spec.id()).prefillTokensPerSecond;
  }

  /** New SLO or limits: the runtime's entry and the pool's limits take them (a lowered maximum lazily). */
  void spec(ModelSpec s) {
    spec = s;
    GpuRuntime.EngineEntry entry = runtime.entry(s.id());
    if (entry != null) entry.slo = s.slo();
    runtime.pool().setLimits(engine.owner(), engine.weightsResident() ? s.minPages() : 0, s.poolMaxPages());
  }

  /** Whether a negotiation with the GPU actor is under way. */
  boolean negotiating() {
    return negotiating;
  }

  /**
   * Checks the next step's memory and asks if short (see the class comment).
   *
   * @param oldestWithoutFirstToken arrival of the oldest request in the engine without a first token, or {@link Long#MAX_VALUE}
   * @return true if the step must wait for {@link ModelActor.PagesReady}
   */
  boolean holdStep(long oldestWithoutFirstToken) {
    if (negotiating) return false;
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
    int avail = pool.availableTo(owner);
    if (need <= 0 || need <= avail) return false;
    int forRunning = Math.min(need, engine.pagesWantedForRunning() * per);
    long now = runtime.nowNanos();
    if (now < refusedUntilNanos && forRunning <= refusedNeed) return false;
    int reserve = Math.min(pool.reservePages(), avail);
    if (InlineReclaim.tryCheap(runtime, spec.id(), spec.slo(), need, avail - reserve, reserve, gpu)) return false;
    if (forRunning > 0 && forRunning < need && InlineReclaim.tryCheap(runtime, spec.id(), spec.slo(), forRunning, avail - reserve, reserve, gpu)) {
      return false;
    }
    boolean atRisk = oldestWithoutFirstToken != Long.MAX_VALUE
        && now - oldestWithoutFirstToken >= spec.ttftSlo().toNanos() * ModelActor.TTFT_AT_RISK;
    ask(need, forRunning, atRisk, false);
    return forRunning > 0;
  }

  private void ask(int pagesNeeded, int pagesForRunning, boolean prefillAtRisk, boolean forWeights) {
    PagePool pool = runtime.pool();
    int avail = forWeights ? pool.freePages() : pool.availableTo(engine.owner());
    int reserve = Math.min(pool.reservePages(), avail);
    negotiating = true;
    askedNeed = pagesForRunning;
    gpu.tell(new GpuActor.NeedPages(spec.id(), pagesNeeded, pagesForRunning, prefillAtRisk, forWeights, avail - reserve, reserve,
        runtime.memories(runtime.nowNanos())));
  }

  /** The negotiation is over. */
  void pagesReady(ModelActor.Outcome outcome) {
    negotiating = false;
    Duration retry = settings.policies().reclaimRetry();
    if (outcome == ModelActor.Outcome.REFUSED) {
      refusedUntilNanos = runtime.nowNanos() + retry.toNanos();
      refusedNeed = askedNeed;
    }
    if (activationStartNanos >= 0) {
      if (outcome == ModelActor.Outcome.REFUSED) actor.activateLater(retry.plusMillis(1));
      else tryActivate();
    } else {
      skipNegotiation = outcome == ModelActor.Outcome.GRANTED;
      actor.stepSoon();
    }
  }

  /** Starts activating the weights if they are evicted and the engine has requests. */
  void activateIfNeeded() {
    if (!engine.weightsResident() && engine.hasWork() && activationStartNanos < 0) {
      activationStartNanos = runtime.nowNanos();
      tryActivate();
    }
  }

  /**
   * Brings the weights back if the pool has room for them, else makes or asks for room (the
   * requests wait).
   *
   * @throws RuntimeException the device's error if the weights cannot be copied back
   */
  void tryActivate() {
    if (engine.weightsResident() || negotiating) return;
    PagePool pool = runtime.pool();
    String owner = engine.owner();
    long weightBytes = runtime.entry(spec.id()).weightBytes; // what the pool accounted at load
    if (pool.reserveWeights(owner, weightBytes)) {
      engine.activate(); // a failure restarts the actor: its cleanup fails the requests and releases the weight bytes
      if (spec.minPages() > 0 || spec.maxPages() > 0) pool.setLimits(owner, spec.minPages(), spec.poolMaxPages());
      long took = Math.max(0, runtime.nowNanos() - Math.max(0, activationStartNanos));
      activationStartNanos = -1;
      runtime.checkConservation("activation of " + spec.id());
      gpu.tell(new GpuActor.Activated(spec.id(), took));
      actor.stepSoon();
    } else if (runtime.nowNanos() < refusedUntilNanos) {
      actor.activateLater(settings.policies().reclaimRetry().plusMillis(1));
    } else {
      int pages = (int) ((weightBytes + pool.pageBytes() - 1) / pool.pageBytes());
      int reserve = pool.reservePages();
      if (InlineReclaim.tryCheap(runtime, spec.id(), spec.slo(), pages, pool.freePages() - reserve, reserve, gpu) && pool.freePages() >= pages) {
        actor.activateLater(Duration.ZERO);
      } else {
        ask(pages, 0, false, true);
      }
    }
  }

  /**
   * Refines the prefill speed measured at load (a cold JIT or a busy device skews one measurement)
   * with steps that computed at least {@link ModelActor#SPEED_SAMPLE_TOKENS} tokens: an exponential
   * moving average of tokens per second, reported to the GPU actor's admission when it moved by a
   * quarter.
   */
  void observeSpeed(long tokens, long nanos) {
    if (tokens < ModelActor.SPEED_SAMPLE_TOKENS || nanos <= 0) return;
    GpuRuntime.EngineEntry entry = runtime.entry(spec.id());
    if (entry == null) return;
    double sample = tokens * 1e9 / nanos;
    entry.prefillTokensPerSecond = 0.7 * entry.prefillTokensPerSecond + 0.3 * sample;
    if (Math.abs(entry.prefillTokensPerSecond - reportedSpeed) > 0.25 * reportedSpeed) {
      reportedSpeed = entry.prefillTokensPerSecond;
      gpu.tell(new GpuActor.PrefillSpeed(spec.id(), reportedSpeed));
    }
  }
}
