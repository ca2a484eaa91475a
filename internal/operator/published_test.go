package operator

import (
	"context"
	"flag"
	"strings"
	"testing"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/autotel/autotel/internal/instrumentation"
	"github.com/autotel/autotel/internal/webhook/instrumentationwebhook"
)

// TestPublishedFollowsFlags: what the operator publishes is what its flags
// parsed, and reading it back gives the same images.
func TestPublishedFollowsFlags(t *testing.T) {
	o := DefaultOptions()
	if o.SkipControllerNameValidation {
		t.Errorf("controller name validation must be on unless a test turns it off")
	}
	fs := flag.NewFlagSet("operator", flag.ContinueOnError)
	o.BindFlags(fs)
	if err := fs.Parse([]string{"--auto-instrumentation-python-image=py:2", "--auto-instrumentation-python-logs-image=logs:2",
		"--pod-status-annotations", "--enable-nodejs-instrumentation=false", "--enable-go-instrumentation=true", "--enable-multi-instrumentation=false"}); err != nil {
		t.Fatal(err)
	}
	p := o.Published()
	if !p.Injection.PodStatusAnnotations || p.Injection.MultiInstrumentation || p.Injection.Enabled[instrumentation.NodeJS] || !p.Injection.Enabled[instrumentation.Go] {
		t.Errorf("published injection settings %+v do not follow the flags", p.Injection)
	}
	if p.Images["python"] != "py:2" || p.Images["python-logs"] != "logs:2" || p.Images["java"] != instrumentationwebhook.DefaultImages().Java {
		t.Errorf("published images %v", p.Images)
	}
	if got := p.WebhookImages(); got != o.Images {
		t.Errorf("images read back %+v, want %+v", got, o.Images)
	}
}

func TestPublisherCreatesAndUpdates(t *testing.T) {
	key := types.NamespacedName{Namespace: "autotel-system", Name: DefaultInjectionConfigName}
	c := fake.NewClientBuilder().WithScheme(Scheme()).Build()
	o := DefaultOptions()
	p := &configPublisher{key: key, config: o.Published(), reader: c, writer: c, log: logr.Discard()}
	ctx := context.Background()
	if err := p.publish(ctx); err != nil {
		t.Fatal(err)
	}
	var cm corev1.ConfigMap
	if err := c.Get(ctx, key, &cm); err != nil {
		t.Fatal(err)
	}
	if cm.Labels[InjectionConfigLabel] != "true" {
		t.Errorf("labels %v", cm.Labels)
	}
	got, err := ReadPublishedConfig(&cm)
	if err != nil || got.Images["python"] != o.Images.Python || !got.Injection.Enabled[instrumentation.Python] {
		t.Fatalf("read back %+v, %v", got, err)
	}

	// A restarted operator with other settings replaces the content.
	o.Injection.PodStatusAnnotations = true
	p.config = o.Published()
	if err := p.publish(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Get(ctx, key, &cm); err != nil {
		t.Fatal(err)
	}
	if got, _ := ReadPublishedConfig(&cm); !got.Injection.PodStatusAnnotations {
		t.Errorf("ConfigMap not updated: %s", cm.Data[InjectionConfigKey])
	}
}

func TestReadPublishedConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		data map[string]string
		want string
	}{
		{nil, "has no injection.json key"},
		{map[string]string{InjectionConfigKey: "{"}, "is not valid JSON"},
		{map[string]string{InjectionConfigKey: "{}"}, "lacks injection.enabled"},
	} {
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "cm"}, Data: tc.data}
		if _, err := ReadPublishedConfig(cm); err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "ns/cm") {
			t.Errorf("data %v: error %v, want one naming ns/cm and %q", tc.data, err, tc.want)
		}
	}
}
