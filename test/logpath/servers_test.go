package logpath

import (
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// The seed's three ways of serving a Python app, all from Debian packages.
type serverKind string

const (
	flaskDev serverKind = "flask-dev" // python app.py: Flask's development server
	gunicorn serverKind = "gunicorn"  // python3 -m gunicorn -w 4 app:app
	uvicorn  serverKind = "uvicorn"   // uvicorn app:app --workers 2 (FastAPI)
)

// workers is how many processes import and serve the app.
func (k serverKind) workers() int {
	switch k {
	case gunicorn:
		return 4
	case uvicorn:
		return 2
	}
	return 1
}

// appEnv is the app container's own env in its manifest: what many
// Python images set (unbuffered output, no bytecode written next to the
// test apps) and the apps' own settings.
func appEnv(kind serverKind, port int, extra ...corev1.EnvVar) []corev1.EnvVar {
	env := []corev1.EnvVar{{Name: "PYTHONUNBUFFERED", Value: "1"}, {Name: "PYTHONDONTWRITEBYTECODE", Value: "1"}}
	switch kind {
	case flaskDev:
		env = append(env, corev1.EnvVar{Name: "PORT", Value: strconv.Itoa(port)}, corev1.EnvVar{Name: "APP_LOGGING", Value: "basic"})
	case gunicorn:
		env = append(env, corev1.EnvVar{Name: "APP_LOGGING", Value: "flask"})
	}
	return append(env, extra...)
}

// server is an app container serving on port.
type server struct {
	*container
	kind serverKind
	port int
}

// startServer starts the pod's container as the seed ran each server and
// waits until every worker is up.
func startServer(t testing.TB, pod *corev1.Pod, containerName string, kind serverKind, port int, logRoot, appsDir string) *server {
	t.Helper()
	var argv []string
	switch kind {
	case flaskDev:
		argv = []string{python, "flask_app.py"}
	case gunicorn:
		argv = []string{python, "-m", "gunicorn", "-w", "4", "-b", fmt.Sprintf("127.0.0.1:%d", port), "flask_app:app"}
	case uvicorn:
		argv = []string{python, "-m", "uvicorn", "fastapi_app:app", "--host", "127.0.0.1", "--port", strconv.Itoa(port), "--workers", "2"}
	}
	s := &server{container: startContainer(t, pod, containerName, logRoot, appsDir, argv...), kind: kind, port: port}
	return s
}

// waitReady waits until every worker serves.
func (s *server) waitReady() {
	s.t.Helper()
	switch s.kind {
	case gunicorn:
		s.waitConsole(regexp.MustCompile(`Booting worker with pid`), 4, 60*time.Second)
	case uvicorn:
		s.waitConsole(regexp.MustCompile(`Application startup complete`), 2, 60*time.Second)
	}
	s.waitListening(s.port, 60*time.Second)
}

// stopAsKubelet sends SIGTERM, as the kubelet does when a pod is deleted.
func (s *server) stopAsKubelet() { s.stop(syscall.SIGTERM, 40*time.Second) }

// get returns the status and body of a request; header may be nil.
func get(t testing.TB, port int, path string, header http.Header) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d%s", port, path), nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Errorf("GET %s: %v", path, err)
		return 0, ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

var servedByRe = regexp.MustCompile(`pid=(\d+)`)

// servedBy is the worker pid in a /hello answer ("world! pid=N").
func servedBy(t testing.TB, body string) int {
	t.Helper()
	m := servedByRe.FindStringSubmatch(body)
	if m == nil {
		t.Errorf("no pid in response %q", body)
		return 0
	}
	n, _ := strconv.Atoi(m[1])
	return n
}
