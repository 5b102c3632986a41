package io.prism.runtime.policy;

import java.util.ArrayList;
import java.util.Collection;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * Working state of a placement being built: per GPU, the weight bytes and KV demand assigned so far.
 * Package-private helper shared by the placement policies; not thread-safe (one per call).
 */
final class GpuLedger {
  private final TreeMap<Integer, long[]> weights = new TreeMap<>(); // gpuId -> {budget, weightBytes}
  private final Map<Integer, Double> demand = new LinkedHashMap<>();

  GpuLedger(Collection<GpuCapacity> gpus) {
    for (GpuCapacity g : gpus) {
      if (weights.put(g.gpuId(), new long[] {g.memoryBudgetBytes(), 0}) != null) {
        throw new IllegalArgumentException("duplicate GPU id " + g.gpuId());
      }
      demand.put(g.gpuId(), 0.0);
    }
  }

  static void checkUniqueModels(List<ModelDemand> models) {
    Set<String> ids = new HashSet<>();
    for (ModelDemand m : models) {
      if (!ids.add(m.modelId())) throw new IllegalArgumentException("duplicate model id " + m.modelId());
    }
  }

  /** GPU ids in ascending order. */
  Set<Integer> gpuIds() {
    return weights.keySet();
  }

  boolean contains(int gpuId) {
    return weights.containsKey(gpuId);
  }

  /** Bytes left for KV on {@code gpuId}: budget minus assigned weights. */
  long freeBytes(int gpuId) {
    long[] w = weights.get(gpuId);
    return w[0] - w[1];
  }

  /** True iff a shard of {@code shardWeightBytes} fits and still leaves at least one byte for KV. */
  boolean fits(int gpuId, long shardWeightBytes) {
    return freeBytes(gpuId) - shardWeightBytes > 0;
  }

  /** KVPR of {@code gpuId} now. */
  double kvpr(int gpuId) {
    return kvpr(demand.get(gpuId), freeBytes(gpuId));
  }

  /** KVPR of {@code gpuId} if a shard with this weight and demand were added. */
  double kvprWith(int gpuId, long shardWeightBytes, double shardDemand) {
    return kvpr(demand.get(gpuId) + shardDemand, freeBytes(gpuId) - shardWeightBytes);
  }

  /**
   * KV pressure ratio (DESIGN.md section 1): KV demand over the bytes left for KV. Zero demand gives
   * 0; positive demand with no bytes left gives {@code +Infinity}.
   */
  static double kvpr(double demand, long freeBytes) {
    if (demand == 0) return 0;
    return freeBytes <= 0 ? Double.POSITIVE_INFINITY : demand / freeBytes;
  }

  void add(List<Integer> gpuIds, long shardWeightBytes, double shardDemand) {
    for (int g : gpuIds) {
      weights.get(g)[1] += shardWeightBytes;
      demand.merge(g, shardDemand, Double::sum);
    }
  }

  Map<Integer, Double> kvprByGpu() {
    Map<Integer, Double> out = new LinkedHashMap<>();
    for (int g : weights.keySet()) out.put(g, kvpr(g));
    return out;
  }

  static List<Integer> sorted(List<Integer> gpus) {
    List<Integer> s = new ArrayList<>(gpus);
    s.sort(null);
    return s;
  }
}
