package io.prism.actors.sharding;

import io.prism.actors.GpuId;

import org.apache.pekko.cluster.sharding.typed.ShardingEnvelope;
import org.apache.pekko.cluster.sharding.typed.ShardingMessageExtractor;

/**
 * One shard per GPU: the shard id is the entity id ({@link io.prism.actors.GpuId#entityId()}), so
 * {@link NodeBoundAllocationStrategy} can place each GPU on its own node. Messages arrive in the
 * {@link ShardingEnvelope} that {@code EntityRef} wraps them in.
 *
 * @param <M> the entity's message type
 */
public final class GpuShardExtractor<M> extends ShardingMessageExtractor<ShardingEnvelope<M>, M> {
  @Override
  public String entityId(ShardingEnvelope<M> envelope) {
    return envelope.entityId();
  }

  @Override
  public String shardId(String entityId) {
    return entityId;
  }

  @Override
  public M unwrapMessage(ShardingEnvelope<M> envelope) {
    return envelope.message();
  }
}
