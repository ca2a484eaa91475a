package controllers

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/autotel/autotel/internal/instrumentation"
)

// +kubebuilder:rbac:groups=admissionregistration.k8s.io,resources=mutatingwebhookconfigurations,verbs=get;list;watch;patch

// MatchConditionName names autotel's condition on the pod webhook.
const MatchConditionName = "autotel-injection-requested"

// InjectAnnotationPrefix starts every annotation that can ask for
// injection (instrumentation.opentelemetry.io/inject-<language>). The
// injector acts on nothing else: without such an annotation on the pod or
// its namespace, Mutate answers "not requested" and changes nothing — the
// cluster default Instrumentation, status annotations, rollout and the
// missed-pod sweep all start from that annotation too — so no autotel
// feature needs to see every pod.
const InjectAnnotationPrefix = "instrumentation.opentelemetry.io/inject-"

// Condition modes, logged and reported when they change.
const (
	// ModeExclude lists the namespaces known NOT to ask for injection:
	// a namespace the operator has not seen yet (just created, with or
	// without an annotation) reaches the webhook, so creating a namespace
	// with its annotation and a pod right after needs no recovery.
	ModeExclude = "exclude-namespaces"
	// ModeInclude lists the namespaces that ask for injection: used when
	// the exclude list would be too long.
	ModeInclude = "include-namespaces"
	// ModeNone: both lists too long, or conditions turned off; every pod
	// reaches the webhook, as without match conditions.
	ModeNone = "none"
)

// MatchConditions keeps the pod webhook's matchConditions current, so that
// only pods that can be injected reach the webhook (upstream's webhook sees
// every pod in the cluster). The condition is one CEL expression: the pod
// carries an inject-* annotation, or its namespace is one that asks for
// injection. CEL sees the pod but not its namespace, so the namespace part
// is a list of names the operator rewrites from a namespace watch.
type MatchConditions struct {
	Client client.Client // writes the webhook configuration (server-side apply)
	Reader client.Reader // reads the configuration and lists pods directly (no cluster-wide caches)
	Cache  cache.Cache   // namespaces
	// Configuration is the MutatingWebhookConfiguration; Webhook the pod
	// webhook's name in it.
	Configuration string
	Webhook       string
	// MaxNamespaces bounds the names listed in the expression; above it in
	// both modes (or above MaxExpressionSize) the condition is removed and
	// every pod reaches the webhook.
	MaxNamespaces int
	// Rollout restarts workloads of pods created in the window between a
	// namespace annotation and the condition's update.
	Rollout *Rollout
	// Settle is how long the API server takes to act on a new webhook
	// configuration (its informer); window recovery waits that long.
	Settle time.Duration

	trigger chan struct{}
	// live is what the configuration says now (read at start, then what
	// we wrote); nil mode means unknown.
	liveMode    string
	liveNames   map[string]bool
	unsupported bool
}

// NeedLeaderElection: one writer.
func (m *MatchConditions) NeedLeaderElection() bool { return true }

// Start watches namespaces and rewrites the condition on every change.
func (m *MatchConditions) Start(ctx context.Context) error {
	log := m.Rollout.Log.WithName("match-conditions")
	m.trigger = make(chan struct{}, 1)
	inf, err := m.Cache.GetInformer(ctx, &corev1.Namespace{})
	if err != nil {
		return fmt.Errorf("watching namespaces for the pod webhook's match conditions: %w", err)
	}
	poke := func(any) { m.poke() }
	if _, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc: poke, DeleteFunc: poke,
		UpdateFunc: func(oldObj, newObj any) {
			o, ok1 := oldObj.(*corev1.Namespace)
			n, ok2 := newObj.(*corev1.Namespace)
			if !ok1 || !ok2 || asksForInjection(o) != asksForInjection(n) {
				m.poke()
			}
		},
	}); err != nil {
		return fmt.Errorf("watching namespaces for the pod webhook's match conditions: %w", err)
	}
	if !m.Cache.WaitForCacheSync(ctx) {
		return nil
	}
	if err := m.readLive(ctx); err != nil {
		if apierrors.IsForbidden(err) || apierrors.IsNotFound(err) {
			// The chart grants get/patch on the configuration with
			// self-managed certificates (the rotator's rule); other
			// installs may not name or grant it.
			log.Info("not managing the pod webhook's match conditions: every pod reaches the webhook, as without them; grant get and patch on the MutatingWebhookConfiguration and name it with --mutating-webhook-configuration to enable them", "configuration", m.Configuration, "reason", err.Error())
			return nil
		}
		log.Error(err, "reading the pod webhook's match conditions; every namespace is treated as newly included")
	}
	m.poke()
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-m.trigger:
		case <-retry.C:
		}
		if m.unsupported {
			continue
		}
		if err := m.sync(ctx); apierrors.IsForbidden(err) {
			log.Info("not allowed to patch the pod webhook's match conditions: every pod reaches the webhook, as without them", "reason", err.Error())
			return nil
		} else if err != nil {
			log.Error(err, "updating the pod webhook's match conditions; retrying")
			retry.Reset(5 * time.Second)
		}
	}
}

func (m *MatchConditions) poke() {
	select {
	case m.trigger <- struct{}{}:
	default:
	}
}

// asksForInjection mirrors instrumentation.RequestsInjection for the
// namespace alone: an inject-* annotation whose value is not "false".
func asksForInjection(ns *corev1.Namespace) bool {
	for k, v := range ns.Annotations {
		if (strings.HasPrefix(k, InjectAnnotationPrefix) || k == instrumentation.SidecarAnnotation) && v != "" && !strings.EqualFold(v, "false") {
			return true
		}
	}
	return false
}

// podAnnotated is the pod half of the expression: any inject-* key or the
// collector sidecar's, whatever its value (a superset of what the injector
// acts on; the webhook decides; "false" removes a sidecar, as upstream).
const podAnnotated = "(has(object.metadata.annotations) && object.metadata.annotations.exists(k, k.startsWith('" + InjectAnnotationPrefix + "') || k == '" + instrumentation.SidecarAnnotation + "'))"

// MaxExpressionSize is the API server's limit on a CEL expression (code
// points; namespace names are ASCII). Kubernetes 1.35 rejects longer ones
// ("expression code point size exceeds limit"), so about 1,500 namespace
// names of the longest length fit.
const MaxExpressionSize = 100_000

// BuildCondition returns the expression for the given namespaces, and the
// mode. annotated and plain are the namespaces that do and do not ask for
// injection.
func BuildCondition(annotated, plain []string, maxNamespaces int) (expr, mode string) {
	list := func(names []string) string {
		names = slices.Clone(names)
		slices.Sort(names)
		quoted := make([]string, len(names))
		for i, n := range names {
			quoted[i] = "'" + n + "'" // namespace names are DNS labels: nothing to escape
		}
		return "[" + strings.Join(quoted, ", ") + "]"
	}
	if maxNamespaces <= 0 {
		return "", ModeNone
	}
	if len(plain) <= maxNamespaces {
		if e := podAnnotated + " || !(request.namespace in " + list(plain) + ")"; len(e) <= MaxExpressionSize {
			return e, ModeExclude
		}
	}
	if len(annotated) <= maxNamespaces {
		if e := podAnnotated + " || request.namespace in " + list(annotated); len(e) <= MaxExpressionSize {
			return e, ModeInclude
		}
	}
	return "", ModeNone
}

var quotedName = regexp.MustCompile(`'([a-z0-9.-]+)'`)

// parseCondition recovers mode and names from an expression BuildCondition
// wrote (the configuration is the only state kept across restarts).
func parseCondition(expr string) (string, map[string]bool) {
	rest, ok := strings.CutPrefix(expr, podAnnotated)
	if !ok {
		return "", nil
	}
	mode := ModeInclude
	if strings.HasPrefix(rest, " || !(") {
		mode = ModeExclude
	}
	names := map[string]bool{}
	for _, m := range quotedName.FindAllStringSubmatch(rest, -1) {
		names[m[1]] = true
	}
	return mode, names
}

// included tells whether pods of a namespace reach the webhook under a
// condition (mode, names).
func included(mode string, names map[string]bool, ns string) bool {
	switch mode {
	case ModeExclude:
		return !names[ns]
	case ModeInclude:
		return names[ns]
	}
	return true
}

func (m *MatchConditions) readLive(ctx context.Context) error {
	var mwc admissionregistrationv1.MutatingWebhookConfiguration
	if err := m.Reader.Get(ctx, types.NamespacedName{Name: m.Configuration}, &mwc); err != nil {
		return fmt.Errorf("reading MutatingWebhookConfiguration %s: %w", m.Configuration, err)
	}
	m.liveMode, m.liveNames = ModeNone, nil
	for _, w := range mwc.Webhooks {
		if w.Name != m.Webhook {
			continue
		}
		for _, c := range w.MatchConditions {
			if c.Name == MatchConditionName {
				m.liveMode, m.liveNames = parseCondition(c.Expression)
			}
		}
	}
	return nil
}

// sync writes the condition the namespaces call for, then recovers pods
// created in namespaces that the previous condition left out.
func (m *MatchConditions) sync(ctx context.Context) error {
	log := m.Rollout.Log.WithName("match-conditions")
	var list corev1.NamespaceList
	if err := m.Cache.List(ctx, &list); err != nil {
		return fmt.Errorf("listing namespaces: %w", err)
	}
	var annotated, plain []string
	byName := map[string]*corev1.Namespace{}
	for i := range list.Items {
		ns := &list.Items[i]
		byName[ns.Name] = ns
		if asksForInjection(ns) {
			annotated = append(annotated, ns.Name)
		} else {
			plain = append(plain, ns.Name)
		}
	}
	expr, mode := BuildCondition(annotated, plain, m.MaxNamespaces)
	newMode, newNames := mode, map[string]bool{}
	if mode != ModeNone {
		_, newNames = parseCondition(expr)
	}
	if mode == m.liveMode && mapsEqual(newNames, m.liveNames) {
		return nil
	}
	if err := m.apply(ctx, expr); err != nil {
		return err
	}
	if mode != m.liveMode {
		log.Info("pod webhook match conditions", "mode", mode, "annotatedNamespaces", len(annotated), "otherNamespaces", len(plain), "maxNamespaces", m.MaxNamespaces)
	}
	prevMode, prevNames := m.liveMode, m.liveNames
	m.liveMode, m.liveNames = newMode, newNames
	if m.unsupported {
		return nil
	}
	// Namespaces whose pods now reach the webhook and did not before: pods
	// created there in between were admitted without it.
	var opened []*corev1.Namespace
	for _, name := range annotated {
		if prevMode != "" && !included(prevMode, prevNames, name) {
			opened = append(opened, byName[name])
		}
	}
	if len(opened) > 0 {
		go m.recover(ctx, opened, time.Now())
	}
	return nil
}

func mapsEqual(a, b map[string]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if !b[k] {
			return false
		}
	}
	return true
}

// apply writes (expr != "") or removes autotel's condition with
// server-side apply under its own field manager: cert rotation's caBundle
// writes and Helm's fields are left alone, and applying without the
// condition removes exactly what this manager wrote.
func (m *MatchConditions) apply(ctx context.Context, expr string) error {
	webhook := map[string]any{"name": m.Webhook}
	if expr != "" {
		webhook["matchConditions"] = []any{map[string]any{"name": MatchConditionName, "expression": expr}}
	}
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "admissionregistration.k8s.io/v1",
		"kind":       "MutatingWebhookConfiguration",
		"metadata":   map[string]any{"name": m.Configuration},
		"webhooks":   []any{webhook},
	}}
	err := m.Client.Patch(ctx, u, client.Apply, client.FieldOwner("autotel-match-conditions"), client.ForceOwnership) //nolint:staticcheck // SA1019: Client.Apply needs typed apply configurations; admissionregistration has them, but one unstructured SSA patch of a single field keeps this free of the generated applyconfigurations package.
	if err != nil {
		return fmt.Errorf("applying matchConditions to webhook %s of MutatingWebhookConfiguration %s: %w", m.Webhook, m.Configuration, err)
	}
	if expr == "" {
		return nil
	}
	// An API server without match conditions (before Kubernetes 1.28 by
	// default) drops the field: every pod keeps reaching the webhook, as
	// before, and there is nothing to keep current.
	raw, _ := json.Marshal(u.Object["webhooks"])
	if !strings.Contains(string(raw), MatchConditionName) {
		m.unsupported = true
		m.Rollout.Log.WithName("match-conditions").Info("the API server does not keep webhook matchConditions; every pod reaches the pod webhook, as without them")
	}
	return nil
}

// recover restarts, once, the workloads of pods that asked for injection
// (a language or the collector sidecar) and were created in a namespace before the condition let its pods reach
// the webhook (the way MissedPods recovers pods created while the webhook
// was down). Only pods created since the namespace's annotation count:
// annotating a namespace never restarted existing pods, upstream or here.
func (m *MatchConditions) recover(ctx context.Context, namespaces []*corev1.Namespace, applied time.Time) {
	log := m.Rollout.Log.WithName("match-conditions")
	select {
	case <-ctx.Done():
		return
	case <-time.After(m.Settle):
	}
	for _, cached := range namespaces {
		// Read directly: the cache strips managed fields, which date the
		// annotation.
		ns := &corev1.Namespace{}
		if err := m.Reader.Get(ctx, types.NamespacedName{Name: cached.Name}, ns); err != nil {
			log.Error(err, "reading namespace for window recovery", "namespace", cached.Name)
			continue
		}
		since := annotatedAt(ns).Add(-time.Second) // timestamps are whole seconds
		pods, err := unrecordedPods(ctx, m.Reader, ns)
		if err != nil {
			log.Error(err, "listing pods for window recovery", "namespace", ns.Name)
			continue
		}
		for _, pod := range pods {
			if pod.CreationTimestamp.Time.Before(since) || pod.CreationTimestamp.Time.After(applied.Add(m.Settle)) {
				continue
			}
			if !m.wouldInject(ctx, pod) {
				continue // the webhook would not inject it either
			}
			why := "pod " + pod.Name + " was created after namespace " + ns.Name + " asked for injection, before the pod webhook's match conditions included it"
			obj, err := m.Rollout.workloadOf(ctx, pod)
			if err == nil && obj == nil {
				m.Rollout.Recorder.Event(pod, corev1.EventTypeWarning, "InstrumentationMissed", why+"; it has no workload to restart: recreate it to instrument it")
				continue
			}
			key := fmt.Sprintf("window:%s@%d", ns.Name, since.Unix())
			// Nothing runs recover again for this window: a restart the
			// rate limit defers is waited for, not dropped.
			for {
				wait, err := m.Rollout.restartOwner(ctx, pod, key, why)
				if err != nil {
					log.Error(err, "restarting workload", "pod", pod.Name)
				}
				if err != nil || wait == 0 {
					break
				}
				select {
				case <-ctx.Done():
					return
				case <-time.After(wait):
				}
			}
		}
	}
}

// annotatedAt is when the namespace's inject annotation was written: the
// last write of the earliest field manager owning one (a later write by
// that manager only narrows the window, never restarts older pods); else
// the namespace's creation.
func annotatedAt(ns *corev1.Namespace) time.Time {
	var at time.Time
	for _, mf := range ns.ManagedFields {
		if mf.FieldsV1 == nil || mf.Time == nil || (!strings.Contains(string(mf.FieldsV1.Raw), `"f:`+InjectAnnotationPrefix) && !strings.Contains(string(mf.FieldsV1.Raw), `"f:`+instrumentation.SidecarAnnotation)) {
			continue
		}
		if at.IsZero() || mf.Time.Time.Before(at) {
			at = mf.Time.Time
		}
	}
	if at.Before(ns.CreationTimestamp.Time) {
		at = ns.CreationTimestamp.Time
	}
	return at
}

// wouldInject asks the API server, with a dry-run create of the pod's twin,
// whether the webhook instruments it now (a language agent or the
// collector sidecar). Unlike MissedPods.probe it needs no status
// annotation: the namespace need not have opted into rollout.
func (m *MatchConditions) wouldInject(ctx context.Context, pod *corev1.Pod) bool {
	twin := probeTwin(pod)
	if err := m.Client.Create(ctx, twin, client.DryRunAll); err != nil {
		return false
	}
	return instrumentation.ShowsInjection(twin)
}
