// Package instrumentationwebhook defaults and validates Instrumentation
// resources the way the OpenTelemetry Operator does, so that manifests
// written for it are stored, accepted and rejected identically here.
package instrumentationwebhook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/autotel/autotel/api/v1alpha1"
	"github.com/autotel/autotel/internal/instrumentation"
)

// Images are the agent images the operator puts into Instrumentations that
// leave them empty, and records as the current defaults. Images.PythonLogs
// is chosen per Instrumentation with the annotation PythonAgentAnnotation:
// "logs" (or by naming the image in spec.python.image).
//
// The type lives with the language table (instrumentation.Images), whose
// rows point at their field, so a language is declared in one place.
type Images = instrumentation.Images

// PythonAgentAnnotation = "logs" on an Instrumentation defaults its
// spec.python.image to autotel's log agent instead of upstream's image.
// It switches existing Instrumentations too, both ways, as long as
// spec.python.image holds an image defaulting chose (see Default).
const PythonAgentAnnotation = "autotel.io/python-agent"

// PythonAgentLogs is the PythonAgentAnnotation value that selects autotel's
// log agent.
const PythonAgentLogs = "logs"

// DefaultPythonLogsImageAnnotation records the log agent image defaulting
// put into spec.python.image, the way upstream's
// instrumentation.opentelemetry.io/default-auto-instrumentation-python-image
// records its own default: an image equal to it was chosen by autotel, not
// the user, so removing PythonAgentAnnotation may switch it back.
const DefaultPythonLogsImageAnnotation = "autotel.io/default-python-logs-image"

// DefaultPythonLogsImage is the image agent/python/image builds.
const DefaultPythonLogsImage = "autotel/autoinstrumentation-python-logs:0.1.0"

// sections are the spec sections of the languages that have one, in
// application order.
var sections = func() []instrumentation.SpecSection {
	var out []instrumentation.SpecSection
	for _, l := range instrumentation.Languages {
		if s, ok := l.Spec(); ok {
			out = append(out, s)
		}
	}
	return out
}()

// DefaultImages returns the images the upstream operator release we track
// ships as defaults (each language's SpecSection.DefaultImage), so
// Instrumentations defaulted by either operator pin the same agents, plus
// autotel's Python log agent.
func DefaultImages() Images {
	d := Images{PythonLogs: DefaultPythonLogsImage}
	for _, s := range sections {
		*s.Image(&d) = s.DefaultImage
	}
	return d
}

// orDefaults fills unset images from DefaultImages, so a zero Webhook never
// writes an empty image into a spec (which would break injection later).
func orDefaults(i Images) Images {
	d := DefaultImages()
	for _, s := range sections {
		setIfEmpty(s.Image(&i), *s.Image(&d))
	}
	setIfEmpty(&i.PythonLogs, d.PythonLogs)
	return i
}

// The markers register what upstream registers, so generated manifests are
// interchangeable. Delete gets its own entry with failurePolicy ignore so an
// unreachable operator never blocks cleanup.
//
// +kubebuilder:webhook:path=/mutate-opentelemetry-io-v1alpha1-instrumentation,mutating=true,failurePolicy=fail,sideEffects=None,groups=opentelemetry.io,resources=instrumentations,verbs=create;update,versions=v1alpha1,name=minstrumentation.kb.io,admissionReviewVersions=v1
// +kubebuilder:webhook:path=/validate-opentelemetry-io-v1alpha1-instrumentation,mutating=false,failurePolicy=fail,sideEffects=None,groups=opentelemetry.io,resources=instrumentations,verbs=create;update,versions=v1alpha1,name=vinstrumentationcreateupdate.kb.io,admissionReviewVersions=v1
// +kubebuilder:webhook:path=/validate-opentelemetry-io-v1alpha1-instrumentation,mutating=false,failurePolicy=ignore,sideEffects=None,groups=opentelemetry.io,resources=instrumentations,verbs=delete,versions=v1alpha1,name=vinstrumentationdelete.kb.io,admissionReviewVersions=v1
// +kubebuilder:object:generate=false

// Webhook defaults and validates Instrumentations. Empty Images fields fall
// back to DefaultImages.
type Webhook struct {
	Images Images
}

var (
	_ admission.Defaulter[*v1alpha1.Instrumentation] = (*Webhook)(nil)
	_ admission.Validator[*v1alpha1.Instrumentation] = (*Webhook)(nil)
)

// SetupWithManager serves the webhook on the manager's webhook server, at
// the paths the markers above register.
func (w *Webhook) SetupWithManager(mgr ctrl.Manager) error {
	if err := ctrl.NewWebhookManagedBy(mgr, &v1alpha1.Instrumentation{}).
		WithDefaulter(w).
		WithValidator(w).
		Complete(); err != nil {
		return fmt.Errorf("registering Instrumentation webhooks: %w", err)
	}
	return nil
}

// Default stores the agent images and init container resources an
// Instrumentation resolves to, so later operator upgrades do not silently
// change what existing workloads get.
func (w *Webhook) Default(ctx context.Context, inst *v1alpha1.Instrumentation) error {
	images := orDefaults(w.Images)

	for _, l := range instrumentation.Languages {
		sec, ok := l.Spec()
		if !ok {
			continue
		}
		f := sec.Of(&inst.Spec)
		if l == instrumentation.Python {
			// Before the default-image annotations below are rewritten:
			// what they held tells images defaulting chose from images the
			// user chose.
			if err := defaultPythonImage(ctx, inst, images); err != nil {
				return err
			}
		} else {
			setIfEmpty(f.Image, *sec.Image(&images))
		}
		defaultResources(f.Resources, sec.RequestCPU, sec.RequestMemory)
		if sec.Defaults != nil {
			sec.Defaults(&inst.Spec)
		}
	}

	// Rewritten on every admission, not only when empty: image upgrades
	// compare a spec image with these to tell operator defaults from images
	// the user chose.
	if inst.Annotations == nil {
		inst.Annotations = map[string]string{}
	}
	for _, l := range instrumentation.Languages {
		if sec, ok := l.Spec(); ok {
			inst.Annotations[instrumentation.DefaultImageAnnotation(l)] = *sec.Image(&images)
		}
	}
	return nil
}

// defaultPythonImage picks spec.python.image from PythonAgentAnnotation
// on every admission, not only on create: the image is filled when the
// Instrumentation is first stored, so an annotation added (or removed)
// later must be able to replace an image that defaulting chose. An image
// the user chose is never replaced; validate warns that the annotation is
// then ignored.
func defaultPythonImage(ctx context.Context, inst *v1alpha1.Instrumentation, images Images) error {
	// What earlier admissions recorded: the upstream default of the
	// operator version that filled the image (it may have changed since),
	// and the log agent image autotel filled, if any. They are read from
	// the stored object too: a server-side apply that drops the agent
	// annotation drops the whole annotation map from the request, records
	// included, though they were never the applier's.
	upstreamKey := instrumentation.DefaultImageAnnotation(instrumentation.Python)
	recordedUpstream := []string{images.Python, inst.Annotations[upstreamKey]}
	recordedLogs := []string{inst.Annotations[DefaultPythonLogsImageAnnotation]}
	if old, err := storedObject(ctx); err != nil {
		return err
	} else if old != nil {
		recordedUpstream = append(recordedUpstream, old.Annotations[upstreamKey])
		recordedLogs = append(recordedLogs, old.Annotations[DefaultPythonLogsImageAnnotation])
	}
	img := &inst.Spec.Python.Image
	logsDefault := *img != "" && slices.Contains(recordedLogs, *img)
	defaulted := *img == "" || logsDefault || slices.Contains(recordedUpstream, *img)

	if inst.Annotations[PythonAgentAnnotation] == PythonAgentLogs {
		if defaulted && *img != images.PythonLogs {
			*img = images.PythonLogs
			logsDefault = true
		}
	} else if *img == "" || logsDefault {
		// Annotation absent (or removed): back to upstream's agent.
		*img = images.Python
		logsDefault = false
	}

	if logsDefault {
		if inst.Annotations == nil {
			inst.Annotations = map[string]string{}
		}
		inst.Annotations[DefaultPythonLogsImageAnnotation] = *img
	} else {
		// The user replaced it (or it was never ours): nothing to switch
		// back later.
		delete(inst.Annotations, DefaultPythonLogsImageAnnotation)
	}
	return nil
}

// storedObject is the Instrumentation as stored before an UPDATE, from the
// admission request; nil for other operations and outside admission (the
// CLI and tests call Default directly).
func storedObject(ctx context.Context) (*v1alpha1.Instrumentation, error) {
	req, err := admission.RequestFromContext(ctx)
	if err != nil || req.Operation != admissionv1.Update || len(req.OldObject.Raw) == 0 {
		return nil, nil //nolint:nilerr // no admission request: nothing stored to consult
	}
	var old v1alpha1.Instrumentation
	if err := json.Unmarshal(req.OldObject.Raw, &old); err != nil {
		return nil, fmt.Errorf("decoding the stored Instrumentation %s/%s from the admission request: %w", req.Namespace, req.Name, err)
	}
	return &old, nil
}

func setIfEmpty(field *string, value string) {
	if *field == "" {
		*field = value
	}
}

// defaultResources fills Limits and Requests independently, so a user who
// sets only one keeps it. Each call builds fresh lists: sharing one map
// between objects would let a later mutation of one leak into the others.
func defaultResources(r *corev1.ResourceRequirements, requestCPU, requestMemory string) {
	if r.Limits == nil {
		r.Limits = corev1.ResourceList{
			corev1.ResourceCPU:    resource.MustParse("500m"),
			corev1.ResourceMemory: resource.MustParse("256Mi"),
		}
	}
	if r.Requests == nil {
		r.Requests = corev1.ResourceList{
			corev1.ResourceCPU:    resource.MustParse(requestCPU),
			corev1.ResourceMemory: resource.MustParse(requestMemory),
		}
	}
}

// ValidateCreate rejects Instrumentations whose sampler or volumes cannot
// be turned into a working injection, and warns about likely mistakes.
func (w *Webhook) ValidateCreate(_ context.Context, inst *v1alpha1.Instrumentation) (admission.Warnings, error) {
	warnings, err := validate(inst)
	return append(append(warnings, pythonAgentWarnings(inst, orDefaults(w.Images))...), SettingWarnings(inst, orDefaults(w.Images))...), err
}

// ValidateUpdate judges the new object only: an old invalid one must be
// fixable.
func (w *Webhook) ValidateUpdate(_ context.Context, _, inst *v1alpha1.Instrumentation) (admission.Warnings, error) {
	warnings, err := validate(inst)
	return append(append(warnings, pythonAgentWarnings(inst, orDefaults(w.Images))...), SettingWarnings(inst, orDefaults(w.Images))...), err
}

// pythonAgentWarnings tells the user when PythonAgentAnnotation has no
// effect, instead of leaving pods silently on another agent. Validation
// sees the object after defaulting, so an image still differing from the
// log agent's is one the user chose.
func pythonAgentWarnings(inst *v1alpha1.Instrumentation, images Images) []string {
	value, ok := inst.Annotations[PythonAgentAnnotation]
	switch {
	case !ok:
		return nil
	case value != PythonAgentLogs:
		return []string{fmt.Sprintf("annotation %s: %q is not recognized and is ignored; set it to %q for autotel's Python log agent, or remove it for upstream's agent",
			PythonAgentAnnotation, value, PythonAgentLogs)}
	case inst.Spec.Python.Image != images.PythonLogs:
		return []string{fmt.Sprintf("annotation %s: %s is ignored because spec.python.image is set to %q; to use autotel's Python log agent (%s), clear spec.python.image "+
			"(kubectl patch instrumentation %s -n %s --type=json -p '[{\"op\":\"remove\",\"path\":\"/spec/python/image\"}]'), or remove the annotation to keep your image",
			PythonAgentAnnotation, PythonAgentLogs, inst.Spec.Python.Image, images.PythonLogs, inst.Name, inst.Namespace)}
	}
	return nil
}

// ValidateDelete applies the same checks. Unlike upstream, a delete is never refused: an object stored before the
// webhook existed (or under older rules) must stay deletable. Problems are
// still reported, as warnings.
func (w *Webhook) ValidateDelete(_ context.Context, inst *v1alpha1.Instrumentation) (admission.Warnings, error) {
	warnings, err := validate(inst)
	if err != nil {
		warnings = append(warnings, err.Error())
	}
	return warnings, nil
}

// langVolume is a language's volume settings under the name messages use.
type langVolume struct {
	lang string
	spec *v1alpha1.VolumeSpec
}

// volumes is ordered as upstream checks conflicts, alphabetically by
// section name, so the same first error is reported.
func volumes(s *v1alpha1.InstrumentationSpec) []langVolume {
	out := make([]langVolume, 0, len(sections))
	for _, sec := range sections {
		out = append(out, langVolume{sec.Field, sec.Of(s).Volume})
	}
	slices.SortFunc(out, func(a, b langVolume) int { return strings.Compare(a.lang, b.lang) })
	return out
}

// validate stops at the first error, as upstream does, but still returns
// the warnings gathered until then so the user sees them too.
func validate(inst *v1alpha1.Instrumentation) (admission.Warnings, error) {
	var warnings admission.Warnings
	if inst.Spec.Sampler.Type == "" {
		warnings = append(warnings, "sampler type not set")
	} else if err := validateSampler(inst.Spec.Sampler); err != nil {
		return warnings, err
	}

	vols := volumes(&inst.Spec)
	for _, v := range vols {
		// Both would size the same volume; the pod mutator would silently
		// pick the claim.
		if !reflect.ValueOf(v.spec.VolumeClaimTemplate).IsZero() && v.spec.VolumeSizeLimit != nil {
			return warnings, fmt.Errorf("spec.%[1]s.volumeClaimTemplate and spec.%[1]s.volumeSizeLimit cannot both be defined: unable to resolve volume size", v.lang)
		}
	}

	warnings = append(warnings, exporterWarnings(inst.Spec.Exporter)...)

	for _, v := range vols {
		if v.spec.VolumeSizeLimit != nil {
			// upstream points at spec.<lang>.volume.size, which only its
			// newer API version has; kept so messages match.
			warnings = append(warnings, fmt.Sprintf("spec.%[1]s.volumeSizeLimit is deprecated and will be removed in a future release; use spec.%[1]s.volume.size instead", v.lang))
		}
	}
	return warnings, nil
}

func validateSampler(s v1alpha1.Sampler) error {
	switch s.Type {
	case v1alpha1.TraceIDRatio, v1alpha1.ParentBasedTraceIDRatio:
		if s.Argument == "" {
			return nil
		}
		rate, err := strconv.ParseFloat(s.Argument, 64)
		if err != nil {
			return fmt.Errorf("spec.sampler.argument is not a number: %s", s.Argument)
		}
		if !inUnitRange(rate) {
			return fmt.Errorf("spec.sampler.argument should be in rage [0..1]: %s", s.Argument)
		}
	case v1alpha1.JaegerRemote, v1alpha1.ParentBasedJaegerRemote:
		if s.Argument == "" {
			return nil
		}
		if err := validateJaegerRemoteArgument(s.Argument); err != nil {
			return fmt.Errorf("spec.sampler.argument is not a valid argument for sampler %s: %w", s.Type, err)
		}
	case v1alpha1.AlwaysOn, v1alpha1.AlwaysOff, v1alpha1.ParentBasedAlwaysOn, v1alpha1.ParentBasedAlwaysOff, v1alpha1.XRaySampler:
		// Upstream accepts any argument here; so must we, to admit the
		// same manifests.
	default:
		return fmt.Errorf("spec.sampler.type is not valid: %s", s.Type)
	}
	return nil
}

// validateJaegerRemoteArgument checks the keys SDKs understand and lets
// others through, since SDKs ignore them too.
func validateJaegerRemoteArgument(arg string) error {
	for part := range strings.SplitSeq(arg, ",") {
		key, value, ok := strings.Cut(part, "=")
		// A second '=' is refused, as upstream does, even inside an
		// endpoint's query string.
		if !ok || strings.Contains(value, "=") {
			return fmt.Errorf("invalid argument: %s, the argument should be in the form of key=value", part)
		}
		switch key {
		case "endpoint":
			if value == "" {
				return errors.New("endpoint cannot be empty")
			}
		case "pollingIntervalMs":
			if _, err := strconv.Atoi(value); err != nil {
				return fmt.Errorf("invalid pollingIntervalMs: %s", value)
			}
		case "initialSamplingRate":
			rate, err := strconv.ParseFloat(value, 64)
			if err != nil {
				return fmt.Errorf("invalid initialSamplingRate: %s", value)
			}
			if !inUnitRange(rate) {
				return fmt.Errorf("initialSamplingRate should be in rage [0..1]: %s", value)
			}
		}
	}
	return nil
}

// inUnitRange is written so NaN, which ParseFloat accepts and no SDK can
// sample by, falls outside the range.
func inUnitRange(f float64) bool {
	return f >= 0 && f <= 1
}

// exporterWarnings flags TLS settings that will not do what the user likely
// meant; they are warnings because the SDKs still start, just without TLS
// or mTLS.
func exporterWarnings(e v1alpha1.Exporter) []string {
	var warnings []string
	https := strings.HasPrefix(e.Endpoint, "https://")
	if e.TLS != nil {
		if (e.TLS.Key == "") != (e.TLS.Cert == "") {
			warnings = append(warnings, "both exporter.tls.key and exporter.tls.cert mut be set")
		}
		if !https {
			warnings = append(warnings, "exporter.tls is configured but exporter.endpoint is not enabling TLS with https://")
		}
	} else if https {
		warnings = append(warnings, "exporter is using https:// but exporter.tls is unset")
	}
	return warnings
}
