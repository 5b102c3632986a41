package io.prism.actors.model;

import io.prism.actors.GpuId;
import io.prism.actors.frontend.GenerationEvent;

import io.prism.runtime.engine.Admission;
import io.prism.runtime.engine.ModelEngine;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.function.LongSupplier;
import org.apache.pekko.actor.typed.ActorRef;

/**
 * How an admitted request ({@link ModelActor.Run}) gets into a {@link ModelActor}'s engine: handed
 * over a few at a time (at most {@link ModelActor#FEED_AHEAD} waiting in the engine, which admits
 * its waiting requests as memory allows), unless a stricter model holds this model's admissions
 * ({@link ModelActor.HoldAdmissions}). {@code Started} goes to the requester when the engine takes
 * it; one the engine rejects (its own check, e.g. the pool shrank) gets its typed {@code Rejected}.
 * Plain state of the model actor.
 */
final class ModelIntake {
  private final ModelEngine engine;
  private final ModelRequests requests;
  private final ActorRef<ModelActor.Command> self;
  private final LongSupplier clock;
  private final ArrayDeque<String> admitted = new ArrayDeque<>();
  private long holdUntilNanos = Long.MIN_VALUE;
  private GpuId gpu;

  ModelIntake(ModelEngine engine, ModelRequests requests, ActorRef<ModelActor.Command> self, LongSupplier clock) {
    this.engine = engine;
    this.requests = requests;
    this.self = self;
    this.clock = clock;
  }

  /** The GPU this model runs on, named in {@code Started}. */
  void gpu(GpuId id) {
    gpu = id;
  }

  /** Local admission admitted {@code requestId} (already in {@link ModelRequests#pending}): it queues up for the engine. */
  void admit(String requestId) {
    admitted.addLast(requestId);
  }

  /**
   * Holds admissions for {@code nanos} from now, unless a hold already lasts longer.
   *
   * @return the delay after which the caller should feed again, or null if the hold did not change
   */
  Duration hold(long nanos) {
    long until = clock.getAsLong() + nanos;
    if (until <= holdUntilNanos) return null;
    holdUntilNanos = until;
    return Duration.ofNanos(nanos).plusMillis(1);
  }

  /** Hands admitted requests to the engine (see the class comment). */
  void feed(String modelId) {
    while (!admitted.isEmpty() && engine.waitingCount() < ModelActor.FEED_AHEAD && clock.getAsLong() >= holdUntilNanos) {
      ModelRequests.Pending p = requests.pending.get(admitted.pollFirst());
      if (p == null) continue; // its requester left meanwhile
      String id = p.request().requestId();
      Admission adm = engine.submit(p.request());
      if (adm instanceof Admission.Rejected rej) {
        requests.reject(p, rej.rejection());
        continue;
      }
      requests.pending.remove(id);
      requests.started(p.request(), p.replyTo());
      p.replyTo().tell(new GenerationEvent.Started(id, modelId, gpu, p.request().promptTokens().length, self,
          p.request().structured() == null ? null : p.request().structured().toolFormat()));
    }
  }
}
