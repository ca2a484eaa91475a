// Package instrumentation decides and performs auto-instrumentation
// injection into pods. It is the single implementation behind the pod
// webhook, the CLI preview and the tests: Mutate reads the cluster only
// through Lookup and returns the mutated pod together with a Report of
// every decision.
package instrumentation

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/autotel/autotel/api/v1alpha1"
)

// Upstream's messages, kept verbatim: users search for them.
var (
	ErrNoInstrumentation        = errors.New("no OpenTelemetry Instrumentation instances available")
	ErrMultipleInstrumentations = errors.New("multiple OpenTelemetry Instrumentation instances available, cannot determine which one to select")
)

// request is one language the pod asked for, resolved to an Instrumentation.
type request struct {
	language    Language
	value       string
	inst        *v1alpha1.Instrumentation
	containers  []string
	annotations map[string]string
}

// languageInjector is what a language plugs in: it instruments the
// target containers of one request and says what it did to each.
type languageInjector interface {
	inject(sdk sdkEnv, req request, pod *corev1.Pod, targets []*corev1.Container) []ContainerReport
}

// Mutator injects auto-instrumentation according to a Config.
type Mutator struct {
	Config Config
}

// Mutate returns the pod as the webhook should admit it and the report of
// why. It never fails: on any problem the pod comes back unchanged and the
// report says what went wrong (fail-open, so our webhook never blocks a pod).
func (m Mutator) Mutate(ctx context.Context, ns *corev1.Namespace, pod *corev1.Pod, lookup Lookup) (*corev1.Pod, Report) {
	report := Report{Pod: podRef(ns, pod)}
	lookup = newOwnerMemo(lookup)
	// The collector sidecar first, as upstream; languages see its pod.
	pod = m.withSidecar(ctx, ns, pod, lookup, &report)
	if !RequestsInjection(ns, pod) {
		report.Outcome = OutcomeNotRequested
		return pod, report
	}
	if why, off := pod.Annotations[InjectionDisabledAnnotation]; off {
		report.Outcome, report.Reason = OutcomeSkipped, fmt.Sprintf("injection disabled by annotation %s: %s", InjectionDisabledAnnotation, why)
		return pod, report
	}
	if already, why := alreadyInstrumented(pod); already {
		report.Outcome, report.Reason = OutcomeSkipped, "already instrumented: "+why
		return pod, report
	}

	var reqs []request
	for _, lang := range Languages {
		value := annotationValue(ns.ObjectMeta, pod.ObjectMeta, lang.InjectAnnotation())
		inst, err := selectInstrumentation(ctx, lookup, ns.Name, value)
		if err != nil {
			report.Outcome, report.ErrorLanguage = OutcomeError, lang
			report.Reason = fmt.Sprintf("failed to select an OpenTelemetry Instrumentation instance for %s (annotation %s: %q): %v", lang, lang.InjectAnnotation(), value, err)
			return pod, report
		}
		if inst == nil {
			continue
		}
		if !m.Config.enabled(lang) {
			msg := fmt.Sprintf("support for %s auto instrumentation is not enabled", lang.displayName())
			report.Warnings = append(report.Warnings, Warning{Reason: "InstrumentationRequestRejected", Message: msg})
			report.Languages = append(report.Languages, LanguageReport{Language: lang, Requested: value, Instrumentation: inst.Namespace + "/" + inst.Name, Hash: SpecHash(inst), Disabled: true})
			continue
		}
		req := request{language: lang, value: value, inst: inst, annotations: map[string]string{
			AnnotationLogs: annotationValue(ns.ObjectMeta, pod.ObjectMeta, AnnotationLogs),
		}}
		for _, a := range lang.info().annotations {
			req.annotations[a] = annotationValue(ns.ObjectMeta, pod.ObjectMeta, a)
		}
		reqs = append(reqs, req)
	}
	if len(reqs) == 0 {
		report.Outcome, report.Reason = OutcomeSkipped, "every requested language is disabled in the operator"
		return pod, report
	}
	if v := reqs[0].annotations[AnnotationLogs]; v != "" && v != LogsOTLP && v != LogsStdout {
		report.Warnings = append(report.Warnings, Warning{Reason: "InvalidLogPath",
			Message: fmt.Sprintf("annotation %s: %q is not a log path; use %q or %q (ignored)", AnnotationLogs, v, LogsOTLP, LogsStdout)})
	}

	if err := setCommonContainers(ns, pod, reqs); err != nil {
		report.Outcome, report.Reason = OutcomeError, err.Error()
		return pod, report
	}
	if err := checkTLSReferences(ctx, lookup, ns.Name, reqs); err != nil {
		report.Outcome, report.Reason = OutcomeError, err.Error()
		return pod, report
	}
	if m.Config.MultiInstrumentation {
		if err := setLanguageContainers(ns, pod, reqs); err != nil {
			report.Outcome, report.Reason = OutcomeError, err.Error()
			return pod, report
		}
		if err := checkContainerAssignment(reqs); err != nil {
			report.Outcome, report.Reason = OutcomeSkipped, err.Error()
			return pod, report
		}
	}
	if len(pod.Spec.Containers) == 0 {
		report.Outcome, report.Reason = OutcomeSkipped, "pod has no containers"
		return pod, report
	}

	out := pod.DeepCopy()
	var notes []string
	sdk := sdkEnv{ctx: ctx, lookup: lookup, ns: *ns, notes: &notes, multiInstrumentation: m.Config.MultiInstrumentation}
	for _, req := range reqs {
		report.Languages = append(report.Languages, m.inject(sdk, req, out))
	}
	report.Outcome = OutcomeSkipped
	for _, l := range report.Languages {
		if l.Injected() {
			report.Outcome = OutcomeInjected
		}
	}
	if report.Outcome == OutcomeSkipped {
		report.Reason = "no target container could be instrumented"
		return pod, report
	}
	// Fail open on our own mistakes too: a pod the API server would refuse
	// is worse than an uninstrumented one (the workload would not start).
	// Found by FuzzMutate: several languages in one container with
	// multi-instrumentation off, as upstream allows, can collide.
	if err := podValidityError(out); err != nil {
		report.Outcome = OutcomeError
		report.Reason = "injection would make the pod invalid, so it is admitted unchanged: " + err.Error()
		for i := range report.Languages {
			for j := range report.Languages[i].Containers {
				c := &report.Languages[i].Containers[j]
				if c.Injected {
					c.Injected, c.Reason = false, "reverted: the pod would be invalid"
				}
			}
		}
		return pod, report
	}
	report.Reason = strings.Join(notes, "; ")
	return out, report
}

// podValidityError checks the parts of the API server's pod validation that
// injection can break: unique volume and container names, volume mounts
// that name a volume of the pod and use a path once per container, env
// variables with a name.
func podValidityError(pod *corev1.Pod) error {
	volumes := make(map[string]bool, len(pod.Spec.Volumes))
	for _, v := range pod.Spec.Volumes {
		if volumes[v.Name] {
			return fmt.Errorf("volume %q would be defined twice", v.Name)
		}
		volumes[v.Name] = true
	}
	containers := map[string]bool{}
	for _, list := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for _, c := range list {
			if containers[c.Name] {
				return fmt.Errorf("container name %q would be used twice", c.Name)
			}
			containers[c.Name] = true
			for _, e := range c.Env {
				if e.Name == "" {
					return fmt.Errorf("container %q would get an env variable without a name", c.Name)
				}
			}
			paths := make(map[string]bool, len(c.VolumeMounts))
			for _, m := range c.VolumeMounts {
				if !volumes[m.Name] {
					return fmt.Errorf("container %q would mount volume %q, which the pod does not define", c.Name, m.Name)
				}
				if paths[m.MountPath] {
					return fmt.Errorf("container %q would mount two volumes at %s", c.Name, m.MountPath)
				}
				paths[m.MountPath] = true
			}
		}
	}
	return nil
}

// inject applies one language to its target containers.
func (m Mutator) inject(sdk sdkEnv, req request, pod *corev1.Pod) LanguageReport {
	lr := LanguageReport{Language: req.language, Requested: req.value, Instrumentation: req.inst.Namespace + "/" + req.inst.Name, Hash: SpecHash(req.inst),
		Rollout: req.inst.Annotations[RolloutAnnotation] == "true"}
	targets, missing := targetContainers(pod, req.containers)
	for _, name := range missing {
		lr.Containers = append(lr.Containers, ContainerReport{Name: name, Reason: "no such container in the pod"})
	}
	lr.Containers = append(lr.Containers, req.language.info().injector.inject(sdk, req, pod, targets)...)
	return lr
}

// targetContainers resolves container names to the pod's containers, init
// containers first in pod order (their agent must be in place before they
// run), then regular ones in annotation order. No names means the first
// regular container.
func targetContainers(pod *corev1.Pod, names []string) (targets []*corev1.Container, missing []string) {
	if len(names) == 0 {
		return []*corev1.Container{&pod.Spec.Containers[0]}, nil
	}
	var inits, regular []*corev1.Container
	seen := map[string]bool{}
	for _, name := range names {
		// A name listed twice would wrap PYTHONPATH twice and mount the
		// agent twice, which the API server rejects.
		if seen[name] {
			continue
		}
		seen[name] = true
		if i := slices.IndexFunc(pod.Spec.Containers, func(c corev1.Container) bool { return c.Name == name }); i >= 0 {
			regular = append(regular, &pod.Spec.Containers[i])
		} else if i := slices.IndexFunc(pod.Spec.InitContainers, func(c corev1.Container) bool { return c.Name == name }); i >= 0 {
			inits = append(inits, &pod.Spec.InitContainers[i])
		} else {
			missing = append(missing, name)
		}
	}
	pos := func(c *corev1.Container) int {
		return slices.IndexFunc(pod.Spec.InitContainers, func(o corev1.Container) bool { return o.Name == c.Name })
	}
	slices.SortStableFunc(inits, func(a, b *corev1.Container) int { return pos(a) - pos(b) })
	return append(inits, regular...), missing
}

// RequestsInjection is true when any inject-* annotation (on the pod or
// its namespace) could ask for injection. It needs no API reads.
func RequestsInjection(ns *corev1.Namespace, pod *corev1.Pod) bool {
	for _, lang := range Languages {
		v := annotationValue(ns.ObjectMeta, pod.ObjectMeta, lang.InjectAnnotation())
		if v != "" && !strings.EqualFold(v, "false") {
			return true
		}
	}
	return false
}

// Names whose presence marks a pod as already instrumented. Webhooks can be
// called again for the same pod (reinvocation, a second operator): the
// check keeps injection idempotent and matches upstream's, so pods
// instrumented by either operator are recognised by both.
var injectedInitContainers = []string{
	"opentelemetry-auto-instrumentation-dotnet",
	"opentelemetry-auto-instrumentation-java",
	"opentelemetry-auto-instrumentation-nodejs",
	pythonInitContainerName,
	"otel-agent-attach-apache",
	"otel-agent-source-container-clone",
}

const (
	goSidecarName          = "opentelemetry-auto-instrumentation"
	collectorContainerName = "otc-container"
)

func alreadyInstrumented(pod *corev1.Pod) (bool, string) {
	for _, c := range pod.Spec.InitContainers {
		if slices.Contains(injectedInitContainers, c.Name) {
			return true, "init container " + c.Name + " present"
		}
	}
	for _, c := range pod.Spec.Containers {
		if c.Name == goSidecarName {
			return true, "container " + c.Name + " present"
		}
	}
	// The collector sidecar sets this variable too; any other container
	// with it was instrumented (or opted out by setting it). Init
	// containers count: they can be injection targets.
	for _, list := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for _, c := range list {
			if c.Name != collectorContainerName && envIndex(c.Env, envNodeName) >= 0 {
				return true, "container " + c.Name + " already sets " + envNodeName
			}
		}
	}
	return false, ""
}

// selectInstrumentation resolves an inject-* value: "" or "false" → none,
// "true" → the only Instrumentation in the pod's namespace, "name" → that
// one in the pod's namespace, "ns/name" → that one.
func selectInstrumentation(ctx context.Context, lookup Lookup, podNamespace, value string) (*v1alpha1.Instrumentation, error) {
	if value == "" || strings.EqualFold(value, "false") {
		return nil, nil
	}
	if strings.EqualFold(value, "true") {
		return selectDefault(ctx, lookup, podNamespace)
	}
	namespace, name := podNamespace, value
	if n, nm, ok := strings.Cut(value, "/"); ok {
		namespace, name = n, nm
	}
	inst, err := lookup.GetInstrumentation(ctx, namespace, name)
	if err != nil {
		if apierrors.IsNotFound(err) {
			//nolint:staticcheck // ST1005: the message starts with the kind's name, which is capitalised.
			return nil, fmt.Errorf("Instrumentation %s/%s not found: %w", namespace, name, err)
		}
		return nil, fmt.Errorf("reading Instrumentation %s/%s: %w", namespace, name, err)
	}
	return inst, nil
}

// SpecHash fingerprints an Instrumentation's spec, which is everything
// that decides what gets injected. Metadata and status are left out so
// relabelling or status updates do not make pods look outdated.
func SpecHash(inst *v1alpha1.Instrumentation) string {
	raw, err := json.Marshal(inst.Spec)
	if err != nil {
		return "" // the spec is plain data; Marshal cannot fail on it
	}
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:8])
}

// RolloutAnnotation ("true") on an Instrumentation or a namespace opts its
// workloads into restart when the Instrumentation changes.
const RolloutAnnotation = "autotel.io/rollout"

// DefaultLabel marks an Instrumentation as the one to use where
// inject-<language>: "true" would otherwise be ambiguous (several in the
// namespace) or unresolvable (none in the namespace: a cluster default).
// Upstream has no such rule; without the label behaviour is identical.
const DefaultLabel = "autotel.io/default"

func isDefault(inst *v1alpha1.Instrumentation) bool {
	return inst.Labels[DefaultLabel] == "true"
}

// selectDefault resolves inject-<language>: "true": the namespace's only
// Instrumentation, else the one of several marked default, else (none in
// the namespace) the single cluster-wide default.
func selectDefault(ctx context.Context, lookup Lookup, namespace string) (*v1alpha1.Instrumentation, error) {
	list, err := lookup.ListInstrumentations(ctx, namespace)
	if err != nil {
		return nil, fmt.Errorf("listing Instrumentations in namespace %s: %w", namespace, err)
	}
	switch len(list) {
	case 1:
		return &list[0], nil
	case 0:
		defaults, err := lookup.ListDefaultInstrumentations(ctx)
		if err != nil {
			return nil, fmt.Errorf("listing default Instrumentations: %w", err)
		}
		switch len(defaults) {
		case 0:
			return nil, fmt.Errorf("%w (create one in namespace %s, or label one Instrumentation in the cluster %s=true)", ErrNoInstrumentation, namespace, DefaultLabel)
		case 1:
			return &defaults[0], nil
		}
		return nil, fmt.Errorf("%w: %d Instrumentations in the cluster are labelled %s=true (%s); keep the label on one", ErrMultipleInstrumentations, len(defaults), DefaultLabel, names(defaults))
	}
	var marked []v1alpha1.Instrumentation
	for i := range list {
		if isDefault(&list[i]) {
			marked = append(marked, list[i])
		}
	}
	if len(marked) == 1 {
		return &marked[0], nil
	}
	return nil, fmt.Errorf("%w: namespace %s has %s; name one in the annotation, or label one %s=true", ErrMultipleInstrumentations, namespace, names(list), DefaultLabel)
}

func names(list []v1alpha1.Instrumentation) string {
	out := make([]string, len(list))
	for i, inst := range list {
		out[i] = inst.Namespace + "/" + inst.Name
	}
	return strings.Join(out, ", ")
}

var containerListPattern = regexp.MustCompile(`^[a-zA-Z0-9-,]+$`)

func parseContainerList(annotation, value string) ([]string, error) {
	if value == "" {
		return nil, nil
	}
	if !containerListPattern.MatchString(value) {
		return nil, fmt.Errorf("not valid characters included in the instrumentation container annotation %s: %q (use a comma-separated list of container names)", annotation, value)
	}
	return strings.Split(value, ","), nil
}

// setCommonContainers applies container-names to every requested language.
func setCommonContainers(ns *corev1.Namespace, pod *corev1.Pod, reqs []request) error {
	names, err := parseContainerList(AnnotationContainerNames, annotationValue(ns.ObjectMeta, pod.ObjectMeta, AnnotationContainerNames))
	if err != nil || names == nil {
		return err
	}
	for i := range reqs {
		reqs[i].containers = slices.Clone(names)
	}
	return nil
}

// setLanguageContainers adds <language>-container-names to each language.
func setLanguageContainers(ns *corev1.Namespace, pod *corev1.Pod, reqs []request) error {
	for i := range reqs {
		ann := reqs[i].language.ContainerNamesAnnotation()
		names, err := parseContainerList(ann, annotationValue(ns.ObjectMeta, pod.ObjectMeta, ann))
		if err != nil {
			return err
		}
		reqs[i].containers = append(reqs[i].containers, names...)
	}
	return nil
}

// checkContainerAssignment enforces upstream's multi-instrumentation rules:
// with more than one language every language names its containers, and no
// container is claimed twice.
func checkContainerAssignment(reqs []request) error {
	count := map[string]int{}
	withNames, withoutNames := 0, 0
	for _, r := range reqs {
		if len(r.containers) == 0 {
			withoutNames++
		} else {
			withNames++
		}
		for _, c := range r.containers {
			count[c]++
		}
	}
	var dups []string
	for name, n := range count {
		if name != "" && n > 1 {
			dups = append(dups, name)
		}
	}
	if dups != nil {
		slices.Sort(dups)
		return fmt.Errorf("duplicated container names detected: %s", dups)
	}
	if withoutNames > 0 && (withNames > 0 || withoutNames > 1) {
		return errors.New("incorrect instrumentation configuration - please provide container names for all instrumentations")
	}
	return nil
}

// checkTLSReferences: a pod mounting a missing secret or config map would
// never start, so such an Instrumentation is not applied.
func checkTLSReferences(ctx context.Context, lookup Lookup, namespace string, reqs []request) error {
	var errs []error
	for _, r := range reqs {
		tls := r.inst.Spec.Exporter.TLS
		if tls == nil {
			continue
		}
		if tls.SecretName != "" {
			if ok, err := lookup.SecretExists(ctx, namespace, tls.SecretName); err == nil && !ok {
				errs = append(errs, fmt.Errorf("secret %s/%s with certificates does not exists", namespace, tls.SecretName))
			}
		}
		if tls.ConfigMapName != "" {
			if ok, err := lookup.ConfigMapExists(ctx, namespace, tls.ConfigMapName); err == nil && !ok {
				errs = append(errs, fmt.Errorf("configmap %s/%s with CA certificate does not exists", namespace, tls.ConfigMapName))
			}
		}
	}
	return errors.Join(errs...)
}

func podRef(ns *corev1.Namespace, pod *corev1.Pod) string {
	namespace := pod.Namespace
	if namespace == "" {
		namespace = ns.Name
	}
	if pod.Name != "" {
		return namespace + "/" + pod.Name
	}
	return namespace + "/" + pod.GenerateName + "*"
}
