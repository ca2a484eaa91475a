// The Java sample: a plain JDK HTTP server (com.sun.net.httpserver) that
// logs with java.util.logging. It knows nothing about OpenTelemetry: what
// telemetry arrives comes from the Java agent the operator injects
// (JAVA_TOOL_OPTIONS=-javaagent:...), which bridges java.util.logging
// records to OTLP logs inside the request's trace.
//
// HOST and PORT choose the listening address (0.0.0.0:8080 by default).
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.logging.Level;
import java.util.logging.Logger;

public class Hello {
    private static final Logger LOG = Logger.getLogger("hello");

    public static void main(String[] args) throws Exception {
        String host = System.getenv().getOrDefault("HOST", "0.0.0.0");
        int port = Integer.parseInt(System.getenv().getOrDefault("PORT", "8080"));
        HttpServer server = HttpServer.create(new InetSocketAddress(host, port), 0);
        server.createContext("/hello", exchange -> {
            LOG.info("hello called");
            System.out.println("print: hello called");
            reply(exchange, 200, "world!");
        });
        server.createContext("/error", exchange -> {
            LOG.severe("error called; raising");
            System.out.println("print: error called");
            try {
                throw new IllegalStateException("sample error");
            } catch (IllegalStateException e) {
                LOG.log(Level.SEVERE, "Exception on /error [GET]", e);
                reply(exchange, 500, "sample error");
            }
        });
        server.start();
        // Kubernetes stops a container with SIGTERM; the JVM runs its
        // shutdown hooks (the agent's flush among them) before it ends.
        Runtime.getRuntime().addShutdownHook(new Thread(() -> server.stop(0)));
        System.out.println("READY " + host + ":" + port);
    }

    private static void reply(HttpExchange exchange, int code, String text) throws IOException {
        byte[] body = text.getBytes(StandardCharsets.UTF_8);
        exchange.sendResponseHeaders(code, body.length);
        try (OutputStream out = exchange.getResponseBody()) {
            out.write(body);
        }
    }
}
