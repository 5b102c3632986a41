package io.prism.cuda;

import io.prism.runtime.engine.Device;
import io.prism.runtime.engine.ForwardBackend;
import io.prism.runtime.memory.DeviceMemory;
import io.prism.runtime.memory.KvCache;
import io.prism.runtime.model.LoadedModel;

/**
 * One NVIDIA GPU as the engine sees it: VMM-backed {@link CudaDeviceMemory} for KV pages and the
 * CUDA forward pass for models loaded on it. Obtained only from {@link CudaDevices#open}.
 *
 * <p>Weights: host weights ({@link LoadedModel#weights()}) are converted and uploaded; a model
 * without host weights (a {@code random:NAME} shape too large for the host) gets random weights
 * generated on the device. Threading: every method from the device's one thread (DESIGN.md
 * section 2); each call makes the device's context current on that thread.
 */
public final class CudaDevice implements Device {
  private final int index;
  private final CudaContext ctx;
  private final CudaDeviceMemory memory;
  private final Precision precision;
  private final int chunkTokens;
  private boolean closed;

  CudaDevice(int index, CudaContext ctx, Precision precision, int chunkTokens) {
    this.index = index;
    this.ctx = ctx;
    this.memory = new CudaDeviceMemory(ctx);
    this.precision = precision;
    this.chunkTokens = chunkTokens;
  }

  @Override
  public int index() {
    return index;
  }

  @Override
  public String description() {
    return ctx.description();
  }

  @Override
  public DeviceMemory memory() {
    return memory;
  }

  /** 2 (bf16 KV cache) in {@link Precision#BF16}, 4 in {@link Precision#FP32}. */
  @Override
  public int kvElementBytes() {
    return precision.elementBytes;
  }

  /** Precision of weights, activations and KV on this device. */
  public Precision precision() {
    return precision;
  }

  /** Total device memory in bytes ({@code cuDeviceTotalMem}). */
  public long totalMemoryBytes() {
    return ctx.totalMemoryBytes;
  }

  /** Streaming multiprocessors on the device. */
  public int multiprocessors() {
    return ctx.multiprocessors;
  }

  /** Milliseconds NVRTC took to compile the kernels in this process (0 if they were compiled for an earlier device). */
  public double kernelCompileMillis() {
    return ctx.kernels.compileMillis;
  }

  /**
   * Uploads (or generates) {@code model}'s weights and returns its forward pass over {@code kv}.
   *
   * @throws IllegalArgumentException if the KV cache's element size is not {@link #kvElementBytes()}
   */
  @Override
  public CudaForwardBackend load(LoadedModel model, KvCache kv) {
    return load(model, kv, 1);
  }

  /** {@link #load(LoadedModel, KvCache)} with the seed used when random weights are generated. */
  public CudaForwardBackend load(LoadedModel model, KvCache kv, long randomSeed) {
    open();
    ctx.makeCurrent();
    if (kv.elementBytes() != precision.elementBytes) {
      throw new IllegalArgumentException("KV cache of " + model.id() + " has " + kv.elementBytes() + "-byte elements; this device uses "
          + precision.elementBytes + " (" + precision + ")");
    }
    DeviceWeights w = model.weights() != null
        ? DeviceWeights.upload(ctx, model.weights(), precision)
        : DeviceWeights.random(ctx, model.config(), precision, randomSeed);
    try {
      return CudaForwardBackend.create(ctx, w, kv, chunkTokens);
    } catch (RuntimeException e) {
      w.close();
      throw e;
    }
  }

  @Override
  public long weightBytes(LoadedModel model) {
    return DeviceWeights.bytesFor(model.config(), precision);
  }

  /** Package-private access for benchmarks and tests in this module. */
  CudaContext context() {
    return ctx;
  }

  private void open() {
    if (closed) throw new IllegalStateException("device " + index + " is closed");
  }

  /** Releases every page and range still held, then the context. Backends must be closed first. */
  @Override
  public void close() {
    if (closed) return;
    closed = true;
    try {
      memory.close();
    } finally {
      ctx.close();
    }
  }
}
