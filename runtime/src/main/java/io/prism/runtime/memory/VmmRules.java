package io.prism.runtime.memory;

/**
 * The address rules of CUDA virtual memory management (CUDA Driver API, {@code cuMemMap}: offsets
 * and sizes are multiples of the allocation granularity) in one place, so the host and CUDA
 * {@link DeviceMemory} implementations reject the same misuse with the same message before any
 * driver call. Stateless; thread-safe.
 */
public final class VmmRules {
  private VmmRules() {}

  /**
   * Index of the page slot at byte {@code offset} of a range of {@code rangeBytes}.
   *
   * @param offset byte offset into the range; must be a multiple of {@code granularity} and inside it
   * @param rangeBytes reserved size of the range in bytes
   * @param granularity page size in bytes (2 MiB on CUDA)
   * @return {@code offset / granularity}
   * @throws IllegalArgumentException if the offset is negative, unaligned or past the range
   */
  public static int pageSlot(long offset, long rangeBytes, long granularity) {
    if (offset < 0 || offset % granularity != 0 || offset >= rangeBytes) {
      throw new IllegalArgumentException("offset " + offset + " is not a granularity-aligned offset inside a range of " + rangeBytes + " bytes");
    }
    return (int) (offset / granularity);
  }
}
