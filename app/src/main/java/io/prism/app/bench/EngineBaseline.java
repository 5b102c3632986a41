package io.prism.app.bench;

import io.prism.actors.Devices;
import io.prism.actors.PrismSettings;
import io.prism.runtime.engine.Admission;
import io.prism.runtime.engine.Device;
import io.prism.runtime.engine.ForwardBackend;
import io.prism.runtime.engine.GenerationRequest;
import io.prism.runtime.engine.ModelEngine;
import io.prism.runtime.sampling.SamplingParams;
import io.prism.runtime.engine.SequenceEvent;
import io.prism.runtime.memory.KvCache;
import io.prism.runtime.memory.PagePool;
import io.prism.runtime.model.LoadedModel;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The engine alone, as the server's device runs it: one device opened as the server opens it
 * ({@link Devices#open}, same backend, page size and forward threads), a {@link PagePool} of the
 * same budget, and a {@link ModelEngine} with the server's engine options, stepped in a loop on the
 * calling thread with no actors, no HTTP and no client. A round submits {@code concurrency}
 * requests at once and steps until all have ended.
 *
 * <p>Threading: every call (constructor included) on one thread, which owns the device.
 */
final class EngineBaseline implements AutoCloseable {
  private final Device device;
  private final PagePool pool;
  private final ModelEngine engine;
  private final LoadedModel model;

  /**
   * @param settings the server's settings (backend, memory budget, page size, threads, engine options)
   * @throws IllegalStateException if the weights do not fit the budget or the device cannot be opened
   */
  EngineBaseline(PrismSettings settings, LoadedModel model) {
    this.model = model;
    this.device = Devices.open(settings).get(0);
    PagePool p = null;
    ModelEngine e = null;
    try {
      p = new PagePool(device.memory(), settings.memoryBudgetBytes(), settings.reservePages());
      if (!p.reserveWeights(model.id(), device.weightBytes(model))) {
        throw new IllegalStateException("the weights of " + model.id() + " do not fit prism.gpu.memory-budget " + settings.memoryBudgetBytes());
      }
      KvCache kv = ModelEngine.reserveKvCache(device.memory(), model.config(), settings.engine(), device.kvElementBytes());
      ForwardBackend backend = device.load(model, kv);
      e = new ModelEngine(model, backend, p, settings.engine());
    } catch (RuntimeException ex) {
      if (p != null) p.drainReserve();
      device.close();
      throw ex;
    }
    this.pool = p;
    this.engine = e;
  }

  /**
   * One round: {@code concurrency} greedy requests of {@code promptTokens} prompt tokens (seeded as
   * {@link Prompts#seed}) and exactly {@code maxTokens} generated ({@code ignoreEos}), added to
   * {@code stats}.
   *
   * @throws IllegalStateException if the engine rejects a request
   */
  void round(int concurrency, int round, int promptTokens, int maxTokens, LoadStats stats) {
    SamplingParams params = new SamplingParams(0f, 1f, 0, 0L, maxTokens, List.of(), true);
    Map<String, long[]> times = new HashMap<>(); // id -> {submitted, first token, last token, tokens}
    long start = System.nanoTime();
    for (int i = 0; i < concurrency; i++) {
      String id = "e" + concurrency + "-" + round + "-" + i;
      int[] prompt = Prompts.random(model.config().vocabSize(), model.tokenizer().bosId(), promptTokens, Prompts.seed(concurrency, round, i));
      long now = System.nanoTime();
      Admission a = engine.submit(new GenerationRequest(id, prompt, params, now));
      if (a instanceof Admission.Rejected r) throw new IllegalStateException("engine rejected a benchmark request: " + r.reason());
      times.put(id, new long[] {now, -1, -1, 0});
    }
    int finished = 0;
    while (finished < concurrency) {
      List<SequenceEvent> events = engine.step();
      long now = System.nanoTime();
      for (SequenceEvent e : events) {
        long[] t = times.get(e.requestId());
        if (e instanceof SequenceEvent.Token) {
          if (t[1] < 0) t[1] = now;
          t[2] = now;
          t[3]++;
        } else if (e instanceof SequenceEvent.Finished f) {
          finished++;
          boolean ok = f.reason() == io.prism.runtime.engine.FinishReason.LENGTH || f.reason() == io.prism.runtime.engine.FinishReason.STOP;
          long ttft = t[1] < 0 ? -1 : t[1] - t[0];
          double tpot = t[3] > 1 ? (double) (t[2] - t[1]) / (t[3] - 1) : -1;
          stats.addRequest(ttft, tpot, (int) t[3], ok);
        }
      }
    }
    stats.addRound(System.nanoTime() - start);
  }

  @Override
  public void close() {
    try {
      engine.close();
      pool.releaseWeights(engine.owner());
      pool.drainReserve();
    } finally {
      device.close();
    }
  }
}
