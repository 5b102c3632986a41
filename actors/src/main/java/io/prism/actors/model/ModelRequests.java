package io.prism.actors.model;

import io.prism.actors.frontend.GenerationEvent;
import io.prism.actors.frontend.RequesterWatch;
import io.prism.actors.gpu.GpuActor;

import io.prism.runtime.engine.FinishReason;
import io.prism.runtime.engine.GenerationRequest;
import io.prism.runtime.engine.Rejection;
import io.prism.runtime.engine.SequenceEvent;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.javadsl.ActorContext;

/**
 * The requests of one {@link ModelActor}, from arrival to their one last event: those admitted and
 * not yet in the engine ({@link #pending}: held back by {@link ModelIntake}; nothing sent to the
 * requester yet) and those in the engine ({@link #inflight}, {@code Started} sent). Watches every requester
 * so a client that goes away cancels its requests, and collects what the GPU actor's admission
 * needs to hear: first tokens and ended requests since the last report.
 *
 * <p>Every request accepted ends exactly once: a pending one with a {@code Rejected}, an in-flight
 * one with a {@code Completed}, or silently when its requester is gone. Threading: the model
 * actor's.
 */
final class ModelRequests {
  /** A request waiting for local admission. */
  record Pending(GenerationRequest request, ActorRef<GenerationEvent> replyTo) {}

  final Map<String, Pending> pending = new LinkedHashMap<>();
  final Map<String, ActorRef<GenerationEvent>> inflight = new LinkedHashMap<>();
  private final ActorContext<ModelActor.Command> ctx;
  private final RequesterWatch<ModelActor.Command> watched;
  private final Function<ActorRef<GenerationEvent>, ModelActor.Command> gone;
  private final Map<String, Long> awaitingFirstToken = new HashMap<>(); // in the engine, no token yet -> arrival
  private final Map<String, Integer> maxTokens = new HashMap<>(); // in the engine -> its max_tokens
  private final List<String> firstTokens = new ArrayList<>();
  private final List<String> ended = new ArrayList<>();

  /** @param gone the message the actor gets when a requester stops */
  ModelRequests(ActorContext<ModelActor.Command> ctx, Function<ActorRef<GenerationEvent>, ModelActor.Command> gone) {
    this.ctx = ctx;
    this.gone = gone;
    this.watched = new RequesterWatch<>(ctx, gone);
  }

  /** Requests queued or in flight. */
  int size() {
    return pending.size() + inflight.size();
  }

  boolean knows(String requestId) {
    return pending.containsKey(requestId) || inflight.containsKey(requestId);
  }

  /** Queues {@code r} for admission and watches its requester. */
  void addPending(GenerationRequest r, ActorRef<GenerationEvent> replyTo) {
    pending.put(r.requestId(), new Pending(r, replyTo));
    watched.add(replyTo, r.requestId());
  }

  /** Moves an admitted request into the engine's set. */
  void started(GenerationRequest r, ActorRef<GenerationEvent> replyTo) {
    inflight.put(r.requestId(), replyTo);
    awaitingFirstToken.put(r.requestId(), r.arrivalNanos());
    maxTokens.put(r.requestId(), r.params().maxTokens());
  }

  /**
   * A request handed over to another GPU ({@link ModelTransfer}): forgotten here without a last
   * event (the target sends it), reported ended to the GPU actor's admission.
   *
   * @return its requester, or null if it was neither pending nor in flight
   */
  ActorRef<GenerationEvent> handedOver(String requestId) {
    ActorRef<GenerationEvent> to = inflight.remove(requestId);
    Pending p = pending.remove(requestId);
    if (to == null && p != null) to = p.replyTo();
    if (to == null) return null;
    watched.remove(to, requestId);
    awaitingFirstToken.remove(requestId);
    maxTokens.remove(requestId);
    ended.add(requestId);
    return to;
  }

  /**
   * A request taken over from another GPU, already in the engine: watched like one started here;
   * it awaits its first token only if none was generated yet.
   */
  void resumed(GenerationRequest r, ActorRef<GenerationEvent> replyTo, boolean awaitingFirst) {
    watched.add(replyTo, r.requestId());
    inflight.put(r.requestId(), replyTo);
    if (awaitingFirst) awaitingFirstToken.put(r.requestId(), r.arrivalNanos());
    maxTokens.put(r.requestId(), r.params().maxTokens());
  }

  /** Arrival of the oldest request in the engine that has no first token yet, or {@link Long#MAX_VALUE}. */
  long oldestWithoutFirstToken() {
    long oldest = Long.MAX_VALUE;
    for (long a : awaitingFirstToken.values()) oldest = Math.min(oldest, a);
    return oldest;
  }

  /** The {@code max_tokens} of a request in the engine (0 if unknown). */
  int maxTokensOf(String requestId) {
    return maxTokens.getOrDefault(requestId, 0);
  }

  /** Ends a pending request with {@code Rejected} (it never started). */
  void reject(Pending p, Rejection rejection) {
    String id = p.request().requestId();
    pending.remove(id);
    watched.remove(p.replyTo(), id);
    ended.add(id);
    p.replyTo().tell(new GenerationEvent.Rejected(id, rejection));
  }

  /** Forgets the requests of a requester that stopped; returns those the engine still runs. */
  List<String> requesterGone(ActorRef<GenerationEvent> requester) {
    Set<String> ids = watched.forget(requester);
    List<String> running = new ArrayList<>();
    for (String id : ids) {
      if (pending.remove(id) != null) ended.add(id);
      if (inflight.remove(id) != null) running.add(id); // its Finished(CANCELLED) is reported when the engine emits it
    }
    return running;
  }

  /** Sends the engine's events to their requesters; notes first tokens and ends for the admission report. */
  void deliver(List<SequenceEvent> events) {
    for (SequenceEvent e : events) {
      if (e instanceof SequenceEvent.Token t) {
        if (awaitingFirstToken.remove(t.requestId()) != null) firstTokens.add(t.requestId()); // the first of any choice
        ActorRef<GenerationEvent> to = inflight.get(t.requestId());
        if (to != null) to.tell(new GenerationEvent.Chunk(t.requestId(), t.text(), t.tokenId(), t.index(), t.choice(), t.logprobs()));
      } else if (e instanceof SequenceEvent.Finished f && f.choicesLeft() > 0) { // one choice of several ended
        ActorRef<GenerationEvent> to = inflight.get(f.requestId());
        if (to != null) to.tell(new GenerationEvent.ChoiceCompleted(f.requestId(), f.choice(), f.reason(), f.text()));
      } else if (e instanceof SequenceEvent.Finished f) {
        ended.add(f.requestId());
        awaitingFirstToken.remove(f.requestId());
        maxTokens.remove(f.requestId());
        ActorRef<GenerationEvent> to = inflight.remove(f.requestId());
        if (to != null) {
          watched.remove(to, f.requestId());
          to.tell(new GenerationEvent.Completed(f.requestId(), f.reason(), f.text(), f.promptTokens(), f.completionTokens(), f.message(), f.choice()));
        }
      }
    }
  }

  /**
   * First tokens and ended requests since the last call with the model's outlook, for {@link
   * GpuActor.Progress}; null if none and not {@code always}.
   */
  GpuActor.Progress takeProgress(String modelId, boolean always, java.util.function.Supplier<io.prism.runtime.policy.ModelOutlook> outlook) {
    if (firstTokens.isEmpty() && ended.isEmpty() && !always) return null;
    GpuActor.Progress p = new GpuActor.Progress(modelId, List.copyOf(firstTokens), List.copyOf(ended), outlook.get());
    firstTokens.clear();
    ended.clear();
    return p;
  }

  /**
   * Ends everything still open after the engine's own {@code failAll}: in-flight requests with
   * {@code Completed(FAILED)}, pending ones with {@code Rejected(UNAVAILABLE)}; unwatches all.
   */
  void failRemaining(String message) {
    inflight.forEach((id, to) -> to.tell(new GenerationEvent.Completed(id, FinishReason.FAILED, "", 0, 0, message)));
    pending.forEach((id, p) -> p.replyTo().tell(new GenerationEvent.Rejected(id, new Rejection.Unavailable(message))));
    inflight.clear();
    pending.clear();
    awaitingFirstToken.clear();
    maxTokens.clear();
    watched.clear();
  }
}
