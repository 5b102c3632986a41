package io.prism.runtime.forward;

import io.prism.runtime.engine.ForwardBatch;
import io.prism.runtime.memory.HostDeviceMemory;
import io.prism.runtime.memory.KvCache;
import io.prism.runtime.memory.PhysicalPage;
import io.prism.runtime.model.ModelConfig;
import io.prism.runtime.model.ModelWeights;
import io.prism.runtime.sampling.Sampler;
import io.prism.runtime.sampling.SamplingParams;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.random.RandomGenerator;

/**
 * A minimal driver of {@link HostForwardBackend} for tools and tests: a fixed number of sequence
 * slots, each owning a contiguous run of page ids of one host KV cache, pages mapped when a block
 * is first needed. No scheduler, no preemption, no page sharing between models; the serving path
 * uses {@code io.prism.runtime.engine.ModelEngine} instead.
 *
 * <pre>
 *   slot s owns page ids [s * pagesPerSlot, (s + 1) * pagesPerSlot)
 *   its block table: block ids s * pagesPerSlot * blocksPerPage + 0, 1, 2, ...
 * </pre>
 *
 * <p>Threading: one thread at a time (it owns the host "device").
 */
public final class SimpleGenerator implements AutoCloseable {
  /** Default host page size: 64 KiB, small so that even tiny models use many pages. */
  public static final long DEFAULT_PAGE_BYTES = 64 * 1024;
  /** Default block size in tokens. */
  public static final int DEFAULT_BLOCK_SIZE = 16;
  private static final int PREFILL_CHUNK = 256;

  /** Receives each generated token; return false to stop generating. */
  @FunctionalInterface
  public interface TokenListener {
    boolean onToken(int tokenId);
  }

  private final ModelConfig config;
  private final HostDeviceMemory memory;
  private final KvCache kv;
  private final HostForwardBackend backend;
  private final int slots;
  private final int maxTokensPerSlot;
  private final int pagesPerSlot;
  private final int[] lengths;
  private final int[][] tables;

  /**
   * @param weights host weights
   * @param slots sequences held at once (>= 1)
   * @param maxTokensPerSlot context of each slot in tokens, at most {@code maxSeqLen}
   * @param threads forward-pass threads, the caller included
   * @throws IllegalArgumentException if a count is out of range
   */
  public SimpleGenerator(ModelWeights weights, int slots, int maxTokensPerSlot, int threads) {
    this(weights, slots, maxTokensPerSlot, threads, DEFAULT_PAGE_BYTES, DEFAULT_BLOCK_SIZE);
  }

  /** As {@link #SimpleGenerator(ModelWeights, int, int, int)} with an explicit page size (bytes) and block size (tokens). */
  public SimpleGenerator(ModelWeights weights, int slots, int maxTokensPerSlot, int threads, long pageBytes, int blockSize) {
    if (slots < 1) throw new IllegalArgumentException("slots must be >= 1, got " + slots);
    this.config = weights.config;
    if (maxTokensPerSlot < 1 || maxTokensPerSlot > config.maxSeqLen()) {
      throw new IllegalArgumentException("maxTokensPerSlot must be in [1, " + config.maxSeqLen() + "], got " + maxTokensPerSlot);
    }
    long blockBytes = KvCache.blockBytesPerLayer(config, blockSize, Float.BYTES);
    long page = pageBytes;
    if (blockBytes > page) page = ((blockBytes + 4095) / 4096) * 4096; // grow the page to hold one block
    this.memory = new HostDeviceMemory(page);
    this.slots = slots;
    this.maxTokensPerSlot = maxTokensPerSlot;
    this.pagesPerSlot = KvCache.pagesFor(config, blockSize, Float.BYTES, page, maxTokensPerSlot);
    int blocksPerPage = (int) (page / blockBytes);
    this.kv = KvCache.reserve(memory, config, blockSize, Float.BYTES, slots * pagesPerSlot * blocksPerPage * blockSize);
    this.backend = new HostForwardBackend(weights, kv, threads);
    this.lengths = new int[slots];
    this.tables = new int[slots][pagesPerSlot * blocksPerPage];
    for (int s = 0; s < slots; s++) {
      for (int b = 0; b < tables[s].length; b++) tables[s][b] = s * pagesPerSlot * blocksPerPage + b;
    }
  }

  /** Shape of the model this generator runs. */
  public ModelConfig config() {
    return config;
  }

  /** The host forward pass this generator drives (owned by it; closed with it). */
  public HostForwardBackend backend() {
    return backend;
  }

  /** Tokens already in slot {@code slot}'s KV cache. */
  public int length(int slot) {
    return lengths[slot];
  }

  /** Context capacity of each slot in tokens. */
  public int maxTokensPerSlot() {
    return maxTokensPerSlot;
  }

  /**
   * Appends {@code tokens[i]} to slot {@code slotIds[i]} in one forward step and writes each slot's
   * last-token logits into {@code logits[i]} ({@code [vocabSize]}).
   *
   * @throws IllegalArgumentException if a slot would exceed its context
   */
  public void step(int[] slotIds, int[][] tokens, float[][] logits) {
    List<ForwardBatch.Entry> entries = new ArrayList<>(slotIds.length);
    for (int i = 0; i < slotIds.length; i++) {
      int s = slotIds[i];
      int end = lengths[s] + tokens[i].length;
      if (end > maxTokensPerSlot) {
        throw new IllegalArgumentException("slot " + s + ": " + end + " tokens exceed its context of " + maxTokensPerSlot);
      }
      ensureMapped(s, end);
      entries.add(new ForwardBatch.Entry(tokens[i], lengths[s], tables[s], true));
    }
    backend.forward(new ForwardBatch(entries), logits);
    for (int i = 0; i < slotIds.length; i++) lengths[slotIds[i]] += tokens[i].length;
  }

  /** Empties slot {@code slot}: unmaps its page ids and releases their physical pages. */
  public void reset(int slot) {
    for (int p = slot * pagesPerSlot; p < (slot + 1) * pagesPerSlot; p++) {
      if (kv.isMapped(p)) for (PhysicalPage pp : kv.unmap(p)) memory.release(pp);
    }
    lengths[slot] = 0;
  }

  /**
   * Generates with slot 0 (which is reset first): prefills {@code prompt}, then samples up to
   * {@code params.maxTokens()} tokens, stopping early at any id in {@code stopIds} (not reported,
   * unless {@code params.ignoreEos()}), when the slot's context is full, or when the listener says
   * so. Stop strings are not handled here. The random generator is seeded from {@code
   * params.seed()} (a fresh seed when null).
   *
   * @param prompt token ids, BOS included when the model wants one, length >= 1
   * @return the generated ids (stop id excluded)
   */
  public int[] generate(int[] prompt, SamplingParams params, int[] stopIds, TokenListener listener) {
    if (prompt.length == 0) throw new IllegalArgumentException("prompt must have at least one token");
    reset(0);
    RandomGenerator rng = params.seed() == null ? new SplittableRandom() : new SplittableRandom(params.seed());
    float[][] logits = new float[1][config.vocabSize()];
    for (int from = 0; from < prompt.length; from += PREFILL_CHUNK) {
      int to = Math.min(prompt.length, from + PREFILL_CHUNK);
      step(new int[] {0}, new int[][] {java.util.Arrays.copyOfRange(prompt, from, to)}, logits);
    }
    int[] out = new int[params.maxTokens()];
    int n = 0;
    while (true) {
      int next = Sampler.sample(logits[0], params, rng);
      if (!params.ignoreEos() && contains(stopIds, next)) break;
      out[n++] = next;
      boolean more = listener == null || listener.onToken(next);
      if (!more || n >= params.maxTokens() || lengths[0] >= maxTokensPerSlot) break;
      step(new int[] {0}, new int[][] {{next}}, logits);
    }
    return java.util.Arrays.copyOf(out, n);
  }

  private static boolean contains(int[] a, int v) {
    if (a == null) return false;
    for (int x : a) if (x == v) return true;
    return false;
  }

  private void ensureMapped(int slot, int tokens) {
    int blocks = (tokens + kv.blockSize() - 1) / kv.blockSize();
    int lastPage = tables[slot][blocks - 1] / kv.blocksPerPage();
    for (int p = slot * pagesPerSlot; p <= lastPage; p++) {
      if (kv.isMapped(p)) continue;
      List<PhysicalPage> pages = new ArrayList<>(kv.physicalPagesPerPageId());
      for (int i = 0; i < kv.physicalPagesPerPageId(); i++) pages.add(memory.create());
      kv.map(p, pages);
    }
  }

  /** Returns every page, frees the KV cache and stops the worker threads. */
  @Override
  public void close() {
    for (int s = 0; s < slots; s++) reset(s);
    backend.close();
    kv.close();
    memory.close();
  }
}
