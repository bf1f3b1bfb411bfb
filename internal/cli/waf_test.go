package cli

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meshaccel/meshaccel/wasm-waf/engine"
	"github.com/meshaccel/meshaccel/wasm-waf/ruleset"
)

func runWafCommand(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	root := NewRootCommand()
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(append([]string{"waf"}, args...))
	err = root.Execute()
	return out.String(), errOut.String(), err
}

func writeWafFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func loadWafArtifact(t *testing.T, path string) *engine.Engine {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	rs, err := ruleset.Load(data)
	if err != nil {
		t.Fatal(err)
	}
	return engine.New(rs)
}

func wafBlocks(e *engine.Engine, uri string, headers [][2]string) bool {
	tx := e.NewTransaction()
	defer tx.Close()
	it := tx.ProcessRequestHeaders("GET", uri, "HTTP/1.1", headers)
	if it == nil {
		it = tx.ProcessRequestBody(nil, "")
	}
	return it != nil
}

func TestWafCompileResolvesIncludesAndDataFilesRelativeToTheirFile(t *testing.T) {
	dir := t.TempDir()
	writeWafFile(t, dir, "rules/bots.data", "# scanners\nsqlmap\nnikto\n")
	writeWafFile(t, dir, "rules/bots.conf", `SecRule REQUEST_HEADERS:User-Agent "@pmFromFile bots.data" "id:10,phase:1,deny,status:403"`+"\n")
	main := writeWafFile(t, dir, "main.conf", "SecRuleEngine On\nInclude rules/*.conf\n")
	out := filepath.Join(dir, "out.wafrs")
	_, stderr, err := runWafCommand(t, "compile", "-f", main, "-o", out)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stderr, "compiled 1 rules") || !strings.Contains(stderr, fmt.Sprintf("artifact v%d", ruleset.FormatVersion)) {
		t.Errorf("summary: %q", stderr)
	}
	e := loadWafArtifact(t, out)
	if !wafBlocks(e, "/", [][2]string{{"User-Agent", "Mozilla/5.0 sqlmap/1.7"}}) {
		t.Error("the compiled @pmFromFile rule must block sqlmap")
	}
	if wafBlocks(e, "/", [][2]string{{"User-Agent", "Mozilla/5.0"}}) {
		t.Error("a browser must pass")
	}
}

func TestWafCompileCRSWithExtraRules(t *testing.T) {
	dir := t.TempDir()
	extra := writeWafFile(t, dir, "exclusions.conf", `SecRuleRemoveById 942100`+"\n")
	out := filepath.Join(dir, "crs.wafrs")
	if _, _, err := runWafCommand(t, "compile", "--crs", "--paranoia-level", "2", "-f", extra, "-o", out); err != nil {
		t.Fatal(err)
	}
	e := loadWafArtifact(t, out)
	h := [][2]string{{"Host", "example.com"}, {"User-Agent", "Mozilla/5.0"}, {"Accept", "*/*"}}
	if !wafBlocks(e, "/?id=1%27%20UNION%20SELECT%20password%20FROM%20users--", h) {
		t.Error("CRS must block SQL injection")
	}
	if wafBlocks(e, "/products?id=42&sort=price", h) {
		t.Error("CRS must pass a benign request")
	}
	for _, r := range e.Ruleset().Rules {
		if r.ID == 942100 {
			t.Fatal("SecRuleRemoveById 942100 from the extra file was not applied")
		}
	}
}

// At paranoia level 1 the upper levels' rules are left out unless asked for; a level 2 rule
// (942200) is in the artifact only with --keep-unreachable.
func TestWafCompileLeavesOutUnreachableRules(t *testing.T) {
	dir := t.TempDir()
	hasRule := func(e *engine.Engine, id int32) bool {
		for _, r := range e.Ruleset().Rules {
			if r.ID == id {
				return true
			}
		}
		return false
	}
	pruned, whole := filepath.Join(dir, "pl1.wafrs"), filepath.Join(dir, "pl1-all.wafrs")
	_, summary, err := runWafCommand(t, "compile", "--crs", "-o", pruned)
	if err != nil {
		t.Fatal(err)
	}
	_, summaryAll, err := runWafCommand(t, "compile", "--crs", "--keep-unreachable", "-o", whole)
	if err != nil {
		t.Fatal(err)
	}
	p, w := loadWafArtifact(t, pruned), loadWafArtifact(t, whole)
	left := len(w.Ruleset().Rules) - len(p.Ruleset().Rules)
	if left <= 0 || p.Ruleset().Unreachable != left || !strings.Contains(summary, fmt.Sprintf("%d unreachable left out", left)) {
		t.Errorf("%d rules left out, artifact says %d; summary %q", left, p.Ruleset().Unreachable, summary)
	}
	if !strings.Contains(summaryAll, " 0 unreachable left out") {
		t.Errorf("--keep-unreachable summary: %q", summaryAll)
	}
	if hasRule(p, 942200) || !hasRule(w, 942200) {
		t.Errorf("paranoia level 2 rule 942200: in the pruned artifact %v, in the whole %v", hasRule(p, 942200), hasRule(w, 942200))
	}
	h := [][2]string{{"Host", "example.com"}, {"User-Agent", "Mozilla/5.0"}, {"Accept", "*/*"}}
	for _, uri := range []string{"/?id=1%27%20UNION%20SELECT%20password%20FROM%20users--", "/products?id=42&sort=price"} {
		if a, b := wafBlocks(p, uri, h), wafBlocks(w, uri, h); a != b {
			t.Errorf("%s: blocked %v by the pruned artifact, %v by the whole", uri, a, b)
		}
	}
}

func TestWafCompileErrorsNameFileAndLine(t *testing.T) {
	dir := t.TempDir()
	bad := writeWafFile(t, dir, "bad.conf", "SecRuleEngine On\n\nSecRule ARGS \"@rx (\" \"id:1,deny\"\n")
	_, _, err := runWafCommand(t, "compile", "-f", bad, "-o", filepath.Join(dir, "x.wafrs"))
	if err == nil || !strings.Contains(err.Error(), "bad.conf:3: SecRule: operator @rx: invalid regular expression") {
		t.Fatalf("error %v must name bad.conf:3 and the directive", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "x.wafrs")); !os.IsNotExist(err) {
		t.Error("no artifact may be written when compilation fails")
	}
	if _, _, err := runWafCommand(t, "compile", "-o", "x"); err == nil {
		t.Error("compile without rules must fail")
	}
	if _, _, err := runWafCommand(t, "compile", "--crs", "--paranoia-level", "7", "-o", filepath.Join(dir, "y")); err == nil ||
		!strings.Contains(err.Error(), "paranoia-level 7") {
		t.Errorf("bad paranoia level: %v", err)
	}
}
