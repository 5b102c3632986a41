package io.prism.http;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The official openai npm client ({@code openai@6.49.0}) against the whole server ({@link
 * TinyChatServer}: Qwen3's real template and vocabulary, random weights): runs {@code
 * http/src/test/node/check.mjs} (see its header for the checks: chat and completions streamed and
 * not, logprobs, {@code n = 2}, a strict {@code json_schema} answer through {@code parse()}, a tool
 * round trip through {@code stream()}, bad input as 400 naming the field) with {@code node}, for at
 * most {@link #LIMIT_MINUTES} minutes, and passes when every check does.
 *
 * <p>Skipped (with the fix in the message) when {@code node} is not on the {@code PATH} or the
 * client is not installed: {@code cd http/src/test/node && npm ci}. {@code node_modules} is never
 * committed.
 */
class OpenAiNpmClientIT {
  private static final int LIMIT_MINUTES = 5;
  private static final int CHECKS = 8;
  private static TinyChatServer server;
  private static Path scripts;

  @BeforeAll
  static void start() throws Exception {
    scripts = Stream.of(Path.of("src/test/node"), Path.of("http/src/test/node")).filter(p -> Files.isRegularFile(p.resolve("check.mjs"))).findFirst()
        .orElseThrow(() -> new IllegalStateException("check.mjs not found from " + Path.of("").toAbsolutePath()));
    assumeTrue(node().isPresent(), "node is not on the PATH: install Node 20+ to run the openai npm client checks");
    assumeTrue(Files.isDirectory(scripts.resolve("node_modules/openai")),
        "the openai npm client is not installed: cd http/src/test/node && npm ci");
    Optional<TinyChatServer> s = TinyChatServer.start(Map.of());
    assumeTrue(s.isPresent(), "../shared/tokenizers/qwen3 is absent");
    server = s.get();
  }

  @AfterAll
  static void stop() throws Exception {
    if (server != null) server.close();
  }

  /** The {@code node} executable on the {@code PATH}, if any. */
  private static Optional<Path> node() {
    String path = System.getenv("PATH");
    if (path == null) return Optional.empty();
    return Stream.of(path.split(File.pathSeparator)).map(d -> Path.of(d, "node")).filter(Files::isExecutable).findFirst();
  }

  @Test
  void everyCheckOfTheNpmClientPasses() throws Exception {
    Path log = Files.createTempFile("prism-npm-check", ".log");
    try {
      Process p = new ProcessBuilder(List.of(node().orElseThrow().toString(), "check.mjs", server.base(), TinyChatServer.MODEL))
          .directory(scripts.toFile()).redirectErrorStream(true).redirectOutput(log.toFile()).start();
      long pid = p.pid();
      boolean ended = p.waitFor(LIMIT_MINUTES, TimeUnit.MINUTES);
      if (!ended) {
        ProcessHandle.of(pid).ifPresent(h -> {
          h.descendants().forEach(ProcessHandle::destroyForcibly);
          h.destroyForcibly();
        });
        p.waitFor(10, TimeUnit.SECONDS);
      }
      String out = Files.readString(log, StandardCharsets.UTF_8);
      System.out.println(out);
      assertTrue(ended, "node check.mjs (pid " + pid + ") ran over " + LIMIT_MINUTES + " min and was stopped:\n" + out);
      assertEquals(0, p.exitValue(), out);
      assertTrue(out.contains("all " + CHECKS + " checks passed"), out);
    } finally {
      Files.deleteIfExists(log);
    }
  }
}
