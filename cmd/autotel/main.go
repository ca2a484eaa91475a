// Command autotel previews, explains and checks autotel's zero-code
// instrumentation. Copied or linked as kubectl-autotel it is a kubectl
// plugin.
package main

import (
	"os"

	"github.com/autotel/autotel/internal/cli"
)

func main() { os.Exit(cli.Main(os.Args[1:])) }
