package io.prism.http;

import com.typesafe.config.Config;
import java.time.Duration;

/**
 * The {@code prism.http.*} settings (documented with defaults in this module's {@code reference.conf}).
 *
 * @param host interface to bind
 * @param port port to bind (0 picks a free one)
 * @param requestTimeout longest time until a response starts (a whole non-streamed generation)
 * @param idleTimeout longest silence on a connection (streams send keep-alives well within it)
 * @param keepAliveInterval a {@code : keep-alive} comment is sent when a stream was silent this long
 * @param eventIdleTimeout a request with no event from its model for this long fails
 * @param maxBodyBytes largest request body; larger ones get 413
 * @param maxConnections connections served at once; one more is answered 503 and closed (only
 *     {@code /health} and {@code /metrics} are served on it)
 * @param backlog TCP accept backlog (connections the kernel holds before the server accepts them)
 * @param opsAnswerWithin {@code /health} and {@code /metrics} answer the last known GPU status when
 *     a fresh one takes longer ({@link StatusCache})
 */
public record HttpSettings(String host, int port, Duration requestTimeout, Duration idleTimeout, Duration keepAliveInterval,
    Duration eventIdleTimeout, long maxBodyBytes, int maxConnections, int backlog, Duration opsAnswerWithin) {

  /** Settings with the default connection limits and ops bound ({@value #DEFAULT_MAX_CONNECTIONS} connections, backlog {@value #DEFAULT_BACKLOG}). */
  public HttpSettings(String host, int port, Duration requestTimeout, Duration idleTimeout, Duration keepAliveInterval, Duration eventIdleTimeout,
      long maxBodyBytes) {
    this(host, port, requestTimeout, idleTimeout, keepAliveInterval, eventIdleTimeout, maxBodyBytes, DEFAULT_MAX_CONNECTIONS, DEFAULT_BACKLOG,
        DEFAULT_OPS_ANSWER_WITHIN);
  }

  /** Default of {@code prism.http.max-connections}. */
  public static final int DEFAULT_MAX_CONNECTIONS = 2048;
  /** Default of {@code prism.http.backlog}. */
  public static final int DEFAULT_BACKLOG = 1024;
  /** Default of {@code prism.http.ops-answer-within}. */
  public static final Duration DEFAULT_OPS_ANSWER_WITHIN = Duration.ofMillis(250);

  /**
   * @throws IllegalArgumentException naming the key whose value is out of range
   */
  public static HttpSettings from(Config root) {
    Config c = root.getConfig("prism.http");
    HttpSettings s = new HttpSettings(c.getString("host"), c.getInt("port"), c.getDuration("request-timeout"), c.getDuration("idle-timeout"),
        c.getDuration("keep-alive-interval"), c.getDuration("event-idle-timeout"), c.getBytes("max-body-size"), c.getInt("max-connections"),
        c.getInt("backlog"), c.getDuration("ops-answer-within"));
    if (s.port < 0 || s.port > 65535) throw new IllegalArgumentException("prism.http.port must be in [0, 65535], got " + s.port);
    if (s.keepAliveInterval.compareTo(s.idleTimeout) >= 0) {
      throw new IllegalArgumentException("prism.http.keep-alive-interval (" + s.keepAliveInterval + ") must be shorter than prism.http.idle-timeout ("
          + s.idleTimeout + ")");
    }
    if (s.maxConnections < 1) throw new IllegalArgumentException("prism.http.max-connections must be >= 1, got " + s.maxConnections);
    if (s.opsAnswerWithin.isNegative() || s.opsAnswerWithin.isZero()) {
      throw new IllegalArgumentException("prism.http.ops-answer-within must be > 0, got " + s.opsAnswerWithin);
    }
    if (s.backlog < 1) throw new IllegalArgumentException("prism.http.backlog must be >= 1, got " + s.backlog);
    if (s.maxBodyBytes <= 0) throw new IllegalArgumentException("prism.http.max-body-size must be > 0, got " + s.maxBodyBytes);
    return s;
  }
}
