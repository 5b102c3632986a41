package io.prism.actors.frontend;

import io.prism.actors.GpuId;
import io.prism.actors.ModelSpec;
import io.prism.actors.PrismNode;
import io.prism.actors.gpu.GpuStatus;
import io.prism.actors.placement.GlobalPlacementActor;
import io.prism.actors.placement.ModelInfo;
import io.prism.actors.placement.PlacementView;

import java.util.List;
import java.util.concurrent.CompletionStage;
import org.apache.pekko.actor.typed.ActorRef;

/**
 * What the HTTP layer asks of a Prism node ({@link PrismNode} implements it; route tests use a
 * fake). Futures complete on actor-system threads and fail with a {@code TimeoutException} when
 * the cluster does not answer within {@code prism.node.ask-timeout}.
 */
public interface PrismApi {
  /** Starts serving {@code request}; every {@link GenerationEvent} of it goes to {@code replyTo}. */
  void generate(GenerateRequest request, ActorRef<GenerationEvent> replyTo);

  /**
   * Tokenizes a prompt or chat, or decodes token ids, with the model's own tokenizer and chat
   * template on the node that hosts it. Unknown model: {@link TokenizeReply.Refused} with {@code
   * Rejection.ModelNotFound}. The default fails (for implementations that do not serve it).
   */
  default CompletionStage<TokenizeReply> tokenize(TokenizeRequest request) {
    return java.util.concurrent.CompletableFuture.failedFuture(new UnsupportedOperationException("tokenize is not supported here"));
  }

  /** The model catalog. */
  CompletionStage<List<ModelInfo>> models();

  /** Registers and places a model; completes once it serves or cannot. */
  CompletionStage<GlobalPlacementActor.RegisterReply> register(ModelSpec spec);

  /** Removes a model from the catalog and unloads it. */
  CompletionStage<GlobalPlacementActor.Unregistered> unregister(String modelId);

  /**
   * This node's host tier: bytes of host copies of evicted weights held and its bound ({@code
   * prism.node.host-tier-bytes}); null when this API has none. Default null.
   */
  default io.prism.runtime.memory.HostTier.Usage hostTierUsage() {
    return null;
  }

  /** Status of every GPU of the cluster. */
  CompletionStage<List<GpuStatus>> gpus();

  /** Whether every GPU of the cluster can make progress. */
  CompletionStage<PrismNode.Health> health();

  /** Readiness: whether this node should get traffic ({@code GET /ready}). The default is {@link #health()}. */
  default CompletionStage<PrismNode.Health> ready() {
    return health();
  }

  /** The placement singleton's view: per GPU its KVPR and models with their demand, and the migrations. */
  CompletionStage<PlacementView> placementView();

  /** Runs a placement round now; completes with the view after it. */
  CompletionStage<PlacementView> rebalance();

  /**
   * Moves {@code modelId} to {@code gpu} by live migration; completes when it serves there or the
   * move is refused or failed (bounded by {@code prism.placement.load-timeout} plus the ask timeout).
   */
  CompletionStage<GlobalPlacementActor.MoveReply> move(String modelId, GpuId gpu);
}
