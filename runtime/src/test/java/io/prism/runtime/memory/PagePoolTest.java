package io.prism.runtime.memory;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class PagePoolTest {
  private static final long PAGE = 4096;
  private final HostDeviceMemory memory = new HostDeviceMemory(PAGE);

  private static List<PhysicalPage> granted(PageAllocation a) {
    return assertInstanceOf(PageAllocation.Granted.class, a).pages();
  }

  @Test
  void acquireTakesReservePagesFirstAndCountsCreatesOnTheCriticalPath() {
    PagePool pool = new PagePool(memory, 10 * PAGE, 3);
    assertEquals(3, pool.refillReserve());
    assertEquals(3, pool.reservePages());
    assertEquals(10, pool.freePages());

    List<PhysicalPage> pages = granted(pool.acquire("a", 5));

    assertEquals(5, pages.size());
    assertEquals(0, pool.reservePages());
    assertEquals(5, pool.createdPages());
    assertEquals(5, pool.pagesHeldBy("a"));
    assertEquals(5, pool.freePages());
    PagePoolStats s = pool.stats();
    assertEquals(3, s.refillCreates());
    assertEquals(2, s.criticalPathCreates());
    assertEquals(5, s.driverCreates());
    assertEquals(5, s.grantedPages());
    pool.checkInvariants();
  }

  @Test
  void releaseRefillsTheReserveToItsTargetAndReleasesTheSurplus() {
    PagePool pool = new PagePool(memory, 10 * PAGE, 3);
    List<PhysicalPage> pages = granted(pool.acquire("a", 5));

    pool.release("a", pages);

    assertEquals(0, pool.pagesHeldBy("a"));
    assertEquals(3, pool.reservePages());
    assertEquals(3, pool.createdPages());
    assertEquals(3, memory.livePages());
    assertEquals(2, pool.stats().driverReleases());
    assertEquals(5, pool.stats().releasedPages());
    pool.checkInvariants();
    // the next acquire of up to 3 pages creates nothing
    granted(pool.acquire("b", 3));
    assertEquals(5, pool.stats().criticalPathCreates());
    pool.checkInvariants();
  }

  @Test
  void ownersReserveWishesRaiseTheReserveTarget() {
    PagePool pool = new PagePool(memory, 40 * PAGE, 2);
    pool.setReserveWanted("a", 8); // e.g. one page id of a 4-layer model
    pool.setReserveWanted("b", 6);
    assertEquals(14, pool.reserveTarget());
    assertEquals(14, pool.refillReserve());

    List<PhysicalPage> pages = granted(pool.acquire("a", 8));
    assertEquals(0, pool.stats().criticalPathCreates(), "a whole page id came from the reserve");
    pool.setReserveWanted("b", 0);
    assertEquals(8, pool.reserveTarget());
    pool.release("a", pages);
    assertEquals(8, pool.reservePages(), "back to the new target, the surplus released");
    assertEquals(6, pool.stats().driverReleases());
    pool.checkInvariants();
    pool.setReserveWanted("a", 0);
    assertEquals(2, pool.reserveTarget(), "the constructor's target is the floor");
    assertEquals(0, pool.reserveWantedBy("a"));
    assertThrows(IllegalArgumentException.class, () -> pool.setReserveWanted("a", -1));
    pool.checkInvariants();
  }

  @Test
  void acquireIsAllOrNothing() {
    PagePool pool = new PagePool(memory, 4 * PAGE, 2);
    pool.refillReserve();

    PageAllocation a = pool.acquire("a", 5);

    assertEquals(new PageAllocation.Exhausted(4), a);
    assertEquals(2, pool.reservePages());
    assertEquals(2, memory.livePages());
    assertEquals(0, pool.pagesHeldBy("a"));
    assertEquals(1, pool.stats().exhaustedCalls());
    pool.checkInvariants();
  }

  @Test
  void weightsAndPagesShareOneBudget() {
    PagePool pool = new PagePool(memory, 10 * PAGE, 0);
    assertTrue(pool.reserveWeights("w", 3 * PAGE));
    assertEquals(7, pool.capacityPages());
    assertEquals(new PageAllocation.Exhausted(7), pool.acquire("a", 8));
    List<PhysicalPage> pages = granted(pool.acquire("a", 7));

    assertFalse(pool.reserveWeights("v", 1), "one more byte of weights does not fit beside 7 held pages");
    assertEquals(0, pool.weightBytesOf("v"));

    pool.release("a", pages.subList(0, 2));
    assertTrue(pool.reserveWeights("v", PAGE + 1));
    assertEquals(3 * PAGE, pool.weightBytesOf("w"));
    assertEquals(4 * PAGE + 1, pool.weightBytes());
    assertEquals(0, pool.freePages());
    pool.checkInvariants();

    pool.releaseWeights("w");
    assertEquals(3, pool.freePages());
    pool.checkInvariants();
  }

  @Test
  void reservingWeightsDropsReservePagesToMakeRoom() {
    PagePool pool = new PagePool(memory, 10 * PAGE, 4);
    granted(pool.acquire("a", 6));
    pool.refillReserve();
    assertEquals(4, pool.reservePages());

    assertTrue(pool.reserveWeights("w", 2 * PAGE + 10));

    assertEquals(1, pool.reservePages());
    assertEquals(7, pool.createdPages());
    pool.checkInvariants();
    assertFalse(pool.reserveWeights("w2", 2 * PAGE), "held pages are never dropped for weights");
    assertEquals(1, pool.reservePages());
  }

  @Test
  void releasingAPageNotHeldThrowsAndChangesNothing() {
    PagePool pool = new PagePool(memory, 10 * PAGE, 2);
    List<PhysicalPage> a = granted(pool.acquire("a", 2));
    List<PhysicalPage> b = granted(pool.acquire("b", 2));

    assertThrows(IllegalStateException.class, () -> pool.release("a", List.of(a.get(0), b.get(0))));
    assertThrows(IllegalStateException.class, () -> pool.release("a", List.of(a.get(0), a.get(0))));
    assertEquals(2, pool.pagesHeldBy("a"));
    assertEquals(2, pool.pagesHeldBy("b"));
    pool.checkInvariants();

    pool.release("a", List.of(a.get(0)));
    assertThrows(IllegalStateException.class, () -> pool.release("a", List.of(a.get(0))), "double release");
    assertThrows(IllegalStateException.class, () -> pool.release("nobody", List.of(b.get(0))));
    pool.checkInvariants();
  }

  @Test
  void releasingWeightsTwiceThrows() {
    PagePool pool = new PagePool(memory, 10 * PAGE, 0);
    assertTrue(pool.reserveWeights("w", 100));
    pool.releaseWeights("w");
    assertThrows(IllegalStateException.class, () -> pool.releaseWeights("w"));
  }

  @Test
  void loweredMaximumTakesEffectLazily() {
    PagePool pool = new PagePool(memory, 10 * PAGE, 0);
    List<PhysicalPage> pages = granted(pool.acquire("a", 4));

    pool.setLimits("a", 0, 2);

    assertEquals(4, pool.pagesHeldBy("a"), "nothing is taken back by force");
    assertEquals(new PageAllocation.Exhausted(0), pool.acquire("a", 1));
    pool.release("a", pages.subList(0, 3));
    assertEquals(1, pool.availableTo("a"));
    granted(pool.acquire("a", 1));
    assertEquals(new PageAllocation.Exhausted(0), pool.acquire("a", 1));
    pool.checkInvariants();
  }

  @Test
  void minimumGuaranteesPagesToItsOwner() {
    PagePool pool = new PagePool(memory, 10 * PAGE, 0);
    pool.setLimits("b", 4, Integer.MAX_VALUE);

    assertEquals(new PageAllocation.Exhausted(6), pool.acquire("a", 7));
    granted(pool.acquire("a", 6));
    assertEquals(4, pool.availableTo("b"));
    granted(pool.acquire("b", 4));
    assertEquals(0, pool.freePages());
    pool.checkInvariants();
  }

  @Test
  void holdingsListOwnersWithPages() {
    PagePool pool = new PagePool(memory, 10 * PAGE, 1);
    List<PhysicalPage> b = granted(pool.acquire("b", 3));
    granted(pool.acquire("a", 1));
    pool.release("b", b);

    assertEquals(Map.of("a", 1), pool.holdings());
    assertEquals(1, pool.heldPages());
    assertEquals(1, pool.reservePages());
    pool.checkInvariants();
  }

  @Test
  void invariantCheckSeesPagesCreatedBehindThePoolsBack() {
    PagePool pool = new PagePool(memory, 10 * PAGE, 0);
    granted(pool.acquire("a", 1));
    memory.create();
    assertThrows(IllegalStateException.class, pool::checkInvariants);
  }

  @Test
  void drainingTheReserveReturnsEveryPageToTheDriver() {
    PagePool pool = new PagePool(memory, 10 * PAGE, 5);
    pool.refillReserve();
    List<PhysicalPage> got = new ArrayList<>(granted(pool.acquire("a", 7)));
    pool.release("a", got);
    assertEquals(5, memory.livePages());
    assertEquals(5, pool.drainReserve());
    assertEquals(0, memory.livePages());
    pool.checkInvariants();
  }

  @Test
  void rejectsBadArguments() {
    PagePool pool = new PagePool(memory, 10 * PAGE, 0);
    assertThrows(IllegalArgumentException.class, () -> pool.acquire("a", -1));
    assertThrows(IllegalArgumentException.class, () -> pool.acquire("", 1));
    assertThrows(IllegalArgumentException.class, () -> pool.setLimits("a", 3, 2));
    assertThrows(IllegalArgumentException.class, () -> pool.reserveWeights("a", -1));
    assertThrows(IllegalArgumentException.class, () -> new PagePool(memory, -1, 0));
  }

  @Test
  void residencyLimitRefusesASecondModelsWeightsUntilTheFirstReleasesThem() {
    PagePool pool = new PagePool(memory, 100 * PAGE, 0);
    pool.setMaxResidentOwners(1);
    assertTrue(pool.reserveWeights("a", 10 * PAGE));
    assertTrue(pool.reserveWeights("a", PAGE), "the resident owner may grow its weights");
    assertFalse(pool.reserveWeights("b", PAGE), "room for b's weights, but a is resident");
    assertEquals(List.of("a"), pool.residentOwners());
    assertEquals(0, pool.weightBytesOf("b"));
    granted(pool.acquire("b", 2)); // KV pages are not weights: the limit does not apply
    pool.checkInvariants();
    pool.releaseWeights("a");
    assertTrue(pool.reserveWeights("b", 10 * PAGE));
    assertEquals(List.of("b"), pool.residentOwners());
    pool.checkInvariants();
    pool.setMaxResidentOwners(0);
    assertTrue(pool.reserveWeights("a", 10 * PAGE), "no limit");
    assertEquals(List.of("a", "b"), pool.residentOwners());
    pool.setMaxResidentOwners(1); // lowered below what is resident: the check names both
    IllegalStateException e = assertThrows(IllegalStateException.class, pool::checkInvariants);
    assertTrue(e.getMessage().contains("[a, b]"), e.getMessage());
    assertThrows(IllegalArgumentException.class, () -> pool.setMaxResidentOwners(-1));
  }
}
