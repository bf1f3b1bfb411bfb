package crs

import (
	"fmt"
	"io/fs"
	"regexp"
	"sort"
	"strings"

	yaml "go.yaml.in/yaml/v4"
)

// TestingSetup is the configuration the OWASP CRS regression tests expect (as in the CRS and
// Coraza test setups): detection only at paranoia level 4, the test limits, and rule 999999
// that writes the X-CRS-Test marker header into the log.
const TestingSetup = `
SecAction "id:900005,phase:1,nolog,pass,ctl:ruleEngine=DetectionOnly,ctl:ruleRemoveById=910000,\
  setvar:tx.blocking_paranoia_level=4,setvar:tx.detection_paranoia_level=4,\
  setvar:tx.crs_validate_utf8_encoding=1,setvar:tx.arg_name_length=100,setvar:tx.arg_length=400,\
  setvar:tx.total_arg_length=64000,setvar:tx.max_num_args=255,setvar:tx.max_file_size=64100,\
  setvar:tx.combined_file_sizes=65535"
SecRule REQUEST_HEADERS:X-CRS-Test "@rx ^.*$" "id:999999,phase:1,log,msg:'X-CRS-Test %{MATCHED_VAR}',pass,t:none"
`

// Skip is a regression test (or a pattern of test ids) the native run does not count, and why.
type Skip struct {
	Test   string `yaml:"test"`
	Reason string `yaml:"reason"`
	re     *regexp.Regexp
}

// Skips is the checked-in list of skipped regression tests.
type Skips struct {
	Skips []Skip `yaml:"skips"`
}

// LoadSkips parses skips.yaml. Test is a test id ("920100-4") or an anchored regular expression
// over test ids.
func LoadSkips(data []byte) (*Skips, error) {
	var s Skips
	if err := yaml.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("skips: %w", err)
	}
	for i := range s.Skips {
		sk := &s.Skips[i]
		if sk.Test == "" || strings.TrimSpace(sk.Reason) == "" {
			return nil, fmt.Errorf("skips: entry %d needs a test and a reason", i+1)
		}
		re, err := regexp.Compile("^(?:" + sk.Test + ")$")
		if err != nil {
			return nil, fmt.Errorf("skips: entry %d: %w", i+1, err)
		}
		sk.re = re
	}
	return &s, nil
}

// Reason returns why a test is skipped, or "".
func (s *Skips) Reason(testID string) string {
	for _, sk := range s.Skips {
		if sk.re.MatchString(testID) {
			return sk.Reason
		}
	}
	return ""
}

// RequestTestFiles lists the regression test files of the request phases (REQUEST-*).
func RequestTestFiles(fsys fs.FS) ([]string, error) {
	var out []string
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasPrefix(p, "REQUEST-") && strings.HasSuffix(p, ".yaml") {
			out = append(out, p)
		}
		return nil
	})
	sort.Strings(out)
	return out, err
}
