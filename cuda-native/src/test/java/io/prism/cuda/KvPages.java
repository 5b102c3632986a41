package io.prism.cuda;

import io.prism.runtime.memory.DeviceMemory;
import io.prism.runtime.memory.KvCache;
import io.prism.runtime.memory.PhysicalPage;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;

/**
 * A tiny page pool for the GPU tests (the real one is engine-kv's PagePool): a free list of
 * physical pages shared by several KV caches on one device memory, mapping a page id on demand.
 */
final class KvPages {
  final DeviceMemory mem;
  final Deque<PhysicalPage> free = new ArrayDeque<>();
  long maps, unmaps, creates;

  KvPages(DeviceMemory mem) {
    this.mem = mem;
  }

  /** Maps {@code pageId} of {@code kv} if it is not mapped, taking pages from the free list first. */
  void ensure(KvCache kv, int pageId) {
    if (kv.isMapped(pageId)) return;
    List<PhysicalPage> pages = new ArrayList<>();
    for (int i = 0; i < kv.physicalPagesPerPageId(); i++) {
      if (free.isEmpty()) {
        free.add(mem.create());
        creates++;
      }
      pages.add(free.poll());
    }
    kv.map(pageId, pages);
    maps++;
  }

  /** Maps the page ids holding every block of {@code table}. */
  void ensureBlocks(KvCache kv, int[] table) {
    for (int b : table) ensure(kv, b / kv.blocksPerPage());
  }

  void unmap(KvCache kv, int pageId) {
    free.addAll(kv.unmap(pageId));
    unmaps++;
  }

  void unmapAll(KvCache kv) {
    for (int p = 0; p < kv.maxPages(); p++) if (kv.isMapped(p)) unmap(kv, p);
  }

  void releaseAll() {
    while (!free.isEmpty()) mem.release(free.poll());
  }
}
