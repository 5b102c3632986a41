package io.prism.actors.sharding;

import io.prism.actors.gpu.GpuActor;

import io.prism.actors.GpuId;
import java.util.Map;
import java.util.Set;
import org.apache.pekko.actor.ActorRef;
import org.apache.pekko.actor.Address;
import org.apache.pekko.cluster.Cluster;
import org.apache.pekko.cluster.sharding.ShardCoordinator;
import scala.collection.immutable.IndexedSeq;
import org.apache.pekko.dispatch.Futures;
import scala.concurrent.Future;

/**
 * Shard allocation for {@link io.prism.actors.gpu.GpuActor}: a GPU entity lives only on the node that
 * physically has the device. Each GPU is its own shard, and its shard id is the {@link GpuId}
 * entity id, which names the node's canonical host and port; this strategy allocates the shard to
 * the shard region whose address is that node.
 *
 * <p>Why a custom strategy and not {@code ExternalShardAllocation}: the location is a pure function
 * of the shard id, known before any node starts, so there is nothing to store in Distributed Data;
 * and {@code ExternalShardAllocationStrategy} falls back to the requesting region when the desired
 * node is absent, which would start a GPU entity on a node without the device.
 *
 * <p>When the device's node is not (or no longer) a member, allocation fails; the coordinator logs
 * it and the region retries later, so messages for that GPU wait in the region's buffer until the
 * node (re)joins. Shards are never rebalanced: a device cannot move.
 *
 * <p>Threading: called by the shard coordinator actor on the oldest node; stateless apart from the
 * self address.
 */
public final class NodeBoundAllocationStrategy extends ShardCoordinator.AbstractShardAllocationStrategy {
  private final Cluster cluster;

  /** @param system the actor system of the node that runs the coordinator (any node, the oldest wins) */
  public NodeBoundAllocationStrategy(org.apache.pekko.actor.typed.ActorSystem<?> system) {
    this.cluster = Cluster.get(org.apache.pekko.actor.typed.javadsl.Adapter.toClassic(system));
  }

  @Override
  public Future<ActorRef> allocateShard(ActorRef requester, String shardId, Map<ActorRef, IndexedSeq<String>> currentShardAllocations) {
    GpuId gpu;
    try {
      gpu = GpuId.parse(shardId);
    } catch (IllegalArgumentException e) {
      return Futures.failed(e);
    }
    for (ActorRef region : currentShardAllocations.keySet()) {
      if (gpu.isOn(addressOf(region))) return Futures.successful(region);
    }
    return Futures.failed(new IllegalStateException("GPU " + shardId + ": no shard region on node " + gpu.host() + ":" + gpu.port()
        + " (node not up yet or gone); allocation is retried"));
  }

  @Override
  public Future<Set<String>> rebalance(Map<ActorRef, IndexedSeq<String>> currentShardAllocations, Set<String> rebalanceInProgress) {
    return Futures.successful(Set.of());
  }

  private Address addressOf(ActorRef region) {
    Address a = region.path().address();
    return a.hasLocalScope() ? cluster.selfAddress() : a;
  }
}
