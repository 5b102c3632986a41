package io.prism.http;

import io.prism.actors.frontend.GenerateRequest;
import io.prism.actors.frontend.GenerationEvent;
import io.prism.actors.placement.GlobalPlacementActor;
import io.prism.actors.gpu.GpuStatus;
import io.prism.actors.placement.ModelInfo;
import io.prism.actors.ModelSpec;
import io.prism.actors.frontend.PrismApi;
import io.prism.actors.PrismNode;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.function.Function;
import org.apache.pekko.actor.typed.ActorRef;

/** A {@link PrismApi} that answers each request with a scripted list of events; records requests. */
final class FakeApi implements PrismApi {
  final List<GenerateRequest> requests = new ArrayList<>();
  volatile Function<GenerateRequest, List<GenerationEvent>> script = r -> List.of();
  volatile List<ModelInfo> models = List.of();
  volatile PrismNode.Health health = new PrismNode.Health(true, List.of());
  volatile List<GpuStatus> gpus = List.of();
  final List<ModelSpec> registered = new ArrayList<>();

  @Override
  public synchronized void generate(GenerateRequest request, ActorRef<GenerationEvent> replyTo) {
    requests.add(request);
    for (GenerationEvent e : script.apply(request)) replyTo.tell(e);
  }

  synchronized GenerateRequest lastRequest() {
    return requests.get(requests.size() - 1);
  }

  @Override
  public CompletionStage<List<ModelInfo>> models() {
    return CompletableFuture.completedFuture(models);
  }

  @Override
  public synchronized CompletionStage<GlobalPlacementActor.RegisterReply> register(ModelSpec spec) {
    registered.add(spec);
    return CompletableFuture.completedFuture(new GlobalPlacementActor.RegisterFailed(spec.id(), io.prism.runtime.engine.Rejection.Kind.UNAVAILABLE, "fake"));
  }

  @Override
  public CompletionStage<GlobalPlacementActor.Unregistered> unregister(String modelId) {
    return CompletableFuture.completedFuture(new GlobalPlacementActor.Unregistered(modelId, false));
  }

  @Override
  public CompletionStage<List<GpuStatus>> gpus() {
    return CompletableFuture.completedFuture(gpus);
  }

  @Override
  public CompletionStage<PrismNode.Health> health() {
    return CompletableFuture.completedFuture(health);
  }

  volatile io.prism.actors.placement.PlacementView placement = new io.prism.actors.placement.PlacementView(List.of(), List.of(), List.of(),
      java.util.Map.of(), 0, 0, "");
  volatile GlobalPlacementActor.MoveReply moveReply;

  @Override
  public CompletionStage<io.prism.actors.placement.PlacementView> placementView() {
    return CompletableFuture.completedFuture(placement);
  }

  @Override
  public CompletionStage<io.prism.actors.placement.PlacementView> rebalance() {
    return CompletableFuture.completedFuture(placement);
  }

  @Override
  public CompletionStage<GlobalPlacementActor.MoveReply> move(String modelId, io.prism.actors.GpuId gpu) {
    return CompletableFuture.completedFuture(moveReply);
  }
}
