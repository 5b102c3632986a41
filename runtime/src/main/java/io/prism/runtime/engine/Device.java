package io.prism.runtime.engine;

import io.prism.runtime.memory.DeviceMemory;
import io.prism.runtime.memory.KvCache;
import io.prism.runtime.model.LoadedModel;

/**
 * One accelerator as the engine sees it: its memory (the VMM-shaped driver layer) and a way to
 * put a model's weights on it. Implementations: {@code io.prism.runtime.forward.HostDevice} (the
 * CPU "GPU" every test uses) and {@code io.prism.cuda.CudaDevice} (loaded only by name, through
 * {@link #open}, so CPU code never loads CUDA classes by accident).
 *
 * <p>Threading: every method is called from the single thread that owns this device (DESIGN.md
 * section 2: one thread owns a CUDA context).
 */
public interface Device extends AutoCloseable {
  /** Index of this device on its node (0-based). */
  int index();

  /** Human-readable description, e.g. {@code "host-cpu-0"} or {@code "NVIDIA H200 (cuda:0)"}. */
  String description();

  /** The driver layer over this device's memory: page granularity, reserve/map/unmap. */
  DeviceMemory memory();

  /** Bytes per KV-cache element on this device: 4 (float32 host) or 2 (bf16 CUDA). */
  int kvElementBytes();

  /**
   * Puts {@code model}'s weights on the device and returns its forward pass over {@code kv}.
   * Weight bytes are accounted by the caller (the page pool's budget) before this call.
   *
   * @throws IllegalArgumentException if the model cannot run on this device (e.g. host weights missing)
   */
  ForwardBackend load(LoadedModel model, KvCache kv);

  /** Bytes the weights of {@code model} will occupy on this device. */
  long weightBytes(LoadedModel model);

  @Override
  void close();
}
