package io.prism.runtime.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.prism.runtime.forward.HostForwardBackend;
import io.prism.runtime.memory.HostDeviceMemory;
import io.prism.runtime.memory.KvCache;
import io.prism.runtime.memory.PagePool;
import io.prism.runtime.model.Llama2cLoader;
import io.prism.runtime.model.LoadedModel;
import io.prism.runtime.model.ModelWeights;
import io.prism.runtime.model.SharedModels;
import io.prism.runtime.sampling.SamplingParams;
import io.prism.runtime.tokenizer.SentencePieceTokenizer;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Live migration's recompute, engine to engine: requests suspended mid-generation on one engine
 * ({@link ModelEngine#suspend}) and resumed on another ({@link ModelEngine#resume}) produce exactly
 * the tokens, text, finish reasons and usage of an unmoved run (greedy, and sampled with a seed,
 * penalties, stop strings and {@code n > 1}); the harness checks that token indices continue with
 * no token emitted twice, and both engines give every page back.
 */
class RequestResumptionTest {
  private static final String[] PROMPTS = {"Once upon a time", "Lily", "The little dog ran to the park and saw a big red ball. He wanted to",
      "Tom had a"};
  private static final EngineOptions OPTIONS = EngineOptions.defaults().withMaxRunningSequences(8).withPrefillChunk(16).withMaxBatchTokens(64)
      .withHostThreads(1);
  private static LoadedModel model;

  @BeforeAll
  static void load() {
    ModelWeights w = Llama2cLoader.load(SharedModels.file("stories260K.bin"));
    SentencePieceTokenizer tok = SentencePieceTokenizer.fromLlama2cFile(SharedModels.file("tok512.bin"));
    model = new LoadedModel("stories260K", SharedModels.file("stories260K.bin").toString(), w.config, w, tok);
  }

  private static final class Rig {
    final HostDeviceMemory memory = new HostDeviceMemory(64 * 1024);
    final PagePool pool = new PagePool(memory, 1024 * 64 * 1024L, 4);
    final ModelEngine engine;

    Rig() {
      KvCache kv = ModelEngine.reserveKvCache(memory, model.config(), OPTIONS, 4);
      engine = new ModelEngine(model, new HostForwardBackend(model.weights(), kv, 1), pool, OPTIONS);
    }

    void closeAndCheckEveryPageReturned() {
      EngineHarness.assertNoWorkAndReleasesEveryPage(engine);
      engine.close();
      assertEquals(0, pool.heldPages());
      pool.checkInvariants();
    }
  }

  private static List<GenerationRequest> greedyRequests() {
    List<GenerationRequest> out = new ArrayList<>();
    for (int i = 0; i < PROMPTS.length; i++) {
      out.add(new GenerationRequest("g" + i, model.tokenizer().encode(PROMPTS[i], true, false), SamplingParams.greedy(60 + 10 * i), 0L));
    }
    return out;
  }

  private static List<GenerationRequest> sampledRequests() {
    List<GenerationRequest> out = new ArrayList<>();
    for (int i = 0; i < PROMPTS.length; i++) {
      SamplingParams p = new SamplingParams(0.9f, 0.95f, 0, 1000L + i, 70, List.of("ball."), false).withProcessing(0.02f, 0.3f, 0.2f, 1.1f, Map.of())
          .withN(i == 1 ? 3 : 1);
      out.add(new GenerationRequest("s" + i, model.tokenizer().encode(PROMPTS[i], true, false), p, 0L));
    }
    return out;
  }

  private static EngineHarness unmoved(List<GenerationRequest> requests) {
    Rig rig = new Rig();
    EngineHarness h = new EngineHarness();
    for (GenerationRequest r : requests) {
      h.expect(r.requestId(), r.params().n());
      assertInstanceOf(Admission.Accepted.class, rig.engine.submit(r));
    }
    h.runToEnd(rig.engine, rig.pool);
    rig.closeAndCheckEveryPageReturned();
    return h;
  }

  /** Runs {@code steps} steps on a source engine, moves every request still in flight to a target engine, runs it to the end. */
  private static EngineHarness moved(List<GenerationRequest> requests, int steps) {
    Rig source = new Rig();
    Rig target = new Rig();
    EngineHarness h = new EngineHarness();
    for (GenerationRequest r : requests) {
      h.expect(r.requestId(), r.params().n());
      assertInstanceOf(Admission.Accepted.class, source.engine.submit(r));
    }
    for (int i = 0; i < steps && source.engine.hasWork(); i++) h.accept(source.engine.step());
    int movedCount = 0;
    for (GenerationRequest r : requests) {
      RequestResumption res = source.engine.suspend(r.requestId());
      if (res == null) continue;
      movedCount++;
      assertEquals(r.promptTokens().length, res.promptTokens());
      assertInstanceOf(Admission.Accepted.class, target.engine.resume(res));
    }
    assertTrue(movedCount > 0, "some requests were still running after " + steps + " steps");
    source.engine.checkInvariants();
    h.accept(source.engine.step()); // nothing: a suspended request ends without an event on the source
    h.runToEnd(target.engine, target.pool);
    source.closeAndCheckEveryPageReturned();
    target.closeAndCheckEveryPageReturned();
    return h;
  }

  private static void assertSameOutputs(EngineHarness expected, EngineHarness actual) {
    assertEquals(expected.results.keySet(), actual.results.keySet());
    for (String id : expected.results.keySet()) {
      EngineHarness.Result e = expected.results.get(id);
      EngineHarness.Result a = actual.results.get(id);
      assertEquals(e.tokens, a.tokens, id + " tokens");
      assertEquals(e.text.toString(), a.text.toString(), id + " text");
      assertEquals(e.finished.reason(), a.finished.reason(), id + " finish reason");
      assertEquals(e.finished.completionTokens(), a.finished.completionTokens(), id + " usage");
      assertEquals(e.finished.promptTokens(), a.finished.promptTokens(), id + " prompt tokens");
    }
  }

  @Test
  void anEngineKeepsTheModelWithoutItsHostWeights() {
    Rig rig = new Rig();
    assertNull(rig.engine.model().weights(), "the backend holds what it uses; the engine must not pin the host arrays");
    assertEquals(model.id(), rig.engine.model().id());
    assertNotNull(model.weights(), "the caller's model is not changed");
  }

  @Test
  void greedyRequestsMovedMidGenerationGiveTheUnmovedOutput() {
    EngineHarness expected = unmoved(greedyRequests());
    for (int steps : new int[] {2, 17, 40}) assertSameOutputs(expected, moved(greedyRequests(), steps));
  }

  @Test
  void sampledRequestsWithPenaltiesStopsAndChoicesContinueTheirRandomStreams() {
    EngineHarness expected = unmoved(sampledRequests());
    for (int steps : new int[] {1, 3, 25}) assertSameOutputs(expected, moved(sampledRequests(), steps));
  }

  @Test
  void anUnknownRequestCannotBeSuspendedAndAnIdInUseIsNotResumed() {
    Rig a = new Rig();
    assertNull(a.engine.suspend("nope"));
    GenerationRequest r = greedyRequests().get(0);
    a.engine.submit(r);
    for (int i = 0; i < 5; i++) a.engine.step();
    RequestResumption res = a.engine.suspend(r.requestId());
    assertNotNull(res);
    assertTrue(res.choices().get(0).outputTokens().length > 0);
    a.engine.submit(r); // the same id runs again here
    Admission adm = a.engine.resume(res);
    assertInstanceOf(Admission.Rejected.class, adm);
    a.engine.cancel(r.requestId());
    a.engine.step();
    a.closeAndCheckEveryPageReturned();
  }
}
