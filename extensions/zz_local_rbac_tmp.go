package extensions

import (
	"errors"

	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
)

func buildRBACDenyFilterTmp(a, b []string) (*hcmv3.HttpFilter, error) { return nil, errors.New("tmp") }
