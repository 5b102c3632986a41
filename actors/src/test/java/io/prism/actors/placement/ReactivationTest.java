package io.prism.actors.placement;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.prism.actors.GpuId;
import io.prism.actors.ModelSpec;
import io.prism.actors.TestSupport;
import io.prism.actors.gpu.GpuActor;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Reactivation where it fits: a lookup of a model whose weights are evicted reactivates it on the
 * lowest-KVPR GPU of its node (by live migration: lookups say "loading" until the target serves,
 * then the evicted copy's GPU hands off), and in place when its own GPU is that GPU.
 */
class ReactivationTest {
  private static final long GIB = 1L << 30;
  private static final long WEIGHTS = 200L << 20;
  private static ActorTestKit testKit;

  @BeforeAll
  static void start() {
    testKit = ActorTestKit.create("reactivation-test", TestSupport.config(""));
  }

  @AfterAll
  static void stop() {
    testKit.shutdownTestKit();
  }

  /** GPUs 0 and 1 on one node, GPU 2 on another. */
  private static GpuId gpu(int i) {
    return i < 2 ? new GpuId("10.0.0.1", 25520, i) : new GpuId("10.0.0.2", 25520, 0);
  }

  private static GlobalPlacementActor.Resident resident(String id, boolean weightsResident, double rate) {
    ModelSpec spec = new ModelSpec(id, "/models/" + id + ".bin", null, Duration.ofSeconds(1), Duration.ofMillis(100), WEIGHTS);
    return new GlobalPlacementActor.Resident(spec, 512, WEIGHTS, weightsResident, rate, 128 * 1024, 0, 0);
  }

  private record Rig(ActorRef<GlobalPlacementActor.Command> placement, Map<GpuId, TestProbe<GpuActor.Command>> probes) {
    void report(int i, GlobalPlacementActor.Resident... models) {
      placement.tell(new GlobalPlacementActor.GpuReport(gpu(i), "test-" + i, 1, GIB, GIB, true, List.of(models)));
    }

    GlobalPlacementActor.Resolution resolve() {
      TestProbe<GlobalPlacementActor.Resolution> where = testKit.createTestProbe();
      placement.tell(new GlobalPlacementActor.Resolve("m", where.ref()));
      return where.receiveMessage();
    }
  }

  /** m registered and loaded on GPU 0 while it is the only GPU; then GPUs 1 and 2 join. */
  private static Rig rig() {
    Map<GpuId, TestProbe<GpuActor.Command>> probes = new TreeMap<>();
    for (int i = 0; i < 3; i++) probes.put(gpu(i), testKit.createTestProbe());
    Rig rig = new Rig(testKit.spawn(GlobalPlacementActor.create(g -> probes.get(g).ref(), PlacementSettings.DEFAULTS, false)), probes);
    rig.report(0);
    TestProbe<GlobalPlacementActor.RegisterReply> reg = testKit.createTestProbe();
    rig.placement().tell(new GlobalPlacementActor.RegisterModel(resident("m", true, 0).spec(), reg.ref()));
    GpuActor.LoadModel load = probes.get(gpu(0)).expectMessageClass(GpuActor.LoadModel.class);
    load.replyTo().tell(new GpuActor.ModelLoaded(gpu(0), "m", 512, WEIGHTS));
    assertInstanceOf(GlobalPlacementActor.Registered.class, reg.receiveMessage());
    return rig;
  }

  @Test
  void anEvictedModelIsReactivatedOnTheLowestKvprGpuOfItsNodeAndItsEvictedCopyHandsOff() {
    Rig rig = rig();
    rig.report(1, resident("warm", true, 500)); // same node, some pressure
    rig.report(2); // another node, idle: lower KVPR, but the weights are in node 1's host memory
    rig.report(0, resident("m", false, 0), resident("busy", true, 4000)); // m evicted beside a hot model
    assertInstanceOf(GlobalPlacementActor.Loading.class, rig.resolve(), "lookups wait while it loads where it fits");
    GpuActor.LoadModel load = rig.probes().get(gpu(1)).expectMessageClass(GpuActor.LoadModel.class);
    assertEquals("m", load.spec().id());
    rig.probes().get(gpu(2)).expectNoMessage(Duration.ofMillis(100));
    assertInstanceOf(GlobalPlacementActor.Loading.class, rig.resolve());

    load.replyTo().tell(new GpuActor.ModelLoaded(gpu(1), "m", 512, WEIGHTS));
    GpuActor.HandOff handOff = rig.probes().get(gpu(0)).expectMessageClass(GpuActor.HandOff.class);
    assertEquals(gpu(1), handOff.to(), "the evicted copy hands off and unloads");
    GlobalPlacementActor.Located there = assertInstanceOf(GlobalPlacementActor.Located.class, rig.resolve());
    assertEquals(gpu(1), there.model().gpu());
    assertEquals(handOff.epoch(), there.epoch());
  }

  @Test
  void anEvictedModelWhoseGpuIsTheBestIsReactivatedInPlace() {
    Rig rig = rig();
    rig.report(1, resident("busy", true, 4000));
    rig.report(0, resident("m", false, 0));
    GlobalPlacementActor.Located here = assertInstanceOf(GlobalPlacementActor.Located.class, rig.resolve());
    assertEquals(gpu(0), here.model().gpu());
    assertTrue(here.instances().stream().noneMatch(GlobalPlacementActor.Instance::weightsResident), "the answer says it is evicted");
    for (int i = 1; i < 3; i++) rig.probes().get(gpu(i)).expectNoMessage(Duration.ofMillis(100));
  }
}
