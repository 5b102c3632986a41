package io.prism.actors.frontend;

import io.prism.actors.GpuId;
import io.prism.actors.placement.GlobalPlacementActor;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Predicate;

/**
 * A frontend's cache of where each model serves: its ready instances (one GPU each; several for a
 * model with replicas), the placement epoch of the answer and when it expires. Plain state owned
 * by the {@link Frontend}; not thread-safe.
 *
 * <p><b>Balancing</b> ({@link #choose}): join the shortest queue, with what this frontend knows. Each
 * instance starts with the load its GPU last reported to the placement (requests queued plus
 * running, carried by {@link GlobalPlacementActor.Located}) and every request this frontend sends
 * to it adds one; a request goes to the instance with the least, ties to the next one in turn
 * (round robin). The counts start again with each answer of the placement (every {@code
 * placement-cache-ttl}), so reported backlogs correct for what other frontends sent. A model with
 * one instance always goes to it.
 *
 * <p><b>Epochs.</b> A background refresh older than the cached epoch is ignored; a redirect from an
 * instance that no longer serves (a migration's source, or a removed replica) replaces that
 * instance by the one it names.
 */
final class InstanceCache {
  private static final class Slot {
    final GpuId gpu;
    final int reported;
    int sent;

    Slot(GpuId gpu, int reported) {
      this.gpu = gpu;
      this.reported = reported;
    }
  }

  private static final class Entry {
    final List<Slot> slots = new ArrayList<>();
    final long epoch;
    final long expiresNanos;
    long lastUsedNanos = System.nanoTime();
    int next;

    Entry(long epoch, long expiresNanos) {
      this.epoch = epoch;
      this.expiresNanos = expiresNanos;
    }
  }

  private final Map<String, Entry> entries = new HashMap<>();

  /** Whether {@code modelId} has a cached instance. */
  boolean has(String modelId) {
    return entries.containsKey(modelId);
  }

  /** Whether the cached answer for {@code modelId} expired at {@code nowNanos} (false if none). */
  boolean expired(String modelId, long nowNanos) {
    Entry e = entries.get(modelId);
    return e != null && nowNanos - e.expiresNanos >= 0;
  }

  /**
   * Caches the placement's answer: {@code instances} (without those {@code skip} rejects) as of
   * {@code epoch}, unless ({@code keepNewer}) a newer epoch is cached. (A lookup's answer replaces
   * whatever is cached: a new placement singleton counts epochs from 0 again.)
   *
   * @return whether the answer was taken and names an instance
   */
  boolean put(String modelId, List<GlobalPlacementActor.Instance> instances, long epoch, long expiresNanos, Predicate<GpuId> skip,
      boolean keepNewer) {
    Entry old = entries.get(modelId);
    if (keepNewer && old != null && old.epoch > epoch) return false;
    Entry e = new Entry(epoch, expiresNanos);
    for (GlobalPlacementActor.Instance i : instances) {
      if (i.gpu() != null && !skip.test(i.gpu())) e.slots.add(new Slot(i.gpu(), i.queued() + i.running()));
    }
    if (e.slots.isEmpty()) {
      entries.remove(modelId);
      return false;
    }
    entries.put(modelId, e);
    return true;
  }

  /** The instance for the next request of {@code modelId} (counted as sent there), or null if none is cached. */
  GpuId choose(String modelId) {
    Entry e = entries.get(modelId);
    if (e == null) return null;
    int n = e.slots.size();
    Slot best = null;
    int bestAt = 0;
    for (int k = 0; k < n; k++) {
      int at = (e.next + k) % n;
      Slot s = e.slots.get(at);
      if (best == null || s.reported + s.sent < best.reported + best.sent) {
        best = s;
        bestAt = at;
      }
    }
    best.sent++;
    e.lastUsedNanos = System.nanoTime();
    e.next = (bestAt + 1) % n;
    return best.gpu;
  }

  /** {@code gpu} does not serve {@code modelId} (any more): it is dropped from the cache. */
  void forget(String modelId, GpuId gpu) {
    Entry e = entries.get(modelId);
    if (e == null) return;
    e.slots.removeIf(s -> s.gpu.equals(gpu));
    if (e.slots.isEmpty()) entries.remove(modelId);
    else e.next %= e.slots.size();
  }

  /**
   * {@code from} handed {@code modelId} off to {@code to} as of {@code epoch}: {@code from} is
   * replaced by {@code to} (kept once); the cached epoch becomes the newer of the two.
   */
  void redirect(String modelId, GpuId from, GpuId to, long epoch, long expiresNanos) {
    Entry old = entries.get(modelId);
    Entry e = new Entry(old == null ? epoch : Math.max(old.epoch, epoch), old == null ? expiresNanos : old.expiresNanos);
    if (old != null) for (Slot s : old.slots) if (!s.gpu.equals(from) && !s.gpu.equals(to)) e.slots.add(s);
    e.slots.add(new Slot(to, 0));
    entries.put(modelId, e);
  }

  /** Drops every instance on a GPU {@code lost} names (e.g. of an unreachable node). */
  void forgetWhere(Predicate<GpuId> lost) {
    entries.values().forEach(e -> e.slots.removeIf(s -> lost.test(s.gpu)));
    entries.values().removeIf(e -> e.slots.isEmpty());
    entries.values().forEach(e -> e.next %= e.slots.size());
  }

  /** Whether {@code modelId} is cached but was not chosen for at least {@code idleNanos} before {@code nowNanos}. */
  boolean idle(String modelId, long idleNanos, long nowNanos) {
    Entry e = entries.get(modelId);
    return e != null && nowNanos - e.lastUsedNanos >= idleNanos;
  }

  /** Forgets {@code modelId}. */
  void remove(String modelId) {
    entries.remove(modelId);
  }

  /** The cached epoch of {@code modelId}, or -1. */
  long epoch(String modelId) {
    Entry e = entries.get(modelId);
    return e == null ? -1 : e.epoch;
  }
}
