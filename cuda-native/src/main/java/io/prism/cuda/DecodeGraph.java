package io.prism.cuda;

import static io.prism.cuda.CudaCheck.check;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import org.bytedeco.cuda.cudart.CUgraphExec_st;
import org.bytedeco.cuda.cudart.CUgraph_st;
import org.bytedeco.cuda.global.cudart;
import org.bytedeco.javacpp.Pointer;

/**
 * One captured CUDA graph of a whole greedy decode step for a batch-size bucket of {@code bucket}
 * sequences (a power of two): the metadata copy from its own pinned buffer, every layer's kernels
 * and GEMMs, the classifier, argmax and the copy of the sampled ids back to pinned memory. A replay
 * is one {@code cuGraphLaunch}, so the step costs no per-kernel launch from the host.
 *
 * <p>Fixed metadata layout (rows beyond the real batch are padding: KV slot offset -1, so nothing
 * is written, position 0 over the first sequence's table):
 * <pre>
 *   [kvOff long bucket][tokens int bucket][pos int bucket][tableStart int bucket][rows int bucket]
 *   [tables int bucket * tableStride]     sequence i's block table at i * tableStride
 * </pre>
 * Threading: device thread only.
 */
final class DecodeGraph implements AutoCloseable {
  final int bucket;
  final int tableStride;
  final int splits;
  final long metaDev;
  final long metaBytes;
  final Pointer metaPinned;
  final ByteBuffer meta;
  final Pointer outPinned;
  final ByteBuffer out;
  final CUgraph_st graph = new CUgraph_st();
  final CUgraphExec_st exec = new CUgraphExec_st();
  private final CudaContext ctx;
  private boolean instantiated;

  private DecodeGraph(CudaContext ctx, int bucket, int tableStride, int splits, long metaDev, long metaBytes, Pointer metaPinned, Pointer outPinned) {
    this.ctx = ctx;
    this.bucket = bucket;
    this.tableStride = tableStride;
    this.splits = splits;
    this.metaDev = metaDev;
    this.metaBytes = metaBytes;
    this.metaPinned = metaPinned;
    this.meta = metaPinned.asByteBuffer().order(ByteOrder.LITTLE_ENDIAN);
    this.outPinned = outPinned;
    this.out = outPinned.asByteBuffer().order(ByteOrder.LITTLE_ENDIAN);
  }

  static DecodeGraph allocate(CudaContext ctx, int bucket, int tableStride, int splits) {
    long bytes = 8L * bucket + 4L * (4L * bucket + (long) bucket * tableStride);
    long dev = ctx.alloc("decode graph metadata", bytes);
    Pointer pinned = ctx.allocHost(bytes);
    Pointer outPinned = ctx.allocHost(4L * bucket);
    DecodeGraph g = new DecodeGraph(ctx, bucket, tableStride, splits, dev, bytes, pinned, outPinned);
    for (int i = 0; i < bucket; i++) g.padding(i);
    return g;
  }

  int oTok() {
    return 8 * bucket;
  }

  int oPos() {
    return 12 * bucket;
  }

  int oTs() {
    return 16 * bucket;
  }

  int oRows() {
    return 20 * bucket;
  }

  int oTab() {
    return 24 * bucket;
  }

  /** Writes row {@code i} as padding. */
  void padding(int i) {
    meta.putLong(8 * i, -1L);
    meta.putInt(oTok() + 4 * i, 0);
    meta.putInt(oPos() + 4 * i, 0);
    meta.putInt(oTs() + 4 * i, 0);
    meta.putInt(oRows() + 4 * i, i);
  }

  /** Captures {@code body} (which queues the step on the device's stream) and instantiates it. */
  void capture(Runnable body) {
    check("cuStreamBeginCapture", cudart.cuStreamBeginCapture(ctx.stream, cudart.CU_STREAM_CAPTURE_MODE_THREAD_LOCAL));
    RuntimeException failure = null;
    try {
      check("cuMemcpyHtoDAsync(graph metadata)", cudart.cuMemcpyHtoDAsync(metaDev, metaPinned, metaBytes, ctx.stream));
      body.run();
    } catch (RuntimeException e) {
      failure = e;
    }
    int end = cudart.cuStreamEndCapture(ctx.stream, graph);
    if (failure != null) throw failure;
    check("cuStreamEndCapture", end);
    check("cuGraphInstantiate", cudart.cuGraphInstantiate(exec, graph, 0L));
    instantiated = true;
  }

  /** Replays the step and waits for it. */
  void launch() {
    check("cuGraphLaunch", cudart.cuGraphLaunch(exec, ctx.stream));
    ctx.synchronize();
  }

  @Override
  public void close() {
    if (instantiated) {
      cudart.cuGraphExecDestroy(exec);
      cudart.cuGraphDestroy(graph);
    }
    ctx.free(metaDev);
    ctx.freeHost(metaPinned);
    ctx.freeHost(outPinned);
  }
}
