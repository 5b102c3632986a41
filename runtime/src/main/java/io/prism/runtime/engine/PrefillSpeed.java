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
    try (Probe p = Probe.start(backend, blocks, tokens, clockNanos)) {
      while (p.pass()) {
        // one timed prefill per call
      }
      return p.tokensPerSecond();
    }
  }

  /**
   * {@link #measure} one pass at a time, so that a caller sharing its thread with other work (a
   * device's one engine thread, stepping its other models) can let that work run between passes:
   * call {@link #pass()} until it returns false, then read {@link #tokensPerSecond()}; {@link
   * #close()} frees the borrowed KV blocks (also when abandoned early). A cold JVM's first host passes
   * take seconds on a loaded machine; one pass at a time they no longer stall a neighbour's steps for
   * all of them at once.
   *
   * <p>Threading: the engine thread, like the block manager and backend it uses.
   */
  public static final class Probe implements AutoCloseable {
    private final ForwardBackend backend;
    private final BlockManager blocks;
    private final LongSupplier clockNanos;
    private final int tokens;
    private final double fallback;
    private final int[] blockIds; // null: cannot time (weights evicted, no KV memory)
    private final ForwardBatch batch;
    private final float[][] logits;
    private long best = Long.MAX_VALUE;
    private long spent;
    private int passes;
    private boolean closed;

    private Probe(ForwardBackend backend, BlockManager blocks, int tokens, LongSupplier clockNanos, double fallback, int[] blockIds) {
      this.backend = backend;
      this.blocks = blocks;
      this.tokens = tokens;
      this.clockNanos = clockNanos;
      this.fallback = fallback;
      this.blockIds = blockIds;
      ModelConfig c = backend.config();
      if (blockIds == null) {
        this.batch = null;
        this.logits = null;
      } else {
        int[] ids = new int[tokens];
        for (int i = 0; i < tokens; i++) ids[i] = (3 + i) % c.vocabSize();
        this.batch = new ForwardBatch(List.of(new ForwardBatch.Entry(ids, 0, blockIds, true)));
        this.logits = new float[][] {new float[c.vocabSize()]};
      }
    }

    /**
     * Borrows the KV blocks of a prefill of {@code tokens} tokens (ids {@code 3, 4, ...} modulo the
     * vocabulary size); times nothing yet.
     *
     * @throws IllegalArgumentException if {@code tokens} is not in {@code [1, maxSeqLen]}
     */
    public static Probe start(ForwardBackend backend, BlockManager blocks, int tokens, LongSupplier clockNanos) {
      ModelConfig c = backend.config();
      if (tokens < 1 || tokens > c.maxSeqLen()) throw new IllegalArgumentException("tokens must be in [1, " + c.maxSeqLen() + "], got " + tokens);
      double fallback = estimate(c, FALLBACK_FLOPS_PER_SECOND);
      if (!backend.weightsResident()) return new Probe(backend, blocks, tokens, clockNanos, fallback, null);
      int numBlocks = (tokens + blocks.blockSize() - 1) / blocks.blockSize();
      if (!(blocks.allocate(numBlocks) instanceof BlockManager.Allocation.Granted g)) return new Probe(backend, blocks, tokens, clockNanos, fallback, null);
      return new Probe(backend, blocks, tokens, clockNanos, fallback, g.blockIds());
    }

    /**
     * Runs one timed prefill if more are wanted ({@link #MIN_PASSES}, then more until {@link
     * #BUDGET_NANOS} is spent, at most {@link #MAX_PASSES}).
     *
     * @return whether another pass is wanted
     * @throws IllegalStateException if closed
     */
    public boolean pass() {
      if (closed) throw new IllegalStateException("prefill probe is closed");
      if (!wantsMore()) return false;
      long start = clockNanos.getAsLong();
      backend.forward(batch, logits);
      long elapsed = clockNanos.getAsLong() - start;
      spent += Math.max(0, elapsed);
      best = Math.min(best, elapsed);
      passes++;
      return wantsMore();
    }

    private boolean wantsMore() {
      return blockIds != null && passes < MAX_PASSES && (passes < MIN_PASSES || spent < BUDGET_NANOS);
    }

    /** Passes run so far. */
    public int passes() {
      return passes;
    }

    /** Tokens per second of the fastest pass so far, or the {@link #estimate} fallback when it could not time. */
    public double tokensPerSecond() {
      return passes > 0 && best > 0 && best != Long.MAX_VALUE ? tokens * 1e9 / best : fallback;
    }

    /** Frees the borrowed blocks (never cached). Idempotent. */
    @Override
    public void close() {
      if (closed) return;
      closed = true;
      if (blockIds != null) blocks.free(blockIds);
    }
  }
}
