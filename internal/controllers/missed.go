package controllers

import (
	"context"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/autotel/autotel/internal/instrumentation"
)

// MissedPods finds, in namespaces opted into rollout, pods that asked for
// injection but never reached the webhook (created while it was down: the
// failurePolicy is Ignore, so the API server admitted them silently —
// upstream issues #1765, #2901) and restarts their workloads once the
// webhook is reachable again.
type MissedPods struct {
	Rollout *Rollout
	// Reader lists pods directly; they carry no label to cache them by.
	Reader client.Reader
	Every  time.Duration
}

// NeedLeaderElection: one replica restarting workloads is enough.
func (m *MissedPods) NeedLeaderElection() bool { return true }

// Start sweeps until ctx ends.
func (m *MissedPods) Start(ctx context.Context) error {
	t := time.NewTicker(m.Every)
	defer t.Stop()
	for {
		m.Sweep(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Sweep checks every opted-in namespace once.
func (m *MissedPods) Sweep(ctx context.Context) {
	log := m.Rollout.Log.WithName("missed-pods")
	var namespaces corev1.NamespaceList
	if err := m.Rollout.Client.List(ctx, &namespaces); err != nil {
		log.Error(err, "listing namespaces")
		return
	}
	for _, ns := range namespaces.Items {
		if ns.Annotations[instrumentation.RolloutAnnotation] != "true" {
			continue
		}
		pods, err := unrecordedPods(ctx, m.Reader, &ns)
		if err != nil {
			log.Error(err, "listing pods", "namespace", ns.Name)
			continue
		}
		for _, pod := range pods {
			hash, ok := m.probe(ctx, pod)
			if !ok {
				continue // the webhook is still unreachable; a restart would not help
			}
			if _, err := m.Rollout.restartOwner(ctx, pod, "missed:"+hash, "pod "+pod.Name+" was created while the webhook was unreachable"); err != nil {
				log.Error(err, "restarting workload", "pod", pod.Name)
			}
		}
	}
}

// unrecordedPods lists the namespace's pods that are not being deleted and
// that the webhook may have missed (instrumentation.UnseenByWebhook: asked
// for a language or the collector sidecar; no recorded decision, which an
// opted-in namespace always gets; nothing injected).
func unrecordedPods(ctx context.Context, r client.Reader, ns *corev1.Namespace) ([]*corev1.Pod, error) {
	var pods corev1.PodList
	if err := r.List(ctx, &pods, client.InNamespace(ns.Name)); err != nil {
		return nil, err
	}
	var out []*corev1.Pod
	for i := range pods.Items {
		pod := &pods.Items[i]
		if pod.DeletionTimestamp == nil && instrumentation.UnseenByWebhook(ns, pod) {
			out = append(out, pod)
		}
	}
	return out, nil
}

// probeTwin builds the pod's twin for a dry-run create: same namespace,
// labels, owners and spec, only the annotations the webhook reads, and no
// node name so the API server treats it as a new pod.
func probeTwin(pod *corev1.Pod) *corev1.Pod {
	twin := &corev1.Pod{}
	twin.Namespace = pod.Namespace
	twin.GenerateName = "autotel-probe-"
	twin.Labels = pod.Labels
	twin.Annotations = map[string]string{}
	for k, v := range pod.Annotations {
		if strings.HasPrefix(k, "instrumentation.opentelemetry.io/") || strings.HasPrefix(k, "resource.opentelemetry.io/") ||
			strings.HasPrefix(k, "sidecar.opentelemetry.io/") {
			twin.Annotations[k] = v
		}
	}
	twin.OwnerReferences = pod.OwnerReferences
	twin.Spec = *pod.Spec.DeepCopy()
	twin.Spec.NodeName = ""
	return twin
}

// probe asks the API server, with a dry-run create of the pod's twin,
// whether the webhook instruments it now (a language or the collector
// sidecar); hash names what it would inject, so the restart happens once
// per injection.
func (m *MissedPods) probe(ctx context.Context, pod *corev1.Pod) (string, bool) {
	twin := probeTwin(pod)
	if err := m.Rollout.Client.Create(ctx, twin, client.DryRunAll); err != nil {
		return "", false
	}
	st, ok, err := instrumentation.ReadStatus(twin)
	if !ok || err != nil {
		return "", false
	}
	sidecar := st.Sidecar != nil && st.Sidecar.Injected
	if st.Outcome != instrumentation.OutcomeInjected && !sidecar {
		return "", false
	}
	var hashes []string
	if st.Outcome == instrumentation.OutcomeInjected {
		for _, l := range st.Languages {
			hashes = append(hashes, l.Hash)
		}
	}
	if sidecar {
		hashes = append(hashes, "sidecar:"+st.Sidecar.Hash)
	}
	return strings.Join(hashes, "+"), true
}
