package instrumentationwebhook

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/autotel/autotel/api/v1alpha1"
)

// Settings known to break or mislead (issue 16, docs/rollback.md): the
// validating webhook returns them as warnings and `autotel check` prints
// them. None refuses the object: the SDKs still start.

// deprecatedPythonEnv: variables the Python SDK deprecated, from which
// release (the 0.N b line of the contrib packages, which is the tag of
// upstream's autoinstrumentation-python image), and what to use instead.
var deprecatedPythonEnv = []struct {
	name    string
	since   int    // contrib minor: 61 is 0.61b0
	release string // the release that deprecated it, SDK/contrib
	use     string
}{
	// opentelemetry-python 1.40.0/0.61b0 moved the logging handler out of
	// the SDK into opentelemetry-instrumentation-logging, which the
	// auto-instrumentation image installs and which is on by default.
	{"OTEL_PYTHON_LOGGING_AUTO_INSTRUMENTATION_ENABLED", 61, "1.40.0/0.61b0",
		"log auto-instrumentation now comes from opentelemetry-instrumentation-logging and is on by default: remove the variable " +
			"(OTEL_PYTHON_LOG_AUTO_INSTRUMENTATION=false turns it off)"},
}

// contribTag matches upstream's Python image tags: 0.64b0.
var contribTag = regexp.MustCompile(`:0\.(\d+)b\d+$`)

// pythonContribMinor is N of a 0.Nb0 image tag; false when the image is
// not an upstream SDK image of that form (autotel's log agent, a digest).
func pythonContribMinor(image string) (int, bool) {
	m := contribTag.FindStringSubmatch(image)
	if m == nil {
		return 0, false
	}
	n, err := strconv.Atoi(m[1])
	return n, err == nil
}

// minInitMemory is the least memory limit an agent init container is given
// without a warning: it copies the agent tree (tens of MiB for Python's,
// more for Java's jar and .NET's tree) into an emptyDir, and the page cache
// of what it writes is charged to its own memory limit.
var minInitMemory = resource.MustParse("64Mi")

// SettingWarnings lists the settings of inst known to break pods or
// mislead their users, each naming the field and the fix.
func SettingWarnings(inst *v1alpha1.Instrumentation, images Images) []string {
	var out []string
	pyImage := inst.Spec.Python.Image
	if pyImage == "" {
		pyImage = images.Python
	}
	if minor, ok := pythonContribMinor(pyImage); ok {
		for _, d := range deprecatedPythonEnv {
			if minor < d.since {
				continue
			}
			for _, field := range []struct {
				path string
				env  []corev1.EnvVar
			}{{"spec.env", inst.Spec.Env}, {"spec.python.env", inst.Spec.Python.Env}} {
				for _, e := range field.env {
					if e.Name == d.name {
						out = append(out, fmt.Sprintf("%s: %s is deprecated since OpenTelemetry Python %s (spec.python.image %s is 0.%db0); %s",
							field.path, d.name, d.release, pyImage, minor, d.use))
					}
				}
			}
		}
	}
	for _, r := range []struct {
		lang string
		res  corev1.ResourceRequirements
	}{
		{"java", inst.Spec.Java.Resources}, {"nodejs", inst.Spec.NodeJS.Resources}, {"python", inst.Spec.Python.Resources},
		{"dotnet", inst.Spec.DotNet.Resources},
	} {
		if m, ok := r.res.Limits[corev1.ResourceMemory]; ok && m.Cmp(minInitMemory) < 0 {
			out = append(out, fmt.Sprintf("spec.%s.resourceRequirements.limits.memory: %s is less than the agent copy needs (the init container's writes count against it); "+
				"below %s it may be OOMKilled and the pod never start: raise it, or remove it for the default 256Mi", r.lang, m.String(), minInitMemory.String()))
		}
	}
	return out
}

// PlatformWarning tells, for a pod that asks for Python injection, when its
// otel-python-platform annotation (glibc unless set) contradicts what its
// container image's name says (an alpine image is musl): the agent's
// compiled parts would not load and Python may fail at start. "" when
// nothing contradicts.
func PlatformWarning(platform string, images []string) string {
	if platform == "" {
		platform = "glibc"
	}
	for _, img := range images {
		musl := strings.Contains(strings.ToLower(img), "alpine")
		if musl && platform != "musl" {
			return fmt.Sprintf("image %s looks musl-based (alpine) but the pod asks for the %s build of the Python agent: "+
				"annotate the pod instrumentation.opentelemetry.io/otel-python-platform: musl", img, platform)
		}
	}
	return ""
}
