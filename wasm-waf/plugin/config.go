package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Mode says what the plugin does when the rules decide to interrupt a request.
type Mode string

const (
	// ModeBlock answers the request locally with Config.BlockStatus.
	ModeBlock Mode = "block"
	// ModeDetect only logs and counts what would have been blocked.
	ModeDetect Mode = "detect"
)

// FailurePolicy says what happens to a request when the plugin itself fails
// (a panic, an engine error): the request is let through or refused.
type FailurePolicy string

const (
	FailOpen   FailurePolicy = "open"
	FailClosed FailurePolicy = "closed"
)

const (
	defaultBlockStatus  = 403
	defaultMaxBodyBytes = 128 << 10
	// maxMaxBodyBytes bounds the body copied into linear memory, which never
	// shrinks: a few concurrent requests at this size stay well inside 64 MiB.
	maxMaxBodyBytes = 4 << 20
	// failClosedStatus answers requests refused because the plugin failed: the
	// rules did not judge them, so they are not reported as blocked.
	failClosedStatus = 503
)

// Config is the plugin configuration (Envoy's plugin configuration, Istio's
// WasmPlugin pluginConfig), JSON encoded. Every field is optional.
type Config struct {
	// Ruleset is a compiled ruleset artifact (base64 in JSON).
	Ruleset []byte `json:"ruleset,omitempty"`
	// Rules is SecLang text compiled when the plugin starts. Only the
	// Coraza comparison build compiles in the VM; the meshaccel build takes
	// Ruleset artifacts compiled on the host.
	Rules string `json:"rules,omitempty"`
	// Mode is "block" (default) or "detect".
	Mode Mode `json:"mode,omitempty"`
	// BlockStatus is the HTTP status of blocked requests (default 403).
	BlockStatus int `json:"blockStatus,omitempty"`
	// FailurePolicy is "open" (default) or "closed".
	FailurePolicy FailurePolicy `json:"failurePolicy,omitempty"`
	// MaxBodyBytes is how much of a request body is inspected (default
	// 131072); 0 inspects headers only. Longer bodies are inspected up to
	// this size and then let through to the rules' verdict.
	MaxBodyBytes *int `json:"maxBodyBytes,omitempty"`
}

// ConfigError names the configuration field and value that were rejected.
type ConfigError struct {
	Field  string
	Value  string
	Reason string
}

func (e *ConfigError) Error() string {
	if e.Field == "" {
		return "waf plugin configuration: " + e.Reason
	}
	return fmt.Sprintf("waf plugin configuration: field %q: value %s: %s", e.Field, e.Value, e.Reason)
}

// ParseConfig decodes and validates the plugin configuration and fills in
// the defaults. An empty configuration selects the embedded default ruleset.
func ParseConfig(data []byte) (Config, error) {
	var cfg Config
	if len(bytes.TrimSpace(data)) > 0 {
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&cfg); err != nil {
			return Config{}, decodeError(err)
		}
		if _, err := dec.Token(); !errors.Is(err, io.EOF) {
			return Config{}, &ConfigError{Reason: "unexpected data after the JSON object"}
		}
	}
	if len(cfg.Ruleset) > 0 && strings.TrimSpace(cfg.Rules) != "" {
		return Config{}, &ConfigError{Field: "rules", Value: "(SecLang text)", Reason: `cannot be combined with "ruleset"; give one of them`}
	}
	switch cfg.Mode {
	case "":
		cfg.Mode = ModeBlock
	case ModeBlock, ModeDetect:
	default:
		return Config{}, &ConfigError{Field: "mode", Value: quote(string(cfg.Mode)), Reason: `must be "block" or "detect"`}
	}
	switch {
	case cfg.BlockStatus == 0:
		cfg.BlockStatus = defaultBlockStatus
	case cfg.BlockStatus < 400 || cfg.BlockStatus > 599:
		return Config{}, &ConfigError{Field: "blockStatus", Value: fmt.Sprint(cfg.BlockStatus), Reason: "must be an HTTP error status between 400 and 599"}
	}
	switch cfg.FailurePolicy {
	case "":
		cfg.FailurePolicy = FailOpen
	case FailOpen, FailClosed:
	default:
		return Config{}, &ConfigError{Field: "failurePolicy", Value: quote(string(cfg.FailurePolicy)), Reason: `must be "open" or "closed"`}
	}
	if cfg.MaxBodyBytes == nil {
		n := defaultMaxBodyBytes
		cfg.MaxBodyBytes = &n
	} else if n := *cfg.MaxBodyBytes; n < 0 || n > maxMaxBodyBytes {
		return Config{}, &ConfigError{Field: "maxBodyBytes", Value: fmt.Sprint(n), Reason: fmt.Sprintf("must be between 0 and %d", maxMaxBodyBytes)}
	}
	return cfg, nil
}

// bodyLimit is the number of request body bytes to inspect.
func (c *Config) bodyLimit() int {
	if c.MaxBodyBytes == nil {
		return defaultMaxBodyBytes
	}
	return *c.MaxBodyBytes
}

func decodeError(err error) error {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		return &ConfigError{Field: typeErr.Field, Value: "of JSON type " + typeErr.Value, Reason: "has the wrong type, want " + jsonKind(typeErr.Type.Kind().String())}
	}
	var b64Err base64.CorruptInputError
	if errors.As(err, &b64Err) {
		return &ConfigError{Field: "ruleset", Value: "(artifact)", Reason: "is not valid base64: " + b64Err.Error()}
	}
	if msg, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return &ConfigError{Field: strings.Trim(msg, `"`), Value: "(any)", Reason: "is not a known field; known fields are ruleset, rules, mode, blockStatus, failurePolicy, maxBodyBytes"}
	}
	return &ConfigError{Reason: "not valid JSON: " + err.Error()}
}

func jsonKind(goKind string) string {
	switch goKind {
	case "int", "int64":
		return "number"
	case "slice":
		return "base64 string"
	default:
		return "string"
	}
}

func quote(s string) string {
	const max = 64
	if len(s) > max {
		s = s[:max] + "..."
	}
	return fmt.Sprintf("%q", s)
}
