package io.prism.actors.sharding;

import io.prism.actors.gpu.GpuActor;

import io.prism.actors.GpuId;
import java.util.Map;
import java.util.Set;
import org.apache.pekko.actor.ActorRef;
import org.apache.pekko.actor.Address;
import org.apache.pekko.cluster.Cluster;
import org.apache.pekko.cluster.Member;
import org.apache.pekko.cluster.MemberStatus;
import org.slf4j.LoggerFactory;
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
 * <p><b>Absent nodes.</b> While the device's node is a member that has no region yet (it is
 * joining), allocation fails quietly (a one-line exception without a stack trace) and the region
 * retries. When the node is gone (not a member, or down, leaving or exiting), the shard goes to the
 * requesting region, where the entity factory starts a {@link io.prism.actors.gpu.LostGpuActor} that
 * refuses requests at once instead of letting Cluster Sharding buffer them (and log a failed
 * allocation every second); one warning per GPU says so. When the node is back, {@link #rebalance}
 * returns such shards so they move to their node.
 *
 * <p>Threading: called by the shard coordinator actor on the oldest node; its one map is that
 * actor's.
 */
public final class NodeBoundAllocationStrategy extends ShardCoordinator.AbstractShardAllocationStrategy {
  private final Cluster cluster;
  private final java.util.Set<String> warned = new java.util.HashSet<>();

  /** @param system the actor system of the node that runs the coordinator (any node, the oldest wins) */
  public NodeBoundAllocationStrategy(org.apache.pekko.actor.typed.ActorSystem<?> system) {
    this.cluster = Cluster.get(org.apache.pekko.actor.typed.javadsl.Adapter.toClassic(system));
  }

  /** A failure that is not a bug: no stack trace in the coordinator's log line. */
  private static final class NotYetAllocatable extends IllegalStateException {
    NotYetAllocatable(String message) {
      super(message);
    }

    @Override
    public synchronized Throwable fillInStackTrace() {
      return this;
    }
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
      if (gpu.isOn(addressOf(region))) {
        warned.remove(shardId);
        return Futures.successful(region);
      }
    }
    if (nodeGone(gpu)) {
      if (warned.add(shardId)) {
        LoggerFactory.getLogger(NodeBoundAllocationStrategy.class).warn(
            "GPU {}: its node is not in the cluster; requests for it are refused until the node is back", shardId);
      }
      return Futures.successful(requester);
    }
    return Futures.failed(new NotYetAllocatable("GPU " + shardId + ": node " + gpu.host() + ":" + gpu.port()
        + " has no shard region yet (joining); allocation is retried"));
  }

  @Override
  public Future<Set<String>> rebalance(Map<ActorRef, IndexedSeq<String>> currentShardAllocations, Set<String> rebalanceInProgress) {
    Set<String> misplaced = new java.util.HashSet<>();
    for (Map.Entry<ActorRef, IndexedSeq<String>> e : currentShardAllocations.entrySet()) {
      Address at = addressOf(e.getKey());
      scala.collection.Iterator<String> it = e.getValue().iterator();
      while (it.hasNext()) {
        String shard = it.next();
        if (rebalanceInProgress.contains(shard)) continue;
        GpuId gpu;
        try {
          gpu = GpuId.parse(shard);
        } catch (IllegalArgumentException ex) {
          continue;
        }
        if (gpu.isOn(at)) continue;
        for (ActorRef region : currentShardAllocations.keySet()) {
          if (gpu.isOn(addressOf(region))) misplaced.add(shard); // its node is back: move it home
        }
      }
    }
    return Futures.successful(misplaced);
  }

  /** Whether the GPU's node is not a member, or one on its way out. */
  private boolean nodeGone(GpuId gpu) {
    scala.collection.Iterator<Member> it = cluster.state().members().iterator();
    while (it.hasNext()) {
      Member m = it.next();
      if (!gpu.isOn(m.address())) continue;
      MemberStatus s = m.status();
      return s == MemberStatus.down() || s == MemberStatus.leaving() || s == MemberStatus.exiting() || s == MemberStatus.removed();
    }
    return true;
  }

  private Address addressOf(ActorRef region) {
    Address a = region.path().address();
    return a.hasLocalScope() ? cluster.selfAddress() : a;
  }
}
