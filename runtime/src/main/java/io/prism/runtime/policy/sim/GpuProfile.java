package io.prism.runtime.policy.sim;

/**
 * A GPU as the cost model sees it, and the cost model itself (all times in nanoseconds):
 * <pre>
 *   prefill(m, tokens)       = 2 * params * tokens / effectiveFlops + weightBytes / hbm + stepOverhead
 *   decodeStep(m, ctxTokens) = (weightBytes + ctxTokens * kvBytesPerToken) / hbm + stepOverhead
 *                               (ctxTokens: context of every sequence in the batch together)
 *   activation(m)            = weightBytes / hostToDevice + activationOverhead
 * </pre>
 * Prefill is compute-bound, decode memory-bound (the roofline view); activation copies pinned
 * host weights into a pre-initialised engine (the paper reports at most 0.7 s for 1-8B models).
 *
 * @param name display name
 * @param memoryBudgetBytes bytes for weights and KV (device memory minus workspace)
 * @param hbmBytesPerSecond sustained HBM bandwidth
 * @param effectiveFlops sustained dense bf16 FLOP/s in prefill
 * @param hostToDeviceBytesPerSecond host-to-device copy bandwidth for activation
 * @param stepOverheadNanos fixed cost per step (launch, scheduling, sampling)
 * @param activationOverheadNanos fixed cost per activation
 */
public record GpuProfile(String name, long memoryBudgetBytes, double hbmBytesPerSecond, double effectiveFlops,
    double hostToDeviceBytesPerSecond, long stepOverheadNanos, long activationOverheadNanos) {

  /**
   * H100 SXM 80 GB: 72 GB for weights and KV, 3.35 TB/s HBM at 80%, 989 TFLOP/s bf16 at 50%,
   * 25 GB/s host link, 1 ms per step, 100 ms per activation (8B: about 0.74 s).
   */
  public static final GpuProfile H100 = new GpuProfile("H100-80GB", 72_000_000_000L, 3.35e12 * 0.8, 989e12 * 0.5, 25e9,
      1_000_000L, 100_000_000L);

  /**
   * H200 SXM 141 GB: 125 GB for weights and KV (the rest for workspace), 4.8 TB/s HBM at 80%, 989
   * TFLOP/s bf16 at 50%, 49 GB/s host link (our H200 copied 16.06 GB of pinned weights in 0.327 s,
   * {@code prism bench engine}), 1 ms per step, 100 ms per activation.
   */
  public static final GpuProfile H200 = new GpuProfile("H200-141GB", 125_000_000_000L, 4.8e12 * 0.8, 989e12 * 0.5, 49e9,
      1_000_000L, 100_000_000L);

  /**
   * One host (CPU) device of {@code prism bench replay}'s default rig, as its calibration fitted it
   * on our shared 2-core build machine (stories260K and stories15M alone, one forward thread): 160
   * MiB for weights and KV, 1.70 GB/s effective weight reads, 7.47 GFLOP/s prefill, 1.29 ms per
   * step; 5 GB/s host copy and 5 ms per activation as the replay assumes for host devices.
   */
  public static final GpuProfile HOST_CPU = new GpuProfile("host-cpu", 160L << 20, 1.701e9, 7.472e9, 5e9, 1_288_000L, 5_000_000L);

  /** Prefill throughput of {@code m} in tokens per second (compute part only). */
  public double prefillTokensPerSecond(ModelProfile m) {
    return effectiveFlops / (2 * m.params());
  }

  /** Time of one prefill step over {@code tokens} prompt tokens of model {@code m}. */
  public long prefillNanos(ModelProfile m, long tokens) {
    return Math.round(tokens / prefillTokensPerSecond(m) * 1e9 + m.weightBytes() / hbmBytesPerSecond * 1e9) + stepOverheadNanos;
  }

  /** Time of one decode step of model {@code m} whose batch holds {@code contextTokens} tokens of context in all. */
  public long decodeStepNanos(ModelProfile m, long contextTokens) {
    return Math.round((m.weightBytes() + (double) contextTokens * m.kvBytesPerToken()) / hbmBytesPerSecond * 1e9) + stepOverheadNanos;
  }

  /** Time to bring {@code m}'s weights from host memory onto this GPU. */
  public long activationNanos(ModelProfile m) {
    return Math.round(m.weightBytes() / hostToDeviceBytesPerSecond * 1e9) + activationOverheadNanos;
  }
}
