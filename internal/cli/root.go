// Package cli implements the meshaccel command line. Every command runs the same core as the
// operator, offline.
package cli

import (
	"sort"

	"github.com/spf13/cobra"
)

// commandConstructors is filled by each command file's init, so commands can live in their own files.
var commandConstructors []func() *cobra.Command

func addCommand(newCommand func() *cobra.Command) {
	commandConstructors = append(commandConstructors, newCommand)
}

// NewRootCommand returns the `meshaccel` command with every subcommand attached.
func NewRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "meshaccel",
		Short:         "Hardware offload for Envoy in an Istio mesh: render, explain and validate acceleration",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	subcommands := make([]*cobra.Command, 0, len(commandConstructors))
	for _, newCommand := range commandConstructors {
		subcommands = append(subcommands, newCommand())
	}
	sort.Slice(subcommands, func(i, j int) bool { return subcommands[i].Name() < subcommands[j].Name() })
	root.AddCommand(subcommands...)
	return root
}

// ExitError carries a process exit code for results that are not failures of the command itself,
// such as `validate` or `regex check` finding problems (exit code 1).
type ExitError struct {
	Code    int
	Message string
}

func (e *ExitError) Error() string { return e.Message }
