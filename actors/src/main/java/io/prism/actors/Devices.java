package io.prism.actors;

import io.prism.runtime.engine.Device;
import io.prism.runtime.forward.HostDevice;
import java.lang.reflect.InvocationTargetException;
import java.util.ArrayList;
import java.util.List;

/**
 * Opens this node's devices as configured by {@code prism.node.backend}: {@code host} creates
 * {@code prism.node.gpu-count} {@link HostDevice}s; {@code cuda} calls {@code
 * io.prism.cuda.CudaDevices.open(int count, long budgetBytes, long hostPoolBytes, long
 * hostPoolChunkBytes, Duration hostPoolWait)} by reflection, so no CUDA class is ever loaded on a
 * node that does not ask for it (DESIGN.md section 2). The CUDA devices of the node share one pinned
 * host pool ({@code prism.node.host-pool-*}, {@link io.prism.actors.model.HostTierSettings#pinnedPool}),
 * which starts pinning in the background as they open.
 */
public final class Devices {
  /** Class of the CUDA device factory in module cuda-native. */
  public static final String CUDA_FACTORY = "io.prism.cuda.CudaDevices";

  private Devices() {}

  /**
   * @throws IllegalStateException if the CUDA backend is asked for but not on the class path or
   *     fails to open (the message says what to do)
   */
  @SuppressWarnings("unchecked")
  public static List<Device> open(PrismSettings s) {
    if (s.backend().equals("host")) {
      List<Device> out = new ArrayList<>();
      for (int i = 0; i < s.gpuCount(); i++) out.add(new HostDevice(i, s.hostPageBytes(), s.hostThreads()));
      return out;
    }
    try {
      Class<?> factory = Class.forName(CUDA_FACTORY);
      var pool = s.hostPool();
      return (List<Device>) factory.getMethod("open", int.class, long.class, long.class, long.class, java.time.Duration.class)
          .invoke(null, s.gpuCount(), s.memoryBudgetBytes(), pool.bytes(), pool.chunkBytes(), pool.maxWait());
    } catch (ClassNotFoundException | NoSuchMethodException e) {
      throw new IllegalStateException("prism.node.backend = cuda but " + CUDA_FACTORY + ".open(int, long, long, long, Duration) is not on the class path; "
          + "build module cuda-native or use --backend host", e);
    } catch (InvocationTargetException e) {
      Throwable c = e.getCause();
      throw new IllegalStateException("opening the CUDA devices failed: " + (c == null ? e : c.getMessage()), c == null ? e : c);
    } catch (IllegalAccessException e) {
      throw new IllegalStateException(CUDA_FACTORY + ".open must be public static", e);
    }
  }
}
