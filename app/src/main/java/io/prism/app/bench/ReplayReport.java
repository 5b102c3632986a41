package io.prism.app.bench;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * The files of a replay: the CSV of every request, the memory samples' CSV, and (when XChart is on
 * the class path) the PNG plots and one HTML report that embeds them (base64) with the tables.
 *
 * <p>Threading: call from one thread.
 */
final class ReplayReport {
  /** One finished run with what it measured. */
  record Run(ReplaySummary summary, List<ReplayRecord> records, List<MemoryPoller.Sample> memory) {}

  private ReplayReport() {}

  /** Whether XChart can be loaded (it is not in the server bundle; the repository launcher adds {@code app/target/plot-lib}). */
  static boolean plottingAvailable() {
    try {
      Class.forName("org.knowm.xchart.XYChart", false, ReplayReport.class.getClassLoader());
      return true;
    } catch (ClassNotFoundException | LinkageError e) {
      return false;
    }
  }

  /** Writes every run's requests, CSV with {@link ReplayRecord#CSV_HEADER}; one row per request. */
  static void writeRequests(Path csv, List<Run> runs) throws IOException {
    createParent(csv);
    try (Writer w = Files.newBufferedWriter(csv, StandardCharsets.UTF_8)) {
      w.write(ReplayRecord.CSV_HEADER);
      for (Run r : runs) for (ReplayRecord rec : r.records()) rec.writeCsv(w);
    }
  }

  /**
   * Writes every run's memory samples: {@code policy,rate_scale,seconds,gpu,model,weight_bytes,kv_bytes,max_kv_bytes}
   * ({@code max_kv_bytes} -1 when the model has no page maximum).
   */
  static void writeMemory(Path csv, List<Run> runs) throws IOException {
    createParent(csv);
    try (Writer w = Files.newBufferedWriter(csv, StandardCharsets.UTF_8)) {
      w.write("policy,rate_scale,seconds,gpu,model,weight_bytes,kv_bytes,max_kv_bytes\n");
      for (Run r : runs) {
        for (MemoryPoller.Sample s : r.memory()) {
          w.write(String.format(java.util.Locale.ROOT, "%s,%.3f,%.3f,%s,%s,%d,%d,%d%n", r.summary().policy(), r.summary().rateScale(), s.seconds(),
              s.gpu(), s.model(), s.weightBytes(), s.kvBytes(), s.maxKvBytes()));
        }
      }
    }
  }

  /**
   * Draws the plots into {@code dir} ({@code attainment-vs-rate.png}, {@code ttft-cdf.png}, {@code
   * memory-POLICY-GPU.png} of each policy's last run) and writes {@code dir/report.html} embedding
   * them with {@code tables} (preformatted text).
   *
   * @return the report's path
   * @throws IllegalStateException if XChart is not on the class path (says how to get it)
   */
  static Path writePlotsAndHtml(Path dir, List<Run> runs, String title, String tables) throws IOException {
    if (!plottingAvailable()) {
      throw new IllegalStateException("plots need XChart, which the server bundle leaves out: run from the repository (./prism adds "
          + "app/target/plot-lib after `mvn package`), or drop --report");
    }
    Files.createDirectories(dir);
    Map<String, byte[]> images = new LinkedHashMap<>();
    List<ReplaySummary> summaries = new ArrayList<>();
    for (Run r : runs) summaries.add(r.summary());
    images.put("attainment-vs-rate.png", ReplayPlots.attainmentVsRate(summaries));
    Map<String, List<ReplayRecord>> last = new LinkedHashMap<>();
    Map<String, Run> lastRun = new LinkedHashMap<>();
    for (Run r : runs) {
      last.put(r.summary().policy(), r.records());
      lastRun.put(r.summary().policy(), r);
    }
    images.put("ttft-cdf.png", ReplayPlots.ttftCdf(last));
    for (Run r : lastRun.values()) {
      Map<String, List<MemoryPoller.Sample>> byGpu = new TreeMap<>();
      for (MemoryPoller.Sample s : r.memory()) byGpu.computeIfAbsent(s.gpu(), k -> new ArrayList<>()).add(s);
      for (Map.Entry<String, List<MemoryPoller.Sample>> e : byGpu.entrySet()) {
        String gpu = e.getKey().contains("@") ? e.getKey().substring(0, e.getKey().indexOf('@')) : e.getKey();
        String name = "memory-" + safe(r.summary().policy()) + "-" + safe(gpu) + ".png";
        images.put(name, ReplayPlots.memoryOverTime("memory per model, " + r.summary().policy() + ", GPU " + e.getKey() + " (rate scale "
            + r.summary().rateScale() + ")", e.getValue()));
      }
    }
    for (Map.Entry<String, byte[]> e : images.entrySet()) Files.write(dir.resolve(e.getKey()), e.getValue());
    Path html = dir.resolve("report.html");
    try (PrintWriter w = new PrintWriter(Files.newBufferedWriter(html, StandardCharsets.UTF_8))) {
      w.println("<!doctype html><html><head><meta charset=\"utf-8\"><title>" + escape(title) + "</title>");
      w.println("<style>body{font-family:sans-serif;margin:2em}pre{background:#f4f4f4;padding:1em;overflow-x:auto}img{max-width:100%}</style>");
      w.println("</head><body><h1>" + escape(title) + "</h1><pre>" + escape(tables) + "</pre>");
      for (Map.Entry<String, byte[]> e : images.entrySet()) {
        w.println("<h2>" + escape(e.getKey()) + "</h2><img alt=\"" + escape(e.getKey()) + "\" src=\"data:image/png;base64,"
            + Base64.getEncoder().encodeToString(e.getValue()) + "\">");
      }
      w.println("</body></html>");
    }
    return html;
  }

  private static String safe(String s) {
    return s.replaceAll("[^A-Za-z0-9+.-]", "_");
  }

  private static String escape(String s) {
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\"", "&quot;");
  }

  private static void createParent(Path p) throws IOException {
    Path parent = p.toAbsolutePath().getParent();
    if (parent != null) Files.createDirectories(parent);
  }
}
