package instrumentation

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/autotel/autotel/api/v1beta1"
	"github.com/autotel/autotel/internal/collectorbuild"
)

// Collector sidecar injection (docs/upstream-behaviour.md §9): the
// OpenTelemetry Operator's sidecar.opentelemetry.io/inject, resolved like
// the inject-<language> annotations, adds the collector of a sidecar-mode
// OpenTelemetryCollector to the pod before any language is injected.
const (
	// SidecarAnnotation asks for the collector sidecar: "true" (the only
	// sidecar-mode collector of the pod's namespace), "false", "<name>" or
	// "<namespace>/<name>".
	SidecarAnnotation = "sidecar.opentelemetry.io/inject"
	// SidecarInjectedLabel marks pods with a sidecar: <namespace>.<name>
	// of its collector (upstream's label).
	SidecarInjectedLabel = "sidecar.opentelemetry.io/injected"
	// SidecarConfigAnnotation records on the pod which collector config
	// the sidecar runs ("<namespace>/<name>@<config hash>"), so rollout can
	// tell pods running an old config. autotel's own; only written when
	// the pod, its namespace or the collector opted into rollout (or pod
	// status annotations are on), so pods stay upstream's otherwise.
	SidecarConfigAnnotation = "autotel.io/sidecar-config"

	sidecarConfigEnv = "OTEL_CONFIG"
)

// Upstream's messages, kept verbatim: users search for them.
var (
	ErrNoCollector         = errors.New("no OpenTelemetry Collector instances available")
	ErrMultipleCollectors  = errors.New("multiple OpenTelemetry Collector instances available, cannot determine which one to select")
	ErrCollectorNotSidecar = errors.New("the OpenTelemetry Collector's mode is not set to sidecar")
)

// SidecarReport is the decision on the collector sidecar.
type SidecarReport struct {
	// Requested is the effective annotation value.
	Requested string `json:"requested"`
	// Collector is namespace/name of the collector used, if resolved.
	Collector string `json:"collector,omitempty"`
	// Hash identifies the injected config (SidecarConfigHash).
	Hash     string `json:"hash,omitempty"`
	Injected bool   `json:"injected"`
	// Removed: "false" removed a sidecar the pod already had, as upstream.
	Removed bool `json:"removed,omitempty"`
	// Error: the request could not be resolved; Reason says why.
	Error  bool   `json:"error,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// SidecarConfigHash fingerprints what a collector's sidecar runs.
func SidecarConfigHash(c *v1beta1.OpenTelemetryCollector) string {
	h, err := collectorbuild.ConfigHash(c.Spec.Config)
	if err != nil {
		return "" // plain data; cannot fail
	}
	return h[:16]
}

// SidecarConfigValue is SidecarConfigAnnotation's value for a collector.
func SidecarConfigValue(c *v1beta1.OpenTelemetryCollector) string {
	return c.Namespace + "/" + c.Name + "@" + SidecarConfigHash(c)
}

// ParseSidecarConfig splits SidecarConfigAnnotation's value into the
// collector (namespace/name) and the config hash.
func ParseSidecarConfig(v string) (collector, hash string, ok bool) {
	collector, hash, ok = strings.Cut(v, "@")
	return collector, hash, ok && strings.Contains(collector, "/")
}

func isSidecar(c corev1.Container) bool { return c.Name == collectorContainerName }

func hasSidecar(pod *corev1.Pod) bool {
	return slices.ContainsFunc(pod.Spec.Containers, isSidecar) || slices.ContainsFunc(pod.Spec.InitContainers, isSidecar)
}

// sidecar applies the sidecar annotation. It returns pod itself when
// nothing changes, and nil for the report when no annotation applies.
func (m Mutator) sidecar(ctx context.Context, ns *corev1.Namespace, pod *corev1.Pod, lookup Lookup) (*corev1.Pod, *SidecarReport) {
	value := annotationValue(ns.ObjectMeta, pod.ObjectMeta, SidecarAnnotation)
	if value == "" {
		return pod, nil
	}
	r := &SidecarReport{Requested: value}
	if strings.EqualFold(value, "false") {
		if !hasSidecar(pod) {
			return pod, nil
		}
		out := pod.DeepCopy()
		out.Spec.Containers = slices.DeleteFunc(out.Spec.Containers, isSidecar)
		out.Spec.InitContainers = slices.DeleteFunc(out.Spec.InitContainers, isSidecar)
		// autotel's own record goes too, or SidecarRollout would restart
		// the workload for a collector it no longer runs.
		delete(out.Annotations, SidecarConfigAnnotation)
		r.Removed, r.Reason = true, "the pod refuses the sidecar: removed the existing "+collectorContainerName
		return out, r
	}
	if hasSidecar(pod) {
		r.Reason = "already has a sidecar: container " + collectorContainerName + " present"
		return pod, r
	}
	col, err := selectCollector(ctx, lookup, ns.Name, value)
	if err != nil {
		r.Error = true
		r.Reason = fmt.Sprintf("failed to select an OpenTelemetry Collector instance for this pod's sidecar (annotation %s: %q): %v", SidecarAnnotation, value, err)
		return pod, r
	}
	r.Collector, r.Hash = col.Namespace+"/"+col.Name, SidecarConfigHash(col)
	out, err := m.addSidecar(ctx, ns, pod, col, lookup, r.Collector+"@"+r.Hash)
	if err == nil {
		err = podValidityError(out)
	}
	if err != nil {
		r.Error, r.Reason = true, "the sidecar would make the pod invalid, so it is admitted without it: "+err.Error()
		return pod, r
	}
	r.Injected = true
	return out, r
}

// selectCollector resolves the annotation's value to a sidecar-mode collector.
func selectCollector(ctx context.Context, lookup Lookup, podNamespace, value string) (*v1beta1.OpenTelemetryCollector, error) {
	if strings.EqualFold(value, "true") {
		list, err := lookup.ListCollectors(ctx, podNamespace)
		if err != nil {
			return nil, fmt.Errorf("listing OpenTelemetryCollectors in namespace %s: %w", podNamespace, err)
		}
		var sidecars []string
		var pick *v1beta1.OpenTelemetryCollector
		for i := range list {
			if list[i].Spec.Mode == v1beta1.ModeSidecar {
				sidecars, pick = append(sidecars, list[i].Name), &list[i]
			}
		}
		switch len(sidecars) {
		case 0:
			return nil, fmt.Errorf("%w (create an OpenTelemetryCollector with mode: sidecar in namespace %s)", ErrNoCollector, podNamespace)
		case 1:
			return pick, nil
		}
		return nil, fmt.Errorf("%w: namespace %s has sidecar collectors %s; name one in the annotation", ErrMultipleCollectors, podNamespace, strings.Join(sidecars, ", "))
	}
	namespace, name, qualified := strings.Cut(value, "/")
	if !qualified {
		namespace, name = podNamespace, value
	}
	// A malformed value ("ns/", "a/b/c", "My Collector") can name no
	// collector: say so instead of asking the API server, whose answer
	// ("resource name may not be empty", or a NotFound) hides the typo.
	msgs := validation.IsDNS1123Subdomain(name)
	if qualified {
		msgs = append(msgs, validation.IsDNS1123Label(namespace)...)
	}
	if len(msgs) > 0 {
		return nil, fmt.Errorf("%q names no collector (%s): use \"true\", \"false\", <name> or <namespace>/<name> of an OpenTelemetryCollector", value, strings.Join(msgs, "; "))
	}
	col, err := lookup.GetCollector(ctx, namespace, name)
	if err != nil {
		if apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("OpenTelemetryCollector %s/%s not found (create it with mode: sidecar, or name an existing one in the annotation): %w", namespace, name, err)
		}
		return nil, fmt.Errorf("reading OpenTelemetryCollector %s/%s: %w", namespace, name, err)
	}
	if col.Spec.Mode != v1beta1.ModeSidecar {
		return nil, fmt.Errorf("%w: OpenTelemetryCollector %s/%s has mode %q", ErrCollectorNotSidecar, namespace, name, col.Spec.Mode)
	}
	return col, nil
}

// addSidecar adds the collector as a native sidecar: the first init
// container (after the collector's own init containers), restartPolicy
// Always, so it runs before and alongside the pod's init containers and
// containers and does not keep a Job's pod alive. configValue is
// SidecarConfigValue(in), which the caller already computed.
func (m Mutator) addSidecar(ctx context.Context, ns *corev1.Namespace, pod *corev1.Pod, in *v1beta1.OpenTelemetryCollector, lookup Lookup, configValue string) (*corev1.Pod, error) {
	col := in.DeepCopy()
	collectorbuild.Default(col)
	cfg, err := collectorbuild.ConfigYAML(col.Spec.Config)
	if err != nil {
		return nil, fmt.Errorf("OpenTelemetryCollector %s/%s: %w", col.Namespace, col.Name, err)
	}
	c := collectorbuild.Container(col, collectorbuild.Image(col, collectorbuild.Options{Image: m.Config.CollectorImage}), false)
	c.Args = append(c.Args, "--config=env:"+sidecarConfigEnv)
	c.Env = append(c.Env, corev1.EnvVar{Name: sidecarConfigEnv, Value: cfg})
	if envIndex(c.Env, envResourceAttrs) < 0 {
		c.Env = append(c.Env, sidecarResourceEnv(ctx, ns, pod, lookup)...)
	}
	always := corev1.ContainerRestartPolicyAlways
	c.RestartPolicy = &always
	// A native sidecar's startup probe gates the containers after it;
	// upstream uses the readiness probe for it.
	c.StartupProbe = c.ReadinessProbe

	out := pod.DeepCopy()
	inits := append(slices.Clone(col.Spec.InitContainers), c)
	out.Spec.InitContainers = append(inits, out.Spec.InitContainers...)
	out.Spec.Volumes = append(out.Spec.Volumes, collectorbuild.Volumes(col)...)
	if out.Labels == nil {
		out.Labels = map[string]string{}
	}
	out.Labels[SidecarInjectedLabel] = collectorbuild.SidecarLabelValue(col)
	if m.Config.PodStatusAnnotations || in.Annotations[RolloutAnnotation] == "true" ||
		ns.Annotations[RolloutAnnotation] == "true" || pod.Annotations[RolloutAnnotation] == "true" {
		if out.Annotations == nil {
			out.Annotations = map[string]string{}
		}
		out.Annotations[SidecarConfigAnnotation] = configValue
	}
	return out, nil
}

// sidecarResourceEnv is upstream's resource identity of the sidecar: pod
// name, uid and node from the downward API, the namespace, and the
// ReplicaSet and Deployment behind the pod (names and uids).
func sidecarResourceEnv(ctx context.Context, ns *corev1.Namespace, pod *corev1.Pod, lookup Lookup) []corev1.EnvVar {
	attrs := map[string]string{
		"k8s.pod.name":       "$(" + envPodName + ")",
		"k8s.pod.uid":        "$(" + envPodUID + ")",
		"k8s.node.name":      "$(" + envNodeName + ")",
		"k8s.namespace.name": ns.Name,
	}
	if ref := ownerOfKind(pod.OwnerReferences, "ReplicaSet"); ref != nil {
		// An unreadable ReplicaSet only leaves its attributes out, as upstream.
		if rs, err := lookup.GetReplicaSet(ctx, ns.Name, ref.Name); err == nil {
			attrs["k8s.replicaset.name"], attrs["k8s.replicaset.uid"] = rs.Name, string(rs.UID)
			if dep := ownerOfKind(rs.OwnerReferences, "Deployment"); dep != nil {
				attrs["k8s.deployment.name"], attrs["k8s.deployment.uid"] = dep.Name, string(dep.UID)
			}
		}
	}
	keys := make([]string, 0, len(attrs))
	for k := range attrs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + attrs[k]
	}
	return []corev1.EnvVar{
		fieldRefEnv(envPodName, "metadata.name"),
		fieldRefEnv(envPodUID, "metadata.uid"),
		fieldRefEnv(envNodeName, "spec.nodeName"),
		{Name: envResourceAttrs, Value: strings.Join(parts, ",")},
	}
}

func ownerOfKind(refs []metav1.OwnerReference, kind string) *metav1.OwnerReference {
	for i := range refs {
		if refs[i].Kind == kind {
			return &refs[i]
		}
	}
	return nil
}

// withSidecar runs sidecar for Mutate and records its decision; a failure
// becomes a warning event, and the pod goes on to language injection.
func (m Mutator) withSidecar(ctx context.Context, ns *corev1.Namespace, pod *corev1.Pod, lookup Lookup, report *Report) *corev1.Pod {
	out, sr := m.sidecar(ctx, ns, pod, lookup)
	report.Sidecar = sr
	if sr != nil && sr.Error {
		report.Warnings = append(report.Warnings, Warning{Reason: "SidecarInjectionFailed", Message: "pod admitted without the collector sidecar: " + sr.Reason})
	}
	return out
}
