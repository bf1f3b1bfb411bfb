package hyperscan

import (
	"errors"
	"fmt"
	"strings"

	xdscorev3 "github.com/cncf/xds/go/xds/core/v3"
	xdsmatcherv3 "github.com/cncf/xds/go/xds/type/matcher/v3"
	hyperscanmatcherv3alpha "github.com/envoyproxy/go-control-plane/contrib/envoy/extensions/matching/input_matchers/hyperscan/v3alpha"
	rbacconfigv3 "github.com/envoyproxy/go-control-plane/envoy/config/rbac/v3"
	rbacv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/rbac/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// Names of the Envoy extensions the RBAC deny filter uses.
const (
	RBACFilterName              = "envoy.filters.http.rbac"
	HyperscanInputMatcherName   = "envoy.matching.input_matchers.hyperscan"
	RequestHeaderInputName      = "envoy.matching.inputs.request_headers"
	rbacDenyActionName          = "meshaccel-hyperscan-deny"
	rbacAllowActionName         = "meshaccel-hyperscan-allow"
	pathHeader                  = ":path"
	userAgentHeader             = "user-agent"
	queryStringSuffixExpression = `(?:\?.*)?`
)

// BuildRBACDenyFilter builds an envoy.filters.http.rbac HttpFilter that denies a request when
// its path matches one of denyPaths or its user-agent matches one of denyUserAgents, and allows
// every other request. Each list becomes one envoy.matching.input_matchers.hyperscan matcher, so
// a request is checked against a whole list in one Hyperscan scan.
//
// The regexes are RE2 with Envoy's full-match meaning. Each is translated for Hyperscan (see
// FullMatchExpression): anchored, with explicit classes, and with allow_empty where it matches
// the empty value. A path regex is matched against :path with or without its query string
// (as RBAC's url_path matches the path alone), so `/admin/.*` also denies `/admin/x?y=1` and
// `/admin` also denies `/admin?x`. Run the compatibility checker on the same lists to learn about
// the differences the translation cannot remove (invalid UTF-8 in single-character classes).
func BuildRBACDenyFilter(denyPaths, denyUserAgents []string) (*hcmv3.HttpFilter, error) {
	if len(denyPaths) == 0 && len(denyUserAgents) == 0 {
		return nil, errors.New("rbac deny filter: no path or user-agent regexes to deny")
	}
	var predicates []*xdsmatcherv3.Matcher_MatcherList_Predicate
	if len(denyPaths) > 0 {
		p, err := hyperscanHeaderPredicate(pathHeader, "denyPaths", denyPaths, queryStringSuffixExpression)
		if err != nil {
			return nil, err
		}
		predicates = append(predicates, p)
	}
	if len(denyUserAgents) > 0 {
		p, err := hyperscanHeaderPredicate(userAgentHeader, "denyUserAgents", denyUserAgents, "")
		if err != nil {
			return nil, err
		}
		predicates = append(predicates, p)
	}
	predicate := predicates[0]
	if len(predicates) > 1 {
		predicate = &xdsmatcherv3.Matcher_MatcherList_Predicate{
			MatchType: &xdsmatcherv3.Matcher_MatcherList_Predicate_OrMatcher{
				OrMatcher: &xdsmatcherv3.Matcher_MatcherList_Predicate_PredicateList{Predicate: predicates},
			},
		}
	}
	deny, err := rbacAction(rbacDenyActionName, rbacconfigv3.RBAC_DENY)
	if err != nil {
		return nil, err
	}
	allow, err := rbacAction(rbacAllowActionName, rbacconfigv3.RBAC_ALLOW)
	if err != nil {
		return nil, err
	}
	rbac := &rbacv3.RBAC{
		Matcher: &xdsmatcherv3.Matcher{
			MatcherType: &xdsmatcherv3.Matcher_MatcherList_{
				MatcherList: &xdsmatcherv3.Matcher_MatcherList{
					Matchers: []*xdsmatcherv3.Matcher_MatcherList_FieldMatcher{{Predicate: predicate, OnMatch: deny}},
				},
			},
			// Without on_no_match RBAC denies unmatched requests; this filter only denies.
			OnNoMatch: allow,
		},
	}
	typedConfig, err := anypb.New(rbac)
	if err != nil {
		return nil, err
	}
	filter := &hcmv3.HttpFilter{Name: RBACFilterName, ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: typedConfig}}
	if err := filter.ValidateAll(); err != nil {
		return nil, fmt.Errorf("rbac deny filter: %w", err)
	}
	return filter, nil
}

// hyperscanHeaderPredicate matches header against every regex in one Hyperscan matcher.
func hyperscanHeaderPredicate(header, field string, regexes []string, suffix string) (*xdsmatcherv3.Matcher_MatcherList_Predicate, error) {
	config := &hyperscanmatcherv3alpha.Hyperscan{}
	for i, regex := range regexes {
		if regex == "" {
			return nil, fmt.Errorf("rbac deny filter: %s[%d]: empty regex", field, i)
		}
		if _, err := ParseRE2(regex); err != nil {
			return nil, fmt.Errorf("rbac deny filter: %s[%d] %q: %w", field, i, regex, unwrapSyntax(err))
		}
		source := regex
		if suffix != "" {
			source = "(?:" + regex + ")" + suffix
		}
		expr, err := FullMatchExpression(source, CaseExplicitClasses)
		if err != nil {
			return nil, fmt.Errorf("rbac deny filter: %s[%d] %q: %w", field, i, regex, unwrapSyntax(err))
		}
		full, err := CompileFullMatch(source)
		if err != nil {
			return nil, fmt.Errorf("rbac deny filter: %s[%d] %q: %w", field, i, regex, err)
		}
		config.Regexes = append(config.Regexes, &hyperscanmatcherv3alpha.Hyperscan_Regex{
			Regex: expr,
			Id:    uint32(i),
			Utf8:  true,
			// Not ucp: it makes \w, \d and \s Unicode-aware, where RE2's are ASCII, and
			// rejects \b. The translation spells every class out, so utf8 alone keeps RE2's classes.
			AllowEmpty: full.MatchString(""),
		})
	}
	input, err := typedExtension(RequestHeaderInputName, &matcherv3.HttpRequestHeaderMatchInput{HeaderName: header})
	if err != nil {
		return nil, err
	}
	customMatch, err := typedExtension(HyperscanInputMatcherName, config)
	if err != nil {
		return nil, err
	}
	return &xdsmatcherv3.Matcher_MatcherList_Predicate{
		MatchType: &xdsmatcherv3.Matcher_MatcherList_Predicate_SinglePredicate_{
			SinglePredicate: &xdsmatcherv3.Matcher_MatcherList_Predicate_SinglePredicate{
				Input:   input,
				Matcher: &xdsmatcherv3.Matcher_MatcherList_Predicate_SinglePredicate_CustomMatch{CustomMatch: customMatch},
			},
		},
	}, nil
}

func rbacAction(name string, action rbacconfigv3.RBAC_Action) (*xdsmatcherv3.Matcher_OnMatch, error) {
	config, err := typedExtension(name, &rbacconfigv3.Action{Name: name, Action: action})
	if err != nil {
		return nil, err
	}
	return &xdsmatcherv3.Matcher_OnMatch{OnMatch: &xdsmatcherv3.Matcher_OnMatch_Action{Action: config}}, nil
}

// validatable is what protoc-gen-validate generates on every Envoy message.
type validatable interface {
	proto.Message
	ValidateAll() error
}

// typedExtension validates message and wraps it as a named typed extension config.
func typedExtension(name string, message validatable) (*xdscorev3.TypedExtensionConfig, error) {
	if err := message.ValidateAll(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	typed, err := anypb.New(message)
	if err != nil {
		return nil, err
	}
	return &xdscorev3.TypedExtensionConfig{Name: name, TypedConfig: typed}, nil
}

// unwrapSyntax drops regexp/syntax's "error parsing regexp: " prefix, which the caller's own
// context makes redundant.
func unwrapSyntax(err error) error {
	if msg := err.Error(); strings.HasPrefix(msg, "error parsing regexp: ") {
		return errors.New(strings.TrimPrefix(msg, "error parsing regexp: "))
	}
	return err
}
