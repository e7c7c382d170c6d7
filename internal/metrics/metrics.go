// Package metrics holds Latchkey's Prometheus collectors. A nil *Metrics
// records nothing, so metrics stay optional (METRICS_ADDR unset).
package metrics

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics are the collectors, registered on their own registry.
type Metrics struct {
	Registry     *prometheus.Registry
	requests     *prometheus.CounterVec
	duration     *prometheus.HistogramVec
	sent         prometheus.Counter
	sendFailures *prometheus.CounterVec
}

// New builds the collectors. backlog reports the outbox depth at scrape
// time.
func New(backlog func(context.Context) (int, error)) *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		Registry: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "latchkey_http_requests_total", Help: "HTTP requests by route, method and status.",
		}, []string{"route", "method", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "latchkey_http_request_duration_seconds", Help: "HTTP request latency by route.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"route"}),
		sent: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "latchkey_outbox_sent_total", Help: "Emails delivered.",
		}),
		sendFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "latchkey_outbox_send_failures_total", Help: "Failed delivery attempts by kind (temporary, permanent).",
		}, []string{"kind"}),
	}
	// Both failure kinds are exported from the start, at zero.
	m.sendFailures.WithLabelValues("temporary")
	m.sendFailures.WithLabelValues("permanent")
	reg.MustRegister(m.requests, m.duration, m.sent, m.sendFailures,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "latchkey_outbox_backlog", Help: "Emails waiting to be sent (-1: database unreachable).",
		}, func() float64 {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			n, err := backlog(ctx)
			if err != nil {
				return -1
			}
			return float64(n)
		}))
	return m
}

// ObserveRequest records one HTTP request. route is the route pattern, so
// codes in URLs never become label values.
func (m *Metrics) ObserveRequest(route, method string, status int, d time.Duration) {
	if m == nil {
		return
	}
	m.requests.WithLabelValues(route, method, strconv.Itoa(status)).Inc()
	m.duration.WithLabelValues(route).Observe(d.Seconds())
}

// Sent counts a delivered email.
func (m *Metrics) Sent() {
	if m != nil {
		m.sent.Inc()
	}
}

// SendFailed counts a failed attempt; permanent says whether it was final.
func (m *Metrics) SendFailed(permanent bool) {
	if m == nil {
		return
	}
	kind := "temporary"
	if permanent {
		kind = "permanent"
	}
	m.sendFailures.WithLabelValues(kind).Inc()
}

// Handler serves the metrics.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{})
}
