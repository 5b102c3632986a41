package io.prism.runtime.memory;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The host tier of one node (ServerlessLLM's GPU / host / disk hierarchy, Fu et al., OSDI 2024): a
 * ledger of the host copies that model instances keep of evicted weights (pinned memory on CUDA),
 * bounded by {@code limitBytes}. Beyond the bound, the least recently used copies are dropped and
 * their models fall to the disk tier: their next activation reads the model file again.
 *
 * <pre>
 *   limit ├──────────────────────────────────────────────┤
 *   used  ├─ copy A (held) ─┼─ copy B (dropping) ─┼─ C ─┤   free
 *                                                       └────┘ >= one copy: an eviction never waits
 * </pre>
 *
 * <p>Protocol, per copy ({@code owner}: a node-unique instance name, e.g. GPU and model id):
 * before evicting, the instance {@link #reserve}s its copy's bytes. {@link Reservation.Kept}: it
 * keeps a host copy and then {@link #settle}s the bytes it really holds; {@link
 * Reservation.Refused}: it evicts without one (disk tier). Either way the ledger may ask other
 * owners to drop their copies, least recently used first, so that room for one more copy of the
 * same size is free afterwards: their {@code onDropAsked} runs (it must only post a message to
 * their owner: it runs on the caller's thread) and their bytes stay counted until they {@link
 * #release} them, so {@link #usedBytes()} is what the host really holds and never exceeds the
 * limit. An owner that stops releases its copy; {@link #release} is idempotent, so a copy's bytes
 * leave the ledger exactly once.
 *
 * <p>Threading: thread-safe (the instances of a node's devices run on different threads).
 */
public final class HostTier {
  /** The outcome of {@link #reserve}. */
  public sealed interface Reservation {
    /** Owners asked to drop their copies (their {@code onDropAsked} already ran). */
    List<String> dropsAsked();

    /** Keep the host copy; the bytes are reserved. */
    record Kept(List<String> dropsAsked) implements Reservation {}

    /** Evict without a host copy (the copy would not fit now); {@code reason} says why. */
    record Refused(String reason, List<String> dropsAsked) implements Reservation {}
  }

  /** What the tier holds: the figures of {@code /admin/gpus} and {@code /metrics}. */
  public record Usage(long usedBytes, long limitBytes, int copies, int dropping, long dropsAsked, long refused) {}

  private static final class Copy {
    long bytes;
    long lastUseNanos;
    boolean dropping;
    Runnable onDropAsked;
  }

  private final long limitBytes;
  private final Map<String, Copy> copies = new LinkedHashMap<>();
  private long usedBytes;
  private long dropsAsked;
  private long refused;

  /**
   * @param limitBytes the most bytes of host copies the node holds at once (0: no host tier, every
   *     eviction goes to the disk tier)
   * @throws IllegalArgumentException if {@code limitBytes < 0}
   */
  public HostTier(long limitBytes) {
    if (limitBytes < 0) throw new IllegalArgumentException("host tier limit must be >= 0 bytes, got " + limitBytes);
    this.limitBytes = limitBytes;
  }

  /**
   * Reserves {@code bytes} for {@code owner}'s host copy (an owner that already holds at least that
   * many keeps its copy and is only marked used now). See the class comment.
   *
   * @param nowNanos the caller's clock (least recently used order)
   * @param onDropAsked posts "drop your host copy" to the owner; kept for later asks
   * @throws IllegalArgumentException if {@code bytes < 0}
   */
  public Reservation reserve(String owner, long bytes, long nowNanos, Runnable onDropAsked) {
    if (bytes < 0) throw new IllegalArgumentException("host copy bytes must be >= 0, got " + bytes);
    List<Runnable> asks = new ArrayList<>();
    List<String> names = new ArrayList<>();
    Reservation r;
    synchronized (this) {
      Copy c = copies.get(owner);
      if (c != null && !c.dropping && c.bytes >= bytes) {
        c.lastUseNanos = nowNanos;
        c.onDropAsked = onDropAsked;
        r = new Reservation.Kept(names);
      } else if (c != null && c.dropping) {
        refused++;
        r = new Reservation.Refused("its previous host copy is being dropped", names);
      } else {
        long held = c == null ? 0 : c.bytes;
        if (usedBytes - held + bytes <= limitBytes) {
          if (c == null) {
            c = new Copy();
            copies.put(owner, c);
          }
          usedBytes += bytes - held;
          c.bytes = bytes;
          c.lastUseNanos = nowNanos;
          c.onDropAsked = onDropAsked;
          r = new Reservation.Kept(names);
        } else {
          refused++;
          r = new Reservation.Refused(bytes > limitBytes ? "a copy of " + bytes + " bytes exceeds the host tier's limit of " + limitBytes
              : "the host tier holds " + usedBytes + " of " + limitBytes + " bytes", names);
        }
      }
      if (bytes <= limitBytes) askDrops(owner, bytes, asks, names);
    }
    for (Runnable a : asks) a.run();
    return r;
  }

  /** Asks the least recently used other copies to drop until a copy of {@code bytes} would fit once they have. */
  private void askDrops(String except, long bytes, List<Runnable> asks, List<String> names) {
    long droppingBytes = 0;
    for (Copy c : copies.values()) if (c.dropping) droppingBytes += c.bytes;
    if (limitBytes - usedBytes + droppingBytes >= bytes) return;
    List<Map.Entry<String, Copy>> lru = new ArrayList<>(copies.entrySet());
    lru.sort(Comparator.comparingLong(e -> e.getValue().lastUseNanos));
    for (Map.Entry<String, Copy> e : lru) {
      if (limitBytes - usedBytes + droppingBytes >= bytes) break;
      Copy c = e.getValue();
      if (c.dropping || e.getKey().equals(except)) continue;
      c.dropping = true;
      droppingBytes += c.bytes;
      dropsAsked++;
      names.add(e.getKey());
      if (c.onDropAsked != null) asks.add(c.onDropAsked);
    }
  }

  /**
   * Sets {@code owner}'s copy to the {@code bytes} it really holds after evicting (at most what it
   * reserved); 0 releases it.
   *
   * @throws IllegalStateException if {@code bytes} exceeds the reservation (the bound would not hold)
   */
  public synchronized void settle(String owner, long bytes) {
    Copy c = copies.get(owner);
    long held = c == null ? 0 : c.bytes;
    if (bytes > held) {
      throw new IllegalStateException(owner + " holds a host copy of " + bytes + " bytes but reserved " + held + " in the host tier");
    }
    if (bytes == 0) {
      release(owner);
      return;
    }
    usedBytes -= held - bytes;
    c.bytes = bytes;
  }

  /** Marks {@code owner}'s copy used now (its model was activated from it): it is dropped later. */
  public synchronized void touch(String owner, long nowNanos) {
    Copy c = copies.get(owner);
    if (c != null) c.lastUseNanos = nowNanos;
  }

  /**
   * Removes {@code owner}'s copy from the ledger (it freed it, or it stopped).
   *
   * @return the bytes released, 0 if it held none (already released)
   */
  public synchronized long release(String owner) {
    Copy c = copies.remove(owner);
    if (c == null) return 0;
    usedBytes -= c.bytes;
    return c.bytes;
  }

  /** Bytes of host copies held (dropping ones included: they are not freed yet). */
  public synchronized long usedBytes() {
    return usedBytes;
  }

  /** The bound. */
  public long limitBytes() {
    return limitBytes;
  }

  /** Bytes held by {@code owner}, 0 if none. */
  public synchronized long bytesOf(String owner) {
    Copy c = copies.get(owner);
    return c == null ? 0 : c.bytes;
  }

  /** The tier's figures now. */
  public synchronized Usage usage() {
    int dropping = 0;
    for (Copy c : copies.values()) if (c.dropping) dropping++;
    return new Usage(usedBytes, limitBytes, copies.size(), dropping, dropsAsked, refused);
  }
}
