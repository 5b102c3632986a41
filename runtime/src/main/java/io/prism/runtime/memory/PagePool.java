package io.prism.runtime.memory;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * The physical pages of one GPU, shared elastically by the model instances on it (DESIGN.md section
 * 3; kvcached's page allocator, Prism paper section 4). One byte budget covers the weights of every
 * owner and every physical page created, whether held or in the reserve:
 *
 * <pre>
 *   budgetBytes
 *   |-- weights (reserveWeights) --|-- created pages ------------------------|-- not created --|
 *                                  |-- held by owners --|-- reserve ---------|
 *                                                        (created, unmapped,  \
 *                                                         up to reserveTarget) freePages() = reserve + not created
 * </pre>
 *
 * <p>A small reserve of pre-created pages ({@code cuMemCreate}d, unmapped) keeps the driver's create
 * call off the decode critical path: {@link #acquire} takes reserve pages first and creates only the
 * rest (counted as {@link PagePoolStats#criticalPathCreates()}); {@link #release} puts pages back into the
 * reserve up to {@code reserveTarget} and releases the surplus to the driver; {@link
 * #refillReserve()} tops the reserve up and is meant to be called off the critical path (between
 * steps). The kvcached paper keeps 5-10 such pages.
 *
 * <p>Per-owner limits ({@link #setLimits}): {@code maxPages} caps what an owner may hold (lowering
 * it takes effect lazily: nothing is taken back, further acquires fail until the owner is below
 * it); {@code minPages} is a guarantee: other owners cannot acquire pages that would leave fewer free
 * pages than the sum of the unmet minimums of the rest.
 *
 * <p>Sizing the reserve: a model maps a KV page id as {@code 2 * layers} physical pages at once
 * ({@link KvCache#physicalPagesPerPageId()}), so a reserve smaller than that never covers a whole
 * page id and every first block of a page id still creates pages on the critical path.
 *
 * <p>One pool per {@link DeviceMemory}: {@link #checkInvariants()} compares the pool's count with
 * {@link DeviceMemory#livePages()}. Threading: not thread-safe; confined to the GPU's engine thread,
 * like the driver context.
 */
public final class PagePool {
  /** Default number of pre-created pages kept in the reserve. */
  public static final int DEFAULT_RESERVE_TARGET = 8;

  private static final class Owner {
    final Map<Long, PhysicalPage> pages = new LinkedHashMap<>();
    long weightBytes;
    boolean hasWeights;
    int minPages;
    int maxPages = Integer.MAX_VALUE;

    boolean isEmpty() {
      return pages.isEmpty() && !hasWeights && minPages == 0 && maxPages == Integer.MAX_VALUE;
    }
  }

  private final DeviceMemory memory;
  private final long budgetBytes;
  private final long pageBytes;
  private final int reserveTarget;
  private final ArrayDeque<PhysicalPage> reserve = new ArrayDeque<>();
  private final Map<String, Owner> owners = new TreeMap<>();
  private final Map<Long, String> holderOf = new HashMap<>(); // physical page id -> owner
  private long weightBytes;
  private int createdPages;
  private long acquireCalls, exhaustedCalls, grantedPages, releasedPages;
  private long criticalPathCreates, refillCreates, driverReleases;

  /**
   * Creates an empty pool; does no driver work (call {@link #refillReserve()} to pre-create pages).
   *
   * @param memory the GPU's memory; this pool must be the only creator of pages on it
   * @param budgetBytes bytes for weights plus physical pages, {@code >= 0}
   * @param reserveTarget pages to keep pre-created, {@code >= 0} ({@link #DEFAULT_RESERVE_TARGET})
   * @throws IllegalArgumentException if a size is negative
   */
  public PagePool(DeviceMemory memory, long budgetBytes, int reserveTarget) {
    if (memory == null) throw new IllegalArgumentException("memory must not be null");
    if (budgetBytes < 0) throw new IllegalArgumentException("budgetBytes must be >= 0, got " + budgetBytes);
    if (reserveTarget < 0) throw new IllegalArgumentException("reserveTarget must be >= 0, got " + reserveTarget);
    this.memory = memory;
    this.budgetBytes = budgetBytes;
    this.pageBytes = memory.granularity();
    this.reserveTarget = reserveTarget;
  }

  /** Bytes of one physical page (the device granularity). */
  public long pageBytes() {
    return pageBytes;
  }

  /** The budget for weights plus pages, in bytes. */
  public long budgetBytes() {
    return budgetBytes;
  }

  /** Target size of the reserve, in pages. */
  public int reserveTarget() {
    return reserveTarget;
  }

  /** Bytes of weights reserved by all owners. */
  public long weightBytes() {
    return weightBytes;
  }

  /** Bytes of weights reserved by {@code owner} (0 if none). */
  public long weightBytesOf(String owner) {
    Owner o = owners.get(owner);
    return o == null ? 0 : o.weightBytes;
  }

  /**
   * Accounts {@code bytes} of weights to {@code owner} (added to what it already has). Reserve pages
   * are released to the driver if that makes the weights fit; held pages are never touched.
   *
   * @return false, changing nothing, if the weights do not fit beside the held pages
   * @throws IllegalArgumentException if {@code bytes < 0} or the owner is empty
   */
  public boolean reserveWeights(String owner, long bytes) {
    checkOwner(owner);
    if (bytes < 0) throw new IllegalArgumentException("weight bytes must be >= 0, got " + bytes);
    long over = weightBytes + bytes + (long) createdPages * pageBytes - budgetBytes;
    if (over > 0) {
      long pagesToDrop = (over + pageBytes - 1) / pageBytes;
      if (pagesToDrop > reserve.size()) return false;
      for (long i = 0; i < pagesToDrop; i++) releaseToDriver(reserve.pollLast());
    }
    Owner o = owners.computeIfAbsent(owner, k -> new Owner());
    o.weightBytes += bytes;
    o.hasWeights = true;
    weightBytes += bytes;
    return true;
  }

  /**
   * Releases all weight bytes of {@code owner}.
   *
   * @throws IllegalStateException if the owner has no weights reserved (double release)
   */
  public void releaseWeights(String owner) {
    Owner o = owners.get(owner);
    if (o == null || !o.hasWeights) throw new IllegalStateException("owner " + owner + " has no weights reserved");
    weightBytes -= o.weightBytes;
    o.weightBytes = 0;
    o.hasWeights = false;
    forgetIfEmpty(owner, o);
  }

  /**
   * Sets {@code owner}'s limits. A lowered maximum takes effect lazily: held pages stay, acquires
   * beyond it are {@link PageAllocation.Exhausted}.
   *
   * @param minPages pages guaranteed to this owner, {@code >= 0}
   * @param maxPages most pages it may hold, {@code >= minPages}; {@link Integer#MAX_VALUE} for none
   * @throws IllegalArgumentException if {@code minPages < 0} or {@code maxPages < minPages}
   */
  public void setLimits(String owner, int minPages, int maxPages) {
    checkOwner(owner);
    if (minPages < 0) throw new IllegalArgumentException("minPages must be >= 0, got " + minPages);
    if (maxPages < minPages) throw new IllegalArgumentException("maxPages " + maxPages + " is below minPages " + minPages);
    Owner o = owners.computeIfAbsent(owner, k -> new Owner());
    o.minPages = minPages;
    o.maxPages = maxPages;
    forgetIfEmpty(owner, o);
  }

  /**
   * Hands {@code n} pages to {@code owner}, all or nothing: reserve pages first, then newly created
   * ones. The pages are unmapped; the owner maps them and gives them back through {@link #release}.
   *
   * @return {@link PageAllocation.Granted} with exactly {@code n} pages, or {@link
   *     PageAllocation.Exhausted} with {@link #availableTo(String)} when that is less than {@code n}
   * @throws IllegalArgumentException if {@code n < 0} or the owner is empty
   * @throws DeviceException if creating a page fails (pages created before it go to the reserve)
   */
  public PageAllocation acquire(String owner, int n) {
    checkOwner(owner);
    if (n < 0) throw new IllegalArgumentException("page count must be >= 0, got " + n);
    if (n == 0) return new PageAllocation.Granted(List.of());
    acquireCalls++;
    int available = availableTo(owner);
    if (n > available) {
      exhaustedCalls++;
      return new PageAllocation.Exhausted(available);
    }
    List<PhysicalPage> out = new ArrayList<>(n);
    while (out.size() < n && !reserve.isEmpty()) out.add(reserve.pollFirst());
    try {
      while (out.size() < n) {
        out.add(createPage());
        criticalPathCreates++;
      }
    } catch (RuntimeException e) {
      for (PhysicalPage p : out) reserve.addFirst(p);
      throw e;
    }
    Owner o = owners.computeIfAbsent(owner, k -> new Owner());
    for (PhysicalPage p : out) {
      o.pages.put(p.id(), p);
      holderOf.put(p.id(), owner);
    }
    grantedPages += n;
    return new PageAllocation.Granted(out);
  }

  /**
   * Takes {@code pages} back from {@code owner} (they must be unmapped): into the reserve up to its
   * target, the surplus released to the driver. All or nothing: the list is checked first.
   *
   * @throws IllegalStateException if a page is not held by {@code owner} or appears twice (double
   *     release)
   */
  public void release(String owner, List<PhysicalPage> pages) {
    Owner o = owners.get(owner);
    Set<Long> seen = new HashSet<>();
    for (PhysicalPage p : pages) {
      if (o == null || !o.pages.containsKey(p.id()) || !seen.add(p.id())) {
        throw new IllegalStateException("page " + p.id() + " is not held by owner " + owner
            + " (held by " + holderOf.get(p.id()) + "); double release?");
      }
    }
    for (PhysicalPage p : pages) {
      o.pages.remove(p.id());
      holderOf.remove(p.id());
      if (reserve.size() < reserveTarget) {
        reserve.addLast(p);
      } else {
        releaseToDriver(p);
      }
    }
    releasedPages += pages.size();
    if (o != null) forgetIfEmpty(owner, o);
  }

  /**
   * Creates pages until the reserve reaches its target or the budget is used up. Call it off the
   * critical path (between steps, when idle).
   *
   * @return pages created
   * @throws DeviceException if the driver fails (pages created before stay in the reserve)
   */
  public int refillReserve() {
    int made = 0;
    while (reserve.size() < reserveTarget && createdPages < capacityPages()) {
      reserve.addLast(createPage());
      refillCreates++;
      made++;
    }
    return made;
  }

  /**
   * Releases every reserve page to the driver (shutdown, or to hand memory to something outside
   * the pool).
   *
   * @return pages released
   */
  public int drainReserve() {
    int n = reserve.size();
    while (!reserve.isEmpty()) releaseToDriver(reserve.pollLast());
    return n;
  }

  /** Pages held by {@code owner} (0 for an unknown owner). */
  public int pagesHeldBy(String owner) {
    Owner o = owners.get(owner);
    return o == null ? 0 : o.pages.size();
  }

  /** Pages held per owner, owners holding none left out; a sorted snapshot. */
  public Map<String, Integer> holdings() {
    Map<String, Integer> m = new TreeMap<>();
    owners.forEach((k, o) -> {
      if (!o.pages.isEmpty()) m.put(k, o.pages.size());
    });
    return Collections.unmodifiableMap(m);
  }

  /** Pages held by all owners together. */
  public int heldPages() {
    return holderOf.size();
  }

  /** Pages that can still be handed out: the reserve plus what the budget allows creating. */
  public int freePages() {
    return reserve.size() + Math.max(0, capacityPages() - createdPages);
  }

  /**
   * Pages {@code owner} could be granted now: {@link #freePages()} less the unmet minimums of the
   * other owners, capped by its own maximum.
   */
  public int availableTo(String owner) {
    long othersUnmet = 0;
    int held = 0;
    int max = Integer.MAX_VALUE;
    for (Map.Entry<String, Owner> e : owners.entrySet()) {
      Owner o = e.getValue();
      if (e.getKey().equals(owner)) {
        held = o.pages.size();
        max = o.maxPages;
      } else {
        othersUnmet += Math.max(0, o.minPages - o.pages.size());
      }
    }
    long free = Math.max(0, freePages() - othersUnmet);
    long room = Math.max(0L, (long) max - held);
    return (int) Math.min(free, room);
  }

  /** Pre-created unmapped pages in the reserve. */
  public int reservePages() {
    return reserve.size();
  }

  /** Pages created and not yet released to the driver (held plus reserve). */
  public int createdPages() {
    return createdPages;
  }

  /** Most pages that can exist at once beside the current weights: {@code (budget - weights) / pageBytes}. */
  public int capacityPages() {
    return (int) Math.min(Integer.MAX_VALUE, Math.max(0, budgetBytes - weightBytes) / pageBytes);
  }

  /** Counters since construction. */
  public PagePoolStats stats() {
    return new PagePoolStats(acquireCalls, exhaustedCalls, grantedPages, releasedPages,
        criticalPathCreates + refillCreates, criticalPathCreates, refillCreates, driverReleases);
  }

  /**
   * Checks the pool's accounting (DESIGN.md section 3): pages alive on the device equal pages held
   * plus reserve; weights plus created pages fit the budget; no page is held twice or both held and
   * in the reserve.
   *
   * @throws IllegalStateException naming the first violation
   */
  public void checkInvariants() {
    long live = memory.livePages();
    if (live != createdPages) {
      throw new IllegalStateException("device has " + live + " live pages but the pool created " + createdPages);
    }
    int held = 0;
    long weights = 0;
    Set<Long> ids = new HashSet<>();
    for (Map.Entry<String, Owner> e : owners.entrySet()) {
      Owner o = e.getValue();
      weights += o.weightBytes;
      for (PhysicalPage p : o.pages.values()) {
        held++;
        if (!ids.add(p.id())) throw new IllegalStateException("page " + p.id() + " is held twice");
        if (!e.getKey().equals(holderOf.get(p.id()))) {
          throw new IllegalStateException("page " + p.id() + " held by " + e.getKey() + " but indexed under " + holderOf.get(p.id()));
        }
      }
    }
    if (held != holderOf.size()) throw new IllegalStateException("page index has " + holderOf.size() + " entries for " + held + " held pages");
    for (PhysicalPage p : reserve) {
      if (!ids.add(p.id())) throw new IllegalStateException("reserve page " + p.id() + " is also held or in the reserve twice");
    }
    if (createdPages != held + reserve.size()) {
      throw new IllegalStateException("created pages " + createdPages + " != held " + held + " + reserve " + reserve.size());
    }
    if (weights != weightBytes) throw new IllegalStateException("owner weights sum to " + weights + " but total is " + weightBytes);
    if (weightBytes + (long) createdPages * pageBytes > budgetBytes) {
      throw new IllegalStateException("weights " + weightBytes + " B + " + createdPages + " pages x " + pageBytes
          + " B exceed the budget of " + budgetBytes + " B");
    }
  }

  @Override
  public String toString() {
    return "PagePool[budget=" + budgetBytes + " B, weights=" + weightBytes + " B, created=" + createdPages
        + ", reserve=" + reserve.size() + ", held=" + holdings() + "]";
  }

  private PhysicalPage createPage() {
    PhysicalPage p = memory.create();
    createdPages++;
    return p;
  }

  private void releaseToDriver(PhysicalPage p) {
    memory.release(p);
    createdPages--;
    driverReleases++;
  }

  private void forgetIfEmpty(String name, Owner o) {
    if (o.isEmpty()) owners.remove(name);
  }

  private static void checkOwner(String owner) {
    if (owner == null || owner.isEmpty()) throw new IllegalArgumentException("owner must not be empty");
  }
}
