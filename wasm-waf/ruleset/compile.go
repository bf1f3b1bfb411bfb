package ruleset

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/meshaccel/meshaccel/wasm-waf/lazydfa"
	"github.com/meshaccel/meshaccel/wasm-waf/regexprog"
	"github.com/meshaccel/meshaccel/wasm-waf/seclang"
	"github.com/meshaccel/meshaccel/wasm-waf/transform"
)

const maxIncludeDepth = 16

// largePrefilter is the literal count above which a prefilter runs as an Aho-Corasick automaton
// instead of one substring search per literal.
const largePrefilter = 6

type pendingSkip struct {
	rule int
	name string
	d    seclang.Directive
}

type compiler struct {
	opts Options
	rs   *Ruleset

	defaults    [6][]seclang.Action
	defaultsSet [6]bool

	// chainTail is the Rules index of the last rule of an open chain, or -1.
	chainTail int
	chainHead int
	removed   []bool
	// markerAt is, per marker, the number of rules defined before it.
	markerAt    []int
	markerIndex map[string]int32
	skips       []pendingSkip
	txSlots     map[string]int32
	regexIndex  map[string]int32
	nodeIndex   map[[2]int32]int32
	matchers    map[string]int32
	depth       int
}

func newCompiler(opts Options) *compiler {
	c := &compiler{
		opts: opts,
		rs: &Ruleset{
			Engine:                  EngineOn,
			RequestBodyLimit:        13107200,
			RequestBodyNoFilesLimit: 131072,
			RequestBodyLimitReject:  true,
			ArgumentsLimit:          1000,
			JSONDepthLimit:          1024,
			TransformNodes:          []TransformNode{{Parent: -1, T: transform.None}},
		},
		chainTail:   -1,
		chainHead:   -1,
		markerIndex: map[string]int32{},
		txSlots:     map[string]int32{},
		regexIndex:  map[string]int32{},
		nodeIndex:   map[[2]int32]int32{},
		matchers:    map[string]int32{},
	}
	// TX.0-TX.9 hold captures; interning them first keeps their slots fixed.
	for i := 0; i < 10; i++ {
		c.txSlot(strconv.Itoa(i))
	}
	return c
}

func compileFiles(opts Options, paths []string) (*Ruleset, error) {
	c := newCompiler(opts)
	for _, p := range paths {
		if err := c.includeFile(p, ""); err != nil {
			return nil, err
		}
	}
	if opts.Directives != "" {
		if err := c.text("directives", opts.Directives); err != nil {
			return nil, err
		}
	}
	return c.finish()
}

func compileString(opts Options, name, text string) (*Ruleset, error) {
	c := newCompiler(opts)
	if err := c.text(name, text); err != nil {
		return nil, err
	}
	if opts.Directives != "" {
		if err := c.text("directives", opts.Directives); err != nil {
			return nil, err
		}
	}
	return c.finish()
}

func (c *compiler) text(name, text string) error {
	ds, err := seclang.Parse(name, []byte(text))
	if err != nil {
		return err
	}
	for i := range ds {
		if err := c.directive(&ds[i]); err != nil {
			return err
		}
	}
	return nil
}

func (c *compiler) readFile(name, fromFile string) ([]byte, string, error) {
	if c.opts.FS == nil {
		return nil, "", fmt.Errorf("cannot read %q: no file system configured", name)
	}
	candidates := []string{strings.TrimPrefix(name, "/")}
	if fromFile != "" && !strings.HasPrefix(name, "/") {
		candidates = append([]string{path.Join(path.Dir(fromFile), name)}, candidates...)
	}
	var firstErr error
	for _, p := range candidates {
		data, err := fs.ReadFile(c.opts.FS, p)
		if err == nil {
			return data, p, nil
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	return nil, "", firstErr
}

func (c *compiler) includeFile(pattern, fromFile string) error {
	if c.depth >= maxIncludeDepth {
		return fmt.Errorf("include depth exceeds %d at %q", maxIncludeDepth, pattern)
	}
	if c.opts.FS == nil {
		return fmt.Errorf("cannot include %q: no file system configured", pattern)
	}
	var files []string
	if strings.ContainsAny(pattern, "*?[") {
		p := strings.TrimPrefix(pattern, "/")
		if fromFile != "" {
			if rel, _ := fs.Glob(c.opts.FS, path.Join(path.Dir(fromFile), p)); len(rel) > 0 {
				files = rel
			}
		}
		if files == nil {
			m, err := fs.Glob(c.opts.FS, p)
			if err != nil {
				return fmt.Errorf("include %q: %w", pattern, err)
			}
			files = m
		}
		if len(files) == 0 {
			return fmt.Errorf("include %q matches no file", pattern)
		}
		sort.Strings(files)
	} else {
		files = []string{pattern}
	}
	c.depth++
	defer func() { c.depth-- }()
	for _, f := range files {
		data, resolved, err := c.readFile(f, fromFile)
		if err != nil {
			return fmt.Errorf("include %q: %w", f, err)
		}
		ds, err := seclang.Parse(resolved, data)
		if err != nil {
			return err
		}
		for i := range ds {
			if err := c.directive(&ds[i]); err != nil {
				return err
			}
		}
	}
	return nil
}

// ignoredDirectives have no effect on request-phase inspection by this engine.
var ignoredDirectives = map[string]bool{
	"secresponsebodyaccess": true, "secresponsebodymimetype": true, "secresponsebodylimit": true,
	"secresponsebodylimitaction": true, "secdatadir": true, "sectmpdir": true, "secauditengine": true,
	"secauditlog": true, "secauditlog2": true, "secauditlogparts": true, "secauditlogrelevantstatus": true,
	"secauditlogtype": true, "secauditlogformat": true, "secauditlogstoragedir": true, "secauditlogdirmode": true,
	"secauditlogfilemode": true, "secdebuglog": true, "secdebugloglevel": true, "seccomponentsignature": true,
	"secrequestbodyinmemorylimit": true, "secuploaddir": true, "secuploadkeepfiles": true, "secuploadfilemode": true,
	"secuploadfilelimit": true, "sectmpsaveuploadedfiles": true, "seccollectiontimeout": true,
	"secpcrematchlimit": true, "secpcrematchlimitrecursion": true, "secserversignature": true,
	"secstatusengine": true, "secunicodemapfile": true, "secgeolookupdb": true, "sechttpblkey": true,
	"secwebappid": true, "secsensorid": true, "secrxprefilter": true, "seccookieformat": true,
	"secargumentseparator": true, "secresponsebodyjsondepthlimit": true, "secconnengine": true,
	"secignoreruleCompilationerrors": true,
}

func (c *compiler) directive(d *seclang.Directive) error {
	name := strings.ToLower(d.Name)
	if c.chainTail >= 0 && name != "secrule" {
		return d.Errorf("a chained rule must follow rule at %s:%d", c.rs.Rules[c.chainHead].File, c.rs.Rules[c.chainHead].Line)
	}
	switch name {
	case "include":
		if len(d.Args) != 1 {
			return d.Errorf("expects one file pattern")
		}
		if err := c.includeFile(d.Args[0], d.File); err != nil {
			var se *seclang.Error
			if errors.As(err, &se) {
				return err
			}
			return d.Errorf("%v", err)
		}
		return nil
	case "secrule":
		if len(d.Args) < 2 || len(d.Args) > 3 {
			return d.Errorf("expects VARIABLES OPERATOR [ACTIONS], got %d arguments", len(d.Args))
		}
		actions := ""
		if len(d.Args) == 3 {
			actions = d.Args[2]
		}
		return c.rule(d, d.Args[0], d.Args[1], actions, false)
	case "secaction":
		if len(d.Args) != 1 {
			return d.Errorf("expects one action list")
		}
		return c.rule(d, "", "", d.Args[0], true)
	case "secmarker":
		if len(d.Args) != 1 {
			return d.Errorf("expects one marker name")
		}
		if _, dup := c.markerIndex[d.Args[0]]; !dup {
			c.markerIndex[d.Args[0]] = int32(len(c.rs.Markers))
			c.rs.Markers = append(c.rs.Markers, Marker{Name: d.Args[0]})
			c.markerAt = append(c.markerAt, len(c.rs.Rules))
		}
		return nil
	case "secdefaultaction":
		if len(d.Args) != 1 {
			return d.Errorf("expects one action list")
		}
		acts, err := seclang.ParseActions(d.Args[0])
		if err != nil {
			return d.Errorf("%v", err)
		}
		phase := 2
		for _, a := range acts {
			if a.Name == "phase" {
				if phase, err = parsePhase(a.Value); err != nil {
					return d.Errorf("%v", err)
				}
			}
		}
		hasDisruptive := false
		for _, a := range acts {
			switch a.Name {
			case "deny", "drop", "pass", "allow", "redirect", "block":
				hasDisruptive = true
			case "id", "chain", "skipafter", "skip":
				return d.Errorf("action %q is not allowed in SecDefaultAction", a.Name)
			}
		}
		if !hasDisruptive {
			return d.Errorf("needs a disruptive action (pass, deny, ...)")
		}
		c.defaults[phase] = acts
		c.defaultsSet[phase] = true
		return nil
	case "secruleengine":
		m, err := parseEngineMode(argOne(d))
		if err != nil {
			return d.Errorf("%v", err)
		}
		c.rs.Engine = m
		return nil
	case "secrequestbodyaccess":
		on, err := parseOnOff(argOne(d))
		if err != nil {
			return d.Errorf("%v", err)
		}
		c.rs.RequestBodyAccess = on
		return nil
	case "secrequestbodylimit", "secrequestbodynofileslimit", "secargumentslimit", "secrequestbodyjsondepthlimit":
		n, err := strconv.Atoi(argOne(d))
		if err != nil || n <= 0 {
			return d.Errorf("expects a positive integer, got %q", argOne(d))
		}
		switch name {
		case "secrequestbodylimit":
			c.rs.RequestBodyLimit = n
		case "secrequestbodynofileslimit":
			c.rs.RequestBodyNoFilesLimit = n
		case "secargumentslimit":
			c.rs.ArgumentsLimit = n
		default:
			c.rs.JSONDepthLimit = n
		}
		return nil
	case "secrequestbodylimitaction":
		switch strings.ToLower(argOne(d)) {
		case "reject":
			c.rs.RequestBodyLimitReject = true
		case "processpartial":
			c.rs.RequestBodyLimitReject = false
		default:
			return d.Errorf("expects Reject or ProcessPartial, got %q", argOne(d))
		}
		return nil
	case "secruleremovebyid":
		if len(d.Args) == 0 {
			return d.Errorf("expects rule ids or ranges")
		}
		for _, a := range d.Args {
			for _, f := range strings.Fields(strings.ReplaceAll(a, ",", " ")) {
				lo, hi, err := parseIDRange(f)
				if err != nil {
					return d.Errorf("%v", err)
				}
				c.removeRules(func(r *Rule) bool { return r.ID >= lo && r.ID <= hi })
			}
		}
		return nil
	case "secruleremovebytag":
		tag := argOne(d)
		c.removeRules(func(r *Rule) bool { return hasTag(r.Tags, tag) })
		return nil
	case "secruleremovebymsg":
		msg := argOne(d)
		c.removeRules(func(r *Rule) bool { s, _ := r.Msg.Const(); return s == msg })
		return nil
	case "secruleupdatetargetbyid", "secruleupdatetargetbytag", "secruleupdatetargetbymsg":
		if len(d.Args) < 2 || len(d.Args) > 3 {
			return d.Errorf("expects SELECTOR TARGETS [REPLACED]")
		}
		return c.updateTargets(d, name)
	case "secruleupdateactionbyid":
		if len(d.Args) != 2 {
			return d.Errorf("expects ID ACTIONS")
		}
		return c.updateActions(d)
	}
	if ignoredDirectives[name] {
		return nil
	}
	return d.Errorf("unknown directive")
}

func argOne(d *seclang.Directive) string {
	if len(d.Args) == 0 {
		return ""
	}
	return d.Args[0]
}

func parseOnOff(s string) (bool, error) {
	switch strings.ToLower(s) {
	case "on":
		return true, nil
	case "off":
		return false, nil
	}
	return false, fmt.Errorf("expects On or Off, got %q", s)
}

func parseEngineMode(s string) (EngineMode, error) {
	switch strings.ToLower(s) {
	case "on":
		return EngineOn, nil
	case "off":
		return EngineOff, nil
	case "detectiononly":
		return EngineDetectionOnly, nil
	}
	return 0, fmt.Errorf("expects On, Off or DetectionOnly, got %q", s)
}

func parsePhase(s string) (int, error) {
	switch strings.ToLower(s) {
	case "1", "request_headers", "request":
		return 1, nil
	case "2":
		return 2, nil
	case "3", "response_headers":
		return 3, nil
	case "4", "response":
		return 4, nil
	case "5", "logging":
		return 5, nil
	}
	return 0, fmt.Errorf("invalid phase %q", s)
}

func parseIDRange(s string) (int32, int32, error) {
	lo, hi, isRange := strings.Cut(s, "-")
	a, err := strconv.ParseInt(strings.TrimSpace(lo), 10, 32)
	if err != nil {
		return 0, 0, fmt.Errorf("invalid rule id %q", s)
	}
	if !isRange {
		return int32(a), int32(a), nil
	}
	b, err := strconv.ParseInt(strings.TrimSpace(hi), 10, 32)
	if err != nil || b < a {
		return 0, 0, fmt.Errorf("invalid rule id range %q", s)
	}
	return int32(a), int32(b), nil
}

func hasTag(tags []string, tag string) bool {
	for _, t := range tags {
		if t == tag {
			return true
		}
	}
	return false
}

func (c *compiler) removeRules(match func(*Rule) bool) {
	for len(c.removed) < len(c.rs.Rules) {
		c.removed = append(c.removed, false)
	}
	for i := range c.rs.Rules {
		r := &c.rs.Rules[i]
		if r.ID != 0 && match(r) {
			// Remove the whole chain.
			for j := i; j >= 0; j = int(c.rs.Rules[j].ChainNext) {
				c.removed[j] = true
			}
		}
	}
}

func (c *compiler) headRules(d *seclang.Directive, kind, sel string) ([]int, error) {
	var out []int
	switch kind {
	case "secruleupdatetargetbyid":
		for _, f := range strings.Fields(strings.ReplaceAll(sel, ",", " ")) {
			lo, hi, err := parseIDRange(f)
			if err != nil {
				return nil, d.Errorf("%v", err)
			}
			for i := range c.rs.Rules {
				if id := c.rs.Rules[i].ID; id != 0 && id >= lo && id <= hi {
					out = append(out, i)
				}
			}
		}
	case "secruleupdatetargetbytag":
		for i := range c.rs.Rules {
			if c.rs.Rules[i].ID != 0 && hasTag(c.rs.Rules[i].Tags, sel) {
				out = append(out, i)
			}
		}
	default:
		for i := range c.rs.Rules {
			if s, _ := c.rs.Rules[i].Msg.Const(); c.rs.Rules[i].ID != 0 && s == sel {
				out = append(out, i)
			}
		}
	}
	return out, nil
}

func (c *compiler) updateTargets(d *seclang.Directive, kind string) error {
	rules, err := c.headRules(d, kind, d.Args[0])
	if err != nil {
		return err
	}
	vars, err := seclang.ParseVariables(d.Args[1])
	if err != nil {
		return d.Errorf("%v", err)
	}
	var replaced *Target
	if len(d.Args) == 3 {
		rv, err := seclang.ParseVariables(d.Args[2])
		if err != nil || len(rv) != 1 {
			return d.Errorf("invalid replaced target %q", d.Args[2])
		}
		t, _, err := c.target(rv[0])
		if err != nil {
			return d.Errorf("%v", err)
		}
		replaced = &t
	}
	for _, ri := range rules {
		r := &c.rs.Rules[ri]
		for _, v := range vars {
			t, ex, err := c.target(v)
			if err != nil {
				return d.Errorf("%v", err)
			}
			if v.Exclude {
				r.Exclusions = append(r.Exclusions, ex)
				continue
			}
			if replaced != nil {
				for k := range r.Targets {
					if sameTarget(r.Targets[k], *replaced) {
						r.Targets[k] = t
					}
				}
				continue
			}
			r.Targets = append(r.Targets, t)
		}
	}
	return nil
}

func sameTarget(a, b Target) bool {
	return a.Var == b.Var && a.Key == b.Key && a.KeyRegex == b.KeyRegex && a.Count == b.Count
}

func (c *compiler) updateActions(d *seclang.Directive) error {
	rules, err := c.headRules(d, "secruleupdatetargetbyid", d.Args[0])
	if err != nil {
		return err
	}
	acts, err := seclang.ParseActions(d.Args[1])
	if err != nil {
		return d.Errorf("%v", err)
	}
	for _, ri := range rules {
		r := &c.rs.Rules[ri]
		for _, a := range acts {
			switch a.Name {
			case "id", "phase", "chain":
				return d.Errorf("action %q cannot be updated", a.Name)
			}
			if isDisruptive(a.Name) {
				r.Disruptive = DisruptNone
			}
			if err := c.action(d, r, a, int(r.Phase), false); err != nil {
				return err
			}
		}
		c.resolveBlock(r, int(r.Phase))
	}
	return nil
}

func isDisruptive(name string) bool {
	switch name {
	case "deny", "drop", "pass", "allow", "redirect", "block", "proxy":
		return true
	}
	return false
}

func (c *compiler) txSlot(key string) int32 {
	key = strings.ToLower(key)
	if s, ok := c.txSlots[key]; ok {
		return s
	}
	s := int32(len(c.rs.TXKeys))
	c.rs.TXKeys = append(c.rs.TXKeys, key)
	c.txSlots[key] = s
	return s
}

// target compiles one variable; for '!' variables the exclusion is returned.
func (c *compiler) target(v seclang.Variable) (Target, Exclusion, error) {
	vr, ok := LookupVar(v.Name)
	if !ok {
		return Target{}, Exclusion{}, fmt.Errorf("unknown variable %q", v.Name)
	}
	t := Target{Var: vr, KeyRegex: -1, TXSlot: -1, Count: v.Count}
	if v.Key != "" && !vr.Keyed() && vr != VarResponse {
		return t, Exclusion{}, fmt.Errorf("variable %s takes no selector (got %q)", v.Name, v.Key)
	}
	if v.KeyRegex {
		// Collection keys are case-insensitive: selectors match in any case.
		idx, err := c.regex("(?i)"+v.Key, false)
		if err != nil {
			return t, Exclusion{}, fmt.Errorf("selector of %s: %v", v.Name, err)
		}
		t.KeyRegex = idx
	} else {
		t.Key = strings.ToLower(v.Key)
		if vr == VarTX && t.Key != "" {
			t.TXSlot = c.txSlot(t.Key)
		}
	}
	return t, Exclusion{Var: vr, Key: t.Key, KeyRegex: t.KeyRegex}, nil
}

// regex interns a regular expression; forRx adds the (?sm) flags @rx uses (ModSecurity compiles
// with DOTALL and MULTILINE) and computes the literal prefilter.
func (c *compiler) regex(pattern string, forRx bool) (int32, error) {
	full := pattern
	if forRx {
		full = "(?sm)" + pattern
	}
	key := strconv.FormatBool(forRx) + "\x00" + full
	if idx, ok := c.regexIndex[key]; ok {
		return idx, nil
	}
	r := Regex{Pattern: full, PrefilterMatcher: -1}
	r.Binary = needsBinary(pattern)
	prog, err := regexprog.Compile(full, r.Binary)
	if err != nil {
		return 0, fmt.Errorf("invalid regular expression %q: %v", pattern, err)
	}
	r.Prog = prog
	classes := lazydfa.ByteClasses(prog)
	r.Classes = classes[:]
	if forRx {
		// The UTF-8 parse of a binary pattern reads each \xHH byte as a rune < 0x100, which keeps
		// its byte set conservative (any rune >= 0x80 admits every high byte).
		r.Prefilter, r.Bytes = Prefilter(full, r.Binary)
		if len(r.Prefilter) > largePrefilter {
			r.PrefilterMatcher = int32(len(c.rs.Matchers))
			c.rs.Matchers = append(c.rs.Matchers, NewMatcher(r.Prefilter))
		}
		if !r.Binary {
			r.MinLen = int32(MinLen(full))
		}
	}
	idx := int32(len(c.rs.Regexes))
	c.rs.Regexes = append(c.rs.Regexes, r)
	c.regexIndex[key] = idx
	return idx, nil
}

// needsBinary reports whether a pattern has \xHH escapes for bytes >= 0x80 that are not valid
// UTF-8 together: such a pattern must match raw bytes.
func needsBinary(p string) bool {
	var decoded []byte
	for i := 0; i < len(p); i++ {
		if p[i] == '\\' && i+1 < len(p) && p[i+1] == 'x' {
			// \xHH and \x{HH}: ModSecurity (PCRE without UTF mode) reads both as one byte.
			hexDigits, width := "", 0
			if i+3 < len(p) && p[i+2] != '{' {
				hexDigits, width = p[i+2:i+4], 4
			} else if end := strings.IndexByte(p[i:], '}'); i+2 < len(p) && p[i+2] == '{' && end > 0 {
				hexDigits, width = p[i+3:i+end], end+1
			}
			if v, err := strconv.ParseUint(hexDigits, 16, 32); err == nil && hexDigits != "" {
				if v <= 0xff {
					decoded = append(decoded, byte(v))
				} else {
					decoded = utf8.AppendRune(decoded, rune(v))
				}
				i += width - 1
				continue
			}
		}
		if p[i] == '\\' && i+1 < len(p) {
			decoded = append(decoded, p[i], p[i+1])
			i++
			continue
		}
		decoded = append(decoded, p[i])
	}
	for _, b := range decoded {
		if b >= 0x80 {
			return !utf8.Valid(decoded)
		}
	}
	return false
}

func (c *compiler) transformNode(parent int32, t transform.ID) int32 {
	k := [2]int32{parent, int32(t)}
	if n, ok := c.nodeIndex[k]; ok {
		return n
	}
	n := int32(len(c.rs.TransformNodes))
	c.rs.TransformNodes = append(c.rs.TransformNodes, TransformNode{Parent: parent, T: t})
	c.nodeIndex[k] = n
	return n
}

// macro compiles %{...} references.
func (c *compiler) macro(s string) (Macro, error) {
	var m Macro
	for s != "" {
		i := strings.Index(s, "%{")
		if i < 0 {
			m.Parts = append(m.Parts, MacroPart{Lit: s, TXSlot: -1})
			break
		}
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			m.Parts = append(m.Parts, MacroPart{Lit: s, TXSlot: -1})
			break
		}
		if i > 0 {
			m.Parts = append(m.Parts, MacroPart{Lit: s[:i], TXSlot: -1})
		}
		ref := s[i+2 : i+j]
		name, key, _ := strings.Cut(ref, ".")
		vr, ok := LookupVar(strings.ToUpper(strings.TrimSpace(name)))
		if !ok {
			return m, fmt.Errorf("unknown variable %q in macro %%{%s}", name, ref)
		}
		p := MacroPart{Var: vr, Key: strings.ToLower(key), TXSlot: -1}
		if vr == VarTX && p.Key != "" {
			p.TXSlot = c.txSlot(p.Key)
		}
		m.Parts = append(m.Parts, p)
		s = s[i+j+1:]
	}
	// Merge adjacent literals.
	out := m.Parts[:0]
	for _, p := range m.Parts {
		if n := len(out); n > 0 && p.Var == VarNone && out[n-1].Var == VarNone {
			out[n-1].Lit += p.Lit
			continue
		}
		out = append(out, p)
	}
	m.Parts = out
	return m, nil
}
