package ruleset

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/meshaccel/meshaccel/wasm-waf/seclang"
	"github.com/meshaccel/meshaccel/wasm-waf/transform"
)

func isValidUTF8(b []byte) bool { return utf8.Valid(b) }

var severities = map[string]int8{
	"emergency": 0, "alert": 1, "critical": 2, "error": 3, "warning": 4, "notice": 5, "info": 6, "debug": 7,
}

func (c *compiler) rule(d *seclang.Directive, vars, op, actions string, unconditional bool) error {
	r := Rule{ChainNext: -1, SkipAfter: -1, Severity: -1, Log: true, File: d.File, Line: int32(d.Line)}
	acts, err := seclang.ParseActions(actions)
	if err != nil {
		return d.Errorf("actions: %v", err)
	}
	inChain := c.chainTail >= 0
	phase := 2
	if inChain {
		phase = int(c.rs.Rules[c.chainHead].Phase)
	}
	for _, a := range acts {
		if a.Name == "phase" {
			if inChain {
				return d.Errorf("a chained rule cannot set phase")
			}
			if phase, err = parsePhase(a.Value); err != nil {
				return d.Errorf("%v", err)
			}
		}
	}
	r.Phase = uint8(phase)

	if unconditional {
		r.Op = Operator{Kind: OpUnconditional}
	} else {
		vs, err := seclang.ParseVariables(vars)
		if err != nil {
			return d.Errorf("variables: %v", err)
		}
		for _, v := range vs {
			t, ex, err := c.target(v)
			if err != nil {
				return d.Errorf("%v", err)
			}
			if v.Exclude {
				r.Exclusions = append(r.Exclusions, ex)
			} else {
				r.Targets = append(r.Targets, t)
			}
		}
		if len(r.Targets) == 0 {
			return d.Errorf("no variables to inspect (only exclusions) in %q", vars)
		}
		pop, err := seclang.ParseOperator(op)
		if err != nil {
			return d.Errorf("operator: %v", err)
		}
		if r.Op, err = c.operator(d, pop); err != nil {
			return err
		}
	}

	// SecDefaultAction of the phase applies to chain starters; the rule's own actions override.
	all := acts
	if !inChain && c.defaultsSet[phase] {
		all = append(append([]seclang.Action{}, c.defaults[phase]...), acts...)
	}
	chain := false
	for _, a := range all {
		if a.Name == "chain" {
			chain = true
			continue
		}
		if inChain {
			switch a.Name {
			case "id", "phase":
				return d.Errorf("a chained rule cannot set %q", a.Name)
			case "skipafter", "skip", "deny", "drop", "allow", "redirect", "block":
				return d.Errorf("only the chain starter can have the flow or disruptive action %q", a.Name)
			}
		}
		if isDisruptive(a.Name) {
			r.Disruptive = DisruptNone
		}
		if err := c.action(d, &r, a, phase, !inChain); err != nil {
			return err
		}
	}
	if !inChain {
		if r.ID == 0 && !unconditional {
			return d.Errorf("rule has no id")
		}
		if r.ID == 0 {
			return d.Errorf("SecAction has no id")
		}
		c.resolveBlock(&r, phase)
	} else {
		r.ID = c.rs.Rules[c.chainHead].ID
	}
	if unconditional && chain {
		return d.Errorf("SecAction cannot start a chain")
	}

	idx := len(c.rs.Rules)
	c.rs.Rules = append(c.rs.Rules, r)
	if inChain {
		c.rs.Rules[c.chainTail].ChainNext = int32(idx)
	} else {
		c.chainHead = idx
	}
	if chain {
		c.chainTail = idx
	} else {
		c.chainTail = -1
	}
	return nil
}

// resolveBlock turns "block" into the phase's default disruptive action (pass without one).
func (c *compiler) resolveBlock(r *Rule, phase int) {
	if r.Disruptive != disruptBlock {
		return
	}
	r.Disruptive = DisruptPass
	for _, a := range c.defaults[phase] {
		switch a.Name {
		case "deny":
			r.Disruptive = DisruptDeny
		case "drop":
			r.Disruptive = DisruptDrop
		case "redirect":
			r.Disruptive, r.RedirectTo = DisruptRedirect, a.Value
		case "pass", "allow":
			r.Disruptive = DisruptPass
		case "status":
			if r.Status == 0 {
				n, _ := strconv.Atoi(a.Value)
				r.Status = int32(n)
			}
		}
	}
}

// disruptBlock is a placeholder until resolveBlock runs.
const disruptBlock Disruptive = 255

func (c *compiler) action(d *seclang.Directive, r *Rule, a seclang.Action, phase int, head bool) error {
	fail := func(format string, args ...any) error {
		return d.Errorf("action %s: %s", a.Name, fmt.Sprintf(format, args...))
	}
	switch a.Name {
	case "id":
		n, err := strconv.ParseInt(a.Value, 10, 32)
		if err != nil || n <= 0 {
			return fail("invalid id %q", a.Value)
		}
		r.ID = int32(n)
	case "phase", "chain":
	case "msg":
		m, err := c.macro(a.Value)
		if err != nil {
			return fail("%v", err)
		}
		r.Msg = m
	case "logdata":
		m, err := c.macro(a.Value)
		if err != nil {
			return fail("%v", err)
		}
		r.LogData = m
	case "tag":
		r.Tags = append(r.Tags, a.Value)
	case "severity":
		if n, err := strconv.Atoi(a.Value); err == nil && n >= 0 && n <= 7 {
			r.Severity = int8(n)
		} else if s, ok := severities[strings.ToLower(a.Value)]; ok {
			r.Severity = s
		} else {
			return fail("invalid severity %q", a.Value)
		}
	case "ver", "rev", "maturity", "accuracy", "auditlog", "noauditlog", "sanitisearg", "sanitisematched",
		"sanitisematchedbytes", "sanitiserequestheader", "sanitiseresponseheader", "expirevar", "deprecatevar",
		"initcol", "setsid", "setuid", "setrsc", "setenv", "xmlns", "pause", "append", "prepend", "exec":
		// No effect on request inspection by this engine (logging, persistence, response rewriting).
	case "t":
		name := strings.TrimSpace(a.Value)
		if strings.EqualFold(name, "none") {
			r.Transform = 0
			return nil
		}
		t, ok := transform.Lookup(name)
		if !ok {
			return fail("unknown transformation %q", name)
		}
		r.Transform = c.transformNode(r.Transform, t)
	case "capture":
		r.Capture = true
	case "multimatch":
		r.MultiMatch = true
	case "log":
		r.Log = true
	case "nolog":
		r.Log = false
	case "pass":
		r.Disruptive = DisruptPass
	case "deny":
		r.Disruptive = DisruptDeny
	case "drop":
		r.Disruptive = DisruptDrop
	case "block":
		r.Disruptive = disruptBlock
	case "redirect", "proxy":
		r.Disruptive, r.RedirectTo = DisruptRedirect, a.Value
	case "allow":
		switch strings.ToLower(a.Value) {
		case "":
			r.Disruptive = DisruptAllow
		case "phase":
			r.Disruptive = DisruptAllowPhase
		case "request":
			r.Disruptive = DisruptAllowRequest
		default:
			return fail("expects no value, phase or request, got %q", a.Value)
		}
	case "status":
		n, err := strconv.Atoi(a.Value)
		if err != nil || n < 100 || n > 599 {
			return fail("invalid HTTP status %q", a.Value)
		}
		r.Status = int32(n)
	case "skipafter":
		if a.Value == "" {
			return fail("needs a marker name")
		}
		c.skips = append(c.skips, pendingSkip{rule: len(c.rs.Rules), name: a.Value, d: *d})
	case "skip":
		n, err := strconv.Atoi(a.Value)
		if err != nil || n < 1 {
			return fail("invalid count %q", a.Value)
		}
		r.Skip = int32(n)
	case "setvar":
		sv, err := c.setvar(a.Value)
		if err != nil {
			return fail("%v", err)
		}
		if sv != nil {
			r.SetVars = append(r.SetVars, *sv)
		}
	case "ctl":
		ctl, ok, err := c.ctl(a.Value)
		if err != nil {
			return fail("%v", err)
		}
		if ok {
			r.Ctls = append(r.Ctls, ctl)
		}
	default:
		return fail("unknown action")
	}
	return nil
}

func (c *compiler) setvar(v string) (*SetVar, error) {
	v = strings.TrimSpace(v)
	sv := SetVar{Slot: -1}
	if strings.HasPrefix(v, "!") {
		sv.Op = SetVarDelete
		v = v[1:]
	}
	name, value, hasValue := strings.Cut(v, "=")
	col, key, ok := strings.Cut(name, ".")
	if !ok || key == "" {
		return nil, fmt.Errorf("expects COLLECTION.KEY[=VALUE], got %q", v)
	}
	switch strings.ToLower(col) {
	case "tx":
	case "ip", "session", "user", "global", "resource":
		// Persistent collections are not kept between requests by this engine.
		return nil, nil
	default:
		return nil, fmt.Errorf("unsupported collection %q", col)
	}
	if sv.Op != SetVarDelete && hasValue {
		switch {
		case strings.HasPrefix(value, "+"):
			sv.Op, value = SetVarAdd, value[1:]
		case strings.HasPrefix(value, "-"):
			sv.Op, value = SetVarSub, value[1:]
		}
	} else if sv.Op != SetVarDelete {
		value = "1"
	}
	km, err := c.macro(strings.ToLower(key))
	if err != nil {
		return nil, err
	}
	sv.Key = km
	if k, ok := km.Const(); ok {
		sv.Slot = c.txSlot(k)
	}
	if sv.Value, err = c.macro(value); err != nil {
		return nil, err
	}
	return &sv, nil
}

func (c *compiler) ctl(v string) (Ctl, bool, error) {
	name, value, ok := strings.Cut(v, "=")
	if !ok {
		return Ctl{}, false, fmt.Errorf("expects NAME=VALUE, got %q", v)
	}
	value = strings.TrimSpace(value)
	ctl := Ctl{Target: Exclusion{KeyRegex: -1}}
	switch strings.ToLower(strings.TrimSpace(name)) {
	case "ruleengine":
		m, err := parseEngineMode(value)
		if err != nil {
			return ctl, false, err
		}
		ctl.Kind, ctl.Num = CtlRuleEngine, int64(m)
	case "ruleremovebyid":
		ctl.Kind = CtlRuleRemoveByID
		for _, f := range strings.Fields(value) {
			lo, hi, err := parseIDRange(f)
			if err != nil {
				return ctl, false, err
			}
			ctl.IDRanges = append(ctl.IDRanges, lo, hi)
		}
	case "ruleremovebytag":
		ctl.Kind, ctl.Str = CtlRuleRemoveByTag, value
	case "ruleremovetargetbyid", "ruleremovetargetbytag":
		sel, target, ok := strings.Cut(value, ";")
		if !ok {
			return ctl, false, fmt.Errorf("expects SELECTOR;TARGET, got %q", value)
		}
		vs, err := seclang.ParseVariables(target)
		if err != nil || len(vs) != 1 {
			return ctl, false, fmt.Errorf("invalid target %q", target)
		}
		_, ex, err := c.target(vs[0])
		if err != nil {
			return ctl, false, err
		}
		ctl.Target = ex
		if strings.HasSuffix(strings.ToLower(name), "byid") {
			ctl.Kind = CtlRuleRemoveTargetByID
			lo, hi, err := parseIDRange(sel)
			if err != nil {
				return ctl, false, err
			}
			ctl.IDRanges = []int32{lo, hi}
		} else {
			ctl.Kind, ctl.Str = CtlRuleRemoveTargetByTag, sel
		}
	case "requestbodyprocessor":
		p := strings.ToUpper(value)
		switch p {
		case "URLENCODED", "MULTIPART", "JSON", "XML":
		default:
			return ctl, false, fmt.Errorf("unknown body processor %q", value)
		}
		ctl.Kind, ctl.Str = CtlRequestBodyProcessor, p
	case "requestbodyaccess", "forcerequestbodyvariable":
		on, err := parseOnOff(value)
		if err != nil {
			return ctl, false, err
		}
		ctl.Kind = CtlRequestBodyAccess
		if strings.EqualFold(name, "forcerequestbodyvariable") {
			ctl.Kind = CtlForceRequestBodyVariable
		}
		if on {
			ctl.Num = 1
		}
	case "requestbodylimit":
		n, err := strconv.ParseInt(value, 10, 64)
		if err != nil || n <= 0 {
			return ctl, false, fmt.Errorf("invalid limit %q", value)
		}
		ctl.Kind, ctl.Num = CtlRequestBodyLimit, n
	case "auditengine", "auditlogparts", "debugloglevel", "responsebodyaccess", "responsebodyprocessor",
		"responsebodylimit", "hashengine", "hashenforcement":
		return ctl, false, nil
	default:
		return ctl, false, fmt.Errorf("unknown ctl %q", name)
	}
	return ctl, true, nil
}

var operatorNames = map[string]OpKind{
	"rx": OpRx, "pm": OpPm, "pmf": OpPm, "pmfromfile": OpPm, "streq": OpStrEq, "strmatch": OpStrMatch,
	"contains": OpContains, "containsword": OpContainsWord, "beginswith": OpBeginsWith, "endswith": OpEndsWith,
	"within": OpWithin, "eq": OpEq, "ge": OpGe, "gt": OpGt, "le": OpLe, "lt": OpLt, "detectsqli": OpDetectSQLi,
	"detectxss": OpDetectXSS, "validatebyterange": OpValidateByteRange, "validateurlencoding": OpValidateURLEncoding,
	"validateutf8encoding": OpValidateUTF8Encoding, "ipmatch": OpIPMatch, "ipmatchfromfile": OpIPMatch,
	"ipmatchf": OpIPMatch, "unconditionalmatch": OpUnconditional, "nomatch": OpNoMatch,
}

func (c *compiler) operator(d *seclang.Directive, op seclang.Operator) (Operator, error) {
	lname := strings.ToLower(op.Name)
	kind, ok := operatorNames[lname]
	if !ok {
		return Operator{}, d.Errorf("unknown operator @%s", op.Name)
	}
	o := Operator{Kind: kind, Negate: op.Negate, Regex: -1, Matcher: -1}
	fail := func(format string, args ...any) error {
		return d.Errorf("operator @%s: %s", op.Name, fmt.Sprintf(format, args...))
	}
	switch kind {
	case OpRx:
		idx, err := c.regex(op.Arg, true)
		if err != nil {
			return o, fail("%v", err)
		}
		o.Regex = idx
	case OpPm:
		var words []string
		if lname == "pm" {
			words = strings.Fields(op.Arg)
		} else {
			for _, f := range strings.Fields(op.Arg) {
				data, _, err := c.readFile(f, d.File)
				if err != nil {
					return o, fail("%v", err)
				}
				words = append(words, dataLines(data)...)
			}
		}
		if len(words) == 0 {
			return o, fail("no phrases")
		}
		key := strings.Join(words, "\x00")
		if idx, ok := c.matchers[key]; ok {
			o.Matcher = idx
		} else {
			o.Matcher = int32(len(c.rs.Matchers))
			c.rs.Matchers = append(c.rs.Matchers, NewMatcher(words))
			c.matchers[key] = o.Matcher
		}
	case OpValidateByteRange:
		for _, part := range strings.Split(op.Arg, ",") {
			part = strings.TrimSpace(part)
			if part == "" {
				continue
			}
			lo, hi, isRange := strings.Cut(part, "-")
			a, err := strconv.Atoi(strings.TrimSpace(lo))
			b := a
			if err == nil && isRange {
				b, err = strconv.Atoi(strings.TrimSpace(hi))
			}
			if err != nil || a < 0 || b > 255 || b < a {
				return o, fail("invalid byte range %q", part)
			}
			for x := a; x <= b; x++ {
				o.Bytes[x/64] |= 1 << (x % 64)
			}
		}
	case OpIPMatch:
		var items []string
		if lname == "ipmatch" {
			items = strings.Split(op.Arg, ",")
		} else {
			data, _, err := c.readFile(strings.TrimSpace(op.Arg), d.File)
			if err != nil {
				return o, fail("%v", err)
			}
			items = dataLines(data)
		}
		for _, it := range items {
			it = strings.TrimSpace(it)
			if it == "" {
				continue
			}
			if !strings.Contains(it, "/") {
				a, err := netip.ParseAddr(it)
				if err != nil {
					return o, fail("invalid address %q", it)
				}
				it = netip.PrefixFrom(a, a.BitLen()).String()
			}
			if _, err := netip.ParsePrefix(it); err != nil {
				return o, fail("invalid network %q", it)
			}
			o.Prefixes = append(o.Prefixes, it)
		}
	default:
		m, err := c.macro(op.Arg)
		if err != nil {
			return o, fail("%v", err)
		}
		o.Arg = m
		switch kind {
		case OpEq, OpGe, OpGt, OpLe, OpLt:
			if s, ok := m.Const(); ok {
				if _, err := strconv.Atoi(strings.TrimSpace(s)); err != nil {
					return o, fail("expects an integer, got %q", s)
				}
			}
		}
	}
	return o, nil
}

// dataLines returns the non-empty, non-comment lines of a data file.
func dataLines(data []byte) []string {
	var out []string
	for _, l := range strings.Split(string(data), "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		out = append(out, l)
	}
	return out
}

// finish resolves markers, drops rules of the response phases and rules removed by
// SecRuleRemove*, and builds the per-phase lists.
func (c *compiler) finish() (*Ruleset, error) {
	if c.chainTail >= 0 {
		r := c.rs.Rules[c.chainHead]
		return nil, &seclang.Error{File: r.File, Line: int(r.Line), Directive: "SecRule", Msg: "chain is not completed by a following SecRule"}
	}
	for _, s := range c.skips {
		mi, ok := c.markerIndex[s.name]
		if !ok {
			return nil, s.d.Errorf("skipAfter: marker %q is never defined", s.name)
		}
		c.rs.Rules[s.rule].SkipAfter = mi
	}
	for len(c.removed) < len(c.rs.Rules) {
		c.removed = append(c.removed, false)
	}
	old := c.rs.Rules
	keep := make([]bool, len(old))
	for i := range old {
		keep[i] = !c.removed[i] && (old[i].Phase == 1 || old[i].Phase == 2)
	}
	newIndex := make([]int32, len(old))
	var rules []Rule
	for i := range old {
		newIndex[i] = -1
		if keep[i] {
			newIndex[i] = int32(len(rules))
			rules = append(rules, old[i])
		} else if !c.removed[i] {
			c.rs.Skipped++
		}
	}
	isChainMember := make([]bool, len(old))
	for i := range old {
		if n := old[i].ChainNext; n >= 0 {
			isChainMember[n] = true
		}
	}
	for i := range rules {
		if n := rules[i].ChainNext; n >= 0 {
			rules[i].ChainNext = newIndex[n]
		}
	}
	var phases [3][]int32
	// Marker positions: the number of surviving heads of each phase defined before the marker.
	var counts [3]int32
	mi := 0
	for i := 0; i <= len(old); i++ {
		for mi < len(c.markerAt) && c.markerAt[mi] == i {
			c.rs.Markers[mi].Pos = counts
			mi++
		}
		if i == len(old) {
			break
		}
		if keep[i] && !isChainMember[i] {
			p := old[i].Phase
			phases[p] = append(phases[p], newIndex[i])
			counts[p]++
		}
	}
	c.rs.Rules = rules
	c.rs.Phases = phases
	c.rs.compactTables()
	return c.rs, nil
}

// compactTables drops the regexes and automata that only dropped rules (response phases,
// SecRuleRemove*, unreachable rules) used, and renumbers the references.
func (rs *Ruleset) compactTables() {
	usedRx := make([]bool, len(rs.Regexes))
	usedM := make([]bool, len(rs.Matchers))
	markRx := func(i int32) {
		if i >= 0 {
			usedRx[i] = true
		}
	}
	for i := range rs.Rules {
		r := &rs.Rules[i]
		if r.Op.Kind == OpRx {
			markRx(r.Op.Regex)
		}
		if r.Op.Kind == OpPm {
			usedM[r.Op.Matcher] = true
		}
		for _, t := range r.Targets {
			markRx(t.KeyRegex)
		}
		for _, x := range r.Exclusions {
			markRx(x.KeyRegex)
		}
		for _, ct := range r.Ctls {
			markRx(ct.Target.KeyRegex)
		}
	}
	for i, used := range usedRx {
		if used && rs.Regexes[i].PrefilterMatcher >= 0 {
			usedM[rs.Regexes[i].PrefilterMatcher] = true
		}
	}
	mMap := make([]int32, len(rs.Matchers))
	var matchers []*Matcher
	for i, m := range rs.Matchers {
		mMap[i] = -1
		if usedM[i] {
			mMap[i] = int32(len(matchers))
			matchers = append(matchers, m)
		}
	}
	rxMap := make([]int32, len(rs.Regexes))
	var regexes []Regex
	for i, r := range rs.Regexes {
		rxMap[i] = -1
		if usedRx[i] {
			if r.PrefilterMatcher >= 0 {
				r.PrefilterMatcher = mMap[r.PrefilterMatcher]
			}
			rxMap[i] = int32(len(regexes))
			regexes = append(regexes, r)
		}
	}
	remapRx := func(i *int32) {
		if *i >= 0 {
			*i = rxMap[*i]
		}
	}
	for i := range rs.Rules {
		r := &rs.Rules[i]
		if r.Op.Kind == OpRx {
			remapRx(&r.Op.Regex)
		}
		if r.Op.Kind == OpPm {
			r.Op.Matcher = mMap[r.Op.Matcher]
		}
		for k := range r.Targets {
			remapRx(&r.Targets[k].KeyRegex)
		}
		for k := range r.Exclusions {
			remapRx(&r.Exclusions[k].KeyRegex)
		}
		for k := range r.Ctls {
			remapRx(&r.Ctls[k].Target.KeyRegex)
		}
	}
	rs.Regexes, rs.Matchers = regexes, matchers
}
