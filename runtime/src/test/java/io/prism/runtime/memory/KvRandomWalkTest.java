package io.prism.runtime.memory;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.BitSet;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * A seeded random walk of allocate, append, free, cancel and preempt over many sequences of two
 * model instances sharing one page pool, checking the KV invariants (DESIGN.md section 3) after
 * every step and ending with every page returned.
 */
class KvRandomWalkTest {
  private static final int BLOCK_SIZE = 4;

  /** One sequence's token count and block table, as a scheduler would keep it. */
  private static final class Seq {
    final int model;
    int tokens;
    final List<Integer> blocks = new ArrayList<>();

    Seq(int model) {
      this.model = model;
    }

    int[] blockArray() {
      return blocks.stream().mapToInt(Integer::intValue).toArray();
    }
  }

  private final HostDeviceMemory memory = new HostDeviceMemory(KvTestShapes.PAGE_BYTES);
  // budget of 48 pages: weights take 6, so at most 10 page ids of model A (4 pages each) or 7 of B (6 pages each)
  private final PagePool pool = new PagePool(memory, 48 * KvTestShapes.PAGE_BYTES, 5);
  private final KvCache[] caches = {
      KvCache.reserve(memory, KvTestShapes.config("a", 2, 64), BLOCK_SIZE, 4, 256),
      KvCache.reserve(memory, KvTestShapes.config("b", 3, 64), BLOCK_SIZE, 4, 256)};
  private final BlockManager[] managers = {
      new BlockManager(caches[0], pool, "a"), new BlockManager(caches[1], pool, "b")};
  private final List<Seq> live = new ArrayList<>();
  private long preemptions;
  private long exhausted;

  @Test
  void randomWalkKeepsEveryInvariantAndReturnsEveryPage() {
    assertTrue(pool.reserveWeights("a", 2 * KvTestShapes.PAGE_BYTES));
    assertTrue(pool.reserveWeights("b", 4 * KvTestShapes.PAGE_BYTES));
    SplittableRandom rnd = new SplittableRandom(20240521L);
    for (int step = 0; step < 6000; step++) {
      int op = rnd.nextInt(100);
      if (op < 20) {
        admit(rnd.nextInt(2), 1 + rnd.nextInt(24));
      } else if (op < 80 && !live.isEmpty()) {
        Seq s = live.get(rnd.nextInt(live.size()));
        append(s, 1 + rnd.nextInt(3));
      } else if (op < 90 && !live.isEmpty()) {
        finish(live.get(rnd.nextInt(live.size()))); // finished or cancelled: same for the KV layer
      } else if (op < 93) {
        pool.refillReserve();
      } else if (op < 96) {
        int m = rnd.nextInt(2);
        pool.setLimits(m == 0 ? "a" : "b", 0, rnd.nextBoolean() ? Integer.MAX_VALUE : 4 * (1 + rnd.nextInt(8)));
      } else if (!live.isEmpty()) {
        finish(live.get(live.size() - 1));
      }
      checkAll();
    }
    assertTrue(preemptions > 0, "the walk must run the pool dry sometimes");
    assertTrue(exhausted > 0);

    while (!live.isEmpty()) {
      finish(live.get(0));
      checkAll();
    }
    for (KvCache c : caches) c.close();
    assertEquals(0, memory.mappedPages());
    assertEquals(0, pool.heldPages());
    assertEquals(pool.reservePages(), memory.livePages());
    pool.releaseWeights("a");
    pool.releaseWeights("b");
    pool.drainReserve();
    assertEquals(0, memory.livePages());
    pool.checkInvariants();
  }

  private void admit(int model, int promptTokens) {
    Seq s = new Seq(model);
    live.add(s);
    append(s, promptTokens);
  }

  /** Grows {@code s} by {@code n} tokens; on shortage preempts the newest sequence of the same model. */
  private void append(Seq s, int n) {
    BlockManager bm = managers[s.model];
    int need = (s.tokens + n + BLOCK_SIZE - 1) / BLOCK_SIZE - s.blocks.size();
    while (true) {
      BlockManager.Allocation a = bm.allocate(need);
      if (a instanceof BlockManager.Allocation.Granted g) {
        for (int b : g.blockIds()) s.blocks.add(b);
        s.tokens += n;
        return;
      }
      exhausted++;
      assertTrue(((BlockManager.Allocation.Exhausted) a).availableBlocks() < need);
      Seq victim = null;
      for (int i = live.size() - 1; i >= 0; i--) {
        if (live.get(i).model == s.model) {
          victim = live.get(i);
          break;
        }
      }
      preemptions++;
      finish(victim);
      if (victim == s) return;
      checkAll();
    }
  }

  private void finish(Seq s) {
    managers[s.model].free(s.blockArray());
    s.blocks.clear();
    live.remove(s);
  }

  private void checkAll() {
    pool.checkInvariants();
    for (int m = 0; m < 2; m++) {
      managers[m].checkInvariants();
      BitSet owned = new BitSet();
      int count = 0;
      for (Seq s : live) {
        if (s.model != m) continue;
        assertEquals((s.tokens + BLOCK_SIZE - 1) / BLOCK_SIZE, s.blocks.size(), "block table covers the tokens");
        for (int b : s.blocks) {
          assertTrue(!owned.get(b), "block " + b + " owned twice");
          assertTrue(managers[m].isAllocated(b));
          owned.set(b);
          count++;
        }
      }
      assertEquals(count, managers[m].usedBlocks(), "every used block belongs to exactly one sequence");
      assertEquals(managers[m].pageIdsMapped() * caches[m].physicalPagesPerPageId(), pool.pagesHeldBy(m == 0 ? "a" : "b"));
    }
    assertEquals(memory.mappedPages(), pool.heldPages(), "every held page is mapped, nothing else is");
    assertEquals(memory.livePages(), pool.heldPages() + pool.reservePages());
  }
}
