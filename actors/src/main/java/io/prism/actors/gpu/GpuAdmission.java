package io.prism.actors.gpu;

import io.prism.actors.frontend.GenerateRequest;
import io.prism.actors.frontend.GenerationEvent;
import io.prism.actors.frontend.RequesterWatch;
import io.prism.actors.model.ModelActor;

import io.prism.runtime.engine.GenerationRequest;
import io.prism.runtime.engine.Rejection;
import io.prism.runtime.policy.DeadlineAdmission;
import io.prism.runtime.sampling.SamplingParams;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;
import java.util.function.LongSupplier;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.javadsl.ActorContext;

/**
 * The GPU actor's side of a request before it reaches its model: tokenized and checked against the
 * model's {@code RequestLimits} (a request that can never run is refused at once, typed), counted
 * against the queue bounds (per model {@code prism.engine.max-queued-requests}, per GPU {@code
 * prism.gpu.max-queued-requests}; beyond them {@link Rejection.Overloaded} with a {@code
 * Retry-After} from the GPU's measured drain rate), queued at local admission ({@link
 * DeadlineAdmission}, the paper's Algorithm 2 with the full cost) and, once admitted, sent to its
 * model actor ({@link ModelActor.Run}) or, if it cannot meet its TTFT SLO, refused ({@link
 * Rejection.SloUnattainable} with the estimate). The requester is watched while the request waits
 * here, so a client that leaves frees its place.
 *
 * <p>Plain state owned by the GPU actor (its thread); the tokenizer it uses is the model's
 * immutable one.
 */
final class GpuAdmission {
  private record Pending(GenerationRequest request, ActorRef<GenerationEvent> replyTo, String modelId, GpuActor.Generate source) {}

  private final ActorContext<GpuActor.Command> ctx;
  private final RequesterWatch<GpuActor.Command> watched;
  private final DeadlineAdmission admission;
  private final LongSupplier clock;
  private final int maxPerModel;
  private final int maxPerGpu;
  private final Map<String, Pending> queued = new LinkedHashMap<>();
  private final Map<String, String> admitted = new HashMap<>(); // request id -> model id, sent to the model and not ended
  private final Map<String, Integer> perModel = new HashMap<>();
  private double drainPerSecond = 1;
  private long lastEndNanos = -1;

  GpuAdmission(ActorContext<GpuActor.Command> ctx, boolean deadlineAdmission, LongSupplier clock, int maxPerModel, int maxPerGpu) {
    this.ctx = ctx;
    this.admission = new DeadlineAdmission(deadlineAdmission);
    this.clock = clock;
    this.maxPerModel = maxPerModel;
    this.maxPerGpu = maxPerGpu;
    this.watched = new RequesterWatch<>(ctx, GpuActor.RequesterGone::new);
  }

  /** The admission policy's state (counts, queue), for books. */
  DeadlineAdmission policy() {
    return admission;
  }

  /** Requests waiting here (queued at admission), all models. */
  int queued() {
    return queued.size();
  }

  /**
   * Takes {@code g} for ready model {@code e}: refuses it (typed, to the requester) or queues it.
   *
   * @return true if queued
   */
  boolean accept(GpuActor.Generate g, GpuModels.Entry e) {
    GenerateRequest r = g.request();
    String modelId = e.spec.id();
    int inModel = perModel.getOrDefault(modelId, 0);
    if (inModel >= maxPerModel) return refuse(g, new Rejection.Overloaded("model '" + modelId + "' has " + inModel + " requests queued or running; retry after "
        + retryAfterSeconds() + " s", retryAfterSeconds()));
    int inGpu = queued.size() + admitted.size();
    if (inGpu >= maxPerGpu) return refuse(g, new Rejection.Overloaded("its GPU has " + inGpu + " requests queued or running; retry after "
        + retryAfterSeconds() + " s", retryAfterSeconds()));
    if (queued.containsKey(r.requestId()) || admitted.containsKey(r.requestId())) {
      return refuse(g, new Rejection.InvalidRequest(null, "request id " + r.requestId() + " is already in flight"));
    }
    int[] tokens;
    try {
      tokens = PromptTokens.of(r, e.profile.tokenizer());
    } catch (PromptTokens.Refused ex) {
      return refuse(g, ex.rejection());
    }
    if (tokens.length == 0) return refuse(g, new Rejection.InvalidRequest(r.chat() != null ? "messages" : "prompt", "prompt must not be empty"));
    SamplingParams params = r.params();
    if (r.maxTokensToContext()) {
      int room = Math.max(1, e.maxModelLen() - tokens.length);
      params = params.withMaxTokens(room);
    }
    long now = clock.getAsLong();
    GenerationRequest request = new GenerationRequest(r.requestId(), tokens, params, now, StructuredOutputs.resolve(r, e.profile.tokenizer()));
    // a request over the model's max_pages could never run (it would block its model's queue): refuse it too
    Rejection problem = e.profile.limits().check(request, Math.min(e.profile.capacityPages(), e.spec.poolMaxPages()), 0);
    if (problem != null) return refuse(g, problem);
    queued.put(r.requestId(), new Pending(request, g.replyTo(), modelId, g));
    perModel.merge(modelId, 1, Integer::sum);
    watched.add(g.replyTo(), r.requestId());
    admission.enqueue(modelId, r.requestId(), now, tokens.length, e.spec.ttftSlo());
    return true;
  }

  private static boolean refuse(GpuActor.Generate g, Rejection r) {
    g.replyTo().tell(new GenerationEvent.Rejected(g.request().requestId(), r));
    return false;
  }

  /** Retry-After for a full queue: what is queued here over the measured drain rate, at least 1 s. */
  long retryAfterSeconds() {
    return Math.max(1, (long) Math.ceil((queued.size() + 1) / Math.max(0.1, drainPerSecond)));
  }

  /**
   * One admission round: admitted requests go to their model actors, rejected ones get 503.
   *
   * @param models the entries by model id
   * @param books records rejections
   */
  void round(Function<String, GpuModels.Entry> models, GpuBooks books) {
    if (queued.isEmpty()) return;
    DeadlineAdmission.Round round = admission.round(clock.getAsLong());
    round.admitted().forEach((modelId, ids) -> {
      GpuModels.Entry e = models.apply(modelId);
      for (String id : ids) {
        Pending p = queued.remove(id);
        if (p == null) continue;
        watched.remove(p.replyTo(), id);
        if (e == null || e.unloading) {
          ended(id, modelId);
          p.replyTo().tell(new GenerationEvent.Rejected(id, new Rejection.Unavailable("model '" + modelId + "' left its GPU", "model", 1)));
          continue;
        }
        admitted.put(id, modelId);
        e.ref.tell(new ModelActor.Run(p.request(), p.replyTo()));
      }
    });
    round.rejected().forEach((id, r) -> {
      Pending p = queued.remove(id);
      if (p == null) return;
      watched.remove(p.replyTo(), id);
      ended(id, r.modelId());
      books.event(GpuEvent.REJECTED, r.modelId(), id + ": " + r.reason());
      p.replyTo().tell(new GenerationEvent.Rejected(id, new Rejection.SloUnattainable("model '" + r.modelId() + "': " + r.reason(),
          r.estimatedTtftNanos() / 1_000_000, r.ttftSloNanos() / 1_000_000)));
    });
  }

  /** A model's report: first tokens, ends, its outlook. */
  void progress(GpuActor.Progress p) {
    admission.firstTokens(p.firstTokens(), clock.getAsLong());
    admission.ended(p.ended());
    if (p.outlook() != null) admission.outlook(p.outlook());
    for (String id : p.ended()) {
      if (admitted.remove(id) != null) {
        perModel.merge(p.modelId(), -1, Integer::sum);
        observeEnd();
      }
    }
  }

  private void observeEnd() {
    long now = System.nanoTime();
    if (lastEndNanos >= 0) {
      double gap = Math.max(1e-6, (now - lastEndNanos) / 1e9);
      drainPerSecond = 0.9 * drainPerSecond + 0.1 * (1 / gap);
    }
    lastEndNanos = now;
  }

  /** The requester of queued requests stopped: they leave the queue. */
  void requesterGone(ActorRef<GenerationEvent> requester) {
    Set<String> ids = watched.forget(requester);
    for (String id : ids) {
      Pending p = queued.remove(id);
      if (p != null) ended(id, p.modelId());
    }
  }

  /** The model's instance ended every request it had (restart, stop): forget those; the queued ones stay. */
  void forgetAdmitted(String modelId) {
    List<String> ids = new ArrayList<>();
    admitted.forEach((id, m) -> {
      if (m.equals(modelId)) ids.add(id);
    });
    for (String id : ids) {
      admitted.remove(id);
      perModel.merge(modelId, -1, Integer::sum);
    }
    admission.ended(ids);
  }

  /**
   * The model moved to another GPU: its requests still queued here (not yet sent to its model
   * actor) leave the queue and are returned, as they arrived, to be routed to the new GPU; the ones
   * admitted stay (they finish here).
   */
  List<GpuActor.Generate> takeQueued(String modelId) {
    List<Pending> gone = new ArrayList<>();
    for (Pending p : queued.values()) if (p.modelId().equals(modelId)) gone.add(p);
    List<GpuActor.Generate> out = new ArrayList<>();
    for (Pending p : gone) {
      String id = p.request().requestId();
      queued.remove(id);
      watched.remove(p.replyTo(), id);
      ended(id, modelId);
      out.add(p.source());
    }
    return out;
  }

  /** The model left the GPU: its queued requests are refused (a retry is routed afresh). */
  void dropModel(String modelId) {
    forgetAdmitted(modelId);
    List<Pending> gone = new ArrayList<>();
    for (Pending p : queued.values()) if (p.modelId().equals(modelId)) gone.add(p);
    for (Pending p : gone) {
      String id = p.request().requestId();
      queued.remove(id);
      watched.remove(p.replyTo(), id);
      ended(id, modelId);
      p.replyTo().tell(new GenerationEvent.Rejected(id, new Rejection.Unavailable("model '" + modelId + "' left its GPU", "model", 1)));
    }
    admission.forgetModel(modelId);
    perModel.remove(modelId);
  }

  private void ended(String id, String modelId) {
    admission.ended(List.of(id));
    perModel.merge(modelId, -1, Integer::sum);
  }
}
