package io.prism.actors.model;

import io.prism.actors.GpuId;
import io.prism.actors.frontend.GenerationEvent;
import io.prism.actors.gpu.GpuActor;
import io.prism.runtime.engine.Admission;
import io.prism.runtime.engine.GenerationRequest;
import io.prism.runtime.engine.ModelEngine;
import io.prism.runtime.engine.RequestResumption;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import java.util.function.LongSupplier;
import org.apache.pekko.actor.typed.ActorRef;

/**
 * Live migration's recompute, a {@link ModelActor}'s side (plain state of the model actor; issue
 * 9, item 3). When a migration's drain timeout ends with requests still here, the source hands
 * them over ({@link #handOver}) instead of failing them: each running request leaves the engine
 * ({@link ModelEngine#suspend}, no event) and its requester hears {@link
 * GenerationEvent.Recomputing} without a model; requests admitted but not yet in the engine go as
 * fresh ones. The GPU actor sends them to the target, whose model actor {@link #resume}s them:
 * the engine recomputes prompt and generated tokens and continues (greedy output identical,
 * sampled output too for a seeded request), the requester hears {@link GenerationEvent.Recomputing}
 * with the target's model actor, and the stream goes on with the next token: nothing is sent
 * twice, and the request's one last event comes from the target.
 */
final class ModelTransfer {
  private final ModelEngine engine;
  private final ModelRequests requests;
  private final ActorRef<ModelActor.Command> self;
  private final GpuId gpu;
  private final LongSupplier clock;

  ModelTransfer(ModelEngine engine, ModelRequests requests, ActorRef<ModelActor.Command> self, GpuId gpu, LongSupplier clock) {
    this.engine = engine;
    this.requests = requests;
    this.self = self;
    this.gpu = gpu;
    this.clock = clock;
  }

  /**
   * Takes every request of this instance out for {@code to}: running ones with their progress,
   * admitted ones not yet started as fresh requests. A request whose last event is already pending
   * in the engine (cancelled) stays and ends here.
   *
   * @return the hand-overs for the GPU actor to send to {@code to}, in admission order
   */
  List<GpuActor.Resume> handOver(GpuId to, String modelId) {
    List<GpuActor.Resume> out = new ArrayList<>();
    for (String id : List.copyOf(requests.inflight.keySet())) {
      RequestResumption r = engine.suspend(id);
      if (r == null) continue;
      ActorRef<GenerationEvent> replyTo = requests.handedOver(id);
      replyTo.tell(new GenerationEvent.Recomputing(id, to, null));
      out.add(new GpuActor.Resume(modelId, r, replyTo, true, gpu, 0));
    }
    for (ModelRequests.Pending p : List.copyOf(requests.pending.values())) {
      GenerationRequest req = p.request();
      Long seed = req.params().choiceSeed(0);
      RequestResumption fresh = new RequestResumption(req, req.params().n() == 1, 0,
          List.of(new RequestResumption.Choice(0, new int[0], seed != null ? seed : ThreadLocalRandom.current().nextLong(), 0)));
      out.add(new GpuActor.Resume(modelId, fresh, requests.handedOver(req.requestId()), false, gpu, 0));
    }
    return out;
  }

  /**
   * Takes over a request another GPU handed over ({@code m}): into the engine, its requester told
   * ({@link GenerationEvent.Recomputing} for a started one, {@code Started} for one that was only
   * admitted there). One the engine refuses ends here: {@code Completed(FAILED)} with the tokens so
   * far, or {@code Rejected} if it had not started.
   *
   * @param modelId this instance's model, named in {@code Started}
   * @return whether the engine took it
   */
  boolean resume(GpuActor.Resume m, String modelId) {
    RequestResumption in = m.resumption();
    GenerationRequest old = in.request();
    long now = clock.getAsLong(); // the source's clock may be another node's
    GenerationRequest here = new GenerationRequest(old.requestId(), old.promptTokens(), old.params(), now, old.structured());
    RequestResumption r = new RequestResumption(here, in.forked(), in.finishedCompletionTokens(), in.choices());
    if (requests.knows(r.requestId())) {
      m.replyTo().tell(m.ending("request id " + r.requestId() + " is already in flight on " + gpu));
      return false;
    }
    Admission adm;
    try {
      adm = engine.resume(r);
    } catch (IllegalArgumentException malformed) { // a hand-over whose choices do not fit its request: it ends here, the model serves on
      m.replyTo().tell(m.ending(malformed.getMessage()));
      return false;
    }
    if (adm instanceof Admission.Rejected rej) {
      m.replyTo().tell(m.ending(rej.rejection().message()));
      return false;
    }
    requests.resumed(here, m.replyTo(), r.completionTokens() == 0);
    if (m.started()) {
      m.replyTo().tell(new GenerationEvent.Recomputing(r.requestId(), gpu, self));
    } else {
      m.replyTo().tell(new GenerationEvent.Started(r.requestId(), modelId, gpu, r.promptTokens(), self,
          here.structured() == null ? null : here.structured().toolFormat()));
    }
    return true;
  }
}
