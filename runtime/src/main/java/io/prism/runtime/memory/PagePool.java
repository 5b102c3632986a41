package io.prism.runtime.memory;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

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
 * ({@link KvCache#physicalPagesPerPageId()}), so a reserve in plain pages smaller than that never
 * covers a whole page id. Owners therefore state what they want kept ready ({@link
 * #setReserveWanted}; a {@link BlockManager} asks for {@code reservePageIds} of its page ids), and the
 * effective {@link #reserveTarget()} is the larger of the constructor's target and the sum of those
 * wishes: after a refill every model can map its next page id without creating a page. Reserve
 * pages are not set aside for anyone: any owner's acquire takes them first.
 *
 * <p>One pool per {@link DeviceMemory}: {@link #checkInvariants()} compares the pool's count with
 * {@link DeviceMemory#livePages()}. Threading: not thread-safe; confined to the GPU's engine thread,
 * like the driver context.
 */
public final class PagePool implements PageSource {
  /** Default number of pre-created pages kept in the reserve. */
  public static final int DEFAULT_RESERVE_TARGET = 8;

  private final DeviceMemory memory;
  private final long budgetBytes;
  private final long pageBytes;
  private final int baseReserveTarget;
  private final ArrayDeque<PhysicalPage> reserve = new ArrayDeque<>();
  private final PoolOwners owners = new PoolOwners();
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
    this.baseReserveTarget = reserveTarget;
  }

  /** Bytes of one physical page (the device granularity). */
  public long pageBytes() {
    return pageBytes;
  }

  /** The budget for weights plus pages, in bytes. */
  public long budgetBytes() {
    return budgetBytes;
  }

  /**
   * Target size of the reserve, in pages: the larger of the constructor's target and the sum of the
   * owners' {@link #setReserveWanted wishes}.
   */
  public int reserveTarget() {
    return (int) Math.min(Integer.MAX_VALUE, Math.max(baseReserveTarget, owners.reserveWanted()));
  }

  /**
   * Sets how many pre-created pages {@code owner} wants the reserve to hold for it (its next page id
   * or two); replaces its previous wish. Creates or releases nothing at once: {@link
   * #refillReserve()} and {@link #release} work towards the new {@link #reserveTarget()}.
   *
   * @param pages {@code >= 0}; 0 withdraws the wish (a closed or evicted model)
   * @throws IllegalArgumentException if {@code pages < 0} or the owner is empty
   */
  public void setReserveWanted(String owner, int pages) {
    checkOwner(owner);
    if (pages < 0) throw new IllegalArgumentException("reserve pages wanted must be >= 0, got " + pages);
    owners.setReserveWanted(owner, pages);
  }

  /** Pages of reserve {@code owner} asked for (0 if none). */
  public int reserveWantedBy(String owner) {
    PoolOwners.Owner o = owners.get(owner);
    return o == null ? 0 : o.reserveWanted;
  }

  /** {@code owner}'s guaranteed minimum in pages (0 if none set). */
  public int minPagesOf(String owner) {
    PoolOwners.Owner o = owners.get(owner);
    return o == null ? 0 : o.minPages;
  }

  /** {@code owner}'s maximum in pages ({@link Integer#MAX_VALUE} if none set). */
  public int maxPagesOf(String owner) {
    PoolOwners.Owner o = owners.get(owner);
    return o == null ? Integer.MAX_VALUE : o.maxPages;
  }

  /** Bytes of weights reserved by all owners. */
  public long weightBytes() {
    return owners.weightBytes();
  }

  /** Bytes of weights reserved by {@code owner} (0 if none). */
  public long weightBytesOf(String owner) {
    PoolOwners.Owner o = owners.get(owner);
    return o == null ? 0 : o.weightBytes;
  }

  /**
   * Limits how many owners may have weights reserved at once (one-model-per-GPU serving:
   * ServerlessLLM, QLM). Owners already resident stay; {@link #reserveWeights} refuses a new one
   * beyond the limit, and {@link #checkInvariants} checks it.
   *
   * @param maxResidentOwners {@code >= 0}; 0: no limit
   * @throws IllegalArgumentException if negative
   */
  public void setMaxResidentOwners(int maxResidentOwners) {
    if (maxResidentOwners < 0) throw new IllegalArgumentException("maxResidentOwners must be >= 0, got " + maxResidentOwners);
    this.maxResidentOwners = maxResidentOwners;
  }

  /** Owners whose weights are reserved now, in name order. */
  public List<String> residentOwners() {
    return owners.resident();
  }

  /**
   * Accounts {@code bytes} of weights to {@code owner} (added to what it already has). Reserve pages
   * are released to the driver if that makes the weights fit; held pages are never touched.
   *
   * @return false, changing nothing, if the weights do not fit beside the held pages, or if {@code
   *     owner} has none reserved and {@link #setMaxResidentOwners the residency limit} is reached
   * @throws IllegalArgumentException if {@code bytes < 0} or the owner is empty
   */
  public boolean reserveWeights(String owner, long bytes) {
    checkOwner(owner);
    if (bytes < 0) throw new IllegalArgumentException("weight bytes must be >= 0, got " + bytes);
    if (maxResidentOwners > 0) {
      PoolOwners.Owner o = owners.get(owner);
      if ((o == null || !o.hasWeights) && owners.resident().size() >= maxResidentOwners) return false;
    }
    long over = owners.weightBytes() + bytes + (long) createdPages * pageBytes - budgetBytes;
    if (over > 0) {
      long pagesToDrop = (over + pageBytes - 1) / pageBytes;
      if (pagesToDrop > reserve.size()) return false;
      for (long i = 0; i < pagesToDrop; i++) releaseToDriver(reserve.pollLast());
    }
    owners.addWeights(owner, bytes);
    return true;
  }

  /**
   * Releases all weight bytes of {@code owner}.
   *
   * @throws IllegalStateException if the owner has no weights reserved (double release)
   */
  public void releaseWeights(String owner) {
    owners.releaseWeights(owner);
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
    PoolOwners.Owner o = owners.open(owner);
    o.minPages = minPages;
    o.maxPages = maxPages;
    owners.forgetIfEmpty(owner);
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
    owners.give(owner, out);
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
    owners.take(owner, pages);
    for (PhysicalPage p : pages) {
      if (reserve.size() < reserveTarget()) {
        reserve.addLast(p);
      } else {
        releaseToDriver(p);
      }
    }
    releasedPages += pages.size();
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
    int target = reserveTarget();
    while (reserve.size() < target && createdPages < capacityPages()) {
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
    return owners.held(owner);
  }

  /** Pages held per owner, owners holding none left out; a sorted snapshot. */
  public Map<String, Integer> holdings() {
    return owners.holdings();
  }

  /** Pages held by all owners together. */
  public int heldPages() {
    return owners.heldByAll();
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
    return owners.availableTo(owner, freePages());
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
    return (int) Math.min(Integer.MAX_VALUE, Math.max(0, budgetBytes - owners.weightBytes()) / pageBytes);
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
    Set<Long> ids = new HashSet<>();
    int held = owners.check(ids);
    for (PhysicalPage p : reserve) {
      if (!ids.add(p.id())) throw new IllegalStateException("reserve page " + p.id() + " is also held or in the reserve twice");
    }
    if (createdPages != held + reserve.size()) {
      throw new IllegalStateException("created pages " + createdPages + " != held " + held + " + reserve " + reserve.size());
    }
    List<String> resident = owners.resident();
    if (maxResidentOwners > 0 && resident.size() > maxResidentOwners) {
      throw new IllegalStateException("weights of " + resident + " are resident at once; the limit is " + maxResidentOwners);
    }
    long weightBytes = owners.weightBytes();
    if (weightBytes + (long) createdPages * pageBytes > budgetBytes) {
      throw new IllegalStateException("weights " + weightBytes + " B + " + createdPages + " pages x " + pageBytes
          + " B exceed the budget of " + budgetBytes + " B");
    }
  }

  @Override
  public String toString() {
    return "PagePool[budget=" + budgetBytes + " B, weights=" + owners.weightBytes() + " B, created=" + createdPages
        + ", reserve=" + reserve.size() + ", held=" + holdings() + "]";
  }

  private int maxResidentOwners;

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

  private static void checkOwner(String owner) {
    if (owner == null || owner.isEmpty()) throw new IllegalArgumentException("owner must not be empty");
  }
}
