package io.prism.actors;

import io.prism.actors.frontend.GenerateRequest;
import io.prism.actors.frontend.GenerationEvent;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import io.prism.runtime.sampling.SamplingParams;
import io.prism.runtime.model.SharedModels;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;

/** Shared fixtures of the actor tests: config, the stories260K models, the oracle, event collection. */
public final class TestSupport {
  public static final String PROMPT = "Once upon a time";
  /** llama2.c's 256 steps count BOS and the 4 prompt tokens: 257 - 5 generated tokens. */
  public static final int ORACLE_MAX_TOKENS = 252;

  private TestSupport() {}

  /**
   * Test config: every message serialized (proves it can cross nodes), a free Artery port, fast
   * GPU reports, plus {@code extra} overrides.
   */
  public static Config config(String extra) {
    Config c = ConfigFactory.parseString("pekko.actor.serialize-messages = on\n"
            + "pekko.remote.artery.canonical.port = 0\n"
            + "prism.gpu.report-interval = 200ms\n"
            + "prism.engine.max-running-sequences = 16\n"
            + extra + "\n"); // the test's own keys win over these defaults
    return PrismNode.withGpuDispatchers(PrismConfig.load(c), 4);
  }

  public static Path model(String file) {
    return SharedModels.file(file);
  }

  public static ModelSpec spec(String id, String file) {
    Path p = model(file);
    try {
      return new ModelSpec(id, p.toString(), null, Duration.ofSeconds(10), Duration.ofSeconds(1), Files.size(p));
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** The reference text for {@link #PROMPT}, without run.c's final newline. */
  public static String oracle() {
    try {
      String s = Files.readString(model("oracle/stories260K_t0_n256_prompt_Once_upon_a_time.txt"), StandardCharsets.UTF_8);
      return s.endsWith("\n") ? s.substring(0, s.length() - 1) : s;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  public static GenerateRequest greedy(String requestId, String modelId, int maxTokens) {
    return new GenerateRequest(requestId, modelId, PROMPT, null, true, SamplingParams.greedy(maxTokens));
  }

  /** Every event of one request up to and including its end (Completed or Rejected). */
  public static List<GenerationEvent> collect(TestProbe<GenerationEvent> probe, Duration timeout) {
    List<GenerationEvent> out = new ArrayList<>();
    while (true) {
      GenerationEvent e = probe.receiveMessage(timeout);
      out.add(e);
      if (e instanceof GenerationEvent.Completed || e instanceof GenerationEvent.Rejected) return out;
    }
  }

  public static String text(List<GenerationEvent> events) {
    StringBuilder sb = new StringBuilder();
    for (GenerationEvent e : events) {
      if (e instanceof GenerationEvent.Chunk c) sb.append(c.text());
      if (e instanceof GenerationEvent.Completed c) sb.append(c.text());
    }
    return sb.toString();
  }

  public static <T> T last(List<?> events, Class<T> type) {
    Object e = events.get(events.size() - 1);
    if (!type.isInstance(e)) throw new AssertionError("expected the last event to be " + type.getSimpleName() + ", got " + e);
    return type.cast(e);
  }
}
