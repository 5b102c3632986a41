package io.prism.http;

import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.pekko.NotUsed;
import org.apache.pekko.http.javadsl.model.AttributeKey;
import org.apache.pekko.http.javadsl.model.HttpRequest;
import org.apache.pekko.http.javadsl.model.HttpResponse;
import org.apache.pekko.stream.javadsl.Flow;

/**
 * One client's TCP connection, as the routes see it: a request handled on it can ask to hear when
 * the client goes away ({@link #onClose}), so that work nobody will read is cancelled.
 *
 * <p>How the close is seen: Pekko HTTP keeps reading a connection while a response is pending, so
 * a client that closes its socket (or resets it) ends the connection's request side at once, long
 * before anything is written back. {@link #watching} puts this object on every request of the
 * connection as the attribute {@link #KEY} and runs the registered actions when the request side
 * ends. A client that half-closes its socket after sending a request (HTTP/1.0 style) therefore
 * counts as gone; the common clients (the OpenAI SDKs, curl, browsers, {@code java.net.http}) do
 * not do that. Requests outside a real connection (route tests) carry no attribute.
 *
 * <p>Threading: thread-safe; actions run on the stream thread that saw the close, or on the
 * caller's thread if the connection was already closed, exactly once each.
 */
public final class ClientConnection {
  /** The request attribute under which each request carries its connection. */
  public static final AttributeKey<ClientConnection> KEY = AttributeKey.create("prism-client-connection", ClientConnection.class);

  private final Set<Runnable> actions = ConcurrentHashMap.newKeySet();
  private final AtomicBoolean closed = new AtomicBoolean();

  /** A registration made by {@link #onClose}; closing it forgets the action (the request ended normally). */
  public interface Registration extends AutoCloseable {
    @Override
    void close();
  }

  /**
   * Runs {@code action} once when the client goes away, at once if it already has.
   *
   * @return forgets the action when the request ends first; call it so long-lived connections do
   *     not accumulate actions
   */
  public Registration onClose(Runnable action) {
    actions.add(action);
    if (closed.get() && actions.remove(action)) action.run();
    return () -> actions.remove(action);
  }

  /** Whether the client has gone away. */
  public boolean isClosed() {
    return closed.get();
  }

  /** Marks the connection closed and runs every registered action once. */
  void close() {
    if (!closed.compareAndSet(false, true)) return;
    for (Runnable a : actions) if (actions.remove(a)) a.run();
  }

  /**
   * {@code handler} for one connection: each request gets a fresh {@link ClientConnection} as
   * attribute {@link #KEY}, closed when the connection's request side ends (client closed, reset or
   * the server closed the connection). Materialize the result once per connection.
   */
  public static Flow<HttpRequest, HttpResponse, NotUsed> watching(Flow<HttpRequest, HttpResponse, ?> handler) {
    return Flow.fromMaterializer((mat, attrs) -> {
      ClientConnection connection = new ClientConnection();
      return Flow.<HttpRequest>create()
          .map(r -> r.addAttribute(KEY, connection))
          .watchTermination((nu, done) -> {
            done.whenComplete((d, e) -> connection.close());
            return nu;
          })
          .via(handler);
    }).mapMaterializedValue(f -> NotUsed.getInstance());
  }
}
