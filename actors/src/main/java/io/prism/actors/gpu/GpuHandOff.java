package io.prism.actors.gpu;

import io.prism.actors.GpuId;
import io.prism.actors.PrismSettings;
import io.prism.actors.frontend.Frontend;
import io.prism.actors.frontend.GenerationEvent;
import io.prism.actors.model.ModelActor;
import io.prism.runtime.engine.Rejection;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.function.Function;
import org.apache.pekko.actor.typed.RecipientRef;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.TimerScheduler;

/**
 * A migration's source and target, the {@link GpuActor}'s side (plain state of the GPU actor).
 *
 * <p><b>Source</b> ({@link GpuActor.HandOff}): queued and early requests are redirected to the
 * target at once; the running ones drain here for at most the drain timeout. When it ends with
 * requests left, they are not failed: the model actor hands them over ({@link
 * ModelActor.HandOver}), this actor sends each to the target ({@link GpuActor.Resume}) and the
 * model unloads. Should the model actor not answer within another drain timeout, it unloads anyway
 * (its requests end there, failed).
 *
 * <p><b>Target</b> ({@link GpuActor.Resume}): a handed-over request goes straight to the model
 * actor, past local admission (it was admitted on the source, and may have streamed tokens
 * already); if the model moved on again, it follows ({@code maxHops} times at most); if the model
 * is not here or not ready, the request ends with a clear error.
 */
final class GpuHandOff {
  /** How many times a handed-over request may follow its model from GPU to GPU. */
  static final int MAX_HOPS = 4;

  private final ActorContext<GpuActor.Command> ctx;
  private final GpuId gpu;
  private final GpuModels models;
  private final GpuAdmission admission;
  private final GpuBooks books;
  private final TimerScheduler<GpuActor.Command> timers;
  private final Function<GpuId, RecipientRef<GpuActor.Command>> gpus;
  private final Set<String> handingOver = new HashSet<>();

  /** @param gpus how to reach another GPU actor (Cluster Sharding) */
  GpuHandOff(ActorContext<GpuActor.Command> ctx, GpuId gpu, GpuModels models, GpuAdmission admission, GpuBooks books,
      TimerScheduler<GpuActor.Command> timers, Function<GpuId, RecipientRef<GpuActor.Command>> gpus) {
    this.ctx = ctx;
    this.gpu = gpu;
    this.models = models;
    this.admission = admission;
    this.books = books;
    this.timers = timers;
    this.gpus = gpus;
  }

  void handOff(GpuActor.HandOff h) {
    GpuModels.Entry e = models.get(h.modelId());
    if (e == null || e.unloading || (e.movedTo != null && e.movedEpoch >= h.epoch())) return;
    e.movedTo = h.to();
    e.movedEpoch = h.epoch();
    List<GpuActor.Generate> redirected = new ArrayList<>(admission.takeQueued(h.modelId()));
    redirected.addAll(e.early);
    e.early.clear();
    redirected.forEach(g -> redirect(g, e));
    books.event(GpuEvent.HANDED_OFF, h.modelId(), "now serves on " + h.to() + " (epoch " + h.epoch() + "); " + redirected.size()
        + " queued requests redirected; the running ones finish here");
    if (e.ready) {
      e.ref.tell(ModelActor.Drain.INSTANCE);
      timers.startSingleTimer("drain-" + h.modelId(), new GpuActor.DrainTimedOut(h.modelId(), h.epoch(), h.drainTimeout()), h.drainTimeout());
    } else {
      drained(h.modelId(), "not ready");
    }
  }

  /** The drain timeout of a hand-off ended: the model actor hands its requests over (once), or it unloads now. */
  void drainTimedOut(GpuActor.DrainTimedOut t) {
    GpuModels.Entry e = models.get(t.modelId());
    if (e == null || e.movedEpoch != t.epoch() || e.unloading) return;
    if (e.ready && handingOver.add(t.modelId())) {
      e.ref.tell(new ModelActor.HandOver(e.movedTo));
      timers.startSingleTimer("drain-" + t.modelId(), t, t.drainTimeout()); // in case the model actor never answers
    } else {
      drained(t.modelId(), "drain timed out; the model actor did not hand its requests over");
    }
  }

  /** The model actor took its requests out: each goes to the target; the model unloads. */
  void handedOver(GpuActor.HandedOver h) {
    GpuModels.Entry e = models.get(h.modelId());
    for (GpuActor.Resume r : h.requests()) gpus.apply(h.to()).tell(r);
    books.event(GpuEvent.HANDED_OFF, h.modelId(), h.requests().size() + " requests still here at the drain timeout continue on " + h.to()
        + " by recompute");
    if (e != null && e.movedTo != null) drained(h.modelId(), "handed over");
  }

  /** Unloads a handed-off model whose requests are done (or gone). */
  void drained(String modelId, String how) {
    GpuModels.Entry e = models.get(modelId);
    if (e == null || e.movedTo == null || e.unloading) return;
    timers.cancel("drain-" + modelId);
    handingOver.remove(modelId);
    books.event(GpuEvent.HANDED_OFF, modelId, how + "; unloading (it serves on " + e.movedTo + ")");
    models.unloadModel(new GpuActor.UnloadModel(modelId));
  }

  /** A request handed over by a migration's source: into the model actor, after its model if it moved on. */
  void resume(GpuActor.Resume r) {
    GpuModels.Entry e = models.get(r.modelId());
    if (e != null && e.movedTo != null && !e.unloading && r.hops() < MAX_HOPS) {
      gpus.apply(e.movedTo).tell(new GpuActor.Resume(r.modelId(), r.resumption(), r.replyTo(), r.started(), r.from(), r.hops() + 1));
    } else if (e == null || e.unloading || !e.ready || e.movedTo != null) {
      r.replyTo().tell(r.ending("model '" + r.modelId() + "' is not ready on " + gpu));
    } else {
      e.ref.tell(new ModelActor.Resume(r));
    }
  }

  /** Sends {@code g} back to its frontend with the model's new GPU (or refuses it, retryable, without one). */
  void redirect(GpuActor.Generate g, GpuModels.Entry e) {
    if (g.frontend() != null) {
      g.frontend().tell(new Frontend.Misrouted(g.request(), g.replyTo(), gpu, g.attempt(), e.movedTo, e.movedEpoch));
    } else {
      g.replyTo().tell(new GenerationEvent.Rejected(g.request().requestId(), new Rejection.Unavailable(
          "model '" + e.spec.id() + "' moved to " + e.movedTo + "; retry", "model", 1)));
    }
  }
}
