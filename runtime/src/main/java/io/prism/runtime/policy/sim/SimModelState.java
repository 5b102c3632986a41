package io.prism.runtime.policy.sim;

import io.prism.runtime.policy.Slo;
import java.util.ArrayDeque;

/** One model's state in the simulator. Mutable; confined to the simulator's thread. */
final class SimModelState {
  final Workload.SimModel spec;
  final Slo slo;
  final ArrayDeque<SimRequest> queue = new ArrayDeque<>(); // waiting for prefill; preempted ones at the front
  SimInstance serving; // where prefills go; null when evicted or never placed
  SimInstance activating; // an activation (or migration target) under way
  final java.util.List<SimInstance> replicas = new java.util.ArrayList<>(); // ready instances beyond serving (SimReplicas)
  SimInstance addingReplica; // a replica being loaded
  io.prism.runtime.policy.ReplicaScaling.Trend trend = io.prism.runtime.policy.ReplicaScaling.Trend.NONE;
  boolean awaitingActivation; // in the simulator's pending list
  long lastActivityNanos;

  SimModelState(Workload.SimModel spec, Slo slo) {
    this.spec = spec;
    this.slo = slo;
  }

  /** TTFT deadline of its oldest waiting request that has not started ({@link Long#MAX_VALUE}: none). */
  long headDeadlineNanos() {
    for (SimRequest r : queue) if (!r.resumed()) return r.deadlineNanos;
    return Long.MAX_VALUE;
  }

  String id() {
    return spec.modelId();
  }

  /** The instance on {@code g} that takes new prefills of this model (the serving one or a replica), or null. */
  SimInstance instanceOn(SimGpu g) {
    if (serving != null && serving.gpu == g) return serving;
    for (SimInstance r : replicas) if (r.gpu == g) return r;
    return null;
  }

  /** Every instance that takes new prefills: the serving one first, then the replicas. */
  java.util.List<SimInstance> servingInstances() {
    java.util.List<SimInstance> out = new java.util.ArrayList<>();
    if (serving != null) out.add(serving);
    out.addAll(replicas);
    return out;
  }
}
