package io.prism.http.openai;

import com.fasterxml.jackson.core.io.JsonStringEncoder;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.prism.http.Json;
import java.nio.charset.StandardCharsets;
import org.apache.pekko.util.ByteString;

/**
 * The per-token server-sent event of one streamed request, built without a JSON tree: the frame
 * {@code data: {...}\n\n} of a content chunk ({@link ResponseShapes#chunk} with a text and no finish
 * reason) is split once per request into a constant head (up to the text's opening quote) and tail
 * (from its closing quote), computed from {@link ResponseShapes#chunk} itself so the shapes cannot
 * drift apart; per token only the text is escaped (Jackson's {@link JsonStringEncoder}, the escaping
 * {@link Json#MAPPER} applies) and the three parts are copied into one array. The bytes equal those
 * of {@code "data: " + Json.text(ResponseShapes.chunk(...)) + "\n\n"} (a test checks it).
 *
 * <p>Immutable and thread-safe.
 */
final class StreamFrames {
  /** A text no token produces, to find where the text goes in the serialised chunk. */
  private static final String MARK = "\u0000prism-text\u0000";

  private final byte[] head;
  private final byte[] tail;

  /**
   * @param chat whether the stream is a {@code chat.completion.chunk} stream (else {@code text_completion})
   * @param index the choice the frames belong to
   * @throws IllegalStateException if the chunk shape does not contain its text exactly once (a bug)
   */
  StreamFrames(boolean chat, String id, long created, String model, int index) {
    ObjectNode shape = ResponseShapes.chunk(chat, id, created, model, index, MARK, null, false, null);
    String json = "data: " + Json.text(shape) + "\n\n";
    String mark = new String(JsonStringEncoder.getInstance().quoteAsString(MARK));
    int at = json.indexOf(mark);
    if (at < 0 || json.indexOf(mark, at + 1) >= 0) throw new IllegalStateException("chunk shape without exactly one text field: " + json);
    head = json.substring(0, at).getBytes(StandardCharsets.UTF_8);
    tail = json.substring(at + mark.length()).getBytes(StandardCharsets.UTF_8);
  }

  /** The frame of one content chunk carrying {@code text} (not empty for chat: an empty delta has no content field). */
  ByteString content(String text) {
    byte[] escaped = JsonStringEncoder.getInstance().quoteAsUTF8(text);
    byte[] frame = new byte[head.length + escaped.length + tail.length];
    System.arraycopy(head, 0, frame, 0, head.length);
    System.arraycopy(escaped, 0, frame, head.length, escaped.length);
    System.arraycopy(tail, 0, frame, head.length + escaped.length, tail.length);
    return ByteString.fromArrayUnsafe(frame);
  }
}
