package operator

import (
	"sync"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/meshaccel/meshaccel/extensions"
	"github.com/meshaccel/meshaccel/extensions/capability"
)

// decisionSeries reads meshaccel_workloads as feature/enabled/reason → value.
func decisionSeries(t *testing.T) map[decisionKey]float64 {
	t.Helper()
	ch := make(chan prometheus.Metric, 64)
	go func() { workloadDecisions.Collect(ch); close(ch) }()
	series := map[decisionKey]float64{}
	for m := range ch {
		var out dto.Metric
		if err := m.Write(&out); err != nil {
			t.Error(err)
			continue
		}
		labels := map[string]string{}
		for _, l := range out.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		series[decisionKey{labels["feature"], labels["enabled"], labels["reason"]}] = out.GetGauge().GetValue()
	}
	return series
}

func decisions(features ...extensions.FeatureDecision) extensions.Result {
	var res extensions.Result
	for _, f := range features {
		res.Workloads = append(res.Workloads, extensions.WorkloadDecision{Features: []extensions.FeatureDecision{f}})
	}
	return res
}

var (
	cryptombEnabled = extensions.FeatureDecision{Feature: capability.CryptoMB, Enabled: true, Reason: "Enabled"}
	qatNoNodes      = extensions.FeatureDecision{Feature: capability.QAT, Reason: "NoCapableNodes"}
)

func TestDecisionMetricsDropOnlySeriesThatWentAway(t *testing.T) {
	recordDecisionMetrics(decisions(cryptombEnabled, cryptombEnabled, qatNoNodes))
	got := decisionSeries(t)
	if got[decisionKey{"cryptomb", "true", "Enabled"}] != 2 || got[decisionKey{"qat", "false", "NoCapableNodes"}] != 1 || len(got) != 2 {
		t.Fatalf("after the first reconcile: %v", got)
	}

	recordDecisionMetrics(decisions(cryptombEnabled))
	got = decisionSeries(t)
	if len(got) != 1 || got[decisionKey{"cryptomb", "true", "Enabled"}] != 1 {
		t.Errorf("after the QAT decision went away: %v, want only cryptomb/true/Enabled = 1", got)
	}

	recordDecisionMetrics(extensions.Result{})
	if got = decisionSeries(t); len(got) != 0 {
		t.Errorf("with no workloads selected: %v, want no series", got)
	}
}

// A scrape during a reconcile that decides as the previous one must still see every workload.
func TestDecisionMetricsNeverEmptyWhileRepublished(t *testing.T) {
	res := decisions(cryptombEnabled)
	recordDecisionMetrics(res)
	var stop atomic.Bool
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for range 2000 {
			recordDecisionMetrics(res)
		}
		stop.Store(true)
	}()
	scrapes := 0
	for !stop.Load() {
		if got := decisionSeries(t)[decisionKey{"cryptomb", "true", "Enabled"}]; got != 1 {
			t.Fatalf("scrape %d during republication saw cryptomb/true/Enabled = %v, want 1", scrapes, got)
		}
		scrapes++
	}
	wg.Wait()
	recordDecisionMetrics(extensions.Result{})
}
