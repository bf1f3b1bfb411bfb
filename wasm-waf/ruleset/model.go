package ruleset

import (
	"github.com/meshaccel/meshaccel/wasm-waf/regexprog"
	"github.com/meshaccel/meshaccel/wasm-waf/transform"
)

// Var identifies a SecLang variable or collection.
type Var uint8

const (
	VarNone Var = iota
	VarArgs
	VarArgsNames
	VarArgsGet
	VarArgsGetNames
	VarArgsPost
	VarArgsPostNames
	VarArgsCombinedSize
	VarRequestHeaders
	VarRequestHeadersNames
	VarRequestCookies
	VarRequestCookiesNames
	VarRequestURI
	VarRequestURIRaw
	VarRequestFilename
	VarRequestBasename
	VarRequestLine
	VarRequestMethod
	VarRequestProtocol
	VarQueryString
	VarRequestBody
	VarRequestBodyLength
	VarFiles
	VarFilesNames
	VarFilesSizes
	VarFilesCombinedSize
	VarMultipartPartHeaders
	VarMultipartName
	VarMultipartFilename
	VarMultipartStrictError
	VarMultipartUnmatchedBoundary
	VarReqbodyError
	VarReqbodyErrorMsg
	VarReqbodyProcessor
	VarReqbodyProcessorError
	VarInboundDataError
	VarURLEncodedError
	VarTX
	VarMatchedVar
	VarMatchedVarName
	VarMatchedVars
	VarMatchedVarsNames
	VarRemoteAddr
	VarRemotePort
	VarServerName
	VarServerAddr
	VarServerPort
	VarUniqueID
	VarXML
	VarEnv
	VarRule
	VarDuration
	VarHighestSeverity
	VarFullRequest
	VarFullRequestLength
	VarAuthType
	VarArgsLimitReached
	VarResponse // any RESPONSE_* variable: always empty in request phases
	numVars
)

type varInfo struct {
	name  string
	keyed bool // a collection that takes :key selectors
}

var varInfos = [numVars]varInfo{
	VarArgs: {"ARGS", true}, VarArgsNames: {"ARGS_NAMES", true}, VarArgsGet: {"ARGS_GET", true},
	VarArgsGetNames: {"ARGS_GET_NAMES", true}, VarArgsPost: {"ARGS_POST", true},
	VarArgsPostNames: {"ARGS_POST_NAMES", true}, VarArgsCombinedSize: {"ARGS_COMBINED_SIZE", false},
	VarRequestHeaders: {"REQUEST_HEADERS", true}, VarRequestHeadersNames: {"REQUEST_HEADERS_NAMES", true},
	VarRequestCookies: {"REQUEST_COOKIES", true}, VarRequestCookiesNames: {"REQUEST_COOKIES_NAMES", true},
	VarRequestURI: {"REQUEST_URI", false}, VarRequestURIRaw: {"REQUEST_URI_RAW", false},
	VarRequestFilename: {"REQUEST_FILENAME", false}, VarRequestBasename: {"REQUEST_BASENAME", false},
	VarRequestLine: {"REQUEST_LINE", false}, VarRequestMethod: {"REQUEST_METHOD", false},
	VarRequestProtocol: {"REQUEST_PROTOCOL", false}, VarQueryString: {"QUERY_STRING", false},
	VarRequestBody: {"REQUEST_BODY", false}, VarRequestBodyLength: {"REQUEST_BODY_LENGTH", false},
	VarFiles: {"FILES", true}, VarFilesNames: {"FILES_NAMES", true}, VarFilesSizes: {"FILES_SIZES", true},
	VarFilesCombinedSize: {"FILES_COMBINED_SIZE", false}, VarMultipartPartHeaders: {"MULTIPART_PART_HEADERS", true},
	VarMultipartName: {"MULTIPART_NAME", true}, VarMultipartFilename: {"MULTIPART_FILENAME", true},
	VarMultipartStrictError:       {"MULTIPART_STRICT_ERROR", false},
	VarMultipartUnmatchedBoundary: {"MULTIPART_UNMATCHED_BOUNDARY", false},
	VarReqbodyError:               {"REQBODY_ERROR", false}, VarReqbodyErrorMsg: {"REQBODY_ERROR_MSG", false},
	VarReqbodyProcessor: {"REQBODY_PROCESSOR", false}, VarReqbodyProcessorError: {"REQBODY_PROCESSOR_ERROR", false},
	VarInboundDataError: {"INBOUND_DATA_ERROR", false}, VarURLEncodedError: {"URLENCODED_ERROR", false},
	VarTX: {"TX", true}, VarMatchedVar: {"MATCHED_VAR", false}, VarMatchedVarName: {"MATCHED_VAR_NAME", false},
	VarMatchedVars: {"MATCHED_VARS", true}, VarMatchedVarsNames: {"MATCHED_VARS_NAMES", true},
	VarRemoteAddr: {"REMOTE_ADDR", false}, VarRemotePort: {"REMOTE_PORT", false},
	VarServerName: {"SERVER_NAME", false}, VarServerAddr: {"SERVER_ADDR", false}, VarServerPort: {"SERVER_PORT", false},
	VarUniqueID: {"UNIQUE_ID", false}, VarXML: {"XML", true}, VarEnv: {"ENV", true}, VarRule: {"RULE", true},
	VarDuration: {"DURATION", false}, VarHighestSeverity: {"HIGHEST_SEVERITY", false},
	VarFullRequest: {"FULL_REQUEST", false}, VarFullRequestLength: {"FULL_REQUEST_LENGTH", false},
	VarAuthType: {"AUTH_TYPE", false}, VarArgsLimitReached: {"ARGS_LIMIT_REACHED", false},
	VarResponse: {"RESPONSE", true},
}

var varAliases = map[string]Var{
	"REQBODY_PROCESSOR_ERROR_MSG": VarReqbodyErrorMsg,
	"MULTIPART_FILENAME":          VarMultipartFilename,
	"FILES_TMPNAMES":              VarFiles,
	"REQUEST_XML":                 VarXML,
}

func (v Var) String() string {
	if v < numVars && varInfos[v].name != "" {
		return varInfos[v].name
	}
	return "UNKNOWN"
}

// Keyed reports whether the variable is a collection that takes :key selectors.
func (v Var) Keyed() bool { return v < numVars && varInfos[v].keyed }

// LookupVar resolves an upper-case variable name.
func LookupVar(name string) (Var, bool) {
	for i := range varInfos {
		if varInfos[i].name == name && name != "" {
			return Var(i), true
		}
	}
	if v, ok := varAliases[name]; ok {
		return v, true
	}
	if len(name) > 9 && name[:9] == "RESPONSE_" || name == "STATUS_LINE" || name == "RES_BODY_ERROR" ||
		name == "RESPONSE_BODY" || name == "OUTBOUND_DATA_ERROR" {
		return VarResponse, true
	}
	return VarNone, false
}

// Target is one variable a rule inspects.
type Target struct {
	Var Var
	// Key selects one member, lower-cased (collections are case-insensitive). Empty: all members.
	Key string
	// KeyRegex is the index in Ruleset.Regexes of a /regex/ selector, or -1.
	KeyRegex int32
	// Count is the & form: the number of selected members.
	Count bool
	// TXSlot is the interned slot of a constant TX key, or -1.
	TXSlot int32
}

// Exclusion removes members from every target of the same variable (!ARGS:foo).
type Exclusion struct {
	Var      Var
	Key      string // lower case; empty with KeyRegex -1 excludes the whole variable
	KeyRegex int32
}

// OpKind is an operator.
type OpKind uint8

const (
	OpRx OpKind = iota
	OpPm
	OpStrEq
	OpStrMatch
	OpContains
	OpContainsWord
	OpBeginsWith
	OpEndsWith
	OpWithin
	OpEq
	OpGe
	OpGt
	OpLe
	OpLt
	OpDetectSQLi
	OpDetectXSS
	OpValidateByteRange
	OpValidateURLEncoding
	OpValidateUTF8Encoding
	OpIPMatch
	OpUnconditional
	OpNoMatch
)

// Operator is a compiled operator.
type Operator struct {
	Kind   OpKind
	Negate bool
	// Arg is the argument; for operators that expand macros it may contain %{...} parts.
	Arg Macro
	// Regex is the Regexes index for @rx.
	Regex int32
	// Matcher is the Matchers index for @pm and @pmFromFile.
	Matcher int32
	// Bytes is the allowed byte set of @validateByteRange.
	Bytes [4]uint64
	// Prefixes are the networks of @ipMatch, as text ("10.0.0.0/8").
	Prefixes []string
}

// Disruptive is the disruptive action of a rule after SecDefaultAction is applied.
type Disruptive uint8

const (
	DisruptNone Disruptive = iota
	DisruptPass
	DisruptDeny
	DisruptDrop
	DisruptRedirect
	DisruptAllow        // allow: the rest of the transaction
	DisruptAllowPhase   // allow:phase
	DisruptAllowRequest // allow:request
)

// SetVarOp is the operation of setvar.
type SetVarOp uint8

const (
	SetVarAssign SetVarOp = iota
	SetVarAdd
	SetVarSub
	SetVarDelete
)

// SetVar is one setvar action on TX.
type SetVar struct {
	Key   Macro // lower case TX key
	Slot  int32 // interned slot when Key is constant, else -1
	Op    SetVarOp
	Value Macro
}

// CtlKind is a ctl action.
type CtlKind uint8

const (
	CtlRuleEngine CtlKind = iota
	CtlRuleRemoveByID
	CtlRuleRemoveByTag
	CtlRuleRemoveTargetByID
	CtlRuleRemoveTargetByTag
	CtlRequestBodyProcessor
	CtlRequestBodyAccess
	CtlForceRequestBodyVariable
	CtlRequestBodyLimit
)

// Ctl is one ctl action.
type Ctl struct {
	Kind CtlKind
	// IDRanges for rule id based ctls: pairs of inclusive bounds.
	IDRanges []int32
	// Str is the tag, the body processor (upper case) or the engine mode.
	Str string
	// Target is the target removed by ruleRemoveTarget*.
	Target Exclusion
	Num    int64
}

// Macro is text with %{VAR.key} references expanded at run time.
type Macro struct {
	Parts []MacroPart
}

// MacroPart is literal text (Var == VarNone) or a variable reference.
type MacroPart struct {
	Lit    string
	Var    Var
	Key    string // lower case
	TXSlot int32
}

// Const returns the text of a macro without references.
func (m Macro) Const() (string, bool) {
	switch {
	case len(m.Parts) == 0:
		return "", true
	case len(m.Parts) == 1 && m.Parts[0].Var == VarNone:
		return m.Parts[0].Lit, true
	}
	return "", false
}

// Rule is one compiled SecRule or SecAction (a chain is a list of rules linked by ChainNext).
type Rule struct {
	ID    int32
	Phase uint8
	// ChainNext is the Rules index of the next rule in the chain, or -1.
	ChainNext int32
	// Unconditional rules (SecAction) have no targets and always match.
	Targets    []Target
	Exclusions []Exclusion
	Op         Operator
	// Transform is the TransformNodes index of this rule's transformation pipeline (0: none).
	Transform int32

	Disruptive Disruptive
	Status     int32
	RedirectTo string
	Log        bool
	Capture    bool
	MultiMatch bool
	SetVars    []SetVar
	Ctls       []Ctl
	// SkipAfter is the Markers index to skip to, or -1; Skip counts rules to skip.
	SkipAfter int32
	Skip      int32

	Msg      Macro
	LogData  Macro
	Severity int8 // -1: unset
	Tags     []string

	File string
	Line int32
}

// TransformNode is one step of a transformation pipeline; pipelines share prefixes.
type TransformNode struct {
	Parent int32
	T      transform.ID
}

// Regex is a regular expression used by @rx or a /selector/.
type Regex struct {
	// Pattern is the Go regexp source including the (?sm) flags the engine applies.
	Pattern string
	// Binary patterns match bytes, not UTF-8 (they contain \xHH escapes above 0x7f).
	Binary bool
	// Prog is the pattern compiled on the host: the engine never parses or compiles a regex.
	Prog *regexprog.Prog
	// Prefilter is a set of lower-cased literals; every match contains at least one of them. Empty
	// means no prefilter.
	Prefilter []string
	// PrefilterMatcher is the Matchers index of an automaton over Prefilter when the set is large,
	// or -1.
	PrefilterMatcher int32
	// Bytes are byte sets: every match contains a byte of each set (raw input).
	Bytes []ByteSet
	// Classes are the lazy DFA's ASCII byte classes for the pattern (empty for binary patterns).
	Classes []byte
	// MinLen is the length in bytes of the shortest possible match.
	MinLen int32
}

// Marker is a SecMarker with its position in each request phase's rule list.
type Marker struct {
	Name string
	Pos  [3]int32 // index into Phases[1], Phases[2] (Pos[0] unused)
}

// Ruleset is a compiled ruleset, ready for the engine.
type Ruleset struct {
	// Engine is SecRuleEngine.
	Engine EngineMode
	// RequestBodyAccess is SecRequestBodyAccess.
	RequestBodyAccess bool
	// RequestBodyLimit is SecRequestBodyLimit in bytes.
	RequestBodyLimit int
	// RequestBodyNoFilesLimit is SecRequestBodyNoFilesLimit in bytes.
	RequestBodyNoFilesLimit int
	// RequestBodyLimitReject is SecRequestBodyLimitAction Reject (else ProcessPartial).
	RequestBodyLimitReject bool
	// ArgumentsLimit is SecArgumentsLimit.
	ArgumentsLimit int
	// JSONDepthLimit is SecRequestBodyJsonDepthLimit.
	JSONDepthLimit int

	Rules []Rule
	// Phases[1] and Phases[2] list the chain-head rules of the request phases in order.
	Phases         [3][]int32
	Markers        []Marker
	TransformNodes []TransformNode
	Regexes        []Regex
	Matchers       []*Matcher
	// TXKeys are the interned constant TX keys (lower case); their index is the slot.
	TXKeys []string
	// Skipped lists rules that were dropped at compile time, with the reason (response phases).
	Skipped int
	// Unreachable counts the rules left out because no request can reach them in this
	// configuration (a paranoia level's gate always skips them; see engine.Prune).
	Unreachable int
}
