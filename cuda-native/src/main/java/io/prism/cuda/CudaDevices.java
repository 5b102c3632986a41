package io.prism.cuda;

import io.prism.runtime.engine.Device;
import java.util.ArrayList;
import java.util.List;

/**
 * The only entry point of the CUDA backend: the server loads this class by name for {@code
 * --backend cuda}, so no CUDA class is ever loaded on a machine that did not ask for one.
 *
 * <p>Precision comes from the system property {@code prism.cuda.precision} ({@code bf16}, the
 * default, or {@code fp32}); tokens per forward chunk from {@code prism.cuda.chunk-tokens} (default
 * 2048). Evicted weights go to one pinned host pool per call of {@code open}, shared by its devices
 * ({@link PinnedPoolSettings}, {@link PinnedHostPool}).
 */
public final class CudaDevices {
  private CudaDevices() {}

  /**
   * Opens GPUs {@code 0 .. count-1} with the precision from {@code prism.cuda.precision}.
   *
   * @param count GPUs to open, at most the number visible; 0 opens every visible GPU
   * @param budgetBytes device-memory budget per GPU (weights + KV pages + workspace); must not
   *     exceed the GPU's total memory
   * @throws IllegalArgumentException if {@code count} or {@code budgetBytes} is out of range (the
   *     message says how many GPUs and bytes there are)
   * @throws io.prism.runtime.memory.DeviceException if the driver fails (no driver, no GPU)
   */
  public static List<Device> open(int count, long budgetBytes) {
    return open(count, budgetBytes, 0, PinnedPoolSettings.DEFAULT_CHUNK_BYTES, java.time.Duration.ZERO);
  }

  /**
   * Opens GPUs as {@link #open(int, long)} with a pinned host pool of {@code hostPoolBytes} shared
   * by them (see {@link PinnedPoolSettings}; fill threads from {@code prism.cuda.host-pool-threads}).
   * The server's entry point ({@code io.prism.actors.Devices} calls it by name with {@code
   * prism.node.host-pool-bytes}, {@code host-pool-chunk} and {@code host-pool-wait}).
   *
   * @throws IllegalArgumentException if a count, budget or pool value is out of range (the message names it)
   * @throws io.prism.runtime.memory.DeviceException if the driver fails (no driver, no GPU)
   */
  public static List<Device> open(int count, long budgetBytes, long hostPoolBytes, long hostPoolChunkBytes, java.time.Duration hostPoolWait) {
    PinnedPoolSettings pool = new PinnedPoolSettings(hostPoolBytes, hostPoolChunkBytes, hostPoolWait, PinnedPoolSettings.fillThreadsProperty());
    String prop = System.getProperty("prism.cuda.precision", "bf16").trim().toLowerCase();
    Precision p = switch (prop) {
      case "bf16" -> Precision.BF16;
      case "fp32", "f32", "float32" -> Precision.FP32;
      default -> throw new IllegalArgumentException("prism.cuda.precision must be bf16 or fp32, got " + prop);
    };
    int chunk = Integer.getInteger("prism.cuda.chunk-tokens", CudaForwardBackend.DEFAULT_CHUNK_TOKENS);
    if (count == 0) count = CudaContext.deviceCount(); // prism.node.gpu-count = 0: every visible GPU
    return new ArrayList<>(open(count, budgetBytes, p, chunk, pool));
  }

  /** Like {@link #open(int, long)} with an explicit precision and chunk size, and no pinned pool made ahead ({@link PinnedPoolSettings#NONE}). */
  public static List<CudaDevice> open(int count, long budgetBytes, Precision precision, int chunkTokens) {
    return open(count, budgetBytes, precision, chunkTokens, PinnedPoolSettings.NONE);
  }

  /**
   * Like {@link #open(int, long)} with an explicit precision, chunk size and pinned host pool; the
   * pool is shared by the devices opened here and starts filling before this returns (in the
   * background), freed when the last of them closes.
   */
  public static List<CudaDevice> open(int count, long budgetBytes, Precision precision, int chunkTokens, PinnedPoolSettings hostPool) {
    if (count < 1) throw new IllegalArgumentException("GPU count must be >= 1, got " + count);
    int visible = CudaContext.deviceCount();
    if (count > visible) throw new IllegalArgumentException("asked for " + count + " GPUs but " + visible + " are visible; lower prism.gpu.count");
    List<CudaDevice> out = new ArrayList<>();
    PinnedHostPool pool = null;
    try {
      for (int i = 0; i < count; i++) {
        CudaContext ctx = CudaContext.open(i);
        if (budgetBytes <= 0 || budgetBytes > ctx.totalMemoryBytes) {
          ctx.close();
          throw new IllegalArgumentException("GPU budget " + budgetBytes + " bytes is outside (0, " + ctx.totalMemoryBytes
              + "] for " + ctx.description() + "; lower prism.gpu.memory-budget");
        }
        if (pool == null) pool = PinnedHostPool.open(0, hostPool);
        out.add(new CudaDevice(i, ctx, precision, chunkTokens, pool));
      }
    } catch (RuntimeException e) {
      for (CudaDevice d : out) d.close();
      if (out.isEmpty() && pool != null) { // retained by no device yet
        pool.retain();
        pool.release();
      }
      throw e;
    }
    return out;
  }
}
