// Package loghygiene keeps secret values out of secretfed's log at every
// verbosity.
//
// client-go logs the body of every request and response at -v=8 and above
// (k8s.io/client-go/rest, messages "Request Body" and "Response Body"; JSON
// as text, protobuf as a hex dump whose ASCII column still spells the
// bytes). secretfed's own clients carry exactly what must never be logged:
// Secret data written to members, FederatedSecret templates listed through
// the loopback client, and bearer tokens in the TokenReviews of delegated
// authentication. client-go takes its logger from the request's context
// (klog.FromContext), so secretfed puts a logger that drops those two
// messages into the server's root context, the controllers' context and
// every request's context (WithoutBodies, NewContext, Handler). Everything
// else at every level still reaches the log.
package loghygiene

import (
	"context"
	"net/http"

	"github.com/go-logr/logr"
	"k8s.io/klog/v2"
)

// droppedMessages are the messages client-go logs bodies under.
var droppedMessages = map[string]bool{
	"Request Body":  true,
	"Response Body": true,
}

// WithoutBodies returns a logger that writes what l writes except
// client-go's request and response bodies.
func WithoutBodies(l logr.Logger) logr.Logger {
	s := l.GetSink()
	if s == nil {
		return l
	}
	if _, ok := s.(*sink); ok {
		return l
	}
	// One more frame (ours) lies between the caller and the inner sink.
	if cd, ok := s.(logr.CallDepthLogSink); ok {
		s = cd.WithCallDepth(1)
	}
	return logr.New(&sink{inner: s})
}

// NewContext returns ctx with its logger (klog's global one if it has
// none) replaced by one without bodies.
func NewContext(ctx context.Context) context.Context {
	return klog.NewContext(ctx, WithoutBodies(klog.FromContext(ctx)))
}

// Handler wraps an HTTP handler so that whatever the request's context
// logs, client calls made while serving it included, has no bodies.
func Handler(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		h.ServeHTTP(w, req.WithContext(NewContext(req.Context())))
	})
}

type sink struct {
	inner logr.LogSink
}

var (
	_ logr.LogSink          = &sink{}
	_ logr.CallDepthLogSink = &sink{}
)

// Init is a no-op: the inner sink was initialised by the logger it came
// from, and WithoutBodies accounts for the extra frame.
func (s *sink) Init(logr.RuntimeInfo) {}

func (s *sink) Enabled(level int) bool { return s.inner.Enabled(level) }

func (s *sink) Info(level int, msg string, keysAndValues ...any) {
	if droppedMessages[msg] {
		return
	}
	s.inner.Info(level, msg, keysAndValues...)
}

func (s *sink) Error(err error, msg string, keysAndValues ...any) {
	s.inner.Error(err, msg, keysAndValues...)
}

func (s *sink) WithValues(keysAndValues ...any) logr.LogSink {
	return &sink{inner: s.inner.WithValues(keysAndValues...)}
}

func (s *sink) WithName(name string) logr.LogSink {
	return &sink{inner: s.inner.WithName(name)}
}

func (s *sink) WithCallDepth(depth int) logr.LogSink {
	if cd, ok := s.inner.(logr.CallDepthLogSink); ok {
		return &sink{inner: cd.WithCallDepth(depth)}
	}
	return s
}
