package io.prism.actors.placement;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.prism.actors.GpuId;
import io.prism.actors.ModelSpec;
import io.prism.actors.TestSupport;
import io.prism.actors.gpu.GpuActor;
import io.prism.runtime.policy.MigrationBudget;
import io.prism.runtime.policy.ReplicaScaling;
import java.time.Duration;
import java.util.ArrayList;
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
 * Replicas in the placement singleton, against GPU actors played by probes whose reports the test
 * writes: an instance is added under sustained overload on the lowest-KVPR GPU and removed after
 * the load falls (not within the cooldown); a lost GPU loses only its instance; unregistering
 * removes every instance.
 */
class ReplicasTest {
  private static final long GIB = 1L << 30;
  private static final long WEIGHTS = 200L << 20;
  private static final long KV_PER_TOKEN = 128 * 1024;
  private static final Duration TPOT = Duration.ofMillis(100);
  private static final Duration QUIET = Duration.ofMillis(150);
  private static ActorTestKit testKit;

  @BeforeAll
  static void start() {
    testKit = ActorTestKit.create("replicas-test", TestSupport.config(""));
  }

  @AfterAll
  static void stop() {
    testKit.shutdownTestKit();
  }

  private static GpuId gpu(int i) {
    return new GpuId("10.0.0.1", 25520, i);
  }

  private static ModelSpec spec(String id, int maxReplicas) {
    return new ModelSpec(id, "/models/" + id + ".bin", null, Duration.ofSeconds(1), TPOT, WEIGHTS, 0, 0, maxReplicas);
  }

  private static GlobalPlacementActor.Resident resident(String id, double rate, int queued, int running) {
    return new GlobalPlacementActor.Resident(spec(id, id.equals("m") ? 2 : 1), 512, WEIGHTS, true, rate, KV_PER_TOKEN, queued, running);
  }

  private record Rig(ActorRef<GlobalPlacementActor.Command> placement, Map<GpuId, TestProbe<GpuActor.Command>> probes, long[] incarnations) {
    void report(int i, GlobalPlacementActor.Resident... models) {
      placement.tell(new GlobalPlacementActor.GpuReport(gpu(i), "test-" + i, incarnations[i], GIB, GIB, true, List.of(models)));
    }

    void restart(int i) {
      incarnations[i]++;
      report(i);
    }

    void rebalance() {
      TestProbe<PlacementView> reply = testKit.createTestProbe();
      placement.tell(new GlobalPlacementActor.Rebalance(reply.ref()));
      reply.receiveMessage();
    }

    GlobalPlacementActor.Resolution resolve(String id) {
      TestProbe<GlobalPlacementActor.Resolution> where = testKit.createTestProbe();
      placement.tell(new GlobalPlacementActor.Resolve(id, where.ref()));
      return where.receiveMessage();
    }

    PlacementView view() {
      TestProbe<PlacementView> v = testKit.createTestProbe();
      placement.tell(new GlobalPlacementActor.GetPlacement(v.ref()));
      return v.receiveMessage();
    }

    /** The next message of class {@code type} GPU {@code i} got within {@code wait} (others skipped), or null. */
    <T extends GpuActor.Command> T next(int i, Class<T> type, Duration wait) {
      long end = System.nanoTime() + wait.toNanos();
      while (true) {
        long left = end - System.nanoTime();
        if (left <= 0) return null;
        GpuActor.Command c;
        try {
          c = probes.get(gpu(i)).receiveMessage(Duration.ofNanos(left));
        } catch (AssertionError timeout) {
          return null;
        }
        if (type.isInstance(c)) return type.cast(c);
      }
    }

    /**
     * GPUs (of {@code among}) that got a LoadModel of {@code id} (each is answered ModelLoaded): the
     * probes are polled in turn until one has, or {@code wait} is over.
     */
    List<Integer> loadsOf(String id, Duration wait, int... among) {
      List<Integer> out = new ArrayList<>();
      long end = System.nanoTime() + wait.toNanos();
      while (out.isEmpty() && System.nanoTime() < end) {
        for (int i : among) {
          GpuActor.LoadModel l = next(i, GpuActor.LoadModel.class, Duration.ofMillis(30));
          if (l != null && l.spec().id().equals(id)) {
            out.add(i);
            l.replyTo().tell(new GpuActor.ModelLoaded(gpu(i), id, 512, WEIGHTS));
          }
        }
      }
      return out;
    }
  }

  private static Rig rig(MigrationBudget.Limits limits, ReplicaScaling.Limits replicas) {
    Map<GpuId, TestProbe<GpuActor.Command>> probes = new TreeMap<>();
    for (int i = 0; i < 3; i++) probes.put(gpu(i), testKit.createTestProbe());
    PlacementSettings settings = PlacementSettings.DEFAULTS.withLimits(limits).withReplicas(replicas, Duration.ZERO);
    Rig rig = new Rig(testKit.spawn(GlobalPlacementActor.create(g -> probes.get(g).ref(), settings, false)), probes, new long[] {1, 1, 1});
    // m (up to 2 instances) on GPU 0; GPU 1 is busy with a hot model; GPU 2 is empty
    rig.report(0);
    TestProbe<GlobalPlacementActor.RegisterReply> reg = testKit.createTestProbe();
    rig.placement().tell(new GlobalPlacementActor.RegisterModel(spec("m", 2), reg.ref()));
    assertEquals(List.of(0), rig.loadsOf("m", Duration.ofSeconds(5), 0));
    assertEquals(gpu(0), assertInstanceOf(GlobalPlacementActor.Registered.class, reg.receiveMessage()).model().gpu());
    rig.report(1, resident("busy", 4000, 0, 4));
    rig.report(2);
    return rig;
  }

  private static GlobalPlacementActor.Located located(Rig rig) {
    return assertInstanceOf(GlobalPlacementActor.Located.class, rig.resolve("m"));
  }

  @Test
  void aReplicaIsAddedUnderSustainedOverloadOnTheLowestKvprGpuAndRemovedAfterTheCooldown() {
    Duration cooldown = Duration.ofSeconds(2);
    // add: 4 queued for 3 checks; remove: nothing queued and KVPR <= 0.001 for 2 checks
    Rig rig = rig(new MigrationBudget.Limits(cooldown, 1, 2), new ReplicaScaling.Limits(4, 10.0, 3, 1, 0.001, 2));
    rig.report(0, resident("m", 0, 10, 2));
    rig.rebalance();
    rig.rebalance();
    assertTrue(rig.loadsOf("m", QUIET, 1, 2).isEmpty(), "two overloaded checks of three: no instance yet");
    long beforeAdd = System.nanoTime();
    rig.rebalance();
    assertEquals(List.of(2), rig.loadsOf("m", Duration.ofSeconds(5), 1, 2), "the instance goes to the empty GPU, not the busy one");
    rig.report(2, resident("m", 0, 0, 0));

    GlobalPlacementActor.Located two = located(rig);
    assertEquals(List.of(gpu(2)), two.model().replicas());
    assertEquals(List.of(gpu(0), gpu(2)), two.instances().stream().map(GlobalPlacementActor.Instance::gpu).toList());
    assertEquals(10, two.instances().get(0).queued(), "instances carry their reported queues");
    PlacementView view = rig.view();
    for (int g : new int[] {0, 2}) {
      assertTrue(view.gpus().stream().filter(r -> r.gpu().equals(gpu(g))).findFirst().orElseThrow().models().stream()
          .anyMatch(row -> row.modelId().equals("m")), "GET /admin/placement lists the instance on GPU " + g);
    }

    // the load falls: the first instance is idle, the replica runs one request
    rig.report(0, resident("m", 0, 0, 0));
    rig.report(2, resident("m", 0, 0, 1));
    GpuActor.HandOff handOff = null;
    long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
    while (handOff == null && System.nanoTime() < deadline) {
      rig.rebalance();
      handOff = rig.next(0, GpuActor.HandOff.class, Duration.ofMillis(100));
    }
    long removedAfter = System.nanoTime() - beforeAdd;
    assertTrue(handOff != null, "an instance is removed once the cooldown is over");
    assertTrue(removedAfter >= cooldown.toNanos(), "not within the cooldown: " + removedAfter / 1e6 + " ms");
    assertEquals("m", handOff.modelId());
    assertEquals(gpu(2), handOff.to(), "the idle first instance hands off to the replica, which serves on");
    GlobalPlacementActor.Located one = located(rig);
    assertEquals(gpu(2), one.model().gpu());
    assertTrue(one.model().replicas().isEmpty());
    assertTrue(one.epoch() > two.epoch(), "epoch " + two.epoch() + " -> " + one.epoch());
    assertEquals(handOff.epoch(), one.epoch());
    assertEquals(List.of("adding", "added", "removed"), rig.view().replicaChanges().stream().map(PlacementView.ReplicaChange::change).toList());
  }

  @Test
  void aLostGpuLosesOnlyItsInstanceAndUnregisteringRemovesEveryInstance() {
    Rig rig = rig(MigrationBudget.Limits.UNBOUNDED, new ReplicaScaling.Limits(4, 10.0, 1, 1, 0.001, 100));
    rig.report(0, resident("m", 0, 10, 2));
    rig.rebalance();
    assertEquals(List.of(2), rig.loadsOf("m", Duration.ofSeconds(5), 1, 2));
    rig.report(2, resident("m", 0, 9, 2));
    assertEquals(2, located(rig).instances().size());

    rig.restart(2); // the replica's GPU lost everything: only that instance goes
    GlobalPlacementActor.Located one = located(rig);
    assertEquals(gpu(0), one.model().gpu());
    assertEquals(1, one.instances().size());
    assertTrue(rig.loadsOf("m", QUIET, 0, 1, 2).isEmpty(), "the model is not placed again: it serves on GPU 0");

    rig.rebalance(); // still overloaded: a new instance
    List<Integer> again = rig.loadsOf("m", Duration.ofSeconds(5), 1, 2);
    assertEquals(1, again.size());
    int replica = again.get(0);
    rig.report(replica, resident("m", 0, 9, 2));
    rig.restart(0); // the first instance's GPU lost it: the replica serves on, nothing reloads
    GlobalPlacementActor.Located taken = located(rig);
    assertEquals(gpu(replica), taken.model().gpu());
    assertEquals(List.of(gpu(replica)), taken.instances().stream().map(GlobalPlacementActor.Instance::gpu).toList());
    assertTrue(rig.loadsOf("m", QUIET, 0).isEmpty());

    rig.rebalance(); // a second instance again, then unregister
    List<Integer> third = rig.loadsOf("m", Duration.ofSeconds(5), 0, 1, 2);
    assertEquals(1, third.size());
    assertEquals(2, located(rig).instances().size());
    TestProbe<GlobalPlacementActor.Unregistered> gone = testKit.createTestProbe();
    rig.placement().tell(new GlobalPlacementActor.UnregisterModel("m", gone.ref()));
    assertTrue(gone.receiveMessage().existed());
    for (int g : List.of(replica, third.get(0))) {
      GpuActor.UnloadModel u = rig.next(g, GpuActor.UnloadModel.class, Duration.ofSeconds(5));
      assertTrue(u != null && u.modelId().equals("m"), "GPU " + g + " unloads its instance");
    }
    assertInstanceOf(GlobalPlacementActor.NotFound.class, rig.resolve("m"));
  }

  @Test
  void aManualMoveToAGpuWithAnInstanceIsRefused() {
    Rig rig = rig(MigrationBudget.Limits.UNBOUNDED, new ReplicaScaling.Limits(4, 10.0, 1, 1, 0.001, 100));
    rig.report(0, resident("m", 0, 10, 2));
    rig.rebalance();
    assertEquals(List.of(2), rig.loadsOf("m", Duration.ofSeconds(5), 1, 2));
    TestProbe<GlobalPlacementActor.MoveReply> reply = testKit.createTestProbe();
    rig.placement().tell(new GlobalPlacementActor.MoveModel("m", gpu(2), reply.ref()));
    assertEquals(GlobalPlacementActor.MoveProblem.BUSY, assertInstanceOf(GlobalPlacementActor.MoveFailed.class, reply.receiveMessage()).problem());
  }

  @Test
  void aNewSingletonAdoptsTheReplicasGpusReportAndGivesBackWhatExceedsMaxReplicas() {
    ReplicaScaling.Limits limits = new ReplicaScaling.Limits(4, 10.0, 1, 1, 0.001, 100);
    Rig old = rig(MigrationBudget.Limits.UNBOUNDED, limits);
    old.report(0, resident("m", 0, 10, 2));
    old.rebalance();
    assertEquals(List.of(2), old.loadsOf("m", Duration.ofSeconds(5), 1, 2));
    testKit.stop(old.placement()); // the singleton fails over: a new one knows only what GPUs report

    PlacementSettings settings = PlacementSettings.DEFAULTS.withLimits(MigrationBudget.Limits.UNBOUNDED).withReplicas(limits, Duration.ZERO);
    Rig rig = new Rig(testKit.spawn(GlobalPlacementActor.create(g -> old.probes().get(g).ref(), settings, false)), old.probes(), new long[] {1, 1, 1});
    // m (max 2) on GPUs 0 and 2; "solo" (max 1) on GPUs 0 and 1 (a migration the old singleton had not flipped yet)
    rig.report(0, resident("m", 0, 10, 2), resident("solo", 0, 0, 0));
    rig.report(1, resident("busy", 4000, 0, 4), resident("solo", 0, 0, 0));
    rig.report(2, resident("m", 0, 9, 2));

    GlobalPlacementActor.Located m = located(rig);
    assertEquals(gpu(0), m.model().gpu());
    assertEquals(List.of(gpu(0), gpu(2)), m.instances().stream().map(GlobalPlacementActor.Instance::gpu).toList(), "both instances are kept");
    assertEquals(9, m.instances().get(1).queued());
    // "solo" gave its copy above max_replicas 1 back when GPU 1 first reported
    GpuActor.HandOff handOff = rig.next(1, GpuActor.HandOff.class, Duration.ofSeconds(5));
    assertTrue(handOff != null && handOff.modelId().equals("solo"), "the copy of solo above max_replicas 1 hands off: " + handOff);
    assertEquals(gpu(0), handOff.to());
    rig.rebalance(); // m is overloaded, but at max_replicas: no third instance
    assertTrue(rig.loadsOf("m", QUIET, 0, 1, 2).isEmpty(), "nothing is loaded again");
    GlobalPlacementActor.Located solo = assertInstanceOf(GlobalPlacementActor.Located.class, rig.resolve("solo"));
    assertEquals(List.of(gpu(0)), solo.instances().stream().map(GlobalPlacementActor.Instance::gpu).toList());
    assertEquals(2, located(rig).instances().size(), "m keeps both instances");
    // solo adopted on GPU 1 and given back at its first report; then m adopted on GPU 2
    assertEquals(List.of("adopted", "removed", "adopted"), rig.view().replicaChanges().stream().map(PlacementView.ReplicaChange::change).toList());

    rig.report(2, resident("m", 0, 9, 2)); // later reports adopt nothing more
    assertEquals(1, rig.view().replicaChanges().stream().filter(c -> c.change().equals("adopted") && c.modelId().equals("m")).count());
  }
}
