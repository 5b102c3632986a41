package io.prism.actors.gpu;

import io.prism.actors.GpuId;
import io.prism.actors.ModelSpec;
import io.prism.actors.PrismMessage;
import io.prism.actors.frontend.Frontend;
import io.prism.actors.frontend.GenerateRequest;
import io.prism.actors.frontend.GenerationEvent;
import io.prism.actors.frontend.TokenizeReply;
import io.prism.actors.frontend.TokenizeRequest;
import io.prism.actors.model.ModelActor;
import io.prism.actors.pool.PagePoolActor;
import io.prism.actors.pool.ReclaimResult;

import io.prism.runtime.engine.RequestLimits;
import io.prism.runtime.engine.RequestResumption;
import io.prism.runtime.engine.Rejection;
import io.prism.runtime.policy.ModelMemory;
import io.prism.runtime.policy.ModelOutlook;
import io.prism.runtime.tokenizer.Tokenizer;
import java.time.Duration;
import java.util.List;
import org.apache.pekko.actor.NoSerializationVerificationNeeded;
import org.apache.pekko.actor.typed.ActorRef;

/**
 * The messages of the {@link GpuActor} (which implements this interface, so they are also named
 * {@code GpuActor.Generate} and so on): the commands from the node, the frontends, the placement
 * and tests, the reports of its children ({@link ModelActor}s and the {@link PagePoolActor}), the
 * replies and the values they carry. Every message but the node-local ones ({@link
 * NoSerializationVerificationNeeded}) crosses nodes (Kryo; see {@code AllowListClassResolver}).
 */
public interface GpuProtocol {
  /** Messages of the GPU protocol: the public commands below and the actor's own timer, adapter and gatherer messages. */
  sealed interface Command extends PrismMessage
      permits Wake, LoadModel, UnloadModel, HandOff, Resume, HandedOver, UpdateModel, Generate, Tokenize, GetStatus, EvictIdleModels,
      GetTrace, InjectModelFault, InjectPoolFault, InjectReclaimFault, ModelReady, ModelLoadFailed, Progress, NeedPages, MemoryReply,
      Reclaimed, Activated, Drained, PoolRestarted, GpuActor.StatusGathered, GpuActor.ReclaimTimedOut, GpuActor.GatherTimedOut,
      GpuActor.ModelStopped, GpuActor.PoolStopped, GpuActor.RequesterGone, GpuActor.DrainTimedOut, GpuActor.ReportTick {}

  /** Starts the entity (sent by its node at start-up; any message would). */
  public enum Wake implements Command {
    INSTANCE
  }

  /** Loads {@code spec} on this device; replies once it serves or cannot. */
  public record LoadModel(ModelSpec spec, ActorRef<LoadReply> replyTo) implements Command {}

  /** Unloads a model: its requests in flight fail, its pages and weights go back. */
  public record UnloadModel(String modelId) implements Command {}

  /**
   * From the placement (live migration): {@code modelId} now serves on {@code to}, as of placement
   * epoch {@code epoch}. New requests for it, and those still queued here, are redirected there
   * ({@link Frontend.Misrouted} with the new GPU); the ones its model actor has finish here, for at
   * most {@code drainTimeout} (after it, the rest continue on {@code to} by recompute: {@link
   * Resume}); then the model unloads and its pages and weights go back. Older epochs than one
   * already handled are ignored. See {@link GpuHandOff}.
   */
  public record HandOff(String modelId, GpuId to, long epoch, Duration drainTimeout) implements Command {}

  /**
   * From a migration's source, at its drain timeout: a request of {@code modelId} that continues
   * here by recompute ({@link RequestResumption}; see {@code ModelTransfer}), past local admission.
   *
   * @param replyTo its requester, who has had {@code Started} and maybe tokens when {@code started}
   * @param started whether it had started on the source (else it was only admitted there: it gets its {@code Started} here)
   * @param from the source GPU
   * @param hops how many GPUs it followed its model through already (bounded by {@link GpuHandOff#MAX_HOPS})
   */
  public record Resume(String modelId, RequestResumption resumption, ActorRef<GenerationEvent> replyTo, boolean started, GpuId from, int hops)
      implements Command {
    /** The one last event for a hand-over that cannot continue: {@code Completed(FAILED)} with the tokens so far, or {@code Rejected} (retryable) if it had not started. */
    public GenerationEvent ending(String why) {
      String message = "the request moved with model '" + modelId + "' from " + from + " and could not continue: " + why;
      if (started) {
        return new GenerationEvent.Completed(resumption.requestId(), io.prism.runtime.engine.FinishReason.FAILED, "", resumption.promptTokens(),
            resumption.completionTokens(), message);
      }
      return new GenerationEvent.Rejected(resumption.requestId(), new Rejection.Unavailable(message + "; retry", "model", 1));
    }
  }

  /** From a model actor told to {@link ModelActor.HandOver}: its requests, for the GPU actor to send to {@code to}. */
  public record HandedOver(String modelId, GpuId to, List<Resume> requests) implements Command {}

  /** New SLOs or page limits for a model on this device (a lowered maximum takes effect lazily). */
  public record UpdateModel(ModelSpec spec) implements Command {}

  /**
   * A request for one of this device's models. If the model is not here, the request goes back to
   * {@code frontend} (to resolve again) or, without one, is rejected. An evicted model is still
   * here: the request reactivates it.
   *
   * @param attempt how many times the request was routed before
   */
  public record Generate(GenerateRequest request, ActorRef<GenerationEvent> replyTo, ActorRef<Frontend.Command> frontend, int attempt)
      implements Command {}

  /**
   * Tokenizes a prompt or chat, or decodes token ids, with one of this device's models' own
   * tokenizer and chat template ({@code POST /tokenize}, {@code /detokenize}); see {@link Tokenizing}.
   */
  public record Tokenize(TokenizeRequest request, ActorRef<TokenizeReply> replyTo) implements Command {}

  /** Replies with the device's {@link GpuStatus}. */
  public record GetStatus(ActorRef<GpuStatus> replyTo) implements Command {}

  /** Checks for idle models to evict now (sent by its own timer; a test hook after moving the clock). */
  public enum EvictIdleModels implements Command {
    INSTANCE
  }

  /** Replies with the recent per-step memory samples ({@code prism.gpu.trace-steps}). */
  public record GetTrace(ActorRef<StepTrace> replyTo) implements Command {}

  /** Test hook: makes the model's actor throw (it is restarted). */
  public record InjectModelFault(String modelId, String message) implements Command {}

  /** Test hook: makes the page pool actor throw (it is resumed). */
  public record InjectPoolFault(String message) implements Command {}

  /**
   * Test hook (fault injection in the middle of a reclaim): with the next reclaim plan that has
   * steps, {@code target} fails. {@code target} {@value #POOL}: the pool actor fails after granting
   * the first returned pages, {@code mode} {@code "stop"} (restarted over the same pool) or {@code
   * "throw"} (resumed); otherwise {@code target} is a model id whose actor is crashed while the plan
   * is in flight.
   */
  public record InjectReclaimFault(String target, String mode) implements Command {}

  /** {@link InjectReclaimFault#target()} naming the page pool actor. */
  public static final String POOL = "page-pool";

  /** Outcome of {@link LoadModel}. */
  public sealed interface LoadReply extends PrismMessage {
    GpuId gpu();

    String modelId();
  }

  /** Loaded and serving, with its context length and the weight bytes it takes from the budget. */
  public record ModelLoaded(GpuId gpu, String modelId, int maxModelLen, long weightBytes) implements LoadReply {}

  /** Could not be loaded here; {@code reason} says why (e.g. not enough memory). */
  public record LoadFailed(GpuId gpu, String modelId, String reason) implements LoadReply {}

  /**
   * What the GPU actor keeps of a ready model instance (node-local: the tokenizer is the model's own,
   * immutable and thread-safe for encoding). Its prefill speed and step times reach admission
   * with each progress report ({@code ModelOutlook}).
   *
   * @param limits the static limits its requests must fit
   * @param maxModelLen context length in tokens
   * @param weightBytes bytes of its weights in the pool's budget
   * @param capacityPages the pool's capacity for KV beside the weights when it joined
   */
  public record ModelProfile(Tokenizer tokenizer, RequestLimits limits, int maxModelLen, long weightBytes, int capacityPages) {}

  /** From a model actor: loaded and serving (again, after a restart). */
  public record ModelReady(String modelId, ModelProfile profile) implements Command, NoSerializationVerificationNeeded {}

  /** From a model actor: could not load; it stops. */
  public record ModelLoadFailed(String modelId, String reason) implements Command {}

  /** From a model actor: first tokens and ended requests since its last report, and its outlook for admission. */
  public record Progress(String modelId, List<String> firstTokens, List<String> ended, ModelOutlook outlook) implements Command {}

  /**
   * From the pool actor: a model needs {@code pagesNeeded} pages the pool could not give it.
   *
   * @param pagesForRunning of those, pages its running sequences need (they may preempt)
   * @param prefillAtRisk a request of it is at risk of its TTFT SLO (it may preempt looser decodes)
   * @param forWeights the pages are for its weights (activation)
   * @param freePages pool pages it could get outside the reserve, when it asked
   * @param reservePages reserve pages it could get
   */
  public record NeedPages(String modelId, int pagesNeeded, int pagesForRunning, boolean prefillAtRisk, boolean forWeights, int freePages,
      int reservePages) implements Command {}

  /** From a model actor: its memory for negotiation {@code negotiationId}. */
  public record MemoryReply(long negotiationId, String modelId, ModelMemory memory) implements Command {}

  /** From the pool actor: what {@code fromModel}'s steps of negotiation {@code negotiationId} (-1: idle eviction) freed. */
  public record Reclaimed(long negotiationId, String fromModel, String forModel, List<ReclaimResult> results) implements Command {}

  /** From a model actor: its evicted weights are back; the activation took {@code nanos}. */
  public record Activated(String modelId, long nanos) implements Command {}

  /** From a model actor told to drain: it has no request left. */
  public record Drained(String modelId) implements Command {}

  /** From the pool actor: it was restarted over the same pool. */
  public enum PoolRestarted implements Command {
    INSTANCE
  }
}
