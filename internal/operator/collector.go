package operator

import (
	"flag"
	"fmt"
	"maps"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/runtime"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/autotel/autotel/api/v1beta1"
	"github.com/autotel/autotel/internal/collectorbuild"
	"github.com/autotel/autotel/internal/controllers"
	"github.com/autotel/autotel/internal/webhook/collectorwebhook"
)

// The OpenTelemetryCollector half of the operator: its scheme, flag, cache
// settings, controller and webhooks, called from NewManager.

func addCollectorScheme(s *runtime.Scheme) {
	if err := v1beta1.AddToScheme(s); err != nil {
		panic(err) // static registration; cannot fail at run time
	}
}

func bindCollectorFlags(fs *flag.FlagSet, o *Options) {
	fs.StringVar(&o.CollectorImage, "collector-image", o.CollectorImage,
		"default image of OpenTelemetryCollectors without spec.image (autotel-collector); its components are checked on admission")
}

// withCollectorCache adds the cache settings of the kinds collectors own.
func withCollectorCache(m map[client.Object]cache.ByObject) map[client.Object]cache.ByObject {
	maps.Copy(m, controllers.CollectorCacheByObject())
	return m
}

func setupCollectorController(mgr ctrl.Manager, o Options, log logr.Logger) error {
	r := &controllers.Collector{
		Client: mgr.GetClient(), Scheme: mgr.GetScheme(),
		Recorder: mgr.GetEventRecorderFor("autotel-collector"), Log: log.WithName("collector"),
		Build: collectorbuild.Options{Image: o.CollectorImage},
	}
	if err := r.SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up the OpenTelemetryCollector controller: %w", err)
	}
	return nil
}

func registerCollectorWebhooks(mgr ctrl.Manager, o Options) error {
	return (&collectorwebhook.Webhook{Build: collectorbuild.Options{Image: o.CollectorImage}}).SetupWithManager(mgr)
}
