package io.prism.actors.model;

import io.prism.actors.gpu.GpuStatus;
import io.prism.runtime.engine.ModelEngine;
import io.prism.runtime.engine.WeightTier;
import io.prism.runtime.memory.HostTier;
import java.util.function.LongSupplier;
import org.apache.pekko.actor.typed.ActorRef;

/**
 * One model instance's side of the node's {@link HostTier}: whether an eviction keeps a host copy
 * (the tier has room) or goes to the disk tier, the exact bytes it then holds, dropping the copy
 * when the tier asks ({@link ModelActor.DropHostCopy}; deferred while an activation is under way,
 * which reads it), and activations counted per tier for {@code /admin/gpus} and {@code /metrics}.
 * Plain state of the model actor (its thread); the tier itself is thread-safe.
 */
final class HostCopies {
  private final HostTier tier;
  private final String owner;
  private final ActorRef<ModelActor.Command> self;
  private final LongSupplier clock;
  private boolean dropDeferred;
  private final long[] activations = new long[WeightTier.values().length];
  private final long[] activationNanos = new long[WeightTier.values().length];
  private final long[] lastActivationNanos = new long[WeightTier.values().length];

  /**
   * @param owner this instance's node-unique name in the tier (GPU entity id and model id)
   * @param initialActivationNanos the activation time assumed before one was measured
   */
  HostCopies(HostTier tier, String owner, ActorRef<ModelActor.Command> self, LongSupplier clock, long initialActivationNanos) {
    this.tier = tier;
    this.owner = owner;
    this.self = self;
    this.clock = clock;
    lastActivationNanos[WeightTier.HOST.ordinal()] = initialActivationNanos;
    lastActivationNanos[WeightTier.DISK.ordinal()] = 2 * initialActivationNanos;
  }

  /** Evicts {@code engine}'s weights: to the host tier if it has room, else to the disk tier; settles the bytes held. */
  void evict(ModelEngine engine) {
    boolean keep = tier.reserve(owner, engine.weightBytes(), clock.getAsLong(), () -> self.tell(ModelActor.DropHostCopy.INSTANCE))
        instanceof HostTier.Reservation.Kept;
    try {
      engine.evict(keep);
    } finally {
      tier.settle(owner, engine.hostCopyBytes());
    }
  }

  /** The tier asked for the copy: dropped now, or after the activation under way ({@code activating}). */
  void dropAsked(ModelEngine engine, boolean activating) {
    if (activating) {
      dropDeferred = true;
      return;
    }
    dropDeferred = false;
    engine.dropHostCopy();
    tier.settle(owner, engine.hostCopyBytes());
  }

  /** The weights came back from tier {@code from} after {@code nanos}: counted; the copy is used now (or dropped if asked meanwhile). */
  void activated(ModelEngine engine, WeightTier from, long nanos) {
    activations[from.ordinal()]++;
    activationNanos[from.ordinal()] += nanos;
    lastActivationNanos[from.ordinal()] = nanos;
    tier.touch(owner, clock.getAsLong());
    if (dropDeferred) dropAsked(engine, false);
    else tier.settle(owner, engine.hostCopyBytes());
  }

  /** The activation time to expect from where the weights are now (the last one measured from that tier). */
  long expectedActivationNanos(ModelEngine engine) {
    WeightTier t = engine.weightTier();
    return t == WeightTier.GPU ? 0 : lastActivationNanos[t.ordinal()];
  }

  /** The instance stops (its engine closed or about to close): its copy leaves the tier (idempotent). */
  void release() {
    tier.release(owner);
  }

  /** The tier status for {@code /admin/gpus}. */
  GpuStatus.WeightTierStatus status(ModelEngine engine) {
    int h = WeightTier.HOST.ordinal(), d = WeightTier.DISK.ordinal();
    return new GpuStatus.WeightTierStatus(engine.weightTier().label(), tier.bytesOf(owner), activations[h], activationNanos[h], activations[d],
        activationNanos[d]);
  }
}
