package ruleset

import "errors"

// Ruleset is a compiled ruleset, ready for the engine.
type Ruleset struct {
	// Engine is SecRuleEngine.
	Engine EngineMode
	// RequestBodyAccess is SecRequestBodyAccess.
	RequestBodyAccess bool
	// RequestBodyLimit is SecRequestBodyLimit in bytes.
	RequestBodyLimit int
	// RequestBodyLimitReject is SecRequestBodyLimitAction Reject (else ProcessPartial).
	RequestBodyLimitReject bool
}

var errNotImplemented = errors.New("ruleset: not implemented yet")

func compileFiles(Options, []string) (*Ruleset, error)        { return nil, errNotImplemented }
func compileString(Options, string, string) (*Ruleset, error) { return nil, errNotImplemented }

// MarshalBinary encodes the ruleset as a versioned artifact.
func (rs *Ruleset) MarshalBinary() ([]byte, error) { return nil, errNotImplemented }

// Load decodes an artifact written by MarshalBinary.
func Load(data []byte) (*Ruleset, error) { return nil, errNotImplemented }
