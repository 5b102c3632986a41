package io.prism.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Semaphore;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/**
 * The pinned pool's bookkeeping on the CPU, over a fake allocator that hands out unique addresses
 * and fails the test on a free of an address it never gave or freed already: chunks pinned ahead by
 * fill threads, a take that waits for them within its bound or pins the shortfall itself, chunks
 * returned exactly once, and every chunk freed exactly once.
 */
class PinnedChunkPoolTest {
  private static final Duration LONG = Duration.ofMinutes(1);

  /** Unique addresses; records every allocation and free; can gate fill threads and fail after a count. */
  static final class FakeAllocator implements PinnedChunkPool.Allocator {
    final AtomicLong next = new AtomicLong(0x1000);
    final Set<Long> live = ConcurrentHashMap.newKeySet();
    final AtomicInteger allocations = new AtomicInteger();
    final AtomicInteger frees = new AtomicInteger();
    final List<String> errors = new ArrayList<>();
    /** Fill threads (named "filler-...") take a permit per allocation when set. */
    volatile Semaphore fillGate;
    /** Allocations beyond this many fail. */
    volatile int failAfter = Integer.MAX_VALUE;

    @Override
    public long allocate(long bytes) {
      if (fillGate != null && Thread.currentThread().getName().startsWith("filler-")) fillGate.acquireUninterruptibly();
      if (allocations.get() >= failAfter) throw new IllegalStateException("cuMemHostAlloc: out of memory (fake)");
      allocations.incrementAndGet();
      long a = next.getAndAdd(bytes);
      live.add(a);
      return a;
    }

    @Override
    public void free(long address) {
      frees.incrementAndGet();
      if (!live.remove(address)) {
        synchronized (errors) {
          errors.add("freed 0x" + Long.toHexString(address) + " twice or never allocated");
        }
      }
    }
  }

  private static final AtomicInteger THREAD_IDS = new AtomicInteger();

  private static void fill(PinnedChunkPool pool, int threads) {
    pool.startFilling(threads, r -> {
      Thread t = new Thread(r, "filler-" + THREAD_IDS.incrementAndGet());
      t.setDaemon(true);
      return t;
    });
  }

  private static PinnedChunkPool.Chunks granted(PinnedChunkPool.Take t) {
    return assertInstanceOf(PinnedChunkPool.Take.Granted.class, t).chunks();
  }

  @Test
  void fillThreadsPinTheTargetAheadAndATakeLendsChunksWithoutAllocating() throws Exception {
    FakeAllocator a = new FakeAllocator();
    PinnedChunkPool pool = new PinnedChunkPool(100, 8, a);
    fill(pool, 3);
    assertTrue(pool.awaitFilled(LONG));
    assertEquals(8, a.allocations.get());
    PinnedChunkPool.Usage u = pool.usage();
    assertEquals(8, u.allocatedChunks());
    assertEquals(8, u.freeChunks());
    assertTrue(u.fillNanos() > 0);
    assertNull(u.fillError());

    PinnedChunkPool.Chunks c = granted(pool.take(250, Duration.ZERO));
    assertEquals(3, c.count());
    assertEquals(250, c.bytes());
    assertEquals(List.of(100L, 100L, 50L), List.of(c.bytesAt(0), c.bytesAt(1), c.bytesAt(2)));
    Set<Long> distinct = new HashSet<>(List.of(c.address(0), c.address(1), c.address(2)));
    assertEquals(3, distinct.size());
    assertEquals(8, a.allocations.get(), "no chunk pinned on the taker's thread");
    u = pool.usage();
    assertEquals(5, u.freeChunks());
    assertEquals(3, u.leasedChunks());
    assertEquals(0, u.fallbackChunks());
    assertEquals(3, pool.close(), "the copy's chunks are still out");
    c.release();
    assertEquals(8, a.frees.get());
    assertTrue(a.live.isEmpty());
    assertTrue(a.errors.isEmpty(), a.errors.toString());
  }

  @Test
  void chunksReturnToThePoolExactlyOnce() throws Exception {
    FakeAllocator a = new FakeAllocator();
    PinnedChunkPool pool = new PinnedChunkPool(64, 6, a);
    fill(pool, 1);
    assertTrue(pool.awaitFilled(LONG));
    PinnedChunkPool.Chunks first = granted(pool.take(64 * 4, Duration.ZERO));
    PinnedChunkPool.Chunks second = granted(pool.take(1, Duration.ZERO));
    assertEquals(1, second.count());
    assertEquals(1, pool.usage().freeChunks());
    first.release();
    first.release(); // idempotent: the chunks are not counted twice
    assertTrue(first.released());
    assertEquals(5, pool.usage().freeChunks());
    assertEquals(1, pool.usage().leasedChunks());
    second.release();
    PinnedChunkPool.Usage u = pool.usage();
    assertEquals(6, u.freeChunks());
    assertEquals(0, u.leasedChunks());
    assertEquals(6, u.allocatedChunks());
    assertEquals(0, a.frees.get(), "returned chunks stay pinned for the next copy");
    // a released copy's chunks are lent again, not pinned again
    PinnedChunkPool.Chunks again = granted(pool.take(64 * 6, Duration.ZERO));
    assertEquals(6, again.count());
    assertEquals(6, a.allocations.get());
    again.release();
    assertEquals(0, pool.close());
    assertEquals(6, a.frees.get());
    assertTrue(a.errors.isEmpty(), a.errors.toString());
  }

  @Test
  void aTakeWaitsForTheFillThreadsInsteadOfPinningOnItsOwnThread() throws Exception {
    FakeAllocator a = new FakeAllocator();
    a.fillGate = new Semaphore(0);
    PinnedChunkPool pool = new PinnedChunkPool(10, 4, a);
    fill(pool, 1);
    CompletableFuture<PinnedChunkPool.Take> taken = CompletableFuture.supplyAsync(() -> pool.take(40, LONG));
    a.fillGate.release(4); // the fill thread pins the four chunks now, whether the take already waits or not
    PinnedChunkPool.Chunks c = granted(taken.get());
    assertEquals(4, c.count());
    assertEquals(4, a.allocations.get());
    assertEquals(0, pool.usage().fallbackChunks(), "every chunk came from the fill thread");
    c.release();
    pool.close();
    assertTrue(a.live.isEmpty());
  }

  @Test
  void pastItsBoundATakePinsTheShortfallItselfAndThoseChunksCountTowardsTheTarget() throws Exception {
    FakeAllocator a = new FakeAllocator();
    a.fillGate = new Semaphore(0); // the fill thread is stuck in its first allocation
    PinnedChunkPool pool = new PinnedChunkPool(10, 4, a);
    fill(pool, 1);
    PinnedChunkPool.Chunks c = granted(pool.take(30, Duration.ofMillis(20)));
    assertEquals(3, c.count());
    assertEquals(3, pool.usage().fallbackChunks());
    assertEquals(3, pool.usage().allocatedChunks());
    assertTrue(pool.usage().filling());
    a.fillGate.release(10);
    assertTrue(pool.awaitFilled(LONG));
    assertEquals(4, pool.usage().allocatedChunks(), "the fill thread stops at the target, fallback chunks included");
    assertEquals(4, a.allocations.get());
    c.release();
    assertEquals(4, pool.usage().freeChunks());
    assertEquals(0, a.frees.get());
    pool.close();
    assertEquals(4, a.frees.get());
    assertTrue(a.errors.isEmpty(), a.errors.toString());
  }

  @Test
  void onceFillingEndedATakeDoesNotWaitAndChunksBeyondTheTargetAreFreedOnReturn() throws Exception {
    FakeAllocator a = new FakeAllocator();
    PinnedChunkPool pool = new PinnedChunkPool(10, 2, a);
    fill(pool, 2);
    assertTrue(pool.awaitFilled(LONG));
    PinnedChunkPool.Chunks c = assertTimeoutPreemptively(Duration.ofSeconds(30), () -> granted(pool.take(45, Duration.ofHours(1))));
    assertEquals(5, c.count());
    assertEquals(3, pool.usage().fallbackChunks());
    assertEquals(5, pool.usage().allocatedChunks());
    c.release();
    assertEquals(3, a.frees.get(), "the pool shrinks back to its target");
    assertEquals(2, pool.usage().allocatedChunks());
    assertEquals(2, pool.usage().freeChunks());
    pool.close();
    assertTrue(a.live.isEmpty());
    assertTrue(a.errors.isEmpty(), a.errors.toString());
  }

  @Test
  void aPoolWithoutTargetPinsEachCopyAndFreesItWhenReleased() {
    FakeAllocator a = new FakeAllocator();
    PinnedChunkPool pool = new PinnedChunkPool(8, 0, a);
    PinnedChunkPool.Chunks c = granted(pool.take(17, LONG));
    assertEquals(3, c.count());
    assertEquals(3, a.allocations.get());
    c.release();
    assertEquals(3, a.frees.get());
    assertEquals(0, pool.usage().allocatedChunks());
    pool.close();
    assertTrue(a.errors.isEmpty(), a.errors.toString());
  }

  @Test
  void whenTheShortfallCannotBePinnedEveryChunkGoesBackAndTheTakeIsUnavailable() throws Exception {
    FakeAllocator a = new FakeAllocator();
    PinnedChunkPool pool = new PinnedChunkPool(10, 2, a);
    fill(pool, 1);
    assertTrue(pool.awaitFilled(LONG));
    a.failAfter = 3; // one more chunk, then out of memory
    PinnedChunkPool.Take t = pool.take(40, Duration.ZERO);
    PinnedChunkPool.Take.Unavailable u = assertInstanceOf(PinnedChunkPool.Take.Unavailable.class, t);
    assertTrue(u.reason().contains("out of memory"), u.reason());
    assertTrue(u.reason().contains("1 more chunks"), u.reason());
    PinnedChunkPool.Usage usage = pool.usage();
    assertEquals(0, usage.leasedChunks());
    assertEquals(2, usage.freeChunks());
    assertEquals(2, usage.allocatedChunks());
    assertEquals(1, a.frees.get(), "the one fallback chunk beyond the target was freed");
    pool.close();
    assertTrue(a.live.isEmpty());
    assertTrue(a.errors.isEmpty(), a.errors.toString());
  }

  @Test
  void aFailedAllocationStopsFillingAndIsReported() throws Exception {
    FakeAllocator a = new FakeAllocator();
    a.failAfter = 2;
    PinnedChunkPool pool = new PinnedChunkPool(10, 5, a);
    fill(pool, 1);
    assertTrue(pool.awaitFilled(LONG));
    PinnedChunkPool.Usage u = pool.usage();
    assertEquals(2, u.allocatedChunks());
    assertTrue(u.fillError().contains("out of memory"), u.fillError());
    pool.close();
    assertEquals(2, a.frees.get());
  }

  @Test
  void closeFreesFreeChunksAtOnceAndLeasedOnesWhenReleasedAndRefusesNewTakes() throws Exception {
    FakeAllocator a = new FakeAllocator();
    PinnedChunkPool pool = new PinnedChunkPool(10, 4, a);
    fill(pool, 2);
    assertTrue(pool.awaitFilled(LONG));
    PinnedChunkPool.Chunks c = granted(pool.take(20, Duration.ZERO));
    assertEquals(2, pool.close());
    assertEquals(2, a.frees.get());
    assertThrows(IllegalStateException.class, () -> pool.take(10, Duration.ZERO));
    c.release();
    c.release();
    assertEquals(4, a.frees.get());
    assertEquals(0, pool.close(), "close is idempotent");
    assertTrue(a.live.isEmpty());
    assertTrue(a.errors.isEmpty(), a.errors.toString());
  }

  @Test
  void concurrentTakesAndReleasesKeepTheBooksExact() throws Exception {
    FakeAllocator a = new FakeAllocator();
    PinnedChunkPool pool = new PinnedChunkPool(16, 24, a);
    fill(pool, 2);
    List<CompletableFuture<Void>> workers = new ArrayList<>();
    for (int w = 0; w < 4; w++) {
      int seed = w;
      workers.add(CompletableFuture.runAsync(() -> {
        Random rnd = new Random(seed);
        List<PinnedChunkPool.Chunks> held = new ArrayList<>();
        for (int i = 0; i < 2000; i++) {
          if (held.size() < 3 && rnd.nextBoolean()) {
            held.add(granted(pool.take(1 + rnd.nextInt(16 * 5), Duration.ofMillis(1))));
          } else if (!held.isEmpty()) {
            held.remove(rnd.nextInt(held.size())).release();
          }
        }
        for (PinnedChunkPool.Chunks c : held) c.release();
      }));
    }
    CompletableFuture.allOf(workers.toArray(new CompletableFuture[0])).get();
    assertTrue(pool.awaitFilled(LONG));
    PinnedChunkPool.Usage u = pool.usage();
    assertEquals(0, u.leasedChunks());
    assertEquals(u.allocatedChunks(), u.freeChunks());
    assertTrue(u.allocatedChunks() <= 24, "back to at most the target: " + u);
    assertEquals(a.allocations.get() - a.frees.get(), u.allocatedChunks());
    pool.close();
    assertTrue(a.live.isEmpty());
    assertTrue(a.errors.isEmpty(), a.errors.toString());
  }

  @Test
  void badArgumentsNameTheValue() {
    FakeAllocator a = new FakeAllocator();
    assertTrue(assertThrows(IllegalArgumentException.class, () -> new PinnedChunkPool(0, 1, a)).getMessage().contains("0"));
    assertTrue(assertThrows(IllegalArgumentException.class, () -> new PinnedChunkPool(8, -2, a)).getMessage().contains("-2"));
    PinnedChunkPool pool = new PinnedChunkPool(8, 0, a);
    assertTrue(assertThrows(IllegalArgumentException.class, () -> pool.take(0, Duration.ZERO)).getMessage().contains("0"));
    assertThrows(IllegalArgumentException.class, () -> pool.take(8, Duration.ofMillis(-1)));
    assertThrows(IllegalArgumentException.class, () -> pool.startFilling(0, Thread::new));
    assertTrue(assertThrows(IllegalArgumentException.class, () -> new PinnedPoolSettings(-1, 8, Duration.ZERO, 1)).getMessage().contains("-1"));
    assertThrows(IllegalArgumentException.class, () -> new PinnedPoolSettings(8, 0, Duration.ZERO, 1));
    assertThrows(IllegalArgumentException.class, () -> new PinnedPoolSettings(8, 8, Duration.ofSeconds(-1), 1));
    assertThrows(IllegalArgumentException.class, () -> new PinnedPoolSettings(8, 8, Duration.ZERO, 0));
    assertEquals(3, new PinnedPoolSettings(17, 8, Duration.ZERO, 1).targetChunks());
    assertEquals(0, PinnedPoolSettings.NONE.targetChunks());
  }
}
