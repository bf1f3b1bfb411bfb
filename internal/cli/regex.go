package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/meshaccel/meshaccel/hyperscan"
	"github.com/meshaccel/meshaccel/hyperscan/inputgen"
	"github.com/meshaccel/meshaccel/hyperscan/matcher"
	"github.com/meshaccel/meshaccel/hyperscan/regexcompat"
	"github.com/meshaccel/meshaccel/hyperscan/regexsource"
)

func init() { addCommand(newRegexCommand) }

func newRegexCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "regex",
		Short: "Check and time your regexes under Hyperscan before switching Envoy's regex engine",
	}
	cmd.AddCommand(newRegexCheckCommand(), newRegexBenchCommand())
	return cmd
}

const outputText, outputJSON = "text", "json"

type regexFilesFlags struct {
	files []string
}

func (f *regexFilesFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringSliceVarP(&f.files, "filename", "f", nil,
		"VirtualService or EnvoyFilter YAML (multi-document or a kubectl List), or text with one regex per line; - reads standard input (repeatable, comma-separated; further arguments are files too, as in -f routes/*.yaml)")
	_ = cmd.MarkFlagRequired("filename")
}

// load reads every file (the -f values, then the arguments) and returns the regexes found, in
// file order.
func (f *regexFilesFlags) load(stdin io.Reader, args []string) ([]regexsource.Regex, error) {
	var regexes []regexsource.Regex
	files := append(slices.Clone(f.files), args...)
	for _, name := range files {
		var data []byte
		var err error
		if name == "-" {
			data, err = io.ReadAll(stdin)
		} else {
			data, err = os.ReadFile(name)
		}
		if err != nil {
			return nil, err
		}
		found, err := regexsource.Parse(name, data)
		if err != nil {
			return nil, err
		}
		regexes = append(regexes, found...)
	}
	if len(regexes) == 0 {
		return nil, fmt.Errorf("no regexes found in %s", strings.Join(files, ", "))
	}
	return regexes, nil
}

func newRegexCheckCommand() *cobra.Command {
	var files regexFilesFlags
	var output string
	var maxProgramSize int
	cmd := &cobra.Command{
		Use:   "check -f FILE [FILE...]",
		Short: "Report, for every regex, whether Hyperscan compiles it and matches exactly what RE2 full match does",
		Long: `check finds every regex Envoy evaluates in the given files and compares RE2 full match
(Envoy's default engine) with envoy.regex_engines.hyperscan, naming each difference with an input
that shows it and a rewrite that keeps the RE2 meaning and removes the difference where one exists.

Exit code 0: every regex is equivalent; 1: some regex differs; 2: the command failed.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if output != outputText && output != outputJSON {
				return fmt.Errorf("--output %q: want text or json", output)
			}
			regexes, err := files.load(cmd.InOrStdin(), args)
			if err != nil {
				return err
			}
			checker := regexcompat.NewChecker(regexcompat.WithMaxProgramSize(maxProgramSize))
			report := newCheckReport(regexes, checker.CheckRegexes(regexStrings(regexes)))
			if output == outputJSON {
				encoder := json.NewEncoder(cmd.OutOrStdout())
				encoder.SetIndent("", "  ")
				err = encoder.Encode(report)
			} else {
				err = report.writeText(cmd.OutOrStdout())
			}
			if err != nil {
				return err
			}
			if report.Summary.Differ > 0 {
				return &ExitError{Code: 1}
			}
			return nil
		},
	}
	files.register(cmd)
	cmd.Flags().StringVarP(&output, "output", "o", outputText, "output format: text or json")
	cmd.Flags().IntVar(&maxProgramSize, "max-program-size", hyperscan.EnvoyRE2MaxProgramSize, "Envoy's re2.max_program_size.error_level")
	return cmd
}

func regexStrings(regexes []regexsource.Regex) []string {
	out := make([]string, len(regexes))
	for i, r := range regexes {
		out[i] = r.Regex
	}
	return out
}

type checkReport struct {
	Regexes []checkedRegex `json:"regexes"`
	Summary checkSummary   `json:"summary"`
}

type checkSummary struct {
	Total       int `json:"total"`
	Equivalent  int `json:"equivalent"`
	Differ      int `json:"differ"`
	WithRewrite int `json:"withRewrite"`
}

type checkedRegex struct {
	regexsource.Regex
	Equivalent  bool                 `json:"equivalent"`
	Differences []reportedDifference `json:"differences,omitempty"`
	Rewrite     string               `json:"rewrite,omitempty"`
}

type reportedDifference struct {
	hyperscan.Difference
	// ExampleQuoted is the example as a Go-quoted string: JSON cannot carry invalid UTF-8.
	ExampleQuoted string `json:"exampleQuoted,omitempty"`
}

func newCheckReport(regexes []regexsource.Regex, verdicts []hyperscan.RegexVerdict) checkReport {
	report := checkReport{Regexes: make([]checkedRegex, len(regexes))}
	for i, v := range verdicts {
		checked := checkedRegex{Regex: regexes[i], Equivalent: v.Equivalent, Rewrite: v.Rewrite}
		for _, d := range v.Differences {
			reported := reportedDifference{Difference: d}
			if d.Example != "" {
				reported.ExampleQuoted = strconv.Quote(d.Example)
			}
			checked.Differences = append(checked.Differences, reported)
		}
		report.Regexes[i] = checked
		report.Summary.Total++
		if v.Equivalent {
			report.Summary.Equivalent++
			continue
		}
		report.Summary.Differ++
		if v.Rewrite != "" {
			report.Summary.WithRewrite++
		}
	}
	return report
}

func (r checkReport) writeText(w io.Writer) error {
	var b strings.Builder
	for _, checked := range r.Regexes {
		status := "ok     "
		if !checked.Equivalent {
			status = "DIFFERS"
		}
		fmt.Fprintf(&b, "%s %s\n        regex   %s\n", status, checked.Location(), strconv.Quote(checked.Regex.Regex))
		for _, d := range checked.Differences {
			fmt.Fprintf(&b, "        %-15s %s\n", d.Kind, d.Detail)
		}
		if checked.Rewrite != "" {
			fmt.Fprintf(&b, "        rewrite %s\n", strconv.Quote(checked.Rewrite))
		}
	}
	s := r.Summary
	fmt.Fprintf(&b, "\n%d regexes: %d equivalent under Hyperscan, %d differ (%d with a safe rewrite)\n", s.Total, s.Equivalent, s.Differ, s.WithRewrite)
	_, err := io.WriteString(w, b.String())
	return err
}

func newRegexBenchCommand() *cobra.Command {
	var files regexFilesFlags
	var output string
	var inputCount int
	var duration time.Duration
	cmd := &cobra.Command{
		Use:   "bench -f FILE [FILE...]",
		Short: "Time your route table's regexes per request: RE2-style sequential matching vs one Hyperscan scan",
		Long: `bench builds the route table from the regexes in the given files (in order, first match wins,
each regex matching the whole value as Envoy's RE2 engine does), generates request values from the
regexes themselves, and times Go's regexp route by route (the behaviour of Envoy's default engine)
against meshaccel's Hyperscan matcher on the same values, on one core.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if output != outputText && output != outputJSON {
				return fmt.Errorf("--output %q: want text or json", output)
			}
			if inputCount < 1 || duration <= 0 {
				return errors.New("--inputs and --duration must be positive")
			}
			regexes, err := files.load(cmd.InOrStdin(), args)
			if err != nil {
				return err
			}
			result, err := benchRouteTable(regexes, inputCount, duration)
			if err != nil {
				return err
			}
			if output == outputJSON {
				encoder := json.NewEncoder(cmd.OutOrStdout())
				encoder.SetIndent("", "  ")
				return encoder.Encode(result)
			}
			return result.writeText(cmd.OutOrStdout())
		},
	}
	files.register(cmd)
	cmd.Flags().StringVarP(&output, "output", "o", outputText, "output format: text or json")
	cmd.Flags().IntVar(&inputCount, "inputs", 1000, "request values to generate from the regexes")
	cmd.Flags().DurationVar(&duration, "duration", time.Second, "how long to time each engine")
	return cmd
}

type benchResult struct {
	Routes         int      `json:"routes"`
	Skipped        []string `json:"skipped,omitempty"`
	Inputs         int      `json:"inputs"`
	SequentialNs   float64  `json:"sequentialNsPerRequest"`
	HyperscanNs    float64  `json:"hyperscanNsPerRequest"`
	Speedup        float64  `json:"speedup"`
	CompileSeconds float64  `json:"hyperscanCompileSeconds"`
	DatabaseBytes  int      `json:"hyperscanDatabaseBytes"`
	Disagreements  int      `json:"disagreements"`
}

func benchRouteTable(regexes []regexsource.Regex, inputCount int, duration time.Duration) (*benchResult, error) {
	result := &benchResult{}
	var table []string
	var sequential []interface{ MatchString(string) bool }
	for _, r := range regexes {
		full, err := hyperscan.CompileFullMatch(r.Regex)
		if err == nil {
			if _, err = hyperscan.FullMatchExpression(r.Regex, hyperscan.CaseExplicitClasses); err == nil {
				table = append(table, r.Regex)
				sequential = append(sequential, full)
				continue
			}
		}
		result.Skipped = append(result.Skipped, fmt.Sprintf("%s: %v", r.Location(), err))
	}
	if len(table) == 0 {
		return nil, errors.New("no regex in the files compiles as RE2")
	}
	start := time.Now()
	db, err := matcher.Compile(table)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	result.CompileSeconds = time.Since(start).Seconds()
	result.DatabaseBytes = db.Size()
	result.Routes = len(table)

	inputs := benchInputs(table, inputCount)
	result.Inputs = len(inputs)
	scanner, err := db.NewScanner()
	if err != nil {
		return nil, err
	}
	defer scanner.Close()
	firstSequential := func(value string) int {
		for i, re := range sequential {
			if re.MatchString(value) {
				return i
			}
		}
		return matcher.NoMatch
	}
	for _, value := range inputs {
		if got, _ := scanner.Match(value); got != firstSequential(value) {
			result.Disagreements++
		}
	}
	result.SequentialNs = timePerRequest(inputs, duration, func(v string) { firstSequential(v) })
	result.HyperscanNs = timePerRequest(inputs, duration, func(v string) { _, _ = scanner.Match(v) })
	result.Speedup = result.SequentialNs / result.HyperscanNs
	return result, nil
}

// benchInputs generates request values from the table's own regexes: mostly values a route
// matches, some near misses, spread evenly over the routes.
func benchInputs(table []string, n int) []string {
	inputs := make([]string, 0, n)
	for i := 0; len(inputs) < n; i++ {
		route := i % len(table)
		parsed, err := hyperscan.ParseRE2(table[route])
		if err != nil {
			continue
		}
		g := inputgen.New(parsed, uint64(i))
		if i%4 == 3 {
			inputs = append(inputs, g.Mutate(g.Matching()).Text)
		} else {
			inputs = append(inputs, g.Matching())
		}
	}
	return inputs
}

// timePerRequest runs match over inputs, round after round, for at least duration and returns
// the mean wall time per value (one goroutine, so it is the CPU time of the match).
func timePerRequest(inputs []string, duration time.Duration, match func(string)) float64 {
	requests := 0
	start := time.Now()
	for time.Since(start) < duration {
		for _, v := range inputs {
			match(v)
		}
		requests += len(inputs)
	}
	return float64(time.Since(start).Nanoseconds()) / float64(requests)
}

func (r *benchResult) writeText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "route table: %d regexes, %d request values generated from them\n", r.Routes, r.Inputs)
	for _, s := range slices.Sorted(slices.Values(r.Skipped)) {
		fmt.Fprintf(&b, "skipped %s\n", s)
	}
	fmt.Fprintf(&b, "RE2-style sequential (Go regexp): %s per request\n", formatNs(r.SequentialNs))
	fmt.Fprintf(&b, "Hyperscan, one scan:              %s per request (%.1fx faster)\n", formatNs(r.HyperscanNs), r.Speedup)
	fmt.Fprintf(&b, "Hyperscan compile: %.3f s, database %d bytes\n", r.CompileSeconds, r.DatabaseBytes)
	if r.Disagreements > 0 {
		fmt.Fprintf(&b, "warning: the engines routed %d of %d values differently; run `meshaccel regex check` on the same files\n", r.Disagreements, r.Inputs)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func formatNs(ns float64) string {
	if ns >= 1000 {
		return fmt.Sprintf("%.2f µs", ns/1000)
	}
	return fmt.Sprintf("%.0f ns", ns)
}
