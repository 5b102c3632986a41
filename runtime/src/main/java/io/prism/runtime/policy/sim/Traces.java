package io.prism.runtime.policy.sim;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Readers for the public traces beside the repository ({@code ../shared/traces}, see its README):
 * ServeGen per-model-class request rates in 10-minute windows (Alibaba, Apache-2.0) and Azure LLM
 * inference 2023 request lengths and arrival times (CC-BY-4.0) and the Mooncake conversation trace
 * (Kimi, Apache-2.0). The only I/O in the policy packages.
 */
public final class Traces {
  /** ServeGen rate file name. */
  public static final String SERVEGEN_RATES = "servegen_per_model_rate_10min.csv";
  /** Azure conversation trace file name. */
  public static final String AZURE_CONV = "AzureLLMInferenceTrace_conv_2023.csv";
  /** Azure code-completion trace file name. */
  public static final String AZURE_CODE = "AzureLLMInferenceTrace_code_2023.csv";
  /** Mooncake (FAST'25) conversation trace file name (JSON lines). */
  public static final String MOONCAKE_CONV = "mooncake_fast25_conversation_trace.jsonl";
  /** Width of a ServeGen window. */
  public static final int SERVEGEN_WINDOW_SECONDS = 600;

  /** One request's lengths. */
  public record Lengths(int promptTokens, int outputTokens) {}

  /**
   * One request of a trace with real arrival times.
   *
   * @param offsetNanos arrival time after the trace's first request, nanoseconds ({@code >= 0})
   * @param promptTokens prompt (context) tokens
   * @param outputTokens generated tokens
   */
  public record TimedRequest(long offsetNanos, int promptTokens, int outputTokens) {}

  private Traces() {}

  /**
   * The traces folder: system property {@code prism.shared} + {@code /traces} when set, else the
   * first of {@code ../shared/traces} and {@code ../../shared/traces} that exists (repository root
   * or module directory as working directory).
   *
   * @throws IllegalStateException if none exists; the message names the property to set
   */
  public static Path defaultDir() {
    String prop = System.getProperty("prism.shared");
    List<Path> tries = new ArrayList<>();
    if (prop != null && !prop.isEmpty()) tries.add(Path.of(prop, "traces"));
    tries.add(Path.of("..", "shared", "traces"));
    tries.add(Path.of("..", "..", "shared", "traces"));
    for (Path p : tries) if (Files.isDirectory(p)) return p;
    throw new IllegalStateException("no traces folder among " + tries + "; pass -Dprism.shared=/path/to/shared");
  }

  /**
   * ServeGen per-model-class rates: class name -> requests per second of each 10-minute window, in
   * window order (e.g. {@code m-small}, {@code m-mid}, {@code m-large} have 2016 windows, 14 days).
   *
   * @throws UncheckedIOException if the file cannot be read
   * @throws IllegalArgumentException on a malformed row (names the line)
   */
  public static Map<String, double[]> readServeGenRates(Path file) {
    Map<String, TreeMap<Long, Double>> byModel = new LinkedHashMap<>();
    forEachRow(file, (line, cols) -> {
      if (cols.length < 3) throw new IllegalArgumentException(file + " line " + line + ": expected 4 columns");
      byModel.computeIfAbsent(cols[1], k -> new TreeMap<>()).put(Long.parseLong(cols[0]), Double.parseDouble(cols[2]));
    });
    Map<String, double[]> out = new LinkedHashMap<>();
    byModel.forEach((m, series) -> out.put(m, series.values().stream().mapToDouble(Double::doubleValue).toArray()));
    return out;
  }

  /**
   * Azure trace request lengths ({@code ContextTokens}, {@code GeneratedTokens}), in file order.
   *
   * @throws UncheckedIOException if the file cannot be read
   * @throws IllegalArgumentException on a malformed row (names the line)
   */
  public static List<Lengths> readAzureLengths(Path file) {
    List<Lengths> out = new ArrayList<>();
    forEachRow(file, (line, cols) -> {
      if (cols.length < 3) throw new IllegalArgumentException(file + " line " + line + ": expected 3 columns");
      out.add(new Lengths(Integer.parseInt(cols[1]), Integer.parseInt(cols[2])));
    });
    return out;
  }

  /**
   * Azure trace requests with their arrival times: {@code TIMESTAMP} (wall clock, e.g. {@code
   * 2023-11-16 18:17:03.9799600}) made relative to the first row, in file order (the files are
   * sorted by time).
   *
   * @throws UncheckedIOException if the file cannot be read
   * @throws IllegalArgumentException on a malformed row (names the line)
   */
  public static List<TimedRequest> readAzureRequests(Path file) {
    List<TimedRequest> out = new ArrayList<>();
    long[] first = {Long.MIN_VALUE};
    forEachRow(file, (line, cols) -> {
      if (cols.length < 3) throw new IllegalArgumentException(file + " line " + line + ": expected 3 columns");
      long t;
      try {
        java.time.LocalDateTime ts = java.time.LocalDateTime.parse(cols[0].strip().replace(' ', 'T'));
        java.time.Instant i = ts.toInstant(java.time.ZoneOffset.UTC);
        t = i.getEpochSecond() * 1_000_000_000L + i.getNano();
      } catch (java.time.format.DateTimeParseException e) {
        throw new IllegalArgumentException(file + " line " + line + ": bad TIMESTAMP '" + cols[0] + "'", e);
      }
      if (first[0] == Long.MIN_VALUE) first[0] = t;
      out.add(new TimedRequest(Math.max(0, t - first[0]), Integer.parseInt(cols[1]), Integer.parseInt(cols[2])));
    });
    return out;
  }

  /**
   * Mooncake conversation trace requests: one JSON object per line with {@code timestamp}
   * (milliseconds from the start), {@code input_length} and {@code output_length} (the {@code
   * hash_ids} are not read), in file order.
   *
   * @throws UncheckedIOException if the file cannot be read
   * @throws IllegalArgumentException on a line without the three numbers (names the line)
   */
  public static List<TimedRequest> readMooncakeRequests(Path file) {
    List<TimedRequest> out = new ArrayList<>();
    try (BufferedReader r = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
      String s;
      int line = 0;
      while ((s = r.readLine()) != null) {
        line++;
        if (s.isBlank()) continue;
        long ms = jsonNumber(file, line, s, "timestamp");
        out.add(new TimedRequest(ms * 1_000_000L, (int) jsonNumber(file, line, s, "input_length"), (int) jsonNumber(file, line, s, "output_length")));
      }
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read trace " + file, e);
    }
    return out;
  }

  /** The non-negative integer after {@code "key":} on one flat JSON line. */
  private static long jsonNumber(Path file, int line, String s, String key) {
    int i = s.indexOf("\"" + key + "\"");
    if (i >= 0) i = s.indexOf(':', i);
    if (i < 0) throw new IllegalArgumentException(file + " line " + line + ": no \"" + key + "\"");
    int j = i + 1;
    while (j < s.length() && s.charAt(j) == ' ') j++;
    int start = j;
    while (j < s.length() && Character.isDigit(s.charAt(j))) j++;
    if (j == start) throw new IllegalArgumentException(file + " line " + line + ": \"" + key + "\" is not a non-negative integer");
    return Long.parseLong(s.substring(start, j));
  }

  private interface RowHandler {
    void accept(int lineNumber, String[] columns);
  }

  private static void forEachRow(Path file, RowHandler handler) {
    try (BufferedReader r = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
      String header = r.readLine();
      if (header == null) throw new IllegalArgumentException(file + " is empty");
      String s;
      int line = 1;
      while ((s = r.readLine()) != null) {
        line++;
        s = s.strip();
        if (s.isEmpty()) continue;
        try {
          handler.accept(line, s.split(","));
        } catch (NumberFormatException e) {
          throw new IllegalArgumentException(file + " line " + line + ": " + e.getMessage(), e);
        }
      }
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read trace " + file, e);
    }
  }
}
