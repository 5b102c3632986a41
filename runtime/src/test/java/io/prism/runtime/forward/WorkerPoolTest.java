package io.prism.runtime.forward;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.concurrent.atomic.AtomicIntegerArray;
import org.junit.jupiter.api.Test;

class WorkerPoolTest {
  @Test
  void runsEveryIndexExactlyOnceAcrossManySections() {
    try (WorkerPool pool = new WorkerPool(3)) {
      for (int section = 0; section < 2000; section++) {
        int total = 1 + section % 97, chunk = 1 + section % 7;
        AtomicIntegerArray hits = new AtomicIntegerArray(total);
        pool.run(total, chunk, (from, to, worker) -> {
          assertTrue(worker >= 0 && worker < 3);
          for (int i = from; i < to; i++) hits.incrementAndGet(i);
        });
        for (int i = 0; i < total; i++) assertEquals(1, hits.get(i), "section " + section + " index " + i);
      }
    }
  }

  @Test
  void rethrowsTheFirstFailureOnTheCaller() {
    try (WorkerPool pool = new WorkerPool(2)) {
      IllegalStateException boom = new IllegalStateException("boom");
      IllegalStateException thrown = assertThrows(IllegalStateException.class, () -> pool.run(64, 1, (from, to, worker) -> {
        if (from == 17) throw boom;
      }));
      assertSame(boom, thrown);
      int[] sum = new int[1];
      pool.run(10, 10, (from, to, worker) -> sum[0] += to - from); // still usable afterwards
      assertEquals(10, sum[0]);
    }
  }

  @Test
  void rejectsBadArgumentsAndUseAfterClose() {
    assertThrows(IllegalArgumentException.class, () -> new WorkerPool(0));
    WorkerPool pool = new WorkerPool(2);
    assertThrows(IllegalArgumentException.class, () -> pool.run(4, 0, (a, b, c) -> {}));
    pool.close();
    assertThrows(IllegalStateException.class, () -> pool.run(4, 1, (a, b, c) -> {}));
  }
}
