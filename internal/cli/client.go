package cli

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/spf13/pflag"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/autotel/autotel/internal/operator"
)

// kubeFlags are kubectl's own connection flags (cli-runtime's ConfigFlags:
// --kubeconfig, --context, --namespace/-n, --cluster, --user, --server,
// --token, --as, ...), so autotel and `kubectl autotel` resolve the
// cluster and namespace exactly as kubectl does.
type kubeFlags struct {
	config *genericclioptions.ConfigFlags
	// operatorNamespace narrows where the operator's published settings
	// are looked for (default: any namespace, by label).
	operatorNamespace string
}

func newKubeFlags() *kubeFlags {
	return &kubeFlags{config: genericclioptions.NewConfigFlags(true)}
}

func (k *kubeFlags) add(fs *pflag.FlagSet) {
	k.config.AddFlags(fs)
	fs.StringVar(&k.operatorNamespace, "operator-namespace", "", "namespace of the autotel operator whose published injection settings to use (default: found by the label "+operator.InjectionConfigLabel+")")
}

// Namespace is --namespace, else the context's, else "default"; it needs
// no reachable cluster.
func (k *kubeFlags) Namespace() string {
	if ns, _, err := k.config.ToRawKubeConfigLoader().Namespace(); err == nil && ns != "" {
		return ns
	}
	return "default"
}

func (k *kubeFlags) restConfig() (*rest.Config, error) {
	cfg, err := k.config.ToRESTConfig()
	if err != nil {
		return nil, fmt.Errorf("no cluster to talk to (set KUBECONFIG or --kubeconfig, or pass --ignore-cluster to preview offline): %w", err)
	}
	return cfg, nil
}

func (k *kubeFlags) client() (client.Client, error) {
	cfg, err := k.restConfig()
	if err != nil {
		return nil, err
	}
	c, err := client.New(cfg, client.Options{Scheme: operator.Scheme()})
	if err != nil {
		return nil, fmt.Errorf("connecting to %s: %w", cfg.Host, err)
	}
	return c, nil
}

// OperatorConfig reads the injection settings the installed operator
// published (see internal/operator/published.go), from namespace when
// given, else from wherever the one labelled ConfigMap is. source names
// the ConfigMap for messages.
func OperatorConfig(ctx context.Context, c client.Reader, namespace string) (cfg operator.PublishedConfig, source string, err error) {
	var list corev1.ConfigMapList
	opts := []client.ListOption{client.MatchingLabels{operator.InjectionConfigLabel: "true"}}
	where := "any namespace"
	if namespace != "" {
		opts = append(opts, client.InNamespace(namespace))
		where = "namespace " + namespace
	}
	if err := c.List(ctx, &list, opts...); err != nil {
		return cfg, "", fmt.Errorf("looking for the operator's injection settings (ConfigMaps labelled %s=true in %s; --ignore-cluster previews offline with built-in defaults): %w", operator.InjectionConfigLabel, where, err)
	}
	switch len(list.Items) {
	case 0:
		return cfg, "", fmt.Errorf("the autotel operator's injection settings were not found (no ConfigMap labelled %s=true in %s): is the operator installed and running? "+
			"Use --operator-namespace to point at it, or --ignore-cluster to preview with autotel's built-in defaults", operator.InjectionConfigLabel, where)
	case 1:
	default:
		var names []string
		for _, cm := range list.Items {
			names = append(names, cm.Namespace+"/"+cm.Name)
		}
		sort.Strings(names)
		return cfg, "", fmt.Errorf("several autotel operators publish injection settings (%s): choose one with --operator-namespace", strings.Join(names, ", "))
	}
	cm := &list.Items[0]
	cfg, err = operator.ReadPublishedConfig(cm)
	return cfg, "ConfigMap " + cm.Namespace + "/" + cm.Name, err
}
