package httpapi

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/gatewayworker/gatewayworker/businessworker"
)

// Defaults for zero Config fields.
const (
	// DefaultMaxBodyBytes bounds a request body (1 MiB).
	DefaultMaxBodyBytes = 1 << 20
	// DefaultTimeout bounds the work of one request: a query, or the wait
	// of a command sent with "flush".
	DefaultTimeout = 5 * time.Second
)

// API is the part of businessworker.API the requests call; a
// *pushclient.Client (and a *businessworker.API) has it.
type API interface {
	BindUID(ctx context.Context, clientID, uid string) error
	Clients(ctx context.Context) ([]string, error)
	ClientsByUID(ctx context.Context, uid string) ([]string, error)
	ClientsInGroup(ctx context.Context, group string) ([]string, error)
	CloseClient(ctx context.Context, clientID string, opts ...businessworker.CloseOption) error
	Flush(ctx context.Context) error
	Groups(ctx context.Context) ([]string, error)
	IsOnline(ctx context.Context, clientID string) (bool, error)
	JoinGroup(ctx context.Context, clientID, group string) error
	LeaveGroup(ctx context.Context, clientID, group string) error
	SendToAll(ctx context.Context, m businessworker.Message, opts ...businessworker.SendOption) error
	SendToClient(ctx context.Context, clientID string, m businessworker.Message) error
	SendToGroups(ctx context.Context, groups []string, m businessworker.Message, opts ...businessworker.SendOption) error
	SendToUIDs(ctx context.Context, uids []string, m businessworker.Message) error
	Session(ctx context.Context, clientID string) (map[string]string, error)
	SetSession(ctx context.Context, clientID string, session map[string]string) error
	Stats(ctx context.Context) ([]businessworker.GatewayStats, error)
	UID(ctx context.Context, clientID string) (string, error)
	UIDs(ctx context.Context) ([]string, error)
	UIDsInGroup(ctx context.Context, group string) ([]string, error)
	UnbindUID(ctx context.Context, clientID, uid string) error
	Ungroup(ctx context.Context, group string) error
	UpdateSession(ctx context.Context, clientID string, update map[string]string, deleteKeys ...string) error
}

// Config configures a Server.
type Config struct {
	// API is what the requests call, e.g. a *pushclient.Client; required.
	API API
	// Secret is the bearer token every request must carry (the cluster
	// secret); required.
	Secret string
	// MaxBodyBytes bounds a request body (DefaultMaxBodyBytes).
	MaxBodyBytes int64
	// Timeout bounds one request's wait on the gateways (DefaultTimeout).
	Timeout time.Duration
	// Logger receives failed requests at debug level; nil discards.
	Logger *slog.Logger
}

// Server is the HTTP handler of the API.
type Server struct {
	cfg Config
	api API
	mux *http.ServeMux
}

var _ http.Handler = (*Server)(nil)

// New validates cfg and returns a Server.
func New(cfg Config) (*Server, error) {
	switch {
	case cfg.API == nil:
		return nil, fmt.Errorf("%w: API is required", ErrInvalidConfig)
	case cfg.Secret == "":
		return nil, fmt.Errorf("%w: Secret is required (it is the bearer token)", ErrInvalidConfig)
	case cfg.MaxBodyBytes < 0 || cfg.Timeout < 0:
		return nil, fmt.Errorf("%w: negative MaxBodyBytes or Timeout", ErrInvalidConfig)
	}
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, api: cfg.API, mux: http.NewServeMux()}
	s.routes()
	return s, nil
}

// ServeHTTP checks the bearer token and serves the request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || subtle.ConstantTimeCompare([]byte(token), []byte(s.cfg.Secret)) != 1 {
		w.Header().Set("WWW-Authenticate", `Bearer realm="gatewayworker"`)
		writeJSON(w, http.StatusUnauthorized, map[string]any{"error": "missing or wrong bearer token"})
		return
	}
	s.mux.ServeHTTP(w, r)
}

// request is the body of every POST; each route reads the fields it needs.
type request struct {
	ClientID  string            `json:"client_id"`
	UID       string            `json:"uid"`
	UIDs      []string          `json:"uids"`
	Group     string            `json:"group"`
	Groups    []string          `json:"groups"`
	Clients   *[]string         `json:"clients"`
	Exclude   []string          `json:"exclude"`
	Text      *string           `json:"text"`
	Binary    []byte            `json:"binary"` // base64 in JSON
	Immediate bool              `json:"immediate"`
	Session   map[string]string `json:"session"`
	Delete    []string          `json:"delete"`
	Flush     bool              `json:"flush"`
}

// message is the request's text or binary payload; required says whether
// one must be given.
func (q *request) message(required bool) (businessworker.Message, bool, error) {
	switch {
	case q.Text != nil && q.Binary != nil:
		return businessworker.Message{}, false, errors.New(`give "text" or "binary", not both`)
	case q.Text != nil:
		return businessworker.Text(*q.Text), true, nil
	case q.Binary != nil:
		return businessworker.Binary(q.Binary), true, nil
	case required:
		return businessworker.Message{}, false, errors.New(`"text" or "binary" is required`)
	}
	return businessworker.Message{}, false, nil
}

// badRequest marks an error of the caller's (400).
type badRequest struct{ err error }

func (b badRequest) Error() string { return b.err.Error() }
func (b badRequest) Unwrap() error { return b.err }

// command decodes a POST body, runs fn and answers {"ok":true}; with
// "flush" it first waits until the gateways applied the command.
func (s *Server) command(fn func(ctx context.Context, q *request) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var q request
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&q); err != nil {
			s.fail(w, r, nil, badRequest{fmt.Errorf("body: %w", err)})
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), s.cfg.Timeout)
		defer cancel()
		err := fn(ctx, &q)
		if err == nil && q.Flush {
			err = s.api.Flush(ctx)
		}
		if err != nil {
			s.fail(w, r, nil, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"ok": true})
	}
}

// query runs fn and answers its result; on a gateway error the partial
// result goes with the error (502, or 504 on a timeout).
func (s *Server) query(fn func(ctx context.Context, r *http.Request) (map[string]any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), s.cfg.Timeout)
		defer cancel()
		res, err := fn(ctx, r)
		if err != nil {
			s.fail(w, r, res, err)
			return
		}
		writeJSON(w, http.StatusOK, res)
	}
}

func (s *Server) fail(w http.ResponseWriter, r *http.Request, partial map[string]any, err error) {
	status := statusOf(err)
	s.cfg.Logger.Debug("request failed", "method", r.Method, "path", r.URL.Path, "status", status, "err", err)
	body := map[string]any{"error": err.Error()}
	if status >= 500 {
		for k, v := range partial {
			body[k] = v
		}
	}
	writeJSON(w, status, body)
}

func statusOf(err error) int {
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return http.StatusRequestEntityTooLarge
	case errors.As(err, new(badRequest)),
		errors.Is(err, businessworker.ErrInvalidClientID),
		errors.Is(err, businessworker.ErrEmptyGroup),
		errors.Is(err, businessworker.ErrEmptyUID),
		errors.Is(err, businessworker.ErrInvalidOption),
		errors.Is(err, businessworker.ErrTooLarge):
		return http.StatusBadRequest
	case errors.Is(err, businessworker.ErrClientNotFound),
		errors.Is(err, businessworker.ErrGatewayNotLinked):
		return http.StatusNotFound
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout
	case errors.Is(err, businessworker.ErrClosed):
		return http.StatusServiceUnavailable
	}
	return http.StatusBadGateway
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
