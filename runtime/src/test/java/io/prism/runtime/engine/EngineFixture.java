package io.prism.runtime.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;

import io.prism.runtime.memory.HostDeviceMemory;
import io.prism.runtime.memory.KvCache;
import io.prism.runtime.memory.PagePool;
import io.prism.runtime.model.LoadedModel;
import io.prism.runtime.sampling.SamplingParams;
import java.util.List;
import java.util.Map;
import java.util.function.LongSupplier;

/**
 * Engines over {@link HashForwardBackend} on one host device memory, with the shapes of {@link
 * ModelEngineTest} (4 KiB pages, 2 layers: 4 physical pages and 4 blocks of 4 tokens per page id),
 * and a manual clock.
 */
final class EngineFixture {
  static final long PAGE = ModelEngineTest.PAGE;
  final HostDeviceMemory memory = new HostDeviceMemory(PAGE);
  final FakeTokenizer tokenizer = new FakeTokenizer(ModelEngineTest.VOCAB);
  /** Manual clock in nanoseconds; tests advance it. */
  long nowNanos = 1_000_000_000L;
  final LongSupplier clock = () -> nowNanos;
  HashForwardBackend lastBackend;

  ModelEngine engine(String id, PagePool pool, EngineOptions options) {
    return engine(memory, id, pool, options, clock);
  }

  ModelEngine engine(String id, PagePool pool, EngineOptions options, LongSupplier clockNanos) {
    return engine(memory, id, pool, options, clockNanos);
  }

  private ModelEngine engine(HostDeviceMemory mem, String id, PagePool pool, EngineOptions options) {
    return engine(mem, id, pool, options, clock);
  }

  private ModelEngine engine(HostDeviceMemory mem, String id, PagePool pool, EngineOptions options, LongSupplier clockNanos) {
    KvCache kv = ModelEngine.reserveKvCache(mem, ModelEngineTest.CONFIG, options, 4);
    lastBackend = new HashForwardBackend(ModelEngineTest.CONFIG, kv, mem, ModelEngineTest.FREE);
    return new ModelEngine(new LoadedModel(id, id + ".bin", ModelEngineTest.CONFIG, null, tokenizer), lastBackend, pool, options,
        ModelEngineTest.SAMPLER, clockNanos);
  }

  static GenerationRequest request(String id, int[] prompt, int maxTokens, long seed) {
    SamplingParams p = seed < 0 ? SamplingParams.greedy(maxTokens) : new SamplingParams(1f, 1f, 0, seed, maxTokens, List.of(), false);
    return new GenerationRequest(id, prompt, p, 0L);
  }

  /**
   * What each request gives alone on a fresh engine with a big pool and prefix caching off (the
   * reference: no batching, no preemption, no cache), each on its own device memory.
   */
  Map<String, EngineHarness.Result> alone(List<GenerationRequest> requests) {
    EngineHarness h = new EngineHarness();
    for (GenerationRequest r : requests) {
      HostDeviceMemory mem = new HostDeviceMemory(PAGE);
      PagePool pool = new PagePool(mem, 4096 * PAGE, 0);
      ModelEngine e = engine(mem, "alone-" + r.requestId(), pool, ModelEngineTest.OPTIONS.withPrefixCaching(false).withReservePageIds(0));
      h.expect(r.requestId());
      assertInstanceOf(Admission.Accepted.class, e.submit(r));
      h.runToEnd(e, pool);
      e.close();
      pool.drainReserve();
      assertEquals(0, mem.livePages());
    }
    return h.results;
  }

  static void assertSameOutputs(Map<String, EngineHarness.Result> expected, Map<String, EngineHarness.Result> actual) {
    assertEquals(expected.keySet(), actual.keySet());
    for (String id : expected.keySet()) {
      assertEquals(expected.get(id).tokens, actual.get(id).tokens, id + " tokens");
      assertEquals(expected.get(id).text.toString(), actual.get(id).text.toString(), id + " text");
      assertEquals(expected.get(id).finished.reason(), actual.get(id).finished.reason(), id + " finish reason");
    }
  }
}
