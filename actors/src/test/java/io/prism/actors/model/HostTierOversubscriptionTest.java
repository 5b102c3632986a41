package io.prism.actors.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.prism.actors.PrismNode;
import io.prism.actors.TestSupport;
import io.prism.actors.frontend.GenerationEvent;
import io.prism.actors.gpu.GpuStatus;
import io.prism.actors.placement.GlobalPlacementActor;
import io.prism.runtime.engine.FinishReason;
import io.prism.runtime.forward.HostDevice;
import io.prism.runtime.memory.HostTier;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Oversubscription on the host backend with all three tiers (issue 9, item 7): a 4 MiB device holds
 * two stories260K models at once, six are registered on it, and the node's host tier holds at most
 * two of their copies, so most activations read the model file again. Requests rotating over all
 * six all succeed with the reference output; after every request the host tier is within its bound
 * and its bytes are exactly the copies the models report; activations from disk happen and are
 * counted; pages are conserved.
 */
class HostTierOversubscriptionTest {
  private static final int MODELS = 6;
  private static final long HOST_TIER_BYTES = 2560 * 1024;
  private static PrismNode node;
  private static ActorTestKit kit;

  @BeforeAll
  static void start() {
    node = PrismNode.start("host-tier-test", TestSupport.config("""
            prism.gpu.memory-budget = 4MiB
            prism.gpu.reserve-pages = 2
            prism.gpu.swap-idle-after = 0s
            prism.gpu.check-invariants = on
            prism.placement.round-interval = 0s
            prism.node.host-tier-bytes = %d
            """.formatted(HOST_TIER_BYTES)), List.of(new HostDevice(0, 64 * 1024, 1)), ModelStore.fileLoader());
    kit = ActorTestKit.create(node.system());
  }

  @AfterAll
  static void stop() {
    if (node != null) node.close();
  }

  @Test
  void modelsBeyondTheHostTierAreReloadedFromTheirFileAndServed() throws Exception {
    HostTier tier = node.hostTier();
    assertEquals(HOST_TIER_BYTES, tier.limitBytes());
    for (int i = 0; i < MODELS; i++) {
      GlobalPlacementActor.RegisterReply r = node.register(TestSupport.spec("ht-" + i, "stories260K.bin")).toCompletableFuture()
          .get(60, TimeUnit.SECONDS);
      assertInstanceOf(GlobalPlacementActor.Registered.class, r, "model " + i + ": " + r);
      assertTrue(tier.usedBytes() <= tier.limitBytes(), "host tier within its bound after registering " + i + ": " + tier.usage());
    }
    String oracle = TestSupport.oracle();
    long weightBytes = gpu().models().get(0).weightBytes();
    assertTrue(weightBytes * 2 <= HOST_TIER_BYTES && weightBytes * 3 > HOST_TIER_BYTES,
        "the tier holds two copies but not three: " + weightBytes + " bytes each");
    for (int round = 0; round < 2; round++) {
      for (int i = 0; i < MODELS; i++) {
        TestProbe<GenerationEvent> p = kit.createTestProbe();
        node.generate(TestSupport.greedy("ht-" + round + "-" + i, "ht-" + i, 24), p.ref());
        List<GenerationEvent> events = TestSupport.collect(p, Duration.ofSeconds(60));
        assertInstanceOf(GenerationEvent.Started.class, events.get(0), "ht-" + i + " served: " + events);
        assertEquals(FinishReason.LENGTH, TestSupport.last(events, GenerationEvent.Completed.class).reason());
        assertTrue(oracle.startsWith(TestSupport.PROMPT + TestSupport.text(events)), "greedy output of ht-" + i + " (round " + round + ")");
        HostTier.Usage u = tier.usage();
        assertTrue(u.usedBytes() <= u.limitBytes(), "host tier within its bound after ht-" + i + " round " + round + ": " + u);
        GpuStatus g = gpu();
        long reported = g.models().stream().mapToLong(m -> m.tiers().hostCopyBytes()).sum();
        assertEquals(tier.usedBytes(), reported, "host bytes accounted exactly: the tier's are the models' copies " + g.models());
        for (GpuStatus.ModelStatus m : g.models()) {
          String expected = m.resident() ? "gpu" : m.tiers().hostCopyBytes() > 0 ? "host" : "disk";
          assertEquals(expected, m.tiers().tier(), m.modelId() + " tier");
        }
      }
    }
    GpuStatus gpu = gpu();
    assertEquals("", gpu.invariantViolation());
    assertEquals(MODELS, gpu.models().size(), "every model stays placed");
    long fromDisk = gpu.models().stream().mapToLong(m -> m.tiers().diskActivations()).sum();
    long fromHost = gpu.models().stream().mapToLong(m -> m.tiers().hostActivations()).sum();
    long activations = gpu.models().stream().mapToLong(m -> m.books().activations()).sum();
    assertTrue(fromDisk > 0, "activations from disk happened: " + fromDisk);
    assertEquals(activations, fromDisk + fromHost, "every activation counted under one tier");
    assertTrue(activations >= 2L * MODELS, "evicted models came back on request: " + activations);
    assertTrue(gpu.models().stream().filter(m -> m.tiers().tier().equals("disk")).count() > 0, "some models are only in their file now");
    assertTrue(tier.usage().dropsAsked() > 0, "least recently used copies were dropped: " + tier.usage());
    for (GpuStatus.ModelStatus m : gpu.models()) assertEquals(0, m.pagesInUse(), m.modelId());
  }

  private static GpuStatus gpu() throws Exception {
    return node.gpus().toCompletableFuture().get(10, TimeUnit.SECONDS).get(0);
  }
}
