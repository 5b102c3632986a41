package io.prism.actors.frontend;

import com.typesafe.config.Config;
import java.time.Duration;

/**
 * The {@link Frontend}'s bounds ({@code prism.frontend.*}): every wait of a request before its model
 * takes it has one.
 *
 * @param placementCacheTtl how long a model's resolved GPU is used without asking the placement
 *     singleton again; after it the entry is still used (and refreshed in the background) while
 *     the singleton does not answer, so a singleton failover does not stop requests for placed models
 * @param resolveTimeout how long a request waits for its model to be placed and loaded
 * @param lookupTimeout how long one placement lookup waits for the singleton's answer before it is
 *     asked again
 * @param lookupGiveUp how long requests for a model the frontend has never resolved wait while the
 *     singleton answers nothing at all (a failover); then they fail with a retryable 503
 * @param loadingPoll how often a lookup for a model that is loading asks again
 * @param deliveryTimeout how long a GPU actor has to take a request sent to it ({@link RequestRelay})
 * @param lostNodeRetryAfter the {@code Retry-After} (seconds) of requests refused because their
 *     model's node is unreachable (it is placed again once the node is removed)
 * @param idleLookupAfter a cached placement this frontend has not used for this long is looked up
 *     before the next request uses it (if the singleton does not answer within {@code
 *     lookup-timeout}, the cached one is used): the first request after a long idle period lets
 *     the placement decide where an evicted model is reactivated
 * @param startGrace how long past its model's TTFT SLO a request taken by a GPU may wait to start
 *     before its {@link RequestRelay} refuses it with a retryable 503 (the GPU's admission only keeps
 *     requests it expects to start within the SLO; one that waits longer is stuck behind a stalled
 *     device or a load that outlasts it)
 * @param tokenTimeout the longest gap between two events of a started request (first token, next
 *     token, end) before its relay ends it as failed; bounds a stream whose device stalls
 * @param unreachableGrace once the node of a request's GPU is unreachable, how long the request
 *     may go without a sign of life (its start, a token) before its relay ends it: a queued one with
 *     a retryable 503, a started one as failed; a crashed node's requests end within the
 *     failure-detection time plus this instead of waiting for the node's removal (death watch)
 * @throws IllegalArgumentException naming the key whose value is not positive
 */
public record FrontendSettings(Duration placementCacheTtl, Duration resolveTimeout, Duration lookupTimeout, Duration lookupGiveUp,
    Duration loadingPoll, Duration deliveryTimeout, long lostNodeRetryAfter, Duration idleLookupAfter, Duration startGrace, Duration tokenTimeout, Duration unreachableGrace) {
  /** Defaults of {@code start-grace} and {@code token-timeout} in {@code reference.conf}. */
  public static final Duration DEFAULT_START_GRACE = Duration.ofSeconds(5), DEFAULT_TOKEN_TIMEOUT = Duration.ofSeconds(60),
      DEFAULT_UNREACHABLE_GRACE = Duration.ofSeconds(3);

  public FrontendSettings {
    positive(startGrace, "start-grace");
    positive(tokenTimeout, "token-timeout");
    positive(unreachableGrace, "unreachable-grace");
    positive(idleLookupAfter, "idle-lookup-after");
    positive(placementCacheTtl, "placement-cache-ttl");
    positive(resolveTimeout, "resolve-timeout");
    positive(lookupTimeout, "lookup-timeout");
    positive(lookupGiveUp, "lookup-give-up");
    positive(loadingPoll, "loading-poll");
    positive(deliveryTimeout, "delivery-timeout");
    if (lostNodeRetryAfter < 1) throw new IllegalArgumentException("prism.frontend.lost-node-retry-after must be >= 1s");
  }

  /** With the default {@code idle-lookup-after} of 30 s. */
  public FrontendSettings(Duration placementCacheTtl, Duration resolveTimeout, Duration lookupTimeout, Duration lookupGiveUp, Duration loadingPoll,
      Duration deliveryTimeout, long lostNodeRetryAfter) {
    this(placementCacheTtl, resolveTimeout, lookupTimeout, lookupGiveUp, loadingPoll, deliveryTimeout, lostNodeRetryAfter, Duration.ofSeconds(30));
  }

  /** With the default {@code start-grace} and {@code token-timeout}. */
  public FrontendSettings(Duration placementCacheTtl, Duration resolveTimeout, Duration lookupTimeout, Duration lookupGiveUp, Duration loadingPoll,
      Duration deliveryTimeout, long lostNodeRetryAfter, Duration idleLookupAfter) {
    this(placementCacheTtl, resolveTimeout, lookupTimeout, lookupGiveUp, loadingPoll, deliveryTimeout, lostNodeRetryAfter, idleLookupAfter,
        DEFAULT_START_GRACE, DEFAULT_TOKEN_TIMEOUT, DEFAULT_UNREACHABLE_GRACE);
  }

  /** The defaults of {@code reference.conf}, with the given cache TTL and resolve timeout (tests). */
  public static FrontendSettings of(Duration placementCacheTtl, Duration resolveTimeout) {
    return new FrontendSettings(placementCacheTtl, resolveTimeout, Duration.ofSeconds(2), Duration.ofSeconds(20), Duration.ofMillis(200),
        Duration.ofSeconds(10), 5);
  }

  /** Reads {@code prism.frontend.*} from the root config. */
  public static FrontendSettings from(Config root) {
    Config c = root.getConfig("prism.frontend");
    return new FrontendSettings(c.getDuration("placement-cache-ttl"), c.getDuration("resolve-timeout"), c.getDuration("lookup-timeout"),
        c.getDuration("lookup-give-up"), c.getDuration("loading-poll"), c.getDuration("delivery-timeout"),
        c.getDuration("lost-node-retry-after").toSeconds(), c.getDuration("idle-lookup-after"), c.getDuration("start-grace"),
        c.getDuration("token-timeout"), c.getDuration("unreachable-grace"));
  }

  private static void positive(Duration d, String key) {
    if (d == null || d.isZero() || d.isNegative()) throw new IllegalArgumentException("prism.frontend." + key + " must be > 0, got " + d);
  }
}
