package io.prism.actors.gpu;

import io.prism.actors.GpuId;
import io.prism.actors.frontend.GenerationEvent;
import io.prism.actors.frontend.TokenizeReply;
import io.prism.runtime.engine.Rejection;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.Behaviors;

/**
 * What answers for a GPU whose node is gone (not a cluster member, or down, leaving or exiting):
 * Cluster Sharding would otherwise buffer every message for it until the node came back, and its
 * coordinator would log a failed allocation every second. {@link
 * io.prism.actors.sharding.NodeBoundAllocationStrategy} allocates such a GPU's shard to the region
 * that asked, where this behavior refuses what needs an answer: a request gets a retryable 503
 * ({@code Retry-After} 5 s; the placement moves the model elsewhere), a load or a tokenization is
 * refused, a status ask gets an unhealthy status; everything else is dropped. When the GPU's node
 * joins again the strategy rebalances the shard there (within {@code
 * pekko.cluster.sharding.rebalance-interval}), which stops this actor.
 *
 * <p>Threading: an actor without state.
 */
public final class LostGpuActor {
  private LostGpuActor() {}

  /** The stand-in for {@code gpu}, which is not on this node. */
  public static Behavior<GpuActor.Command> create(GpuId gpu) {
    String why = "GPU " + gpu + " is not in the cluster (its node is gone or leaving)";
    return Behaviors.receive(GpuActor.Command.class)
        .onMessage(GpuActor.Generate.class, m -> {
          m.replyTo().tell(new GenerationEvent.Rejected(m.request().requestId(), new Rejection.Unavailable(why + "; retry", "model", 5)));
          return Behaviors.same();
        })
        .onMessage(GpuActor.Tokenize.class, m -> {
          m.replyTo().tell(new TokenizeReply.Refused(new Rejection.Unavailable(why + "; retry", "model", 5)));
          return Behaviors.same();
        })
        .onMessage(GpuActor.LoadModel.class, m -> {
          m.replyTo().tell(new GpuActor.LoadFailed(gpu, m.spec().id(), why));
          return Behaviors.same();
        })
        .onMessage(GpuActor.GetStatus.class, m -> {
          m.replyTo().tell(GpuStatus.unavailable(gpu, why));
          return Behaviors.same();
        })
        .onAnyMessage(m -> Behaviors.same())
        .build();
  }
}
