package regexcompat

import (
	"testing"

	hyperscanmatcherv3alpha "github.com/envoyproxy/go-control-plane/contrib/envoy/extensions/matching/input_matchers/hyperscan/v3alpha"
	rbacv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/rbac/v3"

	"github.com/meshaccel/meshaccel/hyperscan"
	"github.com/meshaccel/meshaccel/hyperscan/inputgen"
)

// TestRBACDenyFilterRegexesOnRealHyperscan compiles every regex of the rendered Hyperscan input
// matchers with the flags the config gives Envoy (utf8, allow_empty; no start of match) and
// checks each against RE2 full match of the user's regex on generated inputs.
func TestRBACDenyFilterRegexesOnRealHyperscan(t *testing.T) {
	paths := []string{`/admin(/.*)?`, `/\.git/.*`, `(?i)/wp-login\.php`, `/api/v[0-9]+/internal/[a-z]+`, `/x?`}
	userAgents := []string{`.*(sqlmap|nikto).*`, `(?i)masscan/[0-9.]+`, `Bearer\s+\S+`, `.*`}
	filter, err := hyperscan.BuildRBACDenyFilter(paths, userAgents)
	if err != nil {
		t.Fatal(err)
	}
	rbac := &rbacv3.RBAC{}
	if err := filter.GetTypedConfig().UnmarshalTo(rbac); err != nil {
		t.Fatal(err)
	}
	predicates := rbac.GetMatcher().GetMatcherList().GetMatchers()[0].GetPredicate().GetOrMatcher().GetPredicate()
	for p, lists := range []struct {
		regexes     []string
		querySuffix bool
	}{{paths, true}, {userAgents, false}} {
		config := &hyperscanmatcherv3alpha.Hyperscan{}
		if err := predicates[p].GetSinglePredicate().GetCustomMatch().GetTypedConfig().UnmarshalTo(config); err != nil {
			t.Fatal(err)
		}
		for i, r := range config.GetRegexes() {
			original := lists.regexes[i]
			reference := original
			if lists.querySuffix {
				reference = "(?:" + original + `)(?:\?.*)?`
			}
			full, err := hyperscan.CompileFullMatch(reference)
			if err != nil {
				t.Fatal(err)
			}
			if r.GetAllowEmpty() != full.MatchString("") {
				t.Errorf("%q: allow_empty %v", original, r.GetAllowEmpty())
			}
			flags := compileUTF8
			if r.GetAllowEmpty() {
				flags = compileAllowingEmpty
			}
			engine, err := flags(r.GetRegex())
			if err != nil {
				t.Fatalf("%q: Hyperscan cannot compile %q: %v", original, r.GetRegex(), err)
			}
			parsed, _ := hyperscan.ParseRE2(reference)
			unfixable := false
			for _, d := range NewChecker(WithProbeInputs(300)).CheckRegex(original).Differences {
				unfixable = unfixable || (d.Kind != hyperscan.DiffAnchoring && d.Kind != hyperscan.DiffEmptyMatch && d.Kind != hyperscan.DiffProgramSize)
			}
			for _, in := range inputgen.New(parsed, uint64(i+1)).Inputs(500) {
				got, err := engine.Match(in.Text)
				if err != nil {
					t.Fatal(err)
				}
				if want := full.MatchString(in.Text); got != want && !unfixable {
					t.Errorf("%q as %q: Hyperscan %v, RE2 full match %v on %q", original, r.GetRegex(), got, want, in.Text)
					break
				}
			}
			engine.Close()
		}
	}
}
