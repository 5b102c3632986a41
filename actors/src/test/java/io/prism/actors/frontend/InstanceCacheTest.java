package io.prism.actors.frontend;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.prism.actors.GpuId;
import io.prism.actors.placement.PlacementProtocol.Instance;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The frontend's balancing across a model's instances, and how answers and redirects update it. */
class InstanceCacheTest {
  private static final GpuId A = new GpuId("10.0.0.1", 25520, 0);
  private static final GpuId B = new GpuId("10.0.0.1", 25520, 1);
  private static final GpuId C = new GpuId("10.0.0.2", 25520, 0);
  private static final long LATER = Long.MAX_VALUE / 2;

  private static List<GpuId> choose(InstanceCache c, int n) {
    List<GpuId> out = new ArrayList<>();
    for (int i = 0; i < n; i++) out.add(c.choose("m"));
    return out;
  }

  @Test
  void requestsGoToTheShortestQueueThenAlternate() {
    InstanceCache c = new InstanceCache();
    assertTrue(c.put("m", List.of(new Instance(A, 3, 1, true), new Instance(B, 0, 0, true)), 2, LATER, g -> false, false));
    List<GpuId> got = choose(c, 10);
    assertEquals(List.of(B, B, B, B), got.subList(0, 4), "B's backlog is 4 shorter: " + got);
    assertEquals(3, Collections.frequency(got.subList(4, 10), A), "then evenly: " + got);
    assertEquals(3, Collections.frequency(got.subList(4, 10), B), "then evenly: " + got);
  }

  @Test
  void aRedirectReplacesTheInstanceThatHandedOffAndLostNodesAreDropped() {
    InstanceCache c = new InstanceCache();
    c.put("m", List.of(new Instance(A, 0, 0, true), new Instance(B, 0, 0, true)), 4, LATER, g -> false, false);
    c.redirect("m", B, A, 5, LATER); // the replica on B was removed: it hands off to A
    assertEquals(List.of(A, A, A), choose(c, 3));
    assertEquals(5, c.epoch("m"));
    assertFalse(c.put("m", List.of(new Instance(A, 0, 0, true), new Instance(B, 0, 0, true)), 4, LATER, g -> false, true),
        "a background refresh older than the cached epoch is ignored");
    assertEquals(List.of(A, A), choose(c, 2));
    c.put("m", List.of(new Instance(A, 0, 0, true), new Instance(C, 0, 0, true)), 6, LATER, g -> false, true);
    c.forgetWhere(g -> g.host().equals("10.0.0.2"));
    assertEquals(List.of(A, A), choose(c, 2));
    c.forget("m", A);
    assertFalse(c.has("m"));
    assertNull(c.choose("m"));
    assertFalse(c.put("m", List.of(new Instance(C, 0, 0, true)), 7, LATER, g -> g.equals(C), false), "only lost instances: nothing cached");
  }
}
