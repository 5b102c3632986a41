package io.prism.app.bench.cluster;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * The HTTP calls the launcher, the load and the scenarios make to a node on 127.0.0.1: {@code GET
 * /health}, {@code GET /admin/models} (which GPU, hence which node, holds each model), {@code POST
 * /admin/models} (register a {@code random:} model), {@code GET /v1/models} and the completions of
 * {@link SteadyLoad}. Every call has a bound: a call not answered within its timeout is abandoned
 * (its future cancelled, which aborts the exchange) and reported as such, never waited on longer.
 *
 * <p>Threading: thread-safe (one {@link HttpClient}, HTTP/1.1, its own selector thread).
 */
public final class ClusterHttp {
  static final ObjectMapper JSON = new ObjectMapper();

  /** A response: status and body text. */
  public record Reply(int status, String body) {}

  /** Where the catalog says a model is: its state and the node ({@code 127.0.0.1:PORT}) of its GPU, null if none. */
  public record ModelRow(String id, String state, String hostPort) {}

  private final HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
      .connectTimeout(Duration.ofSeconds(5)).build();

  /**
   * Sends a request and waits at most {@code timeout} for the whole response.
   *
   * @param jsonBody POST body, or null for a GET
   * @throws IOException if the connection fails or no complete response came within {@code timeout}
   *     ({@link TimeoutException} as the cause)
   */
  public Reply call(LocalNode node, String path, String jsonBody, Duration timeout) throws IOException {
    CompletableFuture<HttpResponse<String>> f = send(node, path, jsonBody);
    try {
      HttpResponse<String> r = f.get(timeout.toMillis(), TimeUnit.MILLISECONDS);
      return new Reply(r.statusCode(), r.body());
    } catch (TimeoutException e) {
      f.cancel(true);
      throw new IOException(node.name() + " " + path + ": no answer within " + timeout.toMillis() + " ms", e);
    } catch (ExecutionException e) {
      throw new IOException(node.name() + " " + path + ": " + e.getCause(), e.getCause());
    } catch (InterruptedException e) {
      f.cancel(true);
      Thread.currentThread().interrupt();
      throw new IOException("interrupted", e);
    }
  }

  /** Starts a request (no bound: the caller bounds the wait and cancels the future). */
  CompletableFuture<HttpResponse<String>> send(LocalNode node, String path, String jsonBody) {
    HttpRequest.Builder b = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + node.httpPort() + path));
    if (jsonBody == null) b.GET();
    else b.header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(jsonBody));
    return client.sendAsync(b.build(), HttpResponse.BodyHandlers.ofString());
  }

  /** Status of {@code GET /health}, or -1 if the node did not answer within {@code timeout}. */
  public int health(LocalNode node, Duration timeout) {
    try {
      return call(node, "/health", null, timeout).status();
    } catch (IOException e) {
      return -1;
    }
  }

  /**
   * The catalog as {@code GET /admin/models} of {@code node} lists it.
   *
   * @throws IOException if it does not answer 200 within {@code timeout}
   */
  public List<ModelRow> models(LocalNode node, Duration timeout) throws IOException {
    Reply r = call(node, "/admin/models", null, timeout);
    if (r.status() != 200) throw new IOException(node.name() + " GET /admin/models: HTTP " + r.status() + " " + r.body());
    List<ModelRow> out = new ArrayList<>();
    for (JsonNode m : JSON.readTree(r.body()).path("data")) {
      String gpu = m.path("gpu").isTextual() ? m.path("gpu").asText() : null;
      out.add(new ModelRow(m.path("id").asText(), m.path("state").asText(), gpu == null ? null : gpu.substring(gpu.indexOf('@') + 1)));
    }
    return out;
  }

  /**
   * The model ids {@code GET /v1/models} of {@code node} lists.
   *
   * @throws IOException if it does not answer 200 within {@code timeout}
   */
  public Set<String> servedModels(LocalNode node, Duration timeout) throws IOException {
    Reply r = call(node, "/v1/models", null, timeout);
    if (r.status() != 200) throw new IOException(node.name() + " GET /v1/models: HTTP " + r.status() + " " + r.body());
    Set<String> ids = new LinkedHashSet<>();
    for (JsonNode m : JSON.readTree(r.body()).path("data")) ids.add(m.path("id").asText());
    return ids;
  }

  /**
   * Registers model {@code id} from {@code source} ({@code random:NAME} or a path the node can read)
   * with the given SLOs through {@code POST /admin/models}, which answers once the model serves.
   *
   * @throws IOException if the answer is not 201 within {@code timeout} (the message has the body)
   */
  public void register(LocalNode node, String id, String source, Duration ttftSlo, Duration tpotSlo, Duration timeout) throws IOException {
    ObjectNode body = JSON.createObjectNode().put("path", source).put("id", id)
        .put("ttft_slo", ttftSlo.toMillis() + "ms").put("tpot_slo", tpotSlo.toMillis() + "ms");
    Reply r = call(node, "/admin/models", JSON.writeValueAsString(body), timeout);
    if (r.status() != 201) throw new IOException("registering " + id + " on " + node.name() + ": HTTP " + r.status() + " " + r.body());
  }
}
