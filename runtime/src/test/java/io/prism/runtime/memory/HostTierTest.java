package io.prism.runtime.memory;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class HostTierTest {
  private final List<String> asked = new ArrayList<>();

  private HostTier.Reservation reserve(HostTier t, String owner, long bytes, long now) {
    return t.reserve(owner, bytes, now, () -> asked.add(owner));
  }

  @Test
  void keepsCopiesWithinTheBoundAndAsksTheLeastRecentlyUsedToDropAheadOfTheNext() {
    HostTier t = new HostTier(250);
    assertInstanceOf(HostTier.Reservation.Kept.class, reserve(t, "a", 100, 1));
    assertEquals(List.of(), asked);
    HostTier.Reservation b = reserve(t, "b", 100, 2);
    assertInstanceOf(HostTier.Reservation.Kept.class, b);
    assertEquals(List.of("a"), b.dropsAsked(), "50 bytes free: a (least recently used) drops so a third copy fits");
    assertEquals(List.of("a"), asked);
    assertEquals(200, t.usedBytes(), "a's bytes count until it released them");
    HostTier.Reservation c = reserve(t, "c", 100, 3);
    assertInstanceOf(HostTier.Reservation.Refused.class, c, "a has not freed its copy yet: c goes to disk");
    assertEquals(List.of(), c.dropsAsked(), "a's drop already covers c");
    assertEquals(100, t.release("a"));
    assertEquals(0, t.release("a"), "released exactly once");
    t.touch("b", 4);
    HostTier.Reservation d = reserve(t, "d", 100, 5);
    assertInstanceOf(HostTier.Reservation.Kept.class, d);
    assertEquals(List.of("b"), d.dropsAsked());
    assertEquals(200, t.usedBytes());
    assertEquals(new HostTier.Usage(200, 250, 2, 1, 2, 1), t.usage());
  }

  @Test
  void settlesToTheBytesHeldAndRefusesCopiesLargerThanTheTier() {
    HostTier t = new HostTier(100);
    assertInstanceOf(HostTier.Reservation.Refused.class, reserve(t, "big", 101, 1));
    assertEquals(0, t.usedBytes());
    reserve(t, "a", 60, 2);
    t.settle("a", 40);
    assertEquals(40, t.usedBytes());
    assertThrows(IllegalStateException.class, () -> t.settle("a", 41), "a copy larger than its reservation breaks the bound");
    t.settle("a", 0);
    assertEquals(0, t.usedBytes());
    assertEquals(0, t.usage().copies());
  }

  @Test
  void aCopyAlreadyHeldIsKeptWithoutNewBytes() {
    HostTier t = new HostTier(100);
    reserve(t, "a", 80, 1);
    assertInstanceOf(HostTier.Reservation.Kept.class, reserve(t, "a", 80, 2));
    assertEquals(80, t.usedBytes());
    assertThrows(IllegalArgumentException.class, () -> new HostTier(-1));
  }
}
