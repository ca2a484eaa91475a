package logpath

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/autotel/autotel/agent/python/harness/webhookenv"
	"github.com/autotel/autotel/api/v1alpha1"
	"github.com/autotel/autotel/testkit/wait"
)

// Objects in the real kube-apiserver. Pods are created the way a
// ReplicaSet controller creates them (generateName, owned by a ReplicaSet
// owned by a Deployment, already bound to the node), so the operator's
// webhook mutates them at admission and the API server assigns their
// names and uids.

// templateHash is the pod-template-hash of every ReplicaSet here.
const templateHash = "656f58b97c"

func apiCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func ensureNamespace(t testing.TB, name string, annotations map[string]string) {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: annotations}}
	if err := cluster.Client.Create(apiCtx(t), ns); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("creating namespace %s: %v", name, err)
	}
}

// seedInstrumentation is the seed's second Instrumentation
// (testdata/seed/instrumentation-otlp.yaml) with autotel's Python log agent
// as spec.python.image and the exporter endpoint at the test's collector;
// extra goes into spec.python.env, as a user would add it.
func seedInstrumentation(t testing.TB, endpoint string, extra ...corev1.EnvVar) *v1alpha1.Instrumentation {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "testdata", "seed", "instrumentation-otlp.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	inst, err := webhookenv.ParseInstrumentation(b)
	if err != nil {
		t.Fatal(err)
	}
	inst.Spec.Exporter.Endpoint = endpoint
	inst.Spec.Python.Image = agentImage
	inst.Spec.Python.Env = append(inst.Spec.Python.Env, extra...)
	return inst
}

// applyInstrumentation creates or replaces inst in namespace ns and waits
// until the operator's cache, which the webhook reads, has this version.
func applyInstrumentation(t testing.TB, ns string, inst *v1alpha1.Instrumentation) {
	t.Helper()
	ctx := apiCtx(t)
	inst = inst.DeepCopy()
	inst.Namespace = ns
	if err := cluster.Client.Create(ctx, inst); apierrors.IsAlreadyExists(err) {
		var cur v1alpha1.Instrumentation
		if err := cluster.Client.Get(ctx, client.ObjectKeyFromObject(inst), &cur); err != nil {
			t.Fatal(err)
		}
		cur.Spec = inst.Spec
		if err := cluster.Client.Update(ctx, &cur); err != nil {
			t.Fatal(err)
		}
		inst = &cur
	} else if err != nil {
		t.Fatalf("creating Instrumentation %s/%s: %v", ns, inst.Name, err)
	}
	// The operator writes status (pod counts) too: the spec's generation,
	// not the resource version, tells our change arrived.
	wait.For(t, 20*time.Second, fmt.Sprintf("the operator's cache to see Instrumentation %s/%s", ns, inst.Name), func() (bool, string) {
		var cached v1alpha1.Instrumentation
		err := cluster.CachedClient.Get(ctx, client.ObjectKeyFromObject(inst), &cached)
		if err != nil {
			return false, err.Error()
		}
		return cached.Generation >= inst.Generation, fmt.Sprintf("generation %d, want %d", cached.Generation, inst.Generation)
	})
}

// workload is a Deployment with one pod.
type workload struct {
	namespace  string
	deployment string
	container  string
	image      string
	// annotations of the pod template, besides inject-python.
	annotations map[string]string
	// env is the container's own env in the manifest.
	env []corev1.EnvVar
}

// createPod creates the workload's Deployment, ReplicaSet and pod, and
// returns the pod as the API server stored it (after the webhook).
func createPod(t testing.TB, w workload) *corev1.Pod {
	t.Helper()
	ctx := apiCtx(t)
	labels := map[string]string{"app": w.deployment}
	annotations := map[string]string{"instrumentation.opentelemetry.io/inject-python": "true"}
	for k, v := range w.annotations {
		annotations[k] = v
	}
	template := corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: labels, Annotations: annotations},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: w.container, Image: w.image, ImagePullPolicy: corev1.PullAlways, Env: w.env,
		}}},
	}
	one := int32(1)
	deploy := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: w.deployment, Namespace: w.namespace},
		Spec: appsv1.DeploymentSpec{
			Replicas: &one,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: template,
		},
	}
	createOrGet(t, ctx, deploy)

	rsLabels := map[string]string{"app": w.deployment, "pod-template-hash": templateHash}
	rsTemplate := *template.DeepCopy()
	rsTemplate.Labels = rsLabels
	rs := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{
			Name: w.deployment + "-" + templateHash, Namespace: w.namespace, Labels: rsLabels,
			OwnerReferences: []metav1.OwnerReference{controllerRef("apps/v1", "Deployment", deploy.Name, deploy.UID)},
		},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: &one,
			Selector: &metav1.LabelSelector{MatchLabels: rsLabels},
			Template: rsTemplate,
		},
	}
	createOrGet(t, ctx, rs)

	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName:    rs.Name + "-",
			Namespace:       w.namespace,
			Labels:          rsLabels,
			Annotations:     rsTemplate.Annotations,
			OwnerReferences: []metav1.OwnerReference{controllerRef("apps/v1", "ReplicaSet", rs.Name, rs.UID)},
		},
		Spec: *rsTemplate.Spec.DeepCopy(),
	}
	pod.Spec.NodeName = nodeName
	if err := cluster.Client.Create(ctx, pod); err != nil {
		t.Fatalf("creating pod of %s/%s: %v", w.namespace, w.deployment, err)
	}
	return pod
}

func createOrGet(t testing.TB, ctx context.Context, obj client.Object) {
	t.Helper()
	err := cluster.Client.Create(ctx, obj)
	if apierrors.IsAlreadyExists(err) {
		err = cluster.Client.Get(ctx, client.ObjectKeyFromObject(obj), obj)
	}
	if err != nil {
		t.Fatalf("creating %T %s: %v", obj, obj.GetName(), err)
	}
}

func controllerRef(apiVersion, kind, name string, uid types.UID) metav1.OwnerReference {
	yes := true
	return metav1.OwnerReference{APIVersion: apiVersion, Kind: kind, Name: name, UID: uid, Controller: &yes, BlockOwnerDeletion: &yes}
}

// collectorKubeconfig writes a kubeconfig for the collector's
// ServiceAccount with exactly the ClusterRole the chart grants it
// (charts/autotel/templates/collector/rbac.yaml), so k8sattributes runs
// with the permissions it has in a cluster, not as an administrator.
func collectorKubeconfig(t testing.TB) string {
	t.Helper()
	ctx := apiCtx(t)
	const ns, name = "autotel-system", "autotel-collector"
	ensureNamespace(t, ns, nil)
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}}
	createOrGet(t, ctx, sa)
	createOrGet(t, ctx, &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{""}, Resources: []string{"pods", "namespaces"}, Verbs: []string{"get", "list", "watch"}},
			{APIGroups: []string{"apps"}, Resources: []string{"replicasets"}, Verbs: []string{"get", "list", "watch"}},
		},
	})
	createOrGet(t, ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: name},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: name, Namespace: ns}},
	})
	cs, err := kubernetes.NewForConfig(cluster.Config)
	if err != nil {
		t.Fatal(err)
	}
	hour := int64(3600)
	tok, err := cs.CoreV1().ServiceAccounts(ns).CreateToken(ctx, name,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &hour}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("requesting a token for the collector's ServiceAccount: %v", err)
	}
	kc := clientcmdapi.NewConfig()
	kc.Clusters["test"] = &clientcmdapi.Cluster{Server: cluster.Config.Host, CertificateAuthorityData: cluster.Config.CAData}
	kc.AuthInfos[name] = &clientcmdapi.AuthInfo{Token: tok.Status.Token}
	kc.Contexts["test"] = &clientcmdapi.Context{Cluster: "test", AuthInfo: name}
	kc.CurrentContext = "test"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		t.Fatal(err)
	}
	return path
}
