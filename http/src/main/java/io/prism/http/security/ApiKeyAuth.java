package io.prism.http.security;

import io.prism.http.ApiError;
import java.util.Locale;
import java.util.Optional;
import java.util.function.Consumer;
import org.apache.pekko.http.javadsl.model.HttpHeader;
import org.apache.pekko.http.javadsl.model.HttpRequest;
import org.apache.pekko.http.javadsl.model.HttpResponse;
import org.apache.pekko.http.javadsl.model.headers.RawHeader;
import org.apache.pekko.http.javadsl.server.Directives;
import org.apache.pekko.http.javadsl.server.Route;

/**
 * API-key authentication of the HTTP API, as OpenAI clients send keys: {@code Authorization:
 * Bearer <key>} (the scheme in any case).
 *
 * <p>Each request's path falls in one {@link Scope} ({@link #scopeOf}): an open path of {@link
 * HttpAuthSettings#openPaths()}; {@code ADMIN} for {@code /admin} and everything under it; {@code
 * INFERENCE} for any other path (default deny: an unknown path is keyed, and answers 404 only to a
 * client with a key). The path is classified after percent-decoding, as the router matches it, so
 * {@code /%61dmin/models} is {@code ADMIN}.
 *
 * <p>Refusals, in the OpenAI error envelope with {@code x-should-retry: false}:
 * <ul>
 *   <li>401 {@code invalid_request_error}, code {@code invalid_api_key}, {@code WWW-Authenticate:
 *       Bearer}: no key, not a Bearer credential, or a key that is not one of the scope's;
 *   <li>403 {@code invalid_request_error}, code {@code admin_api_disabled}: an admin path while
 *       inference keys are set and no admin key is (see {@link HttpAuthSettings}).
 * </ul>
 * Nothing about the presented key is echoed or logged.
 *
 * <p>{@code PrismRoutes} serves the dashboard page ({@code GET /dashboard} and its two static
 * files, no data) before this check; its data, {@code /admin/dashboard}, is {@code ADMIN}.
 *
 * <p>Immutable and thread-safe; the check runs on the thread that routes the request and does no I/O.
 */
public final class ApiKeyAuth {
  /** What a path needs. */
  public enum Scope {
    /** Nothing (an open path). */
    OPEN,
    /** An inference or admin key. */
    INFERENCE,
    /** An admin key. */
    ADMIN
  }

  private static final String ADMIN_PREFIX = "/admin";

  private final HttpAuthSettings settings;

  /** Authentication by {@code settings}. */
  public ApiKeyAuth(HttpAuthSettings settings) {
    this.settings = settings;
  }

  /** The settings this checks against. */
  public HttpAuthSettings settings() {
    return settings;
  }

  /** The scope of {@code decodedPath} (a percent-decoded absolute path, e.g. {@code /v1/models}). */
  public Scope scopeOf(String decodedPath) {
    for (String open : settings.openPaths()) {
      if (open.endsWith("/*")) {
        String base = open.substring(0, open.length() - 2);
        if (decodedPath.equals(base) || decodedPath.startsWith(base + "/")) return Scope.OPEN;
      } else if (decodedPath.equals(open)) {
        return Scope.OPEN;
      }
    }
    // every path whose first segment begins with "admin", so no spelling reaches an admin route with an inference key
    return decodedPath.startsWith(ADMIN_PREFIX) ? Scope.ADMIN : Scope.INFERENCE;
  }

  /**
   * The refusal for a request to {@code decodedPath} carrying {@code authorization} (the {@code
   * Authorization} header's value, if any), or empty if it may pass.
   */
  public Optional<ApiError> check(String decodedPath, Optional<String> authorization) {
    Scope scope = scopeOf(decodedPath);
    if (scope == Scope.OPEN) return Optional.empty();
    if (scope == Scope.ADMIN) {
      if (settings.adminKeys().isEmpty()) {
        if (settings.inferenceKeys().isEmpty()) return Optional.empty();
        return Optional.of(new ApiError(403, "invalid_request_error", "The admin API is disabled: this server has an inference API key but "
            + "no admin key (set prism.http.admin-api-key, --admin-api-key or PRISM_ADMIN_API_KEY)", null, "admin_api_disabled", true));
      }
      return keyed(authorization, settings.adminKeys(), ApiKeys.none(), "the admin API key");
    }
    if (settings.inferenceKeys().isEmpty()) return Optional.empty();
    return keyed(authorization, settings.inferenceKeys(), settings.adminKeys(), "an API key");
  }

  private static Optional<ApiError> keyed(Optional<String> authorization, ApiKeys keys, ApiKeys alsoAccepted, String what) {
    Optional<String> token = authorization.flatMap(ApiKeyAuth::bearerToken);
    if (token.isEmpty()) {
      return Optional.of(unauthorized("You didn't provide " + what + ". Send it in an Authorization header using Bearer auth "
          + "(Authorization: Bearer YOUR_KEY)."));
    }
    boolean ok = keys.matches(token.get()) | alsoAccepted.matches(token.get()); // both, always: no timing hint of which
    if (ok) return Optional.empty();
    return Optional.of(unauthorized("Incorrect API key provided; this endpoint needs " + what + "."));
  }

  private static ApiError unauthorized(String message) {
    return new ApiError(401, "invalid_request_error", message, null, "invalid_api_key", true);
  }

  /** The token of a {@code Bearer} credential, if {@code header} is one with a non-empty token. */
  static Optional<String> bearerToken(String header) {
    String h = header.strip();
    int space = h.indexOf(' ');
    if (space <= 0 || !h.substring(0, space).toLowerCase(Locale.ROOT).equals("bearer")) return Optional.empty();
    String token = h.substring(space + 1).strip();
    return token.isEmpty() ? Optional.empty() : Optional.of(token);
  }

  /** The percent-decoded path of {@code request}, as the router sees it ({@code /} for an empty one). */
  public static String decodedPath(HttpRequest request) {
    StringBuilder b = new StringBuilder();
    for (String segment : request.getUri().pathSegments()) b.append('/').append(segment);
    String raw = request.getUri().path();
    if (raw.endsWith("/") && raw.length() > 1) b.append('/');
    return b.length() == 0 ? "/" : b.toString();
  }

  /**
   * {@code inner} behind the check: a refused request is answered by its error (with {@code
   * WWW-Authenticate: Bearer} on a 401) and reported to {@code onRefusal}.
   */
  public Route guard(Route inner, Consumer<ApiError> onRefusal) {
    return Directives.extractRequest(request -> {
      Optional<ApiError> refusal = check(decodedPath(request), request.getHeader("Authorization").map(HttpHeader::value));
      if (refusal.isEmpty()) return inner;
      ApiError e = refusal.get();
      onRefusal.accept(e);
      HttpResponse response = e.toResponse();
      if (e.status() == 401) response = response.addHeader(RawHeader.create("WWW-Authenticate", "Bearer"));
      return Directives.complete(response);
    });
  }
}
