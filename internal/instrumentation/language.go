package instrumentation

import (
	"slices"

	corev1 "k8s.io/api/core/v1"

	"github.com/autotel/autotel/api/v1alpha1"
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

// languageInfo is everything the operator knows about one language: the
// injector, the enable flag's default, and (spec) how the Instrumentation
// webhook defaults and validates the language's spec section and which
// image flag sets its agent image. Adding a language is adding a row to
// languageTable, plus its injector, its spec section in api/v1alpha1 and
// its field in Images.
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
	// agent is the container injection of this language adds that runs the
	// Instrumentation's image (an init container, or Go's sidecar): it shows
	// that a pod was injected. Zero for SDK, which adds none.
	agent AgentContainer
	// spec is the language's section of an Instrumentation spec; nil for
	// SDK, which has none.
	spec *SpecSection
}

// languageTable is in application order: the order Languages lists and
// Mutate applies.
var languageTable = []languageInfo{
	{language: Java, display: "Java", enabledByDefault: true, injector: javaInjector,
		agent: AgentContainer{javaInitContainerName, true},
		spec: &SpecSection{Field: "java", DefaultImage: operatorImageRepo + "java:2.30.0", RequestCPU: "50m", RequestMemory: "64Mi",
			Image: func(i *Images) *string { return &i.Java },
			Of: func(s *v1alpha1.InstrumentationSpec) SectionFields {
				return SectionFields{&s.Java.Image, &s.Java.Resources, &s.Java.VolumeSpec}
			}}},
	{language: NodeJS, display: "NodeJS", enabledByDefault: true, injector: nodeJSInjector,
		agent: AgentContainer{nodeJSInitContainerName, true},
		spec: &SpecSection{Field: "nodejs", DefaultImage: operatorImageRepo + "nodejs:0.78.0", RequestCPU: "50m", RequestMemory: "128Mi",
			Image: func(i *Images) *string { return &i.NodeJS },
			Of: func(s *v1alpha1.InstrumentationSpec) SectionFields {
				return SectionFields{&s.NodeJS.Image, &s.NodeJS.Resources, &s.NodeJS.VolumeSpec}
			}}},
	{language: Python, display: "Python", enabledByDefault: true, injector: pythonInjector,
		annotations: []string{AnnotationPythonPlatform}, agent: AgentContainer{pythonInitContainerName, true},
		spec: &SpecSection{Field: "python", DefaultImage: operatorImageRepo + "python:0.64b0", RequestCPU: "50m", RequestMemory: "64Mi",
			Image: func(i *Images) *string { return &i.Python },
			Of: func(s *v1alpha1.InstrumentationSpec) SectionFields {
				return SectionFields{&s.Python.Image, &s.Python.Resources, &s.Python.VolumeSpec}
			}}},
	{language: DotNet, display: ".NET", enabledByDefault: true, injector: dotNetInjector,
		annotations: []string{AnnotationDotNetRuntime}, agent: AgentContainer{dotNetInitContainerName, true},
		spec: &SpecSection{Field: "dotnet", DefaultImage: operatorImageRepo + "dotnet:1.16.0", RequestCPU: "50m", RequestMemory: "128Mi",
			Image: func(i *Images) *string { return &i.DotNet },
			Of: func(s *v1alpha1.InstrumentationSpec) SectionFields {
				return SectionFields{&s.DotNet.Image, &s.DotNet.Resources, &s.DotNet.VolumeSpec}
			}}},
	{language: Go, display: "Go", enabledByDefault: false, injector: goInjector{},
		agent: AgentContainer{goSidecarName, false},
		spec: &SpecSection{Field: "go", DefaultImage: "ghcr.io/open-telemetry/opentelemetry-go-instrumentation/autoinstrumentation-go:v0.24.0",
			RequestCPU: "50m", RequestMemory: "64Mi",
			Image: func(i *Images) *string { return &i.Go },
			Of: func(s *v1alpha1.InstrumentationSpec) SectionFields {
				return SectionFields{&s.Go.Image, &s.Go.Resources, &s.Go.VolumeSpec}
			}}},
	{language: ApacheHttpd, display: "Apache HTTPD", enabledByDefault: true, injector: apacheInjector,
		agent: AgentContainer{apacheInjector.attachContainer, true},
		spec: &SpecSection{Field: "apachehttpd", DefaultImage: webServerImage, RequestCPU: "1m", RequestMemory: "128Mi",
			Image: func(i *Images) *string { return &i.ApacheHttpd },
			Of: func(s *v1alpha1.InstrumentationSpec) SectionFields {
				return SectionFields{&s.ApacheHttpd.Image, &s.ApacheHttpd.Resources, &s.ApacheHttpd.VolumeSpec}
			},
			Defaults: func(s *v1alpha1.InstrumentationSpec) {
				setIfEmpty(&s.ApacheHttpd.Version, "2.4")
				setIfEmpty(&s.ApacheHttpd.ConfigPath, "/usr/local/apache2/conf")
			}}},
	// Nginx's container-names annotation differs from the pattern; upstream
	// shipped it that way and manifests depend on it.
	{language: Nginx, display: "Nginx", enabledByDefault: false, injector: nginxInjector,
		containerNamesAnnotation: annotationPrefix + "inject-nginx-container-names", agent: AgentContainer{nginxInjector.attachContainer, true},
		// One agent build serves both web servers.
		spec: &SpecSection{Field: "nginx", DefaultImage: webServerImage, RequestCPU: "1m", RequestMemory: "128Mi",
			Image: func(i *Images) *string { return &i.Nginx },
			Of: func(s *v1alpha1.InstrumentationSpec) SectionFields {
				return SectionFields{&s.Nginx.Image, &s.Nginx.Resources, &s.Nginx.VolumeSpec}
			},
			Defaults: func(s *v1alpha1.InstrumentationSpec) { setIfEmpty(&s.Nginx.ConfigFile, "/etc/nginx/nginx.conf") }}},
	// inject-sdk has no enable flag upstream: it is always honoured.
	{language: SDK, display: "SDK", enabledByDefault: true, injector: sdkOnlyInjector{}},
}

// AgentContainer names the container injection adds that runs a
// language's agent image; Init tells an init container from a sidecar.
type AgentContainer struct {
	Name string
	Init bool
}

// in reports whether pod runs the container.
func (a AgentContainer) in(pod *corev1.Pod) bool {
	if a.Name == "" {
		return false
	}
	if a.Init {
		return hasInitContainer(pod, a.Name)
	}
	return slices.ContainsFunc(pod.Spec.Containers, func(c corev1.Container) bool { return c.Name == a.Name })
}

// Agent is the container injection of l adds that runs the
// Instrumentation's image; false for SDK, which adds none.
func (l Language) Agent() (AgentContainer, bool) {
	info := l.info()
	if info == nil || info.agent.Name == "" {
		return AgentContainer{}, false
	}
	return info.agent, true
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

const (
	operatorImageRepo = "ghcr.io/open-telemetry/opentelemetry-operator/autoinstrumentation-"
	webServerImage    = operatorImageRepo + "apache-httpd:1.0.4"
)

// Images are the agent images the Instrumentation webhook writes into
// Instrumentations that leave them empty, one field per language with a
// spec section (its SpecSection.Image points at it), set by the operator's
// auto-instrumentation-<language>-image flags. A struct rather than a map
// so callers name languages checked by the compiler.
type Images struct {
	Java, NodeJS, Python, DotNet, Go, ApacheHttpd, Nginx string
	// PythonLogs is autotel's own Python log agent (agent/python): zero
	// dependencies, any libc, pre-fork safe. Not a language of its own: the
	// Instrumentation webhook picks it for spec.python.image per
	// Instrumentation, by annotation; upstream's image stays the default.
	PythonLogs string
}

// SpecSection is a language's section of an Instrumentation spec
// (spec.<language>) and what the Instrumentation webhook defaults in it.
type SpecSection struct {
	// Field names the section in the webhook's messages as upstream's do:
	// lower-cased ("apachehttpd", not the JSON name apacheHttpd).
	Field string
	// Of points at the fields every section has, in spec s.
	Of func(s *v1alpha1.InstrumentationSpec) SectionFields
	// Image points at the language's field in i.
	Image func(i *Images) *string
	// DefaultImage is the agent image the upstream operator release we
	// track ships, so Instrumentations defaulted by either operator pin the
	// same agent.
	DefaultImage string
	// RequestCPU and RequestMemory are upstream's default requests of the
	// language's init containers (or sidecar), so they are scheduled alike
	// under both operators. Limits are the same for every language.
	RequestCPU, RequestMemory string
	// Defaults fills the settings only this language has; nil when none.
	Defaults func(s *v1alpha1.InstrumentationSpec)
}

// SectionFields are pointers to the fields every spec section has.
type SectionFields struct {
	Image     *string
	Resources *corev1.ResourceRequirements
	Volume    *v1alpha1.VolumeSpec
}

// Spec is the language's section of an Instrumentation spec; false for
// SDK, which has none.
func (l Language) Spec() (SpecSection, bool) {
	if i := l.info(); i != nil && i.spec != nil {
		return *i.spec, true
	}
	return SpecSection{}, false
}

func setIfEmpty(field *string, value string) {
	if *field == "" {
		*field = value
	}
}
