package io.prism.http;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.prism.runtime.engine.Rejection;
import java.util.List;
import org.apache.pekko.http.javadsl.model.ContentTypes;
import org.apache.pekko.http.javadsl.model.HttpHeader;
import org.apache.pekko.http.javadsl.model.HttpResponse;
import org.apache.pekko.http.javadsl.model.headers.RawHeader;

/**
 * An error in the OpenAI shape: {@code {"error":{"message","type","param","code"}}} with its HTTP
 * status. When retrying the same request cannot help, the reply carries {@code x-should-retry:
 * false}, which the official OpenAI SDKs honour (they retry 408, 409, 429 and 5xx otherwise).
 *
 * @param status HTTP status code
 * @param type OpenAI error type, e.g. {@code invalid_request_error}
 * @param message human-readable, says what to change
 * @param param the offending request field, or {@code null}
 * @param code machine-readable code, or {@code null}
 * @param noRetry whether to add {@code x-should-retry: false}
 * @param retryAfterSeconds the {@code Retry-After} header's value in seconds, or -1 for none
 */
public record ApiError(int status, String type, String message, String param, String code, boolean noRetry, long retryAfterSeconds) {
  /** An error without {@code Retry-After}. */
  public ApiError(int status, String type, String message, String param, String code, boolean noRetry) {
    this(status, type, message, param, code, noRetry, -1);
  }

  /** Header the OpenAI SDKs read to decide on retries. */
  public static final String SHOULD_RETRY = "x-should-retry";

  /** 400: a field is missing, has the wrong type or is out of range. */
  public static ApiError invalid(String message, String param) {
    return new ApiError(400, "invalid_request_error", message, param, null, false);
  }

  /** 404: no such route or resource. */
  public static ApiError notFound(String message) {
    return new ApiError(404, "invalid_request_error", message, null, "not_found", false);
  }

  /** 500: a failure inside Prism. */
  public static ApiError internal(String message) {
    return new ApiError(500, "server_error", message, null, "internal_error", false);
  }

  /** 503 that retrying will not fix (no GPU can hold the model, the cluster has no GPU...). */
  public static ApiError unavailable(String message) {
    return new ApiError(503, "service_unavailable_error", message, null, "service_unavailable", true);
  }

  /**
   * The HTTP form of a refusal from the actors.
   *
   * @param promptParam the request's prompt field ({@code prompt} or {@code messages}), named by
   *     context-length errors
   */
  public static ApiError of(Rejection.Kind kind, String message, String param, String promptParam) {
    return switch (kind) {
      case MODEL_NOT_FOUND -> new ApiError(404, "invalid_request_error", message, "model", "model_not_found", false);
      case INVALID_REQUEST -> invalid(message, param);
      case CONTEXT_LENGTH_EXCEEDED -> new ApiError(400, "invalid_request_error", message, promptParam, "context_length_exceeded", false);
      case OVERLOADED -> new ApiError(429, "rate_limit_error", message, null, "queue_full", false, 1);
      case UNAVAILABLE -> new ApiError(503, "service_unavailable_error", message, param, "model_unavailable", true);
      case INTERNAL -> internal(message);
      case SLO_UNATTAINABLE -> new ApiError(503, "service_unavailable_error", message, null, "slo_unattainable", true);
    };
  }

  /**
   * The HTTP form of a typed refusal: status from its kind, {@code param} from it (the prompt field
   * for context-length errors), {@code Retry-After} from {@link Rejection#retryAfterSeconds()}
   * when a retry can succeed, {@code x-should-retry: false} when it cannot.
   *
   * @param promptParam the request's prompt field ({@code prompt} or {@code messages})
   */
  public static ApiError of(Rejection r, String promptParam) {
    ApiError e = of(r.kind(), r.message(), r.param(), promptParam);
    long after = r.retryAfterSeconds();
    if (after >= 0) return new ApiError(e.status, e.type, e.message, e.param, e.code, false, Math.max(1, after));
    return new ApiError(e.status, e.type, e.message, e.param, e.code, e.noRetry || r.kind() != Rejection.Kind.OVERLOADED, -1);
  }

  /** The envelope as a JSON object. */
  public ObjectNode toJson() {
    ObjectNode root = Json.MAPPER.createObjectNode();
    ObjectNode e = root.putObject("error");
    e.put("message", message);
    e.put("type", type);
    if (param == null) e.putNull("param");
    else e.put("param", param);
    if (code == null) e.putNull("code");
    else e.put("code", code);
    return root;
  }

  /** The full HTTP response. */
  public HttpResponse toResponse() {
    List<HttpHeader> headers = new java.util.ArrayList<>(2);
    if (noRetry) headers.add(RawHeader.create(SHOULD_RETRY, "false"));
    else if (retryAfterSeconds >= 0) headers.add(RawHeader.create(SHOULD_RETRY, "true"));
    if (retryAfterSeconds >= 0) headers.add(RawHeader.create("Retry-After", Long.toString(retryAfterSeconds)));
    return HttpResponse.create()
        .withStatus(status)
        .addHeaders(headers)
        .withEntity(ContentTypes.APPLICATION_JSON, Json.bytes(toJson()));
  }
}
