package cli

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"

	"github.com/autotel/autotel/internal/instrumentation"
	"github.com/autotel/autotel/internal/webhook/podwebhook"
)

func newInjectCmd(flags *kubeFlags) *cobra.Command {
	var files []string
	var fromCluster, reportOnly bool
	cmd := &cobra.Command{
		Use:   "inject -f MANIFEST [-f MANIFEST...]",
		Short: "Print workload manifests as the pod webhook would instrument them",
		Long: `Runs autotel's injector — the same code the webhook runs — on the pods and pod
templates in the manifests, and prints the result. Instrumentations, Namespaces,
Secrets and ConfigMaps in the files are used for the decision; with --from-cluster
they are read from the cluster instead. Decisions are explained on stderr.`,
		Example: `  autotel inject -f instrumentation.yaml -f deployment.yaml -n example
  autotel inject -f deployment.yaml -n example --from-cluster`,
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
			namespace := flags.Namespace()
			var live instrumentation.Lookup
			if fromCluster {
				c, err := flags.client()
				if err != nil {
					return err
				}
				live = podwebhook.ClientLookup{Cached: c, Direct: c}
			}
			previews := InjectManifests(cmd.Context(), &m, namespace, instrumentation.Mutator{Config: instrumentation.DefaultConfig()}, live)
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
