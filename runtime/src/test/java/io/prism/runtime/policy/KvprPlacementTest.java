package io.prism.runtime.policy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

class KvprPlacementTest {
  private static final Duration ONE_SECOND = Duration.ofSeconds(1);
  private static final double EPS = 1e-12;

  /** kvBytesPerToken 1 and TPOT 1 s: demand = rate. */
  private static ModelDemand model(String id, double rate, long weightBytes, int currentGpu) {
    return ModelDemand.of(id, rate, 1, ONE_SECOND, weightBytes, currentGpu);
  }

  private static List<GpuCapacity> gpus(long... budgets) {
    List<GpuCapacity> out = new ArrayList<>();
    for (int i = 0; i < budgets.length; i++) out.add(new GpuCapacity(i, budgets[i]));
    return out;
  }

  @Test
  void demandIsRateTimesKvBytesOverTpot() {
    ModelDemand m = ModelDemand.of("m", 1000, 131072, Duration.ofMillis(100), 0, -1);
    assertEquals(1000 * 131072 / 0.1, m.kvDemand(), 1e-3);
  }

  @Test
  void placesHighestDemandFirstOnLowestKvprAfterAdding() {
    // A(10, 20 B), B(5, 20 B), C(4, 50 B) on two GPUs of 100 B.
    // A: both 10/80 -> tie -> GPU 0. B: GPU0 15/60=0.25, GPU1 5/80 -> GPU 1.
    // C: GPU0 14/30, GPU1 9/30 -> GPU 1.
    Placement p = new KvprPlacement(0).place(
        List.of(model("c", 4, 50, -1), model("a", 10, 20, -1), model("b", 5, 20, -1)), gpus(100, 100));
    assertEquals(Map.of("a", List.of(0), "b", List.of(1), "c", List.of(1)), p.assignment());
    assertEquals(List.of("a", "b", "c"), p.moves().stream().map(Move::modelId).toList());
    assertTrue(p.moves().stream().noneMatch(Move::isMigration));
    assertTrue(p.unplaced().isEmpty());
    assertEquals(10.0 / 80, p.kvprByGpu().get(0), EPS);
    assertEquals(9.0 / 30, p.kvprByGpu().get(1), EPS);
  }

  @Test
  void migratesOnlyWhenCurrentKvprExceedsBestByMoreThanTau() {
    // Current: a on 1, b on 1, c on 0.
    // a: both GPUs empty, 10/80 each: keep GPU 1.
    // b: GPU0 5/80 = 0.0625, GPU1 (10+5)/60 = 0.25: excess 0.1875.
    List<ModelDemand> models = List.of(model("a", 10, 20, 1), model("b", 5, 20, 1), model("c", 4, 50, 0));

    Placement moving = new KvprPlacement(0.1).place(models, gpus(100, 100));
    assertEquals(Map.of("a", List.of(1), "b", List.of(0), "c", List.of(0)), moving.assignment());
    assertEquals(1, moving.moves().size());
    Move m = moving.moves().get(0);
    assertEquals("b", m.modelId());
    assertEquals(List.of(1), m.fromGpus());
    assertEquals(List.of(0), m.toGpus());
    assertTrue(m.isMigration());
    assertEquals(1, moving.migrations().size());
    // GPU0: b + c = 9 over 100-70; GPU1: a = 10 over 80.
    assertEquals(9.0 / 30, moving.kvprByGpu().get(0), EPS);
    assertEquals(10.0 / 80, moving.kvprByGpu().get(1), EPS);

    Placement staying = new KvprPlacement(0.2).place(models, gpus(100, 100));
    assertEquals(Map.of("a", List.of(1), "b", List.of(1), "c", List.of(0)), staying.assignment());
    assertTrue(staying.moves().isEmpty());
  }

  @Test
  void relativeThresholdAlsoHasToBeExceededToMigrate() {
    // b: current 0.25 vs best 0.0625 = 4x the best. tau 0.1 alone moves it (see above).
    List<ModelDemand> models = List.of(model("a", 10, 20, 1), model("b", 5, 20, 1), model("c", 4, 50, 0));
    assertEquals(List.of(0), new KvprPlacement(0.1).withRelativeThreshold(2.9).place(models, gpus(100, 100)).assignment().get("b"));
    assertEquals(List.of(1), new KvprPlacement(0.1).withRelativeThreshold(3.0).place(models, gpus(100, 100)).assignment().get("b"));
    assertThrows(IllegalArgumentException.class, () -> new KvprPlacement().withRelativeThreshold(-0.1));
  }

  @Test
  void weightsMustLeaveRoomForKv() {
    Placement p = new KvprPlacement().place(List.of(model("full", 1, 100, -1), model("fits", 1, 99, -1)), gpus(100));
    assertEquals(Map.of("fits", List.of(0)), p.assignment());
    assertEquals(List.of("full"), p.unplaced());
    assertEquals(1.0 / 1, p.kvprByGpu().get(0), EPS);
  }

  @Test
  void placesTensorParallelShardsOnDistinctLowestKvprGpus() {
    // x: demand 20, weight 10 -> GPU 0 (tie). t: demand 8 over 2 shards (4 each), 60 B -> 30 B per shard.
    // GPU0 (20+4)/(100-10-30) = 0.4; GPU1, GPU2 4/70 -> [1, 2].
    ModelDemand t = new ModelDemand("t", 8, 1, ONE_SECOND, 60, List.of(), 2);
    Placement p = new KvprPlacement().place(List.of(t, model("x", 20, 10, -1)), gpus(100, 100, 100));
    assertEquals(List.of(0), p.assignment().get("x"));
    assertEquals(List.of(1, 2), p.assignment().get("t"));
    assertEquals(4.0 / 70, p.kvprByGpu().get(1), EPS);
    assertEquals(4.0 / 70, p.kvprByGpu().get(2), EPS);
  }

  @Test
  void tensorParallelDegreeAboveGpuCountIsUnplaced() {
    ModelDemand t = new ModelDemand("t", 8, 1, ONE_SECOND, 60, List.of(), 3);
    Placement p = new KvprPlacement().place(List.of(t), gpus(100, 100));
    assertEquals(List.of("t"), p.unplaced());
    assertTrue(p.assignment().isEmpty());
  }

  @Test
  void modelOnVanishedGpuIsPlacedAnewAndTheMoveNamesTheOldGpu() {
    Placement p = new KvprPlacement(1e9).place(List.of(model("a", 1, 10, 7)), gpus(100, 100));
    assertEquals(List.of(0), p.assignment().get("a"));
    assertEquals(List.of(7), p.moves().get(0).fromGpus());
  }

  @Test
  void rejectsDuplicateIdsAndNegativeTau() {
    assertThrows(IllegalArgumentException.class, () -> new KvprPlacement(-1));
    assertThrows(IllegalArgumentException.class,
        () -> new KvprPlacement().place(List.of(model("a", 1, 1, -1), model("a", 2, 1, -1)), gpus(10)));
    assertThrows(IllegalArgumentException.class, () -> new KvprPlacement().place(List.of(), List.of(new GpuCapacity(0, 5), new GpuCapacity(0, 6))));
  }

  @Test
  void planDoesNotDependOnInputOrderAndRespectsBudgetsOnRandomInstances() {
    Random rnd = new Random(42);
    for (int trial = 0; trial < 300; trial++) {
      int g = 1 + rnd.nextInt(5);
      List<GpuCapacity> gs = new ArrayList<>();
      for (int i = 0; i < g; i++) gs.add(new GpuCapacity(i * 3, 50 + rnd.nextInt(200)));
      List<ModelDemand> ms = new ArrayList<>();
      int n = rnd.nextInt(10);
      for (int i = 0; i < n; i++) {
        int tp = 1 + rnd.nextInt(Math.min(2, g));
        List<Integer> cur = new ArrayList<>();
        if (rnd.nextBoolean()) {
          List<GpuCapacity> shuffled = new ArrayList<>(gs);
          Collections.shuffle(shuffled, rnd);
          for (int s = 0; s < tp; s++) cur.add(shuffled.get(s).gpuId());
        }
        ms.add(new ModelDemand("m" + i, rnd.nextInt(4) * 2.5, 1 + rnd.nextInt(4), Duration.ofMillis(50 + rnd.nextInt(3) * 50),
            rnd.nextInt(120), cur, tp));
      }
      KvprPlacement policy = new KvprPlacement(rnd.nextInt(3) * 0.05);
      Placement p = policy.place(ms, gs);
      List<ModelDemand> shuffledModels = new ArrayList<>(ms);
      Collections.shuffle(shuffledModels, rnd);
      List<GpuCapacity> shuffledGpus = new ArrayList<>(gs);
      Collections.shuffle(shuffledGpus, rnd);
      assertEquals(p, policy.place(shuffledModels, shuffledGpus));

      Map<Integer, Long> weights = new HashMap<>();
      for (ModelDemand m : ms) {
        List<Integer> a = p.assignment().get(m.modelId());
        if (a == null) {
          assertTrue(p.unplaced().contains(m.modelId()));
          continue;
        }
        assertEquals(m.tensorParallelDegree(), a.size());
        assertEquals(a.size(), a.stream().distinct().count(), "shards on distinct GPUs");
        for (int gpu : a) weights.merge(gpu, m.shardWeightBytes(), Long::sum);
        boolean moved = p.moves().stream().anyMatch(mv -> mv.modelId().equals(m.modelId()));
        assertEquals(!a.equals(m.currentGpus()), moved);
      }
      for (GpuCapacity gc : gs) assertTrue(weights.getOrDefault(gc.gpuId(), 0L) < gc.memoryBudgetBytes());
    }
  }

  @Test
  void tpotGuardKeepsATightModelOffTheGpuOfABigModelEvenAtHigherKvpr() {
    long ms = 1_000_000L;
    // big (rate 100) goes first, to the roomy GPU 0; KVPR alone would put tight (rate 50) there too
    // (GPU 1 is small, so its KVPR would be far higher)
    List<ModelDemand> models = List.of(model("big", 100, 10, -1), model("tight", 50, 10, -1));
    List<GpuCapacity> gpus = gpus(100_000, 200);
    Placement plain = new KvprPlacement(0).place(models, gpus);
    assertEquals(List.of(0), plain.assignment().get("tight"), "KVPR alone puts tight beside big: " + plain.assignment());
    Map<String, TpotColocation.Member> members = Map.of(
        "big", new TpotColocation.Member("big", 300 * ms, 12 * ms, 43 * ms),
        "tight", new TpotColocation.Member("tight", 30 * ms, 3 * ms, 5 * ms));
    Placement guarded = new KvprPlacement(0).withTpotGuard(members).place(models, gpus);
    assertEquals(List.of(0), guarded.assignment().get("big"));
    assertEquals(List.of(1), guarded.assignment().get("tight"), "the guard keeps tight's 30 ms TPOT away from big's 43 ms chunk");
    // with only one GPU the guard gives way: the model is still placed
    Placement one = new KvprPlacement(0).withTpotGuard(members).place(models, gpus(100_000));
    assertEquals(List.of(0), one.assignment().get("tight"));
  }
}
