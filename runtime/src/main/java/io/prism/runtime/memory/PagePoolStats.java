package io.prism.runtime.memory;

/**
 * Counters of a {@link PagePool} since its construction, for logs and metrics.
 *
 * @param acquireCalls calls to {@link PagePool#acquire} with {@code n > 0}
 * @param exhaustedCalls of those, the ones answered {@link PageAllocation.Exhausted}
 * @param grantedPages pages handed out
 * @param releasedPages pages given back through {@link PagePool#release}
 * @param driverCreates pages created through {@link DeviceMemory#create()}
 * @param criticalPathCreates of those, created inside {@link PagePool#acquire} because the reserve was short
 * @param refillCreates of those, created by {@link PagePool#refillReserve()}
 * @param driverReleases pages released through {@link DeviceMemory#release}
 */
public record PagePoolStats(
    long acquireCalls,
    long exhaustedCalls,
    long grantedPages,
    long releasedPages,
    long driverCreates,
    long criticalPathCreates,
    long refillCreates,
    long driverReleases) {}
