package io.prism.runtime.policy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.prism.runtime.policy.ReplicaScaling.AddInstance;
import io.prism.runtime.policy.ReplicaScaling.Decision;
import io.prism.runtime.policy.ReplicaScaling.InstanceLoad;
import io.prism.runtime.policy.ReplicaScaling.Keep;
import io.prism.runtime.policy.ReplicaScaling.RemoveInstance;
import io.prism.runtime.policy.ReplicaScaling.Trend;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;

class ReplicaScalingTest {
  // add: 4 queued or KVPR 0.5, 3 checks; remove: at most 1 queued per remaining instance, KVPR 0.1, 2 checks
  private static final ReplicaScaling POLICY = new ReplicaScaling(new ReplicaScaling.Limits(4, 0.5, 3, 1, 0.1, 2));

  private static InstanceLoad at(int gpu, int queued, double kvpr) {
    return new InstanceLoad(gpu, true, queued, 1, kvpr);
  }

  /** Runs the checks in order, carrying the trend as a caller does; returns the last decision. */
  private static Decision run(int maxReplicas, List<List<InstanceLoad>> checks) {
    Trend t = Trend.NONE;
    Decision d = null;
    for (List<InstanceLoad> c : checks) {
      d = POLICY.decide(c, maxReplicas, t);
      t = d.trend();
    }
    return d;
  }

  @Test
  void addsAnInstanceOnlyAfterTheOverloadLastsTheConfiguredChecks() {
    List<InstanceLoad> hot = List.of(at(0, 6, 0.0));
    assertInstanceOf(Keep.class, run(2, List.of(hot, hot)));
    AddInstance add = assertInstanceOf(AddInstance.class, run(2, List.of(hot, hot, hot)));
    assertEquals(3, add.trend().overloadedChecks());
    // one calm check in between starts the count again
    assertInstanceOf(Keep.class, run(2, List.of(hot, hot, List.of(at(0, 2, 0.2)), hot, hot)));
  }

  @Test
  void kvprAloneMarksAnInstanceOverloaded() {
    List<InstanceLoad> pressed = List.of(at(0, 0, 0.7));
    assertInstanceOf(AddInstance.class, run(3, List.of(pressed, pressed, pressed)));
  }

  @Test
  void oneHotInstanceBesideACoolOneIsNotOverload() {
    List<InstanceLoad> skewed = List.of(at(0, 9, 0.9), at(1, 0, 0.0));
    Decision d = run(3, List.of(skewed, skewed, skewed, skewed));
    assertInstanceOf(Keep.class, d);
    assertEquals(Trend.NONE, d.trend());
  }

  @Test
  void neverAddsBeyondMaxReplicasAndWaitsForALoadingInstance() {
    List<InstanceLoad> hot = List.of(at(0, 9, 0.0), at(1, 9, 0.0));
    Keep k = assertInstanceOf(Keep.class, run(2, List.of(hot, hot, hot, hot)));
    assertEquals(4, k.trend().overloadedChecks(), k.reason());
    List<InstanceLoad> loading = List.of(at(0, 9, 0.0), new InstanceLoad(1, false, 0, 0, 0.0));
    assertEquals(Trend.NONE, POLICY.decide(loading, 3, new Trend(5, 0)).trend());
    assertInstanceOf(Keep.class, POLICY.decide(loading, 3, new Trend(5, 0)));
  }

  @Test
  void removesTheInstanceOnTheHottestGpuOnceDemandFitsOnFewer() {
    List<InstanceLoad> calm = List.of(at(0, 0, 0.05), at(1, 1, 0.08), at(2, 0, 0.01));
    assertInstanceOf(Keep.class, run(3, List.of(calm)));
    RemoveInstance r = assertInstanceOf(RemoveInstance.class, run(3, List.of(calm, calm)));
    assertEquals(1, r.gpuId());
    // 3 queued on 3 instances do not fit under 1 per instance on 2: kept
    List<InstanceLoad> busy = List.of(at(0, 1, 0.05), at(1, 1, 0.05), at(2, 1, 0.05));
    assertInstanceOf(Keep.class, run(3, List.of(busy, busy, busy)));
    // between the low and the high KVPR thresholds: kept (hysteresis)
    List<InstanceLoad> middling = List.of(at(0, 0, 0.3), at(1, 0, 0.0));
    assertInstanceOf(Keep.class, run(2, List.of(middling, middling, middling)));
    // a single instance is never removed
    assertInstanceOf(Keep.class, run(1, List.of(List.of(at(0, 0, 0)), List.of(at(0, 0, 0)), List.of(at(0, 0, 0)))));
  }

  @Test
  void aLoweredMaximumRemovesAnInstanceAtOnce() {
    RemoveInstance r = assertInstanceOf(RemoveInstance.class, POLICY.decide(List.of(at(0, 9, 0.2), at(1, 9, 0.4)), 1, new Trend(7, 0)));
    assertEquals(1, r.gpuId());
    assertEquals(Trend.NONE, r.trend());
  }

  @Test
  void limitsRejectThresholdsWithoutHysteresis() {
    assertThrows(IllegalArgumentException.class, () -> new ReplicaScaling.Limits(4, 0.5, 3, 4, 0.1, 2));
    assertThrows(IllegalArgumentException.class, () -> new ReplicaScaling.Limits(4, 0.5, 3, 1, 0.5, 2));
    assertThrows(IllegalArgumentException.class, () -> new ReplicaScaling.Limits(4, 0.5, 0, 1, 0.1, 2));
    assertThrows(IllegalArgumentException.class, () -> POLICY.decide(List.of(), 2, Trend.NONE));
  }

  @Test
  void theTargetIsTheLowestKvprGpuThatHoldsTheWeightsPreferredFirst() {
    long gib = 1L << 30;
    InstanceTarget.Candidate busy = new InstanceTarget.Candidate(0, gib, gib / 2, 4e8, false); // (4e8 + d) / (gib/2 - w)
    InstanceTarget.Candidate idle = new InstanceTarget.Candidate(1, gib, gib / 2, 0, false);
    InstanceTarget.Candidate full = new InstanceTarget.Candidate(2, gib, gib - 10, 0, false);
    long w = gib / 4;
    double d = 1e8;
    assertEquals(Optional.of(idle), InstanceTarget.choose(List.of(busy, idle, full), w, d));
    assertTrue(idle.kvprWith(w, d) < busy.kvprWith(w, d), "equal room: the GPU without demand has the lower KVPR with the instance");
    InstanceTarget.Candidate sameNode = new InstanceTarget.Candidate(3, gib, gib / 2, 4e8, true);
    assertEquals(Optional.of(sameNode), InstanceTarget.choose(List.of(busy, idle, sameNode), w, d));
    assertEquals(Optional.empty(), InstanceTarget.choose(List.of(full), w, d));
    // equal KVPR (no demand anywhere): the most room wins
    InstanceTarget.Candidate roomy = new InstanceTarget.Candidate(4, 2 * gib, 0, 0, false);
    assertEquals(Optional.of(roomy), InstanceTarget.choose(List.of(idle, roomy), w, 0));
  }
}
