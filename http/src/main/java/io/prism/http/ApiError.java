package io.prism.http;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.prism.actors.ErrorKind;
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
 */
public record ApiError(int status, String type, String message, String param, String code, boolean noRetry) {
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
  public static ApiError of(ErrorKind kind, String message, String param, String promptParam) {
    return switch (kind) {
      case MODEL_NOT_FOUND -> new ApiError(404, "invalid_request_error", message, "model", "model_not_found", false);
      case INVALID_REQUEST -> invalid(message, param);
      case CONTEXT_LENGTH_EXCEEDED -> new ApiError(400, "invalid_request_error", message, promptParam, "context_length_exceeded", false);
      case OVERLOADED -> new ApiError(429, "rate_limit_error", message, null, "queue_full", false);
      case UNAVAILABLE -> new ApiError(503, "service_unavailable_error", message, param, "model_unavailable", true);
      case INTERNAL -> internal(message);
      case SLO_UNATTAINABLE -> new ApiError(503, "service_unavailable_error", message, null, "slo_unattainable", true);
    };
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
    List<HttpHeader> headers = noRetry ? List.of(RawHeader.create(SHOULD_RETRY, "false")) : List.of();
    return HttpResponse.create()
        .withStatus(status)
        .addHeaders(headers)
        .withEntity(ContentTypes.APPLICATION_JSON, Json.bytes(toJson()));
  }
}
