package io.prism.runtime.memory;

/**
 * The thin driver layer under the KV cache, shaped after the CUDA virtual memory management API
 * (CUDA Driver API, "Virtual Memory Management"). Two real implementations: a host one that enforces
 * the driver's rules (granularity, no double map, no unmap of an unmapped offset, live-page counts)
 * and the CUDA one in {@code cuda-native}.
 *
 * <p>Threading: confined to the one thread that owns the device (DESIGN.md section 2). Errors:
 * misuse (unaligned offset, double map) is {@link IllegalArgumentException} or {@link
 * IllegalStateException}; a failed driver call is a {@link DeviceException}.
 */
public interface DeviceMemory extends AutoCloseable {
  /** Page granularity in bytes: 2 MiB for CUDA VMM on Hopper; configurable on the host. */
  long granularity();

  /** Reserves {@code bytes} (rounded up to the granularity) of virtual address space. */
  VirtualRange reserve(long bytes);

  /** Frees a reserved range; every page in it must already be unmapped. */
  void free(VirtualRange range);

  /** Creates one physical page ({@code cuMemCreate}). */
  PhysicalPage create();

  /** Releases a physical page that is not mapped anywhere ({@code cuMemRelease}). */
  void release(PhysicalPage page);

  /** Maps {@code page} at {@code offset} (a multiple of the granularity) and grants read/write access. */
  void map(VirtualRange range, long offset, PhysicalPage page);

  /** Unmaps the page at {@code offset}; returns the page, which stays alive for reuse or release. */
  PhysicalPage unmap(VirtualRange range, long offset);

  /** Physical pages created and not yet released. */
  long livePages();

  /** Physical pages currently mapped somewhere. */
  long mappedPages();

  /** Releases everything still held; idempotent. */
  @Override
  void close();
}
