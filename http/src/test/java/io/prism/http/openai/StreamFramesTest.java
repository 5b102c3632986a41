package io.prism.http.openai;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.prism.http.Json;
import org.junit.jupiter.api.Test;

/** The templated per-token frame is byte for byte the frame the JSON tree gives. */
class StreamFramesTest {
  private static String viaTree(boolean chat, String id, long created, String model, String text) {
    return "data: " + Json.text(ResponseShapes.chunk(chat, id, created, model, text, null, false)) + "\n\n";
  }

  @Test
  void contentFrameEqualsTheJsonTreeFrameForEveryKindOfText() {
    String[] texts = {"Once", " upon", "\"quoted\" \\ back", "line\nbreak\ttab\r\u0001\u001f", "é 日本 🙂", "</script>", " "};
    for (boolean chat : new boolean[] {false, true}) {
      for (String model : new String[] {"stories260K", "odd \"model\" \\ name\n"}) {
        StreamFrames frames = new StreamFrames(chat, "cmpl-abc", 1_796_290_817L, model, 0);
        for (String t : texts) assertEquals(viaTree(chat, "cmpl-abc", 1_796_290_817L, model, t), frames.content(t).utf8String(), t);
      }
    }
  }
}
