package io.prism.actors;

import io.prism.actors.gpu.GpuActor;

import org.apache.pekko.actor.Address;

/**
 * Names one device in the cluster: the node (canonical Artery host and port) and the device index
 * on that node. Its {@link #entityId()} is the Cluster Sharding entity id (and shard id) of the
 * device's {@link GpuActor}, e.g. {@code gpu-1@10.0.0.7:25520}, so the id alone says where the
 * entity must live (see {@link io.prism.actors.sharding.NodeBoundAllocationStrategy}).
 *
 * @param host canonical host of the node that has the device
 * @param port canonical Artery port of that node
 * @param index device index on the node, 0-based
 */
public record GpuId(String host, int port, int index) implements PrismMessage, Comparable<GpuId> {
  public GpuId {
    if (host == null || host.isEmpty() || host.contains("@")) throw new IllegalArgumentException("host must be a plain host name, got " + host);
    if (port <= 0 || port > 65535) throw new IllegalArgumentException("port must be in [1, 65535], got " + port);
    if (index < 0) throw new IllegalArgumentException("device index must be >= 0, got " + index);
  }

  /** The device {@code index} of the node at {@code nodeAddress} (a cluster member's address). */
  public static GpuId of(Address nodeAddress, int index) {
    if (nodeAddress.host().isEmpty() || nodeAddress.port().isEmpty()) {
      throw new IllegalArgumentException("address " + nodeAddress + " has no host and port; is the actor provider 'cluster'?");
    }
    return new GpuId(nodeAddress.host().get(), (Integer) nodeAddress.port().get(), index);
  }

  /**
   * Parses an entity id written by {@link #entityId()}.
   *
   * @throws IllegalArgumentException if {@code entityId} is not of the form {@code gpu-N@host:port}
   */
  public static GpuId parse(String entityId) {
    int at = entityId.indexOf('@');
    int colon = entityId.lastIndexOf(':');
    if (!entityId.startsWith("gpu-") || at < 0 || colon < at) {
      throw new IllegalArgumentException("GPU entity id must look like gpu-0@127.0.0.1:25520, got " + entityId);
    }
    try {
      int index = Integer.parseInt(entityId.substring(4, at));
      int port = Integer.parseInt(entityId.substring(colon + 1));
      return new GpuId(entityId.substring(at + 1, colon), port, index);
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("GPU entity id must look like gpu-0@127.0.0.1:25520, got " + entityId, e);
    }
  }

  /** Sharding entity id and shard id: {@code gpu-<index>@<host>:<port>}. */
  public String entityId() {
    return "gpu-" + index + "@" + host + ":" + port;
  }

  /** Whether this device belongs to the node at {@code nodeAddress}. */
  public boolean isOn(Address nodeAddress) {
    return nodeAddress.host().isDefined() && nodeAddress.port().isDefined()
        && host.equals(nodeAddress.host().get()) && port == (Integer) nodeAddress.port().get();
  }

  @Override
  public int compareTo(GpuId o) {
    int c = host.compareTo(o.host);
    if (c != 0) return c;
    c = Integer.compare(port, o.port);
    return c != 0 ? c : Integer.compare(index, o.index);
  }

  @Override
  public String toString() {
    return entityId();
  }
}
