package io.prism.http.openai;

import io.prism.actors.frontend.GenerationEvent;
import io.prism.http.ApiError;
import io.prism.http.Json;
import io.prism.runtime.engine.FinishReason;
import io.prism.runtime.engine.GeneratedLogprobs;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.pekko.util.ByteString;

/**
 * How {@link CompletionHandler} shapes a request's {@link GenerationEvent}s: the choices of a
 * non-streamed answer collected until its end ({@link Collected}), and the server-sent-event frames
 * of a stream ({@link #sseFrames}; {@link #toolFrames} for a chat stream whose answer may be tool
 * calls), in the OpenAI streaming format ({@code data: {json}} frames, a finish chunk per choice,
 * an optional usage chunk, an {@code error} frame for a request that failed after it started, then
 * {@code data: [DONE]}). The per-token path builds no JSON tree ({@link StreamFrames}).
 *
 * <p>Each instance of the nested state belongs to one request's event stream (one thread at a time,
 * the stream's stage); the static methods are pure.
 */
final class CompletionFraming {
  /** The stream's last frame. */
  static final ByteString DONE = ByteString.fromString("data: [DONE]\n\n");

  private CompletionFraming() {}

  /** Accumulates a non-streamed request's choices (text, finish reason, log probabilities) until its end. */
  static final class Collected {
    final StringBuilder[] texts;
    final String[] reasons;
    final List<List<GeneratedLogprobs>> logprobs;
    GenerationEvent.Completed done;

    Collected(int n, boolean withLogprobs) {
      texts = new StringBuilder[n];
      reasons = new String[n];
      logprobs = new ArrayList<>(n);
      for (int j = 0; j < n; j++) {
        texts[j] = new StringBuilder();
        logprobs.add(withLogprobs ? new ArrayList<>() : null);
      }
    }

    Collected add(GenerationEvent e) {
      if (e instanceof GenerationEvent.Chunk c) {
        texts[c.choice()].append(c.text());
        if (c.logprobs() != null && logprobs.get(c.choice()) != null) logprobs.get(c.choice()).add(c.logprobs());
      } else if (e instanceof GenerationEvent.ChoiceCompleted c) {
        texts[c.choice()].append(c.text());
        reasons[c.choice()] = c.reason().openAiValue();
      } else if (e instanceof GenerationEvent.Completed c) {
        texts[c.choice()].append(c.text());
        reasons[c.choice()] = c.reason().openAiValue();
        done = c;
      }
      return this;
    }

    List<ResponseShapes.Choice> choices() {
      List<ResponseShapes.Choice> out = new ArrayList<>(texts.length);
      for (int j = 0; j < texts.length; j++) out.add(new ResponseShapes.Choice(j, texts[j].toString(), reasons[j], logprobs.get(j)));
      return out;
    }
  }

  /** Per-stream state: one {@link StreamFrames} per choice, and completions' running text offset per choice. */
  static final class StreamState {
    final CompletionRequest req;
    final String id;
    final long created;
    final StreamFrames[] frames;
    final int[] textOffsets;

    StreamState(CompletionRequest req, String id, long created) {
      this.req = req;
      this.id = id;
      this.created = created;
      int n = req.params().n();
      this.frames = new StreamFrames[n];
      this.textOffsets = new int[n];
    }

    StreamFrames frames(int choice) {
      if (frames[choice] == null) frames[choice] = new StreamFrames(req.chat(), id, created, req.model(), choice);
      return frames[choice];
    }

    /** The chunk of one token with its log probabilities (a JSON tree: the fast path has none). */
    ByteString withLogprobs(GenerationEvent.Chunk c) {
      List<GeneratedLogprobs> one = List.of(c.logprobs());
      com.fasterxml.jackson.databind.JsonNode lp = req.chat() ? ResponseShapes.chatLogprobs(one)
          : ResponseShapes.completionLogprobs(one, textOffsets[c.choice()]);
      textOffsets[c.choice()] += ResponseShapes.textLength(one);
      return frame(ResponseShapes.chunk(req.chat(), id, created, req.model(), c.choice(), c.text(), null, false, lp));
    }

    /** The frames that end choice {@code choice}: its held-back text (chat), then its finish chunk. */
    void end(int choice, String text, FinishReason reason, List<ByteString> out) {
      boolean chat = req.chat();
      if (chat && !text.isEmpty()) out.add(frames(choice).content(text));
      out.add(frame(ResponseShapes.chunk(chat, id, created, req.model(), choice, chat ? "" : text, reason.openAiValue(), false, null)));
    }
  }

  /** The SSE frames of one event of a plain stream; {@code finished} is set by the request's end. */
  static List<ByteString> sseFrames(StreamState st, GenerationEvent e, AtomicBoolean finished) {
    CompletionRequest req = st.req;
    if (e instanceof GenerationEvent.Chunk c) { // the per-token path: no JSON tree, one array per frame
      if (c.logprobs() != null) return List.of(st.withLogprobs(c));
      return c.text().isEmpty() ? List.of() : List.of(st.frames(c.choice()).content(c.text()));
    }
    List<ByteString> out = new ArrayList<>(3);
    if (e instanceof GenerationEvent.ChoiceCompleted c) {
      if (c.reason() == FinishReason.STOP || c.reason() == FinishReason.LENGTH) st.end(c.choice(), c.text(), c.reason(), out);
      return out; // a failed or cancelled choice: the request's Completed reports it
    }
    if (e instanceof GenerationEvent.Completed c) {
      finished.set(true);
      if (c.reason() == FinishReason.STOP || c.reason() == FinishReason.LENGTH) {
        st.end(c.choice(), c.text(), c.reason(), out);
        if (req.includeUsage()) {
          out.add(frame(ResponseShapes.usageChunk(req.chat(), st.id, st.created, req.model(), new ResponseShapes.Usage(c.promptTokens(), c.completionTokens()))));
        }
      } else {
        out.add(frame(ApiError.internal("request " + st.id + " " + c.reason().openAiValue() + ": " + c.message()).toJson()));
      }
      out.add(DONE);
    }
    return out;
  }

  /** Frames of a stream whose answer may be tool calls: nothing until the end, then the content or the calls (see {@link ToolCallAnswers}). */
  static List<ByteString> toolFrames(CompletionRequest req, String id, long created, io.prism.runtime.structured.ToolCallFormat format,
      StringBuilder held, GenerationEvent e, AtomicBoolean finished) {
    if (e instanceof GenerationEvent.Chunk c) {
      held.append(c.text());
      return List.of();
    }
    if (!(e instanceof GenerationEvent.Completed c) || !RequestOutcome.success(c.reason())) {
      return sseFrames(new StreamState(req, id, created), e, finished);
    }
    finished.set(true);
    held.append(c.text());
    io.prism.runtime.structured.ToolCallParser.Parsed p = io.prism.runtime.structured.ToolCallParser.parse(held.toString(), format);
    List<ByteString> out = new ArrayList<>();
    if (p.calls().isEmpty()) {
      if (held.length() > 0) out.add(frame(ResponseShapes.chunk(true, id, created, req.model(), held.toString(), null, false)));
    } else {
      for (com.fasterxml.jackson.databind.node.ObjectNode o : ToolCallAnswers.chunks(id, created, req.model(), p)) out.add(frame(o));
    }
    String reason = !p.calls().isEmpty() && c.reason() == FinishReason.STOP ? "tool_calls" : c.reason().openAiValue();
    out.add(frame(ResponseShapes.chunk(true, id, created, req.model(), "", reason, false)));
    if (req.includeUsage()) out.add(frame(ResponseShapes.usageChunk(true, id, created, req.model(), new ResponseShapes.Usage(c.promptTokens(), c.completionTokens()))));
    out.add(DONE);
    return out;
  }

  /** One {@code data:} frame of {@code json}. */
  static ByteString frame(com.fasterxml.jackson.databind.JsonNode json) {
    return ByteString.fromString("data: " + Json.text(json) + "\n\n", StandardCharsets.UTF_8);
  }
}
