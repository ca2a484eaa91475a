package instrumentationwebhook

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/autotel/autotel/api/v1alpha1"
)

// upstream: instrumentation.opentelemetry.io/default-auto-instrumentation-<lang>-image
func defaultAnn(lang string) string {
	return "instrumentation.opentelemetry.io/default-auto-instrumentation-" + lang + "-image"
}

func TestDefaultImages(t *testing.T) {
	want := Images{
		Java:        "ghcr.io/open-telemetry/opentelemetry-operator/autoinstrumentation-java:2.30.0",
		NodeJS:      "ghcr.io/open-telemetry/opentelemetry-operator/autoinstrumentation-nodejs:0.78.0",
		Python:      "ghcr.io/open-telemetry/opentelemetry-operator/autoinstrumentation-python:0.64b0",
		DotNet:      "ghcr.io/open-telemetry/opentelemetry-operator/autoinstrumentation-dotnet:1.16.0",
		Go:          "ghcr.io/open-telemetry/opentelemetry-go-instrumentation/autoinstrumentation-go:v0.24.0",
		ApacheHttpd: "ghcr.io/open-telemetry/opentelemetry-operator/autoinstrumentation-apache-httpd:1.0.4",
		Nginx:       "ghcr.io/open-telemetry/opentelemetry-operator/autoinstrumentation-apache-httpd:1.0.4",
		PythonLogs:  "autotel/autoinstrumentation-python-logs:0.1.0",
	}
	if got := DefaultImages(); got != want {
		t.Errorf("DefaultImages() = %+v, want %+v", got, want)
	}
}

func res(limitCPU, limitMem, reqCPU, reqMem string) corev1.ResourceRequirements {
	return corev1.ResourceRequirements{
		Limits: corev1.ResourceList{
			corev1.ResourceCPU: resource.MustParse(limitCPU), corev1.ResourceMemory: resource.MustParse(limitMem),
		},
		Requests: corev1.ResourceList{
			corev1.ResourceCPU: resource.MustParse(reqCPU), corev1.ResourceMemory: resource.MustParse(reqMem),
		},
	}
}

// defaulted is what Default makes of an empty spec with images imgs.
func defaulted(imgs Images) v1alpha1.InstrumentationSpec {
	var s v1alpha1.InstrumentationSpec
	s.Java.Image, s.Java.Resources = imgs.Java, res("500m", "256Mi", "50m", "64Mi")
	s.NodeJS.Image, s.NodeJS.Resources = imgs.NodeJS, res("500m", "256Mi", "50m", "128Mi")
	s.Python.Image, s.Python.Resources = imgs.Python, res("500m", "256Mi", "50m", "64Mi")
	s.DotNet.Image, s.DotNet.Resources = imgs.DotNet, res("500m", "256Mi", "50m", "128Mi")
	s.Go.Image, s.Go.Resources = imgs.Go, res("500m", "256Mi", "50m", "64Mi")
	s.ApacheHttpd.Image, s.ApacheHttpd.Resources = imgs.ApacheHttpd, res("500m", "256Mi", "1m", "128Mi")
	s.ApacheHttpd.Version, s.ApacheHttpd.ConfigPath = "2.4", "/usr/local/apache2/conf"
	s.Nginx.Image, s.Nginx.Resources = imgs.Nginx, res("500m", "256Mi", "1m", "128Mi")
	s.Nginx.ConfigFile = "/etc/nginx/nginx.conf"
	return s
}

func defaultAnnotations(imgs Images, extra map[string]string) map[string]string {
	a := map[string]string{
		defaultAnn("java"):         imgs.Java,
		defaultAnn("nodejs"):       imgs.NodeJS,
		defaultAnn("python"):       imgs.Python,
		defaultAnn("dotnet"):       imgs.DotNet,
		defaultAnn("go"):           imgs.Go,
		defaultAnn("apache-httpd"): imgs.ApacheHttpd,
		defaultAnn("nginx"):        imgs.Nginx,
	}
	for k, v := range extra {
		a[k] = v
	}
	return a
}

func TestDefault(t *testing.T) {
	custom := Images{Java: "j", NodeJS: "n", Python: "p", DotNet: "d", Go: "g", ApacheHttpd: "a", Nginx: "x"}
	own := res("2", "1Gi", "1", "512Mi")

	userSet := func() v1alpha1.InstrumentationSpec {
		var s v1alpha1.InstrumentationSpec
		s.Java.Image, s.Java.Resources = "my/java", own
		s.NodeJS.Image, s.NodeJS.Resources = "my/nodejs", own
		s.Python.Image, s.Python.Resources = "my/python", own
		s.DotNet.Image, s.DotNet.Resources = "my/dotnet", own
		s.Go.Image, s.Go.Resources = "my/go", own
		s.ApacheHttpd.Image, s.ApacheHttpd.Resources = "my/httpd", own
		s.ApacheHttpd.Version, s.ApacheHttpd.ConfigPath = "2.2", "/etc/httpd"
		s.Nginx.Image, s.Nginx.Resources = "my/nginx", own
		s.Nginx.ConfigFile = "/opt/nginx.conf"
		return s
	}

	// Only one of Limits/Requests set: the other is still defaulted.
	onlyLimits := v1alpha1.InstrumentationSpec{}
	onlyLimits.Python.Resources.Limits = own.Limits
	onlyLimitsWant := defaulted(custom)
	onlyLimitsWant.Python.Resources.Limits = own.Limits
	onlyRequests := v1alpha1.InstrumentationSpec{}
	onlyRequests.ApacheHttpd.Resources.Requests = own.Requests
	onlyRequestsWant := defaulted(custom)
	onlyRequestsWant.ApacheHttpd.Resources.Requests = own.Requests

	partial := Images{Java: "j"}
	partialWant := DefaultImages()
	partialWant.Java = "j"

	tests := []struct {
		name        string
		images      Images
		annotations map[string]string
		spec        v1alpha1.InstrumentationSpec
		wantSpec    v1alpha1.InstrumentationSpec
		wantAnn     map[string]string
	}{
		{
			name:     "empty spec gets every default",
			images:   custom,
			wantSpec: defaulted(custom),
			wantAnn:  defaultAnnotations(custom, nil),
		},
		{
			name:     "zero Webhook uses DefaultImages",
			wantSpec: defaulted(DefaultImages()),
			wantAnn:  defaultAnnotations(DefaultImages(), nil),
		},
		{
			name:     "unset Images fields fall back individually",
			images:   partial,
			wantSpec: defaulted(partialWant),
			wantAnn:  defaultAnnotations(partialWant, nil),
		},
		{
			name:     "user values are kept but annotations still record operator defaults",
			images:   custom,
			spec:     userSet(),
			wantSpec: userSet(),
			wantAnn:  defaultAnnotations(custom, nil),
		},
		{
			name:   "stale default annotations are overwritten, others kept",
			images: custom,
			annotations: map[string]string{
				defaultAnn("java"): "old/java", defaultAnn("nginx"): "old/nginx", "team": "a",
			},
			wantSpec: defaulted(custom),
			wantAnn:  defaultAnnotations(custom, map[string]string{"team": "a"}),
		},
		{
			name:     "limits kept, requests defaulted",
			images:   custom,
			spec:     onlyLimits,
			wantSpec: onlyLimitsWant,
			wantAnn:  defaultAnnotations(custom, nil),
		},
		{
			name:     "requests kept, limits defaulted",
			images:   custom,
			spec:     onlyRequests,
			wantSpec: onlyRequestsWant,
			wantAnn:  defaultAnnotations(custom, nil),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inst := &v1alpha1.Instrumentation{
				ObjectMeta: metav1.ObjectMeta{Annotations: tt.annotations},
				Spec:       tt.spec,
			}
			w := &Webhook{Images: tt.images}
			if err := w.Default(context.Background(), inst); err != nil {
				t.Fatalf("Default: %v", err)
			}
			if !equality.Semantic.DeepEqual(inst.Spec, tt.wantSpec) {
				t.Errorf("spec = %+v\nwant  %+v", inst.Spec, tt.wantSpec)
			}
			if !equality.Semantic.DeepEqual(inst.Annotations, tt.wantAnn) {
				t.Errorf("annotations = %v\nwant        %v", inst.Annotations, tt.wantAnn)
			}
		})
	}
}

// Defaulted resource lists must not be shared between objects: the webhook
// is long-lived and callers mutate what it returns.
func TestDefaultDoesNotShareResourceLists(t *testing.T) {
	w := &Webhook{}
	a, b := &v1alpha1.Instrumentation{}, &v1alpha1.Instrumentation{}
	for _, inst := range []*v1alpha1.Instrumentation{a, b} {
		if err := w.Default(context.Background(), inst); err != nil {
			t.Fatalf("Default: %v", err)
		}
	}
	a.Spec.Nginx.Resources.Requests[corev1.ResourceCPU] = resource.MustParse("3")
	a.Spec.Nginx.Resources.Limits[corev1.ResourceCPU] = resource.MustParse("3")
	a.Spec.ApacheHttpd.Resources.Requests[corev1.ResourceCPU] = resource.MustParse("3")
	want := defaulted(DefaultImages())
	if !equality.Semantic.DeepEqual(b.Spec, want) {
		t.Errorf("mutating one object's defaults changed another's: %+v", b.Spec)
	}
}

func TestValidate(t *testing.T) {
	size := resource.MustParse("100Mi")
	claim := corev1.PersistentVolumeClaimTemplate{Spec: corev1.PersistentVolumeClaimSpec{VolumeName: "pv-1"}}
	sampler := func(typ v1alpha1.SamplerType, arg string) func(*v1alpha1.InstrumentationSpec) {
		return func(s *v1alpha1.InstrumentationSpec) { s.Sampler = v1alpha1.Sampler{Type: typ, Argument: arg} }
	}
	exporter := func(endpoint string, tls *v1alpha1.TLS) func(*v1alpha1.InstrumentationSpec) {
		return func(s *v1alpha1.InstrumentationSpec) {
			s.Sampler.Type = v1alpha1.AlwaysOn
			s.Exporter = v1alpha1.Exporter{Endpoint: endpoint, TLS: tls}
		}
	}
	// volume returns a language's VolumeSpec inside s.
	volume := map[string]func(*v1alpha1.InstrumentationSpec) *v1alpha1.VolumeSpec{
		"apachehttpd": func(s *v1alpha1.InstrumentationSpec) *v1alpha1.VolumeSpec { return &s.ApacheHttpd.VolumeSpec },
		"dotnet":      func(s *v1alpha1.InstrumentationSpec) *v1alpha1.VolumeSpec { return &s.DotNet.VolumeSpec },
		"go":          func(s *v1alpha1.InstrumentationSpec) *v1alpha1.VolumeSpec { return &s.Go.VolumeSpec },
		"java":        func(s *v1alpha1.InstrumentationSpec) *v1alpha1.VolumeSpec { return &s.Java.VolumeSpec },
		"nginx":       func(s *v1alpha1.InstrumentationSpec) *v1alpha1.VolumeSpec { return &s.Nginx.VolumeSpec },
		"nodejs":      func(s *v1alpha1.InstrumentationSpec) *v1alpha1.VolumeSpec { return &s.NodeJS.VolumeSpec },
		"python":      func(s *v1alpha1.InstrumentationSpec) *v1alpha1.VolumeSpec { return &s.Python.VolumeSpec },
	}
	conflict := func(langs ...string) func(*v1alpha1.InstrumentationSpec) {
		return func(s *v1alpha1.InstrumentationSpec) {
			s.Sampler.Type = v1alpha1.AlwaysOn
			for _, l := range langs {
				v := volume[l](s)
				v.VolumeClaimTemplate, v.VolumeSizeLimit = claim, &size
			}
		}
	}
	deprecated := func(lang string) string {
		return "spec." + lang + ".volumeSizeLimit is deprecated and will be removed in a future release; use spec." + lang + ".volume.size instead"
	}

	type tc struct {
		name     string
		mutate   func(*v1alpha1.InstrumentationSpec)
		wantErr  string
		wantWarn []string
	}
	tests := []tc{
		{name: "sampler type not set", mutate: func(*v1alpha1.InstrumentationSpec) {}, wantWarn: []string{"sampler type not set"}},
		{name: "always_on", mutate: sampler(v1alpha1.AlwaysOn, "")},
		{name: "always_off ignores argument", mutate: sampler(v1alpha1.AlwaysOff, "junk")},
		{name: "parentbased_always_on", mutate: sampler(v1alpha1.ParentBasedAlwaysOn, "")},
		{name: "parentbased_always_off", mutate: sampler(v1alpha1.ParentBasedAlwaysOff, "junk")},
		{name: "xray", mutate: sampler(v1alpha1.XRaySampler, "junk")},
		{name: "traceidratio without argument", mutate: sampler(v1alpha1.TraceIDRatio, "")},
		{name: "traceidratio 0", mutate: sampler(v1alpha1.TraceIDRatio, "0")},
		{name: "traceidratio 1", mutate: sampler(v1alpha1.TraceIDRatio, "1")},
		{name: "traceidratio 0.25", mutate: sampler(v1alpha1.TraceIDRatio, "0.25")},
		{name: "traceidratio not a number", mutate: sampler(v1alpha1.TraceIDRatio, "half"), wantErr: "spec.sampler.argument is not a number: half"},
		{name: "traceidratio above 1", mutate: sampler(v1alpha1.TraceIDRatio, "1.5"), wantErr: "spec.sampler.argument should be in rage [0..1]: 1.5"},
		{name: "traceidratio below 0", mutate: sampler(v1alpha1.TraceIDRatio, "-0.1"), wantErr: "spec.sampler.argument should be in rage [0..1]: -0.1"},
		{name: "traceidratio NaN", mutate: sampler(v1alpha1.TraceIDRatio, "NaN"), wantErr: "spec.sampler.argument should be in rage [0..1]: NaN"},
		{name: "parentbased_traceidratio 0.5", mutate: sampler(v1alpha1.ParentBasedTraceIDRatio, "0.5")},
		{name: "parentbased_traceidratio above 1", mutate: sampler(v1alpha1.ParentBasedTraceIDRatio, "2"), wantErr: "spec.sampler.argument should be in rage [0..1]: 2"},
		{name: "parentbased_traceidratio not a number", mutate: sampler(v1alpha1.ParentBasedTraceIDRatio, "x"), wantErr: "spec.sampler.argument is not a number: x"},
		{name: "jaeger_remote without argument", mutate: sampler(v1alpha1.JaegerRemote, "")},
		{
			name:   "jaeger_remote full argument, unknown key ignored",
			mutate: sampler(v1alpha1.JaegerRemote, "endpoint=http://jaeger:14250,pollingIntervalMs=5000,initialSamplingRate=0.25,other=x"),
		},
		{
			name: "jaeger_remote part without =", mutate: sampler(v1alpha1.JaegerRemote, "endpoint=http://j:14250,pollingIntervalMs"),
			wantErr: "spec.sampler.argument is not a valid argument for sampler jaeger_remote: invalid argument: pollingIntervalMs, the argument should be in the form of key=value",
		},
		{
			name: "jaeger_remote value with second =", mutate: sampler(v1alpha1.JaegerRemote, "endpoint=http://j/?a=b"),
			wantErr: "spec.sampler.argument is not a valid argument for sampler jaeger_remote: invalid argument: endpoint=http://j/?a=b, the argument should be in the form of key=value",
		},
		{
			name: "jaeger_remote empty endpoint", mutate: sampler(v1alpha1.JaegerRemote, "endpoint="),
			wantErr: "spec.sampler.argument is not a valid argument for sampler jaeger_remote: endpoint cannot be empty",
		},
		{
			name: "jaeger_remote bad pollingIntervalMs", mutate: sampler(v1alpha1.JaegerRemote, "pollingIntervalMs=1.5"),
			wantErr: "spec.sampler.argument is not a valid argument for sampler jaeger_remote: invalid pollingIntervalMs: 1.5",
		},
		{
			name: "jaeger_remote bad initialSamplingRate", mutate: sampler(v1alpha1.JaegerRemote, "initialSamplingRate=most"),
			wantErr: "spec.sampler.argument is not a valid argument for sampler jaeger_remote: invalid initialSamplingRate: most",
		},
		{
			name: "jaeger_remote initialSamplingRate out of range", mutate: sampler(v1alpha1.JaegerRemote, "initialSamplingRate=1.01"),
			wantErr: "spec.sampler.argument is not a valid argument for sampler jaeger_remote: initialSamplingRate should be in rage [0..1]: 1.01",
		},
		{
			name: "parentbased_jaeger_remote names its type", mutate: sampler(v1alpha1.ParentBasedJaegerRemote, "endpoint="),
			wantErr: "spec.sampler.argument is not a valid argument for sampler parentbased_jaeger_remote: endpoint cannot be empty",
		},
		{name: "parentbased_jaeger_remote valid", mutate: sampler(v1alpha1.ParentBasedJaegerRemote, "endpoint=http://j:5778")},
		{name: "unknown sampler type", mutate: sampler("probabilistic", "0.5"), wantErr: "spec.sampler.type is not valid: probabilistic"},

		{name: "tls key without cert", mutate: exporter("https://c:4318", &v1alpha1.TLS{Key: "tls.key"}), wantWarn: []string{"both exporter.tls.key and exporter.tls.cert mut be set"}},
		{name: "tls cert without key", mutate: exporter("https://c:4318", &v1alpha1.TLS{Cert: "tls.crt"}), wantWarn: []string{"both exporter.tls.key and exporter.tls.cert mut be set"}},
		{name: "tls complete over https", mutate: exporter("https://c:4318", &v1alpha1.TLS{Cert: "tls.crt", Key: "tls.key", CA: "ca.crt"})},
		{name: "tls CA only over https", mutate: exporter("https://c:4318", &v1alpha1.TLS{CA: "ca.crt"})},
		{
			name: "tls over http", mutate: exporter("http://c:4318", &v1alpha1.TLS{CA: "ca.crt"}),
			wantWarn: []string{"exporter.tls is configured but exporter.endpoint is not enabling TLS with https://"},
		},
		{
			name: "tls without endpoint, half a key pair", mutate: exporter("", &v1alpha1.TLS{Key: "tls.key"}),
			wantWarn: []string{
				"both exporter.tls.key and exporter.tls.cert mut be set",
				"exporter.tls is configured but exporter.endpoint is not enabling TLS with https://",
			},
		},
		{name: "https without tls", mutate: exporter("https://c:4318", nil), wantWarn: []string{"exporter is using https:// but exporter.tls is unset"}},
		{name: "http without tls", mutate: exporter("http://c:4318", nil)},

		{
			name: "only volumeClaimTemplate",
			mutate: func(s *v1alpha1.InstrumentationSpec) {
				s.Sampler.Type = v1alpha1.AlwaysOn
				s.Java.VolumeClaimTemplate = claim
			},
		},
		{
			name:    "first conflict in upstream order wins",
			mutate:  conflict("python", "java", "dotnet"),
			wantErr: "spec.dotnet.volumeClaimTemplate and spec.dotnet.volumeSizeLimit cannot both be defined: unable to resolve volume size",
		},
		{
			name: "warnings gathered before an error are returned with it",
			mutate: func(s *v1alpha1.InstrumentationSpec) {
				conflict("go")(s)
				s.Sampler.Type = ""
			},
			wantErr:  "spec.go.volumeClaimTemplate and spec.go.volumeSizeLimit cannot both be defined: unable to resolve volume size",
			wantWarn: []string{"sampler type not set"},
		},
		{
			name: "warnings in order: sampler, exporter, deprecations",
			mutate: func(s *v1alpha1.InstrumentationSpec) {
				s.Exporter.Endpoint = "https://c:4318"
				for _, l := range []string{"python", "apachehttpd"} {
					volume[l](s).VolumeSizeLimit = &size
				}
			},
			wantWarn: []string{
				"sampler type not set",
				"exporter is using https:// but exporter.tls is unset",
				deprecated("apachehttpd"),
				deprecated("python"),
			},
		},
	}
	for _, lang := range []string{"apachehttpd", "dotnet", "go", "java", "nginx", "nodejs", "python"} {
		tests = append(tests,
			tc{
				name:    lang + " volume conflict",
				mutate:  conflict(lang),
				wantErr: "spec." + lang + ".volumeClaimTemplate and spec." + lang + ".volumeSizeLimit cannot both be defined: unable to resolve volume size",
			},
			tc{
				name: lang + " volumeLimitSize deprecated",
				mutate: func(s *v1alpha1.InstrumentationSpec) {
					s.Sampler.Type = v1alpha1.AlwaysOn
					volume[lang](s).VolumeSizeLimit = &size
				},
				wantWarn: []string{deprecated(lang)},
			},
		)
	}

	w := &Webhook{}
	ctx := context.Background()
	// An invalid old object must not affect an update's verdict.
	invalidOld := &v1alpha1.Instrumentation{Spec: v1alpha1.InstrumentationSpec{Sampler: v1alpha1.Sampler{Type: "bogus"}}}
	for _, tt := range tests {
		inst := &v1alpha1.Instrumentation{}
		tt.mutate(&inst.Spec)
		for op, validate := range map[string]func() (warnings []string, err error){
			"create": func() ([]string, error) { return w.ValidateCreate(ctx, inst) },
			"update": func() ([]string, error) { return w.ValidateUpdate(ctx, invalidOld, inst) },
			"delete": func() ([]string, error) { return w.ValidateDelete(ctx, inst) },
		} {
			t.Run(tt.name+"/"+op, func(t *testing.T) {
				warnings, err := validate()
				wantWarn := tt.wantWarn
				if op == "delete" && tt.wantErr != "" {
					// Deletes are never refused: the error becomes a warning.
					wantWarn = append(slices.Clone(tt.wantWarn), tt.wantErr)
					if err != nil {
						t.Errorf("delete refused: %v", err)
					}
					err = errors.New(tt.wantErr)
				}
				switch {
				case tt.wantErr == "" && err != nil:
					t.Errorf("unexpected error: %v", err)
				case tt.wantErr != "" && (err == nil || err.Error() != tt.wantErr):
					t.Errorf("error = %v, want %q", err, tt.wantErr)
				}
				if !slices.Equal(warnings, wantWarn) {
					t.Errorf("warnings = %q, want %q", warnings, wantWarn)
				}
			})
		}
	}
}

// The generated webhook configuration (from the markers) calls these paths;
// the builder derives them from the GVK, so this catches a drift between
// the two.
func TestSetupWithManagerServesMarkerPaths(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	mgr, err := ctrl.NewManager(&rest.Config{Host: "http://127.0.0.1:1"}, ctrl.Options{
		Scheme:         scheme,
		Metrics:        server.Options{BindAddress: "0"},
		WebhookServer:  webhook.NewServer(webhook.Options{}),
		LeaderElection: false,
	})
	if err != nil {
		t.Fatalf("NewManager: %v", err)
	}
	if err := (&Webhook{}).SetupWithManager(mgr); err != nil {
		t.Fatalf("SetupWithManager: %v", err)
	}
	mux := mgr.GetWebhookServer().WebhookMux()
	for _, path := range []string{
		"/mutate-opentelemetry-io-v1alpha1-instrumentation",
		"/validate-opentelemetry-io-v1alpha1-instrumentation",
	} {
		if _, pattern := mux.Handler(httptest.NewRequest(http.MethodPost, path, nil)); pattern != path {
			t.Errorf("no handler registered at %s (matched %q)", path, pattern)
		}
	}
}

// TestPythonLogsAgentSelection: the annotation picks autotel's log agent
// image when spec.python.image is empty; an explicit image always wins.
func TestPythonLogsAgentSelection(t *testing.T) {
	w := &Webhook{Images: Images{PythonLogs: "registry.example/logs:1"}}
	for _, tc := range []struct {
		name, annotation, image, want string
	}{
		{"annotated", "logs", "", "registry.example/logs:1"},
		{"not annotated", "", "", DefaultImages().Python},
		{"explicit image wins", "logs", "mine:2", "mine:2"},
		{"unknown value ignored", "full", "", DefaultImages().Python},
	} {
		inst := &v1alpha1.Instrumentation{}
		inst.Annotations = map[string]string{}
		if tc.annotation != "" {
			inst.Annotations[PythonAgentAnnotation] = tc.annotation
		}
		inst.Spec.Python.Image = tc.image
		if err := w.Default(context.Background(), inst); err != nil {
			t.Fatal(err)
		}
		if inst.Spec.Python.Image != tc.want {
			t.Errorf("%s: image %q, want %q", tc.name, inst.Spec.Python.Image, tc.want)
		}
	}
	if DefaultImages().PythonLogs != DefaultPythonLogsImage {
		t.Errorf("default logs image %q", DefaultImages().PythonLogs)
	}
}

// TestPythonAgentSwitch: the annotation switches an existing
// Instrumentation's image both ways when defaulting chose it, including a
// default recorded by an older operator version, and never touches an
// image the user chose.
func TestPythonAgentSwitch(t *testing.T) {
	imgs := Images{Python: "upstream:new", PythonLogs: "logs:new"}
	upstreamRec := defaultAnn("python")
	for _, tc := range []struct {
		name       string
		ann        map[string]string // annotations before admission
		image      string
		want       string
		wantRecord string // DefaultPythonLogsImageAnnotation after admission; "" = absent
	}{
		{"annotated on create", map[string]string{PythonAgentAnnotation: "logs"}, "", "logs:new", "logs:new"},
		{"annotated after defaulting", map[string]string{PythonAgentAnnotation: "logs", upstreamRec: "upstream:new"}, "upstream:new", "logs:new", "logs:new"},
		{"current default counts as defaulted without a record", map[string]string{PythonAgentAnnotation: "logs"}, "upstream:new", "logs:new", "logs:new"},
		{"default recorded by an older operator", map[string]string{PythonAgentAnnotation: "logs", upstreamRec: "upstream:old"}, "upstream:old", "logs:new", "logs:new"},
		{"older log agent default follows the new one", map[string]string{PythonAgentAnnotation: "logs", DefaultPythonLogsImageAnnotation: "logs:old"}, "logs:old", "logs:new", "logs:new"},
		{"stays on logs", map[string]string{PythonAgentAnnotation: "logs", DefaultPythonLogsImageAnnotation: "logs:new"}, "logs:new", "logs:new", "logs:new"},
		{"explicit image wins", map[string]string{PythonAgentAnnotation: "logs", upstreamRec: "upstream:new"}, "mine:2", "mine:2", ""},
		{"explicit image drops a stale record", map[string]string{PythonAgentAnnotation: "logs", DefaultPythonLogsImageAnnotation: "logs:new"}, "mine:2", "mine:2", ""},
		{"annotation removed", map[string]string{DefaultPythonLogsImageAnnotation: "logs:new", upstreamRec: "upstream:new"}, "logs:new", "upstream:new", ""},
		{"annotation removed after the log agent default changed", map[string]string{DefaultPythonLogsImageAnnotation: "logs:old"}, "logs:old", "upstream:new", ""},
		{"log agent named by the user is kept without the annotation", nil, "logs:new", "logs:new", ""},
		{"unknown value acts as absent", map[string]string{PythonAgentAnnotation: "full", DefaultPythonLogsImageAnnotation: "logs:new"}, "logs:new", "upstream:new", ""},
		{"upstream default untouched without the annotation", map[string]string{upstreamRec: "upstream:old"}, "upstream:old", "upstream:old", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inst := &v1alpha1.Instrumentation{}
			inst.Annotations = maps.Clone(tc.ann)
			inst.Spec.Python.Image = tc.image
			if err := (&Webhook{Images: imgs}).Default(context.Background(), inst); err != nil {
				t.Fatal(err)
			}
			if inst.Spec.Python.Image != tc.want {
				t.Errorf("image %q, want %q", inst.Spec.Python.Image, tc.want)
			}
			if got := inst.Annotations[DefaultPythonLogsImageAnnotation]; got != tc.wantRecord {
				t.Errorf("%s = %q, want %q", DefaultPythonLogsImageAnnotation, got, tc.wantRecord)
			}
			if got := inst.Annotations[upstreamRec]; got != "upstream:new" {
				t.Errorf("%s = %q, want the current default", upstreamRec, got)
			}
			// Defaulting twice changes nothing (the API server may call
			// the webhook again after other webhooks).
			again := inst.DeepCopy()
			if err := (&Webhook{Images: imgs}).Default(context.Background(), again); err != nil {
				t.Fatal(err)
			}
			if !equality.Semantic.DeepEqual(again, inst) {
				t.Errorf("second admission changed the object:\n%+v\n%+v", again.ObjectMeta, inst.ObjectMeta)
			}
		})
	}
}

// TestPythonAgentSwitchReadsStoredRecords: an update whose object lost the
// record annotations (server-side apply drops the whole annotation map when
// the applier drops its last annotation) still switches back, from the
// records of the stored object in the admission request.
func TestPythonAgentSwitchReadsStoredRecords(t *testing.T) {
	imgs := Images{Python: "upstream:new", PythonLogs: "logs:new"}
	stored := &v1alpha1.Instrumentation{ObjectMeta: metav1.ObjectMeta{Name: "py", Namespace: "app", Annotations: map[string]string{
		PythonAgentAnnotation: "logs", DefaultPythonLogsImageAnnotation: "logs:new", defaultAnn("python"): "upstream:old",
	}}}
	raw, err := json.Marshal(stored)
	if err != nil {
		t.Fatal(err)
	}
	update := func(op admissionv1.Operation, annotations map[string]string, image string) *v1alpha1.Instrumentation {
		t.Helper()
		ctx := admission.NewContextWithRequest(context.Background(), admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
			Operation: op, Name: "py", Namespace: "app", OldObject: runtime.RawExtension{Raw: raw},
		}})
		inst := &v1alpha1.Instrumentation{ObjectMeta: metav1.ObjectMeta{Name: "py", Namespace: "app", Annotations: annotations}}
		inst.Spec.Python.Image = image
		if err := (&Webhook{Images: imgs}).Default(ctx, inst); err != nil {
			t.Fatal(err)
		}
		return inst
	}
	if got := update(admissionv1.Update, nil, "logs:new").Spec.Python.Image; got != "upstream:new" {
		t.Errorf("annotation and records dropped from the request: image %q, want upstream's", got)
	}
	if got := update(admissionv1.Update, map[string]string{PythonAgentAnnotation: "logs"}, "upstream:old").Spec.Python.Image; got != "logs:new" {
		t.Errorf("old upstream default recorded only in the stored object: image %q, want the log agent", got)
	}
	// Only UPDATE has a stored object; a CREATE's OldObject is not consulted.
	if got := update(admissionv1.Create, nil, "logs:new").Spec.Python.Image; got != "logs:new" {
		t.Errorf("create: image %q, want the named log agent kept", got)
	}
	ctx := admission.NewContextWithRequest(context.Background(), admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
		Operation: admissionv1.Update, Name: "py", Namespace: "app", OldObject: runtime.RawExtension{Raw: []byte("{not json")},
	}})
	if err := (&Webhook{}).Default(ctx, &v1alpha1.Instrumentation{}); err == nil || !strings.Contains(err.Error(), "stored Instrumentation app/py") {
		t.Errorf("undecodable stored object: error %v, want one naming it", err)
	}
}

// TestPythonAgentWarnings: validation says when the annotation is ignored
// and how to fix it; silent otherwise.
func TestPythonAgentWarnings(t *testing.T) {
	w := &Webhook{Images: Images{PythonLogs: "logs:new"}}
	for _, tc := range []struct {
		name, value, image string
		want               []string // substrings of the one warning; nil = no warning
	}{
		{"explicit image", "logs", "mine:2", []string{"autotel.io/python-agent: logs is ignored because spec.python.image is set to \"mine:2\"", "logs:new", "/spec/python/image", "kubectl patch instrumentation py -n app"}},
		{"log agent in use", "logs", "logs:new", nil},
		{"no annotation", "", "mine:2", nil},
		{"unknown value", "full", "logs:new", []string{`"full" is not recognized`, `"logs"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inst := &v1alpha1.Instrumentation{ObjectMeta: metav1.ObjectMeta{Name: "py", Namespace: "app", Annotations: map[string]string{}}}
			inst.Spec.Sampler.Type = v1alpha1.AlwaysOn
			if tc.value != "" {
				inst.Annotations[PythonAgentAnnotation] = tc.value
			}
			inst.Spec.Python.Image = tc.image
			for _, validate := range []func() (admission.Warnings, error){
				func() (admission.Warnings, error) { return w.ValidateCreate(context.Background(), inst) },
				func() (admission.Warnings, error) { return w.ValidateUpdate(context.Background(), inst, inst) },
			} {
				warnings, err := validate()
				if err != nil {
					t.Fatal(err)
				}
				if tc.want == nil {
					if len(warnings) != 0 {
						t.Errorf("unexpected warnings %q", warnings)
					}
					continue
				}
				if len(warnings) != 1 {
					t.Fatalf("warnings %q, want exactly one", warnings)
				}
				for _, s := range tc.want {
					if !strings.Contains(warnings[0], s) {
						t.Errorf("warning %q lacks %q", warnings[0], s)
					}
				}
			}
		})
	}
}
