package v1alpha1

import (
	"fmt"

	"sigs.k8s.io/controller-runtime/pkg/conversion"
	"sigs.k8s.io/yaml"

	"github.com/autotel/autotel/api/v1beta1"
)

var _ conversion.Convertible = &OpenTelemetryCollector{}

// ConvertTo converts this v1alpha1 collector to the v1beta1 hub: the YAML
// string becomes the structured config; the deprecated top-level
// min/maxReplicas move into the autoscaler.
func (src *OpenTelemetryCollector) ConvertTo(hubRaw conversion.Hub) error {
	dst, ok := hubRaw.(*v1beta1.OpenTelemetryCollector)
	if !ok {
		return fmt.Errorf("converting v1alpha1 OpenTelemetryCollector: want a v1beta1 hub, got %T", hubRaw)
	}
	cfg, err := ConfigFromString(src.Spec.Config)
	if err != nil {
		return fmt.Errorf("spec.config of OpenTelemetryCollector %s/%s: %w", src.Namespace, src.Name, err)
	}
	s := src.Spec.DeepCopy()
	dst.ObjectMeta = *src.ObjectMeta.DeepCopy()
	dst.Status = *src.Status.DeepCopy()
	dst.Spec = v1beta1.OpenTelemetryCollectorSpec{
		OpenTelemetryCommonFields: s.OpenTelemetryCommonFields,
		StatefulSetCommonFields:   s.StatefulSetCommonFields,
		Autoscaler:                s.Autoscaler,
		TargetAllocator:           s.TargetAllocator,
		Mode:                      s.Mode,
		UpgradeStrategy:           s.UpgradeStrategy,
		Config:                    cfg,
		ConfigVersions:            s.ConfigVersions,
		Ingress:                   s.Ingress,
		LivenessProbe:             s.LivenessProbe,
		Observability:             s.Observability,
		ConfigMaps:                s.ConfigMaps,
		DaemonSetUpdateStrategy:   s.UpdateStrategy,
		DeploymentUpdateStrategy:  s.DeploymentUpdateStrategy,
	}
	if s.MaxReplicas != nil || s.MinReplicas != nil {
		if dst.Spec.Autoscaler == nil {
			dst.Spec.Autoscaler = &v1beta1.AutoscalerSpec{}
		}
		if dst.Spec.Autoscaler.MaxReplicas == nil {
			dst.Spec.Autoscaler.MaxReplicas = s.MaxReplicas
		}
		if dst.Spec.Autoscaler.MinReplicas == nil {
			dst.Spec.Autoscaler.MinReplicas = s.MinReplicas
		}
	}
	return nil
}

// ConvertFrom converts the v1beta1 hub to v1alpha1: the structured config is
// written as YAML. Fields v1alpha1 lacks (readiness and startup probes,
// httpRoute, networkPolicy, command) have no place here, as upstream.
func (dst *OpenTelemetryCollector) ConvertFrom(hubRaw conversion.Hub) error {
	src, ok := hubRaw.(*v1beta1.OpenTelemetryCollector)
	if !ok {
		return fmt.Errorf("converting to v1alpha1 OpenTelemetryCollector: want a v1beta1 hub, got %T", hubRaw)
	}
	cfg, err := ConfigToString(src.Spec.Config)
	if err != nil {
		return fmt.Errorf("spec.config of OpenTelemetryCollector %s/%s: %w", src.Namespace, src.Name, err)
	}
	s := src.Spec.DeepCopy()
	dst.ObjectMeta = *src.ObjectMeta.DeepCopy()
	dst.Status = *src.Status.DeepCopy()
	dst.Spec = OpenTelemetryCollectorSpec{
		OpenTelemetryCommonFields: s.OpenTelemetryCommonFields,
		StatefulSetCommonFields:   s.StatefulSetCommonFields,
		Config:                    cfg,
		Mode:                      s.Mode,
		UpgradeStrategy:           s.UpgradeStrategy,
		ConfigVersions:            s.ConfigVersions,
		Autoscaler:                s.Autoscaler,
		TargetAllocator:           s.TargetAllocator,
		Ingress:                   s.Ingress,
		LivenessProbe:             s.LivenessProbe,
		Observability:             s.Observability,
		ConfigMaps:                s.ConfigMaps,
		UpdateStrategy:            s.DaemonSetUpdateStrategy,
		DeploymentUpdateStrategy:  s.DeploymentUpdateStrategy,
	}
	return nil
}

// ConfigFromString parses a v1alpha1 YAML configuration.
func ConfigFromString(s string) (v1beta1.Config, error) {
	var cfg v1beta1.Config
	if err := yaml.UnmarshalStrict([]byte(s), &cfg); err != nil {
		return cfg, fmt.Errorf("not a collector configuration (want YAML with receivers, exporters, processors, connectors, extensions, service): %w", err)
	}
	return cfg, nil
}

// ConfigToString writes a configuration as YAML (keys sorted).
func ConfigToString(c v1beta1.Config) (string, error) {
	b, err := yaml.Marshal(&c)
	if err != nil {
		return "", fmt.Errorf("writing collector configuration as YAML: %w", err)
	}
	return string(b), nil
}
