package io.prism.runtime.engine;

import io.prism.runtime.batching.ContinuousBatcher;
import io.prism.runtime.batching.Sequence;
import io.prism.runtime.memory.BlockManager;
import io.prism.runtime.memory.DeviceMemory;
import io.prism.runtime.memory.KvCache;
import io.prism.runtime.memory.PagePool;
import io.prism.runtime.memory.PageSource;
import io.prism.runtime.model.LoadedModel;
import io.prism.runtime.model.ModelConfig;
import io.prism.runtime.sampling.Sampler;
import java.util.ArrayList;
import java.util.List;
import java.util.function.LongSupplier;

/**
 * The engine of one model instance on one device: admission, continuous batching with chunked
 * prefill and prefix caching ({@link ContinuousBatcher}), the forward pass ({@link ForwardBackend}),
 * sampling, stop conditions and streaming text. KV blocks come from a {@link BlockManager} over the
 * backend's {@link KvCache} and the GPU's shared {@link PagePool}, under the owner name {@code
 * model.id()}.
 *
 * <p>One {@link #step()} runs one forward pass and returns what it produced. Per accepted request
 * and per choice ({@code n} of them, {@link RequestLifecycle}) the events are zero or more {@link
 * SequenceEvent.Token} then exactly one {@link SequenceEvent.Finished}; after the one with {@code
 * choicesLeft == 0}, no event carries its id. Each sampled row first gets the request's logit bias
 * and penalties ({@code io.prism.runtime.sampling.LogitAdjustment}, from the choice's own token
 * counts); log probabilities, when asked, come with each token. Stop rules, checked on each sampled
 * token in this order: EOS, or BOS when {@link EngineOptions#bosEndsSequence()} (unless {@code
 * ignoreEos}): {@code STOP}, the stop token neither emitted nor counted; a stop string in the text:
 * {@code STOP}, text before it emitted, the rest dropped; {@code maxTokens} generated or the context
 * full: {@code LENGTH}.
 *
 * <p>Preemption is by recompute: a preempted sequence keeps its tokens and its random generator,
 * and when it runs again prefills prompt and generated tokens (less what the prefix cache still
 * holds) before sampling the next one, so its output is the same as without preemption.
 * Cancellation frees blocks at once and its {@code Finished(CANCELLED)} comes with the next {@link
 * #step()}. If {@link ForwardBackend#forward} throws, the exception propagates and the state is as
 * before the step; call {@link #failAll(String)} to end everything.
 *
 * <p><b>Memory on a shared GPU and time sharing</b>: the page-id accounting, the reclaim hooks the
 * GPU actor drives ({@link #pagesWanted()}, {@link #releaseEmptyPages}, {@link #dropCachedBlocks},
 * {@link #preemptForMemory}) and the weights' eviction and activation ({@link #evict()}, {@link
 * #activate()}) are inherited from the package-private {@code ModelInstanceMemory}, whose class
 * comment gives the negotiation and the activation sequence. This class is the request side.
 * Threading: not thread-safe; confined to the GPU's engine thread, which also owns the pool.
 */
public final class ModelEngine extends ModelInstanceMemory implements AutoCloseable {
  private final ModelConfig config;
  private final EngineOptions options;
  private final EngineMemory memory;
  private final RequestLifecycle requests;
  private final List<SequenceEvent> pending = new ArrayList<>();
  private final EngineStep stepper;
  private long rejected;

  /** An engine that samples with {@link Sampler#sample} and reads {@link System#nanoTime()}. */
  public ModelEngine(LoadedModel model, ForwardBackend backend, PageSource pool, EngineOptions options) {
    this(model, backend, pool, options, TokenSampler.HOST, System::nanoTime);
  }

  /** An engine that reads {@link System#nanoTime()}. */
  public ModelEngine(LoadedModel model, ForwardBackend backend, PageSource pool, EngineOptions options, TokenSampler sampler) {
    this(model, backend, pool, options, sampler, System::nanoTime);
  }

  /**
   * @param model the model (config, tokenizer; its id is the owner name in the pool)
   * @param backend its forward pass over its KV cache; the engine takes ownership: {@link #close()}
   *     closes the KV cache and then the backend
   * @param pool the GPU's page pool
   * @param options engine settings; {@code blockSize} must equal the KV cache's
   * @param sampler picks tokens ({@code Sampler::sample} in production)
   * @param clockNanos monotonic clock for activity and first-token times ({@code System::nanoTime};
   *     the clock of {@link GenerationRequest#arrivalNanos()})
   * @throws IllegalArgumentException if the block sizes or vocabulary sizes disagree
   */
  public ModelEngine(LoadedModel model, ForwardBackend backend, PageSource pool, EngineOptions options, TokenSampler sampler,
      LongSupplier clockNanos) {
    super(checked(model, backend, pool, options, sampler, clockNanos), backend, pool, options, clockNanos);
    this.config = model.config();
    this.options = options;
    this.requests = new RequestLifecycle(model.tokenizer(), config, options, batcher);
    this.memory = new EngineMemory(this, blocks, batcher, pool, requests.states);
    this.stepper = new EngineStep(backend, batcher, requests, sampler, new LogitRows(config.vocabSize(), options.maxRunningSequences()), clock);
    this.lastActivityNanos = clock.getAsLong();
  }

  /** {@code model}, once {@link EngineChecks#requireCompatible} accepts the arguments (before the superclass uses them). */
  private static LoadedModel checked(LoadedModel model, ForwardBackend backend, PageSource pool, EngineOptions options, TokenSampler sampler,
      LongSupplier clockNanos) {
    EngineChecks.requireCompatible(model, backend, pool, options, sampler, clockNanos);
    return model.withoutWeights(); // the backend holds what it uses; an engine must not pin the host arrays (disk tier)
  }

  /**
   * Reserves (virtual space only) a KV cache for {@code config} sized by {@link
   * EngineOptions#kvCapacityTokensFor(int)}.
   *
   * @param elementBytes 4 on the host, 2 for bf16 on CUDA
   */
  public static KvCache reserveKvCache(DeviceMemory memory, ModelConfig config, EngineOptions options, int elementBytes) {
    return KvCache.reserve(memory, config, options.blockSize(), elementBytes, options.kvCapacityTokensFor(config.maxSeqLen()));
  }

  /**
   * The request id of a sequence id as {@link #runningSequences()} reports them: the choices {@code
   * 1..n-1} of an {@code n > 1} request run as sequences of their own ids.
   */
  public static String requestIdOf(String sequenceId) {
    int cut = sequenceId.indexOf('\u0000');
    return cut < 0 ? sequenceId : sequenceId.substring(0, cut);
  }

  /** The model this engine serves: id, source, shape and tokenizer, without host weights ({@link LoadedModel#withoutWeights()}). */
  public LoadedModel model() {
    return model;
  }

  /** The static limits its requests must fit (immutable, shareable with the GPU's admission). */
  public RequestLimits requestLimits() {
    return RequestLimits.of(model.id(), config, backend.kvCache());
  }

  /**
   * Queues {@code r}. Rejected, with no events to follow, when the engine is closed, the id is in
   * use, a prompt token is outside the vocabulary, prompt plus {@code maxTokens} exceeds the context
   * length, or the sequence could never fit the KV cache or the pool. Accepted while the weights are
   * evicted: the request waits for {@link #activate()}.
   */
  public Admission submit(GenerationRequest r) {
    Rejection reason = check(r);
    if (reason != null) {
      rejected++;
      return new Admission.Rejected(reason);
    }
    requests.add(r);
    lastActivityNanos = clock.getAsLong();
    return new Admission.Accepted(r.requestId());
  }

  /**
   * Why {@link #submit} would reject {@code r} now, or null if it would accept it; changes nothing.
   * Lets a caller that queues requests outside the engine (the GPU's deadline admission) refuse a
   * request that can never run before it waits in that queue.
   *
   * @return null, or the typed reason ({@link Rejection.ContextLengthExceeded}, {@link
   *     Rejection.InvalidRequest} naming {@code prompt} or {@code max_tokens}, {@link
   *     Rejection.Unavailable} when closed)
   */
  public Rejection check(GenerationRequest r) {
    return closed ? new Rejection.Unavailable("model " + model.id() + " is shut down")
        : requests.groups.containsKey(r.requestId()) || requests.states.containsKey(r.requestId())
            ? new Rejection.InvalidRequest(null, "request id " + r.requestId() + " is already in flight")
        : Constraints.problem(r) != null ? Constraints.problem(r)
        : Admissions.problem(r, config, backend.kvCache(), pool, model.id(), weightBytesToReserve());
  }

  /**
   * Cancels {@code requestId} wherever it is (waiting, prefilling, decoding): its blocks are freed
   * now, its {@code Finished(CANCELLED)} (one per choice) comes with the next {@link #step()} or
   * {@link #failAll}.
   *
   * @return false if no such request is in flight
   */
  public boolean cancel(String requestId) {
    return requests.endRequest(requestId, FinishReason.CANCELLED, "", pending);
  }

  /**
   * Takes request {@code requestId} out of this engine mid-generation, without an event, to continue
   * on another instance of the model ({@link #resume} there): live migration's recompute after the
   * drain timeout. Its blocks are freed now (full ones stay in the prefix cache).
   *
   * @return what the other engine needs, or null if no such request is in flight
   */
  public RequestResumption suspend(String requestId) {
    requireOpen();
    return requests.suspend(requestId);
  }

  /**
   * Continues a request {@link #suspend suspended} by another instance of this model: it waits
   * like a preempted sequence, recomputes prompt and generated tokens, and goes on exactly where it
   * was (see {@link RequestResumption}); its events carry on from the next token index and no token
   * is emitted twice. Rejected as {@link #submit} rejects (closed, id in use, does not fit).
   *
   * @throws IllegalArgumentException if {@code r}'s choices do not fit its request ({@link RequestResumption#requireConsistent})
   */
  public Admission resume(RequestResumption r) {
    r.requireConsistent();
    Rejection reason = check(r.request());
    if (reason != null) {
      rejected++;
      return new Admission.Rejected(reason);
    }
    requests.resume(r, clock.getAsLong());
    lastActivityNanos = clock.getAsLong();
    return new Admission.Accepted(r.requestId());
  }

  /**
   * One engine iteration: plans a batch, runs the forward pass, samples, applies the stop rules.
   * With the weights evicted it only delivers pending events (a stalled step if work waits).
   *
   * @return events of this step (and of cancellations since the last one), in batch order
   * @throws IllegalStateException if the engine is closed
   */
  public List<SequenceEvent> step() {
    requireOpen();
    List<SequenceEvent> events = new ArrayList<>(pending);
    pending.clear();
    if (batcher.hasUnfinished()) stepper.run(events, now -> lastActivityNanos = now);
    return events;
  }

  /**
   * Ends every request in flight with {@code FAILED} and {@code message}, freeing all their blocks
   * and dropping the prefix cache, so every page of this engine goes back to the pool.
   *
   * @return pending events, then one {@code Finished} per request ended (running, then waiting)
   */
  public List<SequenceEvent> failAll(String message) {
    List<SequenceEvent> events = new ArrayList<>(pending);
    pending.clear();
    List<Sequence> all = new ArrayList<>(batcher.running());
    all.addAll(batcher.waiting());
    for (Sequence s : all) requests.end(s, FinishReason.FAILED, "", message, events);
    blocks.releaseAll();
    return events;
  }

  /** Whether {@link #step()} has anything to do or deliver. */
  public boolean hasWork() {
    return !pending.isEmpty() || batcher.hasUnfinished();
  }

  /** Requests queued and not running (new or preempted). */
  public int waitingCount() {
    return batcher.waitingCount();
  }

  /** Requests in the running batch (prefilling or decoding). */
  public int runningCount() {
    return batcher.runningCount();
  }

  /** Requests accepted and not yet finished (waiting plus running; a request of {@code n} choices counts once). */
  @Override
  public int inFlight() {
    return requests.groups.size();
  }

  /** This model's memory as {@code ReclaimPolicy} sees it, and its activity; see {@link EngineMemory}. */
  @Override
  public EngineMemory memory() {
    return memory;
  }

  /**
   * Times one prefill of {@code min(prefillChunk, maxSeqLen)} tokens at load ({@link PrefillSpeed}),
   * for Moore-Hodgson admission; call it before serving. Falls back to the deterministic {@link
   * PrefillSpeed#estimate} when it cannot time.
   *
   * @return prompt tokens per second
   */
  public double measurePrefillTokensPerSecond() {
    requireOpen();
    return PrefillSpeed.measure(backend, blocks, Math.min(options.prefillChunk(), config.maxSeqLen()), clock);
  }

  /**
   * {@link #measurePrefillTokensPerSecond()} one pass at a time ({@link PrefillSpeed.Probe}): the
   * caller runs {@link PrefillSpeed.Probe#pass()} until it returns false, reads the speed and closes
   * the probe, before serving.
   *
   * @throws IllegalStateException if closed
   */
  public PrefillSpeed.Probe prefillProbe() {
    requireOpen();
    return PrefillSpeed.Probe.start(backend, blocks, Math.min(options.prefillChunk(), config.maxSeqLen()), clock);
  }

  /** Counters since construction. */
  public EngineStats stats() {
    return new EngineStats(stepper.steps, stepper.stalledSteps, stepper.computedTokens, batcher.cachedTokens(), requests.generatedTokens, batcher.preemptions(),
        requests.finished, requests.cancelled, requests.failed, rejected, weights.evictions, weights.activations);
  }

  /**
   * Checks the batcher's and block manager's invariants (the pool's are the pool owner's to check).
   *
   * @throws IllegalStateException naming the first violation
   */
  public void checkInvariants() {
    EngineChecks.checkInvariants(model, backend, batcher, blocks, requests);
  }

  /**
   * Drops every request without events, returns every page to the pool, withdraws the reserve wish,
   * frees the KV cache's virtual ranges and closes the backend. Idempotent.
   */
  @Override
  public void close() {
    if (closed) return;
    failAll("model engine closed");
    pending.clear();
    closed = true;
    blocks.wantReserve(false);
    try {
      backend.kvCache().close();
    } finally {
      backend.close();
    }
  }
}
