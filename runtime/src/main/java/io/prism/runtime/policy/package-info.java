/**
 * Prism's scheduling policies as pure functions over plain state records (DESIGN.md sections 2 and 6),
 * so that the actors, the unit tests and the trace-driven simulator ({@code policy.sim}) run the same
 * code. Nothing here reads a clock, touches a device or sends a message: every time is an explicit
 * {@code long} nanosecond argument (any monotonic origin, e.g. {@link System#nanoTime()} or simulated
 * time) and every decision is a returned value.
 *
 * <ul>
 *   <li>Global placement: {@link io.prism.runtime.policy.KvprPlacement} (the paper's Algorithm 1) and
 *       {@link io.prism.runtime.policy.MostFreeMemoryPlacement} (the simple baseline), both
 *       {@link io.prism.runtime.policy.PlacementPolicy}.
 *   <li>Local admission: {@link io.prism.runtime.policy.MooreHodgsonAdmission} (Algorithm 2).
 *   <li>Memory: {@link io.prism.runtime.policy.ReclaimPolicy} (issue 5's reclaim order),
 *       {@link io.prism.runtime.policy.DecodePreemptionPolicy}, {@link io.prism.runtime.policy.IdleEvictionPolicy}.
 *   <li>Load signal: {@link io.prism.runtime.policy.RateEstimator} (60 s moving token rate).
 * </ul>
 *
 * <p>Source: Yu et al., "Prism: Cost-Efficient Multi-LLM Serving via GPU Memory Ballooning",
 * arXiv 2505.04021; Moore, "An n job, one machine sequencing algorithm for minimizing the number of
 * late jobs", Management Science 15(1), 1968 (Hodgson's simplification).
 */
package io.prism.runtime.policy;
