package io.prism.actors.serialization;

import io.prism.actors.ModelSpec;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.prism.actors.PrismMessage;
import io.prism.runtime.engine.FinishReason;
import io.prism.runtime.sampling.SamplingParams;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.javadsl.Adapter;
import org.apache.pekko.serialization.Serialization;
import org.apache.pekko.serialization.SerializationExtension;
import org.apache.pekko.serialization.Serializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

class KryoSerializerTest {
  sealed interface Msg extends PrismMessage {}

  record Ask(String modelId, int[] tokens, SamplingParams params, List<String> tags, Map<String, Long> counts, ActorRef<Reply> replyTo)
      implements Msg {}

  record Reply(FinishReason reason, String text) implements PrismMessage {}

  record Pair(Reply first, Reply second) implements Msg {}

  record Carrier(Object payload) implements Msg {}

  private static ActorTestKit testKit;
  private static Serialization serialization;

  @BeforeAll
  static void start() {
    testKit = ActorTestKit.create("kryo-test");
    serialization = SerializationExtension.get(Adapter.toClassic(testKit.system()));
  }

  @AfterAll
  static void stop() {
    testKit.shutdownTestKit();
  }

  private static Object roundTrip(Object o) throws Exception {
    Serializer s = serialization.findSerializerFor(o);
    assertEquals(KryoSerializer.IDENTIFIER, s.identifier(), "PrismMessage must be bound to the Kryo serializer");
    byte[] bytes = s.toBinary(o);
    return s.fromBinary(bytes, scala.Option.empty());
  }

  @Test
  void roundTripsRecordsWithActorRefsImmutableCollectionsAndArrays() throws Exception {
    TestProbe<Reply> probe = testKit.createTestProbe();
    SamplingParams params = new SamplingParams(0.7f, 0.9f, 0, 42L, 16, List.of("\n\n", "The end"), false);
    Ask ask = new Ask("stories260K", new int[] {1, 403, 407}, params, List.copyOf(List.of("a", "b")), Map.of("x", 3L), probe.ref());

    Ask back = (Ask) roundTrip(ask);

    assertEquals(ask.modelId(), back.modelId());
    assertArrayEquals(ask.tokens(), back.tokens());
    assertEquals(ask.params(), back.params());
    assertEquals(ask.tags(), back.tags());
    assertEquals(ask.counts(), back.counts());
    assertEquals(ask.replyTo(), back.replyTo());
    back.replyTo().tell(new Reply(FinishReason.STOP, "hello"));
    assertEquals("hello", probe.receiveMessage().text());
  }

  @Test
  void roundTripsSamplingFieldsLogprobsAndChoiceEvents() throws Exception {
    SamplingParams p = new SamplingParams(0.7f, 0.9f, 5, 42L, 16, List.of("x"), false).withProcessing(0.05f, 0.5f, -0.25f, 1.2f,
        Map.of(17, -100f, 3, 2.5f)).withLogprobs(20).withN(4);
    TestProbe<Reply> probe = testKit.createTestProbe();
    assertEquals(p, ((Ask) roundTrip(new Ask("m", new int[] {1}, p, List.of(), Map.of(), probe.ref()))).params());
    io.prism.runtime.engine.GeneratedLogprobs lp = new io.prism.runtime.engine.GeneratedLogprobs(
        new io.prism.runtime.engine.GeneratedLogprobs.Candidate(7, new byte[] {(byte) 0xE2, (byte) 0x80}, -0.5f),
        List.of(new io.prism.runtime.engine.GeneratedLogprobs.Candidate(7, new byte[] {(byte) 0xE2, (byte) 0x80}, -0.5f),
            new io.prism.runtime.engine.GeneratedLogprobs.Candidate(9, "ab".getBytes(java.nio.charset.StandardCharsets.UTF_8), -1.5f)));
    io.prism.actors.frontend.GenerationEvent.Chunk c = new io.prism.actors.frontend.GenerationEvent.Chunk("r", "t", 7, 3, 2, lp);
    io.prism.actors.frontend.GenerationEvent.Chunk back = (io.prism.actors.frontend.GenerationEvent.Chunk) roundTrip(c);
    assertEquals(2, back.choice());
    assertEquals(-0.5f, back.logprobs().chosen().logprob());
    assertEquals(lp.top().get(1).token(), back.logprobs().top().get(1).token());
    org.junit.jupiter.api.Assertions.assertArrayEquals(lp.chosen().bytes(), back.logprobs().chosen().bytes());
    var cc = new io.prism.actors.frontend.GenerationEvent.ChoiceCompleted("r", 1, io.prism.runtime.engine.FinishReason.LENGTH, "z");
    assertEquals(cc, roundTrip(cc));
    var done = new io.prism.actors.frontend.GenerationEvent.Completed("r", io.prism.runtime.engine.FinishReason.STOP, "", 3, 9, "", 3);
    assertEquals(done, roundTrip(done));
  }

  @Test
  void roundTripsCatalogEntriesWithDurations() throws Exception {
    io.prism.actors.ModelSpec spec = new io.prism.actors.ModelSpec("m", "/models/m.bin", null, java.time.Duration.ofMillis(1500),
        java.time.Duration.ofMillis(120), 1234);
    assertEquals(spec, roundTrip(spec));
  }

  @Test
  void keepsSharedSubObjectsShared() throws Exception {
    Reply r = new Reply(FinishReason.LENGTH, "x");
    Pair back = (Pair) roundTrip(new Pair(r, r));
    assertSame(back.first(), back.second());
  }

  @Test
  void refusesToReadClassesOutsideTheAllowList() {
    Carrier evil = new Carrier(new java.awt.Point(3, 4));
    Serializer s = serialization.findSerializerFor(evil);
    byte[] bytes = s.toBinary(evil);
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> s.fromBinary(bytes, scala.Option.empty()));
    assertTrue(e.getMessage().contains("java.awt.Point is not allowed"), e.getMessage());
  }

  @Test
  void isSafeToUseFromManyThreads() throws Exception {
    ExecutorService pool = Executors.newFixedThreadPool(4);
    try {
      List<Callable<Boolean>> jobs = new ArrayList<>();
      for (int i = 0; i < 16; i++) {
        int n = i;
        jobs.add(() -> {
          for (int k = 0; k < 200; k++) {
            Reply r = new Reply(FinishReason.values()[k % 4], "t" + n + "-" + k);
            if (!r.equals(roundTrip(r))) return false;
          }
          return true;
        });
      }
      for (Future<Boolean> f : pool.invokeAll(jobs)) assertTrue(f.get());
    } finally {
      pool.shutdownNow();
    }
  }
}
