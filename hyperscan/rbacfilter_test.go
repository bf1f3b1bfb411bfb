package hyperscan_test

import (
	"regexp"
	"strings"
	"testing"

	xdscorev3 "github.com/cncf/xds/go/xds/core/v3"
	xdsmatcherv3 "github.com/cncf/xds/go/xds/type/matcher/v3"
	hyperscanmatcherv3alpha "github.com/envoyproxy/go-control-plane/contrib/envoy/extensions/matching/input_matchers/hyperscan/v3alpha"
	rbacconfigv3 "github.com/envoyproxy/go-control-plane/envoy/config/rbac/v3"
	rbacv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/rbac/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/meshaccel/meshaccel/hyperscan"
)

var (
	denyPaths      = []string{`/admin(/.*)?`, `/\.git/.*`, `/debug/pprof/.*`, `(?i)/wp-login\.php`}
	denyUserAgents = []string{`.*(sqlmap|nikto).*`, `(?i)masscan/[0-9.]+`}
)

// validateNested unmarshals every Any inside message, recursively, and validates each: Envoy
// rejects a config whose nested typed_config is invalid even when the outer message is valid.
func validateNested(t *testing.T, message proto.Message) int {
	t.Helper()
	if v, ok := message.(interface{ ValidateAll() error }); ok {
		if err := v.ValidateAll(); err != nil {
			t.Errorf("%s: %v", message.ProtoReflect().Descriptor().FullName(), err)
		}
	}
	count := 0
	if anyMessage, ok := message.(*anypb.Any); ok {
		inner, err := anyMessage.UnmarshalNew()
		if err != nil {
			t.Fatalf("unmarshal %s: %v", anyMessage.TypeUrl, err)
		}
		return 1 + validateNested(t, inner)
	}
	message.ProtoReflect().Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.Kind() != protoreflect.MessageKind:
		case fd.IsList():
			for i := 0; i < v.List().Len(); i++ {
				count += validateNested(t, v.List().Get(i).Message().Interface())
			}
		case fd.IsMap():
		default:
			count += validateNested(t, v.Message().Interface())
		}
		return true
	})
	return count
}

func buildFilter(t *testing.T) (*hcmv3.HttpFilter, *rbacv3.RBAC) {
	t.Helper()
	filter, err := hyperscan.BuildRBACDenyFilter(denyPaths, denyUserAgents)
	if err != nil {
		t.Fatal(err)
	}
	rbac := &rbacv3.RBAC{}
	if err := filter.GetTypedConfig().UnmarshalTo(rbac); err != nil {
		t.Fatal(err)
	}
	return filter, rbac
}

func TestBuildRBACDenyFilterValidatesWithEveryNestedTypedConfig(t *testing.T) {
	filter, rbac := buildFilter(t)
	if filter.GetName() != "envoy.filters.http.rbac" {
		t.Errorf("filter name %q", filter.GetName())
	}
	if rbac.GetRules() != nil || rbac.GetMatcher() == nil {
		t.Error("the filter must use the unified matcher, not rules")
	}
	// RBAC, 2 inputs, 2 Hyperscan matchers, deny and allow actions.
	if n := validateNested(t, filter); n != 7 {
		t.Errorf("validated %d nested typed configs, want 7", n)
	}
	// What the core renders into an EnvoyFilter must survive protojson both ways.
	data, err := protojson.Marshal(filter)
	if err != nil {
		t.Fatal(err)
	}
	back := &hcmv3.HttpFilter{}
	if err := protojson.Unmarshal(data, back); err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(filter, back) {
		t.Error("protojson round trip changed the filter")
	}
}

func TestBuildRBACDenyFilterUsesHyperscanOnPathAndUserAgent(t *testing.T) {
	_, rbac := buildFilter(t)
	list := rbac.GetMatcher().GetMatcherList().GetMatchers()
	if len(list) != 1 {
		t.Fatalf("%d field matchers, want 1", len(list))
	}
	predicates := list[0].GetPredicate().GetOrMatcher().GetPredicate()
	if len(predicates) != 2 {
		t.Fatalf("%d predicates, want path and user-agent", len(predicates))
	}
	for i, want := range []struct {
		header  string
		regexes []string
	}{{":path", denyPaths}, {"user-agent", denyUserAgents}} {
		single := predicates[i].GetSinglePredicate()
		input := &matcherv3.HttpRequestHeaderMatchInput{}
		if err := single.GetInput().GetTypedConfig().UnmarshalTo(input); err != nil {
			t.Fatal(err)
		}
		if input.GetHeaderName() != want.header {
			t.Errorf("predicate %d reads %q, want %q", i, input.GetHeaderName(), want.header)
		}
		if single.GetCustomMatch().GetName() != "envoy.matching.input_matchers.hyperscan" {
			t.Errorf("predicate %d custom match %q", i, single.GetCustomMatch().GetName())
		}
		config := &hyperscanmatcherv3alpha.Hyperscan{}
		if err := single.GetCustomMatch().GetTypedConfig().UnmarshalTo(config); err != nil {
			t.Fatal(err)
		}
		if len(config.GetRegexes()) != len(want.regexes) {
			t.Fatalf("predicate %d has %d regexes, want %d", i, len(config.GetRegexes()), len(want.regexes))
		}
		for j, r := range config.GetRegexes() {
			if !r.GetUtf8() || r.GetUcp() || r.GetId() != uint32(j) || !strings.HasPrefix(r.GetRegex(), `\A(?:`) || !strings.HasSuffix(r.GetRegex(), `)\z`) {
				t.Errorf("predicate %d regex %d: %v", i, j, r)
			}
		}
	}
	action := &rbacconfigv3.Action{}
	if err := list[0].GetOnMatch().GetAction().GetTypedConfig().UnmarshalTo(action); err != nil || action.GetAction() != rbacconfigv3.RBAC_DENY {
		t.Errorf("on match: %v %v", action, err)
	}
	if err := rbac.GetMatcher().GetOnNoMatch().GetAction().GetTypedConfig().UnmarshalTo(action); err != nil || action.GetAction() != rbacconfigv3.RBAC_ALLOW {
		t.Errorf("on no match: %v %v", action, err)
	}
}

// evaluate walks the match tree the way Envoy does for this shape, with Go's regexp standing in
// for Hyperscan (the translated expressions are valid RE2 with the same meaning; the regexcompat
// tests run them on real Hyperscan).
func evaluate(t *testing.T, rbac *rbacv3.RBAC, headers map[string]string) rbacconfigv3.RBAC_Action {
	t.Helper()
	var matches func(p *xdsmatcherv3.Matcher_MatcherList_Predicate) bool
	matches = func(p *xdsmatcherv3.Matcher_MatcherList_Predicate) bool {
		if or := p.GetOrMatcher(); or != nil {
			for _, sub := range or.GetPredicate() {
				if matches(sub) {
					return true
				}
			}
			return false
		}
		single := p.GetSinglePredicate()
		input := &matcherv3.HttpRequestHeaderMatchInput{}
		_ = single.GetInput().GetTypedConfig().UnmarshalTo(input)
		value, present := headers[input.GetHeaderName()]
		if !present {
			return false
		}
		config := &hyperscanmatcherv3alpha.Hyperscan{}
		_ = single.GetCustomMatch().GetTypedConfig().UnmarshalTo(config)
		for _, r := range config.GetRegexes() {
			if regexp.MustCompile(r.GetRegex()).MatchString(value) {
				return true
			}
		}
		return false
	}
	actionOf := func(config *xdscorev3.TypedExtensionConfig) rbacconfigv3.RBAC_Action {
		action := &rbacconfigv3.Action{}
		if err := config.GetTypedConfig().UnmarshalTo(action); err != nil {
			t.Fatal(err)
		}
		return action.GetAction()
	}
	for _, fm := range rbac.GetMatcher().GetMatcherList().GetMatchers() {
		if matches(fm.GetPredicate()) {
			return actionOf(fm.GetOnMatch().GetAction())
		}
	}
	return actionOf(rbac.GetMatcher().GetOnNoMatch().GetAction())
}

func TestBuildRBACDenyFilterDeniesWhatTheListsMatchAndAllowsTheRest(t *testing.T) {
	_, rbac := buildFilter(t)
	deny, allow := rbacconfigv3.RBAC_DENY, rbacconfigv3.RBAC_ALLOW
	for _, tc := range []struct {
		path, userAgent string
		want            rbacconfigv3.RBAC_Action
	}{
		{"/admin", "Mozilla/5.0", deny},
		{"/admin?next=/", "Mozilla/5.0", deny},
		{"/admin/users/1", "", deny},
		{"/administrator", "Mozilla/5.0", allow},
		{"/x/admin", "Mozilla/5.0", allow}, // full match, not a substring search
		{"/.git/config", "Mozilla/5.0", deny},
		{"/WP-LOGIN.php", "Mozilla/5.0", deny},
		{"/api/v1/users", "sqlmap/1.7.2#stable (https://sqlmap.org)", deny},
		{"/api/v1/users", "MASSCAN/1.3", deny},
		{"/api/v1/users", "masscan/1.3 extra", allow},
		{"/api/v1/users", "curl/8.5.0", allow},
	} {
		headers := map[string]string{":path": tc.path}
		if tc.userAgent != "" {
			headers["user-agent"] = tc.userAgent
		}
		if got := evaluate(t, rbac, headers); got != tc.want {
			t.Errorf("path %q user-agent %q: %v, want %v", tc.path, tc.userAgent, got, tc.want)
		}
	}
}

func TestBuildRBACDenyFilterWithOneListUsesASinglePredicate(t *testing.T) {
	filter, err := hyperscan.BuildRBACDenyFilter(nil, []string{`curl/.*`})
	if err != nil {
		t.Fatal(err)
	}
	rbac := &rbacv3.RBAC{}
	if err := filter.GetTypedConfig().UnmarshalTo(rbac); err != nil {
		t.Fatal(err)
	}
	if rbac.GetMatcher().GetMatcherList().GetMatchers()[0].GetPredicate().GetSinglePredicate() == nil {
		t.Error("one list should be a single predicate (an or_matcher needs two)")
	}
	if n := validateNested(t, filter); n != 5 {
		t.Errorf("validated %d nested typed configs, want 5", n)
	}
}

func TestBuildRBACDenyFilterRejectsBadInputNamingTheListEntry(t *testing.T) {
	for _, tc := range []struct {
		paths, userAgents []string
		want              []string
	}{
		{nil, nil, []string{"no path or user-agent"}},
		{[]string{`/ok`, `/bad(`}, nil, []string{"denyPaths[1]", `"/bad("`, "missing closing )"}},
		{nil, []string{`(?=x)`}, []string{"denyUserAgents[0]", `"(?=x)"`}},
		{[]string{``}, nil, []string{"denyPaths[0]", "empty regex"}},
	} {
		_, err := hyperscan.BuildRBACDenyFilter(tc.paths, tc.userAgents)
		if err == nil {
			t.Errorf("%q %q: no error", tc.paths, tc.userAgents)
			continue
		}
		for _, part := range tc.want {
			if !strings.Contains(err.Error(), part) {
				t.Errorf("error %q lacks %q", err, part)
			}
		}
	}
}
