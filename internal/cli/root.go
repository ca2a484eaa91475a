package cli

import (
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
)

// NewRoot builds the autotel command. Installed as kubectl-autotel it is
// also a kubectl plugin (`kubectl autotel ...`).
func NewRoot(stdout, stderr io.Writer) *cobra.Command {
	flags := newKubeFlags()
	root := &cobra.Command{
		Use:           "autotel",
		Short:         "Explain and preview autotel's zero-code instrumentation",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	flags.add(root.PersistentFlags())
	root.AddCommand(newInjectCmd(flags), newExplainCmd(flags), newCheckCmd(flags))
	return root
}

// Main runs the command line and returns the process exit code.
func Main(args []string) int {
	root := NewRoot(os.Stdout, os.Stderr)
	root.SetArgs(args)
	if err := root.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "autotel:", err)
		return 1
	}
	return 0
}
