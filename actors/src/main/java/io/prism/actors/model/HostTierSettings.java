package io.prism.actors.model;

import com.typesafe.config.Config;
import io.prism.runtime.memory.HostTier;
import java.time.Duration;

/**
 * The bound of a node's {@link HostTier}: {@code prism.node.host-tier-bytes}, explicit bytes
 * ({@code 64GiB}; {@code 0}: no host tier, every eviction goes to the disk tier) or {@code auto}:
 * {@code prism.node.host-tier-fraction} (default 0.5) of the memory the host copies live in: the
 * machine's physical memory on {@code cuda} (pinned copies), the JVM's maximum heap on {@code host}
 * (the copies are Java arrays).
 */
public final class HostTierSettings {
  private HostTierSettings() {}

  /**
   * The tier's limit in bytes from the root config.
   *
   * @throws IllegalArgumentException naming the key if the fraction is not in (0, 1] or the bytes are negative
   * @throws com.typesafe.config.ConfigException if a key is missing or malformed
   */
  public static long limitBytes(Config root) {
    Config n = root.getConfig("prism.node");
    String raw = n.getString("host-tier-bytes").trim();
    if (!raw.equalsIgnoreCase("auto")) {
      long bytes = n.getBytes("host-tier-bytes");
      if (bytes < 0) throw new IllegalArgumentException("prism.node.host-tier-bytes must be >= 0 or auto, got " + raw);
      return bytes;
    }
    double fraction = n.getDouble("host-tier-fraction");
    if (!(fraction > 0 && fraction <= 1)) {
      throw new IllegalArgumentException("prism.node.host-tier-fraction must be in (0, 1], got " + fraction);
    }
    long memory = n.getString("backend").equals("cuda") ? physicalMemoryBytes() : Runtime.getRuntime().maxMemory();
    return (long) (memory * fraction);
  }

  /**
   * The pinned host pool of a {@code cuda} node ({@code io.prism.cuda.PinnedHostPool}): page-locked
   * host memory pinned ahead, in chunks, by background threads from the devices' start, that the
   * host tier's copies are made in, so an eviction copies at PCIe speed instead of pinning first.
   * Unused on the {@code host} backend.
   *
   * @param bytes {@code prism.node.host-pool-bytes}: {@code tier} (the host tier's bound, {@link
   *     #limitBytes}), 0 (nothing ahead: each eviction pins its own chunks) or bytes
   * @param chunkBytes {@code prism.node.host-pool-chunk}: one {@code cuMemHostAlloc}
   * @param maxWait {@code prism.node.host-pool-wait}: how long an eviction that finds too few free
   *     chunks waits for the background pinning before pinning the shortfall itself
   */
  public record PinnedPool(long bytes, long chunkBytes, Duration maxWait) {}

  /**
   * The pinned pool's settings from the root config.
   *
   * @throws IllegalArgumentException naming the key if a value is out of range
   * @throws com.typesafe.config.ConfigException if a key is missing or malformed
   */
  public static PinnedPool pinnedPool(Config root) {
    Config n = root.getConfig("prism.node");
    String raw = n.getString("host-pool-bytes").trim();
    long bytes = raw.equalsIgnoreCase("tier") ? limitBytes(root) : n.getBytes("host-pool-bytes");
    if (bytes < 0) throw new IllegalArgumentException("prism.node.host-pool-bytes must be >= 0 or tier, got " + raw);
    long chunk = n.getBytes("host-pool-chunk");
    if (chunk <= 0) throw new IllegalArgumentException("prism.node.host-pool-chunk must be > 0, got " + n.getString("host-pool-chunk"));
    Duration wait = n.getDuration("host-pool-wait");
    if (wait.isNegative()) throw new IllegalArgumentException("prism.node.host-pool-wait must be >= 0, got " + wait);
    return new PinnedPool(bytes, chunk, wait);
  }

  /** The tier of the root config. */
  public static HostTier from(Config root) {
    return new HostTier(limitBytes(root));
  }

  /** The machine's memory (module jdk.management; a runtime without it falls back to the JVM's heap bound). */
  private static long physicalMemoryBytes() {
    try {
      java.lang.management.OperatingSystemMXBean os = java.lang.management.ManagementFactory.getOperatingSystemMXBean();
      if (os instanceof com.sun.management.OperatingSystemMXBean sun) return sun.getTotalMemorySize();
    } catch (LinkageError e) {
      // a jlink runtime without jdk.management
    }
    return Runtime.getRuntime().maxMemory();
  }
}
