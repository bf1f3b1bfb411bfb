package main

import (
	"errors"
	"strings"
	"testing"
)

func TestParseConfigDefaults(t *testing.T) {
	for _, input := range []string{"", "  \n", "{}"} {
		cfg, err := ParseConfig([]byte(input))
		if err != nil {
			t.Fatalf("ParseConfig(%q): %v", input, err)
		}
		if cfg.Mode != ModeBlock || cfg.BlockStatus != 403 || cfg.FailurePolicy != FailOpen || cfg.bodyLimit() != defaultMaxBodyBytes {
			t.Errorf("ParseConfig(%q) defaults = %+v", input, cfg)
		}
		if len(cfg.Ruleset) != 0 || cfg.Rules != "" {
			t.Errorf("ParseConfig(%q) chose a ruleset: %+v", input, cfg)
		}
	}
}

func TestParseConfigFields(t *testing.T) {
	cfg, err := ParseConfig([]byte(`{"ruleset":"AQID","mode":"detect","blockStatus":429,"failurePolicy":"closed","maxBodyBytes":0}`))
	if err != nil {
		t.Fatal(err)
	}
	if string(cfg.Ruleset) != "\x01\x02\x03" {
		t.Errorf("ruleset = %q, want the base64-decoded bytes", cfg.Ruleset)
	}
	if cfg.Mode != ModeDetect || cfg.BlockStatus != 429 || cfg.FailurePolicy != FailClosed || cfg.bodyLimit() != 0 {
		t.Errorf("fields = %+v", cfg)
	}
}

func TestParseConfigErrorsNameFieldAndValue(t *testing.T) {
	for _, tc := range []struct {
		input      string
		field      string
		wantInText string
	}{
		{`{"mode":"Block"}`, "mode", `"Block"`},
		{`{"blockStatus":302}`, "blockStatus", "302"},
		{`{"blockStatus":"403"}`, "blockStatus", "wrong type"},
		{`{"failurePolicy":"fail-open"}`, "failurePolicy", `"fail-open"`},
		{`{"maxBodyBytes":-1}`, "maxBodyBytes", "-1"},
		{`{"maxBodyBytes":100000000}`, "maxBodyBytes", "100000000"},
		{`{"ruleset":"not base64!"}`, "ruleset", "base64"},
		{`{"ruleset":"AQID","rules":"SecRuleEngine On"}`, "rules", `"ruleset"`},
		{`{"failure_policy":"open"}`, "failure_policy", "not a known field"},
		{`{"mode":"block"} {"mode":"detect"}`, "", "after the JSON object"},
		{`{"mode":`, "", "not valid JSON"},
		{`[]`, "", "wrong type"},
	} {
		_, err := ParseConfig([]byte(tc.input))
		var cerr *ConfigError
		if !errors.As(err, &cerr) {
			t.Errorf("ParseConfig(%s) = %v, want a *ConfigError", tc.input, err)
			continue
		}
		if cerr.Field != tc.field {
			t.Errorf("ParseConfig(%s): field %q, want %q (%v)", tc.input, cerr.Field, tc.field, err)
		}
		if !strings.Contains(err.Error(), tc.wantInText) {
			t.Errorf("ParseConfig(%s) = %q, want it to mention %s", tc.input, err, tc.wantInText)
		}
	}
}

// FuzzParseConfig: any input gives a valid configuration or a ConfigError,
// never a panic, and accepted configurations are within bounds.
func FuzzParseConfig(f *testing.F) {
	for _, seed := range []string{
		``, `{}`, `{"mode":"detect"}`, `{"blockStatus":451,"failurePolicy":"closed"}`,
		`{"ruleset":"AQID"}`, `{"rules":"SecRuleEngine On"}`, `{"maxBodyBytes":0}`,
		`{"maxBodyBytes":4194304}`, `{"mode":1}`, `{"ruleset":"!"}`, `null`, `{"a":`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := ParseConfig(data)
		if err != nil {
			var cerr *ConfigError
			if !errors.As(err, &cerr) {
				t.Fatalf("error %v is not a *ConfigError", err)
			}
			return
		}
		if cfg.Mode != ModeBlock && cfg.Mode != ModeDetect {
			t.Fatalf("mode %q accepted", cfg.Mode)
		}
		if cfg.BlockStatus < 400 || cfg.BlockStatus > 599 {
			t.Fatalf("blockStatus %d accepted", cfg.BlockStatus)
		}
		if cfg.FailurePolicy != FailOpen && cfg.FailurePolicy != FailClosed {
			t.Fatalf("failurePolicy %q accepted", cfg.FailurePolicy)
		}
		if n := cfg.bodyLimit(); n < 0 || n > maxMaxBodyBytes {
			t.Fatalf("maxBodyBytes %d accepted", n)
		}
		if len(cfg.Ruleset) > 0 && strings.TrimSpace(cfg.Rules) != "" {
			t.Fatal("ruleset and rules both accepted")
		}
	})
}
