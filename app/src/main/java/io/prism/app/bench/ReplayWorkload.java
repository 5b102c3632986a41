package io.prism.app.bench;

import io.prism.runtime.model.ModelConfig;
import io.prism.runtime.model.ModelLoader;
import io.prism.runtime.model.RandomModels;
import io.prism.runtime.policy.sim.ModelProfile;
import io.prism.runtime.policy.sim.Traces;
import io.prism.runtime.policy.sim.Workload;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * The request stream of {@code prism bench replay}, built from the public traces ({@code
 * ../shared/traces}, see its README) as a simulator {@link Workload}, so that the real run and the
 * simulator replay the very same requests.
 *
 * <p>Sources:
 * <ul>
 *   <li>{@code servegen}: {@link Workload#generate}: per-model ServeGen rate series (time shape),
 *       Zipf popularity, on/off bursts, Azure conversation/code lengths; total rate {@code baseRate
 *       x rateScale}.
 *   <li>{@code azure-code}, {@code azure-conv}, {@code mooncake}: the trace's real arrival times and
 *       lengths from {@code traceOffset} on, time compressed by {@code rateScale} (so the rate is the
 *       trace's own times {@code rateScale}), each arrival given to one of N models by <b>bursty
 *       groups</b>: time is cut into periods of {@code groupPeriod}; in each, a group of {@code
 *       ceil(groupFraction x N)} models is active (drawn without replacement by Zipf popularity,
 *       the paper's 23-50% of models active at once, the active set changing every period) and each
 *       arrival goes to a member of the group drawn by popularity.
 * </ul>
 * Lengths are multiplied by {@code lengthScale} (small models on a CPU cannot take Azure's
 * thousands of prompt tokens), capped at {@code maxPromptTokens} / {@code maxOutputTokens} and at
 * the model's context. Deterministic for a seed. Not thread-safe (build once, then read).
 */
public final class ReplayWorkload {
  /** Where arrivals come from. */
  public enum Source {
    SERVEGEN, AZURE_CODE, AZURE_CONV, MOONCAKE;

    /**
     * {@code servegen}, {@code azure-code}, {@code azure-conv} or {@code mooncake}.
     *
     * @throws IllegalArgumentException naming the value and the known ones
     */
    public static Source parse(String s) {
      for (Source v : values()) if (v.cliName().equalsIgnoreCase(s.strip())) return v;
      throw new IllegalArgumentException("unknown trace '" + s + "'; known: servegen, azure-code, azure-conv, mooncake");
    }

    /** The name on the command line. */
    public String cliName() {
      return name().toLowerCase(Locale.ROOT).replace('_', '-');
    }
  }

  /**
   * Knobs of the stream.
   *
   * @param source the trace
   * @param tracesDir the folder with the trace files
   * @param shapes model sources ({@code random:NAME} or a model file), used in turn for model 0, 1, ...
   * @param numModels N, {@code >= 1}
   * @param baseRate servegen: total requests per second before {@code rateScale}
   * @param rateScale multiplies the arrival rate, {@code > 0}
   * @param duration arrivals happen in {@code [0, duration)}
   * @param zipf popularity exponent (1.0: the paper's long tail)
   * @param burstOn servegen: mean length of a model's burst
   * @param burstOff servegen: mean length of a model's quiet period
   * @param compression servegen: ServeGen 10-minute windows per 600 s of the replay
   * @param groupFraction timed traces: fraction of models active at once, in {@code (0, 1]}
   * @param groupPeriod timed traces: how long one active group lasts
   * @param traceOffset timed traces: where in the trace the replay starts
   * @param lengthScale multiplies prompt and output lengths, {@code > 0}
   * @param maxPromptTokens cap on prompt tokens
   * @param maxOutputTokens cap on output tokens
   * @param bytesPerElement bytes per weight and KV element on the device (host 4, CUDA 2)
   * @param seed random seed
   */
  public record Options(Source source, Path tracesDir, List<String> shapes, int numModels, double baseRate, double rateScale, Duration duration,
      double zipf, Duration burstOn, Duration burstOff, double compression, double groupFraction, Duration groupPeriod, Duration traceOffset,
      double lengthScale, int maxPromptTokens, int maxOutputTokens, int bytesPerElement, long seed) {
    public Options {
      if (shapes.isEmpty() || numModels < 1 || baseRate <= 0 || rateScale <= 0 || duration.isNegative() || duration.isZero() || lengthScale <= 0
          || maxPromptTokens < 1 || maxOutputTokens < 1 || groupFraction <= 0 || groupFraction > 1 || groupPeriod.isZero() || bytesPerElement < 1) {
        throw new IllegalArgumentException("replay workload needs shapes, models >= 1, rate, rate scale, duration, length scale > 0, "
            + "token caps >= 1, group fraction in (0, 1], group period > 0: " + this);
      }
      shapes = List.copyOf(shapes);
    }

    /** These options with another rate scale. */
    public Options withRateScale(double scale) {
      return new Options(source, tracesDir, shapes, numModels, baseRate, scale, duration, zipf, burstOn, burstOff, compression, groupFraction,
          groupPeriod, traceOffset, lengthScale, maxPromptTokens, maxOutputTokens, bytesPerElement, seed);
    }
  }

  /**
   * A built stream.
   *
   * @param workload the models and the requests (ids {@code mNN-shape}), as the simulator takes them
   * @param sources model id -> model source (what the server loads)
   * @param configs model id -> its shape
   * @param description one line about the stream
   */
  public record Built(Workload workload, Map<String, String> sources, Map<String, ModelConfig> configs, String description) {}

  private ReplayWorkload() {}

  /** The shape of a model source: {@code random:NAME} from {@link RandomModels}, else the file's header. */
  public static ModelConfig config(String source) {
    return source.startsWith("random:") ? RandomModels.config(source) : ModelLoader.load(source, null).config();
  }

  /** The cost model's view of {@code c}: parameters, device bytes of weights and of KV per token, context. */
  public static ModelProfile profile(ModelConfig c, int bytesPerElement, int maxContext) {
    return new ModelProfile(c.name(), c.parameterCount(), c.parameterCount() * bytesPerElement, c.kvBytesPerToken(bytesPerElement),
        Math.max(2, Math.min(c.maxSeqLen(), maxContext)));
  }

  /**
   * Builds the stream.
   *
   * @throws IllegalArgumentException on bad options or a trace window with no request
   * @throws java.io.UncheckedIOException if a trace cannot be read
   */
  public static Built build(Options o) {
    List<String> modelSources = new ArrayList<>();
    List<ModelProfile> profiles = new ArrayList<>();
    Map<String, ModelConfig> shapeConfigs = new LinkedHashMap<>();
    for (String s : o.shapes()) {
      ModelConfig c = shapeConfigs.computeIfAbsent(s, ReplayWorkload::config);
      profiles.add(profile(c, o.bytesPerElement(), o.maxPromptTokens() + o.maxOutputTokens()));
      modelSources.add(s);
    }
    Workload w = o.source() == Source.SERVEGEN ? servegen(o, profiles) : timed(o, profiles);
    Map<String, String> sources = new LinkedHashMap<>();
    Map<String, ModelConfig> configs = new LinkedHashMap<>();
    for (int i = 0; i < w.models().size(); i++) {
      String src = modelSources.get(i % modelSources.size());
      sources.put(w.models().get(i).modelId(), src);
      configs.put(w.models().get(i).modelId(), shapeConfigs.get(src));
    }
    String d = String.format(Locale.ROOT, "%s trace, %d models (%s), %d requests in %d s (%.2f req/s), rate scale %.2f, lengths x%.2f", o.source().cliName(),
        o.numModels(), String.join(", ", o.shapes()), w.arrivals().size(), o.duration().toSeconds(),
        w.arrivals().size() / (o.duration().toMillis() / 1000.0), o.rateScale(), o.lengthScale());
    return new Built(w, sources, configs, d);
  }

  private static Workload servegen(Options o, List<ModelProfile> profiles) {
    Path dir = o.tracesDir();
    Workload.Config c = new Workload.Config(profiles, o.numModels(), o.baseRate() * o.rateScale(), o.duration().toMillis() / 1000.0, o.zipf(),
        o.burstOn().toMillis() / 1000.0, o.burstOff().toMillis() / 1000.0, o.compression(), o.seed());
    return Workload.generate(c, Traces.readServeGenRates(dir.resolve(Traces.SERVEGEN_RATES)),
        scaled(Traces.readAzureLengths(dir.resolve(Traces.AZURE_CONV)), o), scaled(Traces.readAzureLengths(dir.resolve(Traces.AZURE_CODE)), o));
  }

  private static List<Traces.Lengths> scaled(List<Traces.Lengths> in, Options o) {
    List<Traces.Lengths> out = new ArrayList<>(in.size());
    for (Traces.Lengths l : in) out.add(new Traces.Lengths(prompt(l.promptTokens(), o), output(l.outputTokens(), o)));
    return out;
  }

  private static int prompt(int tokens, Options o) {
    return (int) Math.max(1, Math.min(o.maxPromptTokens(), Math.round(tokens * o.lengthScale())));
  }

  private static int output(int tokens, Options o) {
    return (int) Math.max(1, Math.min(o.maxOutputTokens(), Math.round(tokens * o.lengthScale())));
  }

  private static Workload timed(Options o, List<ModelProfile> profiles) {
    Path dir = o.tracesDir();
    List<Traces.TimedRequest> trace = switch (o.source()) {
      case AZURE_CODE -> Traces.readAzureRequests(dir.resolve(Traces.AZURE_CODE));
      case AZURE_CONV -> Traces.readAzureRequests(dir.resolve(Traces.AZURE_CONV));
      case MOONCAKE -> Traces.readMooncakeRequests(dir.resolve(Traces.MOONCAKE_CONV));
      case SERVEGEN -> throw new IllegalStateException("servegen is not a timed trace");
    };
    int n = o.numModels();
    double[] weight = new double[n];
    for (int i = 0; i < n; i++) weight[i] = Math.pow(i + 1, -o.zipf());
    int groupSize = Math.max(1, (int) Math.ceil(o.groupFraction() * n));
    SplittableRandom rnd = new SplittableRandom(o.seed());
    long start = o.traceOffset().toNanos();
    long end = start + Math.round(o.duration().toNanos() * o.rateScale());
    long period = o.groupPeriod().toNanos();
    List<String> ids = new ArrayList<>();
    for (int i = 0; i < n; i++) ids.add(String.format("m%02d-%s", i, profiles.get(i % profiles.size()).name()));
    List<Workload.Arrival> arrivals = new ArrayList<>();
    int[] count = new int[n];
    long[] promptSum = new long[n], outputSum = new long[n];
    long groupIndex = -1;
    int[] group = null;
    for (Traces.TimedRequest r : trace) {
      if (r.offsetNanos() < start) continue;
      if (r.offsetNanos() >= end) break;
      long t = Math.round((r.offsetNanos() - start) / o.rateScale());
      if (t / period != groupIndex) {
        groupIndex = t / period;
        group = drawGroup(rnd, weight, groupSize);
      }
      int m = group[pick(rnd, weight, group)];
      ModelProfile p = profiles.get(m % profiles.size());
      int out = Math.max(1, Math.min(output(r.outputTokens(), o), p.maxContextTokens() / 2));
      int in = Math.max(1, Math.min(prompt(r.promptTokens(), o), p.maxContextTokens() - out));
      arrivals.add(new Workload.Arrival(String.format("%s-%06d", ids.get(m), count[m]++), ids.get(m), t, in, out));
      promptSum[m] += in;
      outputSum[m] += out;
    }
    if (arrivals.isEmpty()) throw new IllegalArgumentException("no request of the " + o.source().cliName() + " trace falls in the replay window");
    double seconds = o.duration().toMillis() / 1000.0;
    List<Workload.SimModel> models = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      models.add(new Workload.SimModel(ids.get(i), profiles.get(i % profiles.size()), count[i] / seconds,
          count[i] == 0 ? 1 : (double) promptSum[i] / count[i], count[i] == 0 ? 1 : (double) outputSum[i] / count[i]));
    }
    return Workload.of(models, arrivals, o.duration().toNanos());
  }

  /** {@code size} distinct model indices drawn by {@code weight} without replacement. */
  private static int[] drawGroup(SplittableRandom rnd, double[] weight, int size) {
    boolean[] taken = new boolean[weight.length];
    int[] g = new int[size];
    for (int k = 0; k < size; k++) {
      double total = 0;
      for (int i = 0; i < weight.length; i++) if (!taken[i]) total += weight[i];
      double x = rnd.nextDouble() * total;
      int chosen = -1;
      for (int i = 0; i < weight.length; i++) {
        if (taken[i]) continue;
        chosen = i;
        x -= weight[i];
        if (x < 0) break;
      }
      taken[chosen] = true;
      g[k] = chosen;
    }
    return g;
  }

  /** An index into {@code group}, drawn by the members' weights. */
  private static int pick(SplittableRandom rnd, double[] weight, int[] group) {
    double total = 0;
    for (int m : group) total += weight[m];
    double x = rnd.nextDouble() * total;
    for (int k = 0; k < group.length; k++) {
      x -= weight[group[k]];
      if (x < 0) return k;
    }
    return group.length - 1;
  }
}
