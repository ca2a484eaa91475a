// Package collectorwebhook validates OpenTelemetryCollectors and serves the
// v1alpha1 <-> v1beta1 conversion webhook.
package collectorwebhook

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/autotel/autotel/api/v1beta1"
	"github.com/autotel/autotel/internal/collectorbuild"
)

// +kubebuilder:webhook:path=/mutate-opentelemetry-io-v1beta1-opentelemetrycollector,mutating=true,failurePolicy=fail,sideEffects=None,groups=opentelemetry.io,resources=opentelemetrycollectors,verbs=create;update,versions=v1beta1,name=mopentelemetrycollectorbeta.kb.io,admissionReviewVersions=v1
// +kubebuilder:webhook:path=/validate-opentelemetry-io-v1beta1-opentelemetrycollector,mutating=false,failurePolicy=fail,sideEffects=None,groups=opentelemetry.io,resources=opentelemetrycollectors,verbs=create;update,versions=v1beta1,name=vopentelemetrycollectorcreateupdatebeta.kb.io,admissionReviewVersions=v1

// Webhook validates collectors. Build carries the operator's default image:
// the component check applies only to collectors running it.
type Webhook struct {
	Build collectorbuild.Options
}

// SetupWithManager registers the validating webhook and, because v1alpha1
// converts through the v1beta1 hub, the /convert endpoint.
func (w *Webhook) SetupWithManager(mgr ctrl.Manager) error {
	if err := ctrl.NewWebhookManagedBy(mgr, &v1beta1.OpenTelemetryCollector{}).WithDefaulter(w).WithValidator(w).Complete(); err != nil {
		return fmt.Errorf("registering OpenTelemetryCollector webhooks: %w", err)
	}
	return nil
}

// Default fills what upstream's defaulting webhook fills, so stored
// resources look the same: an empty upgradeStrategy or mode from a typed
// client (the CRD's defaults only cover absent fields), replicas, the
// autoscaler's minimum and CPU target, the PodDisruptionBudget, and the
// managed-by label.
func (w *Webhook) Default(_ context.Context, c *v1beta1.OpenTelemetryCollector) error {
	collectorbuild.Default(c)
	if c.Labels == nil {
		c.Labels = map[string]string{}
	}
	if c.Labels[collectorbuild.LabelManagedBy] == "" {
		c.Labels[collectorbuild.LabelManagedBy] = collectorbuild.ManagedByValue
	}
	return nil
}

// ValidateCreate checks a new collector.
func (w *Webhook) ValidateCreate(_ context.Context, c *v1beta1.OpenTelemetryCollector) (admission.Warnings, error) {
	return w.validate(c)
}

// ValidateUpdate checks a changed collector.
func (w *Webhook) ValidateUpdate(_ context.Context, _, c *v1beta1.OpenTelemetryCollector) (admission.Warnings, error) {
	return w.validate(c)
}

// ValidateDelete allows every delete.
func (w *Webhook) ValidateDelete(context.Context, *v1beta1.OpenTelemetryCollector) (admission.Warnings, error) {
	return nil, nil
}

func (w *Webhook) validate(c *v1beta1.OpenTelemetryCollector) (admission.Warnings, error) {
	var errs field.ErrorList
	spec := field.NewPath("spec")
	if w.runsDefaultImage(c) {
		errs = append(errs, missingComponents(c.Spec.Config, collectorbuild.Image(c, w.Build))...)
	}
	if a := c.Spec.Autoscaler; a != nil {
		p := spec.Child("autoscaler")
		if a.MaxReplicas != nil && *a.MaxReplicas < 1 {
			errs = append(errs, field.Invalid(p.Child("maxReplicas"), *a.MaxReplicas, "must be at least 1"))
		}
		if a.MinReplicas != nil && *a.MinReplicas < 1 {
			errs = append(errs, field.Invalid(p.Child("minReplicas"), *a.MinReplicas, "must be at least 1"))
		}
		if a.MaxReplicas != nil && a.MinReplicas != nil && *a.MinReplicas > *a.MaxReplicas {
			errs = append(errs, field.Invalid(p.Child("minReplicas"), *a.MinReplicas, "must not exceed maxReplicas"))
		}
		for name, v := range map[string]*int32{"targetCPUUtilization": a.TargetCPUUtilization, "targetMemoryUtilization": a.TargetMemoryUtilization} {
			if v != nil && (*v < 1 || *v > 99) {
				errs = append(errs, field.Invalid(p.Child(name), *v, "must be between 1 and 99"))
			}
		}
	}
	if c.Spec.Mode == v1beta1.ModeSidecar && c.Spec.Ingress != nil && len(c.Spec.Ingress.Raw) > 2 {
		errs = append(errs, field.Invalid(spec.Child("ingress"), "", "sidecar mode has no Service to expose: remove spec.ingress or choose another mode"))
	}
	warnings := notRunWarnings(c)
	if len(errs) > 0 {
		return warnings, errs.ToAggregate()
	}
	return warnings, nil
}

// runsDefaultImage: the collector runs autotel-collector as the operator
// installs it, whose components are known. A custom image may contain anything.
func (w *Webhook) runsDefaultImage(c *v1beta1.OpenTelemetryCollector) bool {
	if c.Spec.Image == "" {
		return true
	}
	def := w.Build.Image
	if def == "" {
		def = collectorbuild.DefaultImage
	}
	return c.Spec.Image == def
}

// missingComponents names each configured component type autotel-collector lacks.
func missingComponents(cfg v1beta1.Config, image string) field.ErrorList {
	var errs field.ErrorList
	sections := []struct {
		name string
		cfg  *v1beta1.AnyConfig
	}{
		{"receivers", &cfg.Receivers}, {"processors", cfg.Processors}, {"exporters", &cfg.Exporters},
		{"extensions", cfg.Extensions}, {"connectors", cfg.Connectors},
	}
	for _, s := range sections {
		if s.cfg == nil {
			continue
		}
		ids := make([]string, 0, len(s.cfg.Object))
		for id := range s.cfg.Object {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		have := autotelComponents[s.name]
		for _, id := range ids {
			typ, _, _ := strings.Cut(id, "/")
			if slices.Contains(have, typ) {
				continue
			}
			avail := "none"
			if len(have) > 0 {
				avail = strings.Join(have, ", ")
			}
			errs = append(errs, field.Invalid(field.NewPath("spec", "config", s.name).Key(id), typ,
				fmt.Sprintf("%s %q is not in %s (autotel-collector has %s: %s); set spec.image to a collector that includes it",
					strings.TrimSuffix(s.name, "s"), typ, image, s.name, avail)))
		}
	}
	return errs
}
