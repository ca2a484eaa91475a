package cli

import (
	"context"
	"fmt"
	"os"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/yaml"

	"github.com/autotel/autotel/internal/instrumentation"
	"github.com/autotel/autotel/internal/webhook/podwebhook"
)

func newInjectCmd(flags *kubeFlags) *cobra.Command {
	var files []string
	var fromCluster, reportOnly, ignoreCluster bool
	cmd := &cobra.Command{
		Use:   "inject -f MANIFEST [-f MANIFEST...]",
		Short: "Print workload manifests as the pod webhook would instrument them",
		Long: `Runs autotel's injector — the same code the webhook runs — on the pods and pod
templates in the manifests, and prints the result. The settings are the installed
operator's (enabled languages, default images, pod status annotations), which it
publishes in a ConfigMap; --ignore-cluster uses autotel's built-in defaults
instead and needs no cluster. Instrumentations, Namespaces, Secrets and
ConfigMaps in the files are used for the decision; with --from-cluster they are
read from the cluster instead (namespaces not in the files are always read from
the cluster unless --ignore-cluster). Decisions are explained on stderr.`,
		Example: `  autotel inject -f instrumentation.yaml -f deployment.yaml -n example
  autotel inject -f deployment.yaml -n example --from-cluster
  autotel inject -f instrumentation.yaml -f deployment.yaml --ignore-cluster`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(files) == 0 {
				return fmt.Errorf("no manifests: pass -f FILE (or -f - for stdin)")
			}
			var m Manifests
			for _, f := range files {
				r := os.Stdin
				if f != "-" {
					fh, err := os.Open(f)
					if err != nil {
						return fmt.Errorf("reading manifest: %w", err)
					}
					defer fh.Close()
					r = fh
				}
				if err := ReadManifests(r, f, &m); err != nil {
					return err
				}
			}
			if ignoreCluster && fromCluster {
				return fmt.Errorf("--from-cluster and --ignore-cluster exclude each other")
			}
			namespace := flags.Namespace()
			opts := InjectOptions{Mutator: instrumentation.Mutator{Config: instrumentation.DefaultConfig()}}
			if ignoreCluster {
				fmt.Fprintln(cmd.ErrOrStderr(), "--ignore-cluster: using autotel's built-in defaults, not the installed operator's settings")
			} else {
				c, err := flags.client()
				if err != nil {
					return err
				}
				published, source, err := OperatorConfig(cmd.Context(), c, flags.operatorNamespace)
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "using the operator's injection settings from %s\n", source)
				opts.Mutator.Config, opts.Images = published.Injection, published.WebhookImages()
				opts.Namespace = func(ctx context.Context, name string) (*corev1.Namespace, error) {
					var ns corev1.Namespace
					if err := c.Get(ctx, types.NamespacedName{Name: name}, &ns); err != nil {
						if apierrors.IsNotFound(err) {
							return nil, nil // applied together with the manifests
						}
						return nil, err
					}
					return &ns, nil
				}
				if fromCluster {
					opts.Live = podwebhook.ClientLookup{Cached: c, Direct: c}
				}
			}
			previews, err := InjectManifests(cmd.Context(), &m, namespace, opts)
			if err != nil {
				return err
			}
			for i, p := range previews {
				if p.Report != nil {
					writeReport(cmd.ErrOrStderr(), p.Kind+" "+p.Name, *p.Report)
				}
				if reportOnly {
					continue
				}
				if i > 0 {
					fmt.Fprintln(cmd.OutOrStdout(), "---")
				}
				if err := printYAML(cmd.OutOrStdout(), p.Object); err != nil {
					return err
				}
			}
			return nil
		},
	}
	cmd.Flags().StringArrayVarP(&files, "filename", "f", nil, "manifest file (YAML or JSON, multi-document); - for stdin")
	cmd.Flags().BoolVar(&fromCluster, "from-cluster", false, "read Instrumentations, owners and TLS objects from the cluster instead of the files")
	cmd.Flags().BoolVar(&reportOnly, "report", false, "print only the decisions, not the manifests")
	cmd.Flags().BoolVar(&ignoreCluster, "ignore-cluster", false, "do not contact the cluster: use autotel's built-in defaults instead of the installed operator's settings (offline preview)")
	return cmd
}

func printYAML(w interface{ Write([]byte) (int, error) }, obj runtime.Object) error {
	raw, err := yaml.Marshal(obj)
	if err != nil {
		return fmt.Errorf("encoding output: %w", err)
	}
	_, err = w.Write(raw)
	return err
}
