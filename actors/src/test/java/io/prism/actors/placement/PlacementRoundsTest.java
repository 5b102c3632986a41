package io.prism.actors.placement;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.prism.actors.GpuId;
import io.prism.actors.ModelSpec;
import io.prism.actors.TestSupport;
import io.prism.actors.gpu.GpuActor;
import io.prism.runtime.policy.GpuCapacity;
import io.prism.runtime.policy.KvprPlacement;
import io.prism.runtime.policy.MigrationBudget;
import io.prism.runtime.policy.ModelDemand;
import io.prism.runtime.policy.Move;
import io.prism.runtime.policy.Placement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Placement rounds of the singleton over reported demand, against GPU actors played by probes. */
class PlacementRoundsTest {
  private static final long GIB = 1L << 30;
  private static final long WEIGHTS = 200L << 20;
  private static final long KV_PER_TOKEN = 128 * 1024;
  private static final Duration TPOT = Duration.ofMillis(100);
  private static ActorTestKit testKit;

  @BeforeAll
  static void start() {
    testKit = ActorTestKit.create("placement-rounds-test", TestSupport.config(""));
  }

  @AfterAll
  static void stop() {
    testKit.shutdownTestKit();
  }

  private static GpuId gpu(int i) {
    return new GpuId("10.0.0.1", 25520, i);
  }

  private static ModelSpec spec(String id) {
    return new ModelSpec(id, "/models/" + id + ".bin", null, Duration.ofSeconds(1), TPOT, WEIGHTS);
  }

  private static GlobalPlacementActor.Resident resident(String id, double rate) {
    return new GlobalPlacementActor.Resident(spec(id), 512, WEIGHTS, true, rate, KV_PER_TOKEN, 0, 1);
  }

  private record Rig(ActorRef<GlobalPlacementActor.Command> placement, Map<GpuId, TestProbe<GpuActor.Command>> probes) {
    void report(int i, List<GlobalPlacementActor.Resident> models) {
      placement.tell(new GlobalPlacementActor.GpuReport(gpu(i), "test-" + i, 1, GIB, GIB, true, models));
    }

    PlacementView rebalance() {
      TestProbe<PlacementView> reply = testKit.createTestProbe();
      placement.tell(new GlobalPlacementActor.Rebalance(reply.ref()));
      return reply.receiveMessage();
    }

  }

  private static Rig rig(int gpus, MigrationBudget.Limits limits) {
    return rig(gpus, PlacementSettings.DEFAULTS.withLimits(limits));
  }

  private static Rig rig(int gpus, PlacementSettings settings) {
    Map<GpuId, TestProbe<GpuActor.Command>> probes = new TreeMap<>();
    for (int i = 0; i < gpus; i++) probes.put(gpu(i), testKit.createTestProbe());
    return new Rig(testKit.spawn(GlobalPlacementActor.create(g -> probes.get(g).ref(), settings, false)), probes);
  }

  /** Drains the LoadModel messages the probes got within {@code wait}: model -> GPU. */
  private static Map<String, GpuActor.LoadModel> loads(Rig rig, Duration wait) {
    Map<String, GpuActor.LoadModel> out = new TreeMap<>();
    rig.probes().forEach((g, p) -> {
      while (true) {
        GpuActor.Command c;
        try {
          c = p.receiveMessage(wait);
        } catch (AssertionError timeout) {
          break;
        }
        if (c instanceof GpuActor.LoadModel l) out.put(l.spec().id() + "@" + g, l);
      }
    });
    return out;
  }

  /** Four hot models on GPU 0, nothing on GPUs 1-3 (the empty GPUs report first, so the round GPU 0's arrival starts sees them all). */
  private static final Map<String, Double> SKEW = Map.of("a", 4000.0, "b", 3000.0, "c", 2000.0, "d", 1000.0);

  private static void reportSkew(Rig rig) {
    List<GlobalPlacementActor.Resident> hot = new ArrayList<>();
    new TreeMap<>(SKEW).forEach((id, rate) -> hot.add(resident(id, rate)));
    for (int i = 1; i < rig.probes().size(); i++) rig.report(i, List.of());
    rig.report(0, hot);
  }

  @Test
  void aRoundUnderSkewedBurstsMakesTheMovesKvprPlacementComputesAndLowersTheMaximumKvpr() {
    Rig rig = rig(4, MigrationBudget.Limits.UNBOUNDED);
    reportSkew(rig);
    PlacementView view = rig.rebalance();

    // the same snapshot through the policy directly
    List<ModelDemand> demands = new ArrayList<>();
    new TreeMap<>(SKEW).forEach((id, rate) -> demands.add(ModelDemand.of(id, rate, KV_PER_TOKEN, TPOT, WEIGHTS, 0)));
    List<GpuCapacity> caps = new ArrayList<>();
    for (int i = 0; i < 4; i++) caps.add(new GpuCapacity(i, GIB));
    Placement expected = new KvprPlacement(PlacementSettings.DEFAULTS.tau()).withRelativeThreshold(PlacementSettings.DEFAULTS.relativeTau())
        .place(demands, caps);
    assertTrue(expected.migrations().size() >= 2, "the skew is worth several moves: " + expected.reason());
    Map<String, GpuId> want = new TreeMap<>();
    for (Move m : expected.migrations()) want.put(m.modelId(), gpu(m.toGpus().get(0)));

    Map<String, GpuId> got = new TreeMap<>();
    for (PlacementView.MigrationView m : view.inFlight()) got.put(m.modelId(), m.to());
    assertEquals(want, got);
    Map<String, GpuActor.LoadModel> loads = loads(rig, Duration.ofMillis(300));
    assertEquals(want.size(), loads.size());
    want.forEach((id, g) -> assertTrue(loads.containsKey(id + "@" + g), "LoadModel of " + id + " went to " + g + ": " + loads.keySet()));

    double before = Collections.max(KvprPlacement.currentKvpr(demands, caps).values());
    double after = Collections.max(expected.kvprByGpu().values());
    assertTrue(after < before, "maximum KVPR " + before + " -> " + after);
    double reported = view.gpus().stream().mapToDouble(PlacementView.GpuRow::kvpr).max().orElseThrow();
    assertEquals(after, reported, after * 1e-9, "the view counts moving models on their targets");
  }

  @Test
  void churnStaysWithinTheCooldownAndTheBudgetUnderAFlappingWorkload() {
    MigrationBudget.Limits limits = new MigrationBudget.Limits(Duration.ofMinutes(10), 1, 2);
    Rig rig = rig(4, limits);
    reportSkew(rig);
    int moves = 0;
    for (int round = 0; round < 6; round++) {
      rig.rebalance();
      Map<String, GpuActor.LoadModel> loads = loads(rig, Duration.ofMillis(200));
      assertTrue(loads.size() <= 1, "GPU 0 takes part in one migration at a time: " + loads.keySet());
      for (Map.Entry<String, GpuActor.LoadModel> e : loads.entrySet()) {
        moves++;
        GpuId target = GpuId.parse(e.getKey().substring(e.getKey().indexOf('@') + 1));
        e.getValue().replyTo().tell(new GpuActor.ModelLoaded(target, e.getValue().spec().id(), 512, WEIGHTS));
      }
      // the workload flaps: everything is reported hot on GPU 0 again (the moved models' old copies)
      reportSkew(rig);
    }
    // four models, each at most once within the 10-minute cooldown
    assertTrue(moves <= SKEW.size(), "moves " + moves);
    assertTrue(moves >= 2, "the skew still gets relieved: " + moves);
  }

  @Test
  void aGpuThatJoinsTakesModelsInTheNextRound() {
    Rig rig = rig(2, MigrationBudget.Limits.UNBOUNDED);
    List<GlobalPlacementActor.Resident> hot = new ArrayList<>();
    new TreeMap<>(SKEW).forEach((id, rate) -> hot.add(resident(id, rate)));
    rig.report(0, hot);
    assertTrue(loads(rig, Duration.ofMillis(200)).isEmpty(), "one GPU: nowhere to move");
    rig.report(1, List.of()); // joins
    Map<String, GpuActor.LoadModel> loads = loads(rig, Duration.ofMillis(300));
    assertTrue(!loads.isEmpty() && loads.keySet().stream().allMatch(k -> k.endsWith("@" + gpu(1))), "the new GPU gets models: " + loads.keySet());
  }

  @Test
  void aMigrationWhoseTargetFailsIsAbandonedAndTheModelKeepsServingOnItsSource() {
    Rig rig = rig(2, MigrationBudget.Limits.UNBOUNDED);
    rig.report(0, List.of(resident("m", 0)));
    rig.report(1, List.of());
    TestProbe<GlobalPlacementActor.MoveReply> reply = testKit.createTestProbe();
    rig.placement().tell(new GlobalPlacementActor.MoveModel("m", gpu(1), reply.ref()));
    GpuActor.LoadModel load = rig.probes().get(gpu(1)).expectMessageClass(GpuActor.LoadModel.class);
    // the target restarts midway (new incarnation), then its load fails
    rig.placement().tell(new GlobalPlacementActor.GpuReport(gpu(1), "test-1", 2, GIB, GIB, true, List.of()));
    GlobalPlacementActor.MoveFailed f = assertInstanceOf(GlobalPlacementActor.MoveFailed.class, reply.receiveMessage());
    assertEquals(GlobalPlacementActor.MoveProblem.FAILED, f.problem());
    load.replyTo().tell(new GpuActor.LoadFailed(gpu(1), "m", "restarted"));
    rig.probes().get(gpu(0)).expectNoMessage(Duration.ofMillis(200)); // no hand-off to the source

    TestProbe<GlobalPlacementActor.Resolution> where = testKit.createTestProbe();
    rig.placement().tell(new GlobalPlacementActor.Resolve("m", where.ref()));
    assertEquals(gpu(0), assertInstanceOf(GlobalPlacementActor.Located.class, where.receiveMessage()).model().gpu());
    TestProbe<PlacementView> v = testKit.createTestProbe();
    rig.placement().tell(new GlobalPlacementActor.GetPlacement(v.ref()));
    PlacementView view = v.receiveMessage();
    assertTrue(view.inFlight().isEmpty());
    assertEquals(1L, view.migrationsByOutcome().get("abandoned"));

    // a load that completes after the abandonment is unloaded again
    rig.placement().tell(new GlobalPlacementActor.MoveModel("m", gpu(1), reply.ref()));
    GpuActor.LoadModel again = rig.probes().get(gpu(1)).expectMessageClass(GpuActor.LoadModel.class);
    again.replyTo().tell(new GpuActor.LoadFailed(gpu(1), "m", "out of memory"));
    assertEquals(GlobalPlacementActor.MoveProblem.FAILED, assertInstanceOf(GlobalPlacementActor.MoveFailed.class, reply.receiveMessage()).problem());
  }

  /**
   * The TPOT co-location guard in a live round: GPU 0 holds hot models {@code a} and {@code b}, GPU
   * 1 holds {@code x}, whose 512-token prefill chunk takes 95 ms. By KV pressure alone {@code b}
   * belongs beside {@code x}; there a token of {@code b} could wait for both decode steps and
   * {@code x}'s chunk (5 + 5 + 95 ms), over the 100 ms TPOT SLO of both. With the guard on (the
   * default) {@code b} stays; with it off the same reports move it.
   */
  @Test
  void aRoundDoesNotMoveAModelWhereTheReportedStepTimesWouldBreakATpotSlo() {
    long ms = 1_000_000;
    for (boolean guard : new boolean[] {true, false}) {
      PlacementSettings settings = PlacementSettings.DEFAULTS.withLimits(MigrationBudget.Limits.UNBOUNDED).withTau(PlacementSettings.DEFAULTS.tau(), 0)
          .withTpotGuard(guard);
      Rig rig = rig(2, settings);
      rig.report(1, List.of(new GlobalPlacementActor.Resident(spec("x"), 512, WEIGHTS, true, 3500, KV_PER_TOKEN, 0, 1, 5 * ms, 95 * ms)));
      rig.report(0, List.of(new GlobalPlacementActor.Resident(spec("a"), 512, WEIGHTS, true, 4000, KV_PER_TOKEN, 0, 1, 5 * ms, 5 * ms),
          new GlobalPlacementActor.Resident(spec("b"), 512, WEIGHTS, true, 3000, KV_PER_TOKEN, 0, 1, 5 * ms, 5 * ms)));
      PlacementView view = rig.rebalance();
      Map<String, GpuId> moving = new TreeMap<>();
      for (PlacementView.MigrationView m : view.inFlight()) moving.put(m.modelId(), m.to());
      Map<String, GpuActor.LoadModel> loads = loads(rig, Duration.ofMillis(200));
      if (guard) {
        assertEquals(Map.of(), moving, "with the guard b stays beside a: " + view.lastRound());
        assertTrue(loads.isEmpty(), "no load was asked for: " + loads.keySet());
      } else {
        assertEquals(Map.of("b", gpu(1)), moving, "without the guard KV pressure moves b beside x: " + view.lastRound());
        assertTrue(loads.containsKey("b@" + gpu(1)), loads.keySet().toString());
      }
    }
  }
}
