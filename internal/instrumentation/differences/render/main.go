// Command render writes docs/compatibility.md from docs/differences.yaml
// (run by `go generate ./internal/instrumentation/differences/`).
package main

import (
	"fmt"
	"os"

	"github.com/autotel/autotel/internal/instrumentation/differences"
)

func main() {
	d, err := differences.Load(differences.DocPath())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := os.WriteFile(differences.CompatibilityPath(), differences.Render(d), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "writing compatibility.md:", err)
		os.Exit(1)
	}
}
