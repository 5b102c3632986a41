package io.prism.actors.frontend;

import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.javadsl.ActorContext;

/**
 * Which requests of an actor each requester (the receiver of a request's {@link GenerationEvent}s)
 * has open, with a death watch on every requester while it has one: when a requester stops (its
 * client went away), the owning actor gets {@code gone.apply(requester)} and ends or cancels that
 * requester's requests ({@link #forget}). Used by the GPU actor for queued requests and by model
 * actors for admitted ones. Plain state of its actor (its thread).
 *
 * @param <M> the owning actor's message type
 */
public final class RequesterWatch<M> {
  private final ActorContext<M> ctx;
  private final Function<ActorRef<GenerationEvent>, M> gone;
  private final Map<ActorRef<GenerationEvent>, Set<String>> byRequester = new HashMap<>();

  /** @param gone the message the actor gets when a watched requester stops */
  public RequesterWatch(ActorContext<M> ctx, Function<ActorRef<GenerationEvent>, M> gone) {
    this.ctx = ctx;
    this.gone = gone;
  }

  /** {@code requestId} of {@code requester} is open: the requester is watched while it has any. */
  public void add(ActorRef<GenerationEvent> requester, String requestId) {
    Set<String> ids = byRequester.get(requester);
    if (ids == null) {
      ids = new HashSet<>();
      byRequester.put(requester, ids);
      ctx.watchWith(requester, gone.apply(requester));
    }
    ids.add(requestId);
  }

  /** {@code requestId} ended: the requester is unwatched when it has none left. */
  public void remove(ActorRef<GenerationEvent> requester, String requestId) {
    Set<String> ids = byRequester.get(requester);
    if (ids != null && ids.remove(requestId) && ids.isEmpty()) {
      byRequester.remove(requester);
      ctx.unwatch(requester);
    }
  }

  /** The requester stopped: its open request ids (empty if none), forgotten. */
  public Set<String> forget(ActorRef<GenerationEvent> requester) {
    Set<String> ids = byRequester.remove(requester);
    return ids == null ? Set.of() : ids;
  }

  /** Unwatches every requester and forgets everything. */
  public void clear() {
    byRequester.keySet().forEach(ctx::unwatch);
    byRequester.clear();
  }
}
