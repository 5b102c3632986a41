package io.prism.runtime.structured;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;
import org.junit.jupiter.api.Test;

class ToolCallParserTest {
  private static final String CALL = "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\", \"days\": 2}}\n</tool_call>";

  @Test
  void hermesBlocksAreCallsAndTheTextBeforeIsContent() {
    ToolCallParser.Parsed p = ToolCallParser.parse("Let me look.\n" + CALL + "\n" + CALL, ToolCallFormat.HERMES);
    assertEquals("Let me look.", p.content());
    ToolCallParser.Call c = new ToolCallParser.Call("get_weather", "{\"city\":\"Paris\",\"days\":2}");
    assertEquals(List.of(c, c), p.calls());
  }

  /** An answer cut by max_tokens inside a call (parallel calls under tool_choice "required" can run that long) is plain content. */
  @Test
  void answerCutShortInsideACallIsPlainContentAtEveryCut() {
    String text = CALL + "\n" + CALL;
    for (int n = CALL.length() + 1 + "<tool_call>".length(); n < text.length() - "\n</tool_call>".length(); n++) {
      String cut = text.substring(0, n);
      ToolCallParser.Parsed p = ToolCallParser.parse(cut, ToolCallFormat.HERMES);
      assertEquals(cut, p.content(), cut);
      assertEquals(List.of(), p.calls(), cut);
    }
  }
}
