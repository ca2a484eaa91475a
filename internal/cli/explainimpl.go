package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/autotel/autotel/internal/instrumentation"
	"github.com/autotel/autotel/internal/webhook/podwebhook"
)

func explain(cmd *cobra.Command, flags *kubeFlags, arg string) error {
	name, ok := strings.CutPrefix(arg, "pod/")
	if !ok {
		name, ok = strings.CutPrefix(arg, "pods/")
	}
	if !ok && strings.Contains(arg, "/") {
		return fmt.Errorf("explain takes pod/NAME, got %q", arg)
	}
	c, err := flags.client()
	if err != nil {
		return err
	}
	return ExplainFrom(cmd.Context(), cmd.OutOrStdout(), c, flags.operatorNamespace, flags.Namespace(), name)
}

// Explain is ExplainFrom with the operator's settings found by label.
func Explain(ctx context.Context, w io.Writer, c client.Client, namespace, name string) error {
	return ExplainFrom(ctx, w, c, "", namespace, name)
}

// ExplainFrom tells why a live pod was or was not instrumented, and whether
// its instrumentation is outdated compared to its Instrumentation now,
// asking the injector with the settings the operator in operatorNamespace
// ("": wherever it is) published.
func ExplainFrom(ctx context.Context, w io.Writer, c client.Client, operatorNamespace, namespace, name string) error {
	var pod corev1.Pod
	if err := c.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, &pod); err != nil {
		return fmt.Errorf("reading pod %s/%s: %w", namespace, name, err)
	}
	var ns corev1.Namespace
	if err := c.Get(ctx, types.NamespacedName{Name: namespace}, &ns); err != nil {
		return fmt.Errorf("reading namespace %s: %w", namespace, err)
	}
	lookup := podwebhook.ClientLookup{Cached: c, Direct: c}
	mut := instrumentation.Mutator{Config: instrumentation.DefaultConfig()}
	fmt.Fprintf(w, "pod %s/%s\n", namespace, name)
	// A live pod is explained from the live cluster; without the operator's
	// published settings the answer assumes the defaults, and says so.
	if published, _, err := OperatorConfig(ctx, c, operatorNamespace); err != nil {
		fmt.Fprintf(w, "  note: assuming autotel's default operator settings: %v\n", err)
	} else {
		mut.Config = published.Injection
	}

	if st, ok, err := instrumentation.ReadStatus(&pod); ok {
		if err != nil {
			fmt.Fprintf(w, "  status annotation unreadable: %v\n", err)
		} else {
			fmt.Fprintf(w, "  webhook decision at admission (%s): %s", instrumentation.StatusAnnotation, st.Outcome)
			if st.Reason != "" {
				fmt.Fprintf(w, " — %s", st.Reason)
			}
			fmt.Fprintln(w)
			if st.Sidecar != nil {
				fmt.Fprintf(w, "  collector sidecar at admission (%s): %s\n", st.Sidecar.Requested, sidecarDecision(st.Sidecar))
			}
		}
	}

	explainRollback(w, &pod)
	injected := instrumentation.InjectedLanguages(&pod)
	if len(injected) == 0 {
		// Not instrumented: what would the webhook do with this pod now?
		_, report := mut.Mutate(ctx, &ns, &pod, lookup)
		switch report.Outcome {
		case instrumentation.OutcomeNotRequested:
			fmt.Fprintln(w, "  not instrumented: it does not ask for it (no instrumentation.opentelemetry.io/inject-* annotation on the pod or namespace)")
			if hint := annotationOnWorkloadHint(ctx, c, &pod); hint != "" {
				fmt.Fprintln(w, "  hint: "+hint)
			}
		case instrumentation.OutcomeInjected:
			fmt.Fprintln(w, "  NOT instrumented, although the webhook would instrument it now:")
			fmt.Fprintln(w, "  it was created while the webhook was unreachable, or before its Instrumentation existed.")
			fmt.Fprintln(w, "  Restart its workload (kubectl rollout restart), or enable rollout: annotate the Instrumentation "+instrumentation.RolloutAnnotation+"=true")
			writeReport(w, "  now", report)
		default:
			fmt.Fprintln(w, "  not instrumented; asked again now, the webhook says:")
			writeReport(w, "  now", report)
		}
		return nil
	}

	names := make([]string, len(injected))
	for i, l := range injected {
		names[i] = string(l)
	}
	fmt.Fprintf(w, "  instrumented: %s\n", strings.Join(names, ", "))
	outdated, why, err := isOutdated(ctx, c, mut, lookup, &ns, &pod)
	switch {
	case err != nil:
		fmt.Fprintf(w, "  up to date: unknown (%v)\n", err)
	case outdated:
		fmt.Fprintf(w, "  OUTDATED: %s\n  restart its workload to pick up the current Instrumentation\n", why)
	default:
		fmt.Fprintf(w, "  up to date: %s\n", why)
	}
	return nil
}

// isOutdated compares what the pod carries with what injection would give
// now: by the recorded spec hash when the pod has a status annotation,
// else by re-running injection on the pod's template (the ReplicaSet's,
// StatefulSet's, ...) and comparing the containers.
func isOutdated(ctx context.Context, c client.Client, mut instrumentation.Mutator, lookup instrumentation.Lookup, ns *corev1.Namespace, pod *corev1.Pod) (bool, string, error) {
	if st, ok, err := instrumentation.ReadStatus(pod); ok && err == nil {
		for _, l := range st.Languages {
			if l.Instrumentation == "" || len(l.Injected) == 0 {
				continue
			}
			nsName, instName, _ := strings.Cut(l.Instrumentation, "/")
			inst, err := lookup.GetInstrumentation(ctx, nsName, instName)
			if err != nil {
				return true, fmt.Sprintf("its Instrumentation %s is gone (%v)", l.Instrumentation, err), nil
			}
			if now := instrumentation.SpecHash(inst); now != l.Hash {
				return true, fmt.Sprintf("injected from %s at spec hash %s, the spec is now %s", l.Instrumentation, l.Hash, now), nil
			}
		}
		return false, "the recorded spec hash matches the Instrumentation", nil
	}
	template, err := ownerTemplate(ctx, c, pod)
	if err != nil {
		return false, "", err
	}
	candidate := &corev1.Pod{ObjectMeta: *template.ObjectMeta.DeepCopy(), Spec: *template.Spec.DeepCopy()}
	candidate.Namespace, candidate.OwnerReferences = pod.Namespace, pod.OwnerReferences
	now, report := mut.Mutate(ctx, ns, candidate, lookup)
	if report.Outcome != instrumentation.OutcomeInjected {
		return true, "injection would no longer apply: " + report.Reason, nil
	}
	for _, want := range now.Spec.Containers {
		for _, got := range pod.Spec.Containers {
			if got.Name == want.Name && !apiequality.Semantic.DeepEqual(got.Env, withAPIDefaults(want.Env)) {
				return true, fmt.Sprintf("container %s's environment differs from what the Instrumentation gives now", want.Name), nil
			}
		}
	}
	for _, want := range now.Spec.InitContainers {
		for _, got := range pod.Spec.InitContainers {
			if got.Name == want.Name && got.Image != want.Image {
				return true, fmt.Sprintf("init container %s runs %s, the Instrumentation now says %s", want.Name, got.Image, want.Image), nil
			}
		}
	}
	return false, "the injected environment and images match the Instrumentation", nil
}

// withAPIDefaults applies the API server's defaulting of downward-API
// references (fieldRef.apiVersion v1) so stored and computed env compare.
func withAPIDefaults(env []corev1.EnvVar) []corev1.EnvVar {
	out := make([]corev1.EnvVar, len(env))
	for i, e := range env {
		out[i] = *e.DeepCopy()
		if f := out[i].ValueFrom; f != nil && f.FieldRef != nil && f.FieldRef.APIVersion == "" {
			f.FieldRef.APIVersion = "v1"
		}
	}
	return out
}

var errNoTemplate = errors.New("a bare pod without a status annotation cannot be compared (start the operator with --pod-status-annotations)")

// ownerTemplate is the pod template the pod was created from.
func ownerTemplate(ctx context.Context, c client.Client, pod *corev1.Pod) (*corev1.PodTemplateSpec, error) {
	owner := metav1.GetControllerOf(pod)
	if owner == nil {
		return nil, errNoTemplate
	}
	key := types.NamespacedName{Namespace: pod.Namespace, Name: owner.Name}
	// Each kind autotel knows, with where its pod template is once read.
	var rs appsv1.ReplicaSet
	var ss appsv1.StatefulSet
	var ds appsv1.DaemonSet
	var job batchv1.Job
	owners := map[string]struct {
		obj      client.Object
		template *corev1.PodTemplateSpec
	}{
		"ReplicaSet":  {&rs, &rs.Spec.Template},
		"StatefulSet": {&ss, &ss.Spec.Template},
		"DaemonSet":   {&ds, &ds.Spec.Template},
		"Job":         {&job, &job.Spec.Template},
	}
	o, ok := owners[owner.Kind]
	if !ok {
		return nil, fmt.Errorf("owner kind %s is not one autotel knows", owner.Kind)
	}
	if err := c.Get(ctx, key, o.obj); err != nil {
		return nil, fmt.Errorf("reading owner %s: %w", owner.Kind, err)
	}
	return o.template, nil
}

// annotationOnWorkloadHint catches the most common mistake (upstream
// issue #1123): the inject annotation on the Deployment's own metadata,
// which pods never see, instead of spec.template.metadata.
func annotationOnWorkloadHint(ctx context.Context, c client.Client, pod *corev1.Pod) string {
	owner := metav1.GetControllerOf(pod)
	if owner == nil {
		return ""
	}
	var meta metav1.ObjectMeta
	kind := owner.Kind
	key := types.NamespacedName{Namespace: pod.Namespace, Name: owner.Name}
	if owner.Kind == "ReplicaSet" {
		var rs appsv1.ReplicaSet
		if c.Get(ctx, key, &rs) != nil {
			return ""
		}
		meta = rs.ObjectMeta
		if d := metav1.GetControllerOf(&rs); d != nil && d.Kind == "Deployment" {
			var dep appsv1.Deployment
			if c.Get(ctx, types.NamespacedName{Namespace: pod.Namespace, Name: d.Name}, &dep) == nil {
				meta, kind = dep.ObjectMeta, "Deployment"
			}
		}
	}
	for k := range meta.Annotations {
		if strings.HasPrefix(k, "instrumentation.opentelemetry.io/inject-") {
			return fmt.Sprintf("the %s %s has %s on its own metadata; it must be on spec.template.metadata.annotations to reach its pods", kind, meta.Name, k)
		}
	}
	return ""
}
