package io.prism.runtime.memory;

import java.util.List;

/**
 * Outcome of {@link PagePool#acquire(String, int)}: all requested pages, or none and how many the
 * owner could have had. Shortage is a value, never an exception (DESIGN.md section 4).
 */
public sealed interface PageAllocation {
  /**
   * The pages, now held by the owner (unmapped; the caller maps them).
   *
   * @param pages exactly the requested number, immutable
   */
  record Granted(List<PhysicalPage> pages) implements PageAllocation {
    public Granted {
      pages = List.copyOf(pages);
    }
  }

  /**
   * Nothing was handed out.
   *
   * @param available pages this owner could be granted right now (less than requested)
   */
  record Exhausted(int available) implements PageAllocation {}
}
