package io.prism.runtime.engine;

/**
 * The choices of one request ({@code n >= 1}): choice 0 runs from admission; the others are forked
 * from it when its prompt is prefilled ({@link RequestLifecycle#fork}), sharing its full prompt
 * blocks. Counts the choices not yet finished and the tokens all choices generated. Threading: the
 * engine thread.
 */
final class RequestGroup {
  final GenerationRequest request;
  /** Sequences of the choices, by choice index; null until forked, and again once finished. */
  final io.prism.runtime.batching.Sequence[] sequences;
  int choicesLeft;
  int completionTokens;
  boolean forked;

  RequestGroup(GenerationRequest request) {
    this.request = request;
    int n = request.params().n();
    this.sequences = new io.prism.runtime.batching.Sequence[n];
    this.choicesLeft = n;
    this.forked = n == 1;
  }

  /** The engine-internal sequence id of choice {@code choice}: the request id for choice 0. */
  static String sequenceId(String requestId, int choice) {
    return choice == 0 ? requestId : requestId + '\u0000' + choice;
  }
}
