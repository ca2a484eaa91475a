package operator

import (
	"flag"
	"fmt"
	"maps"
	"slices"

	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/autotel/autotel/api/v1beta1"
	"github.com/autotel/autotel/internal/collectorbuild"
	"github.com/autotel/autotel/internal/controllers"
	"github.com/autotel/autotel/internal/webhook/collectorwebhook"
)

// The OpenTelemetryCollector half of the operator: its scheme, flags, cache
// settings, controller and webhooks, called from NewManager.

// CollectorCRDName is the CustomResourceDefinition of OpenTelemetryCollector;
// its conversion webhook's caBundle is kept current in self-managed
// certificate mode.
const CollectorCRDName = "opentelemetrycollectors.opentelemetry.io"

func addCollectorScheme(s *runtime.Scheme) {
	if err := v1beta1.AddToScheme(s); err != nil {
		panic(err) // static registration; cannot fail at run time
	}
}

func bindCollectorFlags(fs *flag.FlagSet, o *Options) {
	fs.StringVar(&o.CollectorImage, "collector-image", o.CollectorImage,
		"default image of OpenTelemetryCollectors without spec.image (autotel-collector); its components are checked on admission")
	fs.BoolVar(&o.EnableCollector, "enable-collector-controller", o.EnableCollector,
		"reconcile OpenTelemetryCollectors and serve their webhooks (skipped anyway when the OpenTelemetryCollector CRD is not installed)")
}

// collectorActive tells whether the collector controller and webhooks run:
// asked for, and the CRD installed. An operator from a chart or kustomize
// base without the CRD (older ones had only Instrumentation) would otherwise
// fail to start, its controller waiting forever for a kind the API server
// does not serve.
func collectorActive(cfg *rest.Config, o Options, log logr.Logger) (bool, error) {
	if !o.EnableCollector {
		log.Info("OpenTelemetryCollector controller off (--enable-collector-controller=false)")
		return false, nil
	}
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return false, fmt.Errorf("creating a discovery client to look for the OpenTelemetryCollector CRD: %w", err)
	}
	gv := v1beta1.GroupVersion.String()
	list, err := dc.ServerResourcesForGroupVersion(gv)
	if apierrors.IsNotFound(err) {
		list, err = nil, nil
	}
	if err != nil {
		return false, fmt.Errorf("looking for the OpenTelemetryCollector CRD (%s) through discovery: %w", gv, err)
	}
	if list == nil || !slices.ContainsFunc(list.APIResources, func(r metav1.APIResource) bool { return r.Name == "opentelemetrycollectors" }) {
		log.Info("OpenTelemetryCollector CRD not installed: collector controller and webhooks skipped (install the CRD and restart the operator to manage collectors)", "crd", CollectorCRDName)
		return false, nil
	}
	return true, nil
}

// withCollectorCache adds the cache settings of the kinds collectors own.
func withCollectorCache(m map[client.Object]cache.ByObject) map[client.Object]cache.ByObject {
	maps.Copy(m, controllers.CollectorCacheByObject())
	return m
}

func setupCollectorController(mgr ctrl.Manager, o Options, log logr.Logger, rollout *controllers.Rollout) error {
	r := &controllers.Collector{
		Client: mgr.GetClient(), Scheme: mgr.GetScheme(),
		Recorder: mgr.GetEventRecorderFor("autotel-collector"), Log: log.WithName("collector"), //nolint:staticcheck // SA1019: core/v1 Events, as the rollout controller (operator.go).
		Build: collectorbuild.Options{Image: o.CollectorImage},
	}
	if err := r.SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up the OpenTelemetryCollector controller: %w", err)
	}
	if err := (&controllers.SidecarRollout{Rollout: rollout}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up the collector sidecar rollout: %w", err)
	}
	return nil
}

func registerCollectorWebhooks(mgr ctrl.Manager, o Options) error {
	return (&collectorwebhook.Webhook{Build: collectorbuild.Options{Image: o.CollectorImage}}).SetupWithManager(mgr)
}
