package instrumentation

import (
	"slices"

	corev1 "k8s.io/api/core/v1"
)

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

// languageInfo is everything the injector knows about one language.
// Adding a language is adding a row to languageTable (plus its injector,
// and its agent image and spec section in api/ and the Instrumentation
// webhook).
type languageInfo struct {
	language Language
	// display is how upstream's messages name the language.
	display string
	// enabledByDefault matches upstream's enable-<language>-instrumentation
	// default.
	enabledByDefault bool
	injector         languageInjector
	// containerNamesAnnotation overrides <prefix><language>-container-names.
	containerNamesAnnotation string
	// annotations are the extra pod/namespace annotations the injector
	// reads (request.annotations), besides the log path.
	annotations []string
	// marker tells whether injection of this language is visible in a pod
	// (an init container or sidecar it adds); nil for SDK, which adds none.
	marker func(*corev1.Pod) bool
}

// languageTable is in application order: the order Languages lists and
// Mutate applies.
var languageTable = []languageInfo{
	{language: Java, display: "Java", enabledByDefault: true, injector: javaInjector,
		marker: hasInit(javaInitContainerName)},
	{language: NodeJS, display: "NodeJS", enabledByDefault: true, injector: nodeJSInjector,
		marker: hasInit(nodeJSInitContainerName)},
	{language: Python, display: "Python", enabledByDefault: true, injector: pythonInjector,
		annotations: []string{AnnotationPythonPlatform}, marker: hasInit(pythonInitContainerName)},
	{language: DotNet, display: ".NET", enabledByDefault: true, injector: dotNetInjector,
		annotations: []string{AnnotationDotNetRuntime}, marker: hasInit(dotNetInitContainerName)},
	{language: Go, display: "Go", enabledByDefault: false, injector: goInjector{},
		marker: func(pod *corev1.Pod) bool {
			return slices.ContainsFunc(pod.Spec.Containers, func(c corev1.Container) bool { return c.Name == goSidecarName })
		}},
	{language: ApacheHttpd, display: "Apache HTTPD", enabledByDefault: true, injector: apacheInjector,
		marker: hasInit(apacheInjector.attachContainer)},
	// Nginx's container-names annotation differs from the pattern; upstream
	// shipped it that way and manifests depend on it.
	{language: Nginx, display: "Nginx", enabledByDefault: false, injector: nginxInjector,
		containerNamesAnnotation: annotationPrefix + "inject-nginx-container-names", marker: hasInit(nginxInjector.attachContainer)},
	// inject-sdk has no enable flag upstream: it is always honoured.
	{language: SDK, display: "SDK", enabledByDefault: true, injector: sdkOnlyInjector{}},
}

func hasInit(name string) func(*corev1.Pod) bool {
	return func(pod *corev1.Pod) bool { return hasInitContainer(pod, name) }
}

// Languages lists every injection kind in application order.
var Languages = func() []Language {
	out := make([]Language, len(languageTable))
	for i, l := range languageTable {
		out[i] = l.language
	}
	return out
}()

func (l Language) info() *languageInfo {
	for i := range languageTable {
		if languageTable[i].language == l {
			return &languageTable[i]
		}
	}
	return nil
}

// InjectAnnotation is the annotation that requests this language.
func (l Language) InjectAnnotation() string { return annotationPrefix + "inject-" + string(l) }

// ContainerNamesAnnotation is the per-language container list annotation.
func (l Language) ContainerNamesAnnotation() string {
	if i := l.info(); i != nil && i.containerNamesAnnotation != "" {
		return i.containerNamesAnnotation
	}
	return annotationPrefix + string(l) + "-container-names"
}

// displayName is how upstream's messages name the language.
func (l Language) displayName() string {
	if i := l.info(); i != nil {
		return i.display
	}
	return "SDK"
}
