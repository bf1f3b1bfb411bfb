package bypass

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// ErrNotAttached is what a Collector's read function returns while the bypass is detached (the
// node is not enabled): the collector then exports no counters, and counts no scrape error.
var ErrNotAttached = errors.New("the bypass is not attached on this node")

// Collector exports the counters as Prometheus metrics, read from the kernel at each scrape.
type Collector struct {
	read func() (Counters, error)

	connections, messages, bytes   *prometheus.Desc
	passMessages, passBytes        *prometheus.Desc
	released, unmatched, tableFull *prometheus.Desc
	scrapeErrors                   prometheus.Counter
}

// NewCollector returns a collector over read, usually (*Bypass).Counters. Counters start again
// from zero when the bypass is detached and attached again: Prometheus sees a counter reset.
func NewCollector(read func() (Counters, error)) *Collector {
	const ns, sub = "meshaccel", "bypass"
	desc := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(ns, sub, name), help, labels, nil)
	}
	return &Collector{
		read:         read,
		connections:  desc("paired_connections_total", "Connections whose two ends were paired, by sidecar path.", "path"),
		messages:     desc("redirected_messages_total", "Sends handed straight to the peer socket, by sidecar path.", "path"),
		bytes:        desc("redirected_bytes_total", "Bytes handed straight to the peer socket, by sidecar path.", "path"),
		passMessages: desc("passthrough_messages_total", "Sends on paired or candidate sockets that went through TCP."),
		passBytes:    desc("passthrough_bytes_total", "Bytes on paired or candidate sockets that went through TCP."),
		released:     desc("released_sockets_total", "Client sockets that left the socket table because no local peer claimed them."),
		unmatched:    desc("unmatched_sockets_total", "Server sockets left alone: client elsewhere, or not an accelerated path."),
		tableFull:    desc("table_full_total", "Pairings refused because a kernel table was full."),
		scrapeErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "scrape_errors_total",
			Help: "Failed reads of the kernel counters.",
		}),
	}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.connections, c.messages, c.bytes, c.passMessages, c.passBytes, c.released, c.unmatched, c.tableFull} {
		ch <- d
	}
	c.scrapeErrors.Describe(ch)
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	defer c.scrapeErrors.Collect(ch)
	counters, err := c.read()
	if errors.Is(err, ErrNotAttached) {
		return
	}
	if err != nil {
		c.scrapeErrors.Inc()
		return
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	for _, p := range Paths {
		pc := counters.Paths[p]
		counter(c.connections, pc.Connections, p.String())
		counter(c.messages, pc.Messages, p.String())
		counter(c.bytes, pc.Bytes, p.String())
	}
	counter(c.passMessages, counters.PassthroughMessages)
	counter(c.passBytes, counters.PassthroughBytes)
	counter(c.released, counters.Released)
	counter(c.unmatched, counters.Unmatched)
	counter(c.tableFull, counters.TableFull)
}
