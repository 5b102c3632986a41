package io.prism.app.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.PrintWriter;
import java.io.StringWriter;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/** {@code prism serve} refuses, at start-up and before opening anything, to serve other hosts without an API key. */
class ServeSecurityTest {
  private static String[] run(String... args) {
    CommandLine cl = PrismCli.commandLine();
    StringWriter out = new StringWriter(), err = new StringWriter();
    cl.setOut(new PrintWriter(out, true));
    cl.setErr(new PrintWriter(err, true));
    int code = cl.execute(args);
    return new String[] {Integer.toString(code), out.toString(), err.toString()};
  }

  @Test
  void aNonLoopbackHostWithoutAnApiKeyExitsWith1AndSaysHowToFixIt() {
    String[] r = run("serve", "--host", "0.0.0.0", "--port", "0", "--cluster-port", "0", "--gpus", "1");
    assertEquals("1", r[0], r[2]);
    assertTrue(r[2].startsWith("prism: refusing to serve HTTP on 0.0.0.0 without an API key"), r[2]);
    assertTrue(r[2].contains("--api-key") && r[2].contains("--allow-unauthenticated"), r[2]);
  }

  @Test
  void aTooShortApiKeyIsRefusedWithoutPrintingIt() {
    String[] r = run("serve", "--host", "0.0.0.0", "--api-key", "hunter2", "--port", "0", "--cluster-port", "0", "--gpus", "1");
    assertEquals("1", r[0], r[2]);
    assertTrue(r[2].contains("prism.http.api-key: key 1 has 7 characters"), r[2]);
    assertFalse(r[2].contains("hunter2"), r[2]);
  }

  @Test
  void helpListsTheKeyOptions() {
    String[] r = run("serve", "--help");
    assertEquals("0", r[0]);
    for (String o : new String[] {"--api-key", "--admin-api-key", "--allow-unauthenticated"}) assertTrue(r[1].contains(o), r[1]);
  }
}
