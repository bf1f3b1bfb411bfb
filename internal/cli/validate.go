package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	networkingv1alpha3 "istio.io/client-go/pkg/apis/networking/v1alpha3"

	"github.com/meshaccel/meshaccel/api/v1alpha1"
	"github.com/meshaccel/meshaccel/extensions/envoyfilter"
	"github.com/meshaccel/meshaccel/extensions/manifest"
)

func init() { addCommand(newValidateCommand) }

func newValidateCommand() *cobra.Command {
	var files []string
	var output string
	cmd := &cobra.Command{
		Use:   "validate -f FILE|DIR|- [-f ...]",
		Short: "Check EnvoyFilters as Envoy would: every patch value, every nested typed_config",
		Long: `validate reads manifests (multi-document YAML or JSON, or 'kubectl get -o yaml' Lists) and checks
every EnvoyFilter in them, meshaccel's or hand-written: each patch value is decoded into the Envoy
message its applyTo names (unknown fields and unknown type URLs are errors) and validated with
Envoy's rules, including the message inside every typed_config at any depth, which validating the
outer message alone never reaches. applyTo, operation and match are checked against what Istio
applies. Other kinds are only decoded; a document that does not decode is an error.

Exit code 0: no errors (warnings may be printed); 1: errors; 2: the command failed.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != outputText && output != outputJSON {
				return fmt.Errorf("--output %q: want text or json", output)
			}
			result, err := validateManifests(files, cmd.InOrStdin())
			if err != nil {
				return err
			}
			if output == outputJSON {
				encoder := json.NewEncoder(cmd.OutOrStdout())
				encoder.SetIndent("", "  ")
				err = encoder.Encode(result)
			} else {
				err = result.writeText(cmd.OutOrStdout())
			}
			if err != nil {
				return err
			}
			if result.Summary.Errors > 0 {
				return &ExitError{Code: 1}
			}
			return nil
		},
	}
	cmd.Flags().StringArrayVarP(&files, "filename", "f", nil, "manifest file, directory (its *.yaml, *.yml, *.json) or - for standard input (repeatable)")
	cmd.Flags().StringVarP(&output, "output", "o", outputText, "output format: text or json")
	_ = cmd.MarkFlagRequired("filename")
	return cmd
}

// validateResult is what `validate -o json` prints.
type validateResult struct {
	EnvoyFilters []validatedEnvoyFilter `json:"envoyFilters"`
	// InputErrors are documents that could not be decoded.
	InputErrors []inputError    `json:"inputErrors"`
	Summary     validateSummary `json:"summary"`
}

type validatedEnvoyFilter struct {
	Source   manifest.Source `json:"source"`
	Object   string          `json:"object"`
	Errors   []locatedIssue  `json:"errors"`
	Warnings []locatedIssue  `json:"warnings"`
}

// locatedIssue is an issue with the line of its field in the file.
type locatedIssue struct {
	envoyfilter.Issue
	Line int `json:"line"`
}

type inputError struct {
	Source manifest.Source `json:"source"`
	// Line is the line of the offending field, or of the document.
	Line    int    `json:"line"`
	Message string `json:"message"`
	// Detail is Message without the source.
	Detail string `json:"detail"`
}

type validateSummary struct {
	EnvoyFilters int `json:"envoyFilters"`
	Errors       int `json:"errors"`
	Warnings     int `json:"warnings"`
}

func validateManifests(files []string, stdin io.Reader) (validateResult, error) {
	reader, err := manifest.NewReader(v1alpha1.AddToScheme)
	if err != nil {
		return validateResult{}, err
	}
	objects, readErr := reader.ReadPaths(files, stdin)
	result := validateResult{EnvoyFilters: []validatedEnvoyFilter{}, InputErrors: []inputError{}}
	var decodeErrs manifest.Errors
	if errors.As(readErr, &decodeErrs) {
		for _, e := range decodeErrs {
			if e.Source.Document == 0 {
				// A file that cannot be read at all is a failure of the command, not a finding.
				return validateResult{}, e
			}
			result.InputErrors = append(result.InputErrors, inputError{Source: e.Source, Line: e.Line(), Message: e.Error(), Detail: e.Detail()})
		}
	} else if readErr != nil {
		return validateResult{}, readErr
	}
	for _, o := range objects {
		ef, ok := o.Obj.(*networkingv1alpha3.EnvoyFilter)
		if !ok {
			continue
		}
		report := envoyfilter.ValidateEnvoyFilter(ef)
		checked := validatedEnvoyFilter{
			Source:   o.Source,
			Object:   fmt.Sprintf("EnvoyFilter %s/%s", ef.Namespace, ef.Name),
			Errors:   locateIssues(o, report.Errors),
			Warnings: locateIssues(o, report.Warnings),
		}
		result.EnvoyFilters = append(result.EnvoyFilters, checked)
		result.Summary.Errors += len(report.Errors)
		result.Summary.Warnings += len(report.Warnings)
	}
	result.Summary.EnvoyFilters = len(result.EnvoyFilters)
	result.Summary.Errors += len(result.InputErrors)
	return result, nil
}

// locateIssues finds the line of each issue's field, or of its closest written ancestor (a
// missing field has no line of its own).
func locateIssues(o manifest.Object, issues []envoyfilter.Issue) []locatedIssue {
	located := make([]locatedIssue, len(issues))
	for i, issue := range issues {
		path := issue.Field
		if issue.PatchIndex != envoyfilter.NoPatch {
			path = strings.TrimSuffix(fmt.Sprintf("spec.configPatches[%d].%s", issue.PatchIndex, issue.Field), ".")
		}
		line := 0
		for path != "" && line == 0 {
			line = o.Line(path)
			path = parentPath(path)
		}
		if line == 0 {
			line = o.Source.Line
		}
		located[i] = locatedIssue{Issue: issue, Line: line}
	}
	return located
}

// parentPath drops the last segment of "a.b[0].c" (or of `a["k.1"]`).
func parentPath(path string) string {
	if strings.HasSuffix(path, "]") {
		if i := strings.LastIndex(path, "["); i >= 0 {
			return path[:i]
		}
	}
	if i := strings.LastIndexByte(path, '.'); i >= 0 {
		return path[:i]
	}
	return ""
}

// writeText prints one "file:line: severity: problem" line per problem, decode errors first,
// then each EnvoyFilter's in input order, then the summary.
func (r validateResult) writeText(w io.Writer) error {
	ew := &firstErrWriter{w: w}
	for _, e := range r.InputErrors {
		ew.printf("%s:%d: error: %s\n", e.Source.File, e.Line, e.Detail)
	}
	for _, ef := range r.EnvoyFilters {
		for _, issue := range ef.Errors {
			ew.printf("%s:%d: error: %s\n", ef.Source.File, issue.Line, issue.Issue)
		}
		for _, issue := range ef.Warnings {
			ew.printf("%s:%d: warning: %s\n", ef.Source.File, issue.Line, issue.Issue)
		}
	}
	ew.printf("%s checked: %s, %s\n", issueCount(r.Summary.EnvoyFilters, "EnvoyFilter"), issueCount(r.Summary.Errors, "error"), issueCount(r.Summary.Warnings, "warning"))
	return ew.err
}

func issueCount(n int, noun string) string {
	if n == 1 {
		return fmt.Sprintf("1 %s", noun)
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// firstErrWriter keeps the first write error so that printing stays readable.
type firstErrWriter struct {
	w   io.Writer
	err error
}

func (e *firstErrWriter) printf(format string, args ...any) {
	if e.err == nil {
		_, e.err = fmt.Fprintf(e.w, format, args...)
	}
}
