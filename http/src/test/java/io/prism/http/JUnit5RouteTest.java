package io.prism.http;

import com.typesafe.config.ConfigFactory;
import org.apache.pekko.actor.ActorSystem;
import org.apache.pekko.http.javadsl.model.HttpRequest;
import org.apache.pekko.http.javadsl.server.RouteResult;
import org.apache.pekko.http.javadsl.testkit.RouteTest;
import org.apache.pekko.http.javadsl.testkit.TestRouteResult;
import org.apache.pekko.stream.Materializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assertions;
import org.junit.jupiter.api.BeforeAll;
import scala.concurrent.Future;

/**
 * pekko-http-testkit's {@link RouteTest} for JUnit 5 (the testkit ships a JUnit 4 base only): one
 * local actor system per test class, assertion failures reported through JUnit 5.
 */
abstract class JUnit5RouteTest extends RouteTest {
  private static ActorSystem system;
  private static Materializer materializer;

  @BeforeAll
  static void startSystem() {
    system = ActorSystem.create("route-test", ConfigFactory.parseString("pekko.loglevel = WARNING").withFallback(ConfigFactory.load()));
    materializer = Materializer.matFromSystem(system);
  }

  @AfterAll
  static void stopSystem() {
    system.terminate();
    system.getWhenTerminated().toCompletableFuture().join();
  }

  @Override
  public ActorSystem system() {
    return system;
  }

  @Override
  public Materializer materializer() {
    return materializer;
  }

  @Override
  public TestRouteResult createTestRouteResultAsync(HttpRequest request, Future<RouteResult> result) {
    return new TestRouteResult(result, awaitDuration(), system.dispatcher(), materializer) {
      @Override
      public void fail(String message) {
        Assertions.fail(message);
      }

      @Override
      public void assertEquals(Object expected, Object actual, String message) {
        Assertions.assertEquals(expected, actual, message);
      }

      @Override
      public void assertEquals(int expected, int actual, String message) {
        Assertions.assertEquals(expected, actual, message);
      }

      @Override
      public void assertTrue(boolean predicate, String message) {
        Assertions.assertTrue(predicate, message);
      }
    };
  }
}
