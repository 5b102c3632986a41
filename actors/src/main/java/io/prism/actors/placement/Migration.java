package io.prism.actors.placement;

import io.prism.actors.GpuId;
import io.prism.runtime.policy.Move;
import java.util.ArrayList;
import java.util.List;
import org.apache.pekko.actor.typed.ActorRef;

/** A live migration under way, mutable; lives only inside the {@link GlobalPlacementActor}. */
final class Migration {
  final long id;
  final String modelId;
  final GpuId from;
  final GpuId to;
  /** The move as the budget counts it (GPU indices of the round that started it). */
  final Move move;
  final long startNanos;
  final long startEpochMillis;
  final String reason;
  /** An evicted model reactivated on another GPU: lookups answer "loading" until the target serves. */
  final boolean reactivation;
  final List<ActorRef<GlobalPlacementActor.MoveReply>> waiters = new ArrayList<>();

  Migration(long id, String modelId, GpuId from, GpuId to, Move move, String reason, boolean reactivation) {
    this.reactivation = reactivation;
    this.id = id;
    this.modelId = modelId;
    this.from = from;
    this.to = to;
    this.move = move;
    this.reason = reason;
    this.startNanos = System.nanoTime();
    this.startEpochMillis = System.currentTimeMillis();
  }

  double seconds() {
    return (System.nanoTime() - startNanos) / 1e9;
  }

  PlacementView.MigrationView view(String outcome, String detail) {
    return new PlacementView.MigrationView(modelId, from, to, outcome, startEpochMillis, seconds(), reason, detail);
  }
}
