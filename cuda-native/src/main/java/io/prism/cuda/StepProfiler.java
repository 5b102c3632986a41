package io.prism.cuda;

import static io.prism.cuda.CudaCheck.check;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.bytedeco.cuda.cudart.CUevent_st;
import org.bytedeco.cuda.global.cudart;
import org.bytedeco.javacpp.FloatPointer;

/**
 * Device time per operation of the forward pass, from CUDA events recorded between the operations
 * on the device's stream ({@code cuEventRecord}, {@code cuEventElapsedTime}): the time between the
 * mark of an operation and the next mark is charged to it. Only for benchmarks: every {@link #collect}
 * synchronizes the stream.
 *
 * <p>Threading: device thread only.
 */
final class StepProfiler implements AutoCloseable {
  private final CudaContext ctx;
  private final List<CUevent_st> events = new ArrayList<>();
  private final List<String> labels = new ArrayList<>();
  private int used;
  private final Map<String, Double> totalMs = new LinkedHashMap<>();

  StepProfiler(CudaContext ctx) {
    this.ctx = ctx;
  }

  /** Records an event; the time until the next mark is charged to {@code label}. */
  void mark(String label) {
    if (used == events.size()) {
      CUevent_st e = new CUevent_st();
      check("cuEventCreate", cudart.cuEventCreate(e, cudart.CU_EVENT_DEFAULT));
      events.add(e);
      labels.add(null);
    }
    check("cuEventRecord", cudart.cuEventRecord(events.get(used), ctx.stream));
    labels.set(used, label);
    used++;
  }

  /** Synchronizes and adds the marked intervals to the totals; starts a new recording. */
  void collect() {
    if (used == 0) return;
    mark("end");
    check("cuEventSynchronize", cudart.cuEventSynchronize(events.get(used - 1)));
    try (FloatPointer ms = new FloatPointer(1)) {
      for (int i = 0; i + 1 < used; i++) {
        check("cuEventElapsedTime", cudart.cuEventElapsedTime(ms, events.get(i), events.get(i + 1)));
        totalMs.merge(labels.get(i), (double) ms.get(), Double::sum);
      }
    }
    used = 0;
  }

  /** Milliseconds per label since the last {@link #reset}. */
  Map<String, Double> totals() {
    return totalMs;
  }

  void reset() {
    totalMs.clear();
    used = 0;
  }

  @Override
  public void close() {
    for (CUevent_st e : events) cudart.cuEventDestroy(e);
    events.clear();
  }
}
