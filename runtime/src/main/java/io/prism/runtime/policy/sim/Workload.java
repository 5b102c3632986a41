package io.prism.runtime.policy.sim;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * A multi-model request stream built from real traces the way AlpaServe, MuxServe and Prism do it
 * (traces README): real rates and lengths spread over {@code N} models with long-tail popularity
 * and on/off bursts.
 *
 * <p>Model {@code i} (0-based) gets:
 * <ul>
 *   <li>popularity {@code p_i = (i+1)^-zipf / sum_j (j+1)^-zipf}; mean rate {@code totalRate * p_i};
 *   <li>a time shape from a ServeGen class series ({@code m-small}, {@code m-mid}, {@code m-large}
 *       in turn) starting at a random window, normalised to mean 1; with {@code timeCompression c},
 *       one 10-minute ServeGen window lasts {@code 600 / c} simulated seconds (so a short run sees
 *       the series' swings);
 *   <li>on/off bursts: alternating exponential ON and OFF periods (means {@code onMeanSeconds},
 *       {@code offMeanSeconds}); arrivals only while ON, at rate {@code mean * shape(t) / onFraction},
 *       so the long-run mean stays {@code totalRate * p_i};
 *   <li>Poisson arrivals within each piece of constant rate;
 *   <li>lengths drawn from the Azure conversation trace (even {@code i}) or code trace (odd
 *       {@code i}), clipped to the model's context.
 * </ul>
 * Deterministic for a given seed.
 */
public final class Workload {
  /** A served model: id, size, long-run mean request rate. */
  public record SimModel(String modelId, ModelProfile profile, double meanRequestsPerSecond, double meanPromptTokens,
      double meanOutputTokens) {
    /** Long-run mean token rate (prompt + output), tokens per second. */
    public double meanTokensPerSecond() {
      return meanRequestsPerSecond * (meanPromptTokens + meanOutputTokens);
    }
  }

  /** One request of the stream. */
  public record Arrival(String requestId, String modelId, long arrivalNanos, int promptTokens, int outputTokens) {}

  /**
   * Knobs of the stream.
   *
   * @param profiles model sizes, used in turn for model 0, 1, ...
   * @param numModels number of models
   * @param totalRequestsPerSecond long-run request rate of all models together
   * @param durationSeconds arrivals happen in {@code [0, duration)}
   * @param zipf popularity exponent (1.0: the long tail of the paper's traces)
   * @param onMeanSeconds mean length of a burst
   * @param offMeanSeconds mean length of a quiet period
   * @param timeCompression ServeGen windows per 600 simulated seconds
   * @param seed random seed
   */
  public record Config(List<ModelProfile> profiles, int numModels, double totalRequestsPerSecond, double durationSeconds,
      double zipf, double onMeanSeconds, double offMeanSeconds, double timeCompression, long seed) {
    public Config {
      if (profiles.isEmpty() || numModels <= 0 || totalRequestsPerSecond <= 0 || durationSeconds <= 0 || onMeanSeconds <= 0
          || offMeanSeconds < 0 || timeCompression <= 0) {
        throw new IllegalArgumentException("workload config needs positive sizes, rates and durations: " + this);
      }
      profiles = List.copyOf(profiles);
    }
  }

  private static final String[] SHAPE_CLASSES = {"m-small", "m-mid", "m-large"};

  private final List<SimModel> models;
  private final List<Arrival> arrivals;
  private final long durationNanos;

  private Workload(List<SimModel> models, List<Arrival> arrivals, long durationNanos) {
    this.models = List.copyOf(models);
    this.arrivals = List.copyOf(arrivals);
    this.durationNanos = durationNanos;
  }

  /**
   * A hand-made stream (tests, other generators).
   *
   * @param models the models
   * @param arrivals requests, sorted by arrival here; each must name one of {@code models}
   * @param durationNanos length of the arrival period, {@code > 0}
   * @throws IllegalArgumentException if a request names an unknown model or the duration is not positive
   */
  public static Workload of(List<SimModel> models, List<Arrival> arrivals, long durationNanos) {
    if (durationNanos <= 0) throw new IllegalArgumentException("durationNanos must be > 0, got " + durationNanos);
    java.util.Set<String> ids = new java.util.HashSet<>();
    for (SimModel m : models) if (!ids.add(m.modelId())) throw new IllegalArgumentException("duplicate model " + m.modelId());
    for (Arrival a : arrivals) {
      if (!ids.contains(a.modelId())) throw new IllegalArgumentException("request " + a.requestId() + " names unknown model " + a.modelId());
      if (a.promptTokens() < 1 || a.outputTokens() < 1) throw new IllegalArgumentException("request " + a.requestId() + " needs >= 1 prompt and output token");
    }
    List<Arrival> sorted = new ArrayList<>(arrivals);
    sorted.sort(Comparator.comparingLong(Arrival::arrivalNanos).thenComparing(Arrival::requestId));
    return new Workload(models, sorted, durationNanos);
  }

  /** The models, in index order. */
  public List<SimModel> models() {
    return models;
  }

  /** All requests, by arrival time (ties: request id). */
  public List<Arrival> arrivals() {
    return arrivals;
  }

  /** Length of the arrival period. */
  public long durationNanos() {
    return durationNanos;
  }

  /** A copy with only the requests of {@code modelId} (for the dedicated-GPU SLO calibration). */
  public Workload only(String modelId) {
    return new Workload(models.stream().filter(m -> m.modelId().equals(modelId)).toList(),
        arrivals.stream().filter(a -> a.modelId().equals(modelId)).toList(), durationNanos);
  }

  /**
   * Builds the stream.
   *
   * @param servegen class -> rate per 10-minute window ({@link Traces#readServeGenRates})
   * @param conv lengths of the Azure conversation trace
   * @param code lengths of the Azure code trace
   */
  public static Workload generate(Config c, Map<String, double[]> servegen, List<Traces.Lengths> conv, List<Traces.Lengths> code) {
    SplittableRandom root = new SplittableRandom(c.seed());
    double norm = 0;
    for (int i = 0; i < c.numModels(); i++) norm += Math.pow(i + 1, -c.zipf());
    double onFraction = c.onMeanSeconds() / (c.onMeanSeconds() + c.offMeanSeconds());
    long durationNanos = Math.round(c.durationSeconds() * 1e9);
    double windowSeconds = Traces.SERVEGEN_WINDOW_SECONDS / c.timeCompression();

    List<SimModel> models = new ArrayList<>();
    List<Arrival> all = new ArrayList<>();
    for (int i = 0; i < c.numModels(); i++) {
      SplittableRandom rnd = root.split();
      ModelProfile profile = c.profiles().get(i % c.profiles().size());
      String id = String.format("m%02d-%s", i, profile.name());
      double meanRate = c.totalRequestsPerSecond() * Math.pow(i + 1, -c.zipf()) / norm;
      double[] shape = shape(servegen, SHAPE_CLASSES[i % SHAPE_CLASSES.length]);
      int offset = rnd.nextInt(shape.length);
      List<Traces.Lengths> lengths = i % 2 == 0 ? conv : code;
      if (lengths.isEmpty()) throw new IllegalArgumentException("no request lengths for model " + id);

      double t = 0;
      boolean on = rnd.nextDouble() < onFraction;
      double switchAt = exp(rnd, on ? c.onMeanSeconds() : c.offMeanSeconds());
      int count = 0;
      long promptSum = 0;
      long outputSum = 0;
      while (t < c.durationSeconds()) {
        int window = (int) Math.floor(t / windowSeconds);
        double pieceEnd = Math.min(Math.min((window + 1) * windowSeconds, switchAt), c.durationSeconds());
        double rate = on ? meanRate * shape[(offset + window) % shape.length] / onFraction : 0;
        if (rate > 0) {
          double a = t + exp(rnd, 1 / rate);
          while (a < pieceEnd) {
            Traces.Lengths l = lengths.get(rnd.nextInt(lengths.size()));
            int output = Math.max(1, Math.min(l.outputTokens(), profile.maxContextTokens() / 2));
            int prompt = Math.max(1, Math.min(l.promptTokens(), profile.maxContextTokens() - output));
            all.add(new Arrival(String.format("%s-%06d", id, count++), id, Math.round(a * 1e9), prompt, output));
            promptSum += prompt;
            outputSum += output;
            a += exp(rnd, 1 / rate);
          }
        }
        t = pieceEnd;
        if (t >= switchAt) {
          on = !on || c.offMeanSeconds() == 0;
          switchAt = t + exp(rnd, on ? c.onMeanSeconds() : c.offMeanSeconds());
        }
      }
      double meanPrompt = count == 0 ? meanLength(lengths, true) : (double) promptSum / count;
      double meanOutput = count == 0 ? meanLength(lengths, false) : (double) outputSum / count;
      models.add(new SimModel(id, profile, meanRate, meanPrompt, meanOutput));
    }
    all.sort(Comparator.comparingLong(Arrival::arrivalNanos).thenComparing(Arrival::requestId));
    return new Workload(models, all, durationNanos);
  }

  private static double[] shape(Map<String, double[]> servegen, String cls) {
    double[] series = servegen.get(cls);
    if (series == null || series.length == 0) throw new IllegalArgumentException("ServeGen rates lack class " + cls);
    double mean = Arrays.stream(series).average().orElse(0);
    if (mean <= 0) throw new IllegalArgumentException("ServeGen class " + cls + " has no traffic");
    return Arrays.stream(series).map(r -> r / mean).toArray();
  }

  private static double meanLength(List<Traces.Lengths> lengths, boolean prompt) {
    return lengths.stream().mapToInt(l -> prompt ? l.promptTokens() : l.outputTokens()).average().orElse(0);
  }

  private static double exp(SplittableRandom rnd, double mean) {
    return -mean * Math.log(1 - rnd.nextDouble());
  }
}
