package io.prism.actors.serialization;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.prism.actors.frontend.Frontend;
import io.prism.actors.frontend.GenerateRequest;
import io.prism.actors.frontend.TokenizeReply;
import io.prism.actors.frontend.TokenizeRequest;
import io.prism.actors.gpu.GpuActor;
import io.prism.runtime.chat.ChatInput;
import io.prism.runtime.engine.Rejection;
import io.prism.runtime.sampling.SamplingParams;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.javadsl.Adapter;
import org.apache.pekko.serialization.Serialization;
import org.apache.pekko.serialization.SerializationExtension;
import org.apache.pekko.serialization.Serializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The chat and tokenize messages cross nodes through the Kryo serializer intact. */
class ChatMessagesKryoTest {
  private static ActorTestKit testKit;
  private static Serialization serialization;

  @BeforeAll
  static void start() {
    testKit = ActorTestKit.create("chat-kryo-test");
    serialization = SerializationExtension.get(Adapter.toClassic(testKit.system()));
  }

  @AfterAll
  static void stop() {
    testKit.shutdownTestKit();
  }

  private static Object roundTrip(Object o) throws Exception {
    Serializer s = serialization.findSerializerFor(o);
    assertEquals(KryoSerializer.IDENTIFIER, s.identifier(), o.getClass() + " must be bound to the Kryo serializer");
    return s.fromBinary(s.toBinary(o), scala.Option.empty());
  }

  @Test
  void chatGenerateRequestAndTokenizeMessagesRoundTrip() throws Exception {
    ChatInput chat = new ChatInput("[{\"role\":\"user\",\"content\":\"你好 👋\"}]", "[{\"type\":\"function\"}]", null, true, "{\"enable_thinking\":false}");
    GenerateRequest g = new GenerateRequest("chatcmpl-1", "qwen3", chat, SamplingParams.greedy(8), true);
    GenerateRequest back = (GenerateRequest) roundTrip(g);
    assertEquals(chat, back.chat());
    assertEquals(g.params(), back.params());

    TestProbe<TokenizeReply> probe = testKit.createTestProbe();
    TokenizeRequest t = new TokenizeRequest("qwen3", null, chat, null, false);
    GpuActor.Tokenize gt = (GpuActor.Tokenize) roundTrip(new GpuActor.Tokenize(t, probe.ref()));
    assertEquals(chat, gt.request().chat());
    Frontend.Tokenize ft = (Frontend.Tokenize) roundTrip(new Frontend.Tokenize(new TokenizeRequest("m", null, null, new int[] {1, 2}, false), probe.ref()));
    assertArrayEquals(new int[] {1, 2}, ft.request().tokens());

    TokenizeReply.Tokens tokens = (TokenizeReply.Tokens) roundTrip(new TokenizeReply.Tokens(new int[] {151644, 872}, 40960));
    assertArrayEquals(new int[] {151644, 872}, tokens.tokens());
    assertEquals(40960, tokens.maxModelLen());
    assertEquals("héllo", ((TokenizeReply.Text) roundTrip(new TokenizeReply.Text("héllo"))).prompt());
    TokenizeReply.Refused r = (TokenizeReply.Refused) roundTrip(new TokenizeReply.Refused(new Rejection.InvalidRequest("messages", "chat template 'default', line 3: no")));
    assertEquals("messages", r.rejection().param());
  }
}
