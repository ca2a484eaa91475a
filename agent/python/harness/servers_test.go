package harness

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/autotel/autotel/agent/python/harness/receiver"
	"github.com/autotel/autotel/testkit/ports"
)

// TestFlaskDevServer: the seed's first app, `python app.py` on Flask's
// development server, stopped by SIGTERM as the kubelet does.
func TestFlaskDevServer(t *testing.T) {
	rcv := startReceiver(t)
	port := ports.Free(t)
	p := newPod(t, podSpec{
		manifest:     seedInstrumentation(rcv.URL(), env("AUTOTEL_PYTHON_CAPTURE_STDOUT", "true")...),
		containerEnv: env("PORT", strconv.Itoa(port), "APP_LOGGING", "basic"),
	})
	app := startProc(t, p, appsDir, python, "flask_app.py")
	waitListening(t, app, port, 30*time.Second)

	for i := 0; i < 5; i++ {
		if code, _ := get(t, port, fmt.Sprintf("/hello?id=h%d", i)); code != 200 {
			t.Fatalf("/hello: %d", code)
		}
	}
	for i := 0; i < 2; i++ {
		if code, _ := get(t, port, fmt.Sprintf("/error?id=e%d", i)); code != 500 {
			t.Fatalf("/error: %d", code)
		}
	}
	app.stop(syscall.SIGTERM, 30*time.Second)
	if ws, ok := app.cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGTERM {
		t.Errorf("the app should still die by SIGTERM after the agent's flush, got %v", app.cmd.ProcessState)
	}

	recs := rcv.Records()
	checkDecoded(t, rcv)
	checkResource(t, p, recs)
	checkNoTraceContext(t, recs)
	checkNoDuplicates(t, recs)
	pid := app.pid()
	for _, r := range recs {
		if int(r.ResourceInt("process.pid")) != pid {
			t.Fatalf("record %q from pid %d, the app is %d", r.BodyString(), r.ResourceInt("process.pid"), pid)
		}
	}

	hello := filter(recs, scopeBody("flask_app", "hello request "))
	wantCount(t, "app.logger.info in /hello", hello, 5)
	for _, r := range hello {
		if r.SeverityNumber != 9 || r.SeverityText != "INFO" {
			t.Errorf("hello severity %d %q", r.SeverityNumber, r.SeverityText)
		}
		if r.Attributes["worker_pid"] != int64(pid) || r.Str("code.function.name") != "hello" ||
			!strings.HasSuffix(r.Str("code.file.path"), "flask_app.py") || r.Attributes["code.line.number"] == nil {
			t.Errorf("hello attributes %v", r.Attributes)
		}
	}
	wantCount(t, "log.error in /error", filter(recs, scopeBody("demo.app", "about to fail e")), 2)
	exc := filter(recs, scopeBody("flask_app", "Exception on /error [GET]"))
	wantCount(t, "Flask's exception log", exc, 2)
	for _, r := range exc {
		if r.SeverityNumber != 17 || r.Str("exception.type") != "ValueError" ||
			!strings.HasPrefix(r.Str("exception.message"), "boom e") ||
			!strings.Contains(r.Str("exception.stacktrace"), `raise ValueError("boom " + rid)`) {
			t.Errorf("exception record: sev %d attrs %v", r.SeverityNumber, r.Attributes)
		}
	}
	wantCount(t, "werkzeug access lines for /hello", filter(recs, func(r receiver.Record) bool {
		return r.Scope == "werkzeug" && strings.Contains(r.BodyString(), "GET /hello?id=h")
	}), 5)
	wantCount(t, "werkzeug access lines for /error", filter(recs, func(r receiver.Record) bool {
		return r.Scope == "werkzeug" && strings.Contains(r.BodyString(), "GET /error?id=e")
	}), 2)
	wantCount(t, "app loaded", filter(recs, scopeBody("demo.app", fmt.Sprintf("app loaded pid=%d", pid))), 1)
	prints := filter(recs, scopeBody("sys.stdout", "print from hello h"))
	wantCount(t, "print() in /hello", prints, 5)
	for _, r := range prints {
		if r.Str("log.iostream") != "stdout" || r.SeverityNumber != 0 {
			t.Errorf("print record %v sev %d", r.Attributes, r.SeverityNumber)
		}
	}

	// The app's console is what it was without the agent.
	stderr, stdout := app.stderr.String(), app.stdout.String()
	for i := 0; i < 5; i++ {
		if !strings.Contains(stderr, fmt.Sprintf("INFO flask_app: hello request h%d\n", i)) {
			t.Errorf("console lost the app's log line for h%d", i)
		}
		if !strings.Contains(stdout, fmt.Sprintf("print from hello h%d\n", i)) {
			t.Errorf("stdout lost the print for h%d", i)
		}
	}
	if n := countLines(stderr, regexp.MustCompile(`INFO werkzeug: 127\.0\.0\.1 .*GET /(hello|error)\?id=`)); n != 7 {
		t.Errorf("werkzeug access lines on the console: %d, want 7", n)
	}
	if n := countLines(stderr, regexp.MustCompile(`ERROR flask_app: Exception on /error \[GET\]\nTraceback`)); n != 2 {
		t.Errorf("Flask's exception lines on the console: %d, want 2", n)
	}
}

// gunicornHello is shared by the gunicorn tests: 4 sync workers, the
// seed's `python3 -m gunicorn app:app`, Flask logging through app.logger
// (Flask's own console handler).
func testGunicorn(t *testing.T, preload bool) {
	rcv := startReceiver(t)
	port := ports.Free(t)
	p := newPod(t, podSpec{
		manifest:     seedInstrumentation(rcv.URL(), env("AUTOTEL_PYTHON_CAPTURE_STDOUT", "true")...),
		containerEnv: env("APP_LOGGING", "flask"),
	})
	args := []string{python, "-m", "gunicorn", "-w", "4", "-b", fmt.Sprintf("127.0.0.1:%d", port)}
	if preload {
		args = append(args, "--preload")
	}
	app := startProc(t, p, appsDir, append(args, "flask_app:app")...)
	app.waitOutput(regexp.MustCompile(`Booting worker with pid`), 4, 30*time.Second)
	waitListening(t, app, port, 30*time.Second)
	if !preload {
		// Every worker imported the app (and logged it): all are serving.
		if _, ok := rcv.WaitFor(20*time.Second, func(r []receiver.Record) bool {
			return len(filter(r, scopeBody("demo.app", "app loaded"))) >= 4
		}); !ok {
			t.Fatal("not every worker reported loading the app")
		}
	}

	served := map[string]int{} // request id -> worker pid
	var mu sync.Mutex
	var wg sync.WaitGroup
	// A sync worker serves one request at a time: four requests that hold
	// their worker for a second land on four different workers.
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			id := fmt.Sprintf("held%d", i)
			code, body := get(t, port, "/hello?hold=1&id="+id)
			if code != 200 {
				t.Errorf("/hello: %d", code)
				return
			}
			mu.Lock()
			served[id] = servedBy(t, body)
			mu.Unlock()
		}(i)
	}
	wg.Wait()
	workers := map[int]bool{}
	for _, pid := range served {
		workers[pid] = true
	}
	if len(workers) != 4 {
		t.Fatalf("held requests were served by %d workers, want 4: %v", len(workers), served)
	}
	for i := 0; i < 12; i++ {
		id := fmt.Sprintf("h%d", i)
		code, body := get(t, port, "/hello?id="+id)
		if code != 200 {
			t.Fatalf("/hello: %d", code)
		}
		served[id] = servedBy(t, body)
	}
	for i := 0; i < 4; i++ {
		if code, _ := get(t, port, fmt.Sprintf("/error?id=e%d", i)); code != 500 {
			t.Fatalf("/error: %d", code)
		}
	}
	app.stop(syscall.SIGTERM, 40*time.Second)

	recs := rcv.Records()
	checkDecoded(t, rcv)
	checkResource(t, p, recs)
	checkNoTraceContext(t, recs)
	checkNoDuplicates(t, recs)

	hello := filter(recs, scopeBody("flask_app", "hello request "))
	wantCount(t, "hello records", hello, 16)
	for id, rs := range byRequestID(hello) {
		if len(rs) != 1 {
			t.Errorf("request %s: %d records", id, len(rs))
			continue
		}
		if got := int(rs[0].ResourceInt("process.pid")); got != served[id] {
			t.Errorf("request %s served by %d but exported by %d", id, served[id], got)
		}
	}
	wantCount(t, "prints", filter(recs, scopeBody("sys.stdout", "print from hello ")), 16)
	wantCount(t, "error records", filter(recs, scopeBody("demo.app", "about to fail ")), 4)
	wantCount(t, "Flask exception records", filter(recs, scopeBody("flask_app", "Exception on /error")), 4)

	loaded := filter(recs, scopeBody("demo.app", "app loaded"))
	if preload {
		// Loaded once, in the master, before the fork: exported once, by
		// the master, although the record sat in its queue when it forked.
		wantCount(t, "app loaded (preload)", loaded, 1)
		if len(loaded) == 1 && int(loaded[0].ResourceInt("process.pid")) != app.pid() {
			t.Errorf("preloaded app logged from pid %d, master is %d", loaded[0].ResourceInt("process.pid"), app.pid())
		}
	} else {
		wantCount(t, "app loaded (one per worker)", loaded, 4)
	}
	ids := map[string]bool{}
	for _, r := range hello {
		ids[r.ResourceStr("service.instance.id")] = true
	}
	if len(ids) != 4 {
		t.Errorf("hello records carry %d service.instance.ids, want one per worker (4): %v", len(ids), ids)
	}

	if n := countLines(app.stderr.String(), regexp.MustCompile(`INFO in flask_app: hello request `)); n != 16 {
		t.Errorf("Flask's console lines: %d, want 16", n)
	}
	if n := countLines(app.stdout.String(), regexp.MustCompile(`print from hello `)); n != 16 {
		t.Errorf("printed lines on stdout: %d, want 16", n)
	}
}

func TestGunicorn4Workers(t *testing.T)        { testGunicorn(t, false) }
func TestGunicorn4WorkersPreload(t *testing.T) { testGunicorn(t, true) }

// TestUvicorn2Workers: FastAPI under `uvicorn --workers 2`, whose workers
// are spawned (fresh interpreters, started by PYTHONPATH again).
func TestUvicorn2Workers(t *testing.T) {
	rcv := startReceiver(t)
	port := ports.Free(t)
	p := newPod(t, podSpec{
		manifest: seedInstrumentation(rcv.URL(), env("AUTOTEL_PYTHON_CAPTURE_STDOUT", "true")...),
	})
	app := startProc(t, p, appsDir, python, "-m", "uvicorn", "fastapi_app:app",
		"--host", "127.0.0.1", "--port", strconv.Itoa(port), "--workers", "2")
	app.waitOutput(regexp.MustCompile(`Application startup complete`), 2, 40*time.Second)
	waitListening(t, app, port, 10*time.Second)

	served := map[string]int{}
	for i := 0; i < 10; i++ {
		id := fmt.Sprintf("u%d", i)
		code, body := get(t, port, "/hello?id="+id)
		if code != 200 {
			t.Fatalf("/hello: %d", code)
		}
		served[id] = servedBy(t, body)
	}
	for i := 0; i < 3; i++ {
		if code, _ := get(t, port, fmt.Sprintf("/error?id=e%d", i)); code != 500 {
			t.Fatalf("/error: %d", code)
		}
	}
	app.stop(syscall.SIGTERM, 40*time.Second)

	recs := rcv.Records()
	checkDecoded(t, rcv)
	checkResource(t, p, recs)
	checkNoTraceContext(t, recs)
	checkNoDuplicates(t, recs)

	loaded := filter(recs, scopeBody("root", "app loaded"))
	wantCount(t, "app loaded (one per spawned worker)", loaded, 2)
	workerIDs := map[string]bool{}
	for _, r := range loaded {
		pid := r.ResourceInt("process.pid")
		if int(pid) == app.pid() || r.Attributes["loaded_pid"] != pid {
			t.Errorf("app loaded in pid %d (loaded_pid %v), parent %d", pid, r.Attributes["loaded_pid"], app.pid())
		}
		workerIDs[r.ResourceStr("service.instance.id")] = true
	}
	if len(workerIDs) != 2 {
		t.Errorf("workers' service.instance.ids: %v, want 2 distinct", workerIDs)
	}
	hello := filter(recs, scopeBody("root", "hello request "))
	wantCount(t, "hello records", hello, 10)
	for id, rs := range byRequestID(hello) {
		if len(rs) != 1 || int(rs[0].ResourceInt("process.pid")) != served[id] {
			t.Errorf("request %s (served by %d): %d records", id, served[id], len(rs))
		}
		if rs[0].SeverityText != "INFO" || rs[0].Attributes["worker_pid"] != int64(served[id]) {
			t.Errorf("request %s record: %q %v", id, rs[0].SeverityText, rs[0].Attributes)
		}
	}
	errs := filter(recs, scopeBody("root", "about to fail "))
	wantCount(t, "error records", errs, 3)
	for _, r := range errs {
		if r.SeverityNumber != 17 {
			t.Errorf("error record severity %d", r.SeverityNumber)
		}
	}
	wantCount(t, "prints", filter(recs, scopeBody("sys.stdout", "print from hello u")), 10)
	// uvicorn's access logger does not propagate to root (not a log record
	// for the agent), but its console line on stdout is captured.
	wantCount(t, "captured access lines", filter(recs, func(r receiver.Record) bool {
		return r.Scope == "sys.stdout" && regexp.MustCompile(`"GET /(hello|error)\?id=\w+ HTTP/1\.1" (200|500)`).MatchString(r.BodyString())
	}), 13)

	stderr := app.stderr.String()
	if n := countLines(stderr, regexp.MustCompile(`INFO:root:hello request u\d`)); n != 10 {
		t.Errorf("console lines of the app's root logger: %d, want 10", n)
	}
	if !strings.Contains(stderr, "Exception in ASGI application") {
		t.Error("uvicorn's own error output is missing from the console")
	}
}

// TestMultiprocessing: fork, spawn and forkserver children and a fork Pool
// export their own records under their own service.instance.id, exactly
// once, with no hook in the app.
func TestMultiprocessing(t *testing.T) {
	rcv := startReceiver(t)
	p := newPod(t, podSpec{
		manifest: seedInstrumentation(rcv.URL(), env("AUTOTEL_PYTHON_CAPTURE_STDOUT", "true")...),
	})
	app := startProc(t, p, appsDir, python, "mp_app.py")
	app.wait(90 * time.Second)
	if app.err != nil {
		t.Fatalf("mp_app.py: %v", app.err)
	}
	recs := rcv.Records()
	checkDecoded(t, rcv)
	checkResource(t, p, recs)
	checkNoDuplicates(t, recs)
	mp := filter(recs, func(r receiver.Record) bool { return r.Scope == "mp" })
	per := map[string][]receiver.Record{}
	for _, r := range mp {
		per[r.Str("method")] = append(per[r.Str("method")], r)
		if r.Attributes["child_pid"] != r.Resource["process.pid"] {
			t.Errorf("%q logged in pid %v, exported by %v", r.BodyString(), r.Attributes["child_pid"], r.Resource["process.pid"])
		}
	}
	wantCount(t, "parent", per["parent"], 2)
	for _, m := range []string{"fork", "spawn", "forkserver"} {
		wantCount(t, m+" children", per[m], 10)
		pids := map[any]bool{}
		for _, r := range per[m] {
			pids[r.Resource["process.pid"]] = true
			if r.Resource["process.pid"] == int64(app.pid()) {
				t.Errorf("%s child record exported as the parent", m)
			}
		}
		if len(pids) != 2 {
			t.Errorf("%s: records from %d processes, want 2", m, len(pids))
		}
	}
	wantCount(t, "pool tasks", per["pool"], 6)
	wantCount(t, "children's prints", filter(recs, scopeBody("sys.stdout", "print from ")), 6)
}
