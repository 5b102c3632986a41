package io.prism.cuda;

import java.time.Duration;

/**
 * How a node's {@link PinnedHostPool} is made: the pinned host memory that evicted weights are
 * copied into (the host tier of ServerlessLLM, Fu et al., OSDI 2024, kept page-locked so copies run
 * at PCIe speed).
 *
 * @param bytes host bytes pinned ahead by background threads from the devices' start (rounded up to
 *     whole chunks); 0: nothing ahead, each eviction pins its own chunks on its thread (slow: about
 *     0.5 s per GB on an H200 host) and frees them when its copy is dropped. Server: {@code
 *     prism.node.host-pool-bytes} (by default the host tier's bound).
 * @param chunkBytes bytes of one chunk (one {@code cuMemHostAlloc}); a copy wastes less than one
 *     chunk. Server: {@code prism.node.host-pool-chunk}, default 256 MiB.
 * @param maxWait how long an eviction that finds too few free chunks waits for the fill threads
 *     before pinning the shortfall itself. Server: {@code prism.node.host-pool-wait}.
 * @param fillThreads threads that pin the chunks (system property {@code prism.cuda.host-pool-threads}, default 2)
 */
public record PinnedPoolSettings(long bytes, long chunkBytes, Duration maxWait, int fillThreads) {
  /** Default chunk: 256 MiB. */
  public static final long DEFAULT_CHUNK_BYTES = 256L << 20;

  /** No pool made ahead: every eviction pins its own chunks (the path before the pool; tests). */
  public static final PinnedPoolSettings NONE = new PinnedPoolSettings(0, DEFAULT_CHUNK_BYTES, Duration.ZERO, 1);

  /**
   * @throws IllegalArgumentException naming the value if bytes are negative, the chunk not positive,
   *     the wait negative or the threads fewer than one
   */
  public PinnedPoolSettings {
    if (bytes < 0) throw new IllegalArgumentException("pinned pool bytes must be >= 0, got " + bytes);
    if (chunkBytes <= 0) throw new IllegalArgumentException("pinned pool chunk bytes must be > 0, got " + chunkBytes);
    if (maxWait == null || maxWait.isNegative()) throw new IllegalArgumentException("pinned pool wait must be >= 0, got " + maxWait);
    if (fillThreads < 1) throw new IllegalArgumentException("pinned pool fill threads must be >= 1, got " + fillThreads);
  }

  /** Fill threads from system property {@code prism.cuda.host-pool-threads} (default 2). */
  static int fillThreadsProperty() {
    return Integer.getInteger("prism.cuda.host-pool-threads", 2);
  }

  /** Chunks pinned ahead: {@code ceil(bytes / chunkBytes)}. */
  int targetChunks() {
    return PinnedChunkPool.chunksFor(bytes, chunkBytes);
  }
}
