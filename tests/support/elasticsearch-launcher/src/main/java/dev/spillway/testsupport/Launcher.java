package dev.spillway.testsupport;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.HttpURLConnection;
import java.net.URL;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.Collection;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import org.elasticsearch.common.settings.Settings;
import org.elasticsearch.env.Environment;
import org.elasticsearch.node.InternalSettingsPreparer;
import org.elasticsearch.node.Node;
import org.elasticsearch.plugins.Plugin;
import org.elasticsearch.transport.Netty4Plugin;

/**
 * Starts a real single-node Elasticsearch 7.17 (engine jars from Maven Central) on 127.0.0.1 for Spillway's tests.
 *
 * <p>Usage: {@code Launcher HTTP_PORT WORKDIR [--no-stdin]} (or env OS_HTTP_PORT / OS_WORKDIR).
 * Prints {@code ELASTICSEARCH READY http://127.0.0.1:PORT} on stdout once HTTP answers and the cluster
 * has an elected master, then runs until SIGTERM/SIGINT or (unless --no-stdin) until stdin closes.
 */
public final class Launcher {

    /** {@link Node}'s public constructor takes no classpath plugins; this subclass passes the Netty4 transport. */
    static final class ClasspathPluginNode extends Node {
        ClasspathPluginNode(Environment env, Collection<Class<? extends Plugin>> plugins) {
            super(env, plugins, true);
        }
    }

    public static void main(String[] args) throws Exception {
        boolean watchStdin = true;
        String portArg = System.getenv("OS_HTTP_PORT");
        String dirArg = System.getenv("OS_WORKDIR");
        int positional = 0;
        for (String a : args) {
            if (a.equals("--no-stdin")) {
                watchStdin = false;
            } else if (positional == 0) {
                portArg = a;
                positional++;
            } else if (positional == 1) {
                dirArg = a;
                positional++;
            } else {
                usage("unexpected argument: " + a);
            }
        }
        if (portArg == null || dirArg == null) {
            usage("need HTTP_PORT and WORKDIR");
        }
        int port = Integer.parseInt(portArg);
        Path work = Paths.get(dirArg).toAbsolutePath();
        Path home = work.resolve("home");
        // Layout a distribution would have; all empty here (Netty comes from the classpath, not plugins/ or modules/).
        for (String d : List.of("config", "plugins", "modules")) {
            Files.createDirectories(home.resolve(d));
        }
        Files.createDirectories(work.resolve("data"));
        Files.createDirectories(work.resolve("logs"));

        Settings settings = Settings.builder()
            .put("path.home", home.toString())
            .put("path.data", work.resolve("data").toString())
            .put("path.logs", work.resolve("logs").toString())
            .put("cluster.name", "spillway-test")
            .put("node.name", "n1")
            .put("discovery.type", "single-node")
            .put("network.host", "127.0.0.1")
            .put("http.port", Integer.toString(port))
            .put("transport.port", "0") // ephemeral; single-node discovery never dials it
            .put("cluster.routing.allocation.disk.threshold_enabled", false)
            .put("action.auto_create_index", true)
            .build();

        Environment env = InternalSettingsPreparer.prepareEnvironment(settings, Collections.emptyMap(), null, () -> "n1");
        Node node = new ClasspathPluginNode(env, List.of(Netty4Plugin.class));

        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                node.close();
                if (!node.awaitClose(20, TimeUnit.SECONDS)) {
                    System.err.println("elasticsearch-launcher: node did not close within 20 s");
                } else {
                    System.err.println("elasticsearch-launcher: node closed");
                }
            } catch (Exception e) {
                System.err.println("elasticsearch-launcher: error while closing node: " + e);
            } finally {
                stopped.countDown();
            }
        }, "elasticsearch-launcher-shutdown"));

        try {
            node.start();
            waitForHttp(port, 120_000);
            // One node can host no replicas: a template gives new indices 0 so health reaches green.
            putJson(port, "/_template/spillway-zero-replicas",
                "{\"index_patterns\":[\"*\"],\"order\":0,\"settings\":{\"number_of_replicas\":0}}");
        } catch (Throwable t) {
            System.err.println("elasticsearch-launcher: node failed to start");
            t.printStackTrace();
            System.exit(1);
        }

        System.out.println("ELASTICSEARCH READY http://127.0.0.1:" + port);
        System.out.flush();

        if (watchStdin) {
            Thread w = new Thread(() -> {
                try {
                    InputStream in = System.in;
                    byte[] buf = new byte[256];
                    while (in.read(buf) >= 0) {
                        // discard; we only care about EOF
                    }
                } catch (IOException ignored) {
                    // treat as closed
                }
                System.err.println("elasticsearch-launcher: stdin closed, stopping");
                System.exit(0);
            }, "elasticsearch-launcher-stdin");
            w.setDaemon(true);
            w.start();
        }
        stopped.await();
    }

    /** Polls cluster health until it answers 200 (HTTP bound and a master elected). */
    private static void waitForHttp(int port, long timeoutMs) throws Exception {
        long deadline = System.currentTimeMillis() + timeoutMs;
        URL url = new URL("http://127.0.0.1:" + port + "/_cluster/health?wait_for_status=yellow&timeout=1s");
        String last = "no answer";
        while (System.currentTimeMillis() < deadline) {
            try {
                HttpURLConnection c = (HttpURLConnection) url.openConnection();
                c.setConnectTimeout(1000);
                c.setReadTimeout(5000);
                int code = c.getResponseCode();
                c.disconnect();
                if (code == 200) {
                    return;
                }
                last = "HTTP " + code;
            } catch (IOException e) {
                last = e.toString();
            }
            Thread.sleep(200);
        }
        throw new IllegalStateException("HTTP on port " + port + " not healthy after " + timeoutMs + " ms: " + last);
    }

    private static void putJson(int port, String path, String body) throws IOException {
        HttpURLConnection c = (HttpURLConnection) new URL("http://127.0.0.1:" + port + path).openConnection();
        c.setRequestMethod("PUT");
        c.setDoOutput(true);
        c.setConnectTimeout(5000);
        c.setReadTimeout(30000);
        c.setRequestProperty("Content-Type", "application/json");
        try (OutputStream out = c.getOutputStream()) {
            out.write(body.getBytes(StandardCharsets.UTF_8));
        }
        int code = c.getResponseCode();
        c.disconnect();
        if (code != 200) {
            throw new IOException("PUT " + path + " answered HTTP " + code);
        }
    }

    private static void usage(String why) {
        System.err.println("elasticsearch-launcher: " + why);
        System.err.println("usage: Launcher HTTP_PORT WORKDIR [--no-stdin]   (or env OS_HTTP_PORT, OS_WORKDIR)");
        System.exit(2);
    }
}
