// +kubebuilder:rbac:groups=coordination.k8s.io,resources=leases,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups="",resources=configmaps,verbs=get;create;update

// Package operator wires the webhooks into a controller-runtime manager.
// cmd/operator runs it against a cluster; cmd/autotel-local runs the same
// wiring against a control plane it starts itself.
package operator

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"golang.org/x/time/rate"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/autotel/autotel/api/v1alpha1"
	"github.com/autotel/autotel/internal/collectorbuild"
	"github.com/autotel/autotel/internal/controllers"
	"github.com/autotel/autotel/internal/instrumentation"
	"github.com/autotel/autotel/internal/webhook/instrumentationwebhook"
	"github.com/autotel/autotel/internal/webhook/podwebhook"
)

// Options are the operator's settings; flag names follow upstream's so
// existing deployments' args keep working.
type Options struct {
	MetricsAddr      string
	ProbeAddr        string
	LeaderElection   bool
	LeaderElectionNS string
	WebhookHost      string
	WebhookPort      int
	CertDir          string
	Injection        instrumentation.Config
	Images           instrumentationwebhook.Images
	// InjectionConfig is the ConfigMap the operator publishes Injection and
	// Images in, for the CLI (see published.go); an empty name disables it.
	InjectionConfig types.NamespacedName
	Certs           CertOptions
	// RolloutPerMinute caps workload restarts; RolloutResync re-checks
	// without events.
	RolloutPerMinute float64
	RolloutResync    time.Duration
	// CollectorImage is the image of OpenTelemetryCollectors without spec.image.
	CollectorImage string
	// EnableCollector runs the OpenTelemetryCollector controller and
	// webhooks (when the CRD is installed).
	EnableCollector bool
	// SkipControllerNameValidation lets several managers run in one
	// process, which only tests do (operator replicas sharing certificates,
	// a second operator with other flags). Not a flag: in a real process
	// a duplicate controller name is a bug worth failing on, since the
	// controllers' metrics are labelled by name.
	SkipControllerNameValidation bool
	// MatchConditionsMaxNamespaces bounds the namespace names written into
	// the pod webhook's matchConditions; 0 leaves the webhook without them.
	MatchConditionsMaxNamespaces int
	// PprofAddr serves net/http/pprof (heap, CPU) for profiling the
	// operator under load (the scale tier); empty disables it.
	PprofAddr string
	// Rollback: when an injected workload's pods count as failing
	// (docs/rollback.md).
	Rollback controllers.Thresholds
}

// DefaultOptions are upstream's defaults.
func DefaultOptions() Options {
	return Options{
		MetricsAddr:      ":8080",
		ProbeAddr:        ":8081",
		WebhookPort:      9443,
		Injection:        instrumentation.DefaultConfig(),
		Images:           instrumentationwebhook.DefaultImages(),
		InjectionConfig:  types.NamespacedName{Namespace: operatorNamespace(), Name: DefaultInjectionConfigName},
		RolloutPerMinute: 6,
		RolloutResync:    5 * time.Minute,
		// Names up to 63 bytes: 1,000 of them stay below the API server's
		// 100,000-character limit on a CEL expression.
		MatchConditionsMaxNamespaces: 1000,
		CollectorImage:               collectorbuild.DefaultImage,
		EnableCollector:              true,
		Rollback:                     controllers.DefaultThresholds,
		Certs: CertOptions{
			Mode:           certModeSelf,
			Secret:         types.NamespacedName{Namespace: operatorNamespace(), Name: "autotel-webhook-cert"},
			DNSName:        "autotel-webhook." + operatorNamespace() + ".svc",
			MutatingName:   "autotel-mutating-webhook-configuration",
			ValidatingName: "autotel-validating-webhook-configuration",
		},
	}
}

// operatorNamespace is the pod's namespace (downward API), else autotel's
// default install namespace.
func operatorNamespace() string {
	if ns := os.Getenv("POD_NAMESPACE"); ns != "" {
		return ns
	}
	return "autotel-system"
}

// BindFlags registers the options on a flag set.
func (o *Options) BindFlags(fs *flag.FlagSet) {
	fs.StringVar(&o.MetricsAddr, "metrics-addr", o.MetricsAddr, "address the metrics endpoint binds to (0 disables it)")
	fs.StringVar(&o.ProbeAddr, "health-probe-addr", o.ProbeAddr, "address the health and readiness probes bind to")
	fs.BoolVar(&o.LeaderElection, "enable-leader-election", o.LeaderElection, "elect a leader among replicas (webhooks are served by every replica regardless)")
	fs.StringVar(&o.LeaderElectionNS, "leader-election-namespace", o.LeaderElectionNS, "namespace of the leader election lease (default: the pod's)")
	fs.StringVar(&o.WebhookHost, "webhook-host", o.WebhookHost, "address the webhook server binds to (default: all)")
	fs.IntVar(&o.WebhookPort, "webhook-port", o.WebhookPort, "port the webhook server listens on")
	fs.StringVar(&o.CertDir, "webhook-cert-dir", o.CertDir, "folder holding tls.crt and tls.key for the webhook server (default: controller-runtime's)")
	fs.BoolVar(&o.Injection.PodStatusAnnotations, "pod-status-annotations", o.Injection.PodStatusAnnotations, "write the injection decision into every pod that asked for injection (annotation "+instrumentation.StatusAnnotation+"); off keeps pods identical to upstream's")
	fs.StringVar(&o.Certs.Mode, "webhook-cert-mode", o.Certs.Mode, "self: the operator creates, rotates and injects its webhook certificates (no cert-manager); external: serve the certificate found in the cert dir (cert-manager or your own)")
	fs.StringVar(&o.Certs.Secret.Namespace, "webhook-cert-secret-namespace", o.Certs.Secret.Namespace, "namespace of the Secret holding self-managed certificates")
	fs.StringVar(&o.Certs.Secret.Name, "webhook-cert-secret", o.Certs.Secret.Name, "Secret holding self-managed certificates")
	fs.StringVar(&o.Certs.DNSName, "webhook-dns-name", o.Certs.DNSName, "DNS name of the webhook Service the certificate is issued for")
	fs.Func("webhook-extra-dns-names", "extra DNS names for the self-managed serving certificate, comma-separated (e.g. localhost when the API server calls the webhook by URL)", func(v string) error {
		o.Certs.ExtraDNSNames = nil
		for _, n := range strings.Split(v, ",") {
			if n = strings.TrimSpace(n); n != "" {
				o.Certs.ExtraDNSNames = append(o.Certs.ExtraDNSNames, n)
			}
		}
		return nil
	})
	fs.StringVar(&o.Certs.MutatingName, "mutating-webhook-configuration", o.Certs.MutatingName, "MutatingWebhookConfiguration whose caBundle the operator keeps current")
	fs.StringVar(&o.Certs.ValidatingName, "validating-webhook-configuration", o.Certs.ValidatingName, "ValidatingWebhookConfiguration whose caBundle the operator keeps current")
	fs.BoolVar(&o.Certs.WriteFiles, "webhook-cert-write-files", o.Certs.WriteFiles, "write the self-managed certificate into the cert dir (when running outside a pod)")
	fs.Float64Var(&o.RolloutPerMinute, "rollout-max-per-minute", o.RolloutPerMinute, "most workload restarts per minute for rollout on change, cluster-wide")
	fs.DurationVar(&o.RolloutResync, "rollout-resync", o.RolloutResync, "how often outdated and missed pods are looked for without an event")
	fs.IntVar(&o.MatchConditionsMaxNamespaces, "webhook-match-conditions-max-namespaces", o.MatchConditionsMaxNamespaces,
		"most namespace names the operator writes into the pod webhook's matchConditions (so only pods that can be injected reach it); above that, or 0, every pod reaches the webhook")
	fs.BoolVar(&o.Injection.MultiInstrumentation, "enable-multi-instrumentation", o.Injection.MultiInstrumentation, "allow several languages in one pod, each naming its containers")
	for _, l := range instrumentation.Languages {
		if l == instrumentation.SDK {
			continue
		}
		fs.Func("enable-"+string(l)+"-instrumentation", fmt.Sprintf("inject %s when asked (default %t)", l, o.Injection.Enabled[l]), boolSetter(o.Injection.Enabled, l))
	}
	for _, f := range imageFlags(&o.Images) {
		fs.StringVar(f.ptr, "auto-instrumentation-"+f.key+"-image", *f.ptr, f.usage)
	}
	fs.StringVar(&o.PprofAddr, "pprof-addr", o.PprofAddr, "address net/http/pprof binds to, for profiling (empty disables it)")
	fs.StringVar(&o.InjectionConfig.Name, "injection-config-name", o.InjectionConfig.Name,
		"ConfigMap in the operator's namespace the injection settings are published in, read by autotel inject and autotel explain (empty: not published)")
	bindCollectorFlags(fs, o)
	bindRollbackFlags(fs, o)
}

func boolSetter(m map[instrumentation.Language]bool, l instrumentation.Language) func(string) error {
	return func(s string) error {
		switch s {
		case "true", "1":
			m[l] = true
		case "false", "0":
			m[l] = false
		default:
			return fmt.Errorf("want true or false, got %q", s)
		}
		return nil
	}
}

// Scheme holds every type the operator reads.
func Scheme() *runtime.Scheme {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		panic(err) // static registration; cannot fail at run time
	}
	if err := v1alpha1.AddToScheme(s); err != nil {
		panic(err)
	}
	addCollectorScheme(s)
	return s
}

// NewManager builds a manager serving the pod and Instrumentation webhooks.
func NewManager(cfg *rest.Config, o Options, log logr.Logger) (ctrl.Manager, error) {
	o.Injection.CollectorImage = o.CollectorImage // the sidecar's default image: the one --collector-image
	scheme := Scheme()
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                  scheme,
		Logger:                  log,
		Metrics:                 metricsserver.Options{BindAddress: o.MetricsAddr},
		HealthProbeBindAddress:  o.ProbeAddr,
		PprofBindAddress:        o.PprofAddr,
		LeaderElection:          o.LeaderElection,
		LeaderElectionID:        "autotel-operator.opentelemetry.io",
		LeaderElectionNamespace: o.LeaderElectionNS,
		WebhookServer: webhook.NewServer(webhook.Options{
			Host:    o.WebhookHost,
			Port:    o.WebhookPort,
			CertDir: o.CertDir,
		}),
		Controller: config.Controller{SkipNameValidation: ptr.To(o.SkipControllerNameValidation)},
		// Only what admission reads per pod is cached; see ClientLookup.
		// No cached object's managed fields are read (annotatedAt reads a
		// namespace's from the API server): not held per object (issue 15).
		Cache: cache.Options{DefaultTransform: cache.TransformStripManagedFields(), ByObject: withCollectorCache(map[client.Object]cache.ByObject{
			&corev1.Namespace{}:         {},
			&v1alpha1.Instrumentation{}: {},
			// Every pod, slimmed to names, images, env and metadata: status
			// counts the injected pods that carry no status annotation.
			// The rollback detector also reads container states.
			&corev1.Pod{}: {Transform: controllers.SlimPodWithStatus},
		})},
	})
	if err != nil {
		return nil, fmt.Errorf("creating manager: %w", err)
	}

	rollout := &controllers.Rollout{
		Client: mgr.GetClient(), Reader: mgr.GetAPIReader(),
		// core/v1 Events, like upstream's operator: the events.k8s.io recorder
		// needs other RBAC (config/rbac and the chart) and another interface.
		Recorder: mgr.GetEventRecorderFor("autotel-rollout"), Log: log.WithName("rollout"), //nolint:staticcheck // SA1019: see above.
		Limiter: rate.NewLimiter(rate.Limit(o.RolloutPerMinute/60), 3),
		Resync:  o.RolloutResync,
		// Status without opt-in: PODS and OUTDATED for every Instrumentation.
		Unrecorded: &controllers.UnrecordedPods{Client: mgr.GetClient()},
	}
	if err := rollout.SetupWithManager(mgr); err != nil {
		return nil, fmt.Errorf("setting up rollout: %w", err)
	}
	if err := (&controllers.Rollback{Rollout: rollout, Thresholds: o.Rollback}).SetupWithManager(mgr); err != nil {
		return nil, fmt.Errorf("setting up rollback: %w", err)
	}
	if err := mgr.Add(&controllers.MissedPods{Rollout: rollout, Reader: mgr.GetAPIReader(), Every: o.RolloutResync}); err != nil {
		return nil, err
	}
	// Only pods that can be injected reach the pod webhook (issue 15).
	if o.Certs.MutatingName != "" {
		if err := mgr.Add(&controllers.MatchConditions{Client: mgr.GetClient(), Reader: mgr.GetAPIReader(), Cache: mgr.GetCache(),
			Configuration: o.Certs.MutatingName, Webhook: "mpod.kb.io", // the pod webhook marker's name (config/webhook)
			MaxNamespaces: o.MatchConditionsMaxNamespaces,
			Rollout:       rollout, Settle: 2 * time.Second}); err != nil {
			return nil, fmt.Errorf("adding the match conditions writer: %w", err)
		}
	}

	if o.InjectionConfig.Name != "" {
		if err := mgr.Add(&configPublisher{key: o.InjectionConfig, config: o.Published(),
			reader: mgr.GetAPIReader(), writer: mgr.GetClient(), log: log.WithName("injection-config")}); err != nil {
			return nil, fmt.Errorf("adding the injection settings publisher: %w", err)
		}
	}
	collector, err := collectorActive(cfg, o, log)
	if err != nil {
		return nil, err
	}
	if collector {
		if err := setupCollectorController(mgr, o, log, rollout); err != nil {
			return nil, err
		}
	}

	certsReady, err := setupCerts(mgr, o, collector, log.WithName("certs"))
	if err != nil {
		return nil, err
	}
	// The webhook server starts when first requested from the manager; it
	// needs its certificate files then, so registration waits for them.
	registered := make(chan struct{})
	register := func() error {
		defer close(registered)
		if err := (&instrumentationwebhook.Webhook{Images: o.Images}).SetupWithManager(mgr); err != nil {
			return fmt.Errorf("registering Instrumentation webhooks: %w", err)
		}
		if collector {
			if err := registerCollectorWebhooks(mgr, o); err != nil {
				return err
			}
		}
		mgr.GetWebhookServer().Register(podwebhook.Path, &webhook.Admission{Handler: &podwebhook.Handler{
			Mutator:  instrumentation.Mutator{Config: o.Injection},
			Lookup:   podwebhook.ClientLookup{Cached: mgr.GetClient(), Direct: mgr.GetAPIReader()},
			Cached:   mgr.GetClient(),
			Decoder:  admission.NewDecoder(scheme),
			Recorder: mgr.GetEventRecorderFor("autotel-operator"), //nolint:staticcheck // SA1019: core/v1 Events, as for the rollout controller above.
			Log:      log.WithName("pod-webhook"),
		}})
		return nil
	}
	if err := mgr.Add(manager.RunnableFunc(func(ctx context.Context) error {
		select {
		case <-certsReady:
			return register()
		case <-ctx.Done():
			return nil
		}
	})); err != nil {
		return nil, err
	}

	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return nil, fmt.Errorf("adding health check: %w", err)
	}
	if err := mgr.AddReadyzCheck("webhook", func(req *http.Request) error {
		select {
		case <-registered:
			return mgr.GetWebhookServer().StartedChecker()(req)
		default:
			return errors.New("webhook certificates not ready yet")
		}
	}); err != nil {
		return nil, fmt.Errorf("adding readiness check: %w", err)
	}
	return mgr, nil
}

// Run builds the manager and serves until ctx ends.
func Run(ctx context.Context, cfg *rest.Config, o Options, log logr.Logger) error {
	mgr, err := NewManager(cfg, o, log)
	if err != nil {
		return err
	}
	log.Info("starting autotel operator", "webhookPort", o.WebhookPort, "injection", fmt.Sprintf("%+v", o.Injection))
	return mgr.Start(ctx)
}
