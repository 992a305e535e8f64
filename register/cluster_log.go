package register

import (
	"bytes"
	"context"
	"log"
	"log/slog"
)

// memberlistLogger adapts memberlist's "[LEVEL] memberlist: text" lines to
// l: errors and warnings (a peer refused for a wrong gossip key, a failed
// probe) at warn level, the rest at debug level.
func memberlistLogger(l *slog.Logger) *log.Logger {
	return log.New(memberlistWriter{l}, "", 0)
}

type memberlistWriter struct{ l *slog.Logger }

func (w memberlistWriter) Write(p []byte) (int, error) {
	line := bytes.TrimSpace(p)
	level := slog.LevelDebug
	for _, tag := range [][]byte{[]byte("[ERR] "), []byte("[WARN] ")} {
		if rest, ok := bytes.CutPrefix(line, tag); ok {
			level, line = slog.LevelWarn, rest
			break
		}
	}
	if level == slog.LevelDebug {
		for _, tag := range [][]byte{[]byte("[INFO] "), []byte("[DEBUG] ")} {
			if rest, ok := bytes.CutPrefix(line, tag); ok {
				line = rest
				break
			}
		}
	}
	w.l.Log(context.Background(), level, "gossip: "+string(bytes.TrimPrefix(line, []byte("memberlist: "))))
	return len(p), nil
}
