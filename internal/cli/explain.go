package cli

import (
	"github.com/spf13/cobra"
)

func newExplainCmd(flags *kubeFlags) *cobra.Command {
	return &cobra.Command{Use: "explain pod/NAME", Short: "Explain why a pod was or was not instrumented", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return explain(cmd, flags, args[0]) }}
}

func newCheckCmd(flags *kubeFlags) *cobra.Command {
	return &cobra.Command{Use: "check", Short: "Verify the autotel installation", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return check(cmd, flags) }}
}
