package io.prism.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.prism.runtime.engine.Admission;
import io.prism.runtime.engine.EngineOptions;
import io.prism.runtime.engine.ForwardBackend;
import io.prism.runtime.engine.GeneratedLogprobs;
import io.prism.runtime.engine.GenerationRequest;
import io.prism.runtime.engine.ModelEngine;
import io.prism.runtime.engine.SequenceEvent;
import io.prism.runtime.forward.HostForwardBackend;
import io.prism.runtime.memory.DeviceMemory;
import io.prism.runtime.memory.HostDeviceMemory;
import io.prism.runtime.memory.KvCache;
import io.prism.runtime.memory.PagePool;
import io.prism.runtime.model.LoadedModel;
import io.prism.runtime.sampling.SamplingParams;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The whole engine on stories260K, host backend against CUDA (fp32): greedy requests with bias,
 * penalties and 5 top log probabilities give the same tokens and log probabilities within 2e-3 (the
 * CUDA path applies the penalties and computes the log probabilities on the device, copying no
 * logits row); a seeded {@code n = 3} request (its fork step samples on the host) ends every choice
 * and returns every page.
 */
@Tag("gpu")
class LogprobsEngineGpuTest {
  private static final EngineOptions OPTIONS = EngineOptions.defaults().withMaxRunningSequences(8).withPrefillChunk(64).withMaxBatchTokens(256)
      .withHostThreads(2);

  private record Out(Map<String, List<Integer>> tokens, Map<String, List<GeneratedLogprobs>> logprobs) {}

  private static Out run(LoadedModel model, DeviceMemory memory, java.util.function.Function<KvCache, ForwardBackend> load,
      List<GenerationRequest> requests) {
    PagePool pool = new PagePool(memory, 256L * memory.granularity(), 0);
    KvCache kv = ModelEngine.reserveKvCache(memory, model.config(), OPTIONS, 4); // fp32 KV on both
    ModelEngine e = new ModelEngine(model, load.apply(kv), pool, OPTIONS);
    Map<String, List<Integer>> tokens = new HashMap<>();
    Map<String, List<GeneratedLogprobs>> lps = new HashMap<>();
    int open = 0;
    for (GenerationRequest r : requests) {
      assertInstanceOf(Admission.Accepted.class, e.submit(r));
      open++;
    }
    while (e.hasWork()) {
      for (SequenceEvent ev : e.step()) {
        if (ev instanceof SequenceEvent.Token t) {
          String key = t.requestId() + "#" + t.choice();
          tokens.computeIfAbsent(key, k -> new ArrayList<>()).add(t.tokenId());
          if (t.logprobs() != null) lps.computeIfAbsent(key, k -> new ArrayList<>()).add(t.logprobs());
        } else if (ev instanceof SequenceEvent.Finished f && f.choicesLeft() == 0) {
          open--;
        }
      }
      e.checkInvariants();
    }
    assertEquals(0, open);
    assertEquals(0, e.usedBlocks());
    e.close();
    assertEquals(0, pool.heldPages());
    pool.drainReserve();
    return new Out(tokens, lps);
  }

  @Test
  void hostAndCudaEnginesAgreeOnTokensAndLogprobs() {
    LoadedModel model = TestModels.stories260kWithTokenizer();
    List<GenerationRequest> rs = new ArrayList<>();
    String[] prompts = {"Once upon a time", "The little dog ran to the park and saw", "Lily"};
    for (int i = 0; i < prompts.length; i++) {
      SamplingParams p = SamplingParams.greedy(40).withLogprobs(5).withProcessing(0f, 0.3f, 0.2f, 1.15f, Map.of(300 + i, 1.5f));
      rs.add(new GenerationRequest("g" + i, model.tokenizer().encode(prompts[i], true, false), p, 0L));
    }
    Out host = run(model, new HostDeviceMemory(64 * 1024), kv -> new HostForwardBackend(model.weights(), kv, 2), rs);
    try (CudaDevice dev = CudaDevices.open(1, 2L << 30, Precision.FP32, 64).get(0)) {
      Out cuda = run(model, dev.memory(), kv -> dev.load(model, kv), rs);
      double worst = 0;
      for (String key : host.tokens().keySet()) {
        assertEquals(host.tokens().get(key), cuda.tokens().get(key), key);
        List<GeneratedLogprobs> h = host.logprobs().get(key), c = cuda.logprobs().get(key);
        assertEquals(h.size(), c.size());
        for (int i = 0; i < h.size(); i++) {
          worst = Math.max(worst, Math.abs(h.get(i).chosen().logprob() - c.get(i).chosen().logprob()));
          for (int k = 0; k < 5; k++) {
            assertEquals(h.get(i).top().get(k).tokenId(), c.get(i).top().get(k).tokenId(), key + " token " + i + " rank " + k);
            worst = Math.max(worst, Math.abs(h.get(i).top().get(k).logprob() - c.get(i).top().get(k).logprob()));
          }
          assertEquals(c.get(i).top().get(0).tokenId(), c.get(i).chosen().tokenId(), "greedy tokens have the top logprob");
        }
      }
      System.out.printf("host vs CUDA logprobs: largest difference %.2e over %d requests%n", worst, host.tokens().size());
      assertTrue(worst < 2e-3, "largest logprob difference " + worst);

      SamplingParams n3 = new SamplingParams(0.9f, 0.95f, 0, 11L, 24, List.of(), true).withN(3).withLogprobs(2);
      Out forked = run(model, dev.memory(), kv -> dev.load(model, kv),
          List.of(new GenerationRequest("n", model.tokenizer().encode("Once upon a time there was a little girl named Lily who", true, false), n3, 0L)));
      for (int j = 0; j < 3; j++) assertEquals(24, forked.tokens().get("n#" + j).size(), "choice " + j);
    }
  }
}
