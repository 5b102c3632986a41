/**
 * A trace-driven, discrete-event simulator of multi-model serving on a few GPUs, running the same
 * policy code as the server ({@code io.prism.runtime.policy}). Deterministic for a given seed; no
 * clock, no threads; reads only the public traces in {@code ../shared/traces} ({@link
 * io.prism.runtime.policy.sim.Traces}).
 *
 * <p>Pieces: {@link io.prism.runtime.policy.sim.ModelProfile} and {@link
 * io.prism.runtime.policy.sim.GpuProfile} (an analytic cost model: prefill is compute-bound, a
 * decode step reads the weights and the batch's KV from HBM, activation copies the weights over
 * the host link); {@link io.prism.runtime.policy.sim.Workload} (arrivals per model from ServeGen
 * rates with long-tail popularity and on/off bursts, lengths from the Azure traces); {@link
 * io.prism.runtime.policy.sim.SimPolicy} (Prism vs MuxServe++ vs static partition);
 * {@link io.prism.runtime.policy.sim.Simulator}; {@link io.prism.runtime.policy.sim.SimResult}; and
 * {@link io.prism.runtime.policy.sim.PrismSimBenchmark}, the table printer.
 *
 * <p>What it leaves out (on purpose, to stay small and checkable): chunked prefill, prefix caching,
 * spatial kernel overlap between co-located models (their steps are serialised on the GPU),
 * network and tokenisation time, tensor parallelism.
 */
package io.prism.runtime.policy.sim;
