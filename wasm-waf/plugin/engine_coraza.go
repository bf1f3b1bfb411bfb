//go:build coraza

package main

import (
	"errors"
	"fmt"
	"strings"

	coreruleset "github.com/corazawaf/coraza-coreruleset/v4"
	"github.com/corazawaf/coraza/v3"
	"github.com/corazawaf/coraza/v3/types"
)

// Coraza v3 behind the plugin's engine surface: the reference engine for the
// side-by-side Wasm measurements, with OWASP CRS v4 as its default ruleset.

// corazaDefaultDirectives loads OWASP CRS v4 with blocking on; the plugin's
// mode decides whether an interruption blocks.
const corazaDefaultDirectives = `
Include @coraza.conf-recommended
Include @crs-setup.conf.example
Include @owasp_crs/*.conf
SecRuleEngine On
`

// engineName names the linked engine in logs.
const engineName = "coraza"

func loadEngine(cfg *Config) (ruleEngine, error) {
	if len(cfg.Ruleset) > 0 {
		return nil, errors.New(`field "ruleset": compiled artifacts need the meshaccel engine; this build runs Coraza, give "rules" (SecLang) instead`)
	}
	directives := corazaDefaultDirectives
	if strings.TrimSpace(cfg.Rules) != "" {
		directives = cfg.Rules
	}
	waf, err := coraza.NewWAF(coraza.NewWAFConfig().WithRootFS(coreruleset.FS).WithDirectives(directives))
	if err != nil {
		return nil, fmt.Errorf("compiling rules with Coraza: %w", err)
	}
	return &corazaEngine{waf: waf}, nil
}

type corazaEngine struct{ waf coraza.WAF }

func (e *corazaEngine) newTransaction() transaction {
	return &corazaTransaction{tx: e.waf.NewTransaction()}
}

type corazaTransaction struct{ tx types.Transaction }

func (t *corazaTransaction) requestBodyLimit() int {
	if !t.tx.IsRequestBodyAccessible() {
		return 0
	}
	return maxMaxBodyBytes // SecRequestBodyLimit applies inside Coraza
}

func (t *corazaTransaction) requestHeaders(req *request) (verdict, error) {
	t.tx.ProcessURI(req.uri, req.method, req.protocol)
	for _, kv := range req.headers {
		t.tx.AddRequestHeader(kv[0], kv[1])
		if kv[0] == "host" {
			t.tx.SetServerName(kv[1])
		}
	}
	return corazaVerdict(t.tx.ProcessRequestHeaders()), nil
}

func (t *corazaTransaction) requestBody(body []byte, _ bool) (verdict, error) {
	if len(body) > 0 && t.tx.IsRequestBodyAccessible() {
		it, _, err := t.tx.WriteRequestBody(body)
		if err != nil {
			return verdict{}, fmt.Errorf("coraza request body: %w", err)
		}
		if it != nil {
			return corazaVerdict(it), nil
		}
	}
	it, err := t.tx.ProcessRequestBody()
	if err != nil {
		return verdict{}, fmt.Errorf("coraza request body: %w", err)
	}
	return corazaVerdict(it), nil
}

func (t *corazaTransaction) matchedRuleIDs() []int {
	var ids []int
	for _, mr := range t.tx.MatchedRules() {
		if l, ok := mr.(interface{ Log() bool }); ok && !l.Log() {
			continue
		}
		ids = append(ids, mr.Rule().ID())
	}
	return ids
}

func (t *corazaTransaction) close() {
	t.tx.ProcessLogging()
	_ = t.tx.Close()
}

func corazaVerdict(it *types.Interruption) verdict {
	if it == nil {
		return verdict{}
	}
	return verdict{interrupt: true, ruleID: it.RuleID}
}
