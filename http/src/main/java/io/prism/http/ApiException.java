package io.prism.http;

/**
 * Thrown by request parsing and route code to answer with {@link #error()}; the routes' exception
 * handler turns it into the OpenAI error envelope.
 */
public final class ApiException extends RuntimeException {
  private final ApiError error;

  /** @param error what to answer */
  public ApiException(ApiError error) {
    super(error.message());
    this.error = error;
  }

  /** What to answer. */
  public ApiError error() {
    return error;
  }
}
