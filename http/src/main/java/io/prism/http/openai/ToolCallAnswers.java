package io.prism.http.openai;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.prism.http.Json;
import io.prism.runtime.structured.ToolCallParser;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;

/**
 * OpenAI's shapes of a chat answer made of tool calls: {@code message.tool_calls} ({@code id}
 * {@code call_...}, {@code type} function, {@code function.name}, {@code function.arguments} as a
 * JSON string) with {@code finish_reason: "tool_calls"}, and the streamed form: per call a chunk
 * with {@code delta.tool_calls[{index, id, type, function: {name, arguments: ""}}]}, then a chunk
 * with its arguments. The answer is parsed once complete (a stream holds the text back until then,
 * so tool-call tokens never leak as content). Stateless.
 */
final class ToolCallAnswers {
  private ToolCallAnswers() {}

  static String callId() {
    return "call_" + UUID.randomUUID().toString().replace("-", "").substring(0, 24);
  }

  /** The non-streamed body: {@link ResponseShapes#full} with the calls set and {@code content} null when none is left. */
  static ObjectNode full(String id, long created, String model, ToolCallParser.Parsed p, String finishReason, ResponseShapes.Usage usage) {
    ObjectNode o = ResponseShapes.full(true, id, created, model, p.content() == null ? "" : p.content(), finishReason, usage);
    ObjectNode m = (ObjectNode) o.at("/choices/0/message");
    if (p.content() == null) m.putNull("content");
    ArrayNode calls = m.putArray("tool_calls");
    for (ToolCallParser.Call c : p.calls()) {
      ObjectNode t = calls.addObject();
      t.put("id", callId());
      t.put("type", "function");
      t.putObject("function").put("name", c.name()).put("arguments", c.argumentsJson());
    }
    return o;
  }

  /** The streamed chunks (without the final finish chunk): content if any, then per call its head and its arguments. */
  static List<ObjectNode> chunks(String id, long created, String model, ToolCallParser.Parsed p) {
    List<ObjectNode> out = new ArrayList<>();
    if (p.content() != null) out.add(ResponseShapes.chunk(true, id, created, model, p.content(), null, false));
    for (int i = 0; i < p.calls().size(); i++) {
      ToolCallParser.Call c = p.calls().get(i);
      ObjectNode head = ResponseShapes.chunk(true, id, created, model, "", null, false);
      ObjectNode t = ((ObjectNode) head.at("/choices/0/delta")).putArray("tool_calls").addObject();
      t.put("index", i);
      t.put("id", callId());
      t.put("type", "function");
      t.putObject("function").put("name", c.name()).put("arguments", "");
      out.add(head);
      ObjectNode args = ResponseShapes.chunk(true, id, created, model, "", null, false);
      ObjectNode a = ((ObjectNode) args.at("/choices/0/delta")).putArray("tool_calls").addObject();
      a.put("index", i);
      a.putObject("function").put("arguments", c.argumentsJson());
      out.add(args);
    }
    return out;
  }

  static String json(ObjectNode o) {
    return Json.text(o);
  }
}
