package io.prism.runtime.policy.sim;

import java.util.ArrayList;
import java.util.List;

/** One simulated GPU's memory ledger and busy state. Mutable; confined to the simulator's thread. */
final class SimGpu {
  final int id;
  final long budgetBytes;
  final List<SimInstance> instances = new ArrayList<>();
  long weightBytes; // resident and activating instances
  long kvBytes;
  boolean busy;
  boolean prefillTurn = true; // alternate prefill and decode rounds when both are pending

  final int maxResidentModels; // 0: no limit
  /** Most instances (weights resident or being loaded) held at once over the run. */
  int peakInstances;

  SimGpu(int id, long budgetBytes, int maxResidentModels) {
    this.id = id;
    this.budgetBytes = budgetBytes;
    this.maxResidentModels = maxResidentModels;
  }

  long freeBytes() {
    return budgetBytes - weightBytes - kvBytes;
  }

  /** Checks the ledger against the instances (the simulator's version of the page-conservation invariant). */
  void checkInvariants() {
    peakInstances = Math.max(peakInstances, instances.size());
    if (maxResidentModels > 0 && instances.size() > maxResidentModels) {
      throw new IllegalStateException("GPU " + id + " holds the weights of " + instances.stream().map(i -> i.model.id()).toList()
          + " at once; the limit is " + maxResidentModels);
    }
    long w = 0;
    long kv = 0;
    for (SimInstance i : instances) {
      w += i.weightBytes();
      long held = 0;
      for (SimRequest r : i.running) held += r.kvBytes;
      for (SimRequest r : i.prefilling) held += r.kvBytes;
      if (held != i.kvBytes) throw new IllegalStateException("GPU " + id + ": instance " + i.model.id() + " KV ledger " + i.kvBytes + " != held " + held);
      kv += i.kvBytes;
    }
    if (w != weightBytes || kv != kvBytes) {
      throw new IllegalStateException("GPU " + id + ": ledger weights " + weightBytes + "/kv " + kvBytes + " != instances " + w + "/" + kv);
    }
    if (weightBytes + kvBytes > budgetBytes) throw new IllegalStateException("GPU " + id + " over budget: " + (weightBytes + kvBytes) + " > " + budgetBytes);
  }
}
