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
 * 2048).
 */
public final class CudaDevices {
  private CudaDevices() {}

  /**
   * Opens GPUs {@code 0 .. count-1} with the precision from {@code prism.cuda.precision}.
   *
   * @param count GPUs to open, at least 1 and at most the number visible
   * @param budgetBytes device-memory budget per GPU (weights + KV pages + workspace); must not
   *     exceed the GPU's total memory
   * @throws IllegalArgumentException if {@code count} or {@code budgetBytes} is out of range (the
   *     message says how many GPUs and bytes there are)
   * @throws io.prism.runtime.memory.DeviceException if the driver fails (no driver, no GPU)
   */
  public static List<Device> open(int count, long budgetBytes) {
    String prop = System.getProperty("prism.cuda.precision", "bf16").trim().toLowerCase();
    Precision p = switch (prop) {
      case "bf16" -> Precision.BF16;
      case "fp32", "f32", "float32" -> Precision.FP32;
      default -> throw new IllegalArgumentException("prism.cuda.precision must be bf16 or fp32, got " + prop);
    };
    int chunk = Integer.getInteger("prism.cuda.chunk-tokens", CudaForwardBackend.DEFAULT_CHUNK_TOKENS);
    return new ArrayList<>(open(count, budgetBytes, p, chunk));
  }

  /** Like {@link #open(int, long)} with an explicit precision and chunk size. */
  public static List<CudaDevice> open(int count, long budgetBytes, Precision precision, int chunkTokens) {
    if (count < 1) throw new IllegalArgumentException("GPU count must be >= 1, got " + count);
    int visible = CudaContext.deviceCount();
    if (count > visible) throw new IllegalArgumentException("asked for " + count + " GPUs but " + visible + " are visible; lower prism.gpu.count");
    List<CudaDevice> out = new ArrayList<>();
    try {
      for (int i = 0; i < count; i++) {
        CudaContext ctx = CudaContext.open(i);
        if (budgetBytes <= 0 || budgetBytes > ctx.totalMemoryBytes) {
          ctx.close();
          throw new IllegalArgumentException("GPU budget " + budgetBytes + " bytes is outside (0, " + ctx.totalMemoryBytes
              + "] for " + ctx.description() + "; lower prism.gpu.memory-budget");
        }
        out.add(new CudaDevice(i, ctx, precision, chunkTokens));
      }
    } catch (RuntimeException e) {
      for (CudaDevice d : out) d.close();
      throw e;
    }
    return out;
  }
}
