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
}
