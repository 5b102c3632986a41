package io.prism.app.bench;

import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;

import java.nio.charset.StandardCharsets;

/**
 * A minimal HTTP/1.1 client for benchmarks: blocking sockets kept alive between requests (as the
 * OpenAI SDKs' connection pools do; one request at a time per connection, a new connection when no
 * idle one is left), a POST with a JSON body, and a server-sent-event reader that costs little CPU per token.
 * It de-chunks the body and looks at each {@code data:} line's bytes only for a few fixed markers
 * ({@code "finish_reason":null}, {@code "usage"}, {@code "error"}, {@code [DONE]}): no JSON tree,
 * no string per token. Timestamps ({@link System#nanoTime()}) are taken once per HTTP chunk read.
 *
 * <p>Threading: each call runs on the caller's thread and blocks until the response ends; calls on
 * different threads are independent (the idle connections are a concurrent queue). Not a general
 * HTTP client: no redirects, no TLS, no pipelining.
 */
public final class SseClient implements AutoCloseable {
  private static final byte[] DATA = "data: ".getBytes(StandardCharsets.US_ASCII);
  private static final byte[] DONE = "[DONE]".getBytes(StandardCharsets.US_ASCII);
  private static final byte[] NOT_FINISHED = "\"finish_reason\":null".getBytes(StandardCharsets.US_ASCII);
  private static final byte[] USAGE = "\"usage\":".getBytes(StandardCharsets.US_ASCII);
  private static final byte[] COMPLETION_TOKENS = "\"completion_tokens\":".getBytes(StandardCharsets.US_ASCII);
  private static final byte[] ERROR = "\"error\":".getBytes(StandardCharsets.US_ASCII);

  /**
   * What one request saw.
   *
   * @param status HTTP status, or -1 if the connection failed before one arrived
   * @param sentNanos when the request was written
   * @param firstTokenNanos arrival of the first content frame, -1 if none
   * @param lastTokenNanos arrival of the frame with the finish reason, -1 if none
   * @param endNanos when the response ended (or failed)
   * @param completionTokens from the usage frame, -1 if none came
   * @param contentFrames {@code data:} frames with generated text
   * @param done whether {@code data: [DONE]} ended the stream
   * @param error the error body or exception text, {@code null} if none
   */
  public record Result(int status, long sentNanos, long firstTokenNanos, long lastTokenNanos, long endNanos, int completionTokens,
      int contentFrames, boolean done, String error) {
    /** Whether the stream ran to its {@code [DONE]} with a 200, token counts and no error frame. */
    public boolean ok() {
      return status == 200 && done && error == null && completionTokens >= 0 && firstTokenNanos >= 0;
    }
  }

  private final InetSocketAddress address;
  private final int timeoutMillis;
  private final java.util.concurrent.ConcurrentLinkedQueue<Connection> idle = new java.util.concurrent.ConcurrentLinkedQueue<>();

  /**
   * @param address the server (loopback in benchmarks)
   * @param timeoutMillis socket read timeout: a read that waits longer fails the request
   */
  public SseClient(InetSocketAddress address, int timeoutMillis) {
    this.address = address;
    this.timeoutMillis = timeoutMillis;
  }

  /** POSTs {@code json} to {@code path} and reads the streamed answer to its end; never throws. */
  public Result post(String path, String json) {
    long sent = -1;
    Reader r = new Reader();
    Connection c = idle.poll();
    try {
      if (c == null) c = new Connection(address, timeoutMillis);
      byte[] body = json.getBytes(StandardCharsets.UTF_8);
      String head = "POST " + path + " HTTP/1.1\r\nHost: " + address.getHostString() + ":" + address.getPort()
          + "\r\nContent-Type: application/json\r\nAccept: text/event-stream\r\nContent-Length: " + body.length + "\r\n\r\n";
      sent = System.nanoTime();
      c.out.write(head.getBytes(StandardCharsets.US_ASCII));
      c.out.write(body);
      c.out.flush();
      r.read(c.in);
      if (r.keepAlive) idle.add(c);
      else c.close();
      c = null;
      return new Result(r.status, sent, r.first, r.last, System.nanoTime(), r.completionTokens, r.frames, r.done, r.error);
    } catch (IOException | RuntimeException e) {
      if (c != null) c.close();
      return new Result(r.status, sent, r.first, r.last, System.nanoTime(), r.completionTokens, r.frames, r.done,
          r.error != null ? r.error : e.toString());
    }
  }

  /** Closes the idle kept-alive connections (requests in progress keep theirs until they end). */
  @Override
  public void close() {
    for (Connection c = idle.poll(); c != null; c = idle.poll()) c.close();
  }

  /** One kept-alive connection: used by one request at a time. */
  private static final class Connection {
    final Socket socket = new Socket();
    final InputStream in;
    final OutputStream out;

    Connection(InetSocketAddress address, int timeoutMillis) throws IOException {
      try {
        socket.setTcpNoDelay(true);
        socket.setSoTimeout(timeoutMillis);
        socket.connect(address, timeoutMillis);
        in = new BufferedInputStream(socket.getInputStream(), 1 << 16);
        out = new BufferedOutputStream(socket.getOutputStream(), 1 << 14);
      } catch (IOException e) {
        close();
        throw e;
      }
    }

    void close() {
      try {
        socket.close();
      } catch (IOException ignored) {
        // closing a broken connection: nothing left to do
      }
    }
  }

  /** The parsing state of one response. */
  private static final class Reader {
    int status = -1;
    long first = -1, last = -1;
    int completionTokens = -1, frames;
    boolean done, keepAlive = true;
    String error;
    private byte[] line = new byte[1024];
    private int lineLength;

    void read(InputStream in) throws IOException {
      status = Integer.parseInt(headerLine(in).split(" ", 3)[1]);
      boolean chunked = false;
      int length = -1;
      for (String h = headerLine(in); !h.isEmpty(); h = headerLine(in)) {
        String lower = h.toLowerCase(java.util.Locale.ROOT);
        if (lower.startsWith("transfer-encoding:") && lower.contains("chunked")) chunked = true;
        if (lower.startsWith("content-length:")) length = Integer.parseInt(lower.substring(15).trim());
        if (lower.startsWith("connection:") && lower.contains("close")) keepAlive = false;
      }
      if (!chunked) { // an error envelope (or a non-streamed body): keep it as the error
        if (length < 0) keepAlive = false;
        byte[] b = length >= 0 ? in.readNBytes(length) : in.readAllBytes();
        error = "HTTP " + status + ": " + new String(b, StandardCharsets.UTF_8);
        return;
      }
      byte[] buf = new byte[8192];
      while (true) {
        int size = Integer.parseInt(headerLine(in).split(";", 2)[0].trim(), 16);
        if (size == 0) { // last chunk, then trailers (none expected) up to an empty line
          while (!headerLine(in).isEmpty()) {
            // skip a trailer field
          }
          return;
        }
        if (buf.length < size) buf = new byte[Math.max(size, buf.length * 2)];
        int n = in.readNBytes(buf, 0, size);
        if (n < size) throw new IOException("connection closed inside a chunk");
        if (!headerLine(in).isEmpty()) throw new IOException("chunk not followed by CRLF");
        long now = System.nanoTime();
        for (int i = 0; i < size; i++) {
          byte b = buf[i];
          if (b == '\n') {
            frame(now);
            lineLength = 0;
          } else {
            if (lineLength == line.length) line = java.util.Arrays.copyOf(line, line.length * 2);
            line[lineLength++] = b;
          }
        }
      }
    }

    /** One complete line of the event stream (comments and blank lines are skipped). */
    private void frame(long now) {
      if (!startsWith(line, lineLength, DATA)) return;
      if (indexOf(line, lineLength, DONE, DATA.length) == DATA.length) {
        done = true;
        return;
      }
      if (indexOf(line, lineLength, ERROR, 0) >= 0) {
        error = new String(line, 0, lineLength, StandardCharsets.UTF_8);
        return;
      }
      int u = indexOf(line, lineLength, COMPLETION_TOKENS, 0);
      if (u >= 0 && indexOf(line, lineLength, USAGE, 0) >= 0) {
        int v = 0;
        for (int i = u + COMPLETION_TOKENS.length; i < lineLength && line[i] >= '0' && line[i] <= '9'; i++) v = v * 10 + (line[i] - '0');
        completionTokens = v;
        if (indexOf(line, lineLength, "\"choices\":[]".getBytes(StandardCharsets.US_ASCII), 0) >= 0) return;
      }
      frames++;
      if (first < 0) first = now;
      if (indexOf(line, lineLength, NOT_FINISHED, 0) < 0) last = now;
    }

    private static String headerLine(InputStream in) throws IOException {
      StringBuilder sb = new StringBuilder(64);
      for (int c = in.read(); c != '\n'; c = in.read()) {
        if (c < 0) throw new IOException("connection closed while reading a line");
        if (c != '\r') sb.append((char) c);
      }
      return sb.toString();
    }
  }

  static boolean startsWith(byte[] a, int length, byte[] prefix) {
    if (length < prefix.length) return false;
    for (int i = 0; i < prefix.length; i++) if (a[i] != prefix[i]) return false;
    return true;
  }

  /** First index of {@code needle} in {@code a[from, length)}, or -1. */
  static int indexOf(byte[] a, int length, byte[] needle, int from) {
    outer:
    for (int i = from; i <= length - needle.length; i++) {
      for (int j = 0; j < needle.length; j++) if (a[i + j] != needle[j]) continue outer;
      return i;
    }
    return -1;
  }
}
