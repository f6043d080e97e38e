// Package api is the REST API: one handler per route of the route table
// (internal/routes), the router built from that table with authentication
// and role checks applied per route, RFC 9457 problem details for every
// error, and the OpenAPI 3.1 document generated from the same table.
//
// The local server serves the whole router; each production Lambda serves
// exactly one route of it (Options.Only), with the principal taken from
// the API Gateway authorizer instead of verifying credentials again.
package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/cmlcm/cmlcm/internal/event"
	"github.com/cmlcm/cmlcm/internal/fleet"
	"github.com/cmlcm/cmlcm/internal/routes"
)

// Principal is the signed-in identity a request runs as. It has the shape
// of internal/auth's Principal, which the authenticators adapt.
type Principal struct {
	Subject   string    `json:"subject"`
	Username  string    `json:"username"`
	Email     string    `json:"email"`
	Name      string    `json:"name"`
	Roles     []string  `json:"roles"`
	Issuer    string    `json:"issuer"`
	ExpiresAt time.Time `json:"expiresAt"`
}

// Actor is the name events record for the principal.
func (p Principal) Actor() string {
	if p.Username != "" {
		return p.Username
	}
	return p.Subject
}

// Errors an Authenticator returns.
var (
	// ErrNoCredentials: the request carries neither a session cookie nor a
	// bearer token (401 without an error code).
	ErrNoCredentials = errors.New("no credentials")
	// ErrForbidden: the credentials are valid but the request is refused
	// anyway, e.g. a cookie-authenticated write without the anti-CSRF
	// header (403).
	ErrForbidden = errors.New("forbidden")
)

// Authenticator resolves a request to its principal. Any error other than
// ErrNoCredentials and ErrForbidden means the credentials are not valid
// (401, invalid_token); its message is shown to the client, so it must not
// contain the credentials.
type Authenticator interface {
	Authenticate(r *http.Request) (Principal, error)
}

// AuthenticatorFunc adapts a function.
type AuthenticatorFunc func(r *http.Request) (Principal, error)

// Authenticate implements Authenticator.
func (f AuthenticatorFunc) Authenticate(r *http.Request) (Principal, error) { return f(r) }

// Options configure the router.
type Options struct {
	Fleet         *fleet.Service
	Authenticator Authenticator
	// Handlers serve routes by name instead of this package's handlers:
	// internal/auth provides authLogin, authCallback, authLogout and
	// authMe. The router still applies its access rules to them.
	Handlers map[string]http.Handler
	// Only restricts the router to one route (a per-route Lambda).
	Only   string
	Logger *slog.Logger
	// Version is reported by /api/health and the OpenAPI document.
	Version string
	// Health adds checks to /api/health (e.g. the store); a failing check
	// makes it answer 503.
	Health func(ctx context.Context) map[string]error
	// HealthInfo adds fixed fields to /api/health (the local server says
	// "mode": "local" and where its development identity provider is).
	HealthInfo map[string]any
	// ServerURL is the OpenAPI document's server ("" → relative "/").
	ServerURL string
}

type ctxKey int

const (
	principalKey ctxKey = iota
	requestIDKey
	infoKey
)

// requestInfo is what inner handlers tell the access log.
type requestInfo struct{ actor string }

type loggerKey struct{}

// PrincipalFrom returns the request's principal (false on public routes).
func PrincipalFrom(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey).(Principal)
	return p, ok
}

func requestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey).(string)
	return id
}

// NewRouter builds the handler of every route in routes.All (or of
// Options.Only) with its access rule, plus problem+json answers for
// unknown paths and wrong methods.
func NewRouter(o Options) (http.Handler, error) {
	if o.Fleet == nil {
		return nil, errors.New("api: a fleet service is required")
	}
	if o.Authenticator == nil {
		return nil, errors.New("api: an authenticator is required")
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	h := &handlers{fleet: o.Fleet, version: o.Version, health: o.Health, info: o.HealthInfo}
	own := h.table()
	mux := http.NewServeMux()
	paths := http.NewServeMux() // path only: tells 405 from 404
	methods := map[string][]string{}
	found := false
	for _, rt := range routes.All {
		if o.Only != "" && rt.Name != o.Only {
			continue
		}
		found = true
		handler, ok := o.Handlers[rt.Name]
		if !ok {
			fn, ok := own[rt.Name]
			if !ok {
				return nil, fmt.Errorf("api: route %s has no handler", rt.Name)
			}
			handler = fn
		}
		mux.Handle(rt.Pattern(), guard(rt, o.Authenticator, handler))
		if _, seen := methods[rt.Path]; !seen {
			paths.Handle(rt.Path, http.NotFoundHandler())
		}
		methods[rt.Path] = append(methods[rt.Path], rt.Method)
	}
	if !found {
		return nil, fmt.Errorf("api: no route named %q", o.Only)
	}
	doc, err := Document(o.Version, o.ServerURL)
	if err != nil {
		return nil, err
	}
	h.openapi = doc
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if _, pattern := paths.Handler(r); pattern != "" {
			allow := methods[pattern]
			slices.Sort(allow)
			writeProblem(w, r, &problemError{t: ProblemMethod, field: strings.Join(allow, ", "),
				detail: fmt.Sprintf("%s is not allowed on %s", r.Method, r.URL.Path)})
			return
		}
		writeProblem(w, r, newProblem(ProblemNotFound, "no route matches "+r.URL.Path))
	})
	return outer(o.Logger, mux), nil
}

// statusWriter records the status for the access log.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	n, err := s.ResponseWriter.Write(b)
	s.bytes += n
	return n, err
}

func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// outer gives every request an id, a logger, panic recovery and one access
// log line. It never logs bodies or headers (they carry tokens and secrets).
func outer(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := r.Header.Get("X-Request-Id")
		if !validRequestID(id) {
			var b [12]byte
			_, _ = rand.Read(b[:])
			id = hex.EncodeToString(b[:])
		}
		w.Header().Set("X-Request-Id", id)
		l := log.With("requestId", id)
		ctx := context.WithValue(r.Context(), requestIDKey, id)
		ctx = context.WithValue(ctx, loggerKey{}, l)
		r = r.WithContext(ctx)
		sw := &statusWriter{ResponseWriter: w}
		info := &requestInfo{}
		r = r.WithContext(context.WithValue(ctx, infoKey, info))
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				l.ErrorContext(ctx, "panic", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
				if sw.status == 0 {
					writeProblem(sw, r, errors.New("panic"))
				}
			}
			actor := info.actor
			attrs := []any{"method", r.Method, "path", r.URL.Path, "status", sw.status, "bytes", sw.bytes,
				"durationMs", float64(time.Since(start).Microseconds()) / 1000, "route", r.Pattern}
			if actor != "" {
				attrs = append(attrs, "actor", actor)
			}
			if wid := r.PathValue("id"); wid != "" {
				attrs = append(attrs, "workerId", wid)
			}
			l.InfoContext(ctx, "request", attrs...)
		}()
		next.ServeHTTP(sw, r)
	})
}

func validRequestID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// guard applies the route's access rule, then puts the principal and the
// event metadata (actor, correlation id = request id) in the context.
func guard(rt routes.Route, authn Authenticator, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		if rt.Access != routes.Public {
			p, err := authn.Authenticate(r)
			switch {
			case errors.Is(err, ErrForbidden):
				writeProblem(w, r, &problemError{t: ProblemForbidden, detail: err.Error(), err: err})
				return
			case errors.Is(err, ErrNoCredentials):
				writeProblem(w, r, &problemError{t: ProblemUnauthenticated, detail: "sign in, or send a bearer token", err: err})
				return
			case err != nil:
				writeProblem(w, r, &problemError{t: ProblemUnauthenticated, detail: "the credentials are not valid: " + err.Error(), err: err})
				return
			}
			// Name the actor before the role check, so the access log
			// names who was refused.
			if info, ok := ctx.Value(infoKey).(*requestInfo); ok {
				info.actor = p.Actor()
			}
			ctx = context.WithValue(ctx, principalKey, p)
			if !rt.Allows(p.Roles) {
				writeProblem(w, r, newProblem(ProblemForbidden, fmt.Sprintf("%s needs one of the roles %s",
					rt.Name, strings.Join(rt.Roles, ", "))))
				return
			}
			ctx = event.WithMeta(ctx, event.Meta{Actor: p.Actor(), CorrelationID: requestID(ctx)})
		}
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}
