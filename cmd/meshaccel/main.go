// Command meshaccel runs meshaccel's translation core offline: render, explain, validate and more.
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/meshaccel/meshaccel/internal/cli"
)

func main() {
	err := cli.NewRootCommand().Execute()
	if err == nil {
		return
	}
	var exitErr *cli.ExitError
	if errors.As(err, &exitErr) {
		if exitErr.Message != "" {
			fmt.Fprintln(os.Stderr, exitErr.Message)
		}
		os.Exit(exitErr.Code)
	}
	fmt.Fprintln(os.Stderr, "meshaccel:", err)
	os.Exit(2)
}
