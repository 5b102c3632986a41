package io.prism.actors.frontend;

import io.prism.actors.GpuId;
import io.prism.actors.PrismMessage;
import io.prism.actors.gpu.GpuActor;
import io.prism.actors.model.ModelActor;

import io.prism.runtime.engine.FinishReason;
import io.prism.runtime.engine.GeneratedLogprobs;
import io.prism.runtime.engine.Rejection;
import org.apache.pekko.actor.typed.ActorRef;

/**
 * What the requester of a {@link GenerateRequest} receives, in order: either one {@link Rejected},
 * or one {@link Started}, zero or more {@link Chunk}s (of any choice, interleaved), for an {@code n
 * > 1} request {@code n - 1} {@link ChoiceCompleted}s, and exactly one {@link Completed}. The
 * requester may be on another node; every event crosses it with Kryo.
 *
 * <p>{@link Routing} events are internal: they tell the {@link Frontend}'s per-request {@link
 * RequestRelay} where the request is (sent to a GPU, queued there) so it can bound each wait and
 * watch the actor the request depends on; the relay never forwards them.
 */
public sealed interface GenerationEvent extends PrismMessage {
  String requestId();

  /**
   * The model accepted the request.
   *
   * @param gpu the GPU serving it
   * @param promptTokens prompt length in tokens
   * @param model the model actor, to send {@link ModelActor.Cancel} to
   * @param toolFormat how the model writes tool calls, when the request has tools; else null
   */
  record Started(String requestId, String modelId, GpuId gpu, int promptTokens, ActorRef<ModelActor.Command> model,
      io.prism.runtime.structured.ToolCallFormat toolFormat) implements GenerationEvent {
    /** A start without tools. */
    public Started(String requestId, String modelId, GpuId gpu, int promptTokens, ActorRef<ModelActor.Command> model) {
      this(requestId, modelId, gpu, promptTokens, model, null);
    }
  }

  /**
   * New text of one choice; {@code text} may be empty while the engine holds back a possible stop
   * string or an incomplete UTF-8 character.
   *
   * @param index 0-based index of the generated token within its choice
   * @param choice the choice, in {@code [0, n)}
   * @param logprobs the token's log probabilities when the request asked for them, else null
   */
  record Chunk(String requestId, String text, int tokenId, int index, int choice, GeneratedLogprobs logprobs) implements GenerationEvent {
    /** A chunk of choice 0 without log probabilities. */
    public Chunk(String requestId, String text, int tokenId, int index) {
      this(requestId, text, tokenId, index, 0, null);
    }
  }

  /**
   * One choice of an {@code n > 1} request ended while others still run (the last choice's end is
   * the request's {@link Completed}).
   *
   * @param text text held back until the end, may be empty
   */
  record ChoiceCompleted(String requestId, int choice, FinishReason reason, String text) implements GenerationEvent {}

  /**
   * The request ended (its last choice, {@code choice}, ended); nothing follows.
   *
   * @param text text of {@code choice} held back until the end, may be empty
   * @param completionTokens tokens generated over all choices
   * @param message why it {@link FinishReason#FAILED} or was {@link FinishReason#CANCELLED}, else empty
   * @param choice the choice whose end this is (0 for {@code n == 1})
   */
  record Completed(String requestId, FinishReason reason, String text, int promptTokens, int completionTokens, String message, int choice)
      implements GenerationEvent {
    /** The end of a one-choice request. */
    public Completed(String requestId, FinishReason reason, String text, int promptTokens, int completionTokens, String message) {
      this(requestId, reason, text, promptTokens, completionTokens, message, 0);
    }
  }

  /**
   * Refused before it started; nothing follows.
   *
   * @param rejection why, typed where it was decided
   */
  record Rejected(String requestId, Rejection rejection) implements GenerationEvent {
    /** The class of refusal. */
    public Rejection.Kind kind() {
      return rejection.kind();
    }

    /** Human-readable reason. */
    public String message() {
      return rejection.message();
    }

    /** The offending request field, or {@code null}. */
    public String param() {
      return rejection.param();
    }
  }

  /** Progress of a request on its way to a model, for its {@link RequestRelay} only. */
  sealed interface Routing extends GenerationEvent {
    /** Which routing attempt (0, then +1 each time a GPU sends the request back) the event is about. */
    int attempt();
  }

  /** The frontend sent the request (attempt {@code attempt}) to {@code gpu} through Cluster Sharding. */
  record Dispatched(String requestId, GpuId gpu, int attempt) implements Routing {}

  /**
   * The GPU actor took the request (queued at its admission, or waiting for its model to load).
   *
   * @param gpuActor the GPU actor itself, to watch until the model starts the request
   * @param startWithinMillis the model's TTFT SLO in milliseconds: local admission only keeps a
   *     request it expects to start within it, so the relay refuses the request (retryable) if it
   *     has not started {@code prism.frontend.start-grace} after that; 0 or less: no such bound
   */
  record Queued(String requestId, GpuId gpu, ActorRef<GpuActor.Command> gpuActor, int attempt, long startWithinMillis) implements Routing {}

  /**
   * From the {@link Frontend} to each of its relays: the cluster node {@code host:port} became
   * unreachable (or is leaving or removed). A relay whose request waits on that node gives it {@code
   * prism.frontend.unreachable-grace} to show it is alive (a start, a token), then ends it. {@code
   * requestId} is empty and {@code attempt} -1: it is about every request on that node.
   */
  record NodeUnreachable(String requestId, String host, int port, int attempt) implements Routing {}

  /**
   * The request, already started, continues on another GPU by recompute (live migration: it was
   * still running on the source when the drain timeout ended; see {@code ModelEngine#suspend}).
   * Sent twice: by the source's model actor with {@code model} null when it hands the request over
   * (the relay stops watching the source and bounds the wait for the target), then by the target's
   * model actor with itself once its engine holds the request (the relay watches it). The client
   * sees none of this: its stream continues with the next token. {@code attempt} is -1 (it is not
   * about a routing attempt).
   */
  record Recomputing(String requestId, GpuId gpu, ActorRef<ModelActor.Command> model, int attempt) implements Routing {
    /** A notice about {@code requestId} moving to {@code gpu} ({@code model} null: on its way). */
    public Recomputing(String requestId, GpuId gpu, ActorRef<ModelActor.Command> model) {
      this(requestId, gpu, model, -1);
    }
  }

  /** The relay's own notice: the actor the request was waiting on stopped, or its GPU did not answer in time. */
  record PathLost(String requestId, String why, boolean started, int attempt) implements Routing {}
}
