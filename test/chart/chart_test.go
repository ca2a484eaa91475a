package chart

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func TestLint(t *testing.T) {
	for _, s := range scenarios(t) {
		t.Run(s.name, func(t *testing.T) {
			kv, err := kubeVersion()
			if err != nil {
				t.Fatal(err)
			}
			out, err := helm(t, append([]string{"lint", "--strict", chartDir, "--namespace", namespace, "--kube-version", kv}, s.args()...)...)
			if err != nil {
				t.Fatalf("helm lint: %v\n%s", err, out)
			}
			if !strings.Contains(out, "1 chart(s) linted, 0 chart(s) failed") {
				t.Fatalf("helm lint did not pass:\n%s", out)
			}
		})
	}
}

// The CRD is generated from the API types (make generate); the chart and the
// kustomize base carry copies (hack/helm-sync.sh) that must not drift.
func TestCRDsAreCopiesOfTheGeneratedOnes(t *testing.T) {
	generated, err := filepath.Glob(path(t, "config", "crd", "bases", "*.yaml"))
	if err != nil || len(generated) == 0 {
		t.Fatalf("no generated CRDs in config/crd/bases (%v)", err)
	}
	// The chart keeps the collector's CRD in files/ (a template adds its
	// conversion webhook); the kustomize base keeps it with the others and
	// patches the conversion in.
	for _, copyDirs := range [][]string{{filepath.Join(chartDir, "crds"), filepath.Join(chartDir, "files")}, {filepath.Join("deploy", "base", "crds")}} {
		copyDir := strings.Join(copyDirs, " + ")
		dirOf := map[string]string{}
		var have []string
		for _, d := range copyDirs {
			copies, err := filepath.Glob(path(t, d, "*.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range copies {
				have = append(have, filepath.Base(f))
				dirOf[filepath.Base(f)] = d
			}
		}
		sort.Strings(have)
		var want []string
		for _, f := range generated {
			want = append(want, filepath.Base(f))
		}
		if !slices.Equal(want, have) {
			t.Errorf("%s holds %v, config/crd/bases %v: run hack/helm-sync.sh", copyDir, have, want)
			continue
		}
		for _, f := range generated {
			a, _ := os.ReadFile(f)
			b, err := os.ReadFile(path(t, dirOf[filepath.Base(f)], filepath.Base(f)))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(a, b) {
				t.Errorf("%s/%s differs from config/crd/bases: run hack/helm-sync.sh", copyDir, filepath.Base(f))
			}
		}
	}
}

func TestDefaultInstall(t *testing.T) {
	objs := template(t)
	want := []string{
		"ClusterRole/autotel-operator",
		"ClusterRoleBinding/autotel-operator",
		"CustomResourceDefinition/opentelemetrycollectors.opentelemetry.io",
		"Deployment/autotel-system/autotel-operator",
		"MutatingWebhookConfiguration/autotel-mutating-webhook-configuration",
		"PodDisruptionBudget/autotel-system/autotel-operator",
		"Role/autotel-system/autotel-operator",
		"RoleBinding/autotel-system/autotel-operator",
		"Secret/autotel-system/autotel-webhook-cert",
		"Service/autotel-system/autotel-webhook",
		"ServiceAccount/autotel-system/autotel-operator",
		"ValidatingWebhookConfiguration/autotel-validating-webhook-configuration",
	}
	if got := objs.keys(); !slices.Equal(got, want) {
		t.Fatalf("objects:\n got %v\nwant %v", got, want)
	}

	d := get[appsv1.Deployment](t, objs, "Deployment", "autotel-operator")
	c := operatorContainer(t, d)
	flags := flagValues(c.Args)
	for name, value := range map[string]string{
		"webhook-cert-mode":                "self",
		"webhook-cert-secret":              "autotel-webhook-cert",
		"webhook-cert-secret-namespace":    "$(POD_NAMESPACE)",
		"webhook-dns-name":                 "autotel-webhook.$(POD_NAMESPACE).svc",
		"mutating-webhook-configuration":   "autotel-mutating-webhook-configuration",
		"validating-webhook-configuration": "autotel-validating-webhook-configuration",
		"enable-leader-election":           "true",
		"pod-status-annotations":           "false",
		"enable-collector-controller":      "true",
	} {
		if flags[name] != value {
			t.Errorf("--%s = %q, want %q (args %v)", name, flags[name], value, c.Args)
		}
	}
	// The self-managed certificate names point at what the chart renders.
	if objs.find("Secret", flags["webhook-cert-secret"]) == nil {
		t.Errorf("--webhook-cert-secret names %q, which the chart does not create", flags["webhook-cert-secret"])
	}
	for _, kind := range []string{"MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"} {
		flag := map[string]string{"MutatingWebhookConfiguration": "mutating-webhook-configuration", "ValidatingWebhookConfiguration": "validating-webhook-configuration"}[kind]
		if objs.find(kind, flags[flag]) == nil {
			t.Errorf("--%s names %q, which the chart does not create", flag, flags[flag])
		}
	}
	checkOperatorPod(t, objs, d)
	if *d.Spec.Replicas != 2 {
		t.Errorf("replicas %d, want 2 (webhooks stay up while one restarts)", *d.Spec.Replicas)
	}
	pdb := get[policyv1.PodDisruptionBudget](t, objs, "PodDisruptionBudget", "autotel-operator")
	if pdb.Spec.MaxUnavailable == nil || pdb.Spec.MaxUnavailable.IntValue() != 1 || !reflect.DeepEqual(pdb.Spec.Selector.MatchLabels, d.Spec.Selector.MatchLabels) {
		t.Errorf("PDB %+v does not cover the operator pods %v with maxUnavailable 1", pdb.Spec, d.Spec.Selector.MatchLabels)
	}
	if d.Spec.Template.Spec.Affinity == nil || d.Spec.Template.Spec.Affinity.PodAntiAffinity == nil {
		t.Errorf("two replicas without anti-affinity may share a node")
	}
	secret := get[corev1.Secret](t, objs, "Secret", "autotel-webhook-cert")
	if len(secret.Data)+len(secret.StringData) != 0 {
		t.Errorf("the certificate Secret must be empty (the operator fills it; an upgrade must not overwrite it): %v", secret.Data)
	}
	checkWebhooks(t, objs, false)
	checkRBAC(t, objs, true)
}

func TestCertManagerInstall(t *testing.T) {
	for _, tc := range []struct {
		scenario   string
		issuer     string
		issuerKind string
	}{
		{"cert-manager", "autotel-selfsigned", "Issuer"},
		{"cert-manager-issuer", "my-ca", "ClusterIssuer"},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			objs := template(t, scenarioByName(t, tc.scenario).args()...)
			if u := objs.find("Secret", "autotel-webhook-cert"); u != nil {
				t.Errorf("the chart must leave the certificate Secret to cert-manager")
			}
			u := objs.find("Certificate", "autotel-webhook")
			if u == nil {
				t.Fatalf("no Certificate; have %v", objs.keys())
			}
			if u.GetAPIVersion() != "cert-manager.io/v1" || u.GetNamespace() != namespace {
				t.Errorf("Certificate %s in %q", u.GetAPIVersion(), u.GetNamespace())
			}
			spec := u.Object["spec"].(map[string]any)
			if spec["secretName"] != "autotel-webhook-cert" {
				t.Errorf("Certificate secretName %v", spec["secretName"])
			}
			dns := spec["dnsNames"].([]any)
			if !slices.Contains(dns, any("autotel-webhook."+namespace+".svc")) {
				t.Errorf("dnsNames %v lack the webhook Service's name", dns)
			}
			ref := spec["issuerRef"].(map[string]any)
			if ref["name"] != tc.issuer || ref["kind"] != tc.issuerKind {
				t.Errorf("issuerRef %v, want %s %s", ref, tc.issuerKind, tc.issuer)
			}
			if tc.issuerKind == "Issuer" {
				is := objs.find("Issuer", tc.issuer)
				if is == nil || is.Object["spec"].(map[string]any)["selfSigned"] == nil {
					t.Errorf("no self-signed Issuer %s", tc.issuer)
				}
			} else if objs.find("Issuer", "autotel-selfsigned") != nil {
				t.Errorf("an Issuer is rendered although issuerRef names one")
			}

			d := get[appsv1.Deployment](t, objs, "Deployment", "autotel-operator")
			c := operatorContainer(t, d)
			flags := flagValues(c.Args)
			if flags["webhook-cert-mode"] != "external" {
				t.Errorf("--webhook-cert-mode %q, want external", flags["webhook-cert-mode"])
			}
			for _, f := range []string{"webhook-cert-secret", "webhook-cert-secret-namespace", "mutating-webhook-configuration", "validating-webhook-configuration"} {
				if _, ok := flags[f]; ok {
					t.Errorf("--%s is for self-managed certificates only", f)
				}
			}
			checkOperatorPod(t, objs, d)
			checkWebhooks(t, objs, true)
			checkRBAC(t, objs, false)
		})
	}
}

func TestOperatorOptions(t *testing.T) {
	objs := template(t, scenarioByName(t, "operator-options").args()...)
	d := get[appsv1.Deployment](t, objs, "Deployment", "autotel-operator")
	flags := flagValues(operatorContainer(t, d).Args)
	for name, value := range map[string]string{
		"enable-go-instrumentation":           "true",
		"enable-nginx-instrumentation":        "false",
		"auto-instrumentation-python-image":   "example/autoinstrumentation-python:0.64b0",
		"enable-multi-instrumentation":        "false",
		"pod-status-annotations":              "true",
		"rollout-max-per-minute":              "2",
		"zap-log-level":                       "debug",
		"enable-apache-httpd-instrumentation": "false",
		"enable-collector-controller":         "false",
	} {
		if flags[name] != value {
			t.Errorf("--%s = %q, want %q", name, flags[name], value)
		}
	}
	if objs.find("PodDisruptionBudget", "autotel-operator") != nil {
		t.Errorf("a PDB with one replica would block node drains")
	}
	if d.Spec.Template.Spec.Affinity != nil {
		t.Errorf("one replica needs no anti-affinity: %+v", d.Spec.Template.Spec.Affinity)
	}
	mwc := get[admissionv1.MutatingWebhookConfiguration](t, objs, "MutatingWebhookConfiguration", "autotel-mutating-webhook-configuration")
	for _, w := range mwc.Webhooks {
		if w.Name == "mpod.kb.io" && (w.NamespaceSelector == nil || len(w.NamespaceSelector.MatchExpressions) != 1) {
			t.Errorf("pod webhook namespaceSelector %+v, want the one from values", w.NamespaceSelector)
		}
		if w.Name != "mpod.kb.io" && w.NamespaceSelector != nil {
			t.Errorf("%s got the pod webhook's namespaceSelector", w.Name)
		}
	}
}

func TestBadValuesFailWithAMessage(t *testing.T) {
	for _, tc := range []struct {
		set  []string
		want string
	}{
		{[]string{"operator.languages.cobol=true"}, "operator.languages.cobol: unknown language"},
		{[]string{"operator.autoInstrumentationImages.ruby=x"}, "operator.autoInstrumentationImages.ruby: unknown language"},
		{[]string{"mode=statefulset"}, `mode "statefulset" is not supported`},
		{[]string{"collector.enabled=yes"}, "collector.enabled must be true, false or unset"},
		{[]string{"mode=daemonset", "presets.hostMetrics.enabled=true"}, "presets.hostMetrics needs the hostmetrics receiver"},
		{[]string{"mode=daemonset", "presets.kubernetesObjects.enabled=true"}, "presets.kubernetesObjects needs the k8sobjects receiver"},
		{[]string{"mode=daemonset", "presets.annotationDiscovery.logs.enabled=true"}, "presets.annotationDiscovery needs"},
		{[]string{"certManager.enabled=true", "certManager.issuerRef.kind=ClusterIssuer"}, "certManager.issuerRef.name is required"},
	} {
		t.Run(strings.Join(tc.set, ","), func(t *testing.T) {
			var args []string
			for _, s := range tc.set {
				if strings.HasPrefix(s, "collector.enabled=") {
					args = append(args, "--set-string", s)
				} else {
					args = append(args, "--set", s)
				}
			}
			_, err := templateRaw(t, args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func operatorContainer(t *testing.T, d *appsv1.Deployment) corev1.Container {
	t.Helper()
	cs := d.Spec.Template.Spec.Containers
	if len(cs) != 1 || cs[0].Name != "operator" {
		t.Fatalf("want one container named operator, got %+v", cs)
	}
	return cs[0]
}

// checkOperatorPod checks what every install shares: the binary, the ports
// the flags open and the Service and probes use, the mounted certificate,
// and a pod that runs under the restricted Pod Security Standard.
func checkOperatorPod(t *testing.T, objs objects, d *appsv1.Deployment) {
	t.Helper()
	c := operatorContainer(t, d)
	flags := flagValues(c.Args)
	if !slices.Equal(c.Command, []string{"/autotel-operator"}) {
		t.Errorf("command %v, want /autotel-operator (build/Dockerfile.operator)", c.Command)
	}
	if c.Image != "autotel/operator:0.1.0" {
		t.Errorf("image %q, want autotel/operator:<appVersion>", c.Image)
	}
	port := func(name string) int32 {
		for _, p := range c.Ports {
			if p.Name == name {
				return p.ContainerPort
			}
		}
		t.Errorf("no container port %q", name)
		return 0
	}
	for flag, portName := range map[string]string{"webhook-port": "webhook", "metrics-addr": "metrics", "health-probe-addr": "health"} {
		v := strings.TrimPrefix(flags[flag], ":")
		if v == "" || v != strconv.Itoa(int(port(portName))) {
			t.Errorf("--%s=%q but container port %s is %d", flag, flags[flag], portName, port(portName))
		}
	}
	if flags["enable-leader-election"] != "true" {
		t.Errorf("leader election off: replicas would all run rollouts")
	}
	for probe, p := range map[string]*corev1.Probe{"/healthz": c.LivenessProbe, "/readyz": c.ReadinessProbe} {
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != probe || p.HTTPGet.Port != intstr.FromString("health") {
			t.Errorf("probe %s: %+v", probe, p)
		}
	}
	var env *corev1.EnvVar
	for i := range c.Env {
		if c.Env[i].Name == "POD_NAMESPACE" {
			env = &c.Env[i]
		}
	}
	if env == nil || env.ValueFrom == nil || env.ValueFrom.FieldRef == nil || env.ValueFrom.FieldRef.FieldPath != "metadata.namespace" {
		t.Errorf("POD_NAMESPACE must come from the downward API: %+v", env)
	}

	// The certificate is mounted where the operator reads it.
	var mount *corev1.VolumeMount
	for i := range c.VolumeMounts {
		if c.VolumeMounts[i].MountPath == flags["webhook-cert-dir"] {
			mount = &c.VolumeMounts[i]
		}
	}
	if mount == nil || !mount.ReadOnly {
		t.Fatalf("nothing mounted read-only at --webhook-cert-dir=%q: %+v", flags["webhook-cert-dir"], c.VolumeMounts)
	}
	var vol *corev1.Volume
	for i := range d.Spec.Template.Spec.Volumes {
		if d.Spec.Template.Spec.Volumes[i].Name == mount.Name {
			vol = &d.Spec.Template.Spec.Volumes[i]
		}
	}
	if vol == nil || vol.Secret == nil || vol.Secret.SecretName != "autotel-webhook-cert" {
		t.Errorf("cert volume %+v, want Secret autotel-webhook-cert", vol)
	}

	svc := get[corev1.Service](t, objs, "Service", "autotel-webhook")
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Port != 443 || svc.Spec.Ports[0].TargetPort != intstr.FromString("webhook") {
		t.Errorf("webhook Service ports %+v, want 443 -> webhook", svc.Spec.Ports)
	}
	if !reflect.DeepEqual(svc.Spec.Selector, d.Spec.Selector.MatchLabels) {
		t.Errorf("Service selects %v, the Deployment's pods are %v", svc.Spec.Selector, d.Spec.Selector.MatchLabels)
	}
	if sa := d.Spec.Template.Spec.ServiceAccountName; objs.find("ServiceAccount", sa) == nil {
		t.Errorf("pods run as ServiceAccount %q, which is not rendered", sa)
	}

	ps, cs := d.Spec.Template.Spec.SecurityContext, c.SecurityContext
	if ps == nil || ps.RunAsNonRoot == nil || !*ps.RunAsNonRoot || ps.SeccompProfile == nil || ps.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("pod securityContext %+v: want runAsNonRoot and the RuntimeDefault seccomp profile", ps)
	}
	if cs == nil || cs.ReadOnlyRootFilesystem == nil || !*cs.ReadOnlyRootFilesystem || cs.AllowPrivilegeEscalation == nil || *cs.AllowPrivilegeEscalation ||
		cs.Capabilities == nil || !slices.Equal(cs.Capabilities.Drop, []corev1.Capability{"ALL"}) {
		t.Errorf("container securityContext %+v: want a read-only root, no privilege escalation, no capabilities", cs)
	}
}

// checkWebhooks compares the rendered webhook configurations with the ones
// controller-gen generates from the operator's markers.
func checkWebhooks(t *testing.T, objs objects, certManager bool) {
	t.Helper()
	gen, err := parseObjects(mustRead(t, path(t, "config", "webhook", "manifests.yaml")))
	if err != nil {
		t.Fatal(err)
	}
	type hook struct {
		Rules                   []admissionv1.RuleWithOperations
		FailurePolicy           *admissionv1.FailurePolicyType
		SideEffects             *admissionv1.SideEffectClass
		AdmissionReviewVersions []string
		Path                    *string
	}
	collect := func(objs objects, kind string, rendered bool) (map[string]hook, string) {
		hooks := map[string]hook{}
		var name string
		for _, u := range objs {
			if u.GetKind() != kind {
				continue
			}
			name = u.GetName()
			var ws []admissionv1.ValidatingWebhook // same fields as MutatingWebhook for what is compared
			if err := convert(u.Object["webhooks"], &ws); err != nil {
				t.Fatalf("%s: %v", kind, err)
			}
			for _, w := range ws {
				if rendered {
					s := w.ClientConfig.Service
					if s == nil || s.Name != "autotel-webhook" || s.Namespace != namespace || s.Port == nil || *s.Port != 443 {
						t.Errorf("%s %s: clientConfig %+v, want Service autotel-webhook/%s:443", kind, w.Name, w.ClientConfig, namespace)
					}
					if len(w.ClientConfig.CABundle) != 0 {
						t.Errorf("%s %s: a caBundle in the manifest would be reset by every upgrade", kind, w.Name)
					}
				}
				var p *string
				if w.ClientConfig.Service != nil {
					p = w.ClientConfig.Service.Path
				}
				hooks[w.Name] = hook{w.Rules, w.FailurePolicy, w.SideEffects, w.AdmissionReviewVersions, p}
			}
		}
		return hooks, name
	}
	for _, kind := range []string{"MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"} {
		want, _ := collect(gen, kind, false)
		got, name := collect(objs, kind, true)
		if len(want) == 0 {
			t.Fatalf("config/webhook/manifests.yaml has no %s", kind)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s differs from config/webhook/manifests.yaml:\n got %s\nwant %s", kind, toYAML(t, got), toYAML(t, want))
		}
		ann := objs.find(kind, name).GetAnnotations()["cert-manager.io/inject-ca-from"]
		if certManager && ann != namespace+"/autotel-webhook" {
			t.Errorf("%s: inject-ca-from %q, want %s/autotel-webhook", kind, ann, namespace)
		}
		if !certManager && ann != "" {
			t.Errorf("%s: cert-manager annotation without cert-manager", kind)
		}
	}
	// The pod webhook never blocks pods; upstream's choice, kept.
	if h := collectPodHook(t, objs); h == nil || *h.FailurePolicy != admissionv1.Ignore || !slices.Equal(h.Rules[0].Operations, []admissionv1.OperationType{admissionv1.Create}) {
		t.Errorf("pod webhook %+v: want failurePolicy Ignore on CREATE only", h)
	}
}

func collectPodHook(t *testing.T, objs objects) *admissionv1.MutatingWebhook {
	t.Helper()
	mwc := get[admissionv1.MutatingWebhookConfiguration](t, objs, "MutatingWebhookConfiguration", "autotel-mutating-webhook-configuration")
	for i := range mwc.Webhooks {
		if mwc.Webhooks[i].Name == "mpod.kb.io" {
			return &mwc.Webhooks[i]
		}
	}
	return nil
}

type grant struct{ group, resource, verb string }

func (g grant) String() string { return g.group + "/" + g.resource + ":" + g.verb }

func expand(rules []rbacv1.PolicyRule, names map[grant][]string) map[grant]bool {
	out := map[grant]bool{}
	for _, r := range rules {
		for _, g := range r.APIGroups {
			for _, res := range r.Resources {
				for _, v := range r.Verbs {
					k := grant{g, res, v}
					if len(r.ResourceNames) > 0 {
						if names != nil {
							names[k] = append(names[k], r.ResourceNames...)
						}
						continue
					}
					out[k] = true
				}
			}
		}
	}
	return out
}

// checkRBAC holds the chart's RBAC to config/rbac/role.yaml (generated from
// the operator's markers): every generated permission is granted, nothing
// beyond them, and what the operator only needs in its own namespace (the
// certificate Secret, the leader-election Lease) is granted there only, or
// narrowed to the objects it writes.
func checkRBAC(t *testing.T, objs objects, selfManagedCerts bool) {
	t.Helper()
	var genRole rbacv1.ClusterRole
	genObjs, err := parseObjects(mustRead(t, path(t, "config", "rbac", "role.yaml")))
	if err != nil || len(genObjs) != 1 {
		t.Fatalf("config/rbac/role.yaml: %v (%d objects)", err, len(genObjs))
	}
	if err := convert(genObjs[0].Object, &genRole); err != nil {
		t.Fatal(err)
	}
	generated := expand(genRole.Rules, nil)

	cr := get[rbacv1.ClusterRole](t, objs, "ClusterRole", "autotel-operator")
	role := get[rbacv1.Role](t, objs, "Role", "autotel-operator")
	if role.Namespace != namespace {
		t.Errorf("Role in %q, want the release namespace", role.Namespace)
	}
	clusterNamed, roleNamed := map[grant][]string{}, map[grant][]string{}
	cluster := expand(cr.Rules, clusterNamed)
	namespaced := expand(role.Rules, roleNamed)

	webhookConfigs := []string{"autotel-mutating-webhook-configuration", "autotel-validating-webhook-configuration"}
	certOnly := func(g grant) bool {
		return (g.group == "" && g.resource == "secrets" && g.verb != "get") || g.group == "admissionregistration.k8s.io" || g.group == "apiextensions.k8s.io"
	}
	var missing []string
	for g := range generated {
		if !selfManagedCerts && certOnly(g) {
			continue
		}
		switch {
		case cluster[g]:
			if g.resource == "leases" || (g.resource == "secrets" && g.verb != "get") {
				t.Errorf("ClusterRole grants %s: only needed in the operator's namespace", g)
			}
		case namespaced[g]:
		case len(roleNamed[g]) > 0:
			if !slices.Equal(roleNamed[g], []string{"autotel-webhook-cert"}) {
				t.Errorf("Role grants %s on %v, want the certificate Secret", g, roleNamed[g])
			}
		case len(clusterNamed[g]) > 0:
			n := slices.Clone(clusterNamed[g])
			sort.Strings(n)
			crd := g.group == "apiextensions.k8s.io" && slices.Equal(n, []string{"opentelemetrycollectors.opentelemetry.io"})
			if !crd && (g.group != "admissionregistration.k8s.io" || !slices.Equal(n, webhookConfigs)) {
				t.Errorf("ClusterRole grants %s only on %v", g, n)
			}
		default:
			missing = append(missing, g.String())
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("permissions of config/rbac/role.yaml the chart does not grant: %v", missing)
	}
	var extra []string
	for _, m := range []map[grant]bool{cluster, namespaced, keysOf(clusterNamed), keysOf(roleNamed)} {
		for g := range m {
			if !generated[g] || (!selfManagedCerts && certOnly(g)) {
				extra = append(extra, g.String())
			}
		}
	}
	sort.Strings(extra)
	if len(extra) > 0 {
		t.Errorf("permissions beyond what the operator needs (config/rbac/role.yaml, certificate mode self=%t): %v", selfManagedCerts, extra)
	}
	for _, name := range []string{"ClusterRoleBinding", "RoleBinding"} {
		u := objs.find(name, "autotel-operator")
		if u == nil {
			t.Fatalf("no %s", name)
		}
		var b rbacv1.RoleBinding
		if err := convert(u.Object, &b); err != nil {
			t.Fatal(err)
		}
		want := []rbacv1.Subject{{Kind: "ServiceAccount", Name: "autotel-operator", Namespace: namespace}}
		if !reflect.DeepEqual(b.Subjects, want) || b.RoleRef.Name != "autotel-operator" {
			t.Errorf("%s binds %+v to %+v", name, b.RoleRef, b.Subjects)
		}
	}
}

func keysOf(m map[grant][]string) map[grant]bool {
	out := map[grant]bool{}
	for k := range m {
		out[k] = true
	}
	return out
}

func mustRead(t testing.TB, file string) []byte {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
