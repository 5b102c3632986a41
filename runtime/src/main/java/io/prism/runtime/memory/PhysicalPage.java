package io.prism.runtime.memory;

/**
 * One physical device-memory allocation of exactly {@link DeviceMemory#granularity()} bytes
 * ({@code cuMemCreate}); mapped into at most one place of one {@link VirtualRange} at a time.
 */
public interface PhysicalPage {
  /** Unique id within its {@link DeviceMemory}, for accounting and logs. */
  long id();

  /** Size in bytes (the granularity). */
  long sizeBytes();
}
