//go:build !coraza

package main

import (
	"errors"
	"fmt"
	"runtime/debug"
	"strings"
	"unsafe"

	"github.com/meshaccel/meshaccel/wasm-waf/engine"
	"github.com/meshaccel/meshaccel/wasm-waf/ruleset"
)

// engineName names the linked engine in logs.
const engineName = "meshaccel"

// The default ruleset is OWASP CRS v4 at paranoia level 1, compiled on the host into the ruleset
// artifact so that the VM only decodes it. go generate writes it, and default_ruleset_embed.go
// that embeds it into embeddedRuleset; neither is committed (see defaultruleset/README.md). A
// string, not an embed.FS: reading a file from one copies it, and the copy (4 MiB for the CRS)
// grows linear memory step by step during configure, each step a copy of all of it in some
// runtimes. The ruleset reads the embedded bytes in place.
//
//go:generate go run gen_default_ruleset.go -o defaultruleset/crs.ruleset -embed default_ruleset_embed.go
var embeddedRuleset string

func defaultRuleset() ([]byte, error) {
	if embeddedRuleset == "" {
		return nil, errors.New("this plugin.wasm was built without the default ruleset (run go generate in wasm-waf/plugin); configure \"ruleset\" or \"rules\"")
	}
	// Read only, as LoadOptions.InPlace requires: natively the string is in read-only memory.
	return unsafe.Slice(unsafe.StringData(embeddedRuleset), len(embeddedRuleset)), nil
}

func loadEngine(cfg *Config) (ruleEngine, error) {
	// Loading allocates almost only what stays live (the ruleset's views into one copy of the
	// artifact, the engine's tables): collecting during it would scan a growing heap for
	// nothing, which costs an interpreter more than the load itself.
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	var (
		rs  *ruleset.Ruleset
		err error
	)
	switch {
	case len(cfg.Ruleset) > 0:
		// The configuration was decoded into a buffer of its own: use it in place.
		if rs, err = ruleset.LoadWith(cfg.Ruleset, ruleset.LoadOptions{InPlace: true}); err != nil {
			return nil, fmt.Errorf(`field "ruleset": %w`, err)
		}
	case strings.TrimSpace(cfg.Rules) != "":
		// Compiling SecLang in the VM would cost an interpreter seconds and
		// link file-system code whose WASI imports older Envoys lack.
		return nil, errors.New(`field "rules": this build takes compiled rulesets only; compile the SecLang with ` +
			"`meshaccel waf compile` and pass the artifact (base64) as \"ruleset\"")
	default:
		data, err := defaultRuleset()
		if err != nil {
			return nil, err
		}
		// TestEmbeddedDefaultRuleset loads the same bytes with every check, and the image digest
		// covers them.
		if rs, err = ruleset.LoadWith(data, ruleset.LoadOptions{InPlace: true, Trusted: true}); err != nil {
			return nil, fmt.Errorf("embedded default ruleset: %w", err)
		}
	}
	return &meshaccelEngine{e: engine.New(rs)}, nil
}

type meshaccelEngine struct{ e *engine.Engine }

func (m *meshaccelEngine) newTransaction() transaction {
	return meshaccelTransaction{tx: m.e.NewTransaction()}
}

// meshaccelTransaction is a value of one pointer: an interface holds it without an allocation.
type meshaccelTransaction struct{ tx *engine.Transaction }

func (t meshaccelTransaction) requestBodyLimit() int {
	if !t.tx.RequestBodyAccess() {
		return 0
	}
	return t.tx.RequestBodyLimit()
}

func (t meshaccelTransaction) requestHeaders(req *request) (verdict, error) {
	return meshaccelVerdict(t.tx.ProcessRequestHeaders(req.method, req.uri, req.protocol, req.headers)), nil
}

func (t meshaccelTransaction) requestBody(body []byte, truncated bool) (verdict, error) {
	if truncated {
		t.tx.SetRequestBodyTruncated()
	}
	return meshaccelVerdict(t.tx.ProcessRequestBody(body, "")), nil
}

func (t meshaccelTransaction) matchedRuleIDs() []int {
	return t.tx.MatchedRules() // valid until close

}

func (t meshaccelTransaction) close() { t.tx.Close() }

func meshaccelVerdict(it *engine.Interruption) verdict {
	if it == nil {
		return verdict{}
	}
	return verdict{interrupt: true, ruleID: it.RuleID}
}
