package cli

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
)

// Logging holds the logging options every subcommand takes.
type Logging struct {
	Level  string
	Format string
}

// Define adds --log-level and --log-format to s.
func (l *Logging) Define(s *Set) {
	s.String(&l.Level, "log-level", "info", "log level: debug, info, warn, error")
	s.String(&l.Format, "log-format", "text", "log format: text or json")
}

// Logger builds the slog.Logger the options ask for, writing to w.
func (l *Logging) Logger(w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(l.Level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", l.Level)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch strings.ToLower(l.Format) {
	case "text", "":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	default:
		return nil, fmt.Errorf("--log-format %q: want text or json", l.Format)
	}
}
