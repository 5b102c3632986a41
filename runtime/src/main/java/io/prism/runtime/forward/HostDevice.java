package io.prism.runtime.forward;

import io.prism.runtime.engine.Device;
import io.prism.runtime.engine.ForwardBackend;
import io.prism.runtime.memory.DeviceMemory;
import io.prism.runtime.memory.HostDeviceMemory;
import io.prism.runtime.memory.KvCache;
import io.prism.runtime.model.LoadedModel;

/**
 * A CPU stand-in for a GPU: a {@link HostDeviceMemory} (float pages with the CUDA VMM driver's
 * rules) and the {@link HostForwardBackend}. Every test and the embedded default server run on it.
 * Weights stay in the model's host arrays (shared between instances, never copied); they are still
 * accounted against the device's budget by the caller, as on a real GPU.
 *
 * <p>Construction does no work beyond creating the (empty) memory. Threading: like every {@link
 * Device}, used from the one thread that owns it; each backend it creates runs {@code threads}
 * threads inside its forward pass (the calling thread included).
 */
public final class HostDevice implements Device {
  /** Host page size used unless configured: 64 KiB, so small models use many pages. */
  public static final long DEFAULT_PAGE_BYTES = 64 * 1024;

  private final int index;
  private final HostDeviceMemory memory;
  private final int threads;

  /**
   * @param index device index on this node, {@code >= 0}
   * @param pageBytes page granularity in bytes (a positive multiple of 4096; {@link #DEFAULT_PAGE_BYTES})
   * @param threads threads of each forward pass, {@code >= 1}
   * @throws IllegalArgumentException naming the value out of range
   */
  public HostDevice(int index, long pageBytes, int threads) {
    if (index < 0) throw new IllegalArgumentException("device index must be >= 0, got " + index);
    if (threads < 1) throw new IllegalArgumentException("threads must be >= 1, got " + threads);
    this.index = index;
    this.memory = new HostDeviceMemory(pageBytes);
    this.threads = threads;
  }

  @Override
  public int index() {
    return index;
  }

  @Override
  public String description() {
    return "host-cpu-" + index;
  }

  @Override
  public DeviceMemory memory() {
    return memory;
  }

  /** The host backend stores K and V as float32. */
  @Override
  public int kvElementBytes() {
    return Float.BYTES;
  }

  /**
   * @throws IllegalArgumentException if the model has no host weights (a random shape too large
   *     for the host) or the cache is not of this device
   */
  @Override
  public ForwardBackend load(LoadedModel model, KvCache kv) {
    if (model.weights() == null) {
      throw new IllegalArgumentException("model " + model.id() + " has no host weights; the host device cannot run it (use --backend cuda)");
    }
    if (kv.memory() != memory) throw new IllegalArgumentException("KV cache of model " + model.id() + " is not in the memory of " + description());
    return new HostForwardBackend(model.weights(), kv, threads);
  }

  /** Float32 bytes of the weights ({@link io.prism.runtime.model.ModelConfig#parameterCount()} x 4). */
  @Override
  public long weightBytes(LoadedModel model) {
    return model.config().parameterCount() * Float.BYTES;
  }

  @Override
  public void close() {
    memory.close();
  }

  @Override
  public String toString() {
    return description();
  }
}
