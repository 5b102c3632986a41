package io.prism.actors.gpu;

import io.prism.actors.GpuId;
import io.prism.actors.PrismMessage;

import java.util.List;
import java.util.Map;

/**
 * Per-step samples of a device's memory ({@code prism.gpu.trace-steps} most recent), for tests and
 * benchmarks: after every engine step, which model stepped and the pages each model held.
 *
 * @param gpu the device
 * @param samples oldest first
 */
public record StepTrace(GpuId gpu, List<Sample> samples) implements PrismMessage {
  /**
   * One step.
   *
   * @param seq step number on the device, from 1
   * @param nanos when, on the device's clock
   * @param modelId the model that stepped
   * @param pagesHeld pages held per model (every model on the device) after the step
   */
  public record Sample(long seq, long nanos, String modelId, Map<String, Integer> pagesHeld) implements PrismMessage {}
}
