package io.prism.actors;

import io.prism.runtime.engine.Admission;
import io.prism.runtime.engine.GenerationRequest;
import io.prism.runtime.engine.ModelEngine;
import io.prism.runtime.engine.Rejection;
import io.prism.runtime.sampling.SamplingParams;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.List;
import org.apache.pekko.actor.typed.ActorRef;

/**
 * How a request gets from a {@link ModelActor.Generate} into a {@link ModelActor}'s engine:
 * tokenized and checked ({@link ModelEngine#check}; a request that can never run is rejected at
 * once), queued at the GPU's local admission ({@link ModelRequests#pending}), and once admitted
 * ({@link ModelActor.Admit}) handed to the engine a few at a time, unless a stricter model holds this
 * model's admissions ({@link ModelActor.HoldAdmissions}). Threading: the model actor's.
 */
final class ModelIntake {
  private final GpuRuntime runtime;
  private final PrismSettings settings;
  private final ModelEngine engine;
  private final ModelRequests requests;
  private final ActorRef<ModelActor.Command> self;
  private final ArrayDeque<String> admitted = new ArrayDeque<>();
  private long holdUntilNanos = Long.MIN_VALUE;

  ModelIntake(GpuRuntime runtime, PrismSettings settings, ModelEngine engine, ModelRequests requests, ActorRef<ModelActor.Command> self) {
    this.runtime = runtime;
    this.settings = settings;
    this.engine = engine;
    this.requests = requests;
    this.self = self;
  }

  /**
   * Tokenizes and checks {@code g}'s request for model {@code modelId}. A request that can never run
   * gets its {@code Rejected} now; otherwise it is queued as pending and returned, for the caller to
   * enqueue at the GPU's local admission.
   *
   * @return the request queued, or null if rejected
   */
  GenerationRequest accept(ModelActor.Generate g, String modelId) {
    GenerateRequest r = g.request();
    if (requests.size() >= settings.maxQueuedRequests()) {
      return reject(g, new Rejection.Overloaded("model '" + modelId + "' has " + requests.size() + " requests in flight; retry later", 1));
    }
    if (requests.knows(r.requestId())) return reject(g, new Rejection.InvalidRequest(null, "request id " + r.requestId() + " is already in flight"));
    int[] tokens;
    try {
      tokens = r.promptTokens() != null ? r.promptTokens() : engine.model().tokenizer().encode(r.prompt(), r.addBos(), false);
    } catch (IllegalArgumentException e) {
      return reject(g, new Rejection.InvalidRequest("prompt", "prompt cannot be tokenized: " + e.getMessage()));
    }
    if (tokens.length == 0) return reject(g, new Rejection.InvalidRequest("prompt", "prompt must not be empty"));
    SamplingParams params = r.params();
    if (r.maxTokensToContext()) {
      int room = Math.max(1, engine.model().config().maxSeqLen() - tokens.length);
      params = new SamplingParams(params.temperature(), params.topP(), params.topK(), params.seed(), room, params.stop(), params.ignoreEos());
    }
    GenerationRequest request = new GenerationRequest(r.requestId(), tokens, params, runtime.nowNanos());
    Rejection problem = engine.check(request);
    if (problem != null) return reject(g, problem);
    requests.addPending(request, g.replyTo());
    return request;
  }

  private static GenerationRequest reject(ModelActor.Generate g, Rejection rejection) {
    g.replyTo().tell(new GenerationEvent.Rejected(g.request().requestId(), rejection));
    return null;
  }

  /** Local admission admitted {@code requestIds}: those still pending queue up for the engine. */
  void admit(List<String> requestIds) {
    for (String id : requestIds) if (requests.pending.containsKey(id)) admitted.addLast(id);
  }

  /**
   * Holds admissions for {@code nanos} from now, unless a hold already lasts longer.
   *
   * @return the delay after which the caller should feed again, or null if the hold did not change
   */
  Duration hold(long nanos) {
    long until = runtime.nowNanos() + nanos;
    if (until <= holdUntilNanos) return null;
    holdUntilNanos = until;
    return Duration.ofNanos(nanos).plusMillis(1);
  }

  /**
   * Hands admitted requests to the engine, keeping at most {@link ModelActor#FEED_AHEAD} waiting in
   * it (the engine admits its waiting requests as memory allows), unless admissions are held. {@code
   * Started} goes to the requester then; one the engine rejects gets {@code Rejected}.
   */
  void feed(String modelId) {
    while (!admitted.isEmpty() && engine.waitingCount() < ModelActor.FEED_AHEAD && runtime.nowNanos() >= holdUntilNanos) {
      ModelRequests.Pending p = requests.pending.get(admitted.pollFirst());
      if (p == null) continue; // its requester left meanwhile
      String id = p.request().requestId();
      Admission adm = engine.submit(p.request());
      if (adm instanceof Admission.Rejected rej) {
        requests.reject(p, rej.rejection());
        continue;
      }
      requests.pending.remove(id);
      requests.started(p.request(), p.replyTo());
      p.replyTo().tell(new GenerationEvent.Started(id, modelId, runtime.gpu(), p.request().promptTokens().length, self));
    }
  }
}
