package io.prism.runtime.engine;

import io.prism.runtime.memory.BlockManager;
import io.prism.runtime.memory.DeviceMemory;
import io.prism.runtime.memory.KvCache;
import io.prism.runtime.memory.PagePool;
import io.prism.runtime.model.LoadedModel;
import io.prism.runtime.model.ModelConfig;
import io.prism.runtime.sampling.Sampler;
import io.prism.runtime.scheduler.BatchScheduler;
import io.prism.runtime.scheduler.Sequence;
import io.prism.runtime.tokenizer.StreamingDetokenizer;
import io.prism.runtime.tokenizer.Tokenizer;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.random.RandomGenerator;

/**
 * The engine of one model instance on one device: admission, continuous batching with chunked
 * prefill ({@link BatchScheduler}), the forward pass ({@link ForwardBackend}), sampling, stop
 * conditions and streaming text. KV blocks come from a {@link BlockManager} over the backend's
 * {@link KvCache} and the GPU's shared {@link PagePool}, under the owner name {@code model.id()}.
 *
 * <p>One {@link #step()} runs one forward pass and returns what it produced. Per accepted request
 * the events are zero or more {@link SequenceEvent.Token} then exactly one {@link
 * SequenceEvent.Finished}; after that, no event carries its id. Stop rules, checked on each sampled
 * token in this order:
 *
 * <ol>
 *   <li>EOS, or BOS when {@link EngineOptions#bosEndsSequence()} (unless {@code ignoreEos}): {@code
 *       STOP}; the stop token is not emitted and not counted in {@code completionTokens}.
 *   <li>A stop string in the text: {@code STOP}; text before it is emitted, the rest dropped.
 *   <li>{@code maxTokens} generated, or the context ({@code maxSeqLen}) full: {@code LENGTH}.
 * </ol>
 *
 * <p>Preemption is by recompute: a preempted sequence keeps its tokens and its random generator,
 * and when it runs again prefills prompt and generated tokens before sampling the next one, so its
 * output is the same as without preemption. Cancellation frees blocks at once and its {@code
 * Finished(CANCELLED)} comes with the next {@link #step()}. If {@link ForwardBackend#forward}
 * throws, the exception propagates and the state is as before the step; call {@link
 * #failAll(String)} to end everything.
 *
 * <p>The engine never refills the pool's reserve: the loop that owns the pool calls {@link
 * PagePool#refillReserve()} between steps, off the critical path.
 *
 * <p>Weights are not accounted here: the caller reserves them in the pool before building the
 * backend (see {@link Device#load}). Threading: not thread-safe; confined to the GPU's engine thread,
 * which also owns the pool.
 */
public final class ModelEngine implements AutoCloseable {
  /**
   * Counters since construction.
   *
   * @param steps forward passes run
   * @param stalledSteps {@link #step()} calls with work but nothing schedulable (no memory)
   * @param computedTokens tokens through the forward pass (prefill, recompute and decode)
   * @param generatedTokens tokens sampled and emitted
   * @param preemptions sequences preempted (recompute)
   * @param finished requests ended by STOP or LENGTH
   * @param cancelled requests cancelled
   * @param failed requests failed
   * @param rejected requests rejected at admission
   */
  public record Stats(long steps, long stalledSteps, long computedTokens, long generatedTokens, long preemptions,
      long finished, long cancelled, long failed, long rejected) {}

  /** Per-request state beside the scheduler's integer view. */
  private static final class Output {
    final GenerationRequest request;
    final RandomGenerator rng;
    final StreamingDetokenizer detokenizer;
    final StopStringMatcher stops;

    Output(GenerationRequest request, RandomGenerator rng, StreamingDetokenizer detokenizer) {
      this.request = request;
      this.rng = rng;
      this.detokenizer = detokenizer;
      this.stops = new StopStringMatcher(request.params().stop());
    }
  }

  private final LoadedModel model;
  private final ModelConfig config;
  private final Tokenizer tokenizer;
  private final ForwardBackend backend;
  private final PagePool pool;
  private final EngineOptions options;
  private final TokenSampler sampler;
  private final BlockManager blocks;
  private final BatchScheduler scheduler;
  private final Map<String, Output> outputs = new HashMap<>();
  private final List<SequenceEvent> pending = new ArrayList<>();
  private final SplittableRandom seeds = new SplittableRandom();
  private float[][] logitRows = new float[0][];
  private boolean closed;
  private long steps, stalledSteps, computedTokens, generatedTokens, finished, cancelled, failed, rejected;

  /**
   * An engine that samples with {@link Sampler#sample}.
   *
   * @see #ModelEngine(LoadedModel, ForwardBackend, PagePool, EngineOptions, TokenSampler)
   */
  public ModelEngine(LoadedModel model, ForwardBackend backend, PagePool pool, EngineOptions options) {
    this(model, backend, pool, options, Sampler::sample);
  }

  /**
   * @param model the model (config, tokenizer; its id is the owner name in the pool)
   * @param backend its forward pass over its KV cache; the engine takes ownership: {@link #close()}
   *     closes the KV cache and then the backend
   * @param pool the GPU's page pool
   * @param options engine settings; {@code blockSize} must equal the KV cache's
   * @param sampler picks tokens ({@code Sampler::sample} in production)
   * @throws IllegalArgumentException if the block sizes or vocabulary sizes disagree
   */
  public ModelEngine(LoadedModel model, ForwardBackend backend, PagePool pool, EngineOptions options, TokenSampler sampler) {
    if (model == null || backend == null || pool == null || options == null || sampler == null) {
      throw new IllegalArgumentException("model, backend, pool, options and sampler must not be null");
    }
    KvCache kv = backend.kvCache();
    if (kv.blockSize() != options.blockSize()) {
      throw new IllegalArgumentException("KV cache block size " + kv.blockSize() + " != engine block size " + options.blockSize());
    }
    if (model.tokenizer().vocabSize() != model.config().vocabSize()) {
      throw new IllegalArgumentException("tokenizer has " + model.tokenizer().vocabSize() + " tokens, model " + model.config().vocabSize());
    }
    this.model = model;
    this.config = model.config();
    this.tokenizer = model.tokenizer();
    this.backend = backend;
    this.pool = pool;
    this.options = options;
    this.sampler = sampler;
    this.blocks = new BlockManager(kv, pool, model.id());
    this.scheduler = new BatchScheduler(blocks, options.maxBatchTokens(), options.maxRunningSequences(), options.prefillChunk());
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

  /** The model this engine serves. */
  public LoadedModel model() {
    return model;
  }

  /** This engine's owner name in the page pool ({@code model.id()}). */
  public String owner() {
    return blocks.owner();
  }

  /**
   * Queues {@code r}. Rejected, with no events to follow, when the engine is closed, the id is in
   * use, a prompt token is outside the vocabulary, prompt plus {@code maxTokens} exceeds the context
   * length, or the sequence could never fit the KV cache or the pool.
   */
  public Admission submit(GenerationRequest r) {
    String reason = admissionProblem(r);
    if (reason != null) {
      rejected++;
      return new Admission.Rejected(reason);
    }
    int total = r.promptTokens().length + r.params().maxTokens();
    Sequence s = new Sequence(r.requestId(), r.promptTokens(), total);
    Long seed = r.params().seed();
    RandomGenerator rng = new SplittableRandom(seed != null ? seed : seeds.nextLong());
    int[] prompt = r.promptTokens();
    outputs.put(r.requestId(), new Output(r, rng, new StreamingDetokenizer(tokenizer, prompt[prompt.length - 1])));
    scheduler.add(s);
    return new Admission.Accepted(r.requestId());
  }

  private String admissionProblem(GenerationRequest r) {
    if (closed) return "model " + model.id() + " is shut down";
    if (outputs.containsKey(r.requestId())) return "request id " + r.requestId() + " is already in flight";
    int p = r.promptTokens().length;
    int c = r.params().maxTokens();
    int n = config.maxSeqLen();
    if (p > n || (long) p + c > n) {
      return "This model's maximum context length is " + n + " tokens. However, you requested " + ((long) p + c)
          + " tokens (" + p + " in the messages, " + c + " in the completion).";
    }
    for (int t : r.promptTokens()) {
      if (t < 0 || t >= config.vocabSize()) return "prompt token id " + t + " is outside the vocabulary of " + config.vocabSize() + " tokens";
    }
    KvCache kv = backend.kvCache();
    int kvTokens = p + c - 1; // the last sampled token is never computed
    int needBlocks = (kvTokens + kv.blockSize() - 1) / kv.blockSize();
    if (needBlocks > kv.maxBlocks()) {
      return "request needs " + needBlocks + " KV blocks but model " + model.id() + " reserves only " + kv.maxBlocks()
          + "; lower max_tokens or raise the engine's KV capacity";
    }
    long needPages = (long) ((needBlocks + kv.blocksPerPage() - 1) / kv.blocksPerPage()) * kv.physicalPagesPerPageId();
    if (needPages > pool.capacityPages()) {
      return "request needs " + needPages + " KV pages but the GPU's page pool has room for " + pool.capacityPages()
          + "; lower max_tokens";
    }
    return null;
  }

  /**
   * Cancels {@code requestId} wherever it is (waiting, prefilling, decoding): its blocks are freed
   * now, its {@code Finished(CANCELLED)} comes with the next {@link #step()} or {@link #failAll}.
   *
   * @return false if no such request is in flight
   */
  public boolean cancel(String requestId) {
    Sequence s = scheduler.get(requestId);
    if (s == null) return false;
    end(s, FinishReason.CANCELLED, "", "", pending);
    return true;
  }

  /**
   * One scheduler iteration: plans a batch, runs the forward pass, samples, applies the stop rules.
   *
   * @return events of this step (and of cancellations since the last one), in batch order
   * @throws IllegalStateException if the engine is closed
   */
  public List<SequenceEvent> step() {
    if (closed) throw new IllegalStateException("model engine " + model.id() + " is closed");
    List<SequenceEvent> events = new ArrayList<>(pending);
    pending.clear();
    if (!scheduler.hasUnfinished()) return events;
    BatchScheduler.Schedule plan = scheduler.schedule();
    if (plan.chunks().isEmpty()) {
      stalledSteps++;
      return events;
    }
    List<ForwardBatch.Entry> entries = new ArrayList<>(plan.chunks().size());
    for (BatchScheduler.Chunk c : plan.chunks()) {
      Sequence s = c.sequence();
      entries.add(new ForwardBatch.Entry(s.tokens(c.startPos(), c.startPos() + c.numTokens()), c.startPos(), s.blockTable(), c.completesSequence()));
    }
    float[][] logits = logitRows(entries.size());
    backend.forward(new ForwardBatch(entries), logits);
    scheduler.completeStep(plan);
    steps++;
    computedTokens += plan.numTokens();
    for (int i = 0; i < entries.size(); i++) {
      BatchScheduler.Chunk c = plan.chunks().get(i);
      if (!c.completesSequence()) continue;
      Sequence s = c.sequence();
      Output out = outputs.get(s.requestId());
      onToken(s, out, sampler.sample(logits[i], out.request.params(), out.rng), events);
    }
    return events;
  }

  private void onToken(Sequence s, Output out, int token, List<SequenceEvent> events) {
    SamplingParams p = out.request.params();
    boolean stopToken = token == tokenizer.eosId() || (options.bosEndsSequence() && token == tokenizer.bosId());
    if (stopToken && !p.ignoreEos()) {
      finishWithFlush(s, out, FinishReason.STOP, events);
      return;
    }
    int index = s.numOutputTokens();
    s.appendToken(token);
    generatedTokens++;
    String text = out.stops.append(out.detokenizer.next(token));
    events.add(new SequenceEvent.Token(s.requestId(), token, text, index));
    if (out.stops.stopped()) {
      end(s, FinishReason.STOP, "", "", events);
    } else if (s.numOutputTokens() >= p.maxTokens() || s.numTokens() >= config.maxSeqLen()) {
      finishWithFlush(s, out, FinishReason.LENGTH, events);
    }
  }

  /** Ends {@code s}, emitting held-back text; a stop string completed by that text makes it STOP. */
  private void finishWithFlush(Sequence s, Output out, FinishReason reason, List<SequenceEvent> events) {
    String text = out.stops.append(out.detokenizer.flush());
    if (out.stops.stopped()) reason = FinishReason.STOP;
    else text += out.stops.flush();
    end(s, reason, text, "", events);
  }

  private void end(Sequence s, FinishReason reason, String text, String message, List<SequenceEvent> events) {
    scheduler.remove(s);
    outputs.remove(s.requestId());
    switch (reason) {
      case CANCELLED -> cancelled++;
      case FAILED -> failed++;
      default -> finished++;
    }
    events.add(new SequenceEvent.Finished(s.requestId(), reason, text, s.promptLength(), s.numOutputTokens(), message));
  }

  /**
   * Ends every request in flight with {@code FAILED} and {@code message}, freeing all their blocks
   * (so every page of this engine goes back to the pool).
   *
   * @return pending events, then one {@code Finished} per request ended (running, then waiting)
   */
  public List<SequenceEvent> failAll(String message) {
    List<SequenceEvent> events = new ArrayList<>(pending);
    pending.clear();
    List<Sequence> all = new ArrayList<>(scheduler.running());
    all.addAll(scheduler.waiting());
    for (Sequence s : all) end(s, FinishReason.FAILED, "", message, events);
    return events;
  }

  /** Whether {@link #step()} has anything to do or deliver. */
  public boolean hasWork() {
    return !pending.isEmpty() || scheduler.hasUnfinished();
  }

  /** Requests queued and not running (new or preempted). */
  public int waitingCount() {
    return scheduler.waitingCount();
  }

  /** Requests in the running batch (prefilling or decoding). */
  public int runningCount() {
    return scheduler.runningCount();
  }

  /** Page ids of the KV cache currently mapped (each is {@code 2 * layers} pool pages). */
  public int pageIdsHeld() {
    return blocks.pageIdsMapped();
  }

  /** KV blocks in use. */
  public int usedBlocks() {
    return blocks.usedBlocks();
  }

  /** Counters since construction. */
  public Stats stats() {
    return new Stats(steps, stalledSteps, computedTokens, generatedTokens, scheduler.preemptions(), finished, cancelled, failed, rejected);
  }

  /**
   * Checks the scheduler's and block manager's invariants (the pool's are the pool owner's to check).
   *
   * @throws IllegalStateException naming the first violation
   */
  public void checkInvariants() {
    scheduler.checkInvariants();
    blocks.checkInvariants();
    if (scheduler.runningCount() + scheduler.waitingCount() != outputs.size()) {
      throw new IllegalStateException(outputs.size() + " outputs for " + (scheduler.runningCount() + scheduler.waitingCount()) + " sequences");
    }
  }

  /**
   * Drops every request without events, returns every page to the pool, frees the KV cache's
   * virtual ranges and closes the backend. Idempotent.
   */
  @Override
  public void close() {
    if (closed) return;
    failAll("model engine closed");
    pending.clear();
    closed = true;
    if (blocks.usedBlocks() != 0) throw new IllegalStateException(blocks.usedBlocks() + " KV blocks still used after every request ended");
    try {
      backend.kvCache().close();
    } finally {
      backend.close();
    }
  }

  private float[][] logitRows(int n) {
    if (logitRows.length < n) {
      float[][] grown = new float[Math.max(n, options.maxRunningSequences())][];
      System.arraycopy(logitRows, 0, grown, 0, logitRows.length);
      logitRows = grown;
    }
    for (int i = 0; i < n; i++) if (logitRows[i] == null) logitRows[i] = new float[config.vocabSize()];
    if (logitRows.length == n) return logitRows;
    float[][] view = new float[n][];
    System.arraycopy(logitRows, 0, view, 0, n);
    return view;
  }
}
