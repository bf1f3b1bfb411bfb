// Package hyperscanbench measures route-table matching the way Envoy does it (first route whose
// regex matches the whole path) with three engines: Go's regexp route by route (the behaviour of
// Envoy's default RE2 engine), one Go regexp alternation of every route, and meshaccel's
// Hyperscan matcher (one scan through a cgo shim).
package hyperscanbench

import (
	"fmt"
	"math/rand/v2"

	"github.com/meshaccel/meshaccel/hyperscan"
	"github.com/meshaccel/meshaccel/hyperscan/inputgen"
)

var (
	serviceWords = []string{"users", "orders", "payments", "catalog", "inventory", "cart", "checkout", "search",
		"reviews", "shipping", "accounts", "billing", "invoices", "profiles", "products", "media", "reports",
		"events", "sessions", "tenants", "projects", "teams", "webhooks", "coupons", "ratings"}
	subresources = []string{"items", "history", "settings", "members", "comments", "status", "refunds", "lines", "versions", "tags"}
)

// RouteTable returns n distinct route regexes in the styles Istio users write: versioned REST
// paths with numeric, UUID and slug ids, locale prefixes, static assets, optional tails and
// case-insensitive admin paths. The same n always gives the same table.
func RouteTable(n int) []string {
	rng := rand.New(rand.NewPCG(uint64(n), 42))
	table := make([]string, n)
	for i := range table {
		service := fmt.Sprintf("%s-%d", serviceWords[i%len(serviceWords)], i/len(serviceWords))
		sub := subresources[rng.IntN(len(subresources))]
		switch i % 8 {
		case 0:
			table[i] = fmt.Sprintf(`/api/v[0-9]+/%s/[0-9]+`, service)
		case 1:
			table[i] = fmt.Sprintf(`/api/v1/%s/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/%s`, service, sub)
		case 2:
			table[i] = fmt.Sprintf(`/%s/[^/]+/%s/[0-9]+`, service, sub)
		case 3:
			table[i] = fmt.Sprintf(`/(en|de|fr|ja)/%s/[a-z0-9-]+\.html`, service)
		case 4:
			table[i] = fmt.Sprintf(`/%s/static/.+\.(js|css|png|svg)`, service)
		case 5:
			table[i] = fmt.Sprintf(`^/api/v2/%s(/.*)?$`, service)
		case 6:
			table[i] = fmt.Sprintf(`(?i)/%s/admin/[a-z]+`, service)
		default:
			table[i] = fmt.Sprintf(`/api/(v1|v2)/%s/[0-9]+/%s/[0-9]+`, service, sub)
		}
	}
	return table
}

// Requests returns n request paths: nine in ten match a route drawn uniformly from the table
// (so a sequential engine walks half the table on average), one in ten matches no route.
func Requests(table []string, n int, seed uint64) []string {
	rng := rand.New(rand.NewPCG(seed, 7))
	requests := make([]string, n)
	for i := range requests {
		route := rng.IntN(len(table))
		parsed, err := hyperscan.ParseRE2(table[route])
		if err != nil {
			panic(err)
		}
		g := inputgen.New(parsed, rng.Uint64())
		g.MaxRepeat = 2
		path := g.Matching()
		if i%10 == 9 {
			path = "/unrouted" + path
		}
		requests[i] = path
	}
	return requests
}
