package io.prism.app.bench;

import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.XYSeries;
import org.knowm.xchart.style.Styler;
import org.knowm.xchart.style.markers.SeriesMarkers;

/**
 * The PNG plots of {@code prism bench replay}, drawn with XChart (headless). XChart is not a
 * server dependency (it is kept out of the {@code -Pdist} bundle): only {@link ReplayReport} calls
 * this class, after checking that XChart is on the class path.
 *
 * <p>Threading: any thread; each call draws its own chart.
 */
final class ReplayPlots {
  private static final int WIDTH = 900, HEIGHT = 520;

  private ReplayPlots() {}

  /** Attainment of TTFT and TPOT together against the rate scale, one line per policy. */
  static byte[] attainmentVsRate(List<ReplaySummary> summaries) throws IOException {
    XYChart c = chart("SLO attainment (TTFT and TPOT) vs rate", "rate scale", "attainment %");
    Map<String, TreeMap<Double, Double>> byPolicy = new LinkedHashMap<>();
    for (ReplaySummary s : summaries) byPolicy.computeIfAbsent(s.policy(), k -> new TreeMap<>()).put(s.rateScale(), 100 * s.attainment());
    for (Map.Entry<String, TreeMap<Double, Double>> e : byPolicy.entrySet()) {
      double[] x = e.getValue().keySet().stream().mapToDouble(Double::doubleValue).toArray();
      double[] y = e.getValue().values().stream().mapToDouble(Double::doubleValue).toArray();
      c.addSeries(e.getKey(), x, y);
    }
    c.getStyler().setYAxisMin(0.0).setYAxisMax(100.0).setYAxisDecimalPattern("0");
    return png(c);
  }

  /** TTFT CDF of the requests that got a first token, one line per run label. */
  static byte[] ttftCdf(Map<String, List<ReplayRecord>> runs) throws IOException {
    XYChart c = chart("TTFT CDF (requests with a first token; the rest keep the curve below 1)", "TTFT ms", "fraction of requests");
    for (Map.Entry<String, List<ReplayRecord>> e : runs.entrySet()) {
      double[] t = e.getValue().stream().filter(r -> r.ttftNanos() >= 0).mapToDouble(r -> r.ttftNanos() / 1e6).sorted().toArray();
      if (t.length == 0) continue;
      int n = e.getValue().size();
      double[] y = new double[t.length];
      for (int i = 0; i < t.length; i++) y[i] = (i + 1) / (double) n;
      XYSeries s = c.addSeries(e.getKey(), t, y);
      s.setMarker(SeriesMarkers.NONE);
    }
    c.getStyler().setXAxisLogarithmic(true).setYAxisMin(0.0).setYAxisMax(1.0).setYAxisDecimalPattern("0.00");
    return png(c);
  }

  /**
   * Memory of each model on one GPU over time: weights (while resident) plus KV pages held, MiB.
   *
   * @param samples the run's samples of that GPU
   */
  static byte[] memoryOverTime(String title, List<MemoryPoller.Sample> samples) throws IOException {
    XYChart c = chart(title, "seconds", "MiB (weights + KV)");
    Map<String, List<double[]>> byModel = new TreeMap<>();
    for (MemoryPoller.Sample s : samples) {
      byModel.computeIfAbsent(s.model(), k -> new ArrayList<>()).add(new double[] {s.seconds(), (s.weightBytes() + s.kvBytes()) / 1048576.0});
    }
    for (Map.Entry<String, List<double[]>> e : byModel.entrySet()) {
      double[] x = e.getValue().stream().mapToDouble(p -> p[0]).toArray();
      double[] y = e.getValue().stream().mapToDouble(p -> p[1]).toArray();
      XYSeries s = c.addSeries(e.getKey(), x, y);
      s.setMarker(SeriesMarkers.NONE);
    }
    if (byModel.isEmpty()) c.addSeries("no samples", new double[] {0}, new double[] {0});
    c.getStyler().setYAxisMin(0.0).setYAxisDecimalPattern("#,##0.0");
    return png(c);
  }

  private static XYChart chart(String title, String x, String y) {
    System.setProperty("java.awt.headless", "true");
    XYChart c = new XYChartBuilder().width(WIDTH).height(HEIGHT).title(title).xAxisTitle(x).yAxisTitle(y).build();
    c.getStyler().setLegendPosition(Styler.LegendPosition.OutsideE).setMarkerSize(6);
    return c;
  }

  private static byte[] png(XYChart c) throws IOException {
    return BitmapEncoder.getBitmapBytes(c, BitmapEncoder.BitmapFormat.PNG);
  }

  /** Whether {@code a} holds anything (for tests). */
  static boolean nonEmpty(byte[] a) {
    return a != null && a.length > 8 && Arrays.equals(Arrays.copyOf(a, 4), new byte[] {(byte) 0x89, 'P', 'N', 'G'});
  }
}
