package io.prism.runtime.policy.sim;

/** One request's life in the simulator (mutable; confined to the simulator's thread). */
final class SimRequest {
  final Workload.Arrival arrival;
  final SimModelState model;
  final long deadlineNanos; // arrival + TTFT SLO
  int generated; // output tokens emitted so far
  long firstTokenNanos = -1;
  long finishNanos = -1;
  boolean rejected;
  int prefilledTokens; // of prefillTokens(), processed so far by chunked prefill
  int contextTokens; // tokens whose KV is held (0 while queued)
  long kvBytes; // KV bytes held (block-rounded)
  SimInstance instance; // where it is running; null while queued or done

  SimRequest(Workload.Arrival arrival, SimModelState model) {
    this.arrival = arrival;
    this.model = model;
    this.deadlineNanos = arrival.arrivalNanos() + model.slo.ttft().toNanos();
  }

  /** Tokens a (re-)prefill must process: the prompt, plus the tokens generated before a preemption. */
  int prefillTokens() {
    return arrival.promptTokens() + generated;
  }

  boolean resumed() {
    return firstTokenNanos >= 0;
  }

  boolean done() {
    return finishNanos >= 0;
  }
}
