package instrumentation

// Language is one kind of injection an Instrumentation serves.
type Language string

// The injection kinds, in the order the operator applies them to a pod.
const (
	Java        Language = "java"
	NodeJS      Language = "nodejs"
	Python      Language = "python"
	DotNet      Language = "dotnet"
	Go          Language = "go"
	ApacheHttpd Language = "apache-httpd"
	Nginx       Language = "nginx"
	SDK         Language = "sdk"
)

// Languages lists every injection kind in application order.
var Languages = []Language{Java, NodeJS, Python, DotNet, Go, ApacheHttpd, Nginx, SDK}

// InjectAnnotation is the annotation that requests this language.
func (l Language) InjectAnnotation() string { return annotationPrefix + "inject-" + string(l) }

// ContainerNamesAnnotation is the per-language container list annotation.
// Nginx's name differs from the pattern; upstream shipped it that way and
// manifests depend on it.
func (l Language) ContainerNamesAnnotation() string {
	if l == Nginx {
		return annotationPrefix + "inject-nginx-container-names"
	}
	return annotationPrefix + string(l) + "-container-names"
}

// displayName is how upstream's messages name the language.
func (l Language) displayName() string {
	switch l {
	case Java:
		return "Java"
	case NodeJS:
		return "NodeJS"
	case Python:
		return "Python"
	case DotNet:
		return ".NET"
	case Go:
		return "Go"
	case ApacheHttpd:
		return "Apache HTTPD"
	case Nginx:
		return "Nginx"
	default:
		return "SDK"
	}
}
