package io.prism.runtime.engine;

import io.prism.runtime.memory.BlockManager;
import io.prism.runtime.model.ModelConfig;
import java.util.List;
import java.util.function.LongSupplier;

/**
 * A model's prefill speed in tokens per second, the job-length estimate of Moore-Hodgson admission
 * (the paper's Algorithm 2: prompt tokens divided by the model's prefill speed, measured at load).
 *
 * <p>{@link #measure} times prefills of {@code tokens} tokens through the model's backend and
 * keeps the fastest pass: at least {@link #MIN_PASSES}, then more until {@link #BUDGET_NANOS} is spent
 * (at most {@link #MAX_PASSES}), so that a cold JVM's JIT or a device's lazy initialisation is warmed
 * up (on the host, a cold first pass is 30x slower than a warm one). The KV blocks are borrowed from
 * the block manager and freed afterwards (never cached). When it cannot time (weights evicted, no KV memory,
 * a clock that did not advance) it returns the deterministic {@link #estimate}: matrix FLOPs per
 * token against an assumed device throughput.
 *
 * <p>Threading: the engine thread.
 */
public final class PrefillSpeed {
  /**
   * Throughput assumed by {@link #estimate} when nothing better is known: 1e11 FLOP/s, a few CPU
   * cores with SIMD. A GPU caller should pass its own figure (an H200 does ~1e15 in bf16).
   */
  public static final double FALLBACK_FLOPS_PER_SECOND = 1e11;

  /** Fewest timed passes; the fastest pass counts (the least disturbed by JIT warm-up or other work). */
  static final int MIN_PASSES = 3;
  /** Most timed passes. */
  static final int MAX_PASSES = 50;
  /** Passes continue (up to {@link #MAX_PASSES}) until this much time was spent: 250 ms. */
  static final long BUDGET_NANOS = 250_000_000L;

  private PrefillSpeed() {}

  /**
   * Matrix FLOPs of one prefill token: {@code 2 * (layers * (dim * (dim + 2 kvDim) + dim * dim + 3 dim
   * * hidden) + vocab * dim)}; attention over the context and element-wise work are left out.
   */
  public static double flopsPerToken(ModelConfig c) {
    double perLayer = (double) c.dim() * (c.dim() + 2.0 * c.kvDim()) + (double) c.dim() * c.dim() + 3.0 * c.dim() * c.hiddenDim();
    return 2.0 * (c.numLayers() * perLayer + (double) c.vocabSize() * c.dim());
  }

  /**
   * Deterministic estimate: {@code flopsPerSecond / flopsPerToken(config)}.
   *
   * @throws IllegalArgumentException if {@code flopsPerSecond} is not positive and finite
   */
  public static double estimate(ModelConfig config, double flopsPerSecond) {
    if (!(flopsPerSecond > 0) || Double.isInfinite(flopsPerSecond)) {
      throw new IllegalArgumentException("flopsPerSecond must be finite and > 0, got " + flopsPerSecond);
    }
    return flopsPerSecond / flopsPerToken(config);
  }

  /**
   * Times a prefill of {@code tokens} tokens (ids {@code 3, 4, ...} modulo the vocabulary size).
   *
   * @param tokens prompt length, {@code 1 <= tokens <= maxSeqLen}
   * @return tokens per second, or {@link #estimate}{@code (config, FALLBACK_FLOPS_PER_SECOND)} when
   *     it cannot time
   * @throws IllegalArgumentException if {@code tokens} is out of range
   */
  static double measure(ForwardBackend backend, BlockManager blocks, int tokens, LongSupplier clockNanos) {
    ModelConfig c = backend.config();
    if (tokens < 1 || tokens > c.maxSeqLen()) throw new IllegalArgumentException("tokens must be in [1, " + c.maxSeqLen() + "], got " + tokens);
    double fallback = estimate(c, FALLBACK_FLOPS_PER_SECOND);
    if (!backend.weightsResident()) return fallback;
    int numBlocks = (tokens + blocks.blockSize() - 1) / blocks.blockSize();
    if (!(blocks.allocate(numBlocks) instanceof BlockManager.Allocation.Granted g)) return fallback;
    try {
      int[] ids = new int[tokens];
      for (int i = 0; i < tokens; i++) ids[i] = (3 + i) % c.vocabSize();
      ForwardBatch batch = new ForwardBatch(List.of(new ForwardBatch.Entry(ids, 0, g.blockIds(), true)));
      float[][] logits = {new float[c.vocabSize()]};
      long best = Long.MAX_VALUE;
      long spent = 0;
      for (int pass = 0; pass < MAX_PASSES && (pass < MIN_PASSES || spent < BUDGET_NANOS); pass++) {
        long start = clockNanos.getAsLong();
        backend.forward(batch, logits);
        long elapsed = clockNanos.getAsLong() - start;
        spent += Math.max(0, elapsed);
        best = Math.min(best, elapsed);
      }
      return best > 0 ? tokens * 1e9 / best : fallback;
    } finally {
      blocks.free(g.blockIds());
    }
  }
}
