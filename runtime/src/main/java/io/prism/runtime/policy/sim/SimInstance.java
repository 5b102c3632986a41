package io.prism.runtime.policy.sim;

import java.util.ArrayList;
import java.util.List;

/**
 * A model instance on one simulated GPU: weights resident (or being activated), its running
 * sequences and their KV bytes. Mutable; confined to the simulator's thread.
 */
final class SimInstance {
  final SimModelState model;
  final SimGpu gpu;
  boolean ready; // weights loaded
  boolean draining; // replaced by a migration target: finishes its running sequences, takes no prefill
  final List<SimRequest> prefilling = new ArrayList<>(); // admitted, KV allocated, prompt partly processed
  final List<SimRequest> running = new ArrayList<>(); // decoding
  long kvBytes;
  long quotaBytes = Long.MAX_VALUE; // static partition: KV bytes this instance may hold
  boolean groupClosed; // QLM: another model's request group is next on this GPU; admit no new prefill

  SimInstance(SimModelState model, SimGpu gpu) {
    this.model = model;
    this.gpu = gpu;
  }

  long weightBytes() {
    return model.spec.profile().weightBytes();
  }

  /** True iff it has admitted work (prefilling or decoding). */
  boolean busy() {
    return !prefilling.isEmpty() || !running.isEmpty();
  }

  /** True iff it accepts new prefills. */
  boolean serving() {
    return ready && !draining && (model.serving == this || model.replicas.contains(this));
  }
}
