package io.prism.cuda;

import io.prism.runtime.engine.Device;
import io.prism.runtime.engine.ForwardBackend;
import io.prism.runtime.memory.DeviceMemory;
import io.prism.runtime.memory.KvCache;
import io.prism.runtime.model.GgmlType;
import io.prism.runtime.model.GgufLoader;
import io.prism.runtime.model.GgufReader;
import io.prism.runtime.model.LoadedModel;
import io.prism.runtime.model.ModelConfig;
import io.prism.runtime.model.QuantizedMatrices;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.function.BiFunction;

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
  private final PinnedHostPool hostPool;
  private boolean closed;

  /** Over an open context; {@code hostPool} is retained here and released by {@link #close()}. */
  CudaDevice(int index, CudaContext ctx, Precision precision, int chunkTokens, PinnedHostPool hostPool) {
    this.index = index;
    this.ctx = ctx;
    this.memory = new CudaDeviceMemory(ctx);
    this.precision = precision;
    this.chunkTokens = chunkTokens;
    this.hostPool = hostPool;
    hostPool.retain();
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
   * <p>Quantized weights stay quantized: a GGUF model ({@code model.source()} ending in {@code
   * .gguf}) whose layer matrices are all Q4_K, Q6_K or Q8_0 keeps them (and a classifier of those
   * types) as blocks in device memory, multiplied by dequantising GEMVs; other GGUF types (Q5_K,
   * Q4_0, ...) are uploaded dense from the host's dequantised floats. Property {@code
   * prism.cuda.quantized=false} uploads every model dense. A random model ({@code weights()} null)
   * is generated dense, or quantized with {@code -Dprism.cuda.random-quant=q4_k_m} (also {@code
   * q6_k}, {@code q8_0}).
   *
   * @throws IllegalArgumentException if the KV cache's element size is not {@link #kvElementBytes()},
   *     or {@code prism.cuda.random-quant} names an unknown mix
   */
  @Override
  public CudaForwardBackend load(LoadedModel model, KvCache kv) {
    return load(model, kv, 1);
  }

  /** {@link #load(LoadedModel, KvCache)} with the seed used when random weights are generated. */
  public CudaForwardBackend load(LoadedModel model, KvCache kv, long randomSeed) {
    open();
    ctx.makeCurrent();
    checkKv(model, kv);
    CudaForwardBackend b = backend(weights(model, randomSeed), kv);
    b.reloader(m -> { // the disk tier: the same load path, the same seed
      ctx.makeCurrent();
      return weights(m, randomSeed);
    });
    return b;
  }

  /** Uploads {@code model}'s host weights, or generates random ones from {@code randomSeed} when it has none. */
  private DeviceWeights weights(LoadedModel model, long randomSeed) {
    if (model.weights() != null) return DeviceWeights.upload(ctx, model.weights(), quantizedOf(model), precision);
    BiFunction<Integer, Integer, GgmlType> mix = randomMix(model.config());
    return mix == null ? DeviceWeights.random(ctx, model.config(), precision, randomSeed)
        : DeviceWeights.randomQuantized(ctx, model.config(), precision, randomSeed, mix);
  }

  /**
   * Uploads {@code model}'s weights with the layer matrices of {@code q} kept quantized (all of a
   * type in {@link DeviceWeights#DEVICE_TYPES}) and returns its forward pass over {@code kv}.
   *
   * @throws IllegalArgumentException for a matrix type the device does not compute with, or a KV
   *     cache of the wrong element size
   */
  public CudaForwardBackend loadQuantized(LoadedModel model, QuantizedMatrices q, KvCache kv) {
    open();
    ctx.makeCurrent();
    checkKv(model, kv);
    return backend(DeviceWeights.upload(ctx, model.weights(), q, precision), kv);
  }

  private void checkKv(LoadedModel model, KvCache kv) {
    if (kv.elementBytes() != precision.elementBytes) {
      throw new IllegalArgumentException("KV cache of " + model.id() + " has " + kv.elementBytes() + "-byte elements; this device uses "
          + precision.elementBytes + " (" + precision + ")");
    }
  }

  private CudaForwardBackend backend(DeviceWeights w, KvCache kv) {
    try {
      return CudaForwardBackend.create(ctx, w, kv, chunkTokens, hostPool);
    } catch (RuntimeException e) {
      w.close();
      throw e;
    }
  }

  @Override
  public long weightBytes(LoadedModel model) {
    return weightBytes(model, precision);
  }

  /** Device bytes of {@code model}'s weights in {@code precision} (as {@link #weightBytes(LoadedModel)}; no device needed). */
  static long weightBytes(LoadedModel model, Precision precision) {
    ModelConfig c = model.config();
    if (model.weights() == null) {
      BiFunction<Integer, Integer, GgmlType> mix = randomMix(c);
      if (mix == null) return DeviceWeights.bytesFor(c, precision);
      GgmlType[][] t = new GgmlType[c.numLayers()][7];
      for (int i = 0; i < t.length; i++) for (int m = 0; m < 7; m++) t[i][m] = mix.apply(i, m);
      return DeviceWeights.bytesFor(c, precision, t, mix.apply(-1, -1));
    }
    GgufReader.GgufFile g = ggufOf(model);
    if (g == null) return DeviceWeights.bytesFor(c, precision);
    GgmlType[][] t = new GgmlType[c.numLayers()][7];
    for (int i = 0; i < t.length; i++) {
      for (int m = 0; m < 7; m++) {
        t[i][m] = GgmlType.fromId(g.tensors().get("blk." + i + "." + QuantizedMatrices.GGUF_NAMES[m] + ".weight").typeId());
        if (!DeviceWeights.DEVICE_TYPES.contains(t[i][m])) return DeviceWeights.bytesFor(c, precision);
      }
    }
    GgmlType cls = GgmlType.fromId(g.tensors().get(c.sharedClassifier() ? "token_embd.weight" : "output.weight").typeId());
    return DeviceWeights.bytesFor(c, precision, t, DeviceWeights.DEVICE_TYPES.contains(cls) ? cls : null);
  }

  /** The GGUF header of a model loaded from a {@code .gguf} file when quantized uploads are on, else null. */
  private static GgufReader.GgufFile ggufOf(LoadedModel model) {
    if (!Boolean.parseBoolean(System.getProperty("prism.cuda.quantized", "true"))) return null;
    String src = model.source();
    if (src == null || !src.toLowerCase(Locale.ROOT).endsWith(".gguf") || !Files.isRegularFile(Path.of(src))) return null;
    return GgufReader.read(Path.of(src));
  }

  private static QuantizedMatrices quantizedOf(LoadedModel model) {
    GgufReader.GgufFile g = ggufOf(model);
    return g == null ? null : GgufLoader.loadQuantized(g, model.config(), DeviceWeights.DEVICE_TYPES);
  }

  /** The block-type mix of {@code prism.cuda.random-quant} for random weights, or null (dense). */
  static BiFunction<Integer, Integer, GgmlType> randomMix(ModelConfig c) {
    String name = System.getProperty("prism.cuda.random-quant", "").trim().toLowerCase(Locale.ROOT);
    return switch (name) {
      case "", "none", "bf16" -> null;
      case "q4_k_m" -> QuantizedMatrices.kMix(c, GgmlType.Q4_K);
      case "q6_k" -> (l, m) -> GgmlType.Q6_K;
      case "q8_0" -> (l, m) -> GgmlType.Q8_0;
      default -> throw new IllegalArgumentException("prism.cuda.random-quant=" + name + ": expected q4_k_m, q6_k, q8_0 or none");
    };
  }

  /** Package-private access for benchmarks and tests in this module. */
  CudaContext context() {
    return ctx;
  }

  /** The node's pinned host pool that this device's evicted weights are copied into (shared with its other devices). */
  PinnedHostPool hostPool() {
    return hostPool;
  }

  /** The pinned host pool's figures now (chunks pinned, free, leased; shared by the node's devices). */
  PinnedChunkPool.Usage hostPoolUsage() {
    return hostPool.chunks().usage();
  }

  private void open() {
    if (closed) throw new IllegalStateException("device " + index + " is closed");
  }

  /**
   * Releases every page and range still held, then the context, then this device's share of the
   * pinned host pool (the node's last device frees it). Backends must be closed first.
   */
  @Override
  public void close() {
    if (closed) return;
    closed = true;
    try {
      memory.close();
    } finally {
      try {
        ctx.close();
      } finally {
        hostPool.release();
      }
    }
  }
}
