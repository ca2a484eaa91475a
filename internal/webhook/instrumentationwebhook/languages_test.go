package instrumentationwebhook_test

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/autotel/autotel/api/v1alpha1"
	"github.com/autotel/autotel/internal/instrumentation"
	"github.com/autotel/autotel/internal/operator"
	"github.com/autotel/autotel/internal/webhook/instrumentationwebhook"
)

// apiSections maps each language section of InstrumentationSpec (a struct
// field with an image, resources and the shared volume settings) from its
// lower-cased JSON name, as the webhook's messages print it, to its JSON
// name. Read from the API types, not the language table, so the table is
// checked against something it does not define.
func apiSections(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	spec := reflect.TypeFor[v1alpha1.InstrumentationSpec]()
	for i := range spec.NumField() {
		f := spec.Field(i)
		if f.Type.Kind() != reflect.Struct {
			continue
		}
		_, hasImage := f.Type.FieldByName("Image")
		_, hasResources := f.Type.FieldByName("Resources")
		_, hasVolume := f.Type.FieldByName("VolumeSpec")
		if !hasImage || !hasResources || !hasVolume {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		out[strings.ToLower(name)] = name
	}
	if len(out) == 0 {
		t.Fatal("no language sections found in v1alpha1.InstrumentationSpec: the detection above is out of date")
	}
	return out
}

// decodeSpec builds a spec from JSON, the way the API server hands it over.
func decodeSpec(t *testing.T, raw string) v1alpha1.InstrumentationSpec {
	t.Helper()
	var s v1alpha1.InstrumentationSpec
	if err := json.Unmarshal([]byte(raw), &s); err != nil {
		t.Fatalf("decoding %s: %v", raw, err)
	}
	return s
}

// TestEveryLanguageIsDefaultedValidatedAndFlagged walks the language table:
// every language with an API section has a row with a spec section, and
// each row's section is defaulted (image, resources, default-image
// annotation), validated (volume conflict and deprecation, under the
// section's name), and has an image flag that reaches the defaulted spec
// and the published settings. A language added to the API or the table
// without the rest fails here, naming the language.
func TestEveryLanguageIsDefaultedValidatedAndFlagged(t *testing.T) {
	api := apiSections(t)
	claimed := map[string]bool{}
	for _, l := range instrumentation.Languages {
		sec, ok := l.Spec()
		if l == instrumentation.SDK {
			if ok {
				t.Errorf("sdk has a spec section %q; it has none in the API", sec.Field)
			}
			continue
		}
		t.Run(string(l), func(t *testing.T) {
			if !ok {
				t.Fatalf("%s has no spec section in the language table", l)
			}
			jsonName, inAPI := api[sec.Field]
			if !inAPI {
				t.Fatalf("section %q is not a language section of v1alpha1.InstrumentationSpec (have %v)", sec.Field, api)
			}
			if claimed[sec.Field] {
				t.Fatalf("section %q claimed by two languages", sec.Field)
			}
			claimed[sec.Field] = true

			// Of reaches the section the JSON name fills.
			s := decodeSpec(t, fmt.Sprintf(`{%q: {"image": "img/%s", "volumeLimitSize": "7Mi"}}`, jsonName, l))
			if f := sec.Of(&s); *f.Image != "img/"+string(l) || f.Volume.VolumeSizeLimit == nil {
				t.Errorf("Of does not point at spec.%s: image %q, volume %+v", jsonName, *f.Image, f.Volume)
			}

			// Image flag: registered with upstream's default, and a value
			// given on the command line is what defaulting writes. Every
			// language's flag is given its own value at once, so two rows
			// sharing one Images field show.
			o := operator.DefaultOptions()
			fs := flag.NewFlagSet("operator", flag.ContinueOnError)
			o.BindFlags(fs)
			name := "auto-instrumentation-" + string(l) + "-image"
			fl := fs.Lookup(name)
			if fl == nil {
				t.Fatalf("no --%s flag", name)
			}
			if fl.DefValue != sec.DefaultImage || sec.DefaultImage == "" {
				t.Errorf("--%s default %q, want the language's default image %q", name, fl.DefValue, sec.DefaultImage)
			}
			var args []string
			for _, other := range instrumentation.Languages {
				if _, ok := other.Spec(); ok {
					args = append(args, "--auto-instrumentation-"+string(other)+"-image=flag/"+string(other)+":1")
				}
			}
			if err := fs.Parse(args); err != nil {
				t.Fatal(err)
			}
			flagged := "flag/" + string(l) + ":1"
			if got := o.Published().Images[string(l)]; got != flagged {
				t.Errorf("published image for %s = %q, want %q", l, got, flagged)
			}

			// Defaulted.
			inst := &v1alpha1.Instrumentation{}
			if err := (&instrumentationwebhook.Webhook{Images: o.Images}).Default(context.Background(), inst); err != nil {
				t.Fatalf("Default: %v", err)
			}
			got := decodeSection(t, inst.Spec, jsonName)
			if got.Image != flagged {
				t.Errorf("spec.%s.image defaulted to %q, want the flag's %q", jsonName, got.Image, flagged)
			}
			if ann := inst.Annotations[instrumentation.DefaultImageAnnotation(l)]; ann != flagged {
				t.Errorf("annotation %s = %q, want %q", instrumentation.DefaultImageAnnotation(l), ann, flagged)
			}
			wantReq := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(sec.RequestCPU), corev1.ResourceMemory: resource.MustParse(sec.RequestMemory)}
			wantLim := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m"), corev1.ResourceMemory: resource.MustParse("256Mi")}
			if !reflect.DeepEqual(quantities(got.Resources.Requests), quantities(wantReq)) || !reflect.DeepEqual(quantities(got.Resources.Limits), quantities(wantLim)) {
				t.Errorf("spec.%s resources defaulted to %+v, want requests %v limits %v", jsonName, got.Resources, wantReq, wantLim)
			}

			// Validated under the section's name.
			w := &instrumentationwebhook.Webhook{}
			conflict := &v1alpha1.Instrumentation{Spec: decodeSpec(t, fmt.Sprintf(
				`{"sampler": {"type": "always_on"}, %q: {"volumeLimitSize": "7Mi", "volumeClaimTemplate": {"spec": {"volumeName": "pv"}}}}`, jsonName))}
			wantErr := "spec." + sec.Field + ".volumeClaimTemplate and spec." + sec.Field + ".volumeSizeLimit cannot both be defined"
			if _, err := w.ValidateCreate(context.Background(), conflict); err == nil || !strings.Contains(err.Error(), wantErr) {
				t.Errorf("volume conflict in spec.%s: error %v, want %q", jsonName, err, wantErr)
			}
			deprecated := &v1alpha1.Instrumentation{Spec: decodeSpec(t, fmt.Sprintf(`{"sampler": {"type": "always_on"}, %q: {"volumeLimitSize": "7Mi"}}`, jsonName))}
			warnings, err := w.ValidateCreate(context.Background(), deprecated)
			wantWarning := "spec." + sec.Field + ".volumeSizeLimit is deprecated"
			if err != nil || len(warnings) != 1 || !strings.HasPrefix(warnings[0], wantWarning) {
				t.Errorf("spec.%s.volumeLimitSize: warnings %q, error %v; want one warning %q", jsonName, warnings, err, wantWarning)
			}
		})
	}
	for field, jsonName := range api {
		if !claimed[field] {
			t.Errorf("spec.%s has no language in the table: it would be neither defaulted, validated nor flagged", jsonName)
		}
	}
}

// section is what every language section holds, read back by JSON name.
type section struct {
	Image     string                      `json:"image"`
	Resources corev1.ResourceRequirements `json:"-"`
}

// decodeSection reads spec.<jsonName> through JSON, independently of the
// table's accessors. Resources are under "resources" for Java and
// "resourceRequirements" for the others (as upstream names them).
func decodeSection(t *testing.T, s v1alpha1.InstrumentationSpec, jsonName string) section {
	t.Helper()
	raw, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var all map[string]json.RawMessage
	if err := json.Unmarshal(raw, &all); err != nil {
		t.Fatal(err)
	}
	var out struct {
		section
		Resources            *corev1.ResourceRequirements `json:"resources"`
		ResourceRequirements *corev1.ResourceRequirements `json:"resourceRequirements"`
	}
	if err := json.Unmarshal(all[jsonName], &out); err != nil {
		t.Fatalf("spec.%s: %v", jsonName, err)
	}
	switch {
	case out.Resources != nil:
		out.section.Resources = *out.Resources
	case out.ResourceRequirements != nil:
		out.section.Resources = *out.ResourceRequirements
	}
	return out.section
}

// quantities compares resource lists by value (1000m equals 1).
func quantities(l corev1.ResourceList) map[corev1.ResourceName]int64 {
	out := map[corev1.ResourceName]int64{}
	for k, v := range l {
		out[k] = v.MilliValue()
	}
	return out
}
