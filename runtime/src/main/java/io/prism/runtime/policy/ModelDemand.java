package io.prism.runtime.policy;

import java.time.Duration;
import java.util.List;

/**
 * One model as the global placement sees it (the paper's Algorithm 1 inputs).
 *
 * <p>A model with tensor-parallel degree {@code k} runs as {@code k} shards on {@code k} distinct
 * GPUs; each shard holds {@code ceil(weightBytes / k)} weight bytes and carries {@code 1/k} of the
 * model's KV demand (its KV heads are split across the shards).
 *
 * @param modelId unique model id
 * @param tokenRatePerSecond tokens per second (prompt + generated), the 60 s moving average of
 *     {@link RateEstimator}; {@code >= 0}
 * @param kvBytesPerToken KV-cache bytes one token occupies over all layers (K and V); {@code > 0}
 * @param tpotSlo the model's TPOT SLO, positive
 * @param weightBytes device bytes of the whole model's weights (all shards together); {@code >= 0}
 * @param currentGpus GPUs holding the model now, one per shard; empty when it is not placed
 *     (never loaded, or evicted to host memory)
 * @param tensorParallelDegree number of shards, {@code >= 1}
 */
public record ModelDemand(String modelId, double tokenRatePerSecond, long kvBytesPerToken, Duration tpotSlo,
    long weightBytes, List<Integer> currentGpus, int tensorParallelDegree) {

  public ModelDemand {
    if (modelId == null || modelId.isEmpty()) throw new IllegalArgumentException("modelId must not be empty");
    if (!(tokenRatePerSecond >= 0) || Double.isInfinite(tokenRatePerSecond)) {
      throw new IllegalArgumentException("tokenRatePerSecond of " + modelId + " must be finite and >= 0, got " + tokenRatePerSecond);
    }
    if (kvBytesPerToken <= 0) throw new IllegalArgumentException("kvBytesPerToken of " + modelId + " must be > 0, got " + kvBytesPerToken);
    if (tpotSlo == null || tpotSlo.isNegative() || tpotSlo.isZero()) {
      throw new IllegalArgumentException("tpotSlo of " + modelId + " must be positive, got " + tpotSlo);
    }
    if (weightBytes < 0) throw new IllegalArgumentException("weightBytes of " + modelId + " must be >= 0, got " + weightBytes);
    if (tensorParallelDegree < 1) {
      throw new IllegalArgumentException("tensorParallelDegree of " + modelId + " must be >= 1, got " + tensorParallelDegree);
    }
    currentGpus = List.copyOf(currentGpus == null ? List.of() : currentGpus);
    if (!currentGpus.isEmpty() && currentGpus.size() != tensorParallelDegree) {
      throw new IllegalArgumentException("model " + modelId + " has tensorParallelDegree " + tensorParallelDegree
          + " but currentGpus " + currentGpus);
    }
    if (currentGpus.stream().distinct().count() != currentGpus.size()) {
      throw new IllegalArgumentException("model " + modelId + " lists a GPU twice in currentGpus " + currentGpus);
    }
  }

  /** A single-GPU model ({@code tensorParallelDegree = 1}); {@code currentGpu < 0} means not placed. */
  public static ModelDemand of(String modelId, double tokenRatePerSecond, long kvBytesPerToken, Duration tpotSlo,
      long weightBytes, int currentGpu) {
    return new ModelDemand(modelId, tokenRatePerSecond, kvBytesPerToken, tpotSlo, weightBytes,
        currentGpu < 0 ? List.of() : List.of(currentGpu), 1);
  }

  /**
   * KV demand weight, the sort key of Algorithm 1: {@code tokenRate * kvBytesPerToken / tpotSlo}
   * in bytes per second squared (token rate in tokens/s, TPOT in seconds).
   */
  public double kvDemand() {
    return tokenRatePerSecond * kvBytesPerToken / (tpotSlo.toNanos() / 1e9);
  }

  /** KV demand carried by one shard: {@code kvDemand() / tensorParallelDegree}. */
  public double shardKvDemand() {
    return kvDemand() / tensorParallelDegree;
  }

  /** Weight bytes of one shard: {@code ceil(weightBytes / tensorParallelDegree)}. */
  public long shardWeightBytes() {
    return (weightBytes + tensorParallelDegree - 1) / tensorParallelDegree;
  }

  /** True iff the model currently holds GPUs. */
  public boolean isPlaced() {
    return !currentGpus.isEmpty();
  }
}
