package io.prism.actors.placement;

import io.prism.actors.GpuId;
import io.prism.actors.ModelSpec;
import io.prism.actors.placement.ModelInfo.State;
import io.prism.runtime.policy.Move;
import io.prism.runtime.policy.ReplicaScaling;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.apache.pekko.actor.typed.ActorRef;

/** A catalog model, mutable; lives only inside the {@link GlobalPlacementActor}. */
final class CatalogEntry {
  ModelSpec spec;
  final long createdEpochSeconds;
  State state = State.LOADING;
  GpuId gpu;
  int maxModelLen;
  long weightBytes;
  String message = "";
  /** Placement epoch: goes up each time the model's GPU changes by migration. */
  long epoch;
  /** Read from the replicated catalog by a new singleton and not yet reported resident by a GPU. */
  boolean restored;
  /**
   * Its instances were placed by an earlier singleton (found in GPU reports after a failover): for
   * {@code restore-grace} after this singleton started, no instance is added ({@link ReplicaManager}),
   * since GPUs that have not reported yet may hold more.
   */
  boolean inherited;
  /** The migration under way, or null. */
  Migration migration;
  /** Its instances beyond the first ({@link ReplicaManager}), in the order they were added. */
  final List<Replica> replicas = new ArrayList<>();
  /** The replica policy's evidence so far. */
  ReplicaScaling.Trend trend = ReplicaScaling.Trend.NONE;
  final Set<GpuId> tried = new HashSet<>();
  final List<String> failures = new ArrayList<>();
  final List<ActorRef<GlobalPlacementActor.RegisterReply>> registerWaiters = new ArrayList<>();

  CatalogEntry(ModelSpec spec, long createdEpochSeconds) {
    this.spec = spec;
    this.createdEpochSeconds = createdEpochSeconds;
  }

  String id() {
    return spec.id();
  }

  ModelInfo info() {
    List<GpuId> ready = new ArrayList<>();
    for (Replica r : replicas) if (r.ready) ready.add(r.gpu);
    return new ModelInfo(spec, createdEpochSeconds, state, gpu, maxModelLen, weightBytes, message, ready);
  }

  /** The replica on {@code g}, or null. */
  Replica replicaOn(GpuId g) {
    for (Replica r : replicas) if (r.gpu.equals(g)) return r;
    return null;
  }

  /** Whether {@code g} holds (or is loading) an instance of this model. */
  boolean hasInstanceOn(GpuId g) {
    return g.equals(gpu) || replicaOn(g) != null;
  }

  /** An instance beyond the first: loading until its GPU reports it loaded. */
  static final class Replica {
    final GpuId gpu;
    /** How the {@link io.prism.runtime.policy.MigrationBudget} counts its load (finished once loaded or failed). */
    final Move move;
    final long startNanos = System.nanoTime();
    boolean ready;

    Replica(GpuId gpu, Move move) {
      this.gpu = gpu;
      this.move = move;
    }
  }
}
