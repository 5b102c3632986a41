package io.prism.http;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

/** The one Jackson mapper of the HTTP layer (thread-safe once configured). */
public final class Json {
  /** Lenient about unknown fields (OpenAI clients send many); strict about duplicate keys. */
  public static final ObjectMapper MAPPER = new ObjectMapper()
      .configure(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES, false)
      .configure(com.fasterxml.jackson.core.JsonParser.Feature.STRICT_DUPLICATE_DETECTION, true);

  private Json() {}

  /** Compact UTF-8 bytes of {@code node}. */
  public static byte[] bytes(JsonNode node) {
    try {
      return MAPPER.writeValueAsBytes(node);
    } catch (JsonProcessingException e) {
      throw new IllegalStateException("cannot write JSON", e);
    }
  }

  /** Compact text of {@code node}. */
  public static String text(JsonNode node) {
    try {
      return MAPPER.writeValueAsString(node);
    } catch (JsonProcessingException e) {
      throw new IllegalStateException("cannot write JSON", e);
    }
  }

  /**
   * Parses a request body.
   *
   * @throws ApiException 400 naming the position of the syntax error
   */
  public static JsonNode parse(String body) {
    if (body == null || body.isBlank()) throw new ApiException(ApiError.invalid("request body must be a JSON object", null));
    try {
      JsonNode n = MAPPER.readTree(body);
      if (n == null || !n.isObject()) throw new ApiException(ApiError.invalid("request body must be a JSON object", null));
      return n;
    } catch (JsonProcessingException e) {
      throw new ApiException(ApiError.invalid("malformed JSON in request body: " + e.getOriginalMessage()
          + (e.getLocation() == null ? "" : " (line " + e.getLocation().getLineNr() + ", column " + e.getLocation().getColumnNr() + ")"), null));
    }
  }
}
