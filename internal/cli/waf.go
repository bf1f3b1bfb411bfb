package cli

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/meshaccel/meshaccel/wasm-waf/crs"
	"github.com/meshaccel/meshaccel/wasm-waf/engine"
	"github.com/meshaccel/meshaccel/wasm-waf/ruleset"
)

func init() { addCommand(newWafCommand) }

func newWafCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "waf",
		Short: "Compile SecLang rules (OWASP CRS v4 included) into the ruleset artifact the WAF Wasm plugin loads",
	}
	cmd.AddCommand(newWafCompileCommand())
	return cmd
}

type wafCompileFlags struct {
	files         []string
	withCRS       bool
	paranoia      int
	detectionOnly bool
	keepAll       bool
	output        string
}

func newWafCompileCommand() *cobra.Command {
	var f wafCompileFlags
	cmd := &cobra.Command{
		Use:   "compile [-f rules.conf]... [--crs] -o ruleset.wafrs",
		Short: "Compile SecLang into a versioned ruleset artifact",
		Long: `Compile parses SecLang (the ModSecurity v3 / Coraza dialect), resolves Include and
@pmFromFile relative to each file, and writes the compact, versioned ruleset artifact that the WAF
plugin loads without compiling anything. With --crs the embedded OWASP CRS v4 comes first and the
files are appended (exclusions, custom rules). Errors name the file, line and directive.

Rules that no request can reach in the compiled configuration, such as the CRS's upper paranoia
levels behind their gates, are left out unless --keep-unreachable: a ctl action that could
remove a gate keeps what lies behind it. Requests are decided the same either way.`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			files := append(append([]string(nil), f.files...), args...)
			if !f.withCRS && len(files) == 0 {
				return fmt.Errorf("waf compile: give rule files with -f or use --crs")
			}
			if f.output == "" {
				return fmt.Errorf("waf compile: --output is required (- writes to standard output)")
			}
			start := time.Now()
			rs, err := compileWafRules(f, files)
			if err != nil {
				return err
			}
			elapsed := time.Since(start)
			artifact, err := rs.MarshalBinary()
			if err != nil {
				return err
			}
			if f.output == "-" {
				if _, err := cmd.OutOrStdout().Write(artifact); err != nil {
					return err
				}
			} else if err := writeFileAtomic(f.output, artifact); err != nil {
				return err
			}
			return writeWafSummary(cmd.ErrOrStderr(), rs, len(artifact), elapsed)
		},
	}
	cmd.Flags().StringSliceVarP(&f.files, "filename", "f", nil, "SecLang files, compiled in order (repeatable)")
	cmd.Flags().BoolVar(&f.withCRS, "crs", false, "start from the embedded OWASP CRS v4 (coraza-coreruleset)")
	cmd.Flags().IntVar(&f.paranoia, "paranoia-level", 1, "CRS blocking paranoia level, 1-4 (with --crs)")
	cmd.Flags().BoolVar(&f.detectionOnly, "detection-only", false, "SecRuleEngine DetectionOnly (with --crs; files may set it themselves)")
	cmd.Flags().BoolVar(&f.keepAll, "keep-unreachable", false, "keep the rules no request can reach in this configuration")
	cmd.Flags().StringVarP(&f.output, "output", "o", "", "artifact file to write, or - for standard output")
	return cmd
}

// compileWafRules reads the files from the real file system: Include and @pmFromFile resolve
// relative to the including file, as ModSecurity does.
func compileWafRules(f wafCompileFlags, files []string) (*ruleset.Ruleset, error) {
	var extra strings.Builder
	for _, name := range files {
		abs, err := filepath.Abs(name)
		if err != nil {
			return nil, err
		}
		if _, err := os.Stat(abs); err != nil {
			return nil, fmt.Errorf("waf compile: %w", err)
		}
		fmt.Fprintf(&extra, "Include %q\n", filepath.ToSlash(abs))
	}
	if f.withCRS {
		if f.paranoia < 1 || f.paranoia > 4 {
			return nil, fmt.Errorf("waf compile: --paranoia-level %d is not in 1-4", f.paranoia)
		}
		return crs.CompileWith(crs.Options{ParanoiaLevel: f.paranoia, DetectionOnly: f.detectionOnly, Extra: extra.String(),
			KeepUnreachable: f.keepAll}, os.DirFS("/"))
	}
	rs, err := ruleset.CompileString(ruleset.Options{FS: os.DirFS("/")}, "command line", extra.String())
	if err != nil || f.keepAll {
		return rs, err
	}
	return engine.Prune(rs)
}

func writeFileAtomic(name string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(name), ".wafrs-*")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), name)
}

func writeWafSummary(w io.Writer, rs *ruleset.Ruleset, size int, elapsed time.Duration) error {
	prefiltered := 0
	for _, r := range rs.Regexes {
		if len(r.Prefilter) > 0 || len(r.Bytes) > 0 {
			prefiltered++
		}
	}
	_, err := fmt.Fprintf(w, "compiled %d rules (phase 1: %d chains, phase 2: %d chains; %d response-phase rules dropped, "+
		"%d unreachable left out), %d regexes (%d with literal or byte prefilters), %d phrase automata, engine %s; "+
		"artifact v%d, %d bytes, in %s\n",
		len(rs.Rules), len(rs.Phases[1]), len(rs.Phases[2]), rs.Skipped, rs.Unreachable, len(rs.Regexes), prefiltered, len(rs.Matchers),
		rs.Engine, ruleset.FormatVersion, size, elapsed.Round(time.Millisecond))
	return err
}
