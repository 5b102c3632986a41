package io.prism.actors.model;

import io.prism.actors.PrismSettings;
import io.prism.actors.gpu.GpuActor;
import io.prism.actors.pool.PagePoolActor;

import io.prism.runtime.engine.ModelEngine;
import io.prism.runtime.engine.SequenceEvent;
import java.util.List;
import java.util.function.Consumer;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.javadsl.TimerScheduler;

/**
 * The engine loop of one {@link ModelActor} and what it reports: a chain of {@link
 * ModelActor.Step} self-messages while the engine has work, one engine step per message (so
 * requests, cancellations, pages and the device's other models interleave with the steps); a step
 * that could schedule nothing and emitted nothing is retried after {@code prism.engine.stall-backoff}
 * instead of spinning. Around each step: the memory client's checks ({@link ModelMemoryClient#holdStep}
 * before, {@link ModelMemoryClient#afterStep} after), the step's speed sample ({@link
 * ModelReports#observeStep}), the events to their requesters ({@link ModelRequests#deliver}), the
 * invariants, and the admitted requests fed to the engine ({@link ModelIntake#feed}).
 *
 * <p>Progress: first tokens and ended requests go to the GPU actor's admission ({@link
 * GpuActor.Progress}, with the model's outlook); a model told to {@link ModelActor.Drain} reports
 * {@link GpuActor.Drained} once, when it has no request left.
 *
 * <p>Plain state of the model actor, called on its (the device's) thread only. A failure of the
 * engine's step or of the activation it starts goes to {@code failed} (the cause the restart
 * reports) and is rethrown.
 */
final class ModelStepLoop {
  private final ActorRef<ModelActor.Command> self;
  private final String modelId;
  private final ModelEngine engine;
  private final ModelRequests requests;
  private final ModelIntake intake;
  private final ModelMemoryClient memory;
  private final ModelReports reports;
  private final PrismSettings settings;
  private final ActorRef<PagePoolActor.Command> pool;
  private final ActorRef<GpuActor.Command> parent;
  private final TimerScheduler<ModelActor.Command> timers;
  private final Consumer<RuntimeException> failed;
  private boolean stepScheduled;
  /** 0: serving; 1: draining; 2: drained and reported. */
  private int drain;

  /**
   * @param self the model actor (it gets the {@link ModelActor.Step}s)
   * @param parent the GPU actor (progress and drained reports)
   * @param failed keeps a failure as the cause the restart reports
   */
  ModelStepLoop(ActorRef<ModelActor.Command> self, String modelId, ModelEngine engine, ModelRequests requests, ModelIntake intake,
      ModelMemoryClient memory, ModelReports reports, PrismSettings settings, ActorRef<PagePoolActor.Command> pool,
      ActorRef<GpuActor.Command> parent, TimerScheduler<ModelActor.Command> timers, Consumer<RuntimeException> failed) {
    this.self = self;
    this.modelId = modelId;
    this.engine = engine;
    this.requests = requests;
    this.intake = intake;
    this.memory = memory;
    this.reports = reports;
    this.settings = settings;
    this.pool = pool;
    this.parent = parent;
    this.timers = timers;
    this.failed = failed;
  }

  /** One {@link ModelActor.Step}: one engine step (or, while evicted, only the cancellations), then the next is scheduled. */
  void step() {
    stepScheduled = false;
    if (!engine.weightsResident()) {
      requests.deliver(engine.step()); // cancellations while evicted; nothing runs
      reportProgress(false);
      return; // Step resumes when the activation is done
    }
    if (memory.holdStep(requests.oldestWithoutFirstToken())) return;
    long stalledBefore = engine.stats().stalledSteps();
    long computedBefore = engine.stats().computedTokens();
    long t0 = System.nanoTime();
    List<SequenceEvent> events;
    try {
      events = engine.step();
    } catch (RuntimeException e) {
      failed.accept(e);
      throw e;
    }
    long took = System.nanoTime() - t0;
    boolean stalled = engine.stats().stalledSteps() > stalledBefore;
    reports.observeStep(engine.stats().computedTokens() - computedBefore, took, stalled);
    requests.deliver(events);
    memory.afterStep();
    // a step that computed nothing (no pages yet: retried after the stall back-off) is no forward pass: not traced
    if (settings.policies().traceSteps() > 0 && !stalled) pool.tell(new PagePoolActor.Stepped(modelId));
    reports.checkInvariants(settings.policies().checkInvariants(), "step");
    feed();
    if (engine.hasWork()) {
      stepScheduled = true;
      if (stalled && events.isEmpty()) timers.startSingleTimer(ModelActor.Step.INSTANCE, settings.stallBackoff());
      else self.tell(ModelActor.Step.INSTANCE);
    }
    reportProgress(false);
  }

  /** Hands admitted requests to the engine ({@link ModelIntake#feed}), then activates the weights if needed. */
  void feed() {
    intake.feed(modelId);
    try {
      memory.activateIfNeeded();
    } catch (RuntimeException e) {
      failed.accept(e);
      throw e;
    }
  }

  /** Makes sure a {@link ModelActor.Step} follows if the engine has work and none is scheduled. */
  void ensureStepping() {
    if (!stepScheduled && engine.hasWork()) {
      stepScheduled = true;
      self.tell(ModelActor.Step.INSTANCE);
    }
  }

  /** From now on no new request comes: {@link GpuActor.Drained} once none is left (at once if none is). */
  void drain() {
    drain = Math.max(drain, 1);
    reportProgress(true);
  }

  /** Sends first tokens and ended requests (and the outlook) to the GPU actor's admission; {@code always}: even with none. */
  void reportProgress(boolean always) {
    GpuActor.Progress p = requests.takeProgress(modelId, always, () -> reports.outlook(modelId, requests));
    if (p != null) parent.tell(p);
    if (drain == 1 && requests.size() == 0) {
      drain = 2;
      parent.tell(new GpuActor.Drained(modelId));
    }
  }
}
