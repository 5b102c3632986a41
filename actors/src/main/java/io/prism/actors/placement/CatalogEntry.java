package io.prism.actors.placement;

import io.prism.actors.GpuId;
import io.prism.actors.ModelSpec;
import io.prism.actors.placement.ModelInfo.State;
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
  /** The migration under way, or null. */
  Migration migration;
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
    return new ModelInfo(spec, createdEpochSeconds, state, gpu, maxModelLen, weightBytes, message);
  }
}
