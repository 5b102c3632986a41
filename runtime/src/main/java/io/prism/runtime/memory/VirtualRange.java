package io.prism.runtime.memory;

/**
 * Reserved, unbacked device address space ({@code cuMemAddressReserve}). Physical pages are mapped
 * into it at multiples of the granularity. Handles are created and used only by a {@link
 * DeviceMemory} and the thread that owns it.
 */
public interface VirtualRange {
  /** Device virtual address of byte 0 (an opaque id on the host backend). */
  long address();

  /** Reserved size in bytes, a multiple of {@link DeviceMemory#granularity()}. */
  long sizeBytes();
}
