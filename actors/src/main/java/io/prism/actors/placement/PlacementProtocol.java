package io.prism.actors.placement;

import io.prism.actors.GpuId;
import io.prism.actors.ModelSpec;
import io.prism.actors.PrismMessage;
import io.prism.actors.gpu.GpuActor;
import io.prism.runtime.engine.Rejection;
import java.util.List;
import org.apache.pekko.actor.typed.ActorRef;

/**
 * The messages of the {@link GlobalPlacementActor} (which implements this interface, so they are
 * also named {@code GlobalPlacementActor.RegisterModel} and so on): commands, replies and the
 * values they carry. Every message crosses nodes (Kryo; see {@code AllowListClassResolver}).
 */
public interface PlacementProtocol {
  /** Messages of the placement protocol: the public commands below and the actor's own timer, adapter and store messages. */
  sealed interface Command extends PrismMessage
      permits RegisterModel, UnregisterModel, Resolve, ListModels, ListGpus, GpuReport, ModelLost, MoveModel, Rebalance,
      DrainNode, GetPlacement, GlobalPlacementActor.WrappedLoadReply, GlobalPlacementActor.NodeRemoved,
      GlobalPlacementActor.CatalogLoaded, GlobalPlacementActor.CatalogStored, GlobalPlacementActor.CatalogRemoved,
      GlobalPlacementActor.MigrationTimedOut, GlobalPlacementActor.CatalogReadLocal,
      GlobalPlacementActor.RestoreGraceOver, GlobalPlacementActor.RoundTick, GlobalPlacementActor.ReplicaTick {}

  /**
   * Adds a model to the catalog and places it; replies once it is loaded or cannot be. Registering
   * a model again from the same source with other SLOs or page limits updates them (on its GPU too).
   */
  public record RegisterModel(ModelSpec spec, ActorRef<RegisterReply> replyTo) implements Command {}

  /** Removes a model from the catalog and unloads it from its GPU. */
  public record UnregisterModel(String modelId, ActorRef<Unregistered> replyTo) implements Command {}

  /**
   * Which GPU serves {@code modelId}; answered at once ({@link Loading} while it is being placed or
   * loaded). A lookup of a model whose weights are evicted may reactivate it on another GPU
   * ({@link PlacementPlanner#reactivate}): then it is {@link Loading} until that GPU serves it.
   */
  public record Resolve(String modelId, ActorRef<Resolution> replyTo) implements Command {}

  /** Replies with the whole catalog. */
  public record ListModels(ActorRef<ModelList> replyTo) implements Command {}

  /** Replies with the latest report of every known GPU. */
  public record ListGpus(ActorRef<GpuList> replyTo) implements Command {}

  /**
   * A GPU's state, sent by its {@link GpuActor} periodically and after every load or unload.
   *
   * @param incarnation random id of the GPU actor instance; a new value means it restarted and lost its models
   * @param budgetBytes memory budget for weights and KV
   * @param freeBytes budget not used by weights or mapped KV pages
   * @param healthy whether every engine on it can make progress
   */
  public record GpuReport(GpuId gpu, String description, long incarnation, long budgetBytes, long freeBytes, boolean healthy,
      List<Resident> models) implements Command {}

  /** A GPU lost a model it served (its actor failed for good); the placement moves it elsewhere. */
  public record ModelLost(GpuId gpu, String modelId, String reason) implements Command {}

  /**
   * A model placed on a GPU, with its live demand.
   *
   * @param weightBytes bytes of its weights
   * @param weightsResident whether the weights are on the device now (false: evicted to host memory;
   *     the model stays placed there and a request brings them back)
   * @param tokensPerSecond tokens its forward passes computed per second, 60 s moving average
   * @param kvBytesPerToken KV-cache bytes per token
   * @param queued requests waiting (at the GPU's admission and in the engine)
   * @param running requests in its running batch
   * @param decodeStepNanos its measured step time without prefill (moving average), 0 if not measured yet
   * @param prefillChunkNanos one full prefill chunk at its measured prefill speed, 0 if not known
   */
  public record Resident(ModelSpec spec, int maxModelLen, long weightBytes, boolean weightsResident, double tokensPerSecond, long kvBytesPerToken,
      int queued, int running, long decodeStepNanos, long prefillChunkNanos) implements PrismMessage {
    /** A model without step measurements (a fresh instance, or a test). */
    public Resident(ModelSpec spec, int maxModelLen, long weightBytes, boolean weightsResident, double tokensPerSecond, long kvBytesPerToken,
        int queued, int running) {
      this(spec, maxModelLen, weightBytes, weightsResident, tokensPerSecond, kvBytesPerToken, queued, running, 0, 0);
    }
  }

  /**
   * Moves a model to {@code gpu} by live migration; replies when it serves there ({@link Moved}) or
   * cannot ({@link MoveFailed}, at once for an unknown model or GPU, a model not ready or already
   * moving, or a GPU whose budget cannot hold its weights).
   */
  public record MoveModel(String modelId, GpuId gpu, ActorRef<MoveReply> replyTo) implements Command {}

  /** Runs a placement round now; replies with the view after it (migrations it started are in flight). */
  public record Rebalance(ActorRef<PlacementView> replyTo) implements Command {}

  /**
   * Node {@code host:port} is leaving gracefully (its coordinated shutdown): its GPUs get no new
   * model and its models move to other GPUs by live migration; replies at once with what moves.
   */
  public record DrainNode(String host, int port, ActorRef<DrainStarted> replyTo) implements Command {}

  /** Reply to {@link DrainNode}: models moving away, and models staying (nowhere to go) until the node leaves. */
  public record DrainStarted(List<String> moving, List<String> staying) implements PrismMessage {}

  /** Replies with the {@link PlacementView}. */
  public record GetPlacement(ActorRef<PlacementView> replyTo) implements Command {}

  /** Outcome of {@link MoveModel}. */
  public sealed interface MoveReply extends PrismMessage {}

  /** The model serves on {@code to}; {@code seconds} from the decision to serving there. */
  public record Moved(String modelId, GpuId from, GpuId to, double seconds) implements MoveReply {}

  /** Why a move was refused or failed. */
  public enum MoveProblem {
    /** No such model (404). */
    UNKNOWN_MODEL,
    /** No such GPU reports to the placement (404). */
    UNKNOWN_GPU,
    /** The GPU's budget cannot hold the model's weights (409). */
    DOES_NOT_FIT,
    /** The model is loading or already moving (409). */
    BUSY,
    /** The migration started and did not complete; the model serves where it was (503). */
    FAILED
  }

  /** The move did not happen; {@code problem} says why, {@code message} in words. */
  public record MoveFailed(String modelId, MoveProblem problem, String message) implements MoveReply {}

  /** Outcome of {@link RegisterModel}. */
  public sealed interface RegisterReply extends PrismMessage {}

  /** The model serves on {@code model.gpu()}. */
  public record Registered(ModelInfo model) implements RegisterReply {}

  /** No GPU could load it (or the id is taken by another source); {@code message} says why. */
  public record RegisterFailed(String modelId, Rejection.Kind kind, String message) implements RegisterReply {}

  /** Outcome of {@link UnregisterModel}; {@code existed} is false for an unknown id. */
  public record Unregistered(String modelId, boolean existed) implements PrismMessage {}

  /** Outcome of {@link Resolve}. */
  public sealed interface Resolution extends PrismMessage {
    String modelId();
  }

  /**
   * The model serves on {@code model.gpu()} and its {@code model.replicas()} as of placement epoch
   * {@code epoch} (it goes up with each migration and each instance added or removed); {@code
   * instances} lists every ready instance with the queue its GPU last reported, for the frontends'
   * balancing.
   */
  public record Located(String modelId, ModelInfo model, long epoch, List<Instance> instances) implements Resolution {
    public Located {
      instances = List.copyOf(instances);
    }

    /** A model with one instance, on {@code model.gpu()}, of unknown load. */
    public Located(String modelId, ModelInfo model, long epoch) {
      this(modelId, model, epoch, List.of(new Instance(model.gpu(), 0, 0, true)));
    }
  }

  /**
   * One ready instance of a model as its GPU last reported it.
   *
   * @param queued requests waiting for it; {@code running}: in its running batch
   * @param weightsResident false: its weights are evicted (a request reactivates them)
   */
  public record Instance(GpuId gpu, int queued, int running, boolean weightsResident) implements PrismMessage {}

  /** The model is registered and being placed or loaded; ask again shortly. */
  public record Loading(String modelId) implements Resolution {}

  /** No such model in the catalog. */
  public record NotFound(String modelId) implements Resolution {}

  /** The model is registered but no GPU serves it; {@code message} says why. */
  public record Unavailable(String modelId, String message) implements Resolution {}

  /** Reply to {@link ListModels}, in registration order. */
  public record ModelList(List<ModelInfo> models) implements PrismMessage {}

  /** Reply to {@link ListGpus}, in {@link GpuId} order. */
  public record GpuList(List<GpuReport> gpus) implements PrismMessage {}

}
