package io.prism.actors.model;

import io.prism.actors.PrismMessage;
import io.prism.actors.gpu.GpuStatus;

/**
 * A model actor's answer to {@link ModelActor.GetStatus}: its status and the state of its own
 * invariants (engine blocks and scheduler, page lease), checked by itself.
 *
 * @param status the model instance (books empty; the GPU actor adds them)
 * @param invariantViolation the first violation of its own invariants seen, empty when none
 * @param invariantChecks checks run ({@code prism.gpu.check-invariants}), 0 when off
 */
public record ModelReport(GpuStatus.ModelStatus status, String invariantViolation, long invariantChecks) implements PrismMessage {}
