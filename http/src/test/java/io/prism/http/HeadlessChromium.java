package io.prism.http;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

/**
 * Headless Chromium (the Debian package {@code chromium}) run as a command: {@code --dump-dom} for the
 * DOM after the page's scripts ran, {@code --screenshot} for a PNG. Each run gets its own profile
 * directory, is bounded in time and ends with its whole process tree killed by PID (the browser and
 * the children it started: zygote, GPU and renderer processes).
 *
 * <p>The page's timers run on Chromium's virtual clock ({@code --virtual-time-budget}): the DOM is taken
 * once that much page time has passed, and virtual time stands still while a network fetch is pending,
 * so a page that polls every 2 s polls about budget / 2 s times, whatever the machine's speed.
 *
 * <p>Found as {@code -Dprism.chromium=PATH}, the environment variable {@code PRISM_CHROMIUM}, or
 * {@code chromium}, {@code chromium-browser}, {@code google-chrome} on the {@code PATH}.
 */
final class HeadlessChromium {
  /** What the tests say when there is no browser. */
  static final String MISSING = "headless Chromium not found (install the Debian package: apt-get install -y chromium; or set "
      + "-Dprism.chromium=PATH or PRISM_CHROMIUM): the dashboard browser test is skipped";

  private final Path executable;
  private final Path workDir;

  private HeadlessChromium(Path executable, Path workDir) {
    this.executable = executable;
    this.workDir = workDir;
  }

  /** The browser, if one is installed; {@code workDir} holds profiles and logs. */
  static Optional<HeadlessChromium> find(Path workDir) {
    List<String> candidates = new ArrayList<>();
    String property = System.getProperty("prism.chromium");
    if (property != null && !property.isBlank()) candidates.add(property);
    String env = System.getenv("PRISM_CHROMIUM");
    if (env != null && !env.isBlank()) candidates.add(env);
    String path = System.getenv("PATH");
    if (path != null) {
      for (String dir : path.split(java.io.File.pathSeparator)) {
        for (String name : List.of("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")) candidates.add(dir + "/" + name);
      }
    }
    for (String c : candidates) {
      Path p = Path.of(c);
      if (Files.isRegularFile(p) && Files.isExecutable(p)) return Optional.of(new HeadlessChromium(p, workDir));
    }
    return Optional.empty();
  }

  /** The serialised DOM of {@code url} after {@code virtualTime} of page time. */
  String dumpDom(String url, Duration virtualTime, Duration limit) throws IOException, InterruptedException {
    return run(List.of("--virtual-time-budget=" + virtualTime.toMillis(), "--dump-dom", url), limit);
  }

  /** A {@code width} x {@code height} PNG of {@code url} after {@code virtualTime} of page time, written to {@code png}. */
  void screenshot(String url, Path png, int width, int height, Duration virtualTime, Duration limit) throws IOException, InterruptedException {
    Files.deleteIfExists(png);
    run(List.of("--virtual-time-budget=" + virtualTime.toMillis(), "--window-size=" + width + "," + height, "--hide-scrollbars",
        "--screenshot=" + png.toAbsolutePath(), url), limit);
  }

  /**
   * Runs the browser with {@code args} after the common flags; its standard output.
   *
   * @throws IllegalStateException with the end of its log if it ran past {@code limit} or exited non-zero
   */
  private String run(List<String> args, Duration limit) throws IOException, InterruptedException {
    Files.createDirectories(workDir);
    Path profile = Files.createTempDirectory(workDir, "profile-");
    Path out = workDir.resolve(profile.getFileName() + ".out");
    Path err = workDir.resolve(profile.getFileName() + ".log");
    List<String> command = new ArrayList<>(List.of(executable.toString(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        "--no-first-run", "--no-default-browser-check", "--disable-extensions", "--disable-background-networking", "--disable-sync",
        "--user-data-dir=" + profile.toAbsolutePath()));
    command.addAll(args);
    Process p = new ProcessBuilder(command).redirectOutput(out.toFile()).redirectError(err.toFile()).redirectInput(ProcessBuilder.Redirect.from(
        Path.of("/dev/null").toFile())).start();
    boolean exited;
    try {
      exited = p.waitFor(limit.toMillis(), TimeUnit.MILLISECONDS);
    } finally {
      killTree(p);
    }
    if (!exited) throw new IllegalStateException("Chromium ran past " + limit + " and was killed (PID " + p.pid() + "); its log:\n" + tail(err));
    if (p.exitValue() != 0) throw new IllegalStateException("Chromium exited with " + p.exitValue() + "; its log:\n" + tail(err));
    return Files.readString(out, StandardCharsets.UTF_8);
  }

  /** Kills {@code p} and every process it started, by PID, and waits (bounded) for them to be gone. */
  private static void killTree(Process p) throws InterruptedException {
    List<ProcessHandle> tree = new ArrayList<>(p.descendants().toList());
    tree.add(p.toHandle());
    for (ProcessHandle h : tree) h.destroyForcibly();
    for (ProcessHandle h : tree) {
      try {
        h.onExit().get(10, TimeUnit.SECONDS);
      } catch (java.util.concurrent.ExecutionException | java.util.concurrent.TimeoutException e) {
        throw new IllegalStateException("Chromium process " + h.pid() + " did not end within 10 s of SIGKILL", e);
      }
    }
  }

  private static String tail(Path log) throws IOException {
    if (!Files.exists(log)) return "(no log)";
    String s = Files.readString(log, StandardCharsets.UTF_8);
    return s.length() > 4000 ? s.substring(s.length() - 4000) : s;
  }
}
