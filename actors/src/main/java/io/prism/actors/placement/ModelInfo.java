package io.prism.actors.placement;

import io.prism.actors.GpuId;
import io.prism.actors.ModelSpec;
import io.prism.actors.PrismMessage;
import java.util.ArrayList;
import java.util.List;

/**
 * What the placement actor knows about one catalog model.
 *
 * @param spec the catalog entry
 * @param createdEpochSeconds when it was registered (OpenAI {@code created})
 * @param state where it is in its life cycle
 * @param gpu the GPU that serves it; {@code null} unless {@link State#READY} or {@link State#LOADING}
 * @param maxModelLen context length in tokens (prompt plus completion); 0 until loaded
 * @param weightBytes bytes of weights on its GPU; 0 until loaded
 * @param message why it is {@link State#FAILED}, else empty
 * @param replicas the GPUs of its other ready instances ({@link ModelSpec#maxReplicas()} above 1),
 *     in the order they were added; empty for a model with one instance
 */
public record ModelInfo(ModelSpec spec, long createdEpochSeconds, State state, GpuId gpu, int maxModelLen, long weightBytes, String message,
    List<GpuId> replicas) implements PrismMessage {
  public ModelInfo {
    replicas = List.copyOf(replicas);
  }

  /** A model with one instance (no replicas). */
  public ModelInfo(ModelSpec spec, long createdEpochSeconds, State state, GpuId gpu, int maxModelLen, long weightBytes, String message) {
    this(spec, createdEpochSeconds, state, gpu, maxModelLen, weightBytes, message, List.of());
  }

  /** Every GPU that serves the model: {@link #gpu()} (if any) then {@link #replicas()}. */
  public List<GpuId> instances() {
    List<GpuId> out = new ArrayList<>();
    if (gpu != null) out.add(gpu);
    out.addAll(replicas);
    return out;
  }

  /** Life cycle of a catalog model. */
  public enum State {
    /** Registered; a GPU is loading it (or none is known yet). */
    LOADING,
    /** Resident on {@link #gpu()} and serving. */
    READY,
    /** No GPU could load it; {@link #message()} says why. */
    FAILED
  }

  /** The model id ({@code spec.id()}). */
  public String id() {
    return spec.id();
  }
}
