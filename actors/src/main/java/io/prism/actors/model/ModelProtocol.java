package io.prism.actors.model;

import io.prism.actors.GpuId;
import io.prism.actors.ModelSpec;
import io.prism.actors.PrismMessage;
import io.prism.actors.frontend.GenerationEvent;
import io.prism.actors.gpu.GpuActor;
import io.prism.actors.pool.Handover;
import io.prism.actors.pool.PagePoolActor;

import io.prism.runtime.engine.GenerationRequest;
import io.prism.runtime.memory.PhysicalPage;
import io.prism.runtime.policy.ReclaimAction;
import java.util.List;
import org.apache.pekko.actor.NoSerializationVerificationNeeded;
import org.apache.pekko.actor.typed.ActorRef;

/**
 * The messages of the {@link ModelActor} (which implements this interface, so they are also named
 * {@code ModelActor.Run} and so on): requests and cancellations, the GPU actor's orders (drain,
 * hand-over, reclaim, eviction, holds, new limits), the page pool actor's answers and the values
 * they carry. Every message but the node-local ones ({@link NoSerializationVerificationNeeded}: they
 * carry pages) crosses nodes (Kryo; see {@code AllowListClassResolver}).
 */
public interface ModelProtocol {
  /** Messages of the model protocol: the public commands below and the actor's own step, timer and loading messages. */
  sealed interface Command extends PrismMessage
      permits Run, Cancel, Shutdown, Drain, HandOver, Resume, InjectFault, PagesGranted, Joined, WeightsReserved, PagesReady, Reclaim,
      EvictIfIdle, GetMemory, GetStatus, HoldAdmissions, DropHostCopy, UpdateSpec, ModelActor.Step, ModelActor.HoldExpired,
      ModelActor.ActivationRetry, ModelActor.Loaded, ModelActor.LoadFailed, ModelActor.MeasurePass, ModelActor.Reloaded,
      ModelActor.ReloadFailed, ModelActor.RequesterGone {}

  /** An admitted request (tokenized and checked by the GPU actor): it enters the engine; events go to {@code replyTo}. */
  public record Run(GenerationRequest request, ActorRef<GenerationEvent> replyTo) implements Command {}

  /** Cancels a request; its {@code Completed(CANCELLED)} follows. Unknown ids are ignored. */
  public record Cancel(String requestId) implements Command {}

  /** Stops this instance: requests in flight fail with "unloaded", every page goes back. */
  public enum Shutdown implements Command { INSTANCE }

  /**
   * From the GPU actor (live migration): the model serves elsewhere now; no new request comes. When
   * it has no request left, it tells the GPU actor ({@link GpuActor.Drained}), at once if it has none.
   */
  public enum Drain implements Command { INSTANCE }

  /**
   * From the GPU actor, when a hand-off's drain timeout ends: every request still here continues on
   * {@code to} by recompute ({@link ModelTransfer#handOver}); the answer is {@link GpuActor.HandedOver}.
   */
  public record HandOver(GpuId to) implements Command {}

  /** From the GPU actor: a request a migration's source handed over; it continues here ({@link ModelTransfer#resume}). */
  public record Resume(GpuActor.Resume handOver) implements Command {}

  /** Test hook (fault injection): the actor throws {@code IllegalStateException(message)} when it handles this. */
  public record InjectFault(String message) implements Command {}

  /**
   * From the pool actor: pages for this model (possibly none).
   *
   * @param negotiating the pool could not cover the ask and the GPU actor negotiates the rest
   *     ({@link PagesReady} follows)
   */
  public record PagesGranted(List<PhysicalPage> pages, int capacityPages, boolean negotiating) implements Command, NoSerializationVerificationNeeded {}

  /**
   * From the pool actor: the answer to {@link PagePoolActor.Join}.
   *
   * @param negotiating not joined, and the GPU actor negotiates room for the weights (evicting idle
   *     models): {@link PagesReady} follows, then join again
   */
  public record Joined(boolean ok, String reason, List<PhysicalPage> pages, int capacityPages, boolean negotiating)
      implements Command, NoSerializationVerificationNeeded {}

  /** From the pool actor: the answer to {@link PagePoolActor.Activate}. */
  public record WeightsReserved(boolean ok, int capacityPages) implements Command {}

  /** From the GPU actor: the negotiation this model's shortage started is over. */
  public record PagesReady(long negotiationId, Outcome outcome) implements Command {}

  /** How a negotiation ended. */
  public enum Outcome {
    /** Pages were freed (and granted to it by the pool): step or activate without asking again first. */
    GRANTED,
    /** Nothing could free enough: do not ask again for the same shortage for {@code prism.gpu.reclaim-retry}. */
    REFUSED,
    /** Not decided (another negotiation ran, or this one was abandoned): check again and ask afresh. */
    RETRY
  }

  /**
   * From the GPU actor: carry out {@code actions} (this model's steps of a reclaim plan made for
   * {@code forModel}) on the engine as it is now, and return the pages freed to the pool with a
   * {@link Handover} for {@code grantTo}.
   */
  public record Reclaim(long negotiationId, String forModel, ActorRef<Command> grantTo, int unit, List<ReclaimAction> actions,
      long idleThresholdNanos) implements Command {}

  /** From the GPU actor: evict the weights if still idle at least {@code idleThresholdNanos} with nothing in flight. */
  public record EvictIfIdle(long idleThresholdNanos) implements Command {}

  /** From the GPU actor: reply {@link GpuActor.MemoryReply} with this model's memory for negotiation {@code negotiationId}. */
  public record GetMemory(long negotiationId, ActorRef<GpuActor.Command> replyTo) implements Command {}

  /** Replies with this instance's {@link ModelReport}. */
  public record GetStatus(ActorRef<ModelReport> replyTo) implements Command {}

  /**
   * From the GPU actor: a model with a stricter SLO has a request at risk of its TTFT SLO and no
   * memory for it; for {@code nanos} this model starts no new sequence (its running ones go on).
   */
  public record HoldAdmissions(long nanos, String forModel) implements Command {}

  /**
   * From the node's host tier ({@link HostCopies}): drop the host copy of the weights (the least
   * recently used copies make room); an evicted model falls to the disk tier.
   */
  public enum DropHostCopy implements Command { INSTANCE }

  /** From the GPU actor: new SLO or page limits (a lowered maximum takes effect lazily). */
  public record UpdateSpec(ModelSpec spec) implements Command {}
}
