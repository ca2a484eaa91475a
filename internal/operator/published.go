package operator

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/autotel/autotel/internal/instrumentation"
	"github.com/autotel/autotel/internal/webhook/instrumentationwebhook"
)

// The operator publishes the settings that decide what a pod looks like
// after admission in a ConfigMap of its namespace, and `autotel inject`
// and `autotel explain` read it, so a preview is made with the installed
// operator's settings, not the CLI's built-in defaults.
//
// Why the operator writes it, rather than the chart writing a ConfigMap the
// operator reads, or the CLI parsing the operator Deployment's args: only
// the running binary knows its effective settings — its own built-in
// defaults (agent images of its release, which a CLI of another version
// does not share), and flags given outside the chart (kustomize, `make
// run`, an edited Deployment). Publishing what it parsed covers them all
// with one reader. Each replica writes the same content; during a rolling
// upgrade with changed settings the last writer wins until the old
// replicas are gone, which is also when the old settings stop admitting
// pods.
const (
	// InjectionConfigLabel ("true") marks the ConfigMap so the CLI finds
	// it without knowing where the operator is installed.
	InjectionConfigLabel = "autotel.io/injection-config"
	// InjectionConfigKey is the data key holding PublishedConfig as JSON.
	InjectionConfigKey = "injection.json"
	// DefaultInjectionConfigName is the ConfigMap's name unless
	// --injection-config-name says otherwise.
	DefaultInjectionConfigName = "autotel-injection-config"
)

// PublishedConfig is the content of the injection ConfigMap.
type PublishedConfig struct {
	// Injection is what the pod webhook applies (enabled languages,
	// multi-instrumentation, pod status annotations).
	Injection instrumentation.Config `json:"injection"`
	// Images are the defaults the Instrumentation webhook writes into
	// Instrumentations that name none, keyed like the image flags
	// (auto-instrumentation-<key>-image).
	Images map[string]string `json:"images"`
}

// Published is the configuration these options publish.
func (o Options) Published() PublishedConfig {
	p := PublishedConfig{Injection: o.Injection, Images: map[string]string{}}
	p.Injection.Enabled = maps.Clone(o.Injection.Enabled)
	p.Injection.CollectorImage = o.CollectorImage
	for _, f := range imageFlags(&o.Images) {
		p.Images[f.key] = *f.ptr
	}
	return p
}

// WebhookImages turns the published images back into the Instrumentation
// webhook's defaults; keys it does not know (a newer operator's) are
// ignored, missing ones fall back to the webhook's built-in defaults.
func (p PublishedConfig) WebhookImages() instrumentationwebhook.Images {
	var images instrumentationwebhook.Images
	for _, f := range imageFlags(&images) {
		*f.ptr = p.Images[f.key]
	}
	return images
}

// imageFlag ties an image flag's key to its Images field: the flags, the
// published keys and their reading back use this one list.
type imageFlag struct {
	key, usage string
	ptr        *string
}

// imageFlags has one flag per language with a spec section, in the
// language table's order, keyed by the language's name (as upstream's
// flags are), and autotel's Python log agent last.
func imageFlags(i *instrumentationwebhook.Images) []imageFlag {
	var flags []imageFlag
	for _, l := range instrumentation.Languages {
		if sec, ok := l.Spec(); ok {
			flags = append(flags, imageFlag{key: string(l), ptr: sec.Image(i), usage: "default image for " + string(l) + " auto-instrumentation"})
		}
	}
	return append(flags, imageFlag{key: "python-logs", ptr: &i.PythonLogs,
		usage: "autotel's Python log agent image, used for Instrumentations annotated " + instrumentationwebhook.PythonAgentAnnotation + ": logs"})
}

// ReadPublishedConfig decodes the ConfigMap, naming it in errors.
func ReadPublishedConfig(cm *corev1.ConfigMap) (PublishedConfig, error) {
	raw, ok := cm.Data[InjectionConfigKey]
	if !ok {
		return PublishedConfig{}, fmt.Errorf("ConfigMap %s/%s has no %s key (written by another program?)", cm.Namespace, cm.Name, InjectionConfigKey)
	}
	var p PublishedConfig
	if err := json.Unmarshal([]byte(raw), &p); err != nil {
		return PublishedConfig{}, fmt.Errorf("ConfigMap %s/%s: %s is not valid JSON: %w", cm.Namespace, cm.Name, InjectionConfigKey, err)
	}
	if p.Injection.Enabled == nil {
		return PublishedConfig{}, fmt.Errorf("ConfigMap %s/%s: %s lacks injection.enabled", cm.Namespace, cm.Name, InjectionConfigKey)
	}
	return p, nil
}

// configPublisher writes the ConfigMap at startup, retrying until it
// succeeds: the webhook works without it (only the CLI reads it), so a
// failure is logged, never fatal.
type configPublisher struct {
	key    types.NamespacedName
	config PublishedConfig
	// reader reads the ConfigMap directly: the manager's cache does not
	// hold ConfigMaps and must not start watching all of them for this.
	reader client.Reader
	writer client.Client
	log    logr.Logger
}

// NeedLeaderElection: every replica publishes, so a CLI sees the settings
// as soon as any replica runs.
func (p *configPublisher) NeedLeaderElection() bool { return false }

func (p *configPublisher) Start(ctx context.Context) error {
	backoff := wait.Backoff{Duration: time.Second, Factor: 2, Jitter: 0.1, Steps: 1 << 30, Cap: time.Minute}
	last := ""
	for {
		err := p.publish(ctx)
		if apierrors.IsAlreadyExists(err) || apierrors.IsConflict(err) {
			// Another replica wrote it between our read and our write: the
			// expected race of a fresh install, not worth an error line.
			// Read again at once; its content may be an older operator's.
			err = p.publish(ctx)
		}
		if err == nil {
			p.log.Info("published injection settings for the CLI", "configmap", p.key.String())
			return nil
		}
		// Logged when the error changes, not at every retry (a missing
		// namespace would otherwise fill the log).
		if err.Error() != last {
			last = err.Error()
			p.log.Error(err, "publishing injection settings for the CLI (autotel inject/explain); retrying", "configmap", p.key.String())
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff.Step()):
		}
	}
}

func (p *configPublisher) publish(ctx context.Context) error {
	raw, err := json.MarshalIndent(p.config, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding injection settings: %w", err)
	}
	data := map[string]string{InjectionConfigKey: string(raw) + "\n"}
	var cm corev1.ConfigMap
	err = p.reader.Get(ctx, p.key, &cm)
	switch {
	case apierrors.IsNotFound(err):
		cm = corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: p.key.Namespace, Name: p.key.Name,
			Labels: map[string]string{InjectionConfigLabel: "true", "app.kubernetes.io/managed-by": "autotel-operator"}}, Data: data}
		if err := p.writer.Create(ctx, &cm); err != nil {
			return fmt.Errorf("creating ConfigMap %s: %w", p.key, err)
		}
		return nil
	case err != nil:
		return fmt.Errorf("reading ConfigMap %s: %w", p.key, err)
	}
	if maps.Equal(cm.Data, data) && cm.Labels[InjectionConfigLabel] == "true" {
		return nil
	}
	if cm.Labels == nil {
		cm.Labels = map[string]string{}
	}
	cm.Labels[InjectionConfigLabel] = "true"
	cm.Data = data
	if err := p.writer.Update(ctx, &cm); err != nil {
		return fmt.Errorf("updating ConfigMap %s: %w", p.key, err)
	}
	return nil
}
