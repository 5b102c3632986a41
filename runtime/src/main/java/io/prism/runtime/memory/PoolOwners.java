package io.prism.runtime.memory;

import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * The per-owner ledger of a {@link PagePool}: which physical pages each owner holds, its weight
 * bytes, its limits and its reserve wish, with running totals. Holds no driver state (the pool
 * creates and releases pages); an owner with nothing recorded is forgotten.
 *
 * <p>Threading: confined to the pool's thread.
 */
final class PoolOwners {
  /** One owner's record. */
  static final class Owner {
    final Map<Long, PhysicalPage> pages = new LinkedHashMap<>();
    long weightBytes;
    boolean hasWeights;
    int minPages;
    int maxPages = Integer.MAX_VALUE;
    int reserveWanted;

    boolean isEmpty() {
      return pages.isEmpty() && !hasWeights && minPages == 0 && maxPages == Integer.MAX_VALUE && reserveWanted == 0;
    }
  }

  private final Map<String, Owner> owners = new TreeMap<>();
  private final Map<Long, String> holderOf = new HashMap<>(); // physical page id -> owner
  private long weightBytes;
  private long reserveWanted;

  /** The record of {@code name}, or null. */
  Owner get(String name) {
    return owners.get(name);
  }

  /** The record of {@code name}, created if absent; call {@link #forgetIfEmpty} after changing it. */
  Owner open(String name) {
    return owners.computeIfAbsent(name, k -> new Owner());
  }

  void forgetIfEmpty(String name) {
    Owner o = owners.get(name);
    if (o != null && o.isEmpty()) owners.remove(name);
  }

  long weightBytes() {
    return weightBytes;
  }

  /** Owners with weights reserved, in name order. */
  java.util.List<String> resident() {
    java.util.List<String> out = new java.util.ArrayList<>();
    owners.forEach((name, o) -> {
      if (o.hasWeights) out.add(name);
    });
    return out;
  }

  long reserveWanted() {
    return reserveWanted;
  }

  void addWeights(String name, long bytes) {
    Owner o = open(name);
    o.weightBytes += bytes;
    o.hasWeights = true;
    weightBytes += bytes;
  }

  void releaseWeights(String name) {
    Owner o = owners.get(name);
    if (o == null || !o.hasWeights) throw new IllegalStateException("owner " + name + " has no weights reserved");
    weightBytes -= o.weightBytes;
    o.weightBytes = 0;
    o.hasWeights = false;
    forgetIfEmpty(name);
  }

  void setReserveWanted(String name, int pages) {
    Owner o = open(name);
    reserveWanted += pages - o.reserveWanted;
    o.reserveWanted = pages;
    forgetIfEmpty(name);
  }

  void give(String name, List<PhysicalPage> pages) {
    Owner o = open(name);
    for (PhysicalPage p : pages) {
      o.pages.put(p.id(), p);
      holderOf.put(p.id(), name);
    }
  }

  /**
   * Takes {@code pages} from {@code name}, all or nothing.
   *
   * @throws IllegalStateException if a page is not held by {@code name} or appears twice
   */
  void take(String name, List<PhysicalPage> pages) {
    Owner o = owners.get(name);
    Set<Long> seen = new HashSet<>();
    for (PhysicalPage p : pages) {
      if (o == null || !o.pages.containsKey(p.id()) || !seen.add(p.id())) {
        throw new IllegalStateException("page " + p.id() + " is not held by owner " + name
            + " (held by " + holderOf.get(p.id()) + "); double release?");
      }
    }
    for (PhysicalPage p : pages) {
      o.pages.remove(p.id());
      holderOf.remove(p.id());
    }
    forgetIfEmpty(name);
  }

  int held(String name) {
    Owner o = owners.get(name);
    return o == null ? 0 : o.pages.size();
  }

  int heldByAll() {
    return holderOf.size();
  }

  /** Pages held per owner, owners holding none left out; a sorted snapshot. */
  Map<String, Integer> holdings() {
    Map<String, Integer> m = new TreeMap<>();
    owners.forEach((k, o) -> {
      if (!o.pages.isEmpty()) m.put(k, o.pages.size());
    });
    return Collections.unmodifiableMap(m);
  }

  /** {@code freePages} less the other owners' unmet minimums, capped by {@code name}'s maximum. */
  int availableTo(String name, int freePages) {
    long othersUnmet = 0;
    int held = 0;
    int max = Integer.MAX_VALUE;
    for (Map.Entry<String, Owner> e : owners.entrySet()) {
      Owner o = e.getValue();
      if (e.getKey().equals(name)) {
        held = o.pages.size();
        max = o.maxPages;
      } else {
        othersUnmet += Math.max(0, o.minPages - o.pages.size());
      }
    }
    long free = Math.max(0, freePages - othersUnmet);
    long room = Math.max(0L, (long) max - held);
    return (int) Math.min(free, room);
  }

  /**
   * Checks the ledger; adds every held page id to {@code ids}.
   *
   * @return pages held
   * @throws IllegalStateException naming the first violation
   */
  int check(Set<Long> ids) {
    int held = 0;
    long weights = 0;
    long wanted = 0;
    for (Map.Entry<String, Owner> e : owners.entrySet()) {
      Owner o = e.getValue();
      weights += o.weightBytes;
      wanted += o.reserveWanted;
      for (PhysicalPage p : o.pages.values()) {
        held++;
        if (!ids.add(p.id())) throw new IllegalStateException("page " + p.id() + " is held twice");
        if (!e.getKey().equals(holderOf.get(p.id()))) {
          throw new IllegalStateException("page " + p.id() + " held by " + e.getKey() + " but indexed under " + holderOf.get(p.id()));
        }
      }
    }
    if (held != holderOf.size()) throw new IllegalStateException("page index has " + holderOf.size() + " entries for " + held + " held pages");
    if (weights != weightBytes) throw new IllegalStateException("owner weights sum to " + weights + " but total is " + weightBytes);
    if (wanted != reserveWanted) throw new IllegalStateException("owners want " + wanted + " reserve pages but the total is " + reserveWanted);
    return held;
  }
}
