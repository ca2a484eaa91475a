package instrumentation

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/distribution/reference"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/autotel/autotel/api/v1alpha1"
)

// Resource attribute keys (OpenTelemetry semantic conventions).
const (
	attrNamespace   = "k8s.namespace.name"
	attrContainer   = "k8s.container.name"
	attrPodName     = "k8s.pod.name"
	attrPodUID      = "k8s.pod.uid"
	attrNodeName    = "k8s.node.name"
	attrReplicaSet  = "k8s.replicaset.name"
	attrDeployment  = "k8s.deployment.name"
	attrStatefulSet = "k8s.statefulset.name"
	attrDaemonSet   = "k8s.daemonset.name"
	attrJob         = "k8s.job.name"
	attrCronJob     = "k8s.cronjob.name"
	attrServiceName = "service.name"
	attrServiceVer  = "service.version"
	attrServiceNS   = "service.namespace"
	attrInstanceID  = "service.instance.id"
)

var (
	labelsForServiceName    = []string{"app.kubernetes.io/instance", "app.kubernetes.io/name"}
	labelsForServiceVersion = []string{"app.kubernetes.io/version"}
)

// sdkEnv is the per-pod context that common SDK configuration needs.
type sdkEnv struct {
	ctx    context.Context
	lookup Lookup
	ns     corev1.Namespace
	// multiInstrumentation mirrors Config: Go reads a different
	// container-names annotation depending on it.
	multiInstrumentation bool
	// notes collects non-fatal problems (an owner that could not be read)
	// for the report.
	notes *[]string
}

// injectCommonEnv prepends the node and pod IPs (apps export to the
// node-local collector through $(OTEL_NODE_IP)) and adds spec.env.
func injectCommonEnv(inst *v1alpha1.Instrumentation, c *corev1.Container) {
	if envIndex(c.Env, envPodIP) == -1 {
		c.Env = append([]corev1.EnvVar{fieldRefEnv(envPodIP, "status.podIP")}, c.Env...)
	}
	if envIndex(c.Env, envNodeIP) == -1 {
		c.Env = append([]corev1.EnvVar{fieldRefEnv(envNodeIP, "status.hostIP")}, c.Env...)
	}
	c.Env = appendIfAbsent(c.Env, inst.Spec.Env...)
}

// injectCommonSDKConfig adds the variables every OpenTelemetry SDK reads:
// service name, exporter, resource attributes, propagators and sampler.
// target receives the variables; app is the container whose telemetry they
// describe (the same container except for sidecar-based agents).
func (s sdkEnv) injectCommonSDKConfig(inst *v1alpha1.Instrumentation, pod *corev1.Pod, target, app *corev1.Container) {
	useLabels := inst.Spec.Defaults.UseLabelsForResourceAttributes
	res := s.resourceMap(inst, pod, app)

	if envIndex(target.Env, envServiceName) == -1 {
		target.Env = append(target.Env, corev1.EnvVar{Name: envServiceName, Value: chooseServiceName(pod, useLabels, res, app)})
	}
	configureExporter(inst.Spec.Exporter, pod, target)

	// The pod name is unknown at admission for generated names, so it always
	// comes from the downward API (upstream appends it unconditionally and
	// overrides any user k8s.pod.name; we keep that for identical pods).
	target.Env = append(target.Env, fieldRefEnv(envPodName, "metadata.name"))
	res[attrPodName] = "$(" + envPodName + ")"

	if inst.Spec.Resource.AddK8sUIDAttributes && res[attrPodUID] == "" {
		target.Env = append(target.Env, fieldRefEnv(envPodUID, "metadata.uid"))
		res[attrPodUID] = "$(" + envPodUID + ")"
	}

	if i := envIndex(target.Env, envResourceAttrs); i == -1 || !strings.Contains(target.Env[i].Value, attrServiceVer) {
		if v := chooseServiceVersion(pod, useLabels, app); v != "" {
			res[attrServiceVer] = v
		}
	}

	if res[attrNodeName] == "" {
		target.Env = append(target.Env, fieldRefEnv(envNodeName, "spec.nodeName"))
		res[attrNodeName] = "$(" + envNodeName + ")"
	}

	attrs := resourceString(res)
	if i := envIndex(target.Env, envResourceAttrs); i == -1 {
		target.Env = append(target.Env, corev1.EnvVar{Name: envResourceAttrs, Value: attrs})
	} else {
		if !strings.HasSuffix(target.Env[i].Value, ",") {
			attrs = "," + attrs
		}
		target.Env[i].Value += attrs
	}

	if envIndex(target.Env, envPropagators) == -1 && len(inst.Spec.Propagators) > 0 {
		names := make([]string, len(inst.Spec.Propagators))
		for i, p := range inst.Spec.Propagators {
			names[i] = string(p)
		}
		target.Env = append(target.Env, corev1.EnvVar{Name: envPropagators, Value: strings.Join(names, ",")})
	}

	// A sampler is configured only when the Instrumentation names one and
	// the container sets neither sampler variable: half a user setting
	// combined with half of ours would be a sampler nobody asked for.
	if inst.Spec.Sampler.Type != "" && envIndex(target.Env, envTracesSampler) == -1 && envIndex(target.Env, envTracesSamplerArg) == -1 {
		target.Env = append(target.Env, corev1.EnvVar{Name: envTracesSampler, Value: string(inst.Spec.Sampler.Type)})
		if inst.Spec.Sampler.Argument != "" {
			target.Env = append(target.Env, corev1.EnvVar{Name: envTracesSamplerArg, Value: inst.Spec.Sampler.Argument})
		}
	}

	target.Env = moveToEnd(target.Env, envIndex(target.Env, envResourceAttrs))
}

// resourceMap derives the resource attributes for one container, lowest
// precedence first: the Instrumentation's attributes, Kubernetes facts,
// resource.opentelemetry.io/* pod annotations, service.namespace. Keys the
// container already sets in OTEL_RESOURCE_ATTRIBUTES are left to it.
func (s sdkEnv) resourceMap(inst *v1alpha1.Instrumentation, pod *corev1.Pod, c *corev1.Container) map[string]string {
	userKeys := map[string]bool{}
	if i := envIndex(c.Env, envResourceAttrs); i >= 0 {
		for _, kv := range strings.Split(c.Env[i].Value, ",") {
			if parts := strings.Split(strings.TrimSpace(kv), "="); len(parts) == 2 {
				userKeys[parts[0]] = true
			}
		}
	}
	res := map[string]string{}
	set := func(k, v string) {
		if !userKeys[k] && v != "" {
			res[k] = v
		}
	}
	for k, v := range inst.Spec.Resource.Attributes {
		if !userKeys[k] {
			res[k] = v
		}
	}

	k8s := map[string]string{
		attrNamespace:  s.ns.Name,
		attrContainer:  c.Name,
		attrPodName:    pod.Name,
		attrPodUID:     string(pod.UID),
		attrNodeName:   pod.Spec.NodeName,
		attrInstanceID: serviceInstanceID(pod, s.ns.Name, "$("+envPodName+")", c.Name),
	}
	s.addOwnerAttributes(inst.Spec.Resource.AddK8sUIDAttributes, pod.OwnerReferences, k8s)
	for k, v := range k8s {
		set(k, v)
	}

	for k, v := range pod.Annotations {
		if key, ok := strings.CutPrefix(k, ResourceAttributeAnnotationPrefix); ok && key != attrServiceName && !userKeys[key] {
			res[key] = v
		}
	}
	if !userKeys[attrServiceNS] {
		if ns := chooseLabelOrAnnotation(pod, false, attrServiceNS, nil); ns != "" {
			res[attrServiceNS] = ns
		} else if s.ns.Name != "" {
			res[attrServiceNS] = s.ns.Name
		}
	}
	return res
}

// ownerAttributeKeys are, per owner kind (lower case), the resource
// attributes of its name and its UID.
var ownerAttributeKeys = map[string][2]string{
	"replicaset":  {attrReplicaSet, "k8s.replicaset.uid"},
	"deployment":  {attrDeployment, "k8s.deployment.uid"},
	"statefulset": {attrStatefulSet, "k8s.statefulset.uid"},
	"daemonset":   {attrDaemonSet, "k8s.daemonset.uid"},
	"job":         {attrJob, "k8s.job.uid"},
	"cronjob":     {attrCronJob, "k8s.cronjob.uid"},
}

// addOwnerAttributes walks the owner chain the way workload controllers
// build it: Deployment → ReplicaSet → Pod and CronJob → Job → Pod need an
// API read; StatefulSet and DaemonSet own pods directly. Other owner kinds
// (Argo Rollouts, ...) are ignored, as upstream does.
func (s sdkEnv) addOwnerAttributes(withUID bool, owners []metav1.OwnerReference, attrs map[string]string) {
	for _, owner := range owners {
		keys, ok := ownerAttributeKeys[strings.ToLower(owner.Kind)]
		if !ok {
			continue
		}
		nameKey, uidKey := keys[0], keys[1]
		attrs[nameKey] = owner.Name
		if withUID {
			attrs[uidKey] = string(owner.UID)
		}
		// A ReplicaSet's or Job's own owner names the workload.
		var read metav1.Object
		var err error
		kind, parent := "", ""
		switch strings.ToLower(owner.Kind) {
		case "replicaset":
			kind, parent = "ReplicaSet", "Deployment"
			read, err = s.lookup.GetReplicaSet(s.ctx, s.ns.Name, owner.Name)
		case "job":
			kind, parent = "Job", "CronJob"
			read, err = s.lookup.GetJob(s.ctx, s.ns.Name, owner.Name)
		default:
			continue
		}
		if err != nil {
			s.note(fmt.Sprintf("owner %s %s/%s not readable, its %s is unknown: %v", kind, s.ns.Name, owner.Name, parent, err))
			continue
		}
		s.addOwnerAttributes(withUID, read.GetOwnerReferences(), attrs)
	}
}

func (s sdkEnv) note(msg string) {
	if s.notes != nil {
		*s.notes = append(*s.notes, msg)
	}
}

// chooseServiceName follows the semantic conventions' recipe for
// service.name on Kubernetes: explicit annotation, optional labels, then
// the closest owning workload, then the container name.
func chooseServiceName(pod *corev1.Pod, useLabels bool, res map[string]string, c *corev1.Container) string {
	if name := chooseLabelOrAnnotation(pod, useLabels, attrServiceName, labelsForServiceName); name != "" {
		return name
	}
	for _, key := range []string{attrDeployment, attrReplicaSet, attrStatefulSet, attrDaemonSet, attrCronJob, attrJob, attrPodName} {
		if name := res[key]; name != "" {
			return name
		}
	}
	return c.Name
}

func chooseLabelOrAnnotation(pod *corev1.Pod, useLabels bool, attr string, labels []string) string {
	if v := pod.Annotations[ResourceAttributeAnnotationPrefix+attr]; v != "" {
		return v
	}
	if useLabels {
		for _, l := range labels {
			if v := pod.Labels[l]; v != "" {
				return v
			}
		}
	}
	return ""
}

func chooseServiceVersion(pod *corev1.Pod, useLabels bool, c *corev1.Container) string {
	if v := chooseLabelOrAnnotation(pod, useLabels, attrServiceVer, labelsForServiceVersion); v != "" {
		return v
	}
	v, _ := imageVersion(c.Image)
	return v
}

var errNoImageVersion = errors.New("image has neither tag nor digest")

// imageVersion is the image's tag, digest, or tag@digest.
func imageVersion(image string) (string, error) {
	ref, err := reference.Parse(image)
	if err != nil {
		return "", err
	}
	var tag, digest string
	if t, ok := ref.(reference.Tagged); ok {
		tag = t.Tag()
	}
	if d, ok := ref.(reference.Digested); ok {
		digest = d.Digest().String()
	}
	switch {
	case tag != "" && digest != "":
		return tag + "@" + digest, nil
	case digest != "":
		return digest, nil
	case tag != "":
		return tag, nil
	}
	return "", errNoImageVersion
}

// serviceInstanceID is unique per container: labels are deliberately not
// used because every container of a pod shares them.
func serviceInstanceID(pod *corev1.Pod, namespace, podName, container string) string {
	if v := chooseLabelOrAnnotation(pod, false, attrInstanceID, nil); v != "" {
		return v
	}
	if namespace == "" || podName == "" || container == "" {
		return ""
	}
	return namespace + "." + podName + "." + container
}

// resourceString renders attributes as sorted k=v pairs, so the same pod
// always gets the same value.
func resourceString(res map[string]string) string {
	var b strings.Builder
	for i, k := range slices.Sorted(maps.Keys(res)) {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(res[k])
	}
	return b.String()
}
