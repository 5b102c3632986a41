package io.prism.actors.pool;

import io.prism.actors.PrismMessage;
import io.prism.actors.gpu.GpuActor;
import io.prism.actors.model.ModelActor;

import java.util.List;
import org.apache.pekko.actor.typed.ActorRef;

/**
 * What a model that gave pages up in a reclaim tells its page pool actor with them: the
 * negotiation, whom the pages are for and what it did. The pool grants the freed pages to {@code
 * grantTo} at once (so no third model takes them first), then reports {@link GpuActor.Reclaimed} to
 * the GPU actor; the requester therefore holds the pages before it hears the negotiation is over.
 *
 * @param negotiationId the GPU actor's negotiation, -1 for an idle eviction
 * @param forModel the requester ({@code "(idle)"} for an idle eviction)
 * @param grantTo the requester's actor, or null when the pages stay in the pool (weights, idle)
 * @param grantPages pages to grant it at most
 * @param unit grant a multiple of this many pages (the requester's pages per page id)
 * @param results what each step did, for the GPU actor's books
 */
public record Handover(long negotiationId, String forModel, ActorRef<ModelActor.Command> grantTo, int grantPages, int unit,
    List<ReclaimResult> results) implements PrismMessage {}
