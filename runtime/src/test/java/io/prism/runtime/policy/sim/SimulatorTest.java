package io.prism.runtime.policy.sim;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.prism.runtime.policy.Slo;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class SimulatorTest {
  private static final long MS = 1_000_000L;
  private static final long S = 1_000_000_000L;
  /**
   * Round numbers: 1 TB/s HBM, 1 PFLOP/s, 10 GB/s host link, no fixed overheads. The model: 1e9
   * parameters, 2 GB of weights, 1000 KV bytes per token.
   */
  private static final GpuProfile GPU = new GpuProfile("test", 100_000_000_000L, 1e12, 1e15, 1e10, 0, 0);
  private static final ModelProfile TINY = new ModelProfile("tiny", 1e9, 2_000_000_000L, 1000, 4096);
  private static final Slo LOOSE = new Slo(Duration.ofSeconds(30), Duration.ofSeconds(1));

  private static Workload.SimModel model(String id, ModelProfile p, double rate) {
    return new Workload.SimModel(id, p, rate, 100, 10);
  }

  private static Map<String, Slo> slos(Workload w, Slo slo) {
    Map<String, Slo> out = new LinkedHashMap<>();
    for (Workload.SimModel m : w.models()) out.put(m.modelId(), slo);
    return out;
  }

  @Test
  void loneRequestTakesOnePrefillThenOneDecodeStepPerFurtherToken() {
    Workload w = Workload.of(List.of(model("a", TINY, 1)), List.of(new Workload.Arrival("r", "a", 0, 100, 3)), S);
    for (SimPolicy p : List.of(SimPolicy.PRISM, SimPolicy.MUXSERVE_PLUS_PLUS, SimPolicy.STATIC_PARTITION)) {
      SimResult r = Simulator.run(w, slos(w, LOOSE), p, GPU, 1);
      SimResult.ModelStats s = r.models().get(0);
      // Prefill of 100 tokens: 2 * 1e9 * 100 / 1e15 s = 0.2 ms compute + 2 GB / 1 TB/s = 2 ms weights.
      assertEquals(2_200_000L, s.p95TtftNanos(), p.name());
      // Two decode steps with 101 and 102 tokens of context: 2 ms + 101 (102) * 1000 B / 1 TB/s each.
      assertEquals((2_000_101L + 2_000_102L) / 2, s.p95TpotNanos(), p.name());
      assertEquals(1, s.bothMet());
      assertEquals(1.0, r.attainment());
    }
  }

  @Test
  void aModelThatDoesNotFitIsRejectedByFixedPlacementButTimeSharedByPrism() {
    // 45 GB models on one 100 GB GPU: two fit, the third does not.
    ModelProfile big = new ModelProfile("big", 1e9, 45_000_000_000L, 1000, 4096);
    List<Workload.SimModel> models = List.of(model("a", big, 3), model("b", big, 2), model("c", big, 1));
    List<Workload.Arrival> arrivals = List.of(
        new Workload.Arrival("a1", "a", 0, 100, 5),
        new Workload.Arrival("b1", "b", 0, 100, 5),
        new Workload.Arrival("c1", "c", 60 * S, 100, 5)); // a and b idle for ~60 s by then
    Workload w = Workload.of(models, arrivals, 61 * S);
    Map<String, Slo> slo = slos(w, new Slo(Duration.ofSeconds(10), Duration.ofSeconds(1)));

    SimResult mux = Simulator.run(w, slo, SimPolicy.MUXSERVE_PLUS_PLUS, GPU, 1);
    assertEquals(1, mux.counters().rejected());
    assertEquals(0, mux.models().get(2).bothMet());

    SimResult prism = Simulator.run(w, slo, SimPolicy.PRISM, GPU, 1);
    assertEquals(0, prism.counters().rejected());
    assertEquals(1.0, prism.attainment());
    // c is activated once, after the reclaim path evicts one idle model: TTFT includes the
    // 45 GB / 10 GB/s = 4.5 s activation plus the 4.5 ms prefill (0.2 ms + 45 GB / 1 TB/s).
    assertEquals(1, prism.counters().activations());
    assertEquals(1, prism.counters().evictions());
    assertEquals(4_500_000_000L + 45_200_000L, prism.models().get(2).p95TtftNanos());
  }

  @Test
  void mooreHodgsonRejectsRequestsThatCanNoLongerMeetTheirDeadline() {
    // 20 prefill-only requests (one output token) of 4000 tokens at t = 0, TTFT SLO 50 ms.
    // A 512-token chunk takes 512 / 5e5 tok/s + 2 ms of weights = 3.024 ms, so the measured speed
    // estimates 4000 tokens at 23.6 ms. r00 ends after 8 chunks at 24.192 ms (its last chunk
    // carries 96 tokens of r01); r01 needs 3904 more tokens: 7 chunks + 320 tokens, done by
    // 48.0-48.4 ms. Every later request would end past 50 ms: FCFS serves all 18 late, while
    // Prism rejects them at 24.192 ms (start 24.192 + 23.1 ms of r01's remaining work + 23.6 ms > 50).
    List<Workload.Arrival> arrivals = new ArrayList<>();
    for (int i = 0; i < 20; i++) arrivals.add(new Workload.Arrival(String.format("r%02d", i), "a", 0, 4000, 1));
    Workload w = Workload.of(List.of(model("a", TINY, 1)), arrivals, S);
    Map<String, Slo> slo = slos(w, new Slo(Duration.ofMillis(50), Duration.ofSeconds(1)));
    SimResult mux = Simulator.run(w, slo, SimPolicy.MUXSERVE_PLUS_PLUS, GPU, 1);
    SimResult prism = Simulator.run(w, slo, SimPolicy.PRISM, GPU, 1);
    assertEquals(0, mux.counters().rejected());
    assertEquals(2, mux.models().get(0).bothMet());
    assertEquals(18, prism.counters().rejected());
    assertEquals(2, prism.models().get(0).bothMet());
  }

  @Test
  void memoryPressurePreemptsAndEveryRequestStillFinishesUnderEveryPolicy() {
    // 4 GB of KV room beside two 2 GB models: 60 long requests cannot all hold their KV at once.
    GpuProfile small = new GpuProfile("small", 8_000_000_000L, 1e12, 1e15, 1e10, 0, 0);
    ModelProfile fat = new ModelProfile("fat-kv", 1e9, 2_000_000_000L, 200_000, 8192);
    SplittableRandom rnd = new SplittableRandom(11);
    List<Workload.Arrival> arrivals = new ArrayList<>();
    for (int i = 0; i < 60; i++) {
      String m = i % 2 == 0 ? "a" : "b";
      arrivals.add(new Workload.Arrival(String.format("r%02d", i), m, rnd.nextLong(2 * S), 200 + rnd.nextInt(800), 50 + rnd.nextInt(200)));
    }
    Workload w = Workload.of(List.of(model("a", fat, 15), model("b", fat, 15)), arrivals, 2 * S);
    Map<String, Slo> slo = new LinkedHashMap<>();
    slo.put("a", new Slo(Duration.ofSeconds(100), Duration.ofMillis(500)));
    slo.put("b", new Slo(Duration.ofSeconds(100), Duration.ofMillis(100)));
    for (SimPolicy p : List.of(SimPolicy.PRISM, SimPolicy.PRISM_EAGER, SimPolicy.MUXSERVE_PLUS_PLUS, SimPolicy.STATIC_PARTITION)) {
      SimResult r = Simulator.run(w, slo, p, small, 1); // the ledger is checked at every step
      assertTrue(r.counters().preemptions() > 0, p.name() + " preempted nothing");
      assertEquals(60, r.requests());
      for (SimResult.ModelStats s : r.models()) {
        assertEquals(0, s.unfinished(), p.name() + " " + s.modelId());
        assertEquals(0, s.rejected(), p.name() + " " + s.modelId());
      }
    }
  }

  @Test
  void runsAreDeterministic() {
    SplittableRandom rnd = new SplittableRandom(5);
    List<Workload.Arrival> arrivals = new ArrayList<>();
    for (int i = 0; i < 200; i++) {
      String m = "m" + rnd.nextInt(3);
      arrivals.add(new Workload.Arrival(String.format("r%03d", i), m, rnd.nextLong(20 * S), 1 + rnd.nextInt(2000), 1 + rnd.nextInt(300)));
    }
    Workload w = Workload.of(List.of(model("m0", TINY, 4), model("m1", TINY, 3), model("m2", TINY, 3)), arrivals, 20 * S);
    Map<String, Slo> slo = slos(w, Slo.ofMillis(500, 30));
    for (SimPolicy p : List.of(SimPolicy.PRISM, SimPolicy.MUXSERVE_PLUS_PLUS)) {
      SimResult a = Simulator.run(w, slo, p, GPU, 2);
      SimResult b = Simulator.run(w, slo, p, GPU, 2);
      assertEquals(a.models(), b.models());
      assertEquals(a.counters().preemptions(), b.counters().preemptions());
      assertEquals(a.counters().activations(), b.counters().activations());
    }
  }

  @Test
  void aModelOverloadingItsGpuGetsAReplicaFromTheServersReplicaScalingAndServesMore() {
    // one model, 60 requests/s of 4000-token prompts for 60 s: ~1.4 s of prefill per second on one GPU; the other GPU is empty
    List<Workload.Arrival> arrivals = new java.util.ArrayList<>();
    for (int i = 0; i < 3600; i++) arrivals.add(new Workload.Arrival("h" + i, "hot", i * S / 60, 4000, 10));
    Workload w = Workload.of(List.of(model("hot", TINY, 60)), arrivals, 60 * S);
    Slo slo = new Slo(Duration.ofSeconds(2), Duration.ofSeconds(1));
    SimResult one = Simulator.run(w, slos(w, slo), SimPolicy.PRISM, GPU, 2);
    SimResult two = Simulator.run(w, slos(w, slo), SimPolicy.PRISM.withMaxReplicas("Prism-replicas", 2), GPU, 2);
    assertEquals(0, one.counters().replicasAdded());
    assertEquals(1, two.counters().replicasAdded(), "one replica, on the empty GPU, once the queue stayed over 8 for 3 checks");
    assertTrue(two.attainment() > one.attainment() + 0.2, "two instances serve what one cannot: " + one.attainment() + " -> " + two.attainment());
    assertTrue(two.counters().rejected() < one.counters().rejected());
  }

  @Test
  void oneModelPerGpuBaselinesSwapModelsThatWouldFitTogetherAndQlmPaysTheRestart() {
    // Two 2 GB models fit on one 100 GB GPU together. Requests alternate a, b, a, b one second apart.
    List<Workload.Arrival> arrivals = new ArrayList<>();
    for (int i = 0; i < 6; i++) arrivals.add(new Workload.Arrival(String.format("r%d", i), i % 2 == 0 ? "a" : "b", i * S, 100, 3));
    Workload w = Workload.of(List.of(model("a", TINY, 1), model("b", TINY, 1)), arrivals, 6 * S);
    Map<String, Slo> slo = slos(w, LOOSE);

    SimResult mux = Simulator.run(w, slo, SimPolicy.MUXSERVE_PLUS_PLUS, GPU, 1);
    assertEquals(0, mux.counters().activations());
    assertEquals(2, mux.counters().peakResidentModels());

    // ServerlessLLM-like: a starts resident; each later request finds the other model resident and
    // quiet, evicts it and cold-starts (2 GB / 10 GB/s = 200 ms): 5 swaps, never two models at once
    // (SimGpu checks it at every step and activation)
    SimResult sllm = Simulator.run(w, slo, SimPolicy.SERVERLESS_LLM, GPU, 1);
    assertEquals(1, sllm.counters().peakResidentModels());
    assertEquals(5, sllm.counters().activations());
    assertEquals(5, sllm.counters().evictions());
    assertEquals(1.0, sllm.attainment());
    // b's requests wait for the activation, then 2.2 ms of prefill
    assertEquals(200_000_000L + 2_200_000L, sllm.models().get(1).p95TtftNanos());

    // QLM-like: the same swaps (requests 5 s apart now, longer than a swap), each with the engine restart on top
    List<Workload.Arrival> apart = new ArrayList<>();
    for (Workload.Arrival a : arrivals) apart.add(new Workload.Arrival(a.requestId(), a.modelId(), a.arrivalNanos() * 5, 100, 3));
    SimResult qlm = Simulator.run(Workload.of(w.models(), apart, 30 * S), slo, SimPolicy.QLM, GPU, 1);
    assertEquals(1, qlm.counters().peakResidentModels());
    assertEquals(5, qlm.counters().activations());
    assertEquals(200_000_000L + SimPolicy.QLM_SWAP_OVERHEAD.toNanos() + 2_200_000L, qlm.models().get(1).p95TtftNanos());
  }

  @Test
  void qlmEndsTheResidentRequestGroupWhenAnEarlierDeadlineWaits() {
    // a is resident and gets a steady stream (one request per 100 ms, 50 tokens each); b's one
    // request at 1 s has a tighter TTFT deadline. ServerlessLLM-like keeps serving a while it is
    // never quiet: b waits until a's stream ends at 10 s. QLM closes a's group: b is served early.
    Slo aSlo = new Slo(Duration.ofSeconds(60), Duration.ofSeconds(1));
    Slo bSlo = new Slo(Duration.ofSeconds(5), Duration.ofSeconds(1));
    List<Workload.Arrival> arrivals = new ArrayList<>();
    for (int i = 0; i < 100; i++) arrivals.add(new Workload.Arrival(String.format("a%03d", i), "a", i * 100 * MS, 100, 50));
    arrivals.add(new Workload.Arrival("b", "b", S, 100, 2));
    Workload w = Workload.of(List.of(model("a", TINY, 10), model("b", TINY, 1)), arrivals, 10 * S);
    Map<String, Slo> slo = new LinkedHashMap<>();
    slo.put("a", aSlo);
    slo.put("b", bSlo);
    SimResult sllm = Simulator.run(w, slo, SimPolicy.SERVERLESS_LLM, GPU, 1);
    SimResult qlm = Simulator.run(w, slo, SimPolicy.QLM, GPU, 1);
    long sllmB = sllm.models().get(1).p95TtftNanos();
    long qlmB = qlm.models().get(1).p95TtftNanos();
    assertTrue(sllmB > 5 * S, "ServerlessLLM-like: b waits for a's stream to end, TTFT " + sllmB / MS + " ms");
    assertTrue(qlmB < 5 * S, "QLM-like: a's group ends for b's earlier deadline, TTFT " + qlmB / MS + " ms");
    assertEquals(1, qlm.models().get(1).bothMet());
    assertEquals(1, qlm.counters().peakResidentModels());
    assertEquals(0, qlm.models().get(0).unfinished(), "a's requests that waited get their next group");
  }
}
