package io.prism.actors.placement;

import io.prism.actors.GpuId;
import io.prism.actors.ModelSpec;
import io.prism.actors.PrismMessage;

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
 */
public record ModelInfo(ModelSpec spec, long createdEpochSeconds, State state, GpuId gpu, int maxModelLen, long weightBytes, String message)
    implements PrismMessage {
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
