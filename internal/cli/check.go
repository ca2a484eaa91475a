package cli

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/cobra"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/autotel/autotel/api/v1alpha1"
	"github.com/autotel/autotel/internal/instrumentation"
)

const podWebhookName = "mpod.kb.io"

func check(cmd *cobra.Command, flags *kubeFlags) error {
	c, err := flags.client()
	if err != nil {
		return err
	}
	failures := Check(cmd.Context(), cmd.OutOrStdout(), c, time.Now())
	if failures > 0 {
		return fmt.Errorf("%d check(s) failed", failures)
	}
	return nil
}

// checker prints one line per check and counts failures.
type checker struct {
	w        io.Writer
	failures int
}

func (k *checker) ok(format string, a ...any)   { fmt.Fprintf(k.w, "ok    "+format+"\n", a...) }
func (k *checker) warn(format string, a ...any) { fmt.Fprintf(k.w, "warn  "+format+"\n", a...) }
func (k *checker) fail(format string, a ...any) {
	k.failures++
	fmt.Fprintf(k.w, "FAIL  "+format+"\n", a...)
}

// Check verifies an installation end to end and returns the number of
// failed checks: the CRD is served, the pod webhook is registered with a
// valid certificate, the API server actually reaches it (a server-side
// dry-run pod comes back instrumented), and every Instrumentation's
// exporter endpoint names a Service that exists and has ready endpoints;
// then every OpenTelemetryCollector (checkCollectors).
func Check(ctx context.Context, w io.Writer, c client.Client, now time.Time) int {
	k := &checker{w: w}
	if _, err := c.RESTMapper().RESTMapping(schema.GroupKind{Group: "opentelemetry.io", Kind: "Instrumentation"}, "v1alpha1"); err != nil {
		k.fail("Instrumentation CRD (opentelemetry.io/v1alpha1) is not served: %v — install the CRDs", err)
		return k.failures
	}
	k.ok("Instrumentation CRD is served")

	checkWebhookConfig(ctx, k, c, now)

	var insts v1alpha1.InstrumentationList
	if err := c.List(ctx, &insts); err != nil {
		k.fail("listing Instrumentations: %v", err)
		return k.failures
	}
	if len(insts.Items) == 0 {
		k.warn("no Instrumentation in the cluster: nothing to inject, and the webhook cannot be exercised")
	} else {
		checkWebhookInjects(ctx, k, c, &insts.Items[0])
	}
	for i := range insts.Items {
		checkEndpoint(ctx, k, c, &insts.Items[i])
	}
	checkCollectors(ctx, k, c)
	checkSettings(ctx, k, c, insts.Items)
	return k.failures
}

func checkWebhookConfig(ctx context.Context, k *checker, c client.Client, now time.Time) {
	var list admissionregistrationv1.MutatingWebhookConfigurationList
	if err := c.List(ctx, &list); err != nil {
		k.fail("listing MutatingWebhookConfigurations: %v", err)
		return
	}
	for _, cfg := range list.Items {
		for _, wh := range cfg.Webhooks {
			if wh.Name != podWebhookName {
				continue
			}
			k.ok("pod webhook %s registered in %s (failurePolicy %s)", wh.Name, cfg.Name, ptrString(wh.FailurePolicy))
			if len(wh.ClientConfig.CABundle) == 0 {
				k.fail("pod webhook has no caBundle: the API server cannot verify it (certificates not injected yet?)")
				return
			}
			block, _ := pem.Decode(wh.ClientConfig.CABundle)
			if block == nil {
				k.fail("pod webhook caBundle is not PEM")
				return
			}
			ca, err := x509.ParseCertificate(block.Bytes)
			if err != nil {
				k.fail("pod webhook caBundle does not parse: %v", err)
				return
			}
			switch left := ca.NotAfter.Sub(now); {
			case left <= 0:
				k.fail("webhook CA expired at %s", ca.NotAfter.Format(time.RFC3339))
			case left < 72*time.Hour:
				k.warn("webhook CA expires in %s (%s)", left.Round(time.Hour), ca.NotAfter.Format(time.RFC3339))
			default:
				k.ok("webhook CA valid until %s", ca.NotAfter.Format(time.RFC3339))
			}
			return
		}
	}
	k.fail("no MutatingWebhookConfiguration has the pod webhook %s: pods cannot be instrumented", podWebhookName)
}

// checkWebhookInjects proves the API server reaches the webhook: a
// server-side dry-run create runs admission without storing anything.
func checkWebhookInjects(ctx context.Context, k *checker, c client.Client, inst *v1alpha1.Instrumentation) {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "autotel-check-", Namespace: inst.Namespace,
			Annotations: map[string]string{instrumentation.SDK.InjectAnnotation(): inst.Name}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "check", Image: "autotel-check"}}},
	}
	if err := c.Create(ctx, pod, client.DryRunAll); err != nil {
		k.fail("dry-run pod create in %s failed: %v", inst.Namespace, err)
		return
	}
	for _, e := range pod.Spec.Containers[0].Env {
		if e.Name == "OTEL_RESOURCE_ATTRIBUTES" {
			k.ok("API server reaches the pod webhook: a dry-run pod in %s came back instrumented by %s", inst.Namespace, inst.Name)
			return
		}
	}
	k.fail("a dry-run pod asking for %s/%s came back uninstrumented: the webhook is unreachable (failurePolicy Ignore hides it) — check the operator pod, its Service and certificates", inst.Namespace, inst.Name)
}

// checkEndpoint resolves an exporter endpoint the way cluster DNS would
// for a pod in the Instrumentation's namespace, to the Service behind it.
func checkEndpoint(ctx context.Context, k *checker, c client.Client, inst *v1alpha1.Instrumentation) {
	ref := inst.Namespace + "/" + inst.Name
	if inst.Spec.Exporter.Endpoint == "" {
		k.warn("%s: no exporter.endpoint; SDKs fall back to localhost", ref)
		return
	}
	u, err := url.Parse(inst.Spec.Exporter.Endpoint)
	if err != nil || u.Hostname() == "" {
		k.fail("%s: exporter.endpoint %q is not a URL", ref, inst.Spec.Exporter.Endpoint)
		return
	}
	host := u.Hostname()
	if net.ParseIP(host) != nil || strings.Contains(host, "$(") || host == "localhost" {
		k.ok("%s: endpoint %s is an address, not a Service name", ref, inst.Spec.Exporter.Endpoint)
		return
	}
	name, namespace, ok := serviceOf(host, inst.Namespace)
	if !ok {
		k.warn("%s: endpoint host %s is outside the cluster's service domain; not checked", ref, host)
		return
	}
	for hops := 0; hops < 3; hops++ {
		var svc corev1.Service
		if err := c.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, &svc); err != nil {
			k.fail("%s: endpoint %s: Service %s/%s not found (%v)", ref, inst.Spec.Exporter.Endpoint, namespace, name, err)
			return
		}
		if svc.Spec.Type == corev1.ServiceTypeExternalName {
			n, ns, ok := serviceOf(svc.Spec.ExternalName, namespace)
			if !ok {
				k.ok("%s: endpoint %s → ExternalName %s (outside the cluster, not checked)", ref, inst.Spec.Exporter.Endpoint, svc.Spec.ExternalName)
				return
			}
			name, namespace = n, ns
			continue
		}
		ready, err := readyEndpoints(ctx, c, namespace, name)
		if err != nil {
			k.fail("%s: %v", ref, err)
			return
		}
		if ready == 0 {
			k.fail("%s: endpoint %s resolves to Service %s/%s, which has no ready endpoints (is the collector running?)", ref, inst.Spec.Exporter.Endpoint, namespace, name)
			return
		}
		k.ok("%s: endpoint %s resolves to Service %s/%s with %d ready endpoint(s)", ref, inst.Spec.Exporter.Endpoint, namespace, name, ready)
		return
	}
	k.fail("%s: endpoint %s: ExternalName chain too long", ref, inst.Spec.Exporter.Endpoint)
}

// readyEndpoints counts the ready endpoints of a Service's EndpointSlices.
func readyEndpoints(ctx context.Context, c client.Client, namespace, name string) (int, error) {
	var slices discoveryv1.EndpointSliceList
	if err := c.List(ctx, &slices, client.InNamespace(namespace), client.MatchingLabels{discoveryv1.LabelServiceName: name}); err != nil {
		return 0, fmt.Errorf("listing endpoints of Service %s/%s: %w", namespace, name, err)
	}
	ready := 0
	for _, s := range slices.Items {
		for _, e := range s.Endpoints {
			if e.Conditions.Ready == nil || *e.Conditions.Ready {
				ready++
			}
		}
	}
	return ready, nil
}

// serviceOf maps a DNS name to a Service as cluster DNS search paths do:
// "svc" (the pod's namespace), "svc.ns", "svc.ns.svc", "svc.ns.svc.<domain>".
func serviceOf(host, podNamespace string) (name, namespace string, ok bool) {
	parts := strings.Split(strings.TrimSuffix(host, "."), ".")
	switch {
	case len(parts) == 1:
		return parts[0], podNamespace, true
	case len(parts) == 2:
		return parts[0], parts[1], true
	case len(parts) >= 3 && parts[2] == "svc":
		return parts[0], parts[1], true
	}
	return "", "", false
}

func ptrString[T ~string](p *T) string {
	if p == nil {
		return ""
	}
	return string(*p)
}
