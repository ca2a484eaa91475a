package imagebuild

// The table: every image the project builds. Keep each row in step with
// its Dockerfile (TestDockerfilesAgreeWithTable checks entrypoint, command,
// user, working directory, environment and paths). Tags are the names the
// e2e tier (test/e2e), the demo (hack/demo.sh, test/demo) and the local
// cluster (hack/cluster.sh) use.
//
// New kinds of rows (issue 14: upstream-equivalent SDK images from pip,
// Maven or npm) are a Content whose Produce runs the tool into a folder
// under the cache, keyed by what it installed.

// Debian bookworm packages, pinned to their upstream versions (the glob
// takes Debian's security rebuilds of the same version).
var (
	pythonPackages  = []string{"python3=3.11.2-*", "python3-flask=2.2.2-*", "gunicorn=20.1.0-*", "python3-uvicorn=0.17.6-*", "python3-fastapi=0.92.0-*"}
	busyboxPackages = []string{"busybox-static=1:1.35.0-*"}
)

const pathEnv = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// Images is the table.
var Images = []Spec{
	{
		Name: "pause", Tag: "autotel.local/pause:dev",
		Doc:    "the pod sandbox (images/pause); hack/cluster.sh imports it on `up`",
		Layers: []Layer{{Desc: "images/pause, static", Files: []File{{Dest: "/pause", From: GoBinary("pause", ".", "./images/pause")}}}},
		Config: Config{Entrypoint: []string{"/pause"}},
		Hidden: true,
	},
	{
		Name: "busybox", Tag: "autotel.local/busybox:dev",
		Doc:    "Debian's busybox-static with its applet links: a shell and coreutils for test pods",
		Layers: []Layer{{Desc: "Debian busybox-static", Files: []File{{Dest: "/", From: DebianRootfs("busybox", busyboxPackages, finishBusybox)}}}},
		Config: Config{Env: []string{pathEnv}, Cmd: []string{"/bin/sh"}},
	},
	{
		Name: "python", Tag: "autotel.local/python:dev",
		Doc:    "Debian's python3 with Flask, gunicorn, uvicorn and FastAPI: the samples' base",
		Layers: []Layer{{Desc: "Debian python3 and the samples' servers", Files: []File{{Dest: "/", From: DebianRootfs("python", pythonPackages, finishPython)}}}},
		Config: Config{Env: []string{pathEnv, "PYTHONUNBUFFERED=1"}},
		Hidden: true,
	},
	example("flask", []string{"FLASK_RUN_HOST=0.0.0.0", "FLASK_RUN_PORT=5000"}, "python3", "-m", "flask", "--app", "app", "run"),
	example("gunicorn", []string{"GUNICORN_CMD_ARGS=--bind=0.0.0.0:8000"}, "python3", "-m", "gunicorn", "app:app"),
	example("uvicorn", []string{"UVICORN_HOST=0.0.0.0", "UVICORN_PORT=8000"}, "python3", "-m", "uvicorn", "app:app"),
	{
		// Like upstream's autoinstrumentation-python image: busybox for the
		// init container's `cp -r /autoinstrumentation/. <volume>`, plus the
		// agent. It has no compiled code, so the glibc and musl folders hold
		// the same files; both exist because the operator picks one by the
		// pod's otel-python-platform annotation.
		Name: "python-agent", Tag: "autotel.local/autoinstrumentation-python:dev",
		Doc:  "autotel's Python log agent at /autoinstrumentation and /autoinstrumentation-musl",
		Base: "busybox",
		Layers: []Layer{{Desc: "agent/python/src, twice", Files: []File{
			{Dest: "/autoinstrumentation", From: pythonAgentTree()},
			{Dest: "/autoinstrumentation-musl", From: pythonAgentTree()},
		}}},
		Dockerfile: "agent/python/image/Dockerfile",
	},
	// Upstream-equivalent SDK images (sdk.go): busybox for the init
	// container's `cp`, plus what the operator's image of the same version
	// holds, at the same paths. Tags carry the upstream version so that an
	// Instrumentation's spec.<lang>.image says which release it runs.
	{
		Name: "autoinstrumentation-python", Tag: "autotel.local/otel/autoinstrumentation-python:0.64b0",
		Doc:  "upstream's Python auto-instrumentation 0.64b0 (pip, hash-locked) at /autoinstrumentation and /autoinstrumentation-musl",
		Base: "busybox",
		Layers: []Layer{
			{Desc: "pip install --target, glibc wheels", Files: []File{{Dest: "/autoinstrumentation", From: PythonSDKTree("glibc")}}},
			{Desc: "pip install --target, musl wheels", Files: []File{{Dest: "/autoinstrumentation-musl", From: PythonSDKTree("musl")}}},
		},
		Dockerfile: "images/sdk/python/Dockerfile",
	},
	{
		Name: "autoinstrumentation-java", Tag: "autotel.local/otel/autoinstrumentation-java:2.30.0",
		Doc:        "upstream's OpenTelemetry Java agent 2.30.0 (Maven, sha256-checked) at /javaagent.jar",
		Base:       "busybox",
		Layers:     []Layer{{Desc: "opentelemetry-javaagent from Maven", Files: []File{{Dest: "/javaagent.jar", From: JavaAgentJar()}}}},
		Dockerfile: "images/sdk/java/Dockerfile",
	},
	{
		Name: "autoinstrumentation-nodejs", Tag: "autotel.local/otel/autoinstrumentation-nodejs:0.78.0",
		Doc:        "upstream's Node.js auto-instrumentation 0.78.0 (npm ci, integrity-locked) at /autoinstrumentation",
		Base:       "busybox",
		Layers:     []Layer{{Desc: "npm ci of images/sdk/nodejs, upstream's layout", Files: []File{{Dest: "/autoinstrumentation", From: NodeJSSDKTree()}}}},
		Dockerfile: "images/sdk/nodejs/Dockerfile",
	},
	{
		Name: "operator", Tag: "autotel.local/autotel/operator:dev",
		Doc:        "the operator (cmd/operator), static, user 65532",
		Layers:     []Layer{{Desc: "go build ./cmd/operator", Files: []File{{Dest: "/autotel-operator", From: GoBinary("autotel-operator", ".", "./cmd/operator")}}}},
		Config:     Config{Entrypoint: []string{"/autotel-operator"}, User: "65532:65532"},
		Dockerfile: "build/Dockerfile.operator",
	},
	{
		Name: "collector", Tag: "autotel.local/autotel/collector:dev",
		Doc: "autotel-collector (collector/cmd/autotel-collector), static, user 65532",
		Layers: []Layer{{Desc: "go build ./cmd/autotel-collector and the CA bundle", Files: []File{
			// For exporters that reach HTTPS back ends; the Dockerfile takes
			// it from its build image, here it comes from the build machine.
			{Dest: "/etc/ssl/certs/ca-certificates.crt", From: HostFile("/etc/ssl/certs/ca-certificates.crt"), Optional: true},
			{Dest: "/autotel-collector", From: collectorBinary()},
		}}},
		Config:     Config{Entrypoint: []string{"/autotel-collector"}, Cmd: []string{"--config=/conf/relay.yaml"}, User: "65532:65532"},
		Dockerfile: "build/Dockerfile.collector",
	},
	{
		Name: "cli", Tag: "autotel.local/autotel/cli:dev",
		Doc: "the autotel CLI (cmd/autotel), static, user 65532",
		Layers: []Layer{{Desc: "go build ./cmd/autotel and the CA bundle", Files: []File{
			{Dest: "/etc/ssl/certs/ca-certificates.crt", From: HostFile("/etc/ssl/certs/ca-certificates.crt"), Optional: true},
			{Dest: "/autotel", From: GoBinary("autotel", ".", "./cmd/autotel")},
		}}},
		Config:     Config{Entrypoint: []string{"/autotel"}, User: "65532:65532"},
		Dockerfile: "build/Dockerfile.cli",
	},
	// The Java and Node.js samples (examples/java, examples/nodejs) that
	// the e2e tier runs with the upstream SDK images above: Debian's
	// runtimes, unpacked like the Python base, plus the app.
	{
		Name: "java", Tag: "autotel.local/java:dev",
		Doc:    "Debian's Java 17 runtime (openjdk-17-jre-headless): the Java sample's base",
		Layers: []Layer{{Desc: "Debian openjdk-17-jre-headless", Files: []File{{Dest: "/", From: DebianRootfs("java", javaPackages, finishLibraries)}}}},
		Config: Config{Env: []string{pathEnv}},
		Hidden: true,
	},
	{
		Name: "examples-java", Tag: "autotel.local/examples/java:dev",
		Doc:        "examples/java (JDK HTTP server, java.util.logging) on the Java base",
		Base:       "java",
		Layers:     []Layer{{Desc: "javac --release 17 examples/java/Hello.java", Files: []File{{Dest: "/app", From: JavaClasses("examples/java/Hello.java")}}}},
		Config:     Config{Cmd: []string{javaBin, "-cp", "/app", "Hello"}, WorkingDir: "/app"},
		Dockerfile: "examples/java/Dockerfile",
	},
	{
		Name: "nodejs", Tag: "autotel.local/nodejs:dev",
		Doc:    "Debian's Node.js 18 (nodejs): the Node.js sample's base",
		Layers: []Layer{{Desc: "Debian nodejs", Files: []File{{Dest: "/", From: DebianRootfs("nodejs", nodejsPackages, finishLibraries)}}}},
		Config: Config{Env: []string{pathEnv}},
		Hidden: true,
	},
	{
		Name: "examples-nodejs", Tag: "autotel.local/examples/nodejs:dev",
		Doc:        "examples/nodejs (http module, console logging) on the Node.js base",
		Base:       "nodejs",
		Layers:     []Layer{{Desc: "examples/nodejs/server.js", Files: []File{{Dest: "/app/server.js", From: RepoFile("examples/nodejs/server.js")}}}},
		Config:     Config{Cmd: []string{"/usr/bin/node", "/app/server.js"}, WorkingDir: "/app"},
		Dockerfile: "examples/nodejs/Dockerfile",
	},
	{
		// The rollback e2e test's broken agent (issue 16): the Python agent
		// image whose sitecustomize makes Python exit 3 at start.
		Name: "python-agent-exits", Tag: "autotel.local/autoinstrumentation-python:exits",
		Doc:  "the Python agent image with a sitecustomize that exits 3 (e2e: rollback)",
		Base: "python-agent",
		Layers: []Layer{{Desc: "test/e2e/testdata/rollback/sitecustomize.py, twice", Files: []File{
			{Dest: "/autoinstrumentation/opentelemetry/instrumentation/auto_instrumentation/sitecustomize.py", From: RepoFile("test/e2e/testdata/rollback/sitecustomize.py")},
			{Dest: "/autoinstrumentation-musl/opentelemetry/instrumentation/auto_instrumentation/sitecustomize.py", From: RepoFile("test/e2e/testdata/rollback/sitecustomize.py")},
		}}},
		Hidden: true,
	},
}

// example is a sample app of examples/<app>: the Python base plus app.py
// in /app, with the ENV and CMD of examples/<app>/Dockerfile.
func example(app string, env []string, cmd ...string) Spec {
	return Spec{
		Name: "examples-" + app, Tag: "autotel.local/examples/" + app + ":dev",
		Doc:        "examples/" + app + " on the Python base",
		Base:       "python",
		Layers:     []Layer{{Desc: "examples/" + app + "/app.py", Files: []File{{Dest: "/app/app.py", From: RepoFile("examples/" + app + "/app.py")}}}},
		Config:     Config{Env: env, Cmd: cmd, WorkingDir: "/app"},
		Dockerfile: "examples/" + app + "/Dockerfile",
	}
}
